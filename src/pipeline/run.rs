//! Loading, admitting and running a query set.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Note, Options};
use crate::config::Config;
use crate::conn::ConnParams;
use crate::error::Failure;
use crate::plan::Plan;
use crate::queryset::{self, ParamValues, Query};
use crate::rules::{QueryError, QueryStatus};
use crate::runner::{Event, Job, Outcome, Policy, Refusal, RunOptions, Runner, ServerInfo};
use crate::stats::Loaded;

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
    /// Stopped by Ctrl-C (with [`Options::stop_on_ctrl_c`]).
    pub interrupted: bool,
    pub runner: Arc<Runner>,
    /// What the run has to say (sequences a DML query moved).
    pub notes: Vec<Note>,
}

/// An outcome as the report has it: the status, the error (a timeout is
/// SQLSTATE 57014), why it was skipped, and the measurement when it ran.
pub(crate) fn status_of(
    outcome: &Outcome,
) -> (
    QueryStatus,
    Option<QueryError>,
    Option<&str>,
    Option<&crate::runner::Measured>,
) {
    match outcome {
        Outcome::Ok(m) => (QueryStatus::Ok, None, None, Some(m)),
        Outcome::Error { message, sqlstate } => (
            QueryStatus::Error,
            Some(QueryError {
                message: message.clone(),
                sqlstate: sqlstate.clone(),
            }),
            None,
            None,
        ),
        Outcome::Timeout { message } => (
            QueryStatus::Timeout,
            Some(QueryError {
                message: message.clone(),
                sqlstate: Some("57014".to_owned()),
            }),
            None,
            None,
        ),
        Outcome::Skipped { reason } => (QueryStatus::Skipped, None, Some(reason.as_str()), None),
    }
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
    for query in &selected {
        config
            .thresholds
            .with_overrides(&query.thresholds)
            .map_err(|e| {
                Failure::input(anyhow::anyhow!("{}: thresholds: {e}", query.path.display()))
            })?;
    }
    Ok(selected.into_iter().cloned().collect())
}

/// The runner's admission policy under this configuration.
pub(crate) fn policy(config: &Config) -> Policy {
    Policy {
        allow_dml: config.allow_dml,
        params: config.params,
    }
}

/// Connects the runner for the set (exit 3 when the server cannot be
/// reached), its sessions planning with the `--stats` file `stats` (read
/// by [`load_stats`]) when there is one; what that file cannot do here goes
/// to `notes`.
pub(crate) async fn open(
    options: &Options,
    stats: Option<&Loaded>,
    notes: &mut Vec<Note>,
) -> Result<Arc<Runner>, Failure> {
    let mut run = options.config.run.clone();
    if let Some(loaded) = stats {
        run.session = stats_session(loaded, &options.conn, notes).await?;
    }
    Ok(Arc::new(
        Runner::connect(options.conn.clone(), run)
            .await
            .map_err(Failure::database)?,
    ))
}

/// The `--stats` file, read (and checked) once, before anything runs: a
/// broken file is an input error naming it. Its hash and the statistics the
/// sessions plan with come from this one reading.
pub(crate) fn load_stats(config: &Config) -> Result<Option<Loaded>, Failure> {
    config
        .stats
        .as_deref()
        .map(crate::stats::read)
        .transpose()
        .map_err(Failure::input)
}

/// Refuses (exit 2) to compare with files recorded under another
/// statistics file than this run's ([`crate::stats::mismatch`]), unless
/// [`Options::allow_stats_mismatch`], which only warns.
pub(crate) fn refuse_other_stats(
    options: &Options,
    current: Option<&str>,
    recorded: &[(std::path::PathBuf, Option<String>)],
    notes: &mut Vec<Note>,
) -> Result<(), Failure> {
    let Some(mismatch) = crate::stats::mismatch(current, options.config.stats.as_deref(), recorded)
    else {
        return Ok(());
    };
    if options.allow_stats_mismatch {
        notes.push(Note::warn(format!(
            "{} file(s) recorded with another statistics file, compared anyway (--allow-stats-mismatch)",
            mismatch.count
        )));
        return Ok(());
    }
    Err(Failure::input(mismatch))
}

/// `--stats FILE`: what the run's sessions add to plan with the file's
/// statistics; what the file cannot do here goes to `notes`.
async fn stats_session(
    loaded: &Loaded,
    conn: &ConnParams,
    notes: &mut Vec<Note>,
) -> Result<crate::runner::SessionSetup, Failure> {
    let path = &loaded.path;
    let client = conn.connect().await.map_err(Failure::database)?;
    let (version, version_num) = crate::stats::server_version(&client).await.map_err(|e| {
        Failure::database(anyhow::anyhow!(
            "cannot read the server version: {}",
            crate::conn::describe_query_error(&e)
        ))
    })?;
    let prepared = crate::stats::prepare(&client, loaded, version_num, &version)
        .await
        .map_err(|e| Failure::database(anyhow::anyhow!("--stats {}: {e}", path.display())))?;
    notes.extend(prepared.warnings(path).into_iter().map(Note::warn));
    Ok(prepared.session())
}

/// Where [`run_on`] sends each query's outcome as soon as it is known: the
/// query's index in the set and a copy of its outcome.
pub(crate) type Finished = tokio::sync::mpsc::UnboundedSender<(usize, Outcome)>;

/// Runs the selected queries on `runner`. Refused and skipped queries come
/// back as `Outcome::Skipped` without touching the server. A query without
/// values whose id is in `stored` binds those (a baseline's sampled
/// values). With `finished`, each outcome is also sent there when its
/// query ends (the sender is dropped when the run is over).
pub(crate) async fn run_on(
    runner: Arc<Runner>,
    queries: Vec<Query>,
    options: &Options,
    finished: Option<Finished>,
    stored: &BTreeMap<String, ParamValues>,
) -> SetRun {
    let policy = policy(&options.config);
    let mut jobs = Vec::new();
    let mut slots: Vec<Result<usize, Refusal>> = Vec::new();
    for query in &queries {
        match runner.admit(query, &policy) {
            Ok(job) => {
                slots.push(Ok(jobs.len()));
                jobs.push(job.with_stored(stored.get(&query.id).cloned()));
            }
            Err(refusal) => slots.push(Err(refusal)),
        }
    }
    // Job index -> query index, for `finished`.
    let query_of: Vec<usize> = slots
        .iter()
        .enumerate()
        .filter_map(|(query, slot)| slot.as_ref().ok().map(|_| query))
        .collect();
    let on_event = {
        let listener = options.on_event.clone();
        Arc::new(move |event: Event<'_>| {
            if let Some(listener) = &listener {
                listener(event.clone());
            }
            if let (Some(sink), Event::Finished { index, outcome, .. }) = (&finished, &event) {
                // A closed receiver only means nobody listens any more.
                let _ = sink.send((query_of[*index], (*outcome).clone()));
            }
        }) as Arc<dyn Fn(Event<'_>) + Send + Sync>
    };
    let watcher = options.stop_on_ctrl_c.then(|| {
        let runner = runner.clone();
        let cancel = runner.cancel_flag();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.store(true, Ordering::SeqCst);
                runner.cancel_running().await;
            }
        })
    });
    let outcomes = runner.run_all(Arc::new(jobs), on_event.clone()).await;
    // The last sender of `finished` goes with it: its receiver sees the end.
    drop(on_event);
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    // Sequences are not rolled back: say which ones a DML query moved.
    let mut notes = Vec::new();
    for (query, slot) in queries.iter().zip(&slots) {
        if let Ok(index) = slot
            && let Some(Outcome::Ok(measured)) = outcomes.get(*index)
            && let Some(note) = measured.sequence_note()
        {
            notes.push(Note::say(format!("{}: {note}", query.id)));
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
                Err(refusal) => Outcome::Skipped {
                    reason: refusal.to_string(),
                },
            };
            QueryRun { query, outcome }
        })
        .collect();
    SetRun {
        server: runner.server().clone(),
        runs,
        interrupted,
        runner,
        notes,
    }
}

/// Runs the selected queries on a new runner, like [`run_on`], planning
/// with `stats` ([`load_stats`]).
pub(crate) async fn run_set(
    queries: Vec<Query>,
    options: &Options,
    stats: Option<&Loaded>,
    stored: &BTreeMap<String, ParamValues>,
) -> Result<SetRun, Failure> {
    let mut notes = Vec::new();
    let runner = open(options, stats, &mut notes).await?;
    let mut set = run_on(runner, queries, options, None, stored).await;
    notes.append(&mut set.notes);
    set.notes = notes;
    Ok(set)
}

/// Plans one statement on the database (EXPLAIN without ANALYZE), the way
/// `check --no-analyze` would: classified first (DDL and several
/// statements are refused; DML is fine, as nothing executes), then in a
/// read-only transaction that is rolled back (the planner may still call
/// functions on constants), on a session with planguard's timeouts.
/// `source` names the statement in errors (`--sql`).
pub async fn plan_query(conn: ConnParams, source: &str, sql: &str) -> Result<Plan, Failure> {
    let query = Query::parse("sql", Path::new(source), sql).map_err(Failure::input)?;
    let options = RunOptions {
        analyze: false,
        runs: 1,
        warmup: 0,
        ..RunOptions::default()
    };
    let policy = Policy {
        allow_dml: true,
        params: None,
    };
    // Refused before connecting: nothing reaches the server.
    if let Some(reason) = query.refusal(policy.allow_dml, options.analyze) {
        return Err(Failure::input(anyhow::anyhow!(
            "{source}: refused: {reason}"
        )));
    }
    let runner = Arc::new(
        Runner::connect(conn, options)
            .await
            .map_err(Failure::database)?,
    );
    let job: Job = runner
        .admit(&query, &policy)
        .map_err(|reason| Failure::input(anyhow::anyhow!("{source}: {reason}")))?;
    let outcome = runner
        .run_all(Arc::new(vec![job]), Arc::new(|_| {}))
        .await
        .into_iter()
        .next();
    let not_planned = |message: String| {
        Failure::input(anyhow::anyhow!("the query could not be planned: {message}"))
    };
    match outcome {
        Some(Outcome::Ok(measured)) => Ok(measured.median_run().plan.clone()),
        Some(Outcome::Error { message, .. } | Outcome::Timeout { message }) => {
            Err(not_planned(message))
        }
        Some(Outcome::Skipped { reason }) => Err(not_planned(reason)),
        None => Err(not_planned("interrupted".to_owned())),
    }
}
