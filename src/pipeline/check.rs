//! `check`: run the query set (or read saved plans), compare with the
//! baselines, advise, apply the rules and build the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::run::{self, QueryRun, SetRun};
use super::{Note, Options};
use crate::advisor::{self, Advice, HypoPg};
use crate::baseline::{Baseline, Store};
use crate::config::Config;
use crate::error::Failure;
use crate::history::Measures;
use crate::history::recorder::Recorder;
use crate::plan::{self, Plan};
use crate::queryset::ParamValues;
use crate::report::{self, QueryReport, QueryResult, Report};
use crate::rules::{
    self, BaselineCtx, Context, GenericCtx, HistoryCtx, Observed, QueryStatus, RulesConfig,
    Thresholds,
};
use crate::runner::{self, Job, Outcome};

/// What `check` does beyond the configuration.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// `--hypopg`: how the advisor verifies suggestions (else the
    /// configuration's `[advisor] hypopg`).
    pub hypopg: Option<HypoPg>,
    /// `--confirm`: build the best suggested index inside a rolled-back
    /// transaction and measure its query (staging only).
    pub confirm: bool,
    /// Keep each query's parsed plans in the report.
    pub include_plans: bool,
}

/// A finished check: the report and how the run went.
#[derive(Debug)]
pub struct Checked {
    pub report: Report,
    /// Stopped by Ctrl-C: the report holds what finished.
    pub interrupted: bool,
    /// The server went away mid-run (why): the report holds what finished.
    pub lost: Option<String>,
    /// Queries sent to the server (not skipped), and how many failed.
    pub ran: usize,
    pub failed: usize,
    /// When the run started and how long it took.
    pub started: SystemTime,
    pub duration: Duration,
    pub notes: Vec<Note>,
}

/// A stored baseline with its plan parsed.
struct Loaded {
    record: Baseline,
    plan: Plan,
}

fn load_baseline(store: &Store, id: &str) -> Result<Option<Loaded>, Failure> {
    let Some(record) = store.load(id).map_err(Failure::input)? else {
        return Ok(None);
    };
    let plan = plan::parse_json_value(&record.plan).map_err(|e| {
        let path = store.path_for(id).unwrap_or_default();
        Failure::input(anyhow::anyhow!(
            "{}: the stored plan is not valid: {e}",
            path.display()
        ))
    })?;
    Ok(Some(Loaded { record, plan }))
}

/// Runs the query set and checks it against the baselines in
/// `options.config.baselines`. Every baseline is read before anything
/// runs: a broken one is an input error naming the file.
pub async fn check(options: &Options, check: &CheckOptions) -> Result<Checked, Failure> {
    let config = &options.config;
    let store = Store::new(&config.baselines);
    let queries = run::load_queries(config)?;
    let mut baselines = BTreeMap::new();
    for query in &queries {
        if let Some(loaded) = load_baseline(&store, &query.id)? {
            baselines.insert(query.id.clone(), loaded);
        }
    }
    let mut notes = Vec::new();
    let loaded_stats = run::load_stats(config)?;
    let stats = loaded_stats.as_ref().map(|l| l.sha256.clone());
    let recorded: Vec<_> = baselines
        .iter()
        .map(|(id, l)| {
            (
                store.path_for(id).unwrap_or_default(),
                l.record.stats_sha256.clone(),
            )
        })
        .collect();
    run::refuse_other_stats(options, stats.as_deref(), &recorded, &mut notes)?;
    // The run history: the drift rules read each query's past runs.
    let mut warnings = Vec::new();
    let mut recorder = Recorder::open(
        config,
        options.conn.to_string(),
        "check",
        &queries,
        stats.clone(),
        &mut warnings,
    )
    .await;
    notes.extend(warnings.drain(..).map(Note::warn));
    let past = recorder
        .series(&queries, &config.thresholds, &mut warnings)
        .await;
    notes.extend(warnings.drain(..).map(Note::warn));
    let mut measures = BTreeMap::new();
    let started = (SystemTime::now(), std::time::Instant::now());
    let now = started
        .0
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // A baseline's sampled values are bound again, so that the check
    // compares like with like (unless the statement changed since).
    let stored: BTreeMap<String, ParamValues> = queries
        .iter()
        .filter_map(|q| {
            let loaded = baselines.get(&q.id)?;
            let params = loaded.record.params.clone()?;
            (loaded.record.sql_sha256 == super::baseline::sha256_hex(&q.sql))
                .then(|| (q.id.clone(), params))
        })
        .collect();
    let set = run::run_set(queries, options, loaded_stats.as_ref(), &stored).await?;
    notes.extend(set.notes.iter().cloned());
    let server = report::Server {
        version: set.server.version.clone(),
        version_num: set.server.version_num,
    };
    // Today's statistics and indexes of every relation of every plan, the
    // baselines' too (a relation whose index was dropped still matters), in
    // one catalog query.
    let mut plans: Vec<&Plan> = baselines.values().map(|b| &b.plan).collect();
    plans.extend(set.runs.iter().filter_map(|r| match &r.outcome {
        Outcome::Ok(m) => Some(&m.median_run().plan),
        _ => None,
    }));
    let environment_all = super::baseline::environment_for(&set.runner, &plans).await;
    let (advice, planned) = if (config.rules.enabled("missing-index")
        || config.rules.enabled("redundant-index"))
        && !set.interrupted
        && set.runner.lost().is_none()
    {
        advise(&set, config, check, &mut notes).await
    } else {
        (Advice::default(), BTreeMap::new())
    };
    let mut reports = Vec::new();
    let mut ran = 0;
    let mut failed = 0;
    for QueryRun { query, outcome } in &set.runs {
        // Validated when the set loaded.
        let thresholds = config
            .thresholds
            .with_overrides(&query.thresholds)
            .map_err(|e| {
                Failure::input(anyhow::anyhow!("{}: thresholds: {e}", query.path.display()))
            })?;
        let baseline = baselines.get(&query.id);
        let (status, error, skip_reason, measured) = run::status_of(outcome);
        if status != QueryStatus::Skipped {
            ran += 1;
        }
        if error.is_some() {
            failed += 1;
        }
        let plan = measured.map(|m| &m.median_run().plan);
        let runs: Vec<_> = measured
            .map(|m| m.runs.iter().map(|r| r.figures.clone()).collect())
            .unwrap_or_default();
        if let Some(Some(Err(reason))) = measured.map(|m| &m.generic) {
            notes.push(Note::say(format!(
                "{}: no generic plan: {reason}",
                query.id
            )));
        }
        measures.insert(query.id.clone(), Measures::of(plan, &runs));
        let environment = plan.map(|plan| {
            runner::environment_subset(
                &environment_all,
                std::iter::once(plan).chain(baseline.map(|b| &b.plan)),
            )
        });
        let ctx = Context {
            query_id: &query.id,
            status,
            error: error.as_ref(),
            plan,
            runs: &runs,
            baseline: baseline.map(|b| BaselineCtx {
                record: &b.record,
                plan: &b.plan,
            }),
            now: Observed {
                environment: environment.as_ref(),
                settings: plan.map(|p| &p.settings),
                server_version: Some(&set.server.version),
                advice: Some(&advice),
                generic: measured.and_then(|m| match &m.generic {
                    Some(Ok(g)) => Some(GenericCtx {
                        plan: &g.run.plan,
                        values: m.params.as_ref(),
                        common: g.common.as_ref().map(|c| (&c.plan, &c.values)),
                    }),
                    _ => None,
                }),
                planned: planned.get(&query.id),
                history: past.get(&query.id).map(|runs| HistoryCtx {
                    now: now as i64,
                    runs,
                }),
            },
            thresholds: &thresholds,
        };
        let findings = rules::analyze(&ctx, &config.rules);
        let changes = rules::changes::changes(&ctx);
        reports.push(QueryReport::build(
            &QueryResult {
                id: &query.id,
                status,
                error: error.as_ref(),
                skip_reason,
                plan,
                runs: &runs,
                baseline: baseline.map(|b| &b.record),
                findings: &findings,
                params: measured.and_then(|m| m.params.as_ref()),
                changes: &changes,
            },
            check.include_plans,
        ));
    }
    let report = Report::new(Some(server), reports);
    if !set.interrupted {
        recorder
            .record(&report, now, &measures, &mut warnings)
            .await;
        notes.extend(warnings.drain(..).map(Note::warn));
    }
    Ok(Checked {
        report,
        interrupted: set.interrupted,
        lost: set.runner.lost(),
        ran,
        failed,
        started: started.0,
        duration: started.1.elapsed(),
        notes,
    })
}

/// Runs the index advisor over the plans of the queries that ran, and of
/// those that timed out, planned again with plain EXPLAIN (they need advice
/// most); returns the advice and those plain plans by query id. Its failure
/// (a lost session) is a note: the report goes on without suggestions.
async fn advise(
    set: &SetRun,
    config: &Config,
    check: &CheckOptions,
    notes: &mut Vec<Note>,
) -> (Advice, BTreeMap<String, Plan>) {
    let policy = run::policy(config);
    let admit = |run: &QueryRun| set.runner.admit(&run.query, &policy).ok();
    let mut planned: BTreeMap<String, Plan> = BTreeMap::new();
    let timed_out: Vec<&QueryRun> = set
        .runs
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Timeout { .. }))
        .collect();
    if !timed_out.is_empty()
        && let Ok(client) = set.runner.session().await
    {
        for run in timed_out {
            let Some(job) = admit(run) else {
                continue;
            };
            match set.runner.plan_only(&job, &client).await {
                Ok(plan) => {
                    planned.insert(run.query.id.clone(), plan);
                }
                Err(e) => notes.push(Note::say(format!(
                    "{}: timed out and could not be planned for index advice: {e}",
                    run.query.id
                ))),
            }
        }
        set.runner.give_back(client).await;
    }
    let mut jobs: Vec<(Job, &Plan, Option<u64>)> = set
        .runs
        .iter()
        .filter_map(|run| match &run.outcome {
            Outcome::Ok(m) => {
                let job = admit(run)?;
                // The values the run bound, so the advisor plans the same.
                let job = match m.params.as_ref().filter(|p| p.source != "generic") {
                    Some(p) => job.with_values(p.values.clone()),
                    None => job,
                };
                Some((job, &m.median_run().plan, run.query.calls))
            }
            _ => None,
        })
        .collect();
    for run in &set.runs {
        if let (Some(plan), Some(job)) = (planned.get(&run.query.id), admit(run)) {
            jobs.push((job, plan, run.query.calls));
        }
    }
    let inputs: Vec<advisor::Input> = jobs
        .iter()
        .map(|(job, plan, calls)| advisor::Input {
            job,
            plan,
            calls: *calls,
        })
        .collect();
    let options = advisor::Options {
        min_cost_drop: config.min_cost_drop,
        min_rows: config.thresholds.seq_scan_min_rows as f64,
        hypopg: check.hypopg.unwrap_or(config.hypopg),
        confirm: check.confirm,
    };
    let advice = match advisor::advise(&set.runner, &inputs, &options).await {
        Ok(advice) => advice,
        Err(e) => {
            notes.push(Note::warn(format!(
                "index advisor: {}; the report has no index suggestions",
                crate::error::chain(&e)
            )));
            return (Advice::default(), planned);
        }
    };
    for note in &advice.notes {
        notes.push(Note::say(note.clone()));
    }
    for line in &advice.verbose {
        notes.push(Note::detail(format!("index advisor: {line}")));
    }
    for u in &advice.unadvised {
        notes.push(Note::detail(format!(
            "index advisor: {} {} on {} (node {}): no index: {}: {}",
            u.query_id,
            u.node_type,
            u.relation,
            u.path,
            u.reason.describe(),
            u.detail
        )));
    }
    (advice, planned)
}

/// `check --plans DIR`: every `<id>.json` / `<id>.txt` (also
/// `<id>.plan.json` as capture writes them) checked offline against the
/// baselines in `baselines`, with no database.
pub fn check_saved_plans(
    dir: &Path,
    baselines: &Path,
    thresholds: &Thresholds,
    rules_config: &RulesConfig,
    include_plans: bool,
) -> Result<Report, Failure> {
    let store = Store::new(baselines);
    let mut files = Vec::new();
    collect_plan_files(dir, dir, &mut files).map_err(|e| {
        Failure::input(anyhow::anyhow!(
            "{}: cannot read the plans: {e}",
            dir.display()
        ))
    })?;
    if files.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "{}: no saved plans (*.json, *.txt) found",
            dir.display()
        )));
    }
    files.sort();
    let mut reports = Vec::new();
    for (id, path) in files {
        let plan = super::saved::load_plan(&path)?;
        let baseline = load_baseline(&store, &id)?;
        let ctx = Context {
            query_id: &id,
            status: QueryStatus::Ok,
            error: None,
            plan: Some(&plan),
            runs: &[],
            baseline: baseline.as_ref().map(|b| BaselineCtx {
                record: &b.record,
                plan: &b.plan,
            }),
            now: Observed {
                environment: None,
                settings: Some(&plan.settings),
                server_version: None,
                advice: None,
                generic: None,
                planned: None,
                history: None,
            },
            thresholds,
        };
        let findings = rules::analyze(&ctx, rules_config);
        let changes = rules::changes::changes(&ctx);
        reports.push(QueryReport::build(
            &QueryResult {
                id: &id,
                status: QueryStatus::Ok,
                error: None,
                skip_reason: None,
                plan: Some(&plan),
                runs: &[],
                baseline: baseline.as_ref().map(|b| &b.record),
                findings: &findings,
                params: None,
                changes: &changes,
            },
            include_plans,
        ));
    }
    Ok(Report::new(None, reports))
}

fn collect_plan_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_plan_files(root, &path, out)?;
            continue;
        }
        let Some(stem) = [".plan.json", ".plan.txt", ".json", ".txt"]
            .iter()
            .find_map(|ext| name.strip_suffix(ext))
        else {
            continue;
        };
        let relative = path
            .parent()
            .and_then(|p| p.strip_prefix(root).ok())
            .map(|p| p.join(stem))
            .unwrap_or_else(|| PathBuf::from(stem));
        out.push((relative.to_string_lossy().into_owned(), path));
    }
    Ok(())
}

/// A baseline's query run again now ([`run_again`]).
#[derive(Debug)]
pub struct Rerun {
    /// The median run's plan.
    pub plan: Plan,
    pub runs: Vec<crate::baseline::RunFigures>,
    /// Today's statistics and indexes of the relations of both plans.
    pub environment: crate::baseline::Environment,
    pub server_version: String,
    pub params: Option<ParamValues>,
}

/// Runs the query of `record` (found by id in the query set of
/// `options.config`) again now, as `check` would: admitted by the same
/// rules, the baseline's values bound again while its SQL is unchanged.
/// `old` is the baseline's plan, whose relations' environment is read too;
/// `source` names the baseline in errors.
pub async fn run_again(
    options: &Options,
    source: &str,
    record: &Baseline,
    old: &Plan,
) -> Result<Rerun, Failure> {
    let config = &options.config;
    let set = crate::queryset::load(&config.queries).map_err(Failure::input)?;
    let query = set
        .queries()
        .iter()
        .find(|q| q.id == record.query_id)
        .cloned()
        .ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "{source}: no query `{}` in {} to run again",
                record.query_id,
                config.queries.display()
            ))
        })?;
    let stored: BTreeMap<String, ParamValues> = record
        .params
        .clone()
        .filter(|_| record.sql_sha256 == super::baseline::sha256_hex(&query.sql))
        .map(|p| (query.id.clone(), p))
        .into_iter()
        .collect();
    let stats = run::load_stats(config)?;
    let set = run::run_set(vec![query], options, stats.as_ref(), &stored).await?;
    let outcome = set.runs.into_iter().next().map(|r| r.outcome);
    let measured = match outcome {
        Some(Outcome::Ok(m)) => m,
        Some(Outcome::Error { message, .. } | Outcome::Timeout { message })
        | Some(Outcome::Skipped { reason: message }) => {
            return Err(Failure::input(anyhow::anyhow!(
                "{}: the query could not be run again: {message}",
                record.query_id
            )));
        }
        None => return Err(Failure::input(anyhow::anyhow!("interrupted"))),
    };
    let plan = measured.median_run().plan.clone();
    let environment = super::baseline::environment_for(&set.runner, &[&plan, old]).await;
    Ok(Rerun {
        plan,
        runs: measured.runs.iter().map(|r| r.figures.clone()).collect(),
        environment,
        server_version: set.server.version.clone(),
        params: measured.params.clone(),
    })
}
