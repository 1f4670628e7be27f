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
//!
//! Layout: this file holds the model and the stage's order; [`targets`]
//! and [`predicates`] read plans; `candidates` builds candidates with the
//! catalog ([`candidate`] orders their columns, `existing` weighs them
//! against the table's indexes); `verify` and [`select`] ask the planner;
//! `merge` makes one set of suggestions; `ddl` writes their statements;
//! `confirm` holds the real, rolled-back builds and drops; [`redundant`]
//! finds the indexes the set does not need.

pub mod candidate;
mod candidates;
pub mod catalog;
mod confirm;
mod ddl;
mod existing;
pub mod hypo;
mod merge;
pub mod model;
pub mod predicates;
pub mod query_text;
pub mod redundant;
pub mod select;
pub mod targets;
mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio_postgres::Client;

pub use candidate::IndexColumn;
use candidate::column_text;
pub use model::{
    Advice, Alternative, Confirmation, HypoPg, NoIndex, Redundant, Served, Suggestion, Unadvised,
    UnknownHypoPg, WidenedIndex,
};
pub use predicates::{ColumnUse, UseKind, parse_condition};
pub use targets::{Target, Why};

use candidates::*;
use confirm::*;
pub use ddl::human_bytes;
use ddl::*;
use existing::*;
use merge::*;
use verify::*;

use crate::baseline::RunFigures;
use crate::plan::{Node, Plan};
use crate::runner::{Job, Runner};

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

/// Why the advisor stopped: the database's error (a lost session, a
/// statement that failed) or a refusal. Each says what went wrong in one
/// message of its own, with no cause behind it.
#[derive(Debug, thiserror::Error)]
pub enum AdvisorError {
    /// No planning session.
    #[error(transparent)]
    Session(#[from] crate::conn::ConnectError),
    /// A statement failed: the server's error as psql shows it (that
    /// error, not a cause of it, so not a `source`).
    #[error("{}", crate::conn::describe_query_error(.0))]
    Query(tokio_postgres::Error),
    /// EXPLAIN's output is not a plan.
    #[error(transparent)]
    Plan(#[from] crate::plan::ParseError),
    /// `--confirm` may build an index only on a table the role owns.
    #[error("--confirm needs ownership of the table, and role {role} does not own it")]
    NotOwner { role: String },
}

impl From<tokio_postgres::Error> for AdvisorError {
    fn from(error: tokio_postgres::Error) -> AdvisorError {
        AdvisorError::Query(error)
    }
}

/// Runs the advisor over the query set. Errors are the database's (a lost
/// session); a query that cannot be planned again is left out.
pub async fn advise(
    runner: &Runner,
    inputs: &[Input<'_>],
    options: &Options,
) -> Result<Advice, AdvisorError> {
    let mut advice = Advice::default();
    if inputs.is_empty() {
        return Ok(advice);
    }
    let client = runner.session().await?;
    let mut catalog = catalog::Cache::default();
    let sizes = table_sizes(&client, inputs, &mut catalog).await?;
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
                        "redundant index {} ({}, {} of {} in the set): {how}",
                        r.index,
                        r.kind.replace('_', " "),
                        crate::report::plural(r.scans.len(), "scan", "scans"),
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
    for input in inputs.iter().filter(|i| !i.plan.analyzed()) {
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
) -> Result<(), AdvisorError> {
    advice.unverified_because = hypopg_ready(client, options.hypopg, &mut advice.notes).await?;
    let verify = advice.unverified_because.is_none();

    let (candidates, mut unadvised) = build(client, inputs, found, catalog).await?;

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
        let more = variants(&mut planner, client, catalog, &verified).await?;
        verified.extend(more);
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
        let unnamed = with_predicate(
            candidate::ddl(&candidate.schema, &candidate.table, &candidate.columns),
            candidate.predicate.as_ref(),
        );
        let alternative = match &candidate.partial {
            None => None,
            Some(partial) => {
                let plain = with_predicate(
                    candidate::ddl(&candidate.schema, &candidate.table, &partial.columns),
                    Some(&partial.predicate),
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
            predicate: candidate.predicate.as_ref().map(|p| p.sql.clone()),
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
            partitioned_ddl(client, &candidate, &mut taken).await?
        } else {
            let name = index_name(
                client,
                &candidate.schema,
                &candidate.table,
                &candidate.columns,
                &mut taken,
            )
            .await?;
            with_predicate(
                candidate::named_ddl(
                    &name,
                    &candidate.schema,
                    &candidate.table,
                    &candidate.columns,
                ),
                candidate.predicate.as_ref(),
            )
        };
        if let (Some(alternative), Some(partial)) =
            (&mut suggestion.alternative, &candidate.partial)
        {
            let name = index_name(
                client,
                &candidate.schema,
                &candidate.table,
                &partial.columns,
                &mut taken,
            )
            .await?;
            alternative.ddl = with_predicate(
                candidate::named_ddl(&name, &candidate.schema, &candidate.table, &partial.columns),
                Some(&partial.predicate),
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

/// `CREATE INDEX ...` with the partial index's WHERE clause, if any.
fn with_predicate(ddl: String, predicate: Option<&Predicate>) -> String {
    match predicate {
        Some(p) => format!("{ddl} WHERE {}", p.sql),
        None => ddl,
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
            width: Some(4.0),
            widest: None,
            align: 4,
            dedup: true,
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
