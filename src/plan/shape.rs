//! The normalized plan shape (DESIGN.md, snapshot format) and its fingerprint.
//!
//! The shape is one line per node, in EXPLAIN's order, indented two spaces
//! per level:
//!
//! ```text
//! Hash Join (Inner) [Hash Cond: (o.customer_id = c.id)]
//!   Seq Scan on public.orders o [Filter: (status = 'pending'::text)]
//!   Hash
//!     Index Scan using customers_pkey on public.customers c [Index Cond: (id = 42)]
//! ```
//!
//! A line holds what the planner chose and nothing a run measures:
//!
//! - the name of an InitPlan, SubPlan or CTE (`InitPlan 1: `), stable for
//!   one server version (13 to 17 print `InitPlan 1 (returns $0)`, 18
//!   `InitPlan 1`);
//! - `Parallel ` and `Async ` as EXPLAIN prints them, the JSON node type, then
//!   in parentheses what defines the node further: strategy, partial mode
//!   (not `Simple`), command, operation, join type, backward scan direction,
//!   single copy, custom scan provider;
//! - `using` the index, `on` the relation (schema-qualified when EXPLAIN
//!   gave the schema, i.e. with VERBOSE), function, CTE or tuplestore, and the
//!   alias when it differs from that name;
//! - in brackets, with EXPLAIN's labels: sort, presorted, group and hash
//!   keys, the definitions some nodes carry (grouping sets, Memoize's cache
//!   key and mode, window, run condition, ON CONFLICT, sampling, function
//!   calls, remote SQL) and every condition, literals kept.
//!
//! Left out because they change between runs of the same plan or are not
//! the planner's choice: costs, rows, widths, times, loops, buffers, I/O,
//! WAL, memory, workers planned and launched, sort method and space, hash
//! buckets and batches, `Subplans Removed` (run-time pruning), `Disabled`,
//! `Output` and `Inner Unique` (VERBOSE only). The Outer, Inner, Member,
//! Subquery and Child relationships are left implicit: the order of the
//! children is kept, and text EXPLAIN does not print them, so text and JSON
//! captures of one plan give one shape.
//!
//! The fingerprint is the lowercase hex SHA-256 of exactly the shape text.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Node, Plan};

/// Keys kept in a node's `extra` that define the plan, in the order the
/// shape prints them.
const DEFINING_EXTRA: &[&str] = &[
    "Grouping Sets",
    "Cache Key",
    "Cache Mode",
    "Window",
    "Run Condition",
    "Conflict Resolution",
    "Conflict Arbiter Indexes",
    "Conflict Filter",
    "Target Tables",
    "Sampling Method",
    "Sampling Parameters",
    "Repeatable Seed",
    "Function Call",
    "Table Function Call",
    "Remote SQL",
];

/// The normalized plan shape: one node a line, ending with a newline.
pub fn shape(plan: &Plan) -> String {
    let mut out = String::new();
    plan.root.walk(&mut |index, node| {
        for _ in 0..index.len() {
            out.push_str("  ");
        }
        out.push_str(&line(node));
        out.push('\n');
    });
    out
}

/// Lowercase hex SHA-256 of [`shape`].
pub fn fingerprint(plan: &Plan) -> String {
    crate::hash::sha256_hex(shape(plan).as_bytes())
}

/// One node's shape line, without indentation.
fn line(node: &Node) -> String {
    let mut out = String::new();
    match (&node.subplan_name, node.parent_relationship.as_deref()) {
        (Some(name), _) => {
            out.push_str(&one_line(name));
            out.push_str(": ");
        }
        (None, Some(rel @ ("InitPlan" | "SubPlan"))) => {
            out.push_str(rel);
            out.push_str(": ");
        }
        _ => {}
    }
    out.push_str(&label(node));
    for (key, value) in details(node) {
        let _ = write!(out, " [{key}: {}]", one_line(&value));
    }
    out
}

/// What names a node in one line: `Parallel` or `Async`, the node type
/// with what defines it further in parentheses, the index and the relation
/// (or function, CTE, tuplestore) with its alias. Used by the shape and by
/// the reports' plan trees.
pub fn label(node: &Node) -> String {
    let mut out = String::new();
    if node.parallel_aware == Some(true) {
        out.push_str("Parallel ");
    }
    if node.async_capable == Some(true) {
        out.push_str("Async ");
    }
    out.push_str(node.node_type.name());

    let mut modifiers: Vec<&str> = Vec::new();
    modifiers.extend(node.custom_plan_provider.as_deref());
    modifiers.extend(node.strategy.as_deref());
    modifiers.extend(node.partial_mode.as_deref().filter(|m| *m != "Simple"));
    modifiers.extend(node.command.as_deref());
    modifiers.extend(node.operation.as_deref());
    modifiers.extend(node.join_type.as_deref());
    modifiers.extend(node.scan_direction.as_deref().filter(|d| *d == "Backward"));
    if node.single_copy == Some(true) {
        modifiers.push("Single Copy");
    }
    if !modifiers.is_empty() {
        let _ = write!(out, " ({})", modifiers.join(", "));
    }

    if let Some(index) = &node.index_name {
        let _ = write!(out, " using {index}");
    }
    let target = node
        .relation_name
        .as_deref()
        .or(node.function_name.as_deref())
        .or(node.cte_name.as_deref())
        .or(node.table_function_name.as_deref())
        .or(node.tuplestore_name.as_deref());
    match (target, node.alias.as_deref()) {
        (Some(target), alias) => {
            out.push_str(" on ");
            let qualified = node.relation_name.is_some() || node.function_name.is_some();
            if let (Some(schema), true) = (&node.schema, qualified) {
                out.push_str(schema);
                out.push('.');
            }
            out.push_str(target);
            if let Some(alias) = alias.filter(|a| *a != target) {
                out.push(' ');
                out.push_str(alias);
            }
        }
        (None, Some(alias)) => {
            out.push_str(" on ");
            out.push_str(alias);
        }
        (None, None) => {}
    }
    one_line(&out).into_owned()
}

/// The bracketed parts of a node's shape line, with EXPLAIN's labels
/// (sort, group and hash keys, defining extras, conditions). Also shown by
/// the HTML report's plan trees.
pub fn details(node: &Node) -> Vec<(&'static str, String)> {
    let mut details = Vec::new();
    for (key, list) in [
        ("Sort Key", &node.sort_key),
        ("Presorted Key", &node.presorted_key),
        ("Group Key", &node.group_key),
        ("Hash Key", &node.hash_key),
    ] {
        if !list.is_empty() {
            details.push((key, list.join(", ")));
        }
    }
    for key in DEFINING_EXTRA {
        if let Some(value) = node.extra.get(*key) {
            details.push((*key, render(value)));
        }
    }
    for (key, value) in node.conditions.labelled() {
        details.push((key, value.to_owned()));
    }
    details
}

/// An `extra` value as one line: strings as they are, lists of strings
/// joined, anything else as compact JSON (object keys sorted).
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Keeps a value on its line: a condition may hold a string literal with a
/// line break.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        text.replace('\r', "\\r").replace('\n', "\\n").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::NodeType;

    fn scan(relation: &str, alias: &str) -> Node {
        Node {
            node_type: NodeType::SeqScan,
            relation_name: Some(relation.into()),
            alias: Some(alias.into()),
            parallel_aware: Some(false),
            ..Node::default()
        }
    }

    fn plan(root: Node) -> Plan {
        Plan {
            root,
            ..Plan::default()
        }
    }

    #[test]
    fn one_line_per_node_indented_by_depth() {
        let mut outer = scan("orders", "o");
        outer.schema = Some("public".into());
        outer.conditions.filter = Some("(status = 'pending'::text)".into());
        outer.parent_relationship = Some("Outer".into());
        let mut index = scan("customers", "customers");
        index.node_type = NodeType::IndexScan;
        index.index_name = Some("customers_pkey".into());
        index.scan_direction = Some("Backward".into());
        index.conditions.index_cond = Some("(id = 42)".into());
        let hash = Node {
            node_type: NodeType::Hash,
            parent_relationship: Some("Inner".into()),
            plans: vec![index],
            ..Node::default()
        };
        let join = Node {
            node_type: NodeType::HashJoin,
            join_type: Some("Inner".into()),
            conditions: crate::plan::Conditions {
                hash_cond: Some("(o.customer_id = c.id)".into()),
                ..Default::default()
            },
            plans: vec![outer, hash],
            ..Node::default()
        };
        assert_eq!(
            shape(&plan(join)),
            "Hash Join (Inner) [Hash Cond: (o.customer_id = c.id)]\n\
             \x20 Seq Scan on public.orders o [Filter: (status = 'pending'::text)]\n\
             \x20 Hash\n\
             \x20   Index Scan (Backward) using customers_pkey on customers \
             [Index Cond: (id = 42)]\n"
        );
    }

    #[test]
    fn subplans_keep_their_names_and_parallel_nodes_say_so() {
        let mut init = Node {
            node_type: NodeType::Aggregate,
            strategy: Some("Plain".into()),
            partial_mode: Some("Simple".into()),
            parent_relationship: Some("InitPlan".into()),
            subplan_name: Some("InitPlan 1 (returns $0)".into()),
            ..Node::default()
        };
        init.plans.push(scan("orders", "orders_1"));
        init.plans[0].parallel_aware = Some(true);
        let mut root = scan("orders", "orders");
        root.plans.push(init);
        assert_eq!(
            shape(&plan(root)),
            "Seq Scan on orders\n\
             \x20 InitPlan 1 (returns $0): Aggregate (Plain)\n\
             \x20   Parallel Seq Scan on orders orders_1\n"
        );
    }

    #[test]
    fn run_figures_do_not_change_the_fingerprint() {
        let mut a = scan("orders", "o");
        a.conditions.filter = Some("(amount > 10)".into());
        a.total_cost = Some(10.0);
        a.actual_total_time = Some(1.0);
        a.buffers.shared_hit = Some(5);
        a.extra.insert("Subplans Removed".into(), Value::from(2));
        let mut b = a.clone();
        b.total_cost = Some(11.0);
        b.actual_total_time = Some(2.0);
        b.buffers.shared_hit = Some(6);
        b.sort_method = Some("external merge".into());
        b.extra.insert("Subplans Removed".into(), Value::from(3));
        assert_eq!(fingerprint(&plan(a.clone())), fingerprint(&plan(b)));
        let mut c = a.clone();
        c.conditions.filter = Some("(amount > 11)".into());
        assert_ne!(fingerprint(&plan(a)), fingerprint(&plan(c)));
    }

    #[test]
    fn line_breaks_in_conditions_stay_on_the_line() {
        let mut a = scan("t", "t");
        a.conditions.filter = Some("(x = 'a\nb'::text)".into());
        assert_eq!(
            shape(&plan(a)),
            "Seq Scan on t [Filter: (x = 'a\\nb'::text)]\n"
        );
    }

    #[test]
    fn fingerprint_is_the_sha256_of_the_shape() {
        let p = plan(scan("t", "t"));
        assert_eq!(shape(&p), "Seq Scan on t\n");
        // printf 'Seq Scan on t\n' | sha256sum
        assert_eq!(
            fingerprint(&p),
            "16b636d1956f01156de1b8ab776f4ac537c48b30059f4fffd66974976b095eca"
        );
    }
}
