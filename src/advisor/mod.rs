//! Index advisor stage: the evidence of the `missing-index` rule.
//!
//! Rules are pure, and the advisor needs the database (the catalog,
//! `pg_stats`, HypoPG), so it runs as its own stage of `check`, between the
//! runs and the rules. For every plan it
//!
//! 1. finds the scans an index could serve ([`targets`]) and their
//!    predicates ([`predicates`]);
//! 2. builds a candidate index per scan ([`candidate`]) from the catalog
//!    ([`catalog`]): equality columns most selective first, one range, the
//!    ORDER BY keys; no candidate when an existing index already starts with
//!    its columns;
//! 3. verifies each candidate with HypoPG when the extension is installed
//!    ([`hypo`]): a hypothetical index in the planning session, a plain
//!    EXPLAIN again, kept only when the planner uses it and the cost drops
//!    by at least `min_cost_drop`;
//! 4. merges candidates across the query set (one index whose leading
//!    columns serve another query's scan takes that query over, when the
//!    planner agrees), and ranks them by the cost they save (times the
//!    calls a capture recorded);
//! 5. with `--confirm`, builds the best one for real in a transaction,
//!    measures its queries with EXPLAIN ANALYZE before and after, and rolls
//!    back.
//!
//! Nothing real is created except the rolled-back build of `--confirm`
//! (and the extension itself with `--hypopg create`).

pub mod candidate;
pub mod catalog;
pub mod hypo;
pub mod predicates;
pub mod query_text;
pub mod redundant;
pub mod select;
pub mod targets;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

pub use candidate::IndexColumn;
use candidate::column_text;
pub use predicates::{ColumnUse, UseKind, parse_condition};
pub use targets::{Target, Why};

use crate::baseline::RunFigures;
use crate::plan::{Node, Plan};
use crate::runner::{Job, Runner};

/// What the advisor does about HypoPG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
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

/// How the advisor works.
#[derive(Debug, Clone)]
pub struct Options {
    /// A candidate must cut a query's planner cost by at least this
    /// fraction (0.5: to half or less).
    pub min_cost_drop: f64,
    /// A Seq Scan reading fewer rows is not a target.
    pub min_rows: f64,
    pub hypopg: HypoPg,
    /// Build the best candidate for real in a rolled-back transaction.
    pub confirm: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_cost_drop: 0.5,
            min_rows: 1000.0,
            hypopg: HypoPg::Auto,
            confirm: false,
        }
    }
}

/// One query the advisor looks at.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// How the query runs (its statement, values, read-only or not).
    pub job: &'a Job,
    /// Its plan from the run.
    pub plan: &'a Plan,
    /// Calls per period, from a capture (`-- captured: ..., calls = N`).
    pub calls: Option<u64>,
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
    pub redundant: Vec<redundant::Redundant>,
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
        }
    }
}

impl Unadvised {
    fn new(inputs: &[Input<'_>], i: usize, t: &Target, reason: NoIndex, detail: String) -> Self {
        Unadvised {
            query_id: inputs[i].job.id.clone(),
            path: t.path.clone(),
            node_type: t.node_type.clone(),
            relation: t.relation.clone(),
            reason,
            detail,
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
    /// Its estimated size in bytes (`hypopg_relation_size`), when verified.
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

/// A candidate before verification.
struct Candidate {
    /// The relation the DDL creates the index on.
    schema: String,
    table: String,
    columns: Vec<IndexColumn>,
    /// The scanned partitions, for a partitioned table.
    partitioned: bool,
    widens: Option<WidenedIndex>,
    /// A partial index that would serve as well: its columns and WHERE.
    partial: Option<(Vec<IndexColumn>, String)>,
    /// Per scan served: the input, the target, and the relation scanned
    /// (`schema.name`, where the hypothetical index goes).
    served: Vec<(usize, Target, String)>,
    /// Its id in the [`select::Planner`], when verifying.
    id: Option<usize>,
}

/// Runs the advisor over the query set. Errors are the database's (a lost
/// session); a query that cannot be planned again is left out.
pub async fn advise(
    runner: &Runner,
    inputs: &[Input<'_>],
    options: &Options,
) -> Result<Advice, String> {
    let mut advice = Advice::default();
    if inputs.is_empty() {
        return Ok(advice);
    }
    let client = runner.session().await.map_err(|e| e.to_string())?;
    let mut catalog = catalog::Cache::default();
    let sizes = table_sizes(&client, inputs, &mut catalog)
        .await
        .map_err(|e| crate::conn::describe_query_error(&e))?;
    let found: Vec<(usize, Target)> = inputs
        .iter()
        .enumerate()
        .flat_map(|(i, input)| {
            targets::targets_sized(input.plan, options.min_rows, &sizes)
                .into_iter()
                .map(move |t| (i, t))
        })
        .collect();
    let hypothetical = !found.is_empty();
    let mut result = if hypothetical {
        advise_on(
            runner,
            &client,
            inputs,
            options,
            found,
            &mut catalog,
            &mut advice,
        )
        .await
    } else {
        Ok(())
    };
    // An error there may leave an index hidden: that session is not reused.
    let mut hidden = false;
    if result.is_ok() {
        match redundant::find(runner, &client, inputs, options, &mut catalog).await {
            Ok(found) => {
                for r in &found {
                    let how = match (&r.reason, r.verified_by.as_deref()) {
                        (Some(why), _) => why.clone(),
                        (None, Some("rolled_back_drop")) => {
                            "verified: dropped in a rolled-back transaction, no query's cost rose"
                                .to_owned()
                        }
                        (None, _) => {
                            "verified: hidden with HypoPG, no query's cost rose".to_owned()
                        }
                    };
                    advice.verbose.push(format!(
                        "redundant index {} ({}, {} scans of {} in the set): {how}",
                        r.index,
                        r.kind.replace('_', " "),
                        r.scans.len(),
                        r.table
                    ));
                }
                advice.redundant = found
            }
            Err(e) => {
                hidden = true;
                result = Err(e);
            }
        }
    }
    // Hypothetical indexes live in the session: none may stay in a session
    // the runner reuses.
    let reset = if hidden {
        false
    } else if hypothetical && advice.unverified_because.is_none() {
        client.batch_execute("SELECT hypopg_reset()").await.is_ok()
    } else {
        true
    };
    if reset {
        runner.give_back(client).await;
    }
    result.map(|()| advice)
}

/// The row counts (`pg_class.reltuples`) of the tables the plans that were
/// not executed read by Seq Scan (`--no-analyze`, a query that timed out):
/// such a plan says what the scan returns, not that it reads them all.
async fn table_sizes(
    client: &Client,
    inputs: &[Input<'_>],
    catalog: &mut catalog::Cache,
) -> Result<BTreeMap<String, f64>, tokio_postgres::Error> {
    let mut wanted: BTreeSet<(Option<String>, String)> = BTreeSet::new();
    for input in inputs
        .iter()
        .filter(|i| !crate::rules::plan_analyzed(i.plan))
    {
        input.plan.root.walk(&mut |_, node: &Node| {
            if node.node_type == crate::plan::NodeType::SeqScan
                && let Some(name) = &node.relation_name
            {
                wanted.insert((node.schema.clone(), name.clone()));
            }
        });
    }
    let mut sizes = BTreeMap::new();
    for (schema, name) in wanted {
        if let Some(relation) = catalog.get(client, schema.as_deref(), &name).await? {
            sizes.insert(name, relation.reltuples);
        }
    }
    Ok(sizes)
}

async fn advise_on(
    runner: &Runner,
    client: &Client,
    inputs: &[Input<'_>],
    options: &Options,
    found: Vec<(usize, Target)>,
    catalog: &mut catalog::Cache,
    advice: &mut Advice,
) -> Result<(), String> {
    let db = |e: tokio_postgres::Error| crate::conn::describe_query_error(&e);
    advice.unverified_because = hypopg_ready(client, options.hypopg, &mut advice.notes).await?;
    let verify = advice.unverified_because.is_none();

    // The query texts' predicates, to add what the plans do not show.
    let texts: Vec<Option<query_text::QueryUses>> = inputs
        .iter()
        .map(|input| query_text::from_query(&input.job.sql))
        .collect();

    // The catalog entry of every scanned relation.
    let mut relations: BTreeMap<ScannedName, Option<catalog::Relation>> = BTreeMap::new();
    for (i, t) in &found {
        let name = scanned_name(t, texts[*i].as_ref());
        if let std::collections::btree_map::Entry::Vacant(entry) = relations.entry(name) {
            let (schema, table) = entry.key();
            let relation = catalog
                .get(client, schema.as_deref(), table)
                .await
                .map_err(db)?
                .cloned();
            entry.insert(relation);
        }
    }

    // One candidate per relation and column list.
    let mut candidates: BTreeMap<(String, String, String), Candidate> = BTreeMap::new();
    let mut unadvised = Vec::new();
    for (i, mut target) in found {
        let name = scanned_name(&target, texts[i].as_ref());
        let Some(Some(relation)) = relations.get(&name) else {
            let shown = match &name {
                (Some(schema), table) => {
                    format!("{}.{}", candidate::quote(schema), candidate::quote(table))
                }
                (None, table) => format!("{} (through the search_path)", candidate::quote(table)),
            };
            unadvised.push(Unadvised::new(
                inputs,
                i,
                &target,
                NoIndex::Unresolved,
                format!("no table {shown} in the catalog"),
            ));
            continue;
        };
        if let Some(text) = &texts[i] {
            add_text_uses(&mut target, text, relation);
        }
        if let Some(kept) = keeps_most_rows(&target, relation) {
            let detail = format!(
                "its conditions keep {:.0}% of the rows by the planner's estimate (more than {:.0}%)",
                kept * 100.0,
                candidate::LOW_SELECTIVITY * 100.0
            );
            unadvised.push(Unadvised::new(
                inputs,
                i,
                &target,
                NoIndex::LowSelectivity,
                detail,
            ));
            continue;
        }
        if let Some(index) = identified_by_unique(&target, &relation.indexes) {
            let detail = format!("the unique index {} finds the one row", index.name);
            unadvised.push(Unadvised::new(inputs, i, &target, NoIndex::Covered, detail));
            continue;
        }
        // The frequency of the very value when the plan shows a literal.
        let selectivity = |c: &str| {
            let stats = relation.column(c)?.stats.as_ref()?;
            match target.literals.iter().find(|(column, ..)| column == c) {
                Some((_, _, value)) => stats.equality_to(value),
                None => stats.equality(),
            }
        };
        let pattern_ops = |c: &str| {
            let column = relation.column(c)?;
            if column.c_collation {
                None
            } else {
                column.pattern_opclass
            }
        };
        let Some(columns) =
            candidate::columns(&target.uses, &target.order_by, selectivity, pattern_ops)
        else {
            let (reason, detail) = why_no_columns(&target, selectivity);
            unadvised.push(Unadvised::new(inputs, i, &target, reason, detail));
            continue;
        };
        let columns = extend_existing(columns, &target.uses, &relation.indexes);
        if let Some(index) = relation
            .indexes
            .iter()
            .find(|index| covers(index, &columns, &target.uses))
        {
            let detail = format!("{} ({})", index.name, index.definition);
            unadvised.push(Unadvised::new(inputs, i, &target, NoIndex::Covered, detail));
            continue;
        }
        let widens = relation
            .indexes
            .iter()
            .find(|index| extends(&columns, index))
            .map(|index| WidenedIndex {
                name: index.name.clone(),
                definition: index.definition.clone(),
                unique: index.unique,
            });
        let (schema, table, partitioned) = match &relation.partition_root {
            Some((schema, table)) => (schema.clone(), table.clone(), true),
            None => (relation.schema.clone(), relation.name.clone(), false),
        };
        let partial = (!partitioned)
            .then(|| rare_value(relation, &target, &columns))
            .flatten();
        let key = (schema.clone(), table.clone(), column_list(&columns));
        let scanned = relation.qualified();
        let entry = candidates.entry(key).or_insert_with(|| Candidate {
            schema,
            table,
            columns,
            partitioned,
            widens,
            partial: partial.clone(),
            served: Vec::new(),
            id: None,
        });
        // A partial index serves only the queries with that very value.
        if entry.partial != partial {
            entry.partial = None;
        }
        entry.served.push((i, target, scanned));
    }

    let mut suggestions = Vec::new();
    let mut planner = select::Planner::new(runner, client, inputs);
    let mut verified: Vec<(Candidate, Vec<Served>)> = Vec::new();
    // Why a scan got nothing from the candidate verified alone: kept unless
    // the chosen set serves it after all.
    let mut alone: Vec<Unadvised> = Vec::new();
    for (_, mut candidate) in candidates {
        let served = if verify {
            candidate.id = Some(register(&mut planner, client, catalog, &candidate).await?);
            let (served, rejected) =
                verify_candidate(&mut planner, inputs, options, &candidate).await?;
            for (i, reason, detail) in rejected {
                for (_, t, _) in candidate.served.iter().filter(|(j, ..)| *j == i) {
                    alone.push(Unadvised::new(inputs, i, t, reason, detail.clone()));
                }
            }
            served
        } else {
            candidate
                .served
                .iter()
                .map(|(i, t, _)| served_entry(inputs, *i, t, None, None))
                .collect()
        };
        // With the planner, an index that does too little alone may still
        // do enough beside the others the selection chooses.
        if verify || !served.is_empty() {
            verified.push((candidate, served));
        }
    }

    let kept = if verify {
        // A smaller index may save nearly as much per byte: a candidate's
        // leading equalities alone, or the range (or LIKE prefix) after
        // them alone (more selective than equalities that keep a fifth of
        // the rows); the selection weighs them all.
        let mut variants = Vec::new();
        let shapes: Vec<(usize, Vec<IndexColumn>)> = verified
            .iter()
            .enumerate()
            .flat_map(|(k, (c, _))| {
                let equalities = served_equalities(c);
                let mut out = Vec::new();
                if equalities > 0 && equalities < c.columns.len() {
                    out.push((k, c.columns[..equalities].to_vec()));
                    let next = &c.columns[equalities];
                    let range = c.served.iter().any(|(_, t, _)| {
                        t.uses.iter().any(|u| {
                            u.column == next.column
                                && matches!(u.kind, UseKind::Range | UseKind::LikePrefix(_))
                        })
                    });
                    if range {
                        out.push((k, vec![next.clone()]));
                    }
                }
                out
            })
            .collect();
        for (k, columns) in shapes {
            let c = &verified[k].0;
            let relation = catalog
                .get(client, Some(&c.schema), &c.table)
                .await
                .map_err(db)?;
            let widens = c.widens.clone().filter(|w| {
                relation.is_some_and(|r| {
                    r.indexes
                        .iter()
                        .any(|index| index.name == w.name && extends(&columns, index))
                })
            });
            let mut variant = Candidate {
                schema: c.schema.clone(),
                table: c.table.clone(),
                columns,
                partitioned: c.partitioned,
                widens,
                partial: None,
                served: c.served.clone(),
                id: None,
            };
            let id = register(&mut planner, client, catalog, &variant).await?;
            let known = verified.iter().any(|(c, _)| c.id == Some(id))
                || variants
                    .iter()
                    .any(|(c, _): &(Candidate, Vec<Served>)| c.id == Some(id));
            if !known {
                variant.id = Some(id);
                variants.push((variant, Vec::new()));
            }
        }
        verified.extend(variants);
        choose(
            &mut planner,
            inputs,
            options,
            verified,
            &mut unadvised,
            advice,
        )
        .await?
    } else {
        merge(verified)
    };
    planner.reset().await?;
    let served: BTreeSet<(&str, &str)> = kept
        .iter()
        .flat_map(|(_, served, _)| served)
        .map(|s| (s.query_id.as_str(), s.path.as_str()))
        .collect();
    unadvised.extend(
        alone
            .into_iter()
            .filter(|u| !served.contains(&(u.query_id.as_str(), u.path.as_str()))),
    );

    // Ranked first, so that the best index gets PostgreSQL's own name and a
    // later one on the same columns the numbered one.
    let mut ranked: Vec<(Suggestion, Candidate)> = Vec::new();
    for (candidate, served, chosen) in kept {
        // Once per query, however many of its scans (partitions) it serves.
        let saving = verify.then(|| {
            let per_query: BTreeMap<&str, f64> = served
                .iter()
                .map(|s| {
                    let drop = s.cost_before.unwrap_or(0.0) - s.cost_after.unwrap_or(0.0);
                    (
                        s.query_id.as_str(),
                        drop.max(0.0) * s.calls.unwrap_or(1) as f64,
                    )
                })
                .collect();
            per_query.values().sum::<f64>()
        });
        // In the chosen set: what the workload loses without it.
        let saving = chosen.map(|c| c.saving).or(saving);
        // Named below, once ranked.
        let unnamed = candidate::ddl(&candidate.schema, &candidate.table, &candidate.columns);
        let alternative = match &candidate.partial {
            None => None,
            Some((columns, where_)) => {
                let plain = format!(
                    "{} WHERE {where_}",
                    candidate::ddl(&candidate.schema, &candidate.table, columns)
                );
                let cost_after = if verify {
                    verify_partial(runner, client, inputs, options, &candidate, &served, &plain)
                        .await?
                        .map(Some)
                } else {
                    Some(None)
                };
                cost_after.map(|cost_after| Alternative {
                    ddl: plain,
                    cost_after,
                })
            }
        };
        let suggestion = Suggestion {
            rank: 0,
            relation: format!(
                "{}.{}",
                candidate::quote(&candidate.schema),
                candidate::quote(&candidate.table)
            ),
            columns: candidate.columns.iter().map(column_text).collect(),
            ddl: unnamed,
            verified: verify,
            widens: candidate.widens.clone(),
            served,
            saving,
            confirmed: None,
            alternative,
            size_bytes: chosen.map(|c| c.size),
        };
        ranked.push((suggestion, candidate));
    }
    // Verified: by the planner's saved cost. Unverified: by the work the
    // plans show an index would avoid (rows read and thrown away, all
    // loops, weighted by calls), never by name.
    let avoided = |s: &Suggestion| -> f64 {
        let per_query: BTreeMap<&str, f64> = s
            .served
            .iter()
            .map(|x| {
                (
                    x.query_id.as_str(),
                    x.rows_discarded * x.calls.unwrap_or(1) as f64,
                )
            })
            .collect();
        per_query.values().sum()
    };
    ranked.sort_by(|(a, _), (b, _)| {
        b.saving
            .unwrap_or(0.0)
            .total_cmp(&a.saving.unwrap_or(0.0))
            .then_with(|| avoided(b).total_cmp(&avoided(a)))
            .then_with(|| a.ddl.cmp(&b.ddl))
    });
    // Names already given in this script, per schema.
    let mut taken = BTreeSet::new();
    for (rank, (mut suggestion, candidate)) in ranked.into_iter().enumerate() {
        suggestion.rank = rank + 1;
        suggestion.ddl = if candidate.partitioned {
            partitioned_ddl(client, &candidate, &mut taken)
                .await
                .map_err(db)?
        } else {
            let name = index_name(
                client,
                &candidate.schema,
                &candidate.table,
                &candidate.columns,
                &mut taken,
            )
            .await
            .map_err(db)?;
            candidate::named_ddl(
                &name,
                &candidate.schema,
                &candidate.table,
                &candidate.columns,
            )
        };
        if let (Some(alternative), Some((columns, where_))) =
            (&mut suggestion.alternative, &candidate.partial)
        {
            let name = index_name(
                client,
                &candidate.schema,
                &candidate.table,
                columns,
                &mut taken,
            )
            .await
            .map_err(db)?;
            alternative.ddl = format!(
                "{} WHERE {where_}",
                candidate::named_ddl(&name, &candidate.schema, &candidate.table, columns)
            );
        }
        suggestions.push(suggestion);
    }

    if options.confirm
        && let Some(best) = suggestions.first_mut()
    {
        match confirm(runner, client, inputs, best).await {
            Ok(confirmation) => best.confirmed = confirmation,
            Err(e) => advice
                .notes
                .push(format!("--confirm: building {} failed: {e}", best.relation)),
        }
    }
    advice.suggestions = suggestions;
    unadvised.sort_by(|a, b| (&a.query_id, &a.path).cmp(&(&b.query_id, &b.path)));
    advice.unadvised = unadvised;
    Ok(())
}

/// Why [`candidate::columns`] found no column: nothing indexable, or
/// every condition keeps too many rows. (A column without statistics is
/// not a reason: it is taken as keeping 1%.)
fn why_no_columns(target: &Target, selectivity: impl Fn(&str) -> Option<f64>) -> (NoIndex, String) {
    let filters: Vec<&ColumnUse> = target
        .uses
        .iter()
        .filter(|u| !matches!(u.kind, UseKind::SortKey { .. } | UseKind::GroupKey))
        .collect();
    if filters.is_empty() {
        return (
            NoIndex::NothingIndexable,
            format!(
                "no condition an index could use in {}",
                target.conditions.join("; ")
            ),
        );
    }
    let kept: Vec<String> = filters
        .iter()
        .map(|u| match selectivity(&u.column) {
            Some(s) => format!(
                "{} ({}) keeps {:.0}%",
                u.column,
                u.kind.describe(),
                s * 100.0
            ),
            None => format!("{} ({})", u.column, u.kind.describe()),
        })
        .collect();
    (
        NoIndex::LowSelectivity,
        format!(
            "every condition keeps more than {:.0}% of the rows: {}",
            candidate::LOW_SELECTIVITY * 100.0,
            kept.join(", ")
        ),
    )
}

/// Whether HypoPG can verify, creating the extension when asked: None when
/// it can, else why not.
async fn hypopg_ready(
    client: &Client,
    mode: HypoPg,
    notes: &mut Vec<String>,
) -> Result<Option<String>, String> {
    let db = |e: tokio_postgres::Error| crate::conn::describe_query_error(&e);
    if mode == HypoPg::Off {
        return Ok(Some("verification is off (--hypopg off)".to_owned()));
    }
    if hypo::available(client).await.map_err(db)? {
        return Ok(None);
    }
    if mode == HypoPg::Create {
        return match client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS hypopg")
            .await
        {
            Ok(()) => {
                let database: String = client
                    .query_one("SELECT current_database()", &[])
                    .await
                    .map_err(db)?
                    .get(0);
                notes.push(format!(
                    "created the hypopg extension in database {database} (--hypopg create)"
                ));
                Ok(None)
            }
            Err(e) => Ok(Some(format!(
                "CREATE EXTENSION hypopg failed ({}): install the server package (Debian: postgresql-NN-hypopg) as an administrator",
                db(e)
            ))),
        };
    }
    Ok(Some(
        "the hypopg extension is not installed in this database: install its package (Debian: postgresql-NN-hypopg) and run CREATE EXTENSION hypopg, or pass --hypopg create, to have the planner verify suggestions"
            .to_owned(),
    ))
}

/// Adds to a target the filter uses the query text has for its table
/// (found by name, or by its partitioned table's name) on columns the
/// plan's conditions do not use: an unqualified column of a query over
/// several tables is this table's when the table has that column (a valid
/// query names no column two of its tables have without a qualifier).
fn add_text_uses(target: &mut Target, text: &query_text::QueryUses, relation: &catalog::Relation) {
    let mut names = vec![(relation.schema.as_str(), relation.name.as_str())];
    if let Some((schema, table)) = &relation.partition_root {
        names.push((schema.as_str(), table.as_str()));
    }
    // A table the query reads twice (a self-join) has the uses of both
    // readings under one entry: the text cannot tell which scan is which.
    let mut found: Vec<ColumnUse> = names
        .iter()
        .filter_map(|(schema, table)| text.of(Some(schema), table))
        .filter(|t| t.aliases.len() == 1)
        .flat_map(|t| t.uses.iter().cloned())
        .collect();
    found.extend(
        text.unresolved
            .iter()
            .filter(|u| relation.column(&u.column).is_some())
            .cloned(),
    );
    for u in found {
        let filter = matches!(
            u.kind,
            UseKind::Equality
                | UseKind::InList(_)
                | UseKind::Range
                | UseKind::IsNull
                | UseKind::LikePrefix(_)
        );
        if filter
            && relation.column(&u.column).is_some()
            && !target.uses.iter().any(|p| p.column == u.column)
        {
            target
                .conditions
                .push(format!("Query text: {} ({})", u.column, u.kind.describe()));
            target.uses.push(u);
        }
    }
}

/// A relation's schema (when known) and name, as the catalog spells them.
type ScannedName = (Option<String>, String);

/// The relation of a target as the catalog is asked for it. Without
/// VERBOSE the plan names no schema: the query text's, when it names the
/// table in one schema only (`"Bar"."Foo"`, which the search_path may
/// not reach), else the search_path's, as the planner resolved it.
fn scanned_name(t: &Target, text: Option<&query_text::QueryUses>) -> ScannedName {
    if let Some(schema) = &t.schema {
        return (Some(schema.clone()), t.relation.clone());
    }
    let schemas: BTreeSet<Option<&str>> = text
        .into_iter()
        .flat_map(|text| &text.tables)
        .filter(|table| table.table == t.relation)
        .map(|table| table.schema.as_deref())
        .collect();
    match schemas.into_iter().collect::<Vec<_>>()[..] {
        [Some(schema)] => (Some(schema.to_owned()), t.relation.clone()),
        _ => (None, t.relation.clone()),
    }
}

fn served_entry(
    inputs: &[Input<'_>],
    i: usize,
    t: &Target,
    cost_before: Option<f64>,
    cost_after: Option<f64>,
) -> Served {
    Served {
        query_id: inputs[i].job.id.clone(),
        path: t.path.clone(),
        node_type: t.node_type.clone(),
        relation: t.relation.clone(),
        why: t.why.code().to_owned(),
        predicates: t.conditions.clone(),
        cost_before,
        cost_after,
        calls: inputs[i].calls,
        rows_discarded: (t.rows_read - t.plan_rows.unwrap_or(0.0) * t.loops).max(0.0),
        loops: t.loops,
        plan_after: None,
    }
}

/// A query the hypothetical index did not serve, and why.
type Rejected = (usize, NoIndex, String);

/// Plans every query the candidate serves with the hypothetical index (on
/// each scanned partition for a partitioned table) and keeps the scans of
/// the queries where the planner uses it and the cost drops enough; the
/// other queries with the reason.
async fn verify_candidate(
    planner: &mut select::Planner<'_>,
    inputs: &[Input<'_>],
    options: &Options,
    candidate: &Candidate,
) -> Result<(Vec<Served>, Vec<Rejected>), String> {
    let id = candidate.id.expect("a verified candidate is registered");
    let queries: BTreeSet<usize> = candidate.served.iter().map(|(i, _, _)| *i).collect();
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    let index = format!(
        "{}.{} ({})",
        candidate::quote(&candidate.schema),
        candidate::quote(&candidate.table),
        column_list(&candidate.columns)
    );
    for i in queries {
        let Some(before) = planner.plan(i, &[]).await? else {
            rejected.push((
                i,
                NoIndex::NotReplanned,
                "planning it again failed".to_owned(),
            ));
            continue;
        };
        let Some(after) = planner.plan(i, &[id]).await? else {
            rejected.push((
                i,
                NoIndex::NotReplanned,
                format!("planning it again with {index} failed"),
            ));
            continue;
        };
        let (before, cost_after) = (before.cost, after.cost);
        if !after.uses.contains(&id) {
            rejected.push((
                i,
                NoIndex::PlannerIgnored,
                format!("with {index} the plan is {}", after.outline),
            ));
        } else if cost_after > before * (1.0 - options.min_cost_drop) {
            rejected.push((
                i,
                NoIndex::SmallCostDrop,
                format!(
                    "{index}: planner cost {before:.1} -> {cost_after:.1}, less than the {:.0}% drop min_cost_drop asks",
                    options.min_cost_drop * 100.0
                ),
            ));
        } else {
            for (_, t, _) in candidate.served.iter().filter(|(j, _, _)| *j == i) {
                let mut served = served_entry(inputs, i, t, Some(before), Some(cost_after));
                served.plan_after = Some(after.outline.clone());
                out.push(served);
            }
        }
    }
    Ok((out, rejected))
}

/// Registers a candidate with the planner: one hypothetical index per
/// relation its scans read, with what the selection weighs it by: the
/// rows per distinct key (btree deduplication stores a repeated key once)
/// and the planner's cost of reading the whole table.
async fn register(
    planner: &mut select::Planner<'_>,
    client: &Client,
    catalog: &mut catalog::Cache,
    candidate: &Candidate,
) -> Result<usize, String> {
    let db = |e: tokio_postgres::Error| crate::conn::describe_query_error(&e);
    let scanned: BTreeSet<&str> = candidate
        .served
        .iter()
        .map(|(_, _, scanned)| scanned.as_str())
        .collect();
    let creates = scanned
        .iter()
        .map(|relation| {
            format!(
                "CREATE INDEX ON {relation} ({})",
                column_list(&candidate.columns)
            )
        })
        .collect();
    let relations = candidate
        .served
        .iter()
        .map(|(_, t, _)| t.relation.clone())
        .collect();
    let table = format!(
        "{}.{}",
        candidate::quote(&candidate.schema),
        candidate::quote(&candidate.table)
    );
    let relation = catalog
        .get(client, Some(&candidate.schema), &candidate.table)
        .await
        .map_err(db)?;
    // Distinct keys: the product of the columns' distinct values, at most
    // one a row. A char(n) key column gets no deduplication: PostgreSQL 15
    // built such indexes with allequalimage false (bt_metap), full size.
    let rows = relation.map_or(0.0, |r| r.reltuples.max(0.0));
    let blank_padded = candidate.columns.iter().any(|c| {
        relation
            .and_then(|r| r.column(&c.column))
            .and_then(|c| c.stats.as_ref())
            .is_some_and(|s| s.blank_padded)
    });
    let keys = candidate
        .columns
        .iter()
        .map(|c| {
            relation
                .and_then(|r| r.column(&c.column))
                .and_then(|c| c.stats.as_ref())
                .map_or(rows, |s| s.n_distinct.max(1.0))
        })
        .product::<f64>()
        .min(rows)
        .max(1.0);
    let keys = if blank_padded { rows.max(1.0) } else { keys };
    let read_all = planner.read_all(&table).await?;
    Ok(planner.register(creates, relations, rows, rows / keys, read_all))
}

/// What the selection says of a chosen index.
#[derive(Debug, Clone, Copy)]
struct Chosen {
    /// Calls-weighted planner cost the workload loses without it.
    saving: f64,
    size: u64,
}

/// A candidate with the scans it serves, and what the selection said.
type Kept = (Candidate, Vec<Served>, Option<Chosen>);

/// Without the planner: a wider index on the same relation whose leading
/// columns are a narrower candidate's (or the same columns in another
/// order among the equalities both lead with) takes that candidate's
/// scans over.
fn merge(mut verified: Vec<(Candidate, Vec<Served>)>) -> Vec<Kept> {
    verified.sort_by_key(|(c, _)| std::cmp::Reverse(c.columns.len()));
    let mut kept: Vec<Kept> = Vec::new();
    'next: for (narrow, served) in verified {
        for (wide, wide_served, _) in kept.iter_mut() {
            let prefix = leads(&narrow.columns, &wide.columns) || reorders(&narrow, wide);
            if wide.schema == narrow.schema && wide.table == narrow.table && prefix {
                wide_served.extend(served);
                continue 'next;
            }
        }
        kept.push((narrow, served, None));
    }
    kept
}

/// With the planner: the whole workload's set ([`select::select`]). Each
/// chosen index serves the scans, on its table, of the queries whose plan
/// with the whole set uses it; a verified candidate's scans that no chosen
/// index serves say why.
async fn choose(
    planner: &mut select::Planner<'_>,
    inputs: &[Input<'_>],
    options: &Options,
    verified: Vec<(Candidate, Vec<Served>)>,
    unadvised: &mut Vec<Unadvised>,
    advice: &mut Advice,
) -> Result<Vec<Kept>, String> {
    let started = std::time::Instant::now();
    let pool: Vec<usize> = verified.iter().filter_map(|(c, _)| c.id).collect();
    let calls: Vec<f64> = inputs
        .iter()
        .map(|i| i.calls.unwrap_or(1).max(1) as f64)
        .collect();
    let selection = select::select(planner, &pool, &calls, options.min_cost_drop).await?;
    let set: Vec<usize> = selection.chosen.iter().map(|(id, _)| *id).collect();
    // Every target of every candidate, by query and scan.
    let mut targets: BTreeMap<(usize, String), (Target, String)> = BTreeMap::new();
    for (candidate, _) in &verified {
        for (i, t, scanned) in &candidate.served {
            targets
                .entry((*i, t.path.clone()))
                .or_insert_with(|| (t.clone(), scanned.clone()));
        }
    }
    // The scans some candidate was verified for on its own.
    let accepted: BTreeSet<(&str, &str)> = verified
        .iter()
        .flat_map(|(_, served)| served)
        .map(|s| (s.query_id.as_str(), s.path.as_str()))
        .collect();
    let accepted: BTreeSet<(usize, String)> = targets
        .keys()
        .filter(|(i, path)| accepted.contains(&(inputs[*i].job.id.as_str(), path.as_str())))
        .cloned()
        .collect();
    let mut served_paths: BTreeSet<(usize, String)> = BTreeSet::new();
    let mut by_id: BTreeMap<usize, Candidate> = verified
        .into_iter()
        .filter_map(|(c, _)| Some((c.id?, c)))
        .collect();
    let mut kept = Vec::new();
    for (id, saving) in &selection.chosen {
        let Some(candidate) = by_id.remove(id) else {
            continue;
        };
        let relations: BTreeSet<&str> = candidate
            .served
            .iter()
            .map(|(_, t, _)| t.relation.as_str())
            .collect();
        let mut served = Vec::new();
        for q in planner.readers(*id) {
            let (Some(before), Some(after)) =
                (planner.plan(q, &[]).await?, planner.plan(q, &set).await?)
            else {
                continue;
            };
            // Credited only where it cuts the cost as much as one index
            // alone must.
            if !after.uses.contains(id) || after.cost > before.cost * (1.0 - options.min_cost_drop)
            {
                continue;
            }
            for ((_, path), (t, _)) in targets.range((q, String::new())..(q + 1, String::new())) {
                if relations.contains(t.relation.as_str()) {
                    let mut s = served_entry(inputs, q, t, Some(before.cost), Some(after.cost));
                    s.plan_after = Some(after.outline.clone());
                    served.push(s);
                    served_paths.insert((q, path.clone()));
                }
            }
        }
        if served.is_empty() {
            continue;
        }
        let size = planner.size(*id).unwrap_or(0).max(0) as u64;
        kept.push((
            candidate,
            served,
            Some(Chosen {
                saving: *saving,
                size,
            }),
        ));
    }
    // Verified alone, but not in the set: the set serves the query
    // otherwise, or this index saved too little with the others in place.
    for ((i, path), (t, _)) in &targets {
        let key = (*i, path.clone());
        if served_paths.contains(&key) || !accepted.contains(&key) {
            continue;
        }
        let detail = match planner.plan(*i, &set).await? {
            Some(with_set) => format!(
                "not in the workload's index set: with the {} chosen, its plan is {} (cost {:.1}), and no other index cuts that by min_cost_drop",
                set.len(),
                with_set.outline,
                with_set.cost
            ),
            None => "not in the workload's index set".to_owned(),
        };
        unadvised.push(Unadvised::new(inputs, *i, t, NoIndex::NotSelected, detail));
    }
    let total: u64 = kept.iter().filter_map(|(_, _, c)| c.map(|c| c.size)).sum();
    advice.total_size_bytes = Some(total);
    let stats = planner.stats;
    advice.verbose.push(format!(
        "index set: {} of {} candidates in {} rounds ({} dropped as redundant in the set), {} in all; {} plans, {} from the cache, {} hypothetical indexes created, {:.1} s",
        kept.len(),
        pool.len(),
        stats.rounds,
        selection.pruned.len(),
        human_bytes(total),
        stats.plans,
        stats.cached,
        stats.created,
        started.elapsed().as_secs_f64()
    ));
    Ok(kept)
}

/// `12.3 MB`, `456 kB`, `8192 bytes`.
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.0} kB", b / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

/// The plan's spine: each node with its relation and index, down the first
/// children (`Limit -> Index Scan using <13725>btree_t_customer_id on t`).
fn outline(root: &Node) -> String {
    let mut parts = Vec::new();
    let mut node = Some(root);
    while let Some(n) = node {
        let mut part = n.node_type.name().to_owned();
        if let Some(index) = &n.index_name {
            part.push_str(&format!(" using {index}"));
        }
        if let Some(relation) = &n.relation_name {
            part.push_str(&format!(" on {relation}"));
        }
        parts.push(part);
        node = n.plans.first();
    }
    parts.join(" -> ")
}

/// The scan's own conditions keep more than [`candidate::LOW_SELECTIVITY`]
/// of the relation's rows by the planner's estimate: reading that much
/// through an index costs more than a sequential scan, whatever the
/// columns. A scan also looked up by a join key or read for the order a
/// Limit wants is not judged by its filter alone.
fn keeps_most_rows(target: &Target, relation: &catalog::Relation) -> Option<f64> {
    let rows = target.plan_rows?;
    let joined = target
        .uses
        .iter()
        .any(|u| matches!(u.kind, UseKind::JoinKey(_)));
    // reltuples is -1 for a table never vacuumed nor analyzed (PG 14+).
    let kept = rows / relation.reltuples;
    (relation.reltuples > 0.0
        && !joined
        && target.order_by.is_empty()
        && kept > candidate::LOW_SELECTIVITY)
        .then_some(kept)
}

/// A valid unique btree index whose key columns all have an equality (or
/// a join key) in the scan's conditions finds at most one row per lookup
/// already: no index serves the scan better, and one that extends it
/// would only grow. `IS NULL` does not count: NULLs are not equal to each
/// other in a unique index.
fn identified_by_unique<'i>(
    target: &Target,
    indexes: &'i [catalog::ExistingIndex],
) -> Option<&'i catalog::ExistingIndex> {
    let equal = |column: &str| {
        target.uses.iter().any(|u| {
            u.column == column && matches!(u.kind, UseKind::Equality | UseKind::JoinKey(_))
        })
    };
    indexes.iter().find(|index| {
        index.valid
            && index.unique
            && !index.partial
            && index.method == "btree"
            && !index.columns.is_empty()
            && index
                .columns
                .iter()
                .all(|c| c.as_deref().is_some_and(equal))
    })
}

/// The share of rows below which a value counts as rare.
const RARE: f64 = 0.05;

/// A partial index for a scan whose equality on a column is selective only
/// because the value is rare (the column as a whole keeps too many rows
/// per value): the candidate's other columns (or that column alone) with
/// `WHERE column = value`.
fn rare_value(
    relation: &catalog::Relation,
    target: &Target,
    columns: &[IndexColumn],
) -> Option<(Vec<IndexColumn>, String)> {
    target.literals.iter().find_map(|(column, sql, value)| {
        let stats = relation.column(column)?.stats.as_ref()?;
        // A value the statistics say no row has would make an empty
        // index: nothing to gain over the plain one.
        let share = stats.equality_to(value)?;
        let rare = stats.equality()? > candidate::LOW_SELECTIVITY
            && share > 0.0
            && share <= RARE
            && columns.iter().any(|c| &c.column == column);
        if !rare {
            return None;
        }
        let rest: Vec<IndexColumn> = columns
            .iter()
            .filter(|c| &c.column != column)
            .cloned()
            .collect();
        // `(c) WHERE c = 'x'` would have every key equal: the other
        // columns are the keys, or there is no partial index to offer.
        if rest.is_empty() {
            return None;
        }
        Some((rest, format!("{} = {sql}", candidate::quote(column))))
    })
}

/// Plans each served query with the partial index instead; its worst cost
/// when the planner uses it for every one and the cost drops enough, else
/// None.
async fn verify_partial(
    runner: &Runner,
    client: &Client,
    inputs: &[Input<'_>],
    options: &Options,
    candidate: &Candidate,
    served: &[Served],
    ddl: &str,
) -> Result<Option<f64>, String> {
    let db = |e: tokio_postgres::Error| crate::conn::describe_query_error(&e);
    let plain = ddl.replacen(" CONCURRENTLY", "", 1);
    let mut worst: Option<f64> = None;
    for s in served {
        let Some(before) = s.cost_before else {
            return Ok(None);
        };
        let Some((i, _, _)) = candidate
            .served
            .iter()
            .find(|(i, t, _)| inputs[*i].job.id == s.query_id && t.path == s.path)
        else {
            return Ok(None);
        };
        let name = hypo::create(client, &plain).await.map_err(db)?;
        let after = runner.plan_only(inputs[*i].job, client).await;
        hypo::reset(client).await.map_err(db)?;
        let Ok(after) = after else {
            return Ok(None);
        };
        let cost = after.root.total_cost.unwrap_or(f64::INFINITY);
        if !uses_any(&after.root, &[name]) || cost > before * (1.0 - options.min_cost_drop) {
            return Ok(None);
        }
        worst = Some(worst.map_or(cost, |w: f64| w.max(cost)));
    }
    Ok(worst)
}

/// A node of the plan uses one of these indexes.
fn uses_any(node: &Node, names: &[String]) -> bool {
    node.index_name
        .as_ref()
        .is_some_and(|n| names.iter().any(|x| x == n))
        || node.plans.iter().any(|c| uses_any(c, names))
}

/// Builds the best suggestion for real and measures the first read-only
/// query it serves (a query that writes is not run again for this).
async fn confirm(
    runner: &Runner,
    client: &Client,
    inputs: &[Input<'_>],
    best: &Suggestion,
) -> Result<Option<Confirmation>, String> {
    let Some(input) = best.served.iter().find_map(|s| {
        inputs
            .iter()
            .find(|i| i.job.id == s.query_id && i.job.read_only)
    }) else {
        return Ok(None);
    };
    // PostgreSQL lets only the table's owner (or a member of the owning
    // role) create an index on it: say so before any transaction begins,
    // rather than passing on the server's refusal.
    let row = client
        .query_one(
            "SELECT pg_has_role(relowner, 'USAGE'), current_user::text FROM pg_class WHERE oid = $1::text::regclass",
            &[&best.relation],
        )
        .await
        .map_err(|e| crate::conn::describe_query_error(&e))?;
    if !row.get::<_, bool>(0) {
        return Err(format!(
            "--confirm needs ownership of the table, and role {} does not own it",
            row.get::<_, String>(1)
        ));
    }
    let create = format!(
        "CREATE INDEX ON {} ({})",
        best.relation,
        best.columns.join(", ")
    );
    let confirmed = runner.confirm_index(input.job, client, &create).await?;
    let used = !uses_nothing_new(&confirmed.after_plan, input.plan);
    Ok(Some(Confirmation {
        query_id: input.job.id.clone(),
        build_ms: duration_ms(confirmed.build),
        before: confirmed.before,
        after: confirmed.after,
        used,
    }))
}

/// The plan with the index reads through no index the plan without it did
/// not already use.
fn uses_nothing_new(after: &Plan, before: &Plan) -> bool {
    fn names(node: &Node, out: &mut BTreeSet<String>) {
        if let Some(n) = &node.index_name {
            out.insert(n.clone());
        }
        for c in &node.plans {
            names(c, out);
        }
    }
    let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
    names(&after.root, &mut a);
    names(&before.root, &mut b);
    a.is_subset(&b)
}

fn duration_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

fn column_list(columns: &[IndexColumn]) -> String {
    columns
        .iter()
        .map(column_text)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candidate's leading equality columns in the order of an existing
/// index made of some of them, so that the new index can replace that one
/// (the order among equalities does not change what a btree serves).
fn extend_existing(
    mut columns: Vec<IndexColumn>,
    uses: &[ColumnUse],
    indexes: &[catalog::ExistingIndex],
) -> Vec<IndexColumn> {
    let leading = equality_prefix(&columns, uses);
    for index in indexes {
        if !index.valid || index.partial || index.method != "btree" {
            continue;
        }
        let Some(names) = index
            .columns
            .iter()
            .cloned()
            .collect::<Option<Vec<String>>>()
        else {
            continue;
        };
        if names.is_empty()
            || names.len() >= columns.len()
            || !names
                .iter()
                .all(|n| columns[..leading].iter().any(|c| &c.column == n))
        {
            continue;
        }
        let mut ordered: Vec<IndexColumn> = names
            .iter()
            .filter_map(|n| columns.iter().find(|c| &c.column == n).cloned())
            .collect();
        ordered.extend(
            columns
                .iter()
                .filter(|c| !names.contains(&c.column))
                .cloned(),
        );
        columns = ordered;
        break;
    }
    columns
}

/// How many of the candidate's first columns are equalities (`=`,
/// `IS NULL`, join keys): their order among themselves does not change
/// what a btree serves.
fn equality_prefix(columns: &[IndexColumn], uses: &[ColumnUse]) -> usize {
    let equality = |c: &IndexColumn| {
        uses.iter().any(|u| {
            u.column == c.column
                && matches!(
                    u.kind,
                    UseKind::Equality | UseKind::IsNull | UseKind::JoinKey(_)
                )
        })
    };
    columns.iter().take_while(|c| equality(c)).count()
}

/// How many of the candidate's first columns are equalities in every scan
/// it serves.
fn served_equalities(candidate: &Candidate) -> usize {
    candidate
        .served
        .iter()
        .map(|(_, t, _)| equality_prefix(&candidate.columns, &t.uses))
        .min()
        .unwrap_or(0)
}

/// `a` and `b` have the same columns, and differ only in the order of
/// leading columns that are equalities in every scan either serves (the
/// order among equalities does not change what a btree serves).
fn reorders(a: &Candidate, b: &Candidate) -> bool {
    if a.columns.len() != b.columns.len() {
        return false;
    }
    let Some(last) = (0..a.columns.len())
        .rev()
        .find(|&k| a.columns[k] != b.columns[k])
    else {
        return false;
    };
    if last >= served_equalities(a).min(served_equalities(b)) {
        return false;
    }
    let sorted = |columns: &[IndexColumn]| {
        let mut names: Vec<String> = columns.iter().map(column_text).collect();
        names.sort_unstable();
        names
    };
    sorted(&a.columns[..=last]) == sorted(&b.columns[..=last])
}

/// An existing index serves the candidate already: a valid btree, not
/// partial, whose first key columns are the candidate's leading
/// equalities in any order and direction, then its other columns in order
/// ([`leads`]: the same directions, or all reversed).
fn covers(index: &catalog::ExistingIndex, columns: &[IndexColumn], uses: &[ColumnUse]) -> bool {
    if !index.valid || index.partial || index.method != "btree" {
        return false;
    }
    let existing: Vec<IndexColumn> = index
        .columns
        .iter()
        .zip(&index.descending)
        .zip(&index.opclasses)
        .map_while(|((c, desc), opclass)| {
            Some(IndexColumn {
                column: c.clone()?,
                descending: *desc,
                opclass: opclass.ends_with("_pattern_ops").then_some("pattern"),
            })
        })
        .collect();
    let equalities = equality_prefix(columns, uses);
    if existing.len() < columns.len() {
        return false;
    }
    let mut wanted: Vec<&str> = columns[..equalities]
        .iter()
        .map(|c| c.column.as_str())
        .collect();
    let mut have: Vec<&str> = existing[..equalities]
        .iter()
        .map(|c| c.column.as_str())
        .collect();
    wanted.sort_unstable();
    have.sort_unstable();
    wanted == have
        && columns[..equalities].iter().all(|c| {
            c.opclass.is_none()
                || existing[..equalities]
                    .iter()
                    .any(|e| e.column == c.column && e.opclass.is_some())
        })
        && leads(&columns[equalities..], &existing[equalities..])
}

/// An existing index whose columns lead the candidate's (and are fewer):
/// the candidate can replace it.
fn extends(columns: &[IndexColumn], index: &catalog::ExistingIndex) -> bool {
    if !index.valid || index.partial || index.method != "btree" {
        return false;
    }
    let existing: Option<Vec<IndexColumn>> = index
        .columns
        .iter()
        .zip(&index.descending)
        .map(|(c, desc)| {
            Some(IndexColumn {
                column: c.clone()?,
                descending: *desc,
                opclass: None,
            })
        })
        .collect();
    existing.is_some_and(|e| !e.is_empty() && e.len() < columns.len() && leads(&e, columns))
}

/// `narrow`'s columns are the first columns of `wide`: the same names in
/// the same order, the same directions (or all reversed: a backward scan),
/// and a pattern operator class where `narrow` needs one.
fn leads(narrow: &[IndexColumn], wide: &[IndexColumn]) -> bool {
    if narrow.len() > wide.len() {
        return false;
    }
    let pairs = narrow.iter().zip(wide);
    let names = pairs
        .clone()
        .all(|(n, w)| n.column == w.column && (n.opclass.is_none() || w.opclass.is_some()));
    let same = pairs.clone().all(|(n, w)| n.descending == w.descending);
    let reversed = pairs.clone().all(|(n, w)| n.descending != w.descending);
    names && (same || reversed)
}

/// For a partitioned table: the index on the parent alone (`ON ONLY`,
/// quick, invalid until every partition has one), one per partition built
/// CONCURRENTLY, and each attached; PostgreSQL cannot build an index on a
/// partitioned table concurrently. A tree with sub-partitions gets a plain
/// `CREATE INDEX` (it blocks writes while it builds).
async fn partitioned_ddl(
    client: &Client,
    candidate: &Candidate,
    taken: &mut BTreeSet<(String, String)>,
) -> Result<String, tokio_postgres::Error> {
    let parent = format!(
        "{}.{}",
        candidate::quote(&candidate.schema),
        candidate::quote(&candidate.table)
    );
    let columns = column_list(&candidate.columns);
    let partitions = client
        .query(
            "SELECT n.nspname::text, c.relname::text, t.isleaf
               FROM pg_partition_tree(to_regclass($1)) t
               JOIN pg_class c ON c.oid = t.relid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE t.level = 1
              ORDER BY c.relname",
            &[&parent],
        )
        .await?;
    if partitions.iter().any(|r| !r.get::<_, bool>(2)) || partitions.is_empty() {
        return Ok(format!("CREATE INDEX ON {parent} ({columns})"));
    }
    let parent_index = index_name(
        client,
        &candidate.schema,
        &candidate.table,
        &candidate.columns,
        taken,
    )
    .await?;
    let mut out = vec![format!(
        "CREATE INDEX IF NOT EXISTS {} ON ONLY {parent} ({columns})",
        candidate::quote(&parent_index)
    )];
    let mut attach = Vec::new();
    for row in &partitions {
        let schema: String = row.get(0);
        let table: String = row.get(1);
        let name = index_name(client, &schema, &table, &candidate.columns, taken).await?;
        out.push(format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {}.{} ({columns})",
            candidate::quote(&name),
            candidate::quote(&schema),
            candidate::quote(&table)
        ));
        attach.push(format!(
            "ALTER INDEX {}.{} ATTACH PARTITION {}.{}",
            candidate::quote(&candidate.schema),
            candidate::quote(&parent_index),
            candidate::quote(&schema),
            candidate::quote(&name)
        ));
    }
    out.extend(attach);
    Ok(out.join(";\n"))
}

/// A free index name the way PostgreSQL makes them (`ChooseIndexName` in
/// src/backend/commands/indexcmds.c): [`candidate::index_name`] with the
/// label `idx`, then `idx1`, `idx2`... until no relation of the schema
/// has it and no earlier suggestion (`taken`, per schema) took it.
async fn index_name(
    client: &Client,
    schema: &str,
    table: &str,
    columns: &[IndexColumn],
    taken: &mut BTreeSet<(String, String)>,
) -> Result<String, tokio_postgres::Error> {
    let names: Vec<&str> = columns.iter().map(|c| c.column.as_str()).collect();
    for pass in 0.. {
        let name = candidate::index_name(table, &names, pass);
        if taken.contains(&(schema.to_owned(), name.clone())) {
            continue;
        }
        let exists: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                 WHERE n.nspname = $1 AND c.relname = $2)",
                &[&schema, &name],
            )
            .await?
            .get(0);
        if !exists {
            taken.insert((schema.to_owned(), name.clone()));
            return Ok(name);
        }
    }
    unreachable!("an unbounded range always yields a free name")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, descending: bool) -> IndexColumn {
        IndexColumn {
            column: name.into(),
            descending,
            opclass: None,
        }
    }

    #[test]
    fn the_query_text_adds_what_the_plan_does_not_show() {
        let column = |name: &str| catalog::Column {
            name: name.into(),
            type_name: "integer".into(),
            pattern_opclass: None,
            c_collation: true,
            stats: None,
        };
        let relation = catalog::Relation {
            schema: "public".into(),
            name: "orders_2024".into(),
            partition_root: Some(("public".into(), "orders".into())),
            reltuples: 1000.0,
            indexes: Vec::new(),
            columns: ["customer_id", "status", "kind"].map(column).to_vec(),
        };
        let mut target = Target {
            path: "0.0".into(),
            node_type: "Seq Scan".into(),
            relation: "orders_2024".into(),
            schema: None,
            why: Why::SeqScan,
            uses: parse_condition("(customer_id = 42)"),
            conditions: vec!["Filter: (customer_id = 42)".into()],
            order_by: Vec::new(),
            rows_read: 1000.0,
            plan_rows: None,
            loops: 1.0,
            literals: Vec::new(),
        };
        // The partitioned table by name, an unqualified column the catalog
        // places, and nothing of the other table or of a column it lacks.
        let text = query_text::from_query(
            "SELECT * FROM orders o, customers c WHERE o.customer_id = 42 AND status = 3 \
             AND c.region = 1 AND o.missing > 2 AND o.kind IN (1, 2)",
        )
        .unwrap();
        let before = target.clone();
        add_text_uses(&mut target, &text, &relation);
        let columns: Vec<&str> = target.uses.iter().map(|u| u.column.as_str()).collect();
        assert_eq!(columns, ["customer_id", "kind", "status"]);
        // A self-join: which reading is this scan's is not known.
        let self_join = query_text::from_query(
            "SELECT * FROM orders a JOIN orders b ON b.id = a.id WHERE a.kind = 1 AND b.status = 2",
        )
        .unwrap();
        let mut other = before.clone();
        add_text_uses(&mut other, &self_join, &relation);
        assert_eq!(other, before);
        assert_eq!(
            target.conditions[1..],
            [
                "Query text: kind (IN list of 2)",
                "Query text: status (equality)"
            ]
        );
    }

    #[test]
    fn an_existing_index_covers_equalities_in_any_order_and_direction() {
        let index = |cols: &[(&str, bool)]| catalog::ExistingIndex {
            name: "i".into(),
            definition: String::new(),
            valid: true,
            unique: false,
            method: "btree".into(),
            partial: false,
            columns: cols.iter().map(|(c, _)| Some(c.to_string())).collect(),
            descending: cols.iter().map(|(_, d)| *d).collect(),
            opclasses: cols.iter().map(|_| "int4_ops".to_owned()).collect(),
            ..Default::default()
        };
        let uses = parse_condition("((a = 1) AND (b = 2) AND (c > 3))");
        let candidate = [col("a", false), col("b", false), col("c", false)];
        assert!(covers(
            &index(&[("b", true), ("a", false), ("c", false)]),
            &candidate,
            &uses
        ));
        assert!(covers(
            &index(&[("a", false), ("b", false), ("c", true), ("d", false)]),
            &candidate,
            &uses
        ));
        assert!(!covers(
            &index(&[("a", false), ("c", false), ("b", false)]),
            &candidate,
            &uses
        ));
        assert!(!covers(
            &index(&[("a", false), ("b", false)]),
            &candidate,
            &uses
        ));
        let mut invalid = index(&[("a", false), ("b", false), ("c", false)]);
        invalid.valid = false;
        assert!(!covers(&invalid, &candidate, &uses));
        // An order the index gives only one way.
        let ordered = [col("a", false), col("c", true), col("d", false)];
        assert!(covers(
            &index(&[("a", true), ("c", false), ("d", true)]),
            &ordered,
            &uses
        ));
        assert!(!covers(
            &index(&[("a", false), ("c", true), ("d", true)]),
            &ordered,
            &uses
        ));
    }

    #[test]
    fn leading_columns() {
        let wide = [col("a", false), col("b", true)];
        assert!(leads(&[col("a", false)], &wide));
        assert!(leads(&[col("a", true), col("b", false)], &wide));
        assert!(!leads(&[col("a", false), col("b", false)], &wide));
        assert!(!leads(&[col("b", true)], &wide));
        assert!(!leads(
            &[col("a", false), col("b", true), col("c", false)],
            &wide
        ));
    }
}
