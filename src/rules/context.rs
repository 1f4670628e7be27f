//! What rules read: one query's outcome, its plan, its baseline and the
//! environment observed now.

use std::collections::BTreeMap;

use crate::baseline::{Baseline, Environment, RelationInfo, RunFigures};
use crate::plan::{Node, Plan};
use crate::queryset::ParamValues;

use super::Thresholds;

/// How a query's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryStatus {
    /// It ran (or was planned) and gave a plan.
    Ok,
    /// The server refused or failed it.
    Error,
    /// It ran past the statement timeout.
    Timeout,
    /// It was not run (a `skip` directive, a parameterized query on an old
    /// server, ...). No rule runs on a skipped query.
    Skipped,
}

impl QueryStatus {
    /// The name used in reports: `ok`, `error`, `timeout`, `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryStatus::Ok => "ok",
            QueryStatus::Error => "error",
            QueryStatus::Timeout => "timeout",
            QueryStatus::Skipped => "skipped",
        }
    }
}

/// The server's word on a failed query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryError {
    /// The primary message, e.g. `relation "orders" does not exist`.
    pub message: String,
    /// The five-character SQLSTATE, e.g. `42P01`.
    pub sqlstate: Option<String>,
}

/// A query's baseline with its plan already parsed.
#[derive(Debug, Clone, Copy)]
pub struct BaselineCtx<'a> {
    /// The stored baseline (summary, runs, settings, environment).
    pub record: &'a Baseline,
    /// Its `plan`, parsed (with derived figures).
    pub plan: &'a Plan,
}

/// What was observed on the server now, for naming causes. Each part is
/// optional: offline commands know none of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed<'a> {
    /// Relations, statistics and indexes as they are now.
    pub environment: Option<&'a Environment>,
    /// Non-default planner settings now; when None, the current plan's
    /// `"Settings"` are used.
    pub settings: Option<&'a BTreeMap<String, String>>,
    /// `server_version` now, e.g. `15.18`.
    pub server_version: Option<&'a str>,
    /// The index advisor's suggestions for the query set (`check` against
    /// a database).
    pub advice: Option<&'a crate::advisor::model::Advice>,
    /// The generic plan of a parameterized query that ran with values
    /// (`check` against a database; `generic-plan` reads it).
    pub generic: Option<GenericCtx<'a>>,
    /// For a query that timed out: its plain EXPLAIN plan, which the index
    /// advisor worked from (`missing-index` reads it).
    pub planned: Option<&'a Plan>,
    /// The query's recorded runs (`check` with a history; `time-drift` and
    /// `buffers-drift` read them).
    pub history: Option<HistoryCtx<'a>>,
}

/// A query's recorded runs, as plain data read from the history before
/// the rules run, and when the current run happened.
#[derive(Debug, Clone, Copy)]
pub struct HistoryCtx<'a> {
    /// When the current run started, in seconds since the Unix epoch.
    pub now: i64,
    /// The recorded runs of this query, oldest first (the current run is
    /// not among them).
    pub runs: &'a [HistoryPoint],
}

/// One recorded run of one query.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryPoint {
    /// The run's id in the history.
    pub run: i64,
    /// When the run started, in seconds since the Unix epoch.
    pub at: i64,
    /// `ok`, `error`, `timeout` or `skipped`.
    pub status: String,
    /// The plan-shape fingerprint (None when the query gave no plan).
    pub fingerprint: Option<String>,
    /// Median execution time in ms (None without ANALYZE).
    pub execution_ms: Option<f64>,
    /// Median shared blocks touched (None without BUFFERS).
    pub shared_blocks: Option<u64>,
}

/// The generic plan of a parameterized query, measured next to its custom
/// plan (the context's `plan`): the statement prepared by the server and
/// run under `plan_cache_mode = force_generic_plan` with the same values.
#[derive(Debug, Clone, Copy)]
pub struct GenericCtx<'a> {
    /// The generic plan (with actual figures when the run analyzed).
    pub plan: &'a Plan,
    /// The values both plans ran with.
    pub values: Option<&'a ParamValues>,
    /// The custom plan (costs only) at the representative values, when the
    /// run bound others: what most executions are assumed to bind.
    pub common: Option<(&'a Plan, &'a ParamValues)>,
}

/// Everything a rule may read about one query. Rules never do I/O: the
/// runner (or an offline command) fills this in.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The query id.
    pub query_id: &'a str,
    /// How the run ended.
    pub status: QueryStatus,
    /// The error, for `error` and `timeout`.
    pub error: Option<&'a QueryError>,
    /// The plan of the median counted run (None when the query failed).
    pub plan: Option<&'a Plan>,
    /// The counted runs' figures; empty when only `plan` is known (an
    /// offline plan file counts as one run).
    pub runs: &'a [RunFigures],
    /// The baseline, when the query has one.
    pub baseline: Option<BaselineCtx<'a>>,
    /// The environment observed now.
    pub now: Observed<'a>,
    /// The effective thresholds for this query.
    pub thresholds: &'a Thresholds,
}

impl<'a> Context<'a> {
    /// A context for a query that ran and gave `plan`, with no runs,
    /// baseline or observations (add them with the fields).
    pub fn for_plan(query_id: &'a str, plan: &'a Plan, thresholds: &'a Thresholds) -> Context<'a> {
        Context {
            query_id,
            status: QueryStatus::Ok,
            error: None,
            plan: Some(plan),
            runs: &[],
            baseline: None,
            now: Observed::default(),
            thresholds,
        }
    }

    /// Whether the current plan has actual figures (EXPLAIN ANALYZE).
    pub fn analyzed(&self) -> bool {
        self.plan.is_some_and(plan_analyzed)
    }

    /// The current figures (medians over the runs, else the plan's own).
    pub fn figures(&self) -> Option<RunSummary> {
        self.plan.map(|plan| RunSummary::of(plan, self.runs))
    }

    /// Non-default settings now: observed ones, else the plan's.
    pub fn settings_now(&self) -> Option<&'a BTreeMap<String, String>> {
        self.now
            .settings
            .or_else(|| self.plan.map(|p| &p.settings).filter(|s| !s.is_empty()))
    }
}

/// Whether a plan carries actual figures (it came from EXPLAIN ANALYZE).
pub fn plan_analyzed(plan: &Plan) -> bool {
    plan.analyzed()
}

/// The figures of one query's counted runs: medians when there are runs,
/// else the plan's own figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunSummary {
    /// The root node's total cost.
    pub total_cost: f64,
    /// Median execution time (ms), None without ANALYZE.
    pub execution_ms: Option<f64>,
    /// Slowest counted run (ms).
    pub execution_ms_max: Option<f64>,
    /// Median planning time (ms).
    pub planning_ms: Option<f64>,
    /// Median shared blocks touched (hit + read); None when the plan has no
    /// buffer figures.
    pub shared_blocks: Option<u64>,
    /// How many runs the figures come from (at least 1).
    pub runs: usize,
}

impl RunSummary {
    /// The figures of `plan` and the runs it is the median of.
    pub fn of(plan: &Plan, runs: &[RunFigures]) -> RunSummary {
        let from_runs = !runs.is_empty();
        let exec: Vec<f64> = runs.iter().filter_map(|r| r.execution_ms).collect();
        let planning: Vec<f64> = runs.iter().filter_map(|r| r.planning_ms).collect();
        let blocks: Vec<f64> = runs
            .iter()
            .map(|r| (r.shared_hit + r.shared_read) as f64)
            .collect();
        let root_blocks =
            (!plan.root.buffers.is_empty()).then(|| plan.root.buffers.shared_touched());
        RunSummary {
            total_cost: plan.root.total_cost.unwrap_or(0.0),
            execution_ms: median(&exec).or(plan.execution_time_ms),
            execution_ms_max: exec
                .iter()
                .copied()
                .reduce(f64::max)
                .or(plan.execution_time_ms),
            planning_ms: median(&planning).or(plan.planning_time_ms),
            shared_blocks: if from_runs && root_blocks.is_some() {
                median(&blocks).map(|b| b.round() as u64)
            } else {
                root_blocks
            },
            runs: runs.len().max(1),
        }
    }
}

/// The median: the lower middle value for an even count.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    // The lower middle for an even count: the run the runner keeps as the
    // median (runner::median_index), so that a baseline's summary and a
    // rule's evidence give the same figure.
    Some(sorted[(sorted.len() - 1) / 2])
}

/// The path of a node as findings print it: `0` for the root, then one
/// child index per level.
pub fn path_string(index: &[usize]) -> String {
    crate::plan::node_path(index)
}

/// Every node of the tree with its child-index path, depth first in
/// EXPLAIN's order.
pub fn nodes(root: &Node) -> Vec<(Vec<usize>, &Node)> {
    fn go<'a>(node: &'a Node, index: &mut Vec<usize>, out: &mut Vec<(Vec<usize>, &'a Node)>) {
        out.push((index.clone(), node));
        for (i, child) in node.plans.iter().enumerate() {
            index.push(i);
            go(child, index, out);
            index.pop();
        }
    }
    let mut out = Vec::new();
    go(root, &mut Vec::new(), &mut out);
    out
}

/// The reference a finding carries for a node at `index`.
pub fn node_ref(index: &[usize], node: &Node) -> super::NodeRef {
    super::NodeRef {
        path: path_string(index),
        node_type: node.node_type.name().to_owned(),
        relation: node.relation_name.clone(),
    }
}

/// A relation's environment entry, for a relation named as plans name it
/// (`orders`, or `public.orders` under VERBOSE) while environments key by
/// `schema.name`. The first match in key order when several schemas have it.
pub fn relation_info<'e>(env: &'e Environment, name: &str) -> Option<(&'e str, &'e RelationInfo)> {
    if let Some((key, info)) = env.relations.get_key_value(name) {
        return Some((key.as_str(), info));
    }
    let suffix = format!(".{name}");
    env.relations
        .iter()
        .find(|(key, _)| key.ends_with(&suffix))
        .map(|(key, info)| (key.as_str(), info))
}

/// A plan one node a line, indented by depth, at most `max` lines: the
/// plan's spine as evidence shows it.
pub fn spine(plan: &Plan, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    plan.root.walk(&mut |index, node| {
        if out.len() < max {
            out.push(format!("{}{}", "  ".repeat(index.len()), describe(node)));
        }
    });
    out
}

/// How messages name a node: the plan shape's label (`Seq Scan on orders`,
/// `Aggregate (Hashed)`, `Index Scan using orders_pkey on orders o`).
pub fn describe(node: &Node) -> String {
    crate::plan::shape::label(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        // Regression test: the baseline's summary took the lower middle and
        // the rules the mean of the middle pair, so they disagreed.
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.0));
    }

    #[test]
    fn paths_walk_in_explain_order() {
        let leaf = Node::default();
        let mid = Node {
            plans: vec![leaf.clone(), leaf.clone()],
            ..Node::default()
        };
        let root = Node {
            plans: vec![leaf, mid],
            ..Node::default()
        };
        let paths: Vec<_> = nodes(&root).iter().map(|(i, _)| path_string(i)).collect();
        assert_eq!(paths, ["0", "0.0", "0.1", "0.1.0", "0.1.1"]);
    }
}
