//! JSON EXPLAIN output to the typed tree, and back.
//!
//! [`parse_json`] reads `EXPLAIN (FORMAT JSON)` output of PostgreSQL 13 to 18
//! (with or without ANALYZE, BUFFERS, VERBOSE, SETTINGS, WAL, SERIALIZE and
//! MEMORY) straight from the bytes into the typed structs: a hand-written
//! serde visitor matches each key against one table per struct and keeps
//! the keys it does not know in `extra`. Nothing goes through a
//! `serde_json::Value` tree except the values of unknown keys and a few small
//! top-level groups (`"Planning"`, `"Triggers"`, `"JIT"`, `"Settings"`,
//! `"Serialization"`).
//!
//! The tables (the `*_fields` functions of [`keys`]) list every typed key once,
//! with the field it fills and how its value converts; the same entries
//! write the key back in [`to_json`].
//!
//! What is accepted, and what is not:
//!
//! - EXPLAIN's own form, an array holding one result object
//!   (`[{"Plan": {...}, "Planning Time": ...}]`), the bare result object, and
//!   auto_explain's object (`{"Query Text": ..., "Plan": {...}}`). When the
//!   array holds several results (a statement that rules rewrote into several
//!   queries) the first one is used; the others must still be valid JSON.
//! - A known key whose value has an unexpected JSON type (a string where a
//!   number belongs, a negative or fractional block count) does not fail the
//!   parse: the value is kept verbatim in `extra` under its own key and the
//!   typed field stays unset, so a server that changes how it prints a figure
//!   never makes its plans unreadable, and nothing is lost on the way back.
//! - The keys that carry the tree (`"Plan"`, `"Node Type"`, `"Plans"`,
//!   `"Workers"`) must have their type: anything else is a [`ParseError`]
//!   naming the key, as is a node without `"Node Type"` or a result without
//!   `"Plan"`.
//! - Integer figures written as floats (PostgreSQL 18 prints `"Actual Rows":
//!   100.00`) are read as integers when they are whole.
//! - JSON nested more than 128 levels deep (serde_json's recursion limit;
//!   each plan level takes two: the node object and its `"Plans"` array) is
//!   refused with an error rather than risking the stack.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::model::{Jit, Memory, Node, NodeType, Plan, Worker};
use super::{Format, ParseError, derive};

mod keys;

use keys::*;

/// Parses `EXPLAIN (FORMAT JSON)` output (see the module docs for the forms
/// accepted) and fills the derived figures.
pub fn parse_json(input: &[u8]) -> Result<Plan, ParseError> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let (body, shift) = match input.strip_prefix(BOM) {
        Some(rest) => (rest, BOM.len()),
        None => (input, 0),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut plan = (&mut de)
        .deserialize_any(ResultVisitor)
        .and_then(|plan| de.end().map(|()| plan))
        .map_err(|e| parse_error(&e, shift))?;
    derive(&mut plan);
    Ok(plan)
}

/// Parses EXPLAIN JSON output already held as a `serde_json::Value` (a
/// `json` column read from the server, a baseline's stored plan) without
/// writing it back to text first. Errors carry no position: the value has
/// none.
pub fn parse_json_value(value: &Value) -> Result<Plan, ParseError> {
    let mut plan = value
        .deserialize_any(ResultVisitor)
        .map_err(|e| parse_error(&e, 0))?;
    derive(&mut plan);
    Ok(plan)
}

/// Writes a plan back with PostgreSQL's own key names: the result object
/// EXPLAIN prints inside its array (`{"Plan": {"Node Type": ...}, ...}`),
/// with every `extra` key. Empty lists (`"Triggers": []`) and derived
/// figures are left out; object keys come out sorted.
pub fn to_json(plan: &Plan) -> Value {
    let mut map = write_record(plan);
    map.insert("Plan".into(), write_node(&plan.root));
    let planning = Planning {
        buffers: plan.planning_buffers.unwrap_or_default(),
        io: plan.planning_io.unwrap_or_default(),
        memory: plan.planning_memory.unwrap_or_default(),
        extra: plan.planning_extra.clone(),
    };
    let planning = write_record(&planning);
    if !planning.is_empty() {
        map.insert("Planning".into(), Value::Object(planning));
    }
    if !plan.triggers.is_empty() {
        let triggers = plan.triggers.iter().map(|t| Value::Object(write_record(t)));
        map.insert("Triggers".into(), Value::Array(triggers.collect()));
    }
    if let Some(jit) = &plan.jit {
        map.insert("JIT".into(), write_jit(jit));
    }
    if !plan.settings.is_empty() {
        let settings = plan.settings.iter();
        let settings = settings.map(|(k, v)| (k.clone(), Value::String(v.clone())));
        map.insert("Settings".into(), Value::Object(settings.collect()));
    }
    if let Some(serialization) = &plan.serialization {
        let serialization = write_record(serialization);
        map.insert("Serialization".into(), Value::Object(serialization));
    }
    Value::Object(map)
}

// ---------------------------------------------------------------------------
// Errors

fn parse_error(error: &serde_json::Error, shift: usize) -> ParseError {
    let (line, column) = match error.line() {
        0 => (None, None),
        line => {
            let column = if line == 1 {
                error.column() + shift
            } else {
                error.column()
            };
            (Some(line), Some(column.max(1)))
        }
    };
    // serde_json's Display appends " at line L column C"; ParseError carries
    // the position itself.
    let text = error.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) if line.is_some() => text[..at].to_owned(),
        _ => text,
    };
    let message = match error.classify() {
        serde_json::error::Category::Eof => {
            format!("the JSON ends too early ({text}); is the input truncated?")
        }
        serde_json::error::Category::Syntax if text == "recursion limit exceeded" => {
            "the JSON is nested more than 128 levels deep (about 63 plan levels), more than \
             planguard reads"
                .to_owned()
        }
        serde_json::error::Category::Syntax => format!("not valid JSON: {text}"),
        serde_json::error::Category::Data | serde_json::error::Category::Io => text,
    };
    ParseError {
        format: Format::Json,
        line,
        column,
        message,
    }
}

/// The JSON type of a value, for error messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------
// Reading

/// Object keys, borrowed from the input unless they hold escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The whole input: an array of results (the first is used) or one result.
struct ResultVisitor;

const EXPECTED_RESULT: &str =
    "EXPLAIN (FORMAT JSON) output: an array holding an object with a \"Plan\" key";

impl<'de> Visitor<'de> for ResultVisitor {
    type Value = Plan;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED_RESULT)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Plan, A::Error> {
        let Some(plan) = seq.next_element_seed(PlanSeed)? else {
            return Err(de::Error::custom(format!(
                "the array is empty, expected {EXPECTED_RESULT}"
            )));
        };
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(plan)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Plan, A::Error> {
        PlanSeed.visit_map(map)
    }
}

/// One result object: `{"Plan": {...}, "Planning Time": ...}`.
#[derive(Clone, Copy)]
struct PlanSeed;

impl<'de> DeserializeSeed<'de> for PlanSeed {
    type Value = Plan;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Plan, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PlanSeed {
    type Value = Plan;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an EXPLAIN result: an object with a \"Plan\" key")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Plan, A::Error> {
        let mut plan = Plan::default();
        let mut root = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if key == "Plan" {
                root = Some(map.next_value_seed(NodeSeed)?);
            } else {
                let value = map.next_value::<Value>()?;
                put_top(&mut plan, key, value);
            }
        }
        let Some(root) = root else {
            return Err(de::Error::custom(format!(
                "no \"Plan\" key in the object, expected {EXPECTED_RESULT}"
            )));
        };
        plan.root = root;
        Ok(plan)
    }
}

/// Stores one top-level key other than `"Plan"`. A group with an unexpected
/// shape is kept whole in `extra`.
fn put_top(plan: &mut Plan, key: Cow<'_, str>, value: Value) {
    let value = match (&*key, value) {
        ("Planning", Value::Object(map)) => {
            let planning: Planning = read_record(map);
            plan.planning_buffers = (!planning.buffers.is_empty()).then_some(planning.buffers);
            plan.planning_io = (!planning.io.is_empty()).then_some(planning.io);
            plan.planning_memory =
                (planning.memory != Memory::default()).then_some(planning.memory);
            plan.planning_extra = planning.extra;
            return;
        }
        ("Triggers", Value::Array(items)) if items.iter().all(Value::is_object) => {
            plan.triggers = items
                .into_iter()
                .filter_map(|item| match item {
                    Value::Object(map) => Some(read_record(map)),
                    _ => None,
                })
                .collect();
            return;
        }
        ("Settings", Value::Object(map)) if map.values().all(Value::is_string) => {
            plan.settings = map
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Value::String(v) => Some((k, v)),
                    _ => None,
                })
                .collect();
            return;
        }
        ("JIT", Value::Object(map)) => {
            plan.jit = Some(read_jit(map));
            return;
        }
        ("Serialization", Value::Object(map)) => {
            plan.serialization = Some(read_record(map));
            return;
        }
        ("Planning" | "Triggers" | "Settings" | "JIT" | "Serialization", value) => value,
        (_, value) => return put(plan, key, value),
    };
    plan.extra.insert(key.into_owned(), value);
}

/// `"JIT"`. `"Timing"` entries that are not plain numbers (PostgreSQL 17
/// splits `"Generation"` into an object with its own `"Total"`) are kept
/// under `extra["Timing"]`, their `"Total"` also in `timing_ms`.
fn read_jit(map: Map<String, Value>) -> Jit {
    let mut jit = Jit::default();
    for (key, value) in map {
        match (key.as_str(), value) {
            ("Options", Value::Object(options)) if options.values().all(Value::is_boolean) => {
                jit.options = options
                    .into_iter()
                    .filter_map(|(k, v)| v.as_bool().map(|v| (k, v)))
                    .collect();
            }
            ("Timing", Value::Object(timing)) => {
                let mut odd = Map::new();
                for (name, value) in timing {
                    if let Some(ms) = value.as_f64() {
                        jit.timing_ms.insert(name, ms);
                        continue;
                    }
                    if let Some(total) = value.get("Total").and_then(Value::as_f64) {
                        jit.timing_ms.insert(name.clone(), total);
                    }
                    odd.insert(name, value);
                }
                if !odd.is_empty() {
                    jit.extra.insert("Timing".into(), Value::Object(odd));
                }
            }
            (_, value) => put(&mut jit, Cow::Owned(key), value),
        }
    }
    jit
}

/// A plan node, straight from the bytes.
#[derive(Clone, Copy)]
struct NodeSeed;

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_map(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a plan node: an object with a \"Node Type\" key")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut node = Node::default();
        let mut typed = false;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            // Most keys are in the table: look there first.
            if let Some(field) = Node::table().get(&key) {
                let value = map.next_value::<Value>()?;
                if let Err(value) = (field.set)(&mut node, value) {
                    node.extra.insert(key.into_owned(), value);
                }
                continue;
            }
            match &*key {
                "Node Type" => match map.next_value::<Value>()? {
                    Value::String(name) => {
                        node.node_type = NodeType::from_name(&name);
                        typed = true;
                    }
                    other => {
                        return Err(de::Error::custom(format!(
                            "\"Node Type\" is {}, expected a string",
                            type_name(&other)
                        )));
                    }
                },
                "Plans" => {
                    node.plans = map.next_value_seed(ListSeed {
                        item: NodeSeed,
                        what: "\"Plans\": an array of plan nodes",
                    })?;
                }
                "Workers" => {
                    node.workers = map.next_value_seed(ListSeed {
                        item: WorkerSeed,
                        what: "\"Workers\": an array of per-worker objects",
                    })?;
                }
                _ => {
                    let value = map.next_value::<Value>()?;
                    node.extra.insert(key.into_owned(), value);
                }
            }
        }
        if !typed {
            return Err(de::Error::custom(
                "a plan node has no \"Node Type\", expected an object with a \"Node Type\" key",
            ));
        }
        // ExplainNode prints "Actual Loops": 0 for a node that never ran.
        node.never_executed = node.actual_loops == Some(0.0);
        Ok(node)
    }
}

/// One entry of `"Workers"`.
#[derive(Clone, Copy)]
struct WorkerSeed;

impl<'de> DeserializeSeed<'de> for WorkerSeed {
    type Value = Worker;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Worker, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for WorkerSeed {
    type Value = Worker;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a worker: an object with a \"Worker Number\" key")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Worker, A::Error> {
        let mut worker = Worker::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value::<Value>()?;
            put(&mut worker, key, value);
        }
        Ok(worker)
    }
}

/// An array whose items are read with `item`.
struct ListSeed<S> {
    item: S,
    what: &'static str,
}

impl<'de, S: DeserializeSeed<'de> + Copy> DeserializeSeed<'de> for ListSeed<S> {
    type Value = Vec<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, S: DeserializeSeed<'de> + Copy> Visitor<'de> for ListSeed<S> {
    type Value = Vec<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.item)? {
            items.push(item);
        }
        Ok(items)
    }
}

// ---------------------------------------------------------------------------
// Writing

fn write_node(node: &Node) -> Value {
    let mut map = Map::new();
    map.insert(
        "Node Type".into(),
        Value::String(node.node_type.name().into()),
    );
    for field in &Node::table().fields {
        if let Some(value) = (field.get)(node) {
            map.insert(field.key.to_owned(), value);
        }
    }
    if node.never_executed && node.actual_loops.is_none() {
        map.insert("Actual Loops".into(), Value::from(0));
    }
    if !node.workers.is_empty() {
        let workers = node.workers.iter().map(|w| Value::Object(write_record(w)));
        map.insert("Workers".into(), Value::Array(workers.collect()));
    }
    if !node.plans.is_empty() {
        map.insert(
            "Plans".into(),
            Value::Array(node.plans.iter().map(write_node).collect()),
        );
    }
    for (key, value) in &node.extra {
        map.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Value::Object(map)
}

fn write_jit(jit: &Jit) -> Value {
    let mut map = write_record(jit);
    if !jit.options.is_empty() {
        let options = jit.options.iter();
        let options = options.map(|(k, v)| (k.clone(), Value::Bool(*v)));
        map.insert("Options".into(), Value::Object(options.collect()));
    }
    let mut timing: Map<String, Value> = jit
        .timing_ms
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(*v)))
        .collect();
    if let Some(Value::Object(odd)) = jit.extra.get("Timing") {
        timing.extend(odd.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if !timing.is_empty() {
        map.insert("Timing".into(), Value::Object(timing));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::{Serialization, Trigger};

    fn parse(text: &str) -> Result<Plan, ParseError> {
        parse_json(text.as_bytes())
    }

    #[test]
    fn every_table_lists_each_key_once() {
        fn check<T: Record>() {
            let table = T::table();
            let mut keys: Vec<_> = table.fields.iter().map(|f| f.key).collect();
            keys.sort_unstable();
            let before = keys.len();
            keys.dedup();
            assert_eq!(before, keys.len());
            for field in &table.fields {
                let found = table.get(field.key).map(|f| f.key);
                assert_eq!(found, Some(field.key));
            }
            assert!(table.get("Not A Key").is_none());
            assert!(table.get("").is_none());
        }
        check::<Node>();
        check::<Worker>();
        check::<Plan>();
        check::<Planning>();
        check::<Trigger>();
        check::<Serialization>();
        check::<Jit>();
    }

    #[test]
    fn accepts_the_array_the_bare_object_and_auto_explain() {
        let node = r#"{"Node Type": "Result", "Startup Cost": 0.0, "Total Cost": 0.01}"#;
        let array = parse(&format!(r#"[{{"Plan": {node}}}]"#)).unwrap();
        let bare = parse(&format!(r#"{{"Plan": {node}}}"#)).unwrap();
        assert_eq!(array, bare);
        let auto = parse(&format!(
            r#"{{"Query Text": "select 1", "Plan": {node}, "Planning Time": 0.02}}"#
        ))
        .unwrap();
        assert_eq!(auto.query_text.as_deref(), Some("select 1"));
        assert_eq!(auto.root, array.root);
        assert_eq!(auto.planning_time_ms, Some(0.02));
    }

    #[test]
    fn uses_the_first_of_several_results() {
        let plan =
            parse(r#"[{"Plan": {"Node Type": "Result"}}, {"Plan": {"Node Type": "ModifyTable"}}]"#)
                .unwrap();
        assert_eq!(plan.root.node_type, NodeType::Result);
    }

    #[test]
    fn unknown_keys_and_node_types_are_kept() {
        let plan = parse(
            r#"{"Plan": {"Node Type": "Quantum Scan", "Cache Key": "x.id",
                "Full-sort Groups": {"Group Count": 1}}, "Future": [1, 2]}"#,
        )
        .unwrap();
        assert_eq!(plan.root.node_type, NodeType::Other("Quantum Scan".into()));
        assert_eq!(plan.root.extra["Cache Key"], "x.id");
        assert_eq!(plan.root.extra["Full-sort Groups"]["Group Count"], 1);
        assert_eq!(plan.extra["Future"], serde_json::json!([1, 2]));
    }

    /// A known key with a value of another type is kept in `extra`, never
    /// fatal, and written back as it was.
    #[test]
    fn a_wrong_type_for_a_known_key_goes_to_extra() {
        let text = r#"{"Plan": {"Node Type": "Seq Scan", "Plan Rows": "many",
            "Shared Hit Blocks": -3, "Plan Width": 4.5, "Output": ["a", 1],
            "Parallel Aware": "no", "Relation Name": 7},
            "Planning Time": "fast", "Triggers": {"not": "a list"}, "Settings": {"work_mem": 4}}"#;
        let plan = parse(text).unwrap();
        let root = &plan.root;
        assert_eq!(root.plan_rows, None);
        assert_eq!(root.extra["Plan Rows"], "many");
        assert_eq!(root.buffers.shared_hit, None);
        assert_eq!(root.extra["Shared Hit Blocks"], -3);
        assert_eq!(root.plan_width, None);
        assert_eq!(root.extra["Plan Width"], 4.5);
        assert!(root.output.is_empty());
        assert_eq!(root.extra["Output"], serde_json::json!(["a", 1]));
        assert_eq!(root.parallel_aware, None);
        assert_eq!(root.relation_name, None);
        assert_eq!(plan.planning_time_ms, None);
        assert_eq!(plan.extra["Planning Time"], "fast");
        assert!(plan.triggers.is_empty());
        assert_eq!(plan.extra["Triggers"]["not"], "a list");
        assert!(plan.settings.is_empty());
        assert_eq!(plan.extra["Settings"]["work_mem"], 4);
        let back = parse_json(to_json(&plan).to_string().as_bytes()).unwrap();
        assert_eq!(back, plan);
    }

    #[test]
    fn whole_floats_fill_integer_fields() {
        let plan = parse(
            r#"{"Plan": {"Node Type": "Hash", "Hash Buckets": 1024.0, "Actual Rows": 10.50,
                "Actual Loops": 2.0, "Heap Fetches": 3}}"#,
        )
        .unwrap();
        assert_eq!(plan.root.hash_buckets, Some(1024));
        assert_eq!(plan.root.actual_rows, Some(10.5));
        assert_eq!(plan.root.actual_loops, Some(2.0));
        assert_eq!(plan.root.heap_fetches, Some(3.0));
        assert!(!plan.root.never_executed);
    }

    #[test]
    fn zero_loops_means_never_executed() {
        let plan = parse(
            r#"{"Plan": {"Node Type": "Append", "Actual Loops": 1, "Plans": [
                {"Node Type": "Seq Scan", "Actual Rows": 0, "Actual Loops": 0}]}}"#,
        )
        .unwrap();
        assert!(!plan.root.never_executed);
        assert!(plan.root.plans[0].never_executed);
    }

    #[test]
    fn io_timings_of_every_version() {
        let old = parse(
            r#"{"Plan": {"Node Type": "Result", "I/O Read Time": 1.5, "I/O Write Time": 0.25}}"#,
        )
        .unwrap();
        assert_eq!(old.root.io.shared_read_ms, Some(1.5));
        assert_eq!(old.root.io.shared_write_ms, Some(0.25));
        let new = parse(
            r#"{"Plan": {"Node Type": "Result", "Shared I/O Read Time": 1.5,
                "Shared I/O Write Time": 0.25, "Local I/O Read Time": 0.0,
                "Local I/O Write Time": 0.0, "Temp I/O Read Time": 2.0,
                "Temp I/O Write Time": 3.0},
                "Planning": {"Shared Hit Blocks": 4, "Shared I/O Read Time": 0.5,
                "Local I/O Read Time": 0.0, "Memory Used": 20, "Memory Allocated": 32,
                "Something New": 1}}"#,
        )
        .unwrap();
        assert_eq!(new.root.io.shared_read_ms, Some(1.5));
        assert_eq!(new.root.io.temp_write_ms, Some(3.0));
        assert_eq!(new.planning_buffers.unwrap().shared_hit, Some(4));
        assert_eq!(new.planning_io.unwrap().shared_read_ms, Some(0.5));
        let memory = new.planning_memory.unwrap();
        assert_eq!((memory.used_kb, memory.allocated_kb), (Some(20), Some(32)));
        assert_eq!(new.planning_extra["Something New"], 1);
        // Each form is written back as the server printed it.
        let old_json = to_json(&old);
        assert_eq!(old_json["Plan"]["I/O Read Time"], 1.5);
        assert!(old_json["Plan"].get("Shared I/O Read Time").is_none());
        let new_json = to_json(&new);
        assert_eq!(new_json["Plan"]["Shared I/O Read Time"], 1.5);
        assert!(new_json["Plan"].get("I/O Read Time").is_none());
        assert_eq!(new_json["Planning"]["Shared I/O Read Time"], 0.5);
        assert_eq!(new_json["Planning"]["Something New"], 1);
    }

    #[test]
    fn jit_serialization_triggers_and_settings() {
        // The JIT group as PostgreSQL 17 prints it ("Generation" split).
        let plan = parse(
            r#"[{"Plan": {"Node Type": "Result"},
                "Settings": {"work_mem": "64kB", "enable_sort": "off"},
                "Triggers": [{"Trigger Name": "RI_ConstraintTrigger_a_1",
                    "Constraint Name": "orders_customer_fkey", "Relation": "orders",
                    "Time": 1.25, "Calls": 100.0}],
                "JIT": {"Functions": 6,
                    "Options": {"Inlining": false, "Optimization": true,
                        "Expressions": true, "Deforming": true},
                    "Timing": {"Generation": {"Deform": 0.1, "Expressions": 0.9, "Total": 1.0},
                        "Inlining": 2.0, "Optimization": 3.0, "Emission": 4.0, "Total": 10.0}},
                "Serialization": {"Time": 0.5, "Output Volume": 12, "Format": "text",
                    "Shared Hit Blocks": 0}}]"#,
        )
        .unwrap();
        assert_eq!(plan.settings["work_mem"], "64kB");
        let trigger = &plan.triggers[0];
        assert_eq!(trigger.trigger_name, "RI_ConstraintTrigger_a_1");
        assert_eq!(
            trigger.constraint_name.as_deref(),
            Some("orders_customer_fkey")
        );
        assert_eq!(trigger.calls, Some(100));
        assert_eq!(trigger.time_ms, Some(1.25));
        let jit = plan.jit.as_ref().unwrap();
        assert_eq!(jit.functions, Some(6));
        assert!(jit.options["Optimization"]);
        assert_eq!(jit.timing_ms["Generation"], 1.0);
        assert_eq!(jit.timing_ms["Total"], 10.0);
        assert_eq!(jit.extra["Timing"]["Generation"]["Deform"], 0.1);
        let serialization = plan.serialization.as_ref().unwrap();
        assert_eq!(serialization.output_volume_kb, Some(12));
        assert_eq!(serialization.buffers.shared_hit, Some(0));
        let json = to_json(&plan);
        assert_eq!(json["JIT"]["Timing"]["Generation"]["Total"], 1.0);
        assert_eq!(json["JIT"]["Timing"]["Emission"], 4.0);
        assert_eq!(json["Triggers"][0]["Calls"], 100);
        assert_eq!(parse_json(json.to_string().as_bytes()).unwrap(), plan);
        assert_eq!(parse_json_value(&json).unwrap(), plan);
    }

    #[test]
    fn node_keys_are_written_back_with_postgres_names() {
        let plan = parse(
            r#"{"Plan": {"Node Type": "Hash Join", "Join Type": "Inner", "Plan Rows": 5,
                "Hash Cond": "(a.id = b.id)", "Plans": [
                  {"Node Type": "Seq Scan", "Parent Relationship": "Outer",
                   "Relation Name": "a", "WAL Records": 3, "Actual Loops": 0},
                  {"Node Type": "Hash", "Parent Relationship": "Inner", "Workers": [
                    {"Worker Number": 0, "Actual Rows": 1, "Hash Buckets": 8}]}]}}"#,
        )
        .unwrap();
        let json = to_json(&plan);
        let root = &json["Plan"];
        assert_eq!(root["Node Type"], "Hash Join");
        assert_eq!(root["Join Type"], "Inner");
        assert_eq!(root["Plan Rows"], 5);
        assert!(root["Plan Rows"].is_u64());
        assert_eq!(root["Hash Cond"], "(a.id = b.id)");
        assert_eq!(root["Plans"][0]["Relation Name"], "a");
        assert_eq!(root["Plans"][0]["WAL Records"], 3);
        assert_eq!(root["Plans"][0]["Actual Loops"], 0);
        assert_eq!(root["Plans"][1]["Workers"][0]["Worker Number"], 0);
        assert_eq!(root["Plans"][1]["Workers"][0]["Hash Buckets"], 8);
        assert_eq!(parse_json(json.to_string().as_bytes()).unwrap(), plan);
        assert_eq!(parse_json_value(&json).unwrap(), plan);
    }

    fn error(text: &str) -> ParseError {
        match parse(text) {
            Ok(plan) => panic!("parsed {text:?} into {plan:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn truncated_json_is_an_error_with_a_position() {
        let e = error("[\n  {\n    \"Plan\": {\n      \"Node Type\": \"Seq");
        assert_eq!(e.format, Format::Json);
        assert_eq!(e.line, Some(4));
        assert!(e.column.is_some());
        assert!(e.message.contains("truncated"), "{e}");
        let e = error("");
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("truncated"), "{e}");
    }

    #[test]
    fn json_that_is_not_a_plan_says_what_was_expected() {
        let e = error(r#"{"a":1}"#);
        assert!(e.message.contains("\"Plan\""), "{e}");
        assert_eq!((e.line, e.column), (Some(1), Some(7)));
        let e = error("[]");
        assert!(e.message.contains("empty"), "{e}");
        assert!(e.message.contains("\"Plan\""), "{e}");
        let e = error("42");
        assert!(e.message.contains("EXPLAIN (FORMAT JSON) output"), "{e}");
        assert_eq!(e.line, Some(1));
        let e = error(r#"["plan"]"#);
        assert!(e.message.contains("an EXPLAIN result"), "{e}");
        let e = error(r#"{"Plan": []}"#);
        assert!(e.message.contains("plan node"), "{e}");
    }

    #[test]
    fn structural_keys_must_have_their_type() {
        let e = error("{\"Plan\": {\"Total Cost\": 1.0}}");
        assert!(e.message.contains("no \"Node Type\""), "{e}");
        let e = error(r#"{"Plan": {"Node Type": 3}}"#);
        assert!(e.message.contains("\"Node Type\" is a number"), "{e}");
        let e = error(r#"{"Plan": {"Node Type": "Sort", "Plans": {}}}"#);
        assert!(e.message.contains("\"Plans\""), "{e}");
        let e = error(r#"{"Plan": {"Node Type": "Sort", "Plans": [1]}}"#);
        assert!(e.message.contains("plan node"), "{e}");
        let e = error(r#"{"Plan": {"Node Type": "Sort", "Workers": [[]]}}"#);
        assert!(e.message.contains("worker"), "{e}");
    }

    #[test]
    fn trailing_garbage_and_deep_nesting_are_errors() {
        let e = error(r#"{"Plan": {"Node Type": "Result"}} x"#);
        assert!(e.message.contains("trailing"), "{e}");
        let deep = format!(
            r#"{{"Plan": {{"Node Type": "Result", "X": {}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = error(&deep);
        assert!(e.message.contains("nested"), "{e}");
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let plan = parse_json(b"\xEF\xBB\xBF{\"Plan\": {\"Node Type\": \"Result\"}}").unwrap();
        assert_eq!(plan.root.node_type, NodeType::Result);
        let e = parse_json(b"\xEF\xBB\xBF{\"Plan\": 1}").unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn escaped_keys_are_matched() {
        let plan =
            parse(r#"{"Plan": {"Node\u0020Type": "Result", "Total\u0020Cost": 2.5}}"#).unwrap();
        assert_eq!(plan.root.total_cost, Some(2.5));
    }
}
