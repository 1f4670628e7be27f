//! What `history` shows, computed from the rows read back: one query over
//! time with its plan changes, and the queries that got worse in a window.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{FindingRecord, QueryRow, SeriesKey};
use crate::rules::Thresholds;

/// One query over time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryHistory {
    pub query_id: String,
    /// Its recorded runs, oldest first.
    pub runs: Vec<QueryRow>,
    /// The plans it had, in order: the first one, then each change.
    pub plan_changes: Vec<PlanChange>,
}

/// A run whose plan differs from the previous run's that had a plan (or
/// the first run with a plan).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanChange {
    pub run: i64,
    pub started_at: i64,
    /// The fingerprint before (None for the first plan recorded).
    pub from: Option<String>,
    pub to: String,
    /// The findings of that run: which rules fired, with their causes.
    pub findings: Vec<FindingRecord>,
    /// The series of the run (each run in `runs` says its own).
    #[serde(skip)]
    pub series: SeriesKey,
}

impl QueryHistory {
    /// The history of `query_id` from its rows, oldest first. Plans are
    /// compared within each series (server, planner settings, statistics;
    /// [`SeriesKey`]): a staging run after a production run with another
    /// plan is not a plan change.
    pub fn of(query_id: &str, runs: Vec<QueryRow>) -> QueryHistory {
        let mut plan_changes = Vec::new();
        let mut last: BTreeMap<&SeriesKey, &str> = BTreeMap::new();
        for row in &runs {
            let Some(fp) = row.record.fingerprint.as_deref() else {
                continue;
            };
            let before = last.get(&row.series).copied();
            if before != Some(fp) {
                plan_changes.push(PlanChange {
                    run: row.run,
                    started_at: row.started_at,
                    from: before.map(str::to_owned),
                    to: fp.to_owned(),
                    findings: row.record.findings.clone(),
                    series: row.series.clone(),
                });
                last.insert(&row.series, fp);
            }
        }
        QueryHistory {
            query_id: query_id.to_owned(),
            runs,
            plan_changes,
        }
    }

    /// One history per series of its runs, in the order each series first
    /// ran.
    pub fn by_series(&self) -> Vec<(SeriesKey, QueryHistory)> {
        let mut keys: Vec<&SeriesKey> = Vec::new();
        for row in &self.runs {
            if !keys.contains(&&row.series) {
                keys.push(&row.series);
            }
        }
        keys.into_iter()
            .map(|key| {
                let part = QueryHistory {
                    query_id: self.query_id.clone(),
                    runs: self
                        .runs
                        .iter()
                        .filter(|r| &r.series == key)
                        .cloned()
                        .collect(),
                    plan_changes: self
                        .plan_changes
                        .iter()
                        .filter(|c| &c.series == key)
                        .cloned()
                        .collect(),
                };
                (key.clone(), part)
            })
            .collect()
    }
}

/// How far a figure must have grown (last / first in the window) for
/// `history --regressed` to list the query without a regression finding.
pub const WORSE_RATIO: f64 = 1.2;

/// A query that got worse in a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regressed {
    pub query_id: String,
    /// The reference: the last run before the window, else its first run.
    pub before: QueryRow,
    /// The last run in the window.
    pub after: QueryRow,
    /// The plan changed between them.
    pub plan_changed: bool,
    /// The largest growth of time, cost and blocks (after / before).
    pub worst_ratio: f64,
    /// The rules whose findings were regressions in the window.
    pub rules: Vec<String>,
}

/// The queries whose plan or figures got worse from before `since` to the
/// last run, worst first. `rows` are every query's runs, oldest first.
/// A query is compared within each series (server, planner settings,
/// statistics; [`SeriesKey`]) only: a query run on staging and on
/// production is two histories, listed apart when both got worse.
///
/// A figure counts as worse only when it grew by [`WORSE_RATIO`] and by
/// the rules' absolute floors (`time_min_increase_ms`, `cost_min_increase`,
/// `buffers_min_increase`): 0.012 ms becoming 0.017 ms is noise, not a
/// regression.
pub fn regressed(rows: Vec<QueryRow>, since: i64, floors: &Thresholds) -> Vec<Regressed> {
    let mut by_query: BTreeMap<(String, SeriesKey), Vec<QueryRow>> = BTreeMap::new();
    for row in rows {
        by_query
            .entry((row.record.query_id.clone(), row.series.clone()))
            .or_default()
            .push(row);
    }
    let mut out = Vec::new();
    for ((query_id, _), rows) in by_query {
        let (earlier, window): (Vec<QueryRow>, Vec<QueryRow>) =
            rows.into_iter().partition(|r| r.started_at < since);
        let Some(after) = window.last().cloned() else {
            continue;
        };
        let before = earlier.last().cloned().unwrap_or_else(|| window[0].clone());
        let mut rules: Vec<String> = window
            .iter()
            .flat_map(|r| r.record.findings.iter())
            .filter(|f| f.regression)
            .map(|f| f.rule.clone())
            .collect();
        rules.sort();
        rules.dedup();
        let ratio = |a: Option<f64>, b: Option<f64>, floor: f64| match (a, b) {
            (Some(a), Some(b)) if a > 0.0 && b - a >= floor => b / a,
            _ => 1.0,
        };
        let (b, a) = (&before.record, &after.record);
        let worst_ratio = [
            ratio(b.execution_ms, a.execution_ms, floors.time_min_increase_ms),
            ratio(b.total_cost, a.total_cost, floors.cost_min_increase),
            ratio(
                b.shared_blocks.map(|x| x as f64),
                a.shared_blocks.map(|x| x as f64),
                floors.buffers_min_increase as f64,
            ),
        ]
        .into_iter()
        .fold(1.0, f64::max);
        let failed_now = b.status == "ok" && a.status != "ok" && a.status != "skipped";
        let plan_changed =
            b.fingerprint.is_some() && a.fingerprint.is_some() && b.fingerprint != a.fingerprint;
        if worst_ratio >= WORSE_RATIO || !rules.is_empty() || failed_now {
            out.push(Regressed {
                query_id,
                before,
                after,
                plan_changed,
                worst_ratio: if failed_now {
                    f64::INFINITY
                } else {
                    worst_ratio
                },
                rules,
            });
        }
    }
    out.sort_by(|x, y| {
        y.worst_ratio
            .total_cmp(&x.worst_ratio)
            .then(y.rules.len().cmp(&x.rules.len()))
            .then(x.query_id.cmp(&y.query_id))
    });
    out
}
