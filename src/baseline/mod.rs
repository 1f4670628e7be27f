//! Stage `baseline`: what a recorded run of one query looked like, stored as
//! `baselines/<query id>.json` (DESIGN.md, baseline format).
//!
//! Promises: keys are written in a stable order (struct order, `BTreeMap`s);
//! a file is written to a temporary file and renamed into place, so a crash
//! never leaves half a baseline; a file with broken JSON or an unknown
//! `format_version` is an error naming the file, never overwritten silently.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod store;

pub use store::{BaselineError, Store};

/// The baseline file format this version writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// One query's baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`FORMAT_VERSION`] when written by this version.
    pub format_version: u32,
    /// The query id (path in the query set without `.sql`).
    pub query_id: String,
    /// Lowercase hex SHA-256 of the statement text as run.
    pub sql_sha256: String,
    /// `server_version`, e.g. `15.18`.
    pub server_version: String,
    /// `server_version_num`, e.g. 150018.
    pub server_version_num: u32,
    /// When the baseline was recorded, RFC 3339 in UTC.
    pub recorded_at: String,
    /// Whether the runs executed the statement (EXPLAIN ANALYZE) or only
    /// planned it.
    pub analyze: bool,
    /// Non-default planner settings in effect (EXPLAIN's `"Settings"`).
    pub settings: BTreeMap<String, String>,
    /// Figures of each counted run, in order.
    pub runs: Vec<RunFigures>,
    /// Figures the comparison uses.
    pub summary: Summary,
    /// What the plan depended on, to name the cause of a later change.
    pub environment: Environment,
    /// The values bound to the parameters and where they came from;
    /// `check` binds the same ones again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<crate::queryset::ParamValues>,
    /// The generic plan of a parameterized query at the same values (the
    /// prepared statement under `plan_cache_mode = force_generic_plan`):
    /// its fingerprint and cost, so that `check` reports when its shape
    /// changes. Absent for other queries, and in baselines written before
    /// it existed (they still load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<GenericSummary>,
    /// Lowercase hex SHA-256 of the planner statistics file the run
    /// planned with (`--stats`); absent without one. `check` refuses to
    /// compare runs made with other statistics unless told to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_sha256: Option<String>,
    /// The median run's full EXPLAIN JSON output, as the server gave it.
    pub plan: serde_json::Value,
}

/// One counted run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RunFigures {
    /// `"Execution Time"` in ms (None without ANALYZE).
    pub execution_ms: Option<f64>,
    /// `"Planning Time"` in ms.
    pub planning_ms: Option<f64>,
    /// Shared blocks hit by the whole plan.
    pub shared_hit: u64,
    /// Shared blocks read by the whole plan.
    pub shared_read: u64,
}

/// The figures compared against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Summary {
    /// The root node's total cost.
    pub total_cost: f64,
    /// Median execution time over the counted runs.
    pub execution_ms_median: Option<f64>,
    /// The slowest counted run.
    pub execution_ms_max: Option<f64>,
    /// Median planning time.
    pub planning_ms_median: Option<f64>,
    /// Median shared blocks touched (hit + read).
    pub shared_blocks_median: u64,
    /// Number of plan nodes.
    pub nodes: usize,
    /// Plan-shape fingerprint (see `plan::shape`).
    pub fingerprint: String,
}

/// What a baseline keeps of the generic plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GenericSummary {
    /// Plan-shape fingerprint of the generic plan (see `plan::shape`).
    pub fingerprint: String,
    /// Its root node's total cost.
    pub total_cost: f64,
}

/// The state of the database the plan depended on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Environment {
    /// Every relation the plan reads, by `schema.name`.
    pub relations: BTreeMap<String, RelationInfo>,
}

/// Statistics and indexes of one relation when the baseline was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RelationInfo {
    /// `pg_class.reltuples` (-1 when never analyzed, 14+).
    pub reltuples: f64,
    /// `pg_class.relpages`: the size the statistics describe.
    pub relpages: i64,
    /// The relation's actual size in pages now (`pg_relation_size`); the
    /// planner scales its estimates to it, so it can differ from
    /// `relpages` after a bulk load without ANALYZE.
    #[serde(default)]
    pub pages: Option<i64>,
    /// `pg_stat_user_tables.last_analyze`, RFC 3339.
    pub last_analyze: Option<String>,
    /// `pg_stat_user_tables.last_autoanalyze`, RFC 3339.
    pub last_autoanalyze: Option<String>,
    /// Rows changed since the last analyze (`n_mod_since_analyze`).
    pub n_mod_since_analyze: Option<i64>,
    /// The relation's indexes, by name.
    pub indexes: BTreeMap<String, IndexInfo>,
}

/// One index of a relation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IndexInfo {
    /// `pg_get_indexdef`.
    pub definition: String,
    /// `pg_index.indisvalid`.
    pub valid: bool,
}
