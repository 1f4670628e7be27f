//! Stage `runner`: EXPLAIN execution against a live server.
//!
//! Promises (DESIGN.md, safety model): every statement runs inside
//! `BEGIN ... ROLLBACK`, read-only statements in a `READ ONLY` transaction;
//! the EXPLAIN is sent through the extended protocol, so the server itself
//! refuses a second statement hidden in the text; parameters are bound as
//! real parameters (sent in text form, typed by the server), never pasted
//! into SQL; each session sets `statement_timeout`, `lock_timeout`,
//! `idle_in_transaction_session_timeout` and `application_name`. One
//! query's failure never stops the run; a dropped connection is reopened and
//! that query retried once. While the server restarts, reopening is tried
//! again for up to [`RECONNECT_WINDOW`]; a server still unreachable after
//! that is lost for the rest of the run: the remaining queries fail at once
//! with the reason ([`Runner::lost`]) instead of each waiting in turn.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::baseline::RunFigures;
use crate::conn::ConnParams;
use crate::plan::Plan;
use crate::queryset::{ParamMode, Query};

mod environment;
mod generic;
mod measure;
mod params;
mod sequences;
mod session;

pub use crate::queryset::ParamValues;
pub(crate) use environment::quoted_names;
pub use environment::{
    capture_environment, capture_environment_of, environment_subset, relations_in,
};
pub use generic::{CommonPlan, GenericRun};
pub use measure::{NotPlanned, figures, median_index};
pub(crate) use measure::{text_params, untyped};
pub use sequences::SequenceAdvance;
pub use session::RECONNECT_WINDOW;

/// How to run the queries.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// EXPLAIN ANALYZE (executes, rolled back) or plain EXPLAIN.
    pub analyze: bool,
    /// Counted runs per query.
    pub runs: u32,
    /// Uncounted runs before them.
    pub warmup: u32,
    /// Concurrent sessions.
    pub jobs: u32,
    /// `statement_timeout`.
    pub timeout: Duration,
    /// `lock_timeout`.
    pub lock_timeout: Duration,
    /// Planner settings applied with `SET LOCAL` (`[settings]`).
    pub settings: BTreeMap<String, String>,
    /// Add VERBOSE to EXPLAIN.
    pub verbose: bool,
    /// Add WAL to EXPLAIN (with ANALYZE).
    pub wal: bool,
    /// What every session and transaction of the run adds (`--stats`).
    pub session: SessionSetup,
}

/// Statements a run adds to its sessions, kept apart from the rest of the
/// runner: the planner statistics of `--stats` (`stats::import`). Empty by
/// default.
#[derive(Debug, Clone, Default)]
pub struct SessionSetup {
    /// Run once when a session opens, after planguard's settings (`LOAD`,
    /// `SET` of session settings).
    pub on_open: String,
    /// Run right after each `BEGIN`, inside the transaction that is rolled
    /// back.
    pub per_transaction: String,
    /// The hash of the statistics file the statements come from, which
    /// baselines and snapshots record.
    pub stats_sha256: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            analyze: true,
            runs: 3,
            warmup: 1,
            jobs: 1,
            timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(5),
            settings: BTreeMap::new(),
            verbose: false,
            wal: false,
            session: SessionSetup::default(),
        }
    }
}

/// One statement to run, admitted by [`Runner::admit`]: only a
/// classified statement of the query set becomes a job, so no public path
/// runs DDL, several statements or an unallowed write.
#[derive(Debug, Clone, Default)]
pub struct Job {
    /// The query id.
    pub(crate) id: String,
    /// The statement, one only, without a trailing semicolon.
    pub(crate) sql: String,
    /// Values for `$1..$n` in PostgreSQL's text input form (None is NULL),
    /// or None when the query has no values.
    pub(crate) params: Option<Vec<Option<String>>>,
    /// Number of `$n` placeholders in the statement.
    pub(crate) param_count: usize,
    /// How values are found when `params` is None.
    pub(crate) param_mode: ParamMode,
    /// Values a baseline recorded for this query, reused (before sampling)
    /// so that a check binds what the baseline bound.
    pub(crate) stored: Option<ParamValues>,
    /// Run in a `READ ONLY` transaction.
    pub(crate) read_only: bool,
}

/// Why [`Runner::admit`] turns a query away; nothing was sent to the
/// server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Its `skip` directive, with the reason given there.
    #[error("skipped by its directive: {0}")]
    Skipped(String),
    /// DDL, several statements, a write without `allow_dml`, a statement
    /// planguard cannot parse under ANALYZE...: why, in one sentence.
    #[error("refused: {0}")]
    Refused(String),
}

/// What a runner may run beyond plain reads, and how it finds values for
/// parameterized queries whose file does not say.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// `--allow-dml`: INSERT, UPDATE, DELETE and MERGE run (always rolled
    /// back). A query's own `allow_dml` directive adds to it.
    pub allow_dml: bool,
    /// `--params`: the mode for queries without a `params` directive.
    pub params: Option<ParamMode>,
}

impl Job {
    /// The query id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The statement.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// This job with these values bound to `$1..$n` (text input form; None
    /// is NULL) instead of the query file's.
    pub fn with_values(self, values: Vec<Option<String>>) -> Job {
        Job {
            params: Some(values),
            ..self
        }
    }

    /// This job, binding the values a baseline recorded when the query has
    /// none of its own.
    pub fn with_stored(self, stored: Option<ParamValues>) -> Job {
        Job { stored, ..self }
    }

    /// A job for any text, classified by nobody: for planguard's own tests
    /// of the server-side defences (a second statement refused by the
    /// extended protocol), never for running a query set.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn unclassified(id: &str, sql: &str, param_count: usize, param_mode: ParamMode) -> Job {
        Job {
            id: id.to_owned(),
            sql: sql.to_owned(),
            param_count,
            param_mode,
            ..Job::default()
        }
    }
}

/// What came of one query.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// It ran; the counted runs and which one is the median.
    Ok(Measured),
    /// The server refused or failed it.
    Error {
        message: String,
        sqlstate: Option<String>,
    },
    /// It hit `statement_timeout` (or was cancelled).
    Timeout { message: String },
    /// Not run, with the reason.
    Skipped { reason: String },
}

/// The counted runs of one query.
#[derive(Debug, Clone)]
pub struct Measured {
    pub runs: Vec<Run>,
    /// Index of the median run in `runs`.
    pub median: usize,
    /// The plan came from `EXPLAIN (GENERIC_PLAN)`: no values, no ANALYZE.
    pub generic_plan: bool,
    /// The values bound to the parameters and where they came from (None
    /// for a statement without parameters).
    pub params: Option<ParamValues>,
    /// The query was retried after a lost connection.
    pub retried: bool,
    /// Sequences that moved while a job that writes ran (not rolled back).
    pub sequences: Vec<SequenceAdvance>,
    /// For a parameterized query that ran with values: its generic plan
    /// at the same values (one run, not one per counted run), or why
    /// there is none. None for a query without parameters or values.
    pub generic: Option<Result<Box<GenericRun>, NotPlanned>>,
}

impl Measured {
    /// The median run.
    pub fn median_run(&self) -> &Run {
        &self.runs[self.median]
    }
}

/// One EXPLAIN run.
#[derive(Debug, Clone)]
pub struct Run {
    /// The server's EXPLAIN JSON output.
    pub json: serde_json::Value,
    /// It, parsed.
    pub plan: Plan,
    /// Its headline figures.
    pub figures: RunFigures,
}

/// Server facts read once per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// `server_version`, e.g. `15.18`.
    pub version: String,
    /// `server_version_num`, e.g. 150018.
    pub version_num: u32,
}

/// What the runner reports while it works.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Started {
        index: usize,
        total: usize,
        id: &'a str,
    },
    Finished {
        index: usize,
        total: usize,
        id: &'a str,
        outcome: &'a Outcome,
        elapsed: Duration,
    },
}

/// Runs jobs on a server.
pub struct Runner {
    params: ConnParams,
    options: RunOptions,
    server: ServerInfo,
    cancelled: Arc<AtomicBool>,
    sessions: Mutex<Vec<Client>>,
    /// Cancel tokens of every session opened, for Ctrl-C.
    tokens: std::sync::Mutex<Vec<tokio_postgres::CancelToken>>,
    /// Why the server is gone, once a lost connection could not be reopened.
    lost: std::sync::Mutex<Option<String>>,
}

impl Runner {
    /// Whether a query may run on this runner under `policy`, and how: a
    /// job, or why not (skipped by its directive, or refused: DDL, several
    /// statements, a write without `allow_dml`, a write under ANALYZE...).
    /// Nothing is sent to the server for a refusal.
    pub fn admit(&self, query: &Query, policy: &Policy) -> Result<Job, Refusal> {
        if let Some(reason) = &query.skip {
            return Err(Refusal::Skipped(reason.clone()));
        }
        if let Some(reason) = query.refusal(policy.allow_dml, self.options.analyze) {
            return Err(Refusal::Refused(reason));
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
            param_mode: query.param_mode.or(policy.params).unwrap_or_default(),
            stored: None,
            // Row locks and writes need a read-write transaction; it is
            // rolled back all the same.
            read_only: query.statement.is_read_only(),
        })
    }

    /// The server's version.
    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// The options in use.
    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    /// A flag that, once set, stops the run after the statements in flight
    /// (which are cancelled on the server).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    /// Runs every job on up to `jobs` sessions and returns the outcomes in
    /// job order. `on_event` is called from the worker tasks.
    pub async fn run_all(
        self: &Arc<Self>,
        jobs: Arc<Vec<Job>>,
        on_event: Arc<dyn Fn(Event<'_>) + Send + Sync>,
    ) -> Vec<Outcome> {
        let total = jobs.len();
        let next = Arc::new(AtomicUsize::new(0));
        let results: Arc<Mutex<Vec<Option<Outcome>>>> = Arc::new(Mutex::new(vec![None; total]));
        let workers = (self.options.jobs.max(1) as usize).min(total.max(1));
        let mut handles = Vec::new();
        for _ in 0..workers {
            let runner = self.clone();
            let jobs = jobs.clone();
            let next = next.clone();
            let results = results.clone();
            let on_event = on_event.clone();
            handles.push(tokio::spawn(async move {
                let mut client: Option<Client> = None;
                loop {
                    if runner.cancelled.load(Ordering::SeqCst) {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(index) else { break };
                    on_event(Event::Started {
                        index,
                        total,
                        id: &job.id,
                    });
                    let started = Instant::now();
                    let outcome = runner.run_job(job, &mut client).await;
                    on_event(Event::Finished {
                        index,
                        total,
                        id: &job.id,
                        outcome: &outcome,
                        elapsed: started.elapsed(),
                    });
                    results.lock().await[index] = Some(outcome);
                }
                if let Some(client) = client {
                    runner.give_back(client).await;
                }
            }));
        }
        for handle in handles {
            let _ = handle.await;
        }
        let results = std::mem::take(&mut *results.lock().await);
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or(Outcome::Skipped {
                    reason: "interrupted before it ran".to_owned(),
                })
            })
            .collect()
    }
}

/// Whether a setting name can be written into `SET LOCAL` as it is:
/// letters, digits, `_`, `$` and the `.` of extension settings.
pub fn valid_setting_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
}
