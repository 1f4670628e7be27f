//! Running a query set for `baseline`, `check` and `snapshot`: load and
//! select the queries, decide what may run, run it with progress on
//! stderr, and stop cleanly on Ctrl-C.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use indicatif::{ProgressBar, ProgressStyle};

use super::GlobalArgs;
use crate::config::Config;
use crate::conn::ConnParams;
use crate::error::Failure;
use crate::queryset::{self, ParamValues, Query};
use crate::runner::{Event, Job, Outcome, Runner, ServerInfo};
use std::collections::BTreeMap;

/// One query and what came of it.
#[derive(Debug)]
pub struct QueryRun {
    pub query: Query,
    pub outcome: Outcome,
}

/// A finished (or interrupted) run of the set.
pub struct SetRun {
    pub server: ServerInfo,
    pub runs: Vec<QueryRun>,
    pub interrupted: bool,
    pub runner: Arc<Runner>,
}

/// Loads the set the configuration names and keeps the selected queries.
/// Every query's `thresholds` directive is checked against the
/// configuration's thresholds here, before anything is sent to a server:
/// a typo costs no run.
pub fn load_queries(config: &Config) -> Result<Vec<Query>, Failure> {
    let set = queryset::load(&config.queries).map_err(Failure::input)?;
    let selected = set
        .select(&config.query_globs, &config.tags)
        .map_err(Failure::input)?;
    if selected.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "{}: no query matches the selection",
            config.queries.display()
        )));
    }
    let name = config
        .file
        .as_deref()
        .map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
    let thresholds = crate::rules::Thresholds::from_table(&config.thresholds)
        .map_err(|e| Failure::input(anyhow::anyhow!("{name}: [thresholds]: {e}")))?;
    crate::rules::RulesConfig::from_table(&config.rules)
        .map_err(|e| Failure::input(anyhow::anyhow!("{name}: {e}")))?;
    for query in &selected {
        thresholds.with_overrides(&query.thresholds).map_err(|e| {
            Failure::input(anyhow::anyhow!("{}: thresholds: {e}", query.path.display()))
        })?;
    }
    Ok(selected.into_iter().cloned().collect())
}

/// Whether a query may run under this configuration, and how: a job, or
/// the reason it is not run. Nothing is sent to a server for a refusal.
pub fn admit(query: &Query, config: &Config) -> Result<Job, String> {
    if let Some(reason) = &query.skip {
        return Err(format!("skipped by its directive: {reason}"));
    }
    if let Some(reason) = query.refusal(config.allow_dml, config.run.analyze) {
        return Err(format!("refused: {reason}"));
    }
    let params = if query.params.is_empty() {
        None
    } else {
        Some(query.params.iter().map(|p| p.as_text()).collect())
    };
    Ok(Job {
        id: query.id.clone(),
        sql: query.sql.clone(),
        params,
        param_count: query.param_count,
        param_mode: query.param_mode.or(config.params).unwrap_or_default(),
        stored: None,
        // Row locks and writes need a read-write transaction; it is rolled
        // back all the same.
        read_only: query.statement.is_read_only(),
    })
}

/// Runs the selected queries. Refused and skipped queries come back as
/// `Outcome::Skipped` without touching the server. A query without values
/// whose id is in `stored` binds those (a baseline's sampled values).
pub async fn run_set(
    queries: Vec<Query>,
    config: &Config,
    global: &GlobalArgs,
    stored: &BTreeMap<String, ParamValues>,
) -> Result<SetRun, Failure> {
    let runner = open(config, global).await?;
    Ok(run_on(runner, queries, config, global, None, stored).await)
}

/// Where [`run_on`] sends each query's outcome as soon as it is known: the
/// query's index in the set and a copy of its outcome.
pub type Finished = tokio::sync::mpsc::UnboundedSender<(usize, Outcome)>;

/// Connects the runner for the set (exit 3 when the server cannot be
/// reached).
pub async fn open(config: &Config, global: &GlobalArgs) -> Result<Arc<Runner>, Failure> {
    let params = ConnParams::resolve(global.dbname.as_deref()).map_err(Failure::input)?;
    let mut options = config.run.clone();
    if let Some(path) = &config.stats {
        options.session = stats_session(path, &params, global).await?;
    }
    Ok(Arc::new(
        Runner::connect(params, options)
            .await
            .map_err(Failure::database)?,
    ))
}

/// The hash of the `--stats` file, read (and checked) before anything
/// runs: a broken file is an input error naming it.
pub fn stats_sha256(config: &Config) -> Result<Option<String>, Failure> {
    config
        .stats
        .as_deref()
        .map(|path| crate::stats::read(path).map(|l| l.sha256))
        .transpose()
        .map_err(Failure::input)
}

/// Refuses (exit 2) to compare with files recorded under another
/// statistics file than this run's ([`crate::stats::mismatch`]), unless
/// `allow`, which only warns.
pub fn refuse_other_stats(
    config: &Config,
    current: Option<&str>,
    recorded: &[(std::path::PathBuf, Option<String>)],
    allow: bool,
) -> Result<(), Failure> {
    let Some(mismatch) = crate::stats::mismatch(current, config.stats.as_deref(), recorded) else {
        return Ok(());
    };
    if allow {
        eprintln!(
            "warning: {} file(s) recorded with another statistics file, compared anyway (--allow-stats-mismatch)",
            mismatch.count
        );
        return Ok(());
    }
    Err(Failure::input(mismatch))
}

/// `--stats FILE`: what the run's sessions add to plan with the file's
/// statistics, said once on stderr (missing tables, what cannot be used).
async fn stats_session(
    path: &std::path::Path,
    params: &ConnParams,
    global: &GlobalArgs,
) -> Result<crate::runner::SessionSetup, Failure> {
    let loaded = crate::stats::read(path).map_err(Failure::input)?;
    let client = params.connect().await.map_err(Failure::database)?;
    let (version, version_num) = super::stats::server_version(&client).await?;
    let prepared = crate::stats::prepare(&client, &loaded, version_num, &version)
        .await
        .map_err(|e| Failure::database(anyhow::anyhow!("--stats {}: {e}", path.display())))?;
    if !global.quiet {
        super::stats::say_prepared(path, &prepared);
    }
    Ok(prepared.session())
}

/// Runs the selected queries on `runner`, like [`run_set`]; with
/// `finished`, each outcome is also sent there when its query ends (the
/// sender is dropped when the run is over).
pub async fn run_on(
    runner: Arc<Runner>,
    queries: Vec<Query>,
    config: &Config,
    global: &GlobalArgs,
    finished: Option<Finished>,
    stored: &BTreeMap<String, ParamValues>,
) -> SetRun {
    let mut jobs = Vec::new();
    let mut slots: Vec<Result<usize, String>> = Vec::new();
    for query in &queries {
        match admit(query, config) {
            Ok(mut job) => {
                job.stored = stored.get(&query.id).cloned();
                slots.push(Ok(jobs.len()));
                jobs.push(job);
            }
            Err(reason) => slots.push(Err(reason)),
        }
    }
    let progress = Progress::new(jobs.len(), global);
    // Job index -> query index, for `finished`.
    let query_of: Vec<usize> = slots
        .iter()
        .enumerate()
        .filter_map(|(query, slot)| slot.as_ref().ok().map(|_| query))
        .collect();
    let on_event = {
        let progress = progress.clone();
        Arc::new(move |event: Event<'_>| {
            progress.event(&event);
            if let (Some(sink), Event::Finished { index, outcome, .. }) = (&finished, &event) {
                // A closed receiver only means nobody listens any more.
                let _ = sink.send((query_of[*index], (*outcome).clone()));
            }
        }) as Arc<dyn Fn(Event<'_>) + Send + Sync>
    };
    let cancel = runner.cancel_flag();
    let watcher = {
        let runner = runner.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.store(true, Ordering::SeqCst);
                runner.cancel_running().await;
            }
        })
    };
    let outcomes = runner.run_all(Arc::new(jobs), on_event.clone()).await;
    // The last sender of `finished` goes with it: its receiver sees the end.
    drop(on_event);
    watcher.abort();
    progress.finish();
    if !global.quiet {
        // Sequences are not rolled back: say which ones a DML query moved.
        for (query, slot) in queries.iter().zip(&slots) {
            if let Ok(index) = slot
                && let Some(Outcome::Ok(measured)) = outcomes.get(*index)
                && let Some(note) = measured.sequence_note()
            {
                eprintln!("note: {}: {note}", query.id);
            }
        }
    }
    let interrupted = runner.cancel_flag().load(Ordering::SeqCst);
    let mut outcomes: Vec<Option<Outcome>> = outcomes.into_iter().map(Some).collect();
    let runs = queries
        .into_iter()
        .zip(slots)
        .map(|(query, slot)| {
            let outcome = match slot {
                Ok(index) => outcomes[index].take().unwrap_or(Outcome::Skipped {
                    reason: "not run".to_owned(),
                }),
                Err(reason) => Outcome::Skipped { reason },
            };
            QueryRun { query, outcome }
        })
        .collect();
    SetRun {
        server: runner.server().clone(),
        runs,
        interrupted,
        runner,
    }
}

/// Progress on stderr: a bar on a terminal, a line per query with -v,
/// nothing otherwise.
#[derive(Clone)]
struct Progress {
    bar: Option<ProgressBar>,
    verbose: bool,
}

impl Progress {
    fn new(total: usize, global: &GlobalArgs) -> Progress {
        let bar =
            (!global.quiet && global.verbose == 0 && std::io::stderr().is_terminal()).then(|| {
                let bar = ProgressBar::new(total as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] query {pos}/{len} {wide_msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            });
        Progress {
            bar,
            verbose: !global.quiet && global.verbose > 0,
        }
    }

    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Started { id, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(id.to_string());
                }
            }
            Event::Finished {
                index,
                total,
                id,
                outcome,
                elapsed,
            } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                if self.verbose {
                    let status = match outcome {
                        Outcome::Ok(m) if m.retried => {
                            "ok (retried after a lost connection)".to_owned()
                        }
                        Outcome::Ok(_) => "ok".to_owned(),
                        Outcome::Error { message, .. } => format!("error: {message}"),
                        Outcome::Timeout { message } => format!("timeout: {message}"),
                        Outcome::Skipped { reason } => format!("skipped: {reason}"),
                    };
                    eprintln!(
                        "[{}/{total}] {id}: {status} ({:.1} s)",
                        index + 1,
                        elapsed.as_secs_f64()
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
