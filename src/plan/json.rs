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
//! The tables (the `*_fields` functions below) list every typed key once,
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
use std::sync::LazyLock;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::model::{
    Buffers, Extra, IoTimings, Jit, Memory, Node, NodeType, Plan, Serialization, Trigger, Wal,
    Worker,
};
use super::{Format, ParseError, derive};

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
// Value kinds: how one JSON value converts to a typed field and back.

/// A conversion between a JSON value and a field's type. `take` hands the
/// value back when it has another type, so the caller can keep it in `extra`.
trait Kind {
    type T;
    fn take(value: Value) -> Result<Self::T, Value>;
    fn put(value: &Self::T) -> Value;
}

/// A string.
struct Text;
/// Any number, written back as a float (times, costs).
struct Float;
/// Any number, written back as an integer when whole (rows, loops: floats
/// only in PostgreSQL 18, and only when fractional).
struct Count;
/// A non-negative whole number (blocks, kB, widths).
struct UInt;
/// A whole number.
struct Int;
/// A boolean.
struct Flag;

/// Floats above this are not exact integers.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

impl Kind for Text {
    type T = String;
    fn take(value: Value) -> Result<String, Value> {
        match value {
            Value::String(s) => Ok(s),
            other => Err(other),
        }
    }
    fn put(value: &String) -> Value {
        Value::String(value.clone())
    }
}

impl Kind for Float {
    type T = f64;
    fn take(value: Value) -> Result<f64, Value> {
        match value.as_f64() {
            Some(f) => Ok(f),
            None => Err(value),
        }
    }
    fn put(value: &f64) -> Value {
        Value::from(*value)
    }
}

impl Kind for Count {
    type T = f64;
    fn take(value: Value) -> Result<f64, Value> {
        Float::take(value)
    }
    fn put(value: &f64) -> Value {
        if value.fract() == 0.0 && value.abs() <= MAX_EXACT {
            if *value >= 0.0 {
                return Value::from(*value as u64);
            }
            return Value::from(*value as i64);
        }
        Value::from(*value)
    }
}

impl Kind for UInt {
    type T = u64;
    fn take(value: Value) -> Result<u64, Value> {
        let Value::Number(n) = &value else {
            return Err(value);
        };
        if let Some(u) = n.as_u64() {
            return Ok(u);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..=MAX_EXACT).contains(&f) => Ok(f as u64),
            _ => Err(value),
        }
    }
    fn put(value: &u64) -> Value {
        Value::from(*value)
    }
}

impl Kind for Int {
    type T = i64;
    fn take(value: Value) -> Result<i64, Value> {
        let Value::Number(n) = &value else {
            return Err(value);
        };
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() <= MAX_EXACT => Ok(f as i64),
            _ => Err(value),
        }
    }
    fn put(value: &i64) -> Value {
        Value::from(*value)
    }
}

impl Kind for Flag {
    type T = bool;
    fn take(value: Value) -> Result<bool, Value> {
        match value {
            Value::Bool(b) => Ok(b),
            other => Err(other),
        }
    }
    fn put(value: &bool) -> Value {
        Value::Bool(*value)
    }
}

/// A JSON array of strings (`"Output"`, `"Sort Key"`).
fn take_list(value: Value) -> Result<Vec<String>, Value> {
    match value {
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect()),
        other => Err(other),
    }
}

// ---------------------------------------------------------------------------
// Key tables

/// One typed key of a struct `T`: where its value goes and how it comes back.
struct Field<T> {
    key: &'static str,
    /// Stores the value; hands it back when its type does not fit.
    set: fn(&mut T, Value) -> Result<(), Value>,
    /// The value to write back, if the field is set.
    get: fn(&T) -> Option<Value>,
}

/// One entry of a key table of struct `T`, in three forms:
///
/// - `T: "Key" => Kind path.to.field` for an `Option` field,
/// - `T: "Key" => Kind in make / read . field` for a field of an optional or
///   shared group, reached through the `make` (`&mut`, creating it) and
///   `read` (`Option<&>`) methods,
/// - `T: "Key" => list path.to.field` for a `Vec<String>` (written back only
///   when not empty).
macro_rules! field {
    ($t:ty: $key:literal => list $($path:ident).+) => {
        Field::<$t> {
            key: $key,
            set: |t: &mut $t, v| {
                t.$($path).+ = take_list(v)?;
                Ok(())
            },
            get: |t: &$t| (!t.$($path).+.is_empty()).then(|| Value::from(t.$($path).+.clone())),
        }
    };
    ($t:ty: $key:literal => $kind:ident in $make:ident / $read:ident . $name:ident) => {
        Field::<$t> {
            key: $key,
            set: |t: &mut $t, v| {
                t.$make().$name = Some($kind::take(v)?);
                Ok(())
            },
            get: |t: &$t| t.$read().and_then(|g| g.$name.as_ref().map($kind::put)),
        }
    };
    ($t:ty: $key:literal => $kind:ident $($path:ident).+) => {
        Field::<$t> {
            key: $key,
            set: |t: &mut $t, v| {
                t.$($path).+ = Some($kind::take(v)?);
                Ok(())
            },
            get: |t: &$t| t.$($path).+.as_ref().map($kind::put),
        }
    };
}

/// A struct's key table: its fields in EXPLAIN's order (for writing) and an
/// open-addressing hash index (for reading: one hash and usually one string
/// comparison per key, where a sorted list took seven).
struct Table<T: 'static> {
    fields: Vec<Field<T>>,
    /// Field indexes by `hash(key) & (len - 1)`, linear probing; `EMPTY`
    /// marks a free slot. At most a quarter full.
    slots: Vec<u16>,
}

const EMPTY: u16 = u16::MAX;

/// FNV-1a: short keys, no need for DoS resistance (the keys looked up are
/// compared in full before use).
fn hash(key: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as usize
}

impl<T> Table<T> {
    fn new(fields: Vec<Field<T>>) -> Table<T> {
        let size = (fields.len() * 4).next_power_of_two().max(16);
        let mut slots = vec![EMPTY; size];
        for (i, field) in fields.iter().enumerate() {
            let mut at = hash(field.key) & (size - 1);
            while slots[at] != EMPTY {
                debug_assert!(
                    fields[usize::from(slots[at])].key != field.key,
                    "{} is listed twice",
                    field.key
                );
                at = (at + 1) & (size - 1);
            }
            slots[at] = u16::try_from(i).unwrap_or(EMPTY);
        }
        Table { fields, slots }
    }

    fn get(&self, key: &str) -> Option<&Field<T>> {
        let mask = self.slots.len() - 1;
        let mut at = hash(key) & mask;
        loop {
            let field = self.fields.get(usize::from(self.slots[at]))?;
            if field.key == key {
                return Some(field);
            }
            at = (at + 1) & mask;
        }
    }
}

/// A struct filled from a JSON object through its key table.
trait Record: Sized + Default + 'static {
    fn table() -> &'static Table<Self>;
    fn extra(&self) -> &Extra;
    fn extra_mut(&mut self) -> &mut Extra;
}

/// Stores one key of a record: typed when the table knows it and the type
/// fits, in `extra` otherwise.
fn put<T: Record>(record: &mut T, key: Cow<'_, str>, value: Value) {
    let value = match T::table().get(&key) {
        Some(field) => match (field.set)(record, value) {
            Ok(()) => return,
            Err(value) => value,
        },
        None => value,
    };
    record.extra_mut().insert(key.into_owned(), value);
}

fn read_record<T: Record>(map: Map<String, Value>) -> T {
    let mut record = T::default();
    for (key, value) in map {
        put(&mut record, Cow::Owned(key), value);
    }
    record
}

fn write_record<T: Record>(record: &T) -> Map<String, Value> {
    let mut map = Map::new();
    for field in &T::table().fields {
        if let Some(value) = (field.get)(record) {
            map.insert(field.key.to_owned(), value);
        }
    }
    for (key, value) in record.extra() {
        map.entry(key.clone()).or_insert_with(|| value.clone());
    }
    map
}

/// The buffer and I/O timing keys (`show_buffer_usage` in explain.c), shared
/// by nodes, workers, `"Planning"` and `"Serialization"`.
trait Usage {
    fn buffers_mut(&mut self) -> &mut Buffers;
    fn buffers_ref(&self) -> Option<&Buffers>;
    fn io_mut(&mut self) -> &mut IoTimings;
    fn io_ref(&self) -> Option<&IoTimings>;
}

/// The WAL keys (`show_wal_usage`), on nodes and workers.
trait WalUsage {
    fn wal_mut(&mut self) -> &mut Wal;
    fn wal_ref(&self) -> Option<&Wal>;
}

fn usage_fields<T: Usage>() -> Vec<Field<T>> {
    vec![
        field!(T: "Shared Hit Blocks" => UInt in buffers_mut / buffers_ref . shared_hit),
        field!(T: "Shared Read Blocks" => UInt in buffers_mut / buffers_ref . shared_read),
        field!(T: "Shared Dirtied Blocks" => UInt in buffers_mut / buffers_ref . shared_dirtied),
        field!(T: "Shared Written Blocks" => UInt in buffers_mut / buffers_ref . shared_written),
        field!(T: "Local Hit Blocks" => UInt in buffers_mut / buffers_ref . local_hit),
        field!(T: "Local Read Blocks" => UInt in buffers_mut / buffers_ref . local_read),
        field!(T: "Local Dirtied Blocks" => UInt in buffers_mut / buffers_ref . local_dirtied),
        field!(T: "Local Written Blocks" => UInt in buffers_mut / buffers_ref . local_written),
        field!(T: "Temp Read Blocks" => UInt in buffers_mut / buffers_ref . temp_read),
        field!(T: "Temp Written Blocks" => UInt in buffers_mut / buffers_ref . temp_written),
        // PostgreSQL 13 to 15 print the shared timings without "Shared";
        // write back whichever form the server would have printed.
        Field {
            key: "I/O Read Time",
            set: |t: &mut T, v| {
                t.io_mut().shared_read_ms = Some(Float::take(v)?);
                Ok(())
            },
            get: |t| {
                let io = t.io_ref().filter(|io| !io.is_split())?;
                io.shared_read_ms.as_ref().map(Float::put)
            },
        },
        Field {
            key: "I/O Write Time",
            set: |t: &mut T, v| {
                t.io_mut().shared_write_ms = Some(Float::take(v)?);
                Ok(())
            },
            get: |t| {
                let io = t.io_ref().filter(|io| !io.is_split())?;
                io.shared_write_ms.as_ref().map(Float::put)
            },
        },
        Field {
            key: "Shared I/O Read Time",
            set: |t: &mut T, v| {
                t.io_mut().shared_read_ms = Some(Float::take(v)?);
                Ok(())
            },
            get: |t| {
                let io = t.io_ref().filter(|io| io.is_split())?;
                io.shared_read_ms.as_ref().map(Float::put)
            },
        },
        Field {
            key: "Shared I/O Write Time",
            set: |t: &mut T, v| {
                t.io_mut().shared_write_ms = Some(Float::take(v)?);
                Ok(())
            },
            get: |t| {
                let io = t.io_ref().filter(|io| io.is_split())?;
                io.shared_write_ms.as_ref().map(Float::put)
            },
        },
        field!(T: "Local I/O Read Time" => Float in io_mut / io_ref . local_read_ms),
        field!(T: "Local I/O Write Time" => Float in io_mut / io_ref . local_write_ms),
        field!(T: "Temp I/O Read Time" => Float in io_mut / io_ref . temp_read_ms),
        field!(T: "Temp I/O Write Time" => Float in io_mut / io_ref . temp_write_ms),
    ]
}

fn wal_fields<T: WalUsage>() -> Vec<Field<T>> {
    vec![
        field!(T: "WAL Records" => UInt in wal_mut / wal_ref . records),
        field!(T: "WAL FPI" => UInt in wal_mut / wal_ref . fpi),
        field!(T: "WAL Bytes" => UInt in wal_mut / wal_ref . bytes),
        field!(T: "WAL Buffers Full" => UInt in wal_mut / wal_ref . buffers_full),
    ]
}

/// Node keys, in the order `ExplainNode` prints them. `"Node Type"`,
/// `"Plans"` and `"Workers"` carry the tree and are read by [`NodeVisitor`].
fn node_fields() -> Vec<Field<Node>> {
    let mut fields = vec![
        field!(Node: "Strategy" => Text strategy),
        field!(Node: "Partial Mode" => Text partial_mode),
        field!(Node: "Operation" => Text operation),
        field!(Node: "Command" => Text command),
        field!(Node: "Parent Relationship" => Text parent_relationship),
        field!(Node: "Subplan Name" => Text subplan_name),
        field!(Node: "Custom Plan Provider" => Text custom_plan_provider),
        field!(Node: "Parallel Aware" => Flag parallel_aware),
        field!(Node: "Async Capable" => Flag async_capable),
        field!(Node: "Scan Direction" => Text scan_direction),
        field!(Node: "Index Name" => Text index_name),
        field!(Node: "Relation Name" => Text relation_name),
        field!(Node: "Function Name" => Text function_name),
        field!(Node: "Table Function Name" => Text table_function_name),
        field!(Node: "CTE Name" => Text cte_name),
        field!(Node: "Tuplestore Name" => Text tuplestore_name),
        field!(Node: "Schema" => Text schema),
        field!(Node: "Alias" => Text alias),
        field!(Node: "Join Type" => Text join_type),
        field!(Node: "Startup Cost" => Float startup_cost),
        field!(Node: "Total Cost" => Float total_cost),
        field!(Node: "Plan Rows" => Count plan_rows),
        field!(Node: "Plan Width" => UInt plan_width),
        field!(Node: "Actual Startup Time" => Float actual_startup_time),
        field!(Node: "Actual Total Time" => Float actual_total_time),
        field!(Node: "Actual Rows" => Count actual_rows),
        field!(Node: "Actual Loops" => Count actual_loops),
        field!(Node: "Disabled" => Flag disabled),
        field!(Node: "Output" => list output),
        field!(Node: "Inner Unique" => Flag inner_unique),
        field!(Node: "Sort Key" => list sort_key),
        field!(Node: "Presorted Key" => list presorted_key),
        field!(Node: "Group Key" => list group_key),
        field!(Node: "Hash Key" => list hash_key),
        field!(Node: "Index Cond" => Text conditions.index_cond),
        field!(Node: "Order By" => Text conditions.order_by),
        field!(Node: "Recheck Cond" => Text conditions.recheck_cond),
        field!(Node: "TID Cond" => Text conditions.tid_cond),
        field!(Node: "Merge Cond" => Text conditions.merge_cond),
        field!(Node: "Hash Cond" => Text conditions.hash_cond),
        field!(Node: "Join Filter" => Text conditions.join_filter),
        field!(Node: "One-Time Filter" => Text conditions.one_time_filter),
        field!(Node: "Filter" => Text conditions.filter),
        field!(Node: "Rows Removed by Index Recheck" => Count rows_removed_by_index_recheck),
        field!(Node: "Rows Removed by Join Filter" => Count rows_removed_by_join_filter),
        field!(Node: "Rows Removed by Filter" => Count rows_removed_by_filter),
        field!(Node: "Index Searches" => Count index_searches),
        field!(Node: "Heap Fetches" => Count heap_fetches),
        field!(Node: "Exact Heap Blocks" => Count exact_heap_blocks),
        field!(Node: "Lossy Heap Blocks" => Count lossy_heap_blocks),
        field!(Node: "Workers Planned" => UInt workers_planned),
        field!(Node: "Workers Launched" => UInt workers_launched),
        field!(Node: "Single Copy" => Flag single_copy),
        field!(Node: "Sort Method" => Text sort_method),
        field!(Node: "Sort Space Used" => UInt sort_space_used),
        field!(Node: "Sort Space Type" => Text sort_space_type),
        field!(Node: "Hash Buckets" => UInt hash_buckets),
        field!(Node: "Original Hash Buckets" => UInt original_hash_buckets),
        field!(Node: "Hash Batches" => UInt hash_batches),
        field!(Node: "Original Hash Batches" => UInt original_hash_batches),
        field!(Node: "Peak Memory Usage" => UInt peak_memory_usage),
        field!(Node: "Planned Partitions" => UInt planned_partitions),
        field!(Node: "HashAgg Batches" => UInt hash_agg_batches),
        field!(Node: "Disk Usage" => UInt disk_usage),
    ];
    fields.extend(usage_fields());
    fields.extend(wal_fields());
    fields
}

fn worker_fields() -> Vec<Field<Worker>> {
    let mut fields = vec![
        Field {
            key: "Worker Number",
            set: |t: &mut Worker, v| {
                t.worker_number = UInt::take(v)?;
                Ok(())
            },
            get: |t: &Worker| Some(Value::from(t.worker_number)),
        },
        field!(Worker: "Actual Startup Time" => Float actual_startup_time),
        field!(Worker: "Actual Total Time" => Float actual_total_time),
        field!(Worker: "Actual Rows" => Count actual_rows),
        field!(Worker: "Actual Loops" => Count actual_loops),
        field!(Worker: "Sort Method" => Text sort_method),
        field!(Worker: "Sort Space Used" => UInt sort_space_used),
        field!(Worker: "Sort Space Type" => Text sort_space_type),
    ];
    fields.extend(usage_fields());
    fields.extend(wal_fields());
    fields
}

/// The scalar top-level keys; `"Plan"` and the groups are read by
/// [`ResultVisitor`] and [`put_top`].
fn plan_fields() -> Vec<Field<Plan>> {
    vec![
        field!(Plan: "Query Text" => Text query_text),
        field!(Plan: "Query Identifier" => Int query_identifier),
        field!(Plan: "Planning Time" => Float planning_time_ms),
        field!(Plan: "Execution Time" => Float execution_time_ms),
    ]
}

/// `"Planning"`: buffers, I/O timings (16+) and memory (17+) of planning.
#[derive(Default)]
struct Planning {
    buffers: Buffers,
    io: IoTimings,
    memory: Memory,
    extra: Extra,
}

fn planning_fields() -> Vec<Field<Planning>> {
    let mut fields = usage_fields();
    fields.push(field!(Planning: "Memory Used" => UInt memory.used_kb));
    fields.push(field!(Planning: "Memory Allocated" => UInt memory.allocated_kb));
    fields
}

fn trigger_fields() -> Vec<Field<Trigger>> {
    vec![
        Field {
            key: "Trigger Name",
            set: |t: &mut Trigger, v| {
                t.trigger_name = Text::take(v)?;
                Ok(())
            },
            get: |t: &Trigger| Some(Value::String(t.trigger_name.clone())),
        },
        field!(Trigger: "Constraint Name" => Text constraint_name),
        field!(Trigger: "Relation" => Text relation),
        field!(Trigger: "Time" => Float time_ms),
        field!(Trigger: "Calls" => UInt calls),
    ]
}

fn serialization_fields() -> Vec<Field<Serialization>> {
    let mut fields = vec![
        field!(Serialization: "Time" => Float time_ms),
        field!(Serialization: "Output Volume" => UInt output_volume_kb),
        field!(Serialization: "Format" => Text format),
    ];
    fields.extend(usage_fields());
    fields
}

fn jit_fields() -> Vec<Field<Jit>> {
    vec![
        field!(Jit: "Worker Number" => UInt worker_number),
        field!(Jit: "Functions" => UInt functions),
    ]
}

macro_rules! record {
    ($t:ty, $table:ident, $fields:ident) => {
        static $table: LazyLock<Table<$t>> = LazyLock::new(|| Table::new($fields()));
        impl Record for $t {
            fn table() -> &'static Table<$t> {
                &$table
            }
            fn extra(&self) -> &Extra {
                &self.extra
            }
            fn extra_mut(&mut self) -> &mut Extra {
                &mut self.extra
            }
        }
    };
}

record!(Node, NODE, node_fields);
record!(Worker, WORKER, worker_fields);
record!(Plan, PLAN, plan_fields);
record!(Planning, PLANNING, planning_fields);
record!(Trigger, TRIGGER, trigger_fields);
record!(Serialization, SERIALIZATION, serialization_fields);
record!(Jit, JIT, jit_fields);

macro_rules! usage {
    ($t:ty, buffers: $b:ident, io: $io:ident) => {
        impl Usage for $t {
            fn buffers_mut(&mut self) -> &mut Buffers {
                &mut self.$b
            }
            fn buffers_ref(&self) -> Option<&Buffers> {
                Some(&self.$b)
            }
            fn io_mut(&mut self) -> &mut IoTimings {
                &mut self.$io
            }
            fn io_ref(&self) -> Option<&IoTimings> {
                Some(&self.$io)
            }
        }
    };
}

usage!(Node, buffers: buffers, io: io);
usage!(Worker, buffers: buffers, io: io);
usage!(Planning, buffers: buffers, io: io);
usage!(Serialization, buffers: buffers, io: io);

impl WalUsage for Node {
    fn wal_mut(&mut self) -> &mut Wal {
        self.wal.get_or_insert_with(Wal::default)
    }
    fn wal_ref(&self) -> Option<&Wal> {
        self.wal.as_ref()
    }
}

impl WalUsage for Worker {
    fn wal_mut(&mut self) -> &mut Wal {
        self.wal.get_or_insert_with(Wal::default)
    }
    fn wal_ref(&self) -> Option<&Wal> {
        self.wal.as_ref()
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
