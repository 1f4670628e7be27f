//! What the advisor finds, as plain data: the suggestions, the scans that
//! got none and why, the redundant indexes. The rules read these types;
//! nothing here talks to a server.

use serde::{Deserialize, Serialize};

use crate::baseline::RunFigures;

/// What the advisor does about HypoPG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HypoPg {
    /// Verify with HypoPG when the extension is installed in the database.
    #[default]
    Auto,
    /// Run `CREATE EXTENSION IF NOT EXISTS hypopg` first (said on stderr).
    Create,
    /// Do not verify: every suggestion is unverified.
    Off,
}

impl HypoPg {
    /// Every mode, by the name `--hypopg` and `[advisor] hypopg` take.
    pub const NAMES: [&str; 3] = ["auto", "create", "off"];
}

/// A `--hypopg` or `[advisor] hypopg` value that is no mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{:?} is not one of {}", .0, HypoPg::NAMES.join(", "))]
pub struct UnknownHypoPg(pub String);

impl std::str::FromStr for HypoPg {
    type Err = UnknownHypoPg;

    fn from_str(name: &str) -> Result<HypoPg, UnknownHypoPg> {
        match name {
            "auto" => Ok(HypoPg::Auto),
            "create" => Ok(HypoPg::Create),
            "off" => Ok(HypoPg::Off),
            _ => Err(UnknownHypoPg(name.to_owned())),
        }
    }
}

/// What the advisor found for the whole query set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    /// Ranked suggestions, best first.
    pub suggestions: Vec<Suggestion>,
    /// Why the suggestions are not verified, when they are not.
    pub unverified_because: Option<String>,
    /// Things to tell the user once (on stderr): an extension created, a
    /// confirmation that failed.
    pub notes: Vec<String>,
    /// The scans an index could serve that got no suggestion, and why
    /// (`-v` prints them), by query and node path.
    pub unadvised: Vec<Unadvised>,
    /// Existing indexes the query set does not need (`redundant-index`).
    #[serde(default)]
    pub redundant: Vec<Redundant>,
    /// The estimated size of all suggested indexes together, in bytes,
    /// when verified.
    #[serde(default)]
    pub total_size_bytes: Option<u64>,
    /// What the advisor did, for `-v` (one line each): the selection's
    /// rounds, plans and cache hits.
    #[serde(default)]
    pub verbose: Vec<String>,
}

/// A scan an index could serve that got no suggestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unadvised {
    pub query_id: String,
    /// The scan's node path in the query's plan.
    pub path: String,
    pub node_type: String,
    /// The relation as the plan names it.
    pub relation: String,
    pub reason: NoIndex,
    /// The figures behind the reason, in words.
    pub detail: String,
}

/// Why a scan got no suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoIndex {
    /// The relation the plan names could not be found in the catalog.
    Unresolved,
    /// An existing index serves the scan already.
    Covered,
    /// Its conditions keep too many rows for an index to pay.
    LowSelectivity,
    /// No condition or order an index could use.
    NothingIndexable,
    /// With the hypothetical index the planner kept its plan.
    PlannerIgnored,
    /// The planner used it, but the cost fell by less than `min_cost_drop`.
    SmallCostDrop,
    /// The query could not be planned again.
    NotReplanned,
    /// Verified alone, but the workload's index set serves the query
    /// otherwise, or it saves too little beside the indexes chosen.
    NotSelected,
    /// Its key's values are too large for a btree index entry (a third of
    /// a page): `CREATE INDEX` would fail.
    TooWide,
}

impl NoIndex {
    /// In words, for `-v`.
    pub fn describe(self) -> &'static str {
        match self {
            NoIndex::Unresolved => "the relation could not be resolved",
            NoIndex::Covered => "covered by an existing index",
            NoIndex::LowSelectivity => "low selectivity",
            NoIndex::NothingIndexable => "nothing an index could use",
            NoIndex::PlannerIgnored => "the planner ignored the hypothetical index",
            NoIndex::SmallCostDrop => "the cost drop is below min_cost_drop",
            NoIndex::NotReplanned => "the query could not be planned again",
            NoIndex::NotSelected => "not chosen for the workload's index set",
            NoIndex::TooWide => "values too large for a btree index",
        }
    }
}

impl Advice {
    /// The suggestions that serve `query_id`, with the scan they serve.
    pub fn for_query<'s>(
        &'s self,
        query_id: &'s str,
    ) -> impl Iterator<Item = (&'s Suggestion, &'s Served)> + 's {
        self.suggestions.iter().flat_map(move |s| {
            s.served
                .iter()
                .filter(move |served| served.query_id == query_id)
                .map(move |served| (s, served))
        })
    }
}

/// One index to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// 1 for the best.
    pub rank: usize,
    /// `schema.table` (the partitioned table for a partition's scans).
    pub relation: String,
    /// Its columns as written in the DDL (`created_at DESC`).
    pub columns: Vec<String>,
    /// The WHERE clause of a partial index (`c_vip`, `state = 'failed'`).
    #[serde(default)]
    pub predicate: Option<String>,
    /// The statement(s) to run: `CREATE INDEX CONCURRENTLY ...`; for a
    /// partitioned table, the index on the parent, one per partition built
    /// concurrently, and the attachments.
    pub ddl: String,
    /// Verified by the planner with HypoPG.
    pub verified: bool,
    /// An existing index whose columns lead this one's: this one can
    /// replace it.
    pub widens: Option<WidenedIndex>,
    /// The scans it serves.
    pub served: Vec<Served>,
    /// Planner cost saved over the queries served, each weighted by its
    /// calls when a capture recorded them (None when unverified).
    pub saving: Option<f64>,
    /// The measured effect of a real build (`--confirm`).
    pub confirmed: Option<Confirmation>,
    /// A partial index that serves the same queries (their rare constant
    /// value in its WHERE clause): smaller and cheaper to keep up.
    pub alternative: Option<Alternative>,
    /// Its estimated size in bytes, when verified: a btree's size from the
    /// key columns' widths and distinct values, else HypoPG's
    /// `hypopg_relation_size`.
    #[serde(default)]
    pub size_bytes: Option<u64>,
}

fn one() -> f64 {
    1.0
}

/// A partial index instead of the suggestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub ddl: String,
    /// The highest planner cost of a served query with it (hypothetical);
    /// None when unverified.
    pub cost_after: Option<f64>,
}

/// An existing index a suggestion extends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WidenedIndex {
    pub name: String,
    pub definition: String,
    /// It enforces uniqueness, so it stays.
    pub unique: bool,
}

/// One scan of one query a suggestion serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Served {
    pub query_id: String,
    /// The scan's node path in the query's plan.
    pub path: String,
    pub node_type: String,
    /// The relation as the plan names it.
    pub relation: String,
    /// Why the scan is a target (`seq_scan`, `discarding_filter`,
    /// `sort_under_limit`).
    pub why: String,
    /// The plan conditions the columns came from.
    pub predicates: Vec<String>,
    /// The query's planner cost without and with the (hypothetical) index.
    pub cost_before: Option<f64>,
    pub cost_after: Option<f64>,
    /// Calls recorded by a capture.
    pub calls: Option<u64>,
    /// Rows the scan reads that its conditions throw away (all loops), from
    /// the plan: the benefit estimate that ranks unverified suggestions.
    #[serde(default)]
    pub rows_discarded: f64,
    /// How many times the scan runs (a SubPlan's or a Nested Loop's inner
    /// side once per outer row): from the plan when it was executed, else
    /// the planner's expectation.
    #[serde(default = "one")]
    pub loops: f64,
    /// The plan with the hypothetical index, one node a step from the root
    /// down the first children (`Limit -> Index Scan using ... on t`).
    pub plan_after: Option<String>,
}

/// A real build in a rolled-back transaction, and one query measured with
/// EXPLAIN ANALYZE before and after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    pub query_id: String,
    pub build_ms: f64,
    pub before: RunFigures,
    pub after: RunFigures,
    /// The plan with the index used it.
    pub used: bool,
}

/// An existing index the query set does not need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Redundant {
    /// `schema.table`, quoted where needed.
    pub table: String,
    /// The redundant index, `schema.name`.
    pub index: String,
    pub definition: String,
    /// `left_prefix` or `unused`.
    #[serde(default = "left_prefix")]
    pub kind: String,
    /// The index whose leading key columns are this one's (a left prefix).
    pub covered_by: Option<String>,
    pub covered_definition: Option<String>,
    /// `DROP INDEX CONCURRENTLY IF EXISTS schema.name;` (without
    /// CONCURRENTLY for a partitioned index, which refuses it).
    pub ddl_drop: String,
    /// Planning every query that reads the table without the index
    /// (hidden by HypoPG 1.4+, or dropped in a rolled-back transaction
    /// with `--confirm`) raised no plan's cost.
    pub verified: bool,
    /// How it was verified: `hypopg_hide_index` or `rolled_back_drop`.
    #[serde(default)]
    pub verified_by: Option<String>,
    /// Why it is not verified, when it is not.
    pub reason: Option<String>,
    /// The scans of the table, in query order: `(query id, node path)`.
    pub scans: Vec<(String, String)>,
}

fn left_prefix() -> String {
    "left_prefix".to_owned()
}
