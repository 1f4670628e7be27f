//! The node line grammar of text EXPLAIN: `[Parallel ][Async ]<name>
//! [target]  (cost=..)  (actual ..)`, as `ExplainNode` in explain.c writes
//! it.

use crate::plan::{Node, NodeType};

/// A problem in a node line, at a byte offset of the line's content.
#[derive(Debug)]
pub(super) struct HeaderError {
    pub at: usize,
    pub message: String,
}

fn fail<T>(at: usize, message: impl Into<String>) -> Result<T, HeaderError> {
    Err(HeaderError {
        at,
        message: message.into(),
    })
}

/// The words a node line can start with (after `->`); used to tell node
/// lines, and ModifyTable's target lines, from wrapped text.
const FIRST_WORDS: &[&str] = &[
    "Aggregate",
    "Append",
    "Async",
    "Bitmap",
    "BitmapAnd",
    "BitmapOr",
    "CTE",
    "Custom",
    "Delete",
    "Finalize",
    "Foreign",
    "Function",
    "Gather",
    "Group",
    "GroupAggregate",
    "Hash",
    "HashAggregate",
    "HashSetOp",
    "Incremental",
    "Index",
    "Insert",
    "Limit",
    "LockRows",
    "Materialize",
    "Memoize",
    "Merge",
    "MixedAggregate",
    "Named",
    "Nested",
    "Parallel",
    "Partial",
    "ProjectSet",
    "Recursive",
    "Result",
    "Sample",
    "Seq",
    "SetOp",
    "Sort",
    "Subquery",
    "Table",
    "Tid",
    "Unique",
    "Update",
    "Values",
    "WindowAgg",
    "WorkTable",
];

/// Whether `s` starts with a word a node line can start with.
pub(super) fn starts_like_node(s: &str) -> bool {
    let word_end = s
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(s.len());
    let word = &s[..word_end];
    !word.is_empty() && FIRST_WORDS.binary_search(&word).is_ok()
}

/// What follows a node type name on its line (explain.c,
/// `ExplainScanTarget`, `ExplainIndexScanDetails`, `ExplainModifyTarget`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Nothing.
    None,
    /// ` on [schema.]relation [alias]`.
    Relation,
    /// Optional ` on [schema.]relation [alias]` (Foreign and Custom Scan,
    /// which may scan a join).
    OptionalRelation,
    /// `[ Backward] using index on [schema.]relation [alias]`.
    Index,
    /// ` on index`.
    BitmapIndex,
    /// ` on alias` (Subquery Scan, Values Scan); before 8.4 ` alias`.
    Alias,
    /// ` on name [alias]` into `cte_name`.
    Cte,
    /// ` on [schema.]function [alias]`.
    Function,
    /// ` on name [alias]` into `table_function_name`.
    TableFunction,
    /// ` on name [alias]` into `tuplestore_name`.
    Tuplestore,
}

/// Node names that take no join or strategy decoration, longest first where
/// one is a prefix of another.
const SIMPLE: &[(&str, NodeType, Target)] = &[
    ("Index Only Scan", NodeType::IndexOnlyScan, Target::Index),
    ("Index Scan", NodeType::IndexScan, Target::Index),
    (
        "Bitmap Index Scan",
        NodeType::BitmapIndexScan,
        Target::BitmapIndex,
    ),
    (
        "Bitmap Heap Scan",
        NodeType::BitmapHeapScan,
        Target::Relation,
    ),
    ("Seq Scan", NodeType::SeqScan, Target::Relation),
    ("Sample Scan", NodeType::SampleScan, Target::Relation),
    ("Tid Range Scan", NodeType::TidRangeScan, Target::Relation),
    ("Tid Scan", NodeType::TidScan, Target::Relation),
    ("Subquery Scan", NodeType::SubqueryScan, Target::Alias),
    (
        "Table Function Scan",
        NodeType::TableFunctionScan,
        Target::TableFunction,
    ),
    ("Function Scan", NodeType::FunctionScan, Target::Function),
    ("Values Scan", NodeType::ValuesScan, Target::Alias),
    ("CTE Scan", NodeType::CteScan, Target::Cte),
    (
        "Named Tuplestore Scan",
        NodeType::NamedTuplestoreScan,
        Target::Tuplestore,
    ),
    ("WorkTable Scan", NodeType::WorkTableScan, Target::Cte),
    (
        "Foreign Scan",
        NodeType::ForeignScan,
        Target::OptionalRelation,
    ),
    ("Gather Merge", NodeType::GatherMerge, Target::None),
    ("Gather", NodeType::Gather, Target::None),
    ("Merge Append", NodeType::MergeAppend, Target::None),
    ("Append", NodeType::Append, Target::None),
    ("Recursive Union", NodeType::RecursiveUnion, Target::None),
    ("BitmapAnd", NodeType::BitmapAnd, Target::None),
    ("BitmapOr", NodeType::BitmapOr, Target::None),
    ("ProjectSet", NodeType::ProjectSet, Target::None),
    ("Result", NodeType::Result, Target::None),
    ("Materialize", NodeType::Materialize, Target::None),
    ("Memoize", NodeType::Memoize, Target::None),
    ("Incremental Sort", NodeType::IncrementalSort, Target::None),
    ("Sort", NodeType::Sort, Target::None),
    ("WindowAgg", NodeType::WindowAgg, Target::None),
    ("Unique", NodeType::Unique, Target::None),
    ("LockRows", NodeType::LockRows, Target::None),
    ("Limit", NodeType::Limit, Target::None),
    ("Group", NodeType::Group, Target::None),
    ("Hash", NodeType::Hash, Target::None),
];

/// Join type words after `Nested Loop`, `Hash` or `Merge` (explain.c:
/// "the join type is interpolated into the node type name"), longest first.
const JOINS: &[(&str, &str)] = &[
    (" Right Semi Join", "Right Semi"),
    (" Right Anti Join", "Right Anti"),
    (" Left Join", "Left"),
    (" Full Join", "Full"),
    (" Right Join", "Right"),
    (" Semi Join", "Semi"),
    (" Anti Join", "Anti"),
    (" Join", "Inner"),
];

const AGGREGATES: &[(&str, &str)] = &[
    ("Aggregate", "Plain"),
    ("GroupAggregate", "Sorted"),
    ("HashAggregate", "Hashed"),
    ("MixedAggregate", "Mixed"),
];

const SETOP_COMMANDS: &[&str] = &["Intersect All", "Intersect", "Except All", "Except"];

const MODIFY: &[&str] = &["Insert", "Update", "Delete", "Merge"];

/// `word` at the start of `s`, followed by the end or a space.
fn word<'s>(s: &'s str, word: &str) -> Option<&'s str> {
    let rest = s.strip_prefix(word)?;
    (rest.is_empty() || rest.starts_with(' ')).then_some(rest)
}

/// Parses a node line's content (after any `->`). `strict` rejects node
/// types this parser does not know instead of keeping them as
/// `NodeType::Other` (used to find the root among pasted prose).
pub(super) fn parse_header(line: &str, strict: bool) -> Result<Node, HeaderError> {
    let mut node = Node::default();
    let name_end = strip_parentheses(line, &mut node)?;
    let name = line[..name_end].trim_ascii_end();
    if name.is_empty() {
        return fail(0, "node line without a node type");
    }
    parse_name(name, &mut node, strict)?;
    Ok(node)
}

/// Parses the trailing `(cost=..)`, `(actual ..)` and `(never executed)`
/// groups and returns where the name part ends.
fn strip_parentheses(line: &str, node: &mut Node) -> Result<usize, HeaderError> {
    let mut end = line.trim_ascii_end().len();
    while line[..end].ends_with(')') {
        let Some(open) = line[..end].rfind('(') else {
            break;
        };
        let inner = &line[open + 1..end - 1];
        let at = open + 1;
        if inner.starts_with("cost=") {
            parse_costs(inner, at, node)?;
        } else if let Some(actual) = inner.strip_prefix("actual ") {
            parse_actual(actual, at + 7, node)?;
        } else if inner == "never executed" {
            node.never_executed = true;
        } else {
            break;
        }
        end = line[..open].trim_ascii_end().len();
    }
    for marker in ["(cost=", "(actual ", "(never executed"] {
        if let Some(at) = line[..end].find(marker) {
            return fail(at, "unterminated parenthesis");
        }
    }
    Ok(end)
}

/// `key=value` pairs separated by spaces, each checked for its key.
fn pairs<'s>(s: &'s str, at: usize, keys: &[&str]) -> Result<Vec<(&'s str, usize)>, HeaderError> {
    let mut out = Vec::with_capacity(keys.len());
    let mut rest = s;
    let mut offset = at;
    for key in keys {
        let trimmed = rest.trim_ascii_start();
        offset += rest.len() - trimmed.len();
        let Some(value) = trimmed.strip_prefix(key).and_then(|r| r.strip_prefix('=')) else {
            return fail(offset, format!("expected `{key}=` in the parentheses"));
        };
        let value_at = offset + key.len() + 1;
        let len = value.find(' ').unwrap_or(value.len());
        out.push((&value[..len], value_at));
        rest = &value[len..];
        offset = value_at + len;
    }
    if !rest.trim_ascii().is_empty() {
        return fail(
            offset,
            format!("unexpected `{}` in the parentheses", rest.trim_ascii()),
        );
    }
    Ok(out)
}

/// A plan number as explain.c prints it (`%.2f`, `%.0f`, `%d`): digits with
/// an optional sign and fraction. Masked figures (`N`) and words are not.
pub(super) fn number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let first = *b.first()?;
    if !(first.is_ascii_digit() || first == b'-' || first == b'.') {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn number_at(s: &str, at: usize, what: &str) -> Result<f64, HeaderError> {
    number(s).map_or_else(
        || fail(at, format!("expected a number for {what}, found `{s}`")),
        Ok,
    )
}

/// `a..b` of startup and total figures.
fn range(s: &str, at: usize, what: &str) -> Result<(f64, f64), HeaderError> {
    let Some(dots) = s.find("..") else {
        return fail(
            at,
            format!("expected `start..total` for {what}, found `{s}`"),
        );
    };
    let first = number_at(&s[..dots], at, what)?;
    let second = number_at(&s[dots + 2..], at + dots + 2, what)?;
    Ok((first, second))
}

/// `cost=%.2f..%.2f rows=%.0f width=%d` (explain.c, ExplainNode).
fn parse_costs(s: &str, at: usize, node: &mut Node) -> Result<(), HeaderError> {
    let p = pairs(s, at, &["cost", "rows", "width"])?;
    let (startup, total) = range(p[0].0, p[0].1, "the cost")?;
    node.startup_cost = Some(startup);
    node.total_cost = Some(total);
    node.plan_rows = Some(number_at(p[1].0, p[1].1, "the estimated rows")?);
    let width = p[2].0.parse::<u64>().or_else(|_| {
        fail(
            p[2].1,
            format!("expected a number for the width, found `{}`", p[2].0),
        )
    })?;
    node.plan_width = Some(width);
    Ok(())
}

/// `time=%.3f..%.3f rows=%.2f loops=%.0f`, or without `time=` when TIMING
/// is off (rows are `%.0f` before PostgreSQL 18).
fn parse_actual(s: &str, at: usize, node: &mut Node) -> Result<(), HeaderError> {
    let figures = actual_figures(s, at)?;
    node.actual_startup_time = figures.startup;
    node.actual_total_time = figures.total;
    node.actual_rows = Some(figures.rows);
    node.actual_loops = Some(figures.loops);
    Ok(())
}

/// Actual figures of a node or a worker.
pub(super) struct Actual {
    pub startup: Option<f64>,
    pub total: Option<f64>,
    pub rows: f64,
    pub loops: f64,
}

/// `[time=a..b ]rows=r loops=l` (after the word `actual`).
pub(super) fn actual_figures(s: &str, at: usize) -> Result<Actual, HeaderError> {
    let trimmed = s.trim_ascii_start();
    let at = at + (s.len() - trimmed.len());
    let (startup, total, p) = if trimmed.starts_with("time=") {
        let p = pairs(trimmed, at, &["time", "rows", "loops"])?;
        let (a, b) = range(p[0].0, p[0].1, "the actual time")?;
        (Some(a), Some(b), [p[1], p[2]])
    } else {
        let p = pairs(trimmed, at, &["rows", "loops"])?;
        (None, None, [p[0], p[1]])
    };
    Ok(Actual {
        startup,
        total,
        rows: number_at(p[0].0, p[0].1, "the actual rows")?,
        loops: number_at(p[1].0, p[1].1, "the actual loops")?,
    })
}

fn parse_name(name: &str, node: &mut Node, strict: bool) -> Result<(), HeaderError> {
    let mut rest = name;
    let mut at = 0;
    let prefix = |rest: &mut &str, at: &mut usize, p: &str| -> bool {
        match rest.strip_prefix(p) {
            Some(r) if !r.is_empty() => {
                *at += p.len();
                *rest = r;
                true
            }
            _ => false,
        }
    };
    let parallel = prefix(&mut rest, &mut at, "Parallel ");
    let async_capable = prefix(&mut rest, &mut at, "Async ");
    node.parallel_aware = Some(parallel);
    node.async_capable = Some(async_capable);

    let (tail, target) = match node_type(rest, node) {
        Some(found) => found,
        None if strict => return fail(at, format!("unknown node type `{rest}`")),
        None => {
            node.node_type = NodeType::Other(rest.to_owned());
            return Ok(());
        }
    };
    let tail_at = at + (rest.len() - tail.len());
    parse_target(tail, tail_at, target, node)
}

/// Recognises the node type name at the start of `s`, fills the fields
/// the name carries and returns the rest of the line and its target kind.
fn node_type<'s>(s: &'s str, node: &mut Node) -> Option<(&'s str, Target)> {
    for base in ["Nested Loop", "Hash", "Merge"] {
        let Some(rest) = s.strip_prefix(base) else {
            continue;
        };
        for (suffix, join) in JOINS {
            if let Some(tail) = rest
                .strip_prefix(suffix)
                .filter(|t| t.is_empty() || t.starts_with(' '))
            {
                node.node_type = match base {
                    "Nested Loop" => NodeType::NestedLoop,
                    "Hash" => NodeType::HashJoin,
                    _ => NodeType::MergeJoin,
                };
                node.join_type = Some((*join).to_owned());
                return Some((tail, Target::None));
            }
        }
        if base == "Nested Loop" && (rest.is_empty() || rest.starts_with(' ')) {
            node.node_type = NodeType::NestedLoop;
            node.join_type = Some("Inner".to_owned());
            return Some((rest, Target::None));
        }
    }

    let (partial, rest) = if let Some(r) = s.strip_prefix("Partial ") {
        (Some("Partial"), r)
    } else if let Some(r) = s.strip_prefix("Finalize ") {
        (Some("Finalize"), r)
    } else {
        (None, s)
    };
    for (name, strategy) in AGGREGATES {
        if let Some(tail) = word(rest, name) {
            node.node_type = NodeType::Aggregate;
            node.strategy = Some((*strategy).to_owned());
            node.partial_mode = Some(partial.unwrap_or("Simple").to_owned());
            return Some((tail, Target::None));
        }
    }
    if partial.is_some() {
        return None;
    }

    for (name, strategy) in [("HashSetOp", "Hashed"), ("SetOp", "Sorted")] {
        if let Some(rest) = word(s, name) {
            node.node_type = NodeType::SetOp;
            node.strategy = Some(strategy.to_owned());
            let rest = rest.trim_ascii_start();
            for command in SETOP_COMMANDS {
                if let Some(tail) = word(rest, command) {
                    node.command = Some((*command).to_owned());
                    return Some((tail, Target::None));
                }
            }
            return Some((rest, Target::None));
        }
    }

    for operation in MODIFY {
        if let Some(tail) = word(s, operation).filter(|t| t.starts_with(" on ")) {
            node.node_type = NodeType::ModifyTable;
            node.operation = Some((*operation).to_owned());
            return Some((tail, Target::Relation));
        }
    }
    for operation in ["Insert", "Update", "Delete"] {
        if let Some(tail) = s.strip_prefix("Foreign ").and_then(|r| word(r, operation)) {
            node.node_type = NodeType::ForeignScan;
            node.operation = Some(operation.to_owned());
            return Some((tail, Target::OptionalRelation));
        }
    }
    if let Some(rest) = word(s, "Custom Scan") {
        node.node_type = NodeType::CustomScan;
        if let Some(inner) = rest.strip_prefix(" (") {
            let close = inner.find(')')?;
            node.custom_plan_provider = Some(inner[..close].to_owned());
            return Some((&inner[close + 1..], Target::OptionalRelation));
        }
        return Some((rest, Target::OptionalRelation));
    }

    for (name, node_type, target) in SIMPLE {
        if let Some(tail) = word(s, name) {
            node.node_type = node_type.clone();
            if *node_type == NodeType::ForeignScan {
                node.operation = Some("Select".to_owned());
            }
            return Some((tail, *target));
        }
    }
    None
}

/// An identifier as `quote_identifier` prints it; returns it unquoted and
/// the byte length it took.
fn identifier(s: &str) -> Option<(String, usize)> {
    if let Some(body) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if body[i + 1..].starts_with('"') {
                    out.push('"');
                    chars.next();
                } else {
                    return Some((out, i + 2));
                }
            } else {
                out.push(c);
            }
        }
        None
    } else {
        let len = s.find([' ', '.']).unwrap_or(s.len());
        (len > 0).then(|| (s[..len].to_owned(), len))
    }
}

/// `name[.name][ alias]` after ` on `: (qualifier, name, alias).
fn qualified(s: &str, at: usize) -> Result<(Option<String>, String, Option<String>), HeaderError> {
    let Some((first, len)) = identifier(s) else {
        return fail(at, "expected a name after `on`");
    };
    let mut rest = &s[len..];
    let mut pos = at + len;
    let (schema, name) = if let Some(r) = rest.strip_prefix('.') {
        let Some((second, len2)) = identifier(r) else {
            return fail(pos + 1, "expected a name after `.`");
        };
        rest = &r[len2..];
        pos += 1 + len2;
        (Some(first), second)
    } else {
        (None, first)
    };
    let alias = match rest.strip_prefix(' ') {
        Some(r) if !r.trim_ascii().is_empty() => {
            let Some((alias, len3)) = identifier(r) else {
                return fail(pos + 1, "expected an alias");
            };
            if !r[len3..].trim_ascii().is_empty() {
                return fail(
                    pos + 1 + len3,
                    format!("unexpected `{}`", r[len3..].trim_ascii()),
                );
            }
            Some(alias)
        }
        _ if !rest.trim_ascii().is_empty() => {
            return fail(pos, format!("unexpected `{}`", rest.trim_ascii()));
        }
        _ => None,
    };
    Ok((schema, name, alias))
}

fn parse_target(tail: &str, at: usize, target: Target, node: &mut Node) -> Result<(), HeaderError> {
    let trimmed = tail.trim_ascii_end();
    if target == Target::None || (target == Target::OptionalRelation && trimmed.is_empty()) {
        if !trimmed.trim_ascii_start().is_empty() {
            return fail(
                at,
                format!("unexpected `{}` after the node type", trimmed.trim_ascii()),
            );
        }
        return Ok(());
    }
    let mut rest = trimmed;
    let mut pos = at;
    if target == Target::Index {
        if let Some(r) = rest.strip_prefix(" Backward") {
            node.scan_direction = Some("Backward".to_owned());
            rest = r;
            pos += 9;
        } else {
            node.scan_direction = Some("Forward".to_owned());
        }
        let Some(r) = rest.strip_prefix(" using ") else {
            return fail(pos, "expected `using <index>` after an index scan");
        };
        pos += 7;
        let Some((index, len)) = identifier(r) else {
            return fail(pos, "expected an index name");
        };
        node.index_name = Some(index);
        rest = &r[len..];
        pos += len;
    }
    let on = match rest.strip_prefix(" on ") {
        Some(r) => {
            pos += 4;
            r
        }
        // Before PostgreSQL 8.4 a Subquery Scan printed its alias without `on`.
        None if target == Target::Alias && rest.starts_with(' ') => {
            pos += 1;
            &rest[1..]
        }
        None => return fail(pos, "expected `on <name>` after the node type"),
    };
    if target == Target::BitmapIndex {
        let Some((index, len)) = identifier(on) else {
            return fail(pos, "expected an index name");
        };
        if !on[len..].trim_ascii().is_empty() {
            return fail(
                pos + len,
                format!("unexpected `{}`", on[len..].trim_ascii()),
            );
        }
        node.index_name = Some(index);
        return Ok(());
    }
    let (schema, name, alias) = qualified(on, pos)?;
    match target {
        Target::Alias => {
            if schema.is_some() || alias.is_some() {
                return fail(pos, "expected a single alias");
            }
            node.alias = Some(name);
        }
        Target::Cte => {
            node.alias = Some(alias.unwrap_or_else(|| name.clone()));
            node.cte_name = Some(name);
        }
        Target::Function => {
            node.alias = Some(alias.unwrap_or_else(|| name.clone()));
            node.schema = schema;
            node.function_name = Some(name);
        }
        Target::TableFunction => {
            node.alias = Some(alias.unwrap_or_else(|| name.clone()));
            node.table_function_name = Some(name);
        }
        Target::Tuplestore => {
            node.alias = Some(alias.unwrap_or_else(|| name.clone()));
            node.tuplestore_name = Some(name);
        }
        _ => {
            node.alias = Some(alias.unwrap_or_else(|| name.clone()));
            node.schema = schema;
            node.relation_name = Some(name);
        }
    }
    Ok(())
}

/// A ModifyTable target line (`Update on t1 a`, `Foreign Insert on ft`):
/// the JSON `"Target Tables"` entry it stands for.
pub(super) fn parse_target_table(s: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let rest = s.strip_prefix("Foreign ").unwrap_or(s);
    let operation = MODIFY.iter().find(|op| rest.starts_with(*op))?;
    let on = rest[operation.len()..].strip_prefix(" on ")?;
    let (schema, name, alias) = qualified(on.trim_ascii_end(), 0).ok()?;
    let mut map = serde_json::Map::new();
    map.insert("Relation Name".into(), name.clone().into());
    if let Some(schema) = schema {
        map.insert("Schema".into(), schema.into());
    }
    map.insert("Alias".into(), alias.unwrap_or(name).into());
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> Node {
        match parse_header(s, true) {
            Ok(node) => node,
            Err(e) => panic!("{s}: {} at {}", e.message, e.at),
        }
    }

    #[test]
    fn first_words_are_sorted() {
        assert!(FIRST_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn scans() {
        let n = header("Seq Scan on public.orders o  (cost=0.00..1.23 rows=10 width=4)");
        assert_eq!(n.node_type, NodeType::SeqScan);
        assert_eq!(n.schema.as_deref(), Some("public"));
        assert_eq!(n.relation_name.as_deref(), Some("orders"));
        assert_eq!(n.alias.as_deref(), Some("o"));
        assert_eq!(n.total_cost, Some(1.23));
        assert_eq!(n.plan_width, Some(4));

        let n = header("Index Only Scan Backward using \"my idx\" on \"T\"");
        assert_eq!(n.node_type, NodeType::IndexOnlyScan);
        assert_eq!(n.scan_direction.as_deref(), Some("Backward"));
        assert_eq!(n.index_name.as_deref(), Some("my idx"));
        assert_eq!(n.relation_name.as_deref(), Some("T"));
        assert_eq!(n.alias.as_deref(), Some("T"));

        let n = header("Values Scan on \"*VALUES*\"");
        assert_eq!(n.alias.as_deref(), Some("*VALUES*"));
        assert_eq!(n.relation_name, None);

        let n = header("Parallel Bitmap Heap Scan on t (actual rows=10.50 loops=3)");
        assert_eq!(n.parallel_aware, Some(true));
        assert_eq!(n.actual_rows, Some(10.5));
        assert_eq!(n.actual_startup_time, None);
    }

    #[test]
    fn joins_aggregates_setops_and_modify() {
        let n = header("Hash Right Anti Join  (cost=1.00..2.00 rows=1 width=4)");
        assert_eq!(
            (n.node_type, n.join_type.as_deref()),
            (NodeType::HashJoin, Some("Right Anti"))
        );
        let n = header("Nested Loop");
        assert_eq!(n.join_type.as_deref(), Some("Inner"));
        let n = header("Merge Join");
        assert_eq!(n.node_type, NodeType::MergeJoin);
        let n = header("Finalize HashAggregate");
        assert_eq!(n.strategy.as_deref(), Some("Hashed"));
        assert_eq!(n.partial_mode.as_deref(), Some("Finalize"));
        let n = header("HashSetOp Except All");
        assert_eq!(n.command.as_deref(), Some("Except All"));
        let n = header("Merge on public.tb  (cost=1.00..1.05 rows=0 width=0)");
        assert_eq!(n.node_type, NodeType::ModifyTable);
        assert_eq!(n.operation.as_deref(), Some("Merge"));
        let n = header("Custom Scan (Citus Adaptive)  (cost=0.00..0.00 rows=0 width=0)");
        assert_eq!(n.custom_plan_provider.as_deref(), Some("Citus Adaptive"));
        let n = header("Async Foreign Scan on f1 (never executed)");
        assert_eq!(n.async_capable, Some(true));
        assert!(n.never_executed);
    }

    #[test]
    fn errors() {
        assert!(parse_header("(cost=0.00..1.00 rows=1 width=1)", true).is_err());
        let e = parse_header("Seq Scan on t  (cost=0.00..1.00 rows=1", true).err();
        assert_eq!(e.map(|e| e.at), Some(15));
        let e = parse_header("Seq Scan on t  (cost=N.N..N.N rows=N width=N)", true).err();
        assert!(e.is_some_and(|e| e.message.contains("`N.N`")));
        assert!(parse_header("Sort by name", true).is_err());
    }
}
