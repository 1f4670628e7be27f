//! Which scans of a plan an index could serve, and with which predicates
//! (pure).
//!
//! A scan is a target when it reads a relation and
//!
//! - it is a Seq Scan over at least `min_rows` rows with something an index
//!   could use (a filter, the join key of the inner side of a join, or the
//!   order a Limit wants);
//! - it is an index or bitmap scan whose filter throws most of the rows it
//!   reads away, at least 100 (an index on more columns would not read
//!   them);
//! - it feeds a Sort under a Limit (an index in that order removes the sort
//!   and stops after the first rows).
//!
//! Predicates come from the scan's own conditions (`Filter`, `Index Cond`,
//! `Recheck Cond`, a bitmap's `Index Cond`), the join condition above it
//! (`Hash Cond`, `Merge Cond`, `Join Filter`) when the other side of the
//! join brings at most a tenth as many rows (an index on this side's join
//! key then serves a Nested Loop with this relation on the inner side), and
//! the sort keys of a Sort under a Limit.

use sqlparser::ast::Expr;

use super::predicates::{ColumnUse, UseKind, equality_literals, parse_condition};
use crate::plan::{Node, NodeType, Plan, node_path};

/// Why a scan is a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// A sequential scan of a large relation.
    SeqScan,
    /// An index or bitmap scan that throws most rows away in its filter.
    DiscardingFilter,
    /// The scan feeds a Sort under a Limit.
    SortUnderLimit,
}

impl Why {
    /// Short code for the evidence.
    pub fn code(self) -> &'static str {
        match self {
            Why::SeqScan => "seq_scan",
            Why::DiscardingFilter => "discarding_filter",
            Why::SortUnderLimit => "sort_under_limit",
        }
    }
}

/// One scan an index could serve.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The scan's node path (`0.1.0`).
    pub path: String,
    /// The scan's node type, as PostgreSQL names it.
    pub node_type: String,
    /// The relation as the plan names it.
    pub relation: String,
    /// Its schema, when the plan shows it (VERBOSE).
    pub schema: Option<String>,
    /// Why it is a target.
    pub why: Why,
    /// The column uses of this relation (qualifiers resolved away).
    pub uses: Vec<ColumnUse>,
    /// The condition strings the uses came from, labelled
    /// (`Filter: (customer_id = 42)`).
    pub conditions: Vec<String>,
    /// Sort keys a Limit above wants, `(column, descending)`.
    pub order_by: Vec<(String, bool)>,
    /// Rows the scan reads (actual when known, else estimated), all loops.
    pub rows_read: f64,
    /// The planner's estimate of the rows the scan returns per loop: what
    /// its conditions keep (a Limit above does not lower it).
    pub plan_rows: Option<f64>,
    /// How many times the scan runs: the plan's count when executed, else
    /// the planner's expectation (the inner side of a Nested Loop once per
    /// outer row, a SubPlan once per row it is evaluated for).
    pub loops: f64,
    /// `column = literal` conditions of the scan itself: the column, the
    /// literal as SQL and its value as `pg_stats` shows it.
    pub literals: Vec<(String, String, String)>,
}

/// The targets of a plan, in EXPLAIN order. `min_rows`: a Seq Scan reading
/// fewer rows is left alone (PostgreSQL is right to scan a small table).
pub fn targets(plan: &Plan, min_rows: f64) -> Vec<Target> {
    targets_sized(plan, min_rows, &std::collections::BTreeMap::new())
}

/// [`targets`], with the row counts (`pg_class.reltuples`) of the
/// relations the plan reads by name: a plain EXPLAIN (`--no-analyze`, a
/// query that timed out) says what a Seq Scan returns, not what it reads,
/// which is the whole table.
pub fn targets_sized(
    plan: &Plan,
    min_rows: f64,
    sizes: &std::collections::BTreeMap<String, f64>,
) -> Vec<Target> {
    let mut out = Vec::new();
    let mut ancestors = Vec::new();
    let mut walker = Walker {
        min_rows,
        sizes,
        out: &mut out,
    };
    walker.walk(&plan.root, &mut Vec::new(), &mut ancestors, 1.0);
    out
}

struct Walker<'s> {
    min_rows: f64,
    sizes: &'s std::collections::BTreeMap<String, f64>,
    out: &'s mut Vec<Target>,
}

impl Walker<'_> {
    /// `loops`: how many times the planner expects `node` to run (the
    /// inner side of a Nested Loop once per outer row, a SubPlan once per
    /// row of the node it filters), for a plan that was not executed.
    fn walk<'a>(
        &mut self,
        node: &'a Node,
        index: &mut Vec<usize>,
        ancestors: &mut Vec<(&'a Node, usize)>,
        loops: f64,
    ) {
        if let Some(target) = target(node, index, ancestors, self.min_rows, self.sizes, loops) {
            self.out.push(target);
        }
        for (i, child) in node.plans.iter().enumerate() {
            let per_row = node.plan_rows.unwrap_or(1.0).max(1.0);
            let child_loops = if child.parent_relationship.as_deref() == Some("SubPlan") {
                loops * per_row
            } else if node.node_type == NodeType::NestedLoop && i == 1 {
                loops * node.plans[0].plan_rows.unwrap_or(1.0).max(1.0)
            } else {
                loops
            };
            index.push(i);
            ancestors.push((node, i));
            self.walk(child, index, ancestors, child_loops);
            ancestors.pop();
            index.pop();
        }
    }
}

/// How many times a scan ran: the plan's count when it was executed, else
/// the planner's expectation (a node of an executed plan that never ran
/// counts once, for its estimate).
fn executed_loops(node: &Node, expected: f64) -> f64 {
    match node.actual_loops {
        Some(loops) => loops.max(1.0),
        None if node.actual_rows.is_some() => 1.0,
        None => expected,
    }
}

/// Rows a scan reads over all its loops: returned plus removed by the
/// filter when the plan was executed; else, for a Seq Scan, the whole
/// table (`sizes`, by relation name) when known, else the estimate, times
/// the loops the planner expects (`loops`).
fn rows_read(node: &Node, sizes: &std::collections::BTreeMap<String, f64>, loops: f64) -> f64 {
    match node.actual_rows {
        Some(rows) if !node.never_executed => {
            (rows + node.rows_removed_by_filter.unwrap_or(0.0)) * executed_loops(node, loops)
        }
        _ => {
            let estimate = node.plan_rows.unwrap_or(0.0);
            let table = node
                .relation_name
                .as_ref()
                .filter(|_| node.node_type == NodeType::SeqScan)
                .and_then(|r| sizes.get(r));
            table.map_or(estimate, |t| t.max(estimate)) * executed_loops(node, loops)
        }
    }
}

fn target(
    node: &Node,
    index: &[usize],
    ancestors: &[(&Node, usize)],
    min_rows: f64,
    sizes: &std::collections::BTreeMap<String, f64>,
    loops: f64,
) -> Option<Target> {
    let relation = node.relation_name.as_deref()?;
    let names: Vec<&str> = [Some(relation), node.alias.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let mut conditions = Vec::new();
    let mut uses = Vec::new();
    let mut add = |label: &str, text: &str, joins_only: bool| {
        let found: Vec<ColumnUse> = parse_condition(text)
            .into_iter()
            .filter(|u| u.qualifier.as_deref().is_none_or(|q| names.contains(&q)))
            .filter(|u| !joins_only || matches!(u.kind, UseKind::JoinKey(_)))
            .map(|u| ColumnUse {
                qualifier: None,
                ..u
            })
            .collect();
        if !found.is_empty() {
            conditions.push(format!("{label}: {text}"));
            for u in found {
                if !uses.contains(&u) {
                    uses.push(u);
                }
            }
        }
    };
    let c = &node.conditions;
    let literals: Vec<(String, String, String)> = [&c.index_cond, &c.recheck_cond, &c.filter]
        .into_iter()
        .flatten()
        .flat_map(|text| equality_literals(text))
        .filter(|(q, ..)| q.as_deref().is_none_or(|q| names.contains(&q)))
        .map(|(_, column, sql, value)| (column, sql, value))
        .collect();
    for (label, text) in [
        ("Index Cond", &c.index_cond),
        ("Recheck Cond", &c.recheck_cond),
        ("Filter", &c.filter),
    ] {
        if let Some(text) = text {
            add(label, text, false);
        }
    }
    for child in &node.plans {
        if child.node_type == NodeType::BitmapIndexScan
            && let Some(text) = &child.conditions.index_cond
        {
            add("Index Cond", text, false);
        }
    }
    let read = rows_read(node, sizes, loops);
    // An index on this side's join key lets a Nested Loop look the rows up
    // from the other side's few rows.
    if let Some((join, side)) = join_above(ancestors)
        && join
            .plans
            .get(1 - side)
            .and_then(|other| other.plan_rows)
            .is_some_and(|other| other * 10.0 <= read)
    {
        let j = &join.conditions;
        for (label, text) in [
            ("Hash Cond", &j.hash_cond),
            ("Merge Cond", &j.merge_cond),
            ("Join Filter", &j.join_filter),
        ] {
            if let Some(text) = text {
                add(label, text, true);
            }
        }
    }
    let order_by = limit_sort_keys(ancestors, &names);
    let why = match node.node_type {
        NodeType::SeqScan if read >= min_rows && (!uses.is_empty() || !order_by.is_empty()) => {
            Why::SeqScan
        }
        NodeType::IndexScan | NodeType::IndexOnlyScan | NodeType::BitmapHeapScan
            if discards_most(node) =>
        {
            Why::DiscardingFilter
        }
        NodeType::SeqScan
        | NodeType::IndexScan
        | NodeType::IndexOnlyScan
        | NodeType::BitmapHeapScan
            if !order_by.is_empty() && read >= min_rows =>
        {
            Why::SortUnderLimit
        }
        _ => return None,
    };
    Some(Target {
        path: node_path(index),
        node_type: node.node_type.name().to_owned(),
        relation: relation.to_owned(),
        schema: node.schema.clone(),
        why,
        uses,
        conditions,
        order_by,
        rows_read: read,
        plan_rows: node.plan_rows,
        loops: executed_loops(node, loops),
        literals,
    })
}

/// Rows an index scan's filter must throw away (all loops) before a wider
/// index is worth suggesting.
const MIN_DISCARDED: f64 = 100.0;

/// The filter removed more rows than the scan returned, and at least
/// [`MIN_DISCARDED`].
fn discards_most(node: &Node) -> bool {
    let loops = node.actual_loops.unwrap_or(1.0).max(1.0);
    match (node.rows_removed_by_filter, node.actual_rows) {
        (Some(removed), Some(kept)) => removed > kept && removed * loops >= MIN_DISCARDED,
        _ => false,
    }
}

/// The join this scan feeds and on which side (0 outer, 1 inner), looking
/// up through the nodes that only pass rows on (Hash, Materialize,
/// Memoize, Sort, Gather).
fn join_above<'a>(ancestors: &[(&'a Node, usize)]) -> Option<(&'a Node, usize)> {
    for (parent, child) in ancestors.iter().rev() {
        match parent.node_type {
            NodeType::Hash
            | NodeType::Materialize
            | NodeType::Memoize
            | NodeType::Sort
            | NodeType::Gather => {}
            NodeType::HashJoin | NodeType::NestedLoop | NodeType::MergeJoin => {
                return (*child <= 1).then_some((*parent, *child));
            }
            _ => return None,
        }
    }
    None
}

/// The keys of a Sort directly under a Limit (through a Gather Merge) that
/// this scan feeds, when they are all plain columns of the scanned relation.
fn limit_sort_keys(ancestors: &[(&Node, usize)], names: &[&str]) -> Vec<(String, bool)> {
    let mut chain = ancestors.iter().rev().map(|(n, _)| *n);
    let Some(sort) = chain.next() else {
        return Vec::new();
    };
    if !matches!(sort.node_type, NodeType::Sort | NodeType::IncrementalSort) {
        return Vec::new();
    }
    let mut above = chain.next();
    if above.is_some_and(|n| n.node_type == NodeType::GatherMerge) {
        above = chain.next();
    }
    if above.is_none_or(|n| n.node_type != NodeType::Limit) {
        return Vec::new();
    }
    let mut keys = Vec::new();
    for key in &sort.sort_key {
        match sort_key_column(key) {
            Some((qualifier, column, descending))
                if qualifier.as_deref().is_none_or(|q| names.contains(&q)) =>
            {
                keys.push((column, descending))
            }
            _ => return Vec::new(),
        }
    }
    keys
}

/// `o.created_at DESC` gives `(Some("o"), "created_at", true)`; a key that
/// is not a plain column gives None.
pub fn sort_key_column(key: &str) -> Option<(Option<String>, String, bool)> {
    let mut text = key.trim();
    for suffix in [" NULLS FIRST", " NULLS LAST"] {
        text = text.strip_suffix(suffix).unwrap_or(text);
    }
    let mut descending = false;
    if let Some(rest) = text.strip_suffix(" DESC") {
        text = rest;
        descending = true;
    } else if let Some(rest) = text.strip_suffix(" ASC") {
        text = rest;
    }
    let expr = match super::predicates::parse_expr(text)? {
        Expr::Nested(inner) => *inner,
        other => other,
    };
    match expr {
        Expr::Identifier(ident) => Some((None, ident.value, descending)),
        Expr::CompoundIdentifier(mut parts) if parts.len() >= 2 => {
            let column = parts.pop()?.value;
            let qualifier = parts.pop()?.value;
            Some((Some(qualifier), column, descending))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: &str) -> Plan {
        crate::plan::parse(json).unwrap()
    }

    #[test]
    fn sort_keys() {
        assert_eq!(
            sort_key_column("o.created_at DESC"),
            Some((Some("o".into()), "created_at".into(), true))
        );
        assert_eq!(
            sort_key_column("created_at"),
            Some((None, "created_at".into(), false))
        );
        assert_eq!(
            sort_key_column("\"Created\" DESC NULLS LAST"),
            Some((None, "Created".into(), true))
        );
        assert_eq!(sort_key_column("((created_at)::date)"), None);
        assert_eq!(sort_key_column("(a + b)"), None);
    }

    // Plans as PostgreSQL 15 prints them (trimmed to the keys read here).
    #[test]
    fn seq_scan_with_a_filter_is_a_target() {
        let p = plan(
            r#"[{"Plan": {"Node Type": "Seq Scan", "Relation Name": "orders", "Alias": "orders",
                "Total Cost": 478.0, "Plan Rows": 4, "Actual Rows": 4, "Actual Loops": 1,
                "Filter": "(customer_id = 42)", "Rows Removed by Filter": 19996}}]"#,
        );
        let t = targets(&p, 1000.0);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].why, Why::SeqScan);
        assert_eq!(t[0].path, "0");
        assert_eq!(t[0].rows_read, 20000.0);
        assert_eq!(t[0].conditions, ["Filter: (customer_id = 42)"]);
        // A small table is left alone.
        assert!(targets(&p, 50_000.0).is_empty());
    }

    #[test]
    fn inner_side_join_key_and_limit_sort() {
        let p = plan(
            r#"[{"Plan": {"Node Type": "Limit", "Plans": [
                 {"Node Type": "Sort", "Sort Key": ["o.created_at DESC"], "Plans": [
                   {"Node Type": "Hash Join", "Hash Cond": "(o.customer_id = c.id)", "Plans": [
                     {"Node Type": "Seq Scan", "Relation Name": "customers", "Alias": "c",
                      "Plan Rows": 1, "Filter": "(email = 'a'::text)"},
                     {"Node Type": "Hash", "Plans": [
                       {"Node Type": "Seq Scan", "Relation Name": "orders", "Alias": "o",
                        "Plan Rows": 20000}]}]}]}]}}]"#,
        );
        let t = targets(&p, 1000.0);
        assert_eq!(t.len(), 1, "{t:?}");
        let o = &t[0];
        assert_eq!(o.relation, "orders");
        assert_eq!(o.path, "0.0.0.1.0");
        assert_eq!(
            o.uses,
            [ColumnUse {
                qualifier: None,
                column: "customer_id".into(),
                kind: UseKind::JoinKey("c.id".into())
            }]
        );
        // The sort is above the join, not directly over the scan.
        assert!(o.order_by.is_empty());

        let p = plan(
            r#"[{"Plan": {"Node Type": "Limit", "Plans": [
                 {"Node Type": "Sort", "Sort Key": ["created_at DESC"], "Plans": [
                   {"Node Type": "Seq Scan", "Relation Name": "orders", "Alias": "orders",
                    "Plan Rows": 20000, "Filter": "(status = 3)"}]}]}}]"#,
        );
        let t = targets(&p, 1000.0);
        assert_eq!(t[0].order_by, [("created_at".to_owned(), true)]);
    }

    #[test]
    fn index_scan_that_discards_most_rows() {
        let p = plan(
            r#"[{"Plan": {"Node Type": "Index Scan", "Relation Name": "orders", "Alias": "orders",
                "Index Name": "orders_customer_id_idx", "Index Cond": "(customer_id = 42)",
                "Filter": "(status = 3)", "Plan Rows": 1, "Actual Rows": 1, "Actual Loops": 1,
                "Rows Removed by Filter": 3999}}]"#,
        );
        let t = targets(&p, 1000.0);
        assert_eq!(t[0].why, Why::DiscardingFilter);
        assert_eq!(t[0].uses.len(), 2);
        // Without actual figures nothing says the filter discards rows.
        let p = plan(
            r#"[{"Plan": {"Node Type": "Index Scan", "Relation Name": "orders", "Alias": "orders",
                "Index Cond": "(customer_id = 42)", "Filter": "(status = 3)", "Plan Rows": 4000}}]"#,
        );
        assert!(targets(&p, 1000.0).is_empty());
    }
}
