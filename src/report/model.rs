//! The versioned report every output format renders (DESIGN.md, JSON
//! report). Built from query results; its serde form *is* the JSON report,
//! so no internal type is ever serialized by accident.
//!
//! The JSON, `schema_version` 1 (docs/report.schema.json):
//!
//! - `schema_version`: 1. `tool`: `{name, version}`. `server`: `{version,
//!   version_num}`, or null for offline reports.
//! - `summary`: `queries` (count), `ok`, `failed` (error or timeout),
//!   `skipped`, `regressions` (queries with at least one regression
//!   finding), `findings` (`{error, warning, info}` counts).
//! - `queries`, sorted by id: `id`, `status` (`ok`, `error`, `timeout`,
//!   `skipped`), `error` (the server's message, or why the query was
//!   skipped; null when ok), `sqlstate`, `current` and `baseline` (figures,
//!   or null), `findings` (sorted by severity, node path, rule).
//! - figures: `total_cost`, `execution_ms`, `planning_ms`, `shared_blocks`
//!   (null without ANALYZE or BUFFERS), `nodes`, `fingerprint`, and `plan`
//!   with `--include-plans` (on `current`, the tree written back with
//!   PostgreSQL's key names; on `baseline`, the plan as the baseline stored
//!   it).
//! - finding: `rule`, `severity`, `regression`, `message`, `node` (`{path,
//!   node_type, relation}` or null), `evidence` (object, keys sorted),
//!   `suggestion` (or null).
//!
//! Floats are rounded to 3 decimals; maps are sorted; nothing depends on the
//! clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::baseline::{Baseline, RunFigures};
use crate::plan::{Plan, shape, to_json};
use crate::rules::{Finding, NodeRef, QueryError, QueryStatus, RunSummary, Severity, round3};

/// The report format version. Bump it on any change that is not an
/// addition.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole report: one run of `check` (or `explain`, `diff`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// Always [`SCHEMA_VERSION`] when written by this version.
    pub schema_version: u32,
    pub tool: Tool,
    /// The server the queries ran on; None for offline commands.
    pub server: Option<Server>,
    pub summary: Summary,
    /// Every recorded change since the baselines, sorted by id.
    #[serde(default)]
    pub changes: Vec<ChangeReport>,
    pub queries: Vec<QueryReport>,
}

/// The program that wrote the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Default for Tool {
    fn default() -> Tool {
        Tool {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// The server the queries ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Server {
    /// `server_version`, e.g. `15.18`.
    pub version: String,
    /// `server_version_num`, e.g. 150018.
    pub version_num: u32,
}

impl Server {
    /// The server of this version (`server_version`, `server_version_num`).
    pub fn new(version: String, version_num: u32) -> Server {
        Server {
            version,
            version_num,
        }
    }
}

/// Counts over the whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct Summary {
    /// Queries in the report.
    pub queries: usize,
    /// Queries that ran.
    pub ok: usize,
    /// Queries that failed or timed out.
    pub failed: usize,
    /// Queries that were not run.
    pub skipped: usize,
    /// Queries with at least one regression finding.
    pub regressions: usize,
    /// Findings by severity.
    pub findings: SeverityCounts,
}

/// Findings by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct SeverityCounts {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

impl SeverityCounts {
    /// Counts these findings.
    pub fn of(findings: &[FindingReport]) -> SeverityCounts {
        let mut counts = SeverityCounts::default();
        for f in findings {
            *counts.get_mut(f.severity) += 1;
        }
        counts
    }

    /// The count of one severity.
    pub fn get(&self, severity: Severity) -> usize {
        match severity {
            Severity::Error => self.error,
            Severity::Warning => self.warning,
            Severity::Info => self.info,
        }
    }

    fn get_mut(&mut self, severity: Severity) -> &mut usize {
        match severity {
            Severity::Error => &mut self.error,
            Severity::Warning => &mut self.warning,
            Severity::Info => &mut self.info,
        }
    }
}

/// How a query's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    Ok,
    Error,
    Timeout,
    Skipped,
}

impl From<QueryStatus> for Status {
    fn from(status: QueryStatus) -> Status {
        match status {
            QueryStatus::Ok => Status::Ok,
            QueryStatus::Error => Status::Error,
            QueryStatus::Timeout => Status::Timeout,
            QueryStatus::Skipped => Status::Skipped,
        }
    }
}

impl Status {
    /// `ok`, `error`, `timeout` or `skipped`.
    pub fn as_str(self) -> &'static str {
        QueryStatus::from(self).as_str()
    }
}

impl From<Status> for QueryStatus {
    fn from(status: Status) -> QueryStatus {
        match status {
            Status::Ok => QueryStatus::Ok,
            Status::Error => QueryStatus::Error,
            Status::Timeout => QueryStatus::Timeout,
            Status::Skipped => QueryStatus::Skipped,
        }
    }
}

/// One query of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QueryReport {
    /// The query id (path in the query set without `.sql`).
    pub id: String,
    pub status: Status,
    /// The server's message (error, timeout) or why it was skipped.
    pub error: Option<String>,
    /// The SQLSTATE of the error.
    pub sqlstate: Option<String>,
    /// The figures now (null when the query gave no plan).
    pub current: Option<Figures>,
    /// The baseline's figures (null without a baseline).
    pub baseline: Option<Figures>,
    /// The values bound to `$1..$n` and where each came from (absent for a
    /// statement without parameters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<crate::queryset::ParamValues>,
    pub findings: Vec<FindingReport>,
    /// The changes recorded for this query, moved into the report's
    /// `changes` by [`Report::new`].
    #[serde(skip)]
    pub changes: Vec<crate::rules::changes::Change>,
}

/// A plan's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Figures {
    /// The root node's total cost.
    pub total_cost: f64,
    /// Median execution time in ms (null without ANALYZE).
    pub execution_ms: Option<f64>,
    /// Median planning time in ms.
    pub planning_ms: Option<f64>,
    /// Median shared blocks touched, hit + read (null without BUFFERS).
    pub shared_blocks: Option<u64>,
    /// Number of plan nodes.
    pub nodes: usize,
    /// Plan-shape fingerprint.
    pub fingerprint: String,
    /// The plan with PostgreSQL's key names (with `--include-plans` only;
    /// the HTML and Markdown reports always have them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Value>,
}

impl Figures {
    /// The figures of a plan and the counted runs it is the median of.
    pub fn of_plan(plan: &Plan, runs: &[RunFigures], include_plan: bool) -> Figures {
        let summary = RunSummary::of(plan, runs);
        Figures {
            total_cost: round3(summary.total_cost),
            execution_ms: summary.execution_ms.map(round3),
            planning_ms: summary.planning_ms.map(round3),
            shared_blocks: summary.shared_blocks,
            nodes: crate::rules::nodes(&plan.root).len(),
            fingerprint: shape::fingerprint(plan),
            plan: include_plan.then(|| to_json(plan)),
        }
    }

    /// A baseline's recorded figures; `include_plan` adds its stored plan.
    pub fn of_baseline(baseline: &Baseline, include_plan: bool) -> Figures {
        let s = &baseline.summary;
        Figures {
            total_cost: round3(s.total_cost),
            execution_ms: s.execution_ms_median.map(round3),
            planning_ms: s.planning_ms_median.map(round3),
            shared_blocks: baseline.analyze.then_some(s.shared_blocks_median),
            nodes: s.nodes,
            fingerprint: s.fingerprint.clone(),
            plan: include_plan.then(|| baseline.plan.clone()),
        }
    }
}

/// One finding, as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FindingReport {
    pub rule: String,
    pub severity: Severity,
    pub regression: bool,
    pub message: String,
    pub node: Option<NodeReport>,
    pub evidence: BTreeMap<String, Value>,
    pub suggestion: Option<String>,
    /// Ids of the report's `changes` that explain it, most specific first.
    #[serde(default)]
    pub causes: Vec<String>,
}

/// A recorded change since the baselines, once for the whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangeReport {
    /// Stable across runs: `<kind>:<object>`.
    pub id: String,
    pub kind: String,
    /// Schema-qualified index or table, a setting name, or `server`.
    pub object: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// One phrase for people.
    pub detail: String,
    /// What would undo it, when that is clear.
    pub fix: Option<String>,
    /// The queries whose recorded environment it touches.
    pub queries: Vec<String>,
}

/// The node a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeReport {
    /// `0`, `0.1.0`: child indexes from the root.
    pub path: String,
    pub node_type: String,
    pub relation: Option<String>,
}

impl From<&NodeRef> for NodeReport {
    fn from(node: &NodeRef) -> NodeReport {
        NodeReport {
            path: node.path.clone(),
            node_type: node.node_type.clone(),
            relation: node.relation.clone(),
        }
    }
}

impl From<&Finding> for FindingReport {
    fn from(f: &Finding) -> FindingReport {
        FindingReport {
            rule: f.rule.clone(),
            severity: f.severity,
            regression: f.regression,
            message: f.message.clone(),
            node: f.node.as_ref().map(NodeReport::from),
            evidence: f.evidence.clone(),
            suggestion: f.suggestion.clone(),
            causes: f.causes.clone(),
        }
    }
}

/// What one query's run produced, as the runner (or an offline command)
/// has it.
#[derive(Debug, Clone, Copy)]
pub struct QueryResult<'a> {
    pub id: &'a str,
    pub status: QueryStatus,
    /// The error (error, timeout).
    pub error: Option<&'a QueryError>,
    /// Why the query was skipped (skipped).
    pub skip_reason: Option<&'a str>,
    /// The median run's plan.
    pub plan: Option<&'a Plan>,
    /// The counted runs.
    pub runs: &'a [RunFigures],
    pub baseline: Option<&'a Baseline>,
    /// The findings of `rules::analyze`.
    pub findings: &'a [Finding],
    /// The values the run bound to the parameters.
    pub params: Option<&'a crate::queryset::ParamValues>,
    /// The recorded changes since its baseline (`rules::changes::changes`).
    pub changes: &'a [crate::rules::changes::Change],
}

impl QueryReport {
    /// The report of one query; `include_plan` adds `current.plan` and
    /// `baseline.plan`.
    pub fn build(result: &QueryResult, include_plan: bool) -> QueryReport {
        let mut findings: Vec<Finding> = result.findings.to_vec();
        crate::rules::sort_findings(&mut findings);
        QueryReport {
            id: result.id.to_owned(),
            status: result.status.into(),
            error: result
                .error
                .map(|e| e.message.clone())
                .or_else(|| result.skip_reason.map(str::to_owned)),
            sqlstate: result.error.and_then(|e| e.sqlstate.clone()),
            current: result
                .plan
                .map(|p| Figures::of_plan(p, result.runs, include_plan)),
            baseline: result
                .baseline
                .map(|b| Figures::of_baseline(b, include_plan)),
            params: result.params.cloned(),
            findings: findings.iter().map(FindingReport::from).collect(),
            changes: result.changes.to_vec(),
        }
    }
}

impl Report {
    /// A report of these queries (sorted by id), with the summary counted.
    pub fn new(server: Option<Server>, mut queries: Vec<QueryReport>) -> Report {
        queries.sort_by(|a, b| a.id.cmp(&b.id));
        let mut summary = Summary {
            queries: queries.len(),
            ..Summary::default()
        };
        for q in &queries {
            match q.status {
                Status::Ok => summary.ok += 1,
                Status::Error | Status::Timeout => summary.failed += 1,
                Status::Skipped => summary.skipped += 1,
            }
            if q.findings.iter().any(|f| f.regression) {
                summary.regressions += 1;
            }
            let counts = SeverityCounts::of(&q.findings);
            summary.findings.error += counts.error;
            summary.findings.warning += counts.warning;
            summary.findings.info += counts.info;
        }
        let mut changes: BTreeMap<String, ChangeReport> = BTreeMap::new();
        for q in &mut queries {
            for c in std::mem::take(&mut q.changes) {
                changes
                    .entry(c.id.clone())
                    .or_insert_with(|| ChangeReport {
                        id: c.id.clone(),
                        kind: c.kind.clone(),
                        object: c.object.clone(),
                        before: c.before.clone(),
                        after: c.after.clone(),
                        detail: c.detail.clone(),
                        fix: c.fix.clone(),
                        queries: Vec::new(),
                    })
                    .queries
                    .push(q.id.clone());
            }
        }
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            server,
            summary,
            changes: changes.into_values().collect(),
            queries,
        }
    }

    /// The same report without the plans (`current.plan`, `baseline.plan`).
    pub fn without_plans(&self) -> Report {
        let mut report = self.clone();
        for q in &mut report.queries {
            for figures in [&mut q.current, &mut q.baseline].into_iter().flatten() {
                figures.plan = None;
            }
        }
        report
    }

    /// Whether any query carries a plan.
    pub fn has_plans(&self) -> bool {
        self.queries.iter().any(|q| {
            [&q.current, &q.baseline]
                .into_iter()
                .flatten()
                .any(|f| f.plan.is_some())
        })
    }

    /// The worst severity of any finding, for `--fail-on`.
    pub fn worst(&self) -> Option<Severity> {
        self.queries
            .iter()
            .flat_map(|q| &q.findings)
            .map(|f| f.severity)
            .max()
    }
}
