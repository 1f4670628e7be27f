//! `baseline`: run the query set and store one baseline per query.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::run::{self, QueryRun, SetRun};
use super::{Note, Options};
use crate::baseline::{Baseline, Environment, FORMAT_VERSION, GenericSummary, Store, Summary};
use crate::error::Failure;
use crate::history::Measures;
use crate::history::recorder::Recorder;
use crate::plan::{self, Plan};
use crate::report::Report;
use crate::runner::{self, Measured, Outcome, ServerInfo};

/// A finished (or interrupted) `baseline` run.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The baselines written, by query id.
    pub written: Vec<(String, PathBuf)>,
    /// Queries that failed or timed out, and why: their previous baselines
    /// (if any) are kept.
    pub failed: Vec<(String, String)>,
    /// Queries skipped or refused, and why.
    pub skipped: Vec<(String, String)>,
    /// Stopped by Ctrl-C.
    pub interrupted: bool,
    /// The server went away mid-run (why): what finished is written.
    pub lost: Option<String>,
    pub notes: Vec<Note>,
}

/// Runs the query set and stores one baseline per query that ran ok in
/// `options.config.baselines`, each written (atomically) as soon as its
/// query has run. Fails before running anything when the directory is
/// not writable; a file that cannot be written stops the writing, and the
/// previous baselines stay as they were.
pub async fn baseline(options: &Options) -> Result<Recorded, Failure> {
    let config = &options.config;
    let queries = run::load_queries(config)?;
    let store = Store::new(&config.baselines);
    // Find out before running anything whether we can write at all.
    ensure_writable(store.dir())?;
    let mut notes = Vec::new();
    let stats = run::load_stats(config)?;
    let runner = run::open(options, stats.as_ref(), &mut notes).await?;
    let mut warnings = Vec::new();
    let recorder = Recorder::open(
        config,
        options.conn.to_string(),
        "baseline",
        &queries,
        runner.options().session.stats_sha256.clone(),
        &mut warnings,
    )
    .await;
    notes.extend(warnings.drain(..).map(Note::warn));
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    // The file system's time overlaps the server's.
    let (finished, outcomes) = tokio::sync::mpsc::unbounded_channel();
    let writer = tokio::spawn(write_baselines(
        outcomes,
        runner.clone(),
        store.clone(),
        queries
            .iter()
            .map(|q| (q.id.clone(), q.sql.clone()))
            .collect(),
        config.run.analyze,
    ));
    let set = run::run_on(
        runner,
        queries,
        options,
        Some(finished),
        &Default::default(),
    )
    .await;
    let written = writer
        .await
        .map_err(|e| Failure::input(anyhow::anyhow!(e)))?;

    notes.extend(set.notes.iter().cloned());
    if !set.interrupted {
        let (report, measures) = history_report(&set);
        recorder
            .record(&report, started, &measures, &mut warnings)
            .await;
        notes.extend(warnings.drain(..).map(Note::warn));
    }
    let mut recorded = Recorded {
        interrupted: set.interrupted,
        lost: set.runner.lost(),
        notes,
        ..Recorded::default()
    };
    for (index, QueryRun { query, outcome }) in set.runs.iter().enumerate() {
        match outcome {
            Outcome::Ok(_) => match written.get(&index) {
                Some(Ok(path)) => recorded.written.push((query.id.clone(), path.clone())),
                Some(Err(message)) => return Err(Failure::input(anyhow::anyhow!("{message}"))),
                // Not written: an earlier file could not be.
                None => {}
            },
            Outcome::Error { message, .. } | Outcome::Timeout { message } => {
                recorded.failed.push((query.id.clone(), message.clone()));
            }
            Outcome::Skipped { reason } => {
                recorded.skipped.push((query.id.clone(), reason.clone()));
            }
        }
    }
    Ok(recorded)
}

/// The report model of a `baseline` run, for its history: each query's
/// figures, no findings (a baseline compares with nothing).
fn history_report(set: &SetRun) -> (Report, BTreeMap<String, Measures>) {
    use crate::report::{QueryReport, QueryResult, Server};
    let mut measures = BTreeMap::new();
    let mut reports = Vec::new();
    for run in &set.runs {
        let (status, error, skip, measured) = run::status_of(&run.outcome);
        let plan = measured.map(|m| &m.median_run().plan);
        let runs: Vec<_> = measured
            .map(|m| m.runs.iter().map(|r| r.figures.clone()).collect())
            .unwrap_or_default();
        measures.insert(run.query.id.clone(), Measures::of(plan, &runs));
        reports.push(QueryReport::build(
            &QueryResult {
                id: &run.query.id,
                status,
                error: error.as_ref(),
                skip_reason: skip,
                plan,
                runs: &runs,
                baseline: None,
                findings: &[],
                params: measured.and_then(|m| m.params.as_ref()),
                changes: &[],
            },
            false,
        ));
    }
    let server = Server::new(set.server.version.clone(), set.server.version_num);
    (Report::new(Some(server), reports), measures)
}

/// Writes the baseline of every query that ran ok, as outcomes arrive:
/// the statistics and indexes of the relations a batch of plans reads are
/// read in one catalog query (each relation once per run), then the batch's
/// files are written on a blocking thread. Returns, by query index, the
/// file written or why it could not be; after the first failure nothing
/// more is written (the previous baselines stay as they were).
async fn write_baselines(
    mut outcomes: tokio::sync::mpsc::UnboundedReceiver<(usize, Outcome)>,
    runner: Arc<runner::Runner>,
    store: Store,
    queries: Vec<(String, String)>,
    analyze: bool,
) -> BTreeMap<usize, Result<PathBuf, String>> {
    let mut written = BTreeMap::new();
    let mut environment = Environment::default();
    let mut looked_up: BTreeSet<String> = BTreeSet::new();
    let mut failed = false;
    while let Some(first) = outcomes.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = outcomes.try_recv() {
            batch.push(next);
        }
        let measured: Vec<(usize, Measured)> = batch
            .into_iter()
            .filter_map(|(index, outcome)| match outcome {
                Outcome::Ok(m) => Some((index, m)),
                _ => None,
            })
            .collect();
        if failed || measured.is_empty() {
            continue;
        }
        let plans: Vec<&Plan> = measured.iter().map(|(_, m)| &m.median_run().plan).collect();
        let new: Vec<&Plan> = plans
            .iter()
            .copied()
            .filter(|p| !runner::relations_in(p).is_subset(&looked_up))
            .collect();
        if !new.is_empty() {
            let names: BTreeSet<String> =
                new.iter().flat_map(|p| runner::relations_in(p)).collect();
            let found = environment_for(&runner, &new).await;
            environment.relations.extend(found.relations);
            looked_up.extend(names);
        }
        let files: Vec<(usize, Baseline)> = measured
            .iter()
            .map(|(index, m)| {
                let (id, sql) = &queries[*index];
                let plan = &m.median_run().plan;
                let environment = runner::environment_subset(&environment, [plan]);
                let mut baseline = build(id, sql, m, runner.server(), environment, analyze);
                baseline.stats_sha256 = runner.options().session.stats_sha256.clone();
                (*index, baseline)
            })
            .collect();
        let indexes: Vec<usize> = files.iter().map(|(index, _)| *index).collect();
        let store = store.clone();
        let results = tokio::task::spawn_blocking(move || {
            let mut results = Vec::new();
            for (index, baseline) in files {
                let result = store
                    .save(&baseline)
                    .map_err(|e| crate::error::chain(&e).to_string());
                let stop = result.is_err();
                results.push((index, result));
                if stop {
                    break;
                }
            }
            results
        })
        .await
        .unwrap_or_else(|e| {
            let message = format!("writing the baselines failed: {e}");
            indexes.iter().map(|i| (*i, Err(message.clone()))).collect()
        });
        for (index, result) in results {
            failed |= result.is_err();
            written.insert(index, result);
        }
    }
    written
}

/// Fails with exit 2 unless a file can be created in `dir` (creating the
/// directory when missing). Nothing is left behind.
fn ensure_writable(dir: &Path) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::input(anyhow::anyhow!(
            "{}: the baselines directory is not writable: {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    tempfile::Builder::new()
        .prefix(".planguard-probe-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(fail)
}

/// Statistics and indexes of every relation the plans read, in one query.
pub(crate) async fn environment_for(runner: &runner::Runner, plans: &[&Plan]) -> Environment {
    let names = plans.iter().flat_map(|p| runner::relations_in(p)).collect();
    let Ok(client) = runner.session().await else {
        return Environment::default();
    };
    let environment = runner::capture_environment_of(&client, &names)
        .await
        .unwrap_or_default();
    runner.give_back(client).await;
    environment
}

/// Lowercase hex SHA-256 of a statement's text.
pub fn sha256_hex(text: &str) -> String {
    crate::hash::sha256_hex(text.as_bytes())
}

/// The baseline of one measured query.
pub fn build(
    id: &str,
    sql: &str,
    measured: &Measured,
    server: &ServerInfo,
    environment: Environment,
    analyze: bool,
) -> Baseline {
    let median_run = measured.median_run();
    let plan = &median_run.plan;
    let runs: Vec<_> = measured.runs.iter().map(|r| r.figures.clone()).collect();
    let executions: Vec<f64> = runs.iter().filter_map(|r| r.execution_ms).collect();
    let blocks: Vec<f64> = runs
        .iter()
        .map(|r| (r.shared_hit + r.shared_read) as f64)
        .collect();
    Baseline {
        format_version: FORMAT_VERSION,
        query_id: id.to_owned(),
        sql_sha256: sha256_hex(sql),
        server_version: server.version.clone(),
        server_version_num: server.version_num,
        recorded_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        analyze: analyze && !measured.generic_plan,
        settings: plan.settings.clone(),
        summary: Summary {
            total_cost: plan.root.total_cost.unwrap_or(0.0),
            execution_ms_median: median_run.figures.execution_ms,
            execution_ms_max: executions.iter().copied().reduce(f64::max),
            planning_ms_median: crate::rules::median(
                &runs
                    .iter()
                    .filter_map(|r| r.planning_ms)
                    .collect::<Vec<_>>(),
            ),
            shared_blocks_median: crate::rules::median(&blocks).unwrap_or(0.0) as u64,
            nodes: plan.root.count(),
            fingerprint: plan::shape::fingerprint(plan),
        },
        runs,
        environment,
        params: measured.params.clone(),
        generic: measured
            .generic
            .as_ref()
            .and_then(|g| g.as_ref().ok())
            .map(|g| GenericSummary {
                fingerprint: plan::shape::fingerprint(&g.run.plan),
                total_cost: g.run.plan.root.total_cost.unwrap_or(0.0),
            }),
        stats_sha256: None,
        plan: median_run.json.clone(),
    }
}
