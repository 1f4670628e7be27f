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

use postgres_types::{Format, IsNull, ToSql, Type, to_sql_checked};
use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::baseline::RunFigures;
use crate::conn::{ConnParams, ConnectError};
use crate::plan::{self, Plan};
use crate::queryset::{ParamMode, Query};

mod environment;
mod generic;
mod params;
mod sequences;

pub use crate::queryset::ParamValues;
pub(crate) use environment::quoted_names;
pub use environment::{
    capture_environment, capture_environment_of, environment_subset, relations_in,
};
pub use generic::{CommonPlan, GenericRun};
pub use sequences::SequenceAdvance;

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
    pub generic: Option<Result<Box<GenericRun>, String>>,
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

/// A parameter value sent in text form: the server parses it with the type
/// it infers for the placeholder, exactly as for a literal typed by hand,
/// but it is never part of the SQL text.
#[derive(Debug)]
pub(crate) struct TextParam(Option<String>);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
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

/// How long a lost connection is tried again (a server restarting with
/// `pg_ctl restart` is back well within it).
pub const RECONNECT_WINDOW: Duration = Duration::from_secs(10);

impl Runner {
    /// Connects once to learn the server version (that session is reused).
    pub async fn connect(params: ConnParams, options: RunOptions) -> Result<Runner, ConnectError> {
        let client = open_session(&params, &options).await?;
        let server = server_info(&client).await.map_err(|e| ConnectError {
            target: params.target(),
            reason: format!(
                "cannot read the server version: {}",
                crate::conn::describe_query_error(&e)
            ),
            sqlstate: None,
        })?;
        Ok(Runner {
            params,
            options,
            server,
            cancelled: Arc::new(AtomicBool::new(false)),
            tokens: std::sync::Mutex::new(vec![client.cancel_token()]),
            sessions: Mutex::new(vec![client]),
            lost: std::sync::Mutex::new(None),
        })
    }

    /// Whether a query may run on this runner under `policy`, and how: a
    /// job, or why not (skipped by its directive, or refused: DDL, several
    /// statements, a write without `allow_dml`, a write under ANALYZE...).
    /// Nothing is sent to the server for a refusal.
    pub fn admit(&self, query: &Query, policy: &Policy) -> Result<Job, String> {
        if let Some(reason) = &query.skip {
            return Err(format!("skipped by its directive: {reason}"));
        }
        if let Some(reason) = query.refusal(policy.allow_dml, self.options.analyze) {
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

    /// A session for other work (environment capture), returned with
    /// [`Runner::give_back`].
    pub async fn session(&self) -> Result<Client, ConnectError> {
        let reused = self.sessions.lock().await.pop();
        match reused {
            Some(client) if !client.is_closed() => Ok(client),
            _ => {
                let client = open_session(&self.params, &self.options).await?;
                if let Ok(mut tokens) = self.tokens.lock() {
                    tokens.push(client.cancel_token());
                }
                Ok(client)
            }
        }
    }

    /// Stops the run: no new query starts, and what runs now is cancelled
    /// on the server (its transaction then rolls back).
    pub async fn cancel_running(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let tokens = self.tokens.lock().map(|t| t.clone()).unwrap_or_default();
        for token in &tokens {
            self.params.cancel(token).await;
        }
    }

    /// Why the server was lost during the run (a dropped connection that
    /// could not be reopened within [`RECONNECT_WINDOW`]), if it was.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// A new session after a lost one, tried again while the server is
    /// restarting (refused connections, `57P03` "the database system is
    /// starting up" or "shutting down") for up to [`RECONNECT_WINDOW`].
    /// Authentication and configuration errors are not retried.
    async fn reopen(&self) -> Result<Client, ConnectError> {
        // Sessions waiting for reuse went down with the lost one, though
        // they may not know it yet: open a new one.
        self.sessions.lock().await.clear();
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            match self.session().await {
                Ok(client) => return Ok(client),
                Err(e) => {
                    if !is_transient(&e)
                        || self.cancelled.load(Ordering::SeqCst)
                        || started.elapsed() + pause > RECONNECT_WINDOW
                    {
                        return Err(e);
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// Returns a session for reuse.
    pub async fn give_back(&self, client: Client) {
        if !client.is_closed() {
            self.sessions.lock().await.push(client);
        }
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

    /// Runs one job: warm-up and counted runs; a lost connection is
    /// reopened and the job retried once.
    async fn run_job(&self, job: &Job, client: &mut Option<Client>) -> Outcome {
        if let Some(reason) = self.lost() {
            return Outcome::Error {
                message: format!("not run: {reason}"),
                sqlstate: None,
            };
        }
        let mut retried = false;
        loop {
            // The run connected once already: a session that cannot be
            // opened now means the server is restarting or gone.
            let opened = match client.take() {
                Some(c) if !c.is_closed() => Ok(c),
                // Ours closed, or a retry after a lost connection.
                Some(_) => self.reopen().await,
                None if retried => self.reopen().await,
                None => match self.session().await {
                    Ok(c) => Ok(c),
                    Err(_) => self.reopen().await,
                },
            };
            let session = match opened {
                Ok(c) => c,
                Err(e) => return self.lose(e),
            };
            let result = self.measure(job, &session).await;
            let lost = session.is_closed();
            if !lost {
                *client = Some(session);
            }
            match result {
                Err(MeasureError::Db(_))
                    if lost && !retried && !self.cancelled.load(Ordering::SeqCst) =>
                {
                    retried = true;
                    continue;
                }
                Err(MeasureError::Db(e)) => return error_outcome(&e, lost),
                Err(MeasureError::Plan(message)) => {
                    return Outcome::Error {
                        message,
                        sqlstate: None,
                    };
                }
                Err(MeasureError::Skip(reason)) => return Outcome::Skipped { reason },
                Ok(mut measured) => {
                    measured.retried = retried;
                    return Outcome::Ok(measured);
                }
            }
        }
    }

    /// Records that the server is gone (a session that could not be
    /// opened, after [`Runner::reopen`]'s tries) and gives the query's
    /// outcome.
    fn lose(&self, error: ConnectError) -> Outcome {
        let reason = if is_transient(&error) {
            format!(
                "the server went away during the run and was not back within {} s: {error}",
                RECONNECT_WINDOW.as_secs()
            )
        } else {
            format!("cannot open another session: {error}")
        };
        if let Ok(mut lost) = self.lost.lock() {
            lost.get_or_insert_with(|| reason.clone());
        }
        Outcome::Error {
            message: reason,
            sqlstate: error.sqlstate,
        }
    }

    fn generic_plan_available(&self) -> bool {
        self.server.version_num >= 160000
    }

    /// Plans `job` with plain EXPLAIN (nothing executes) in a transaction
    /// like a run's (READ ONLY when the statement is, the `[settings]`,
    /// rolled back), on `client`: what the index advisor re-plans with a
    /// hypothetical index in the session.
    pub async fn plan_only(&self, job: &Job, client: &Client) -> Result<Plan, String> {
        match self.measure_with(job, client, false).await {
            Ok(measured) => Ok(measured
                .runs
                .into_iter()
                .next()
                .map(|r| r.plan)
                .ok_or_else(|| "EXPLAIN returned no plan".to_owned())?),
            Err(MeasureError::Db(e)) => Err(crate::conn::describe_query_error(&e)),
            Err(MeasureError::Plan(message) | MeasureError::Skip(message)) => Err(message),
        }
    }

    async fn measure(&self, job: &Job, client: &Client) -> Result<Measured, MeasureError> {
        let (resolved, used) = self.resolve_params(job, client).await?;
        let watch = sequences::Watch::start(client, self.options.analyze && !job.read_only).await;
        let mut measured = self
            .measure_with(
                resolved.as_ref().unwrap_or(job),
                client,
                self.options.analyze,
            )
            .await?;
        let with_values = resolved.as_ref().unwrap_or(job);
        if with_values.param_count > 0 && with_values.params.is_some() {
            measured.generic = Some(
                self.measure_generic(with_values, used.as_ref(), client)
                    .await
                    .map(Box::new),
            );
        }
        measured.params = used;
        measured.sequences = watch.advanced(client).await;
        Ok(measured)
    }

    /// The values a parameterized job runs with: given, recorded by the
    /// baseline, or sampled; else the generic plan on PostgreSQL 16+; else
    /// a skip naming the parameter that got no value. Returns the job with
    /// its values bound (None: run `job` as it is) and what was used.
    async fn resolve_params(
        &self,
        job: &Job,
        client: &Client,
    ) -> Result<(Option<Job>, Option<ParamValues>), MeasureError> {
        if job.param_count == 0 {
            return Ok((None, None));
        }
        if let Some(values) = &job.params {
            return Ok((None, Some(ParamValues::given(values.clone()))));
        }
        let with_values = |values: &ParamValues| Job {
            params: Some(values.values.clone()),
            ..job.clone()
        };
        let reason = if job.param_mode == ParamMode::Generic {
            "params = \"generic\"".to_owned()
        } else {
            if let Some(stored) = job
                .stored
                .as_ref()
                .filter(|s| s.source != "generic" && s.values.len() == job.param_count)
            {
                let used = ParamValues {
                    source: "baseline".to_owned(),
                    ..stored.clone()
                };
                return Ok((Some(with_values(&used)), Some(used)));
            }
            match params::sample(job, client).await? {
                Ok(sampled) => return Ok((Some(with_values(&sampled)), Some(sampled))),
                Err(reason) => reason,
            }
        };
        if self.generic_plan_available() {
            return Ok((
                None,
                Some(ParamValues {
                    source: "generic".to_owned(),
                    values: Vec::new(),
                    types: Vec::new(),
                    origins: Vec::new(),
                    note: Some(reason),
                }),
            ));
        }
        Err(MeasureError::Skip(
            if job.param_mode == ParamMode::Generic {
                format!(
                    "params = \"generic\" needs PostgreSQL 16+ for EXPLAIN (GENERIC_PLAN); this server is {}",
                    self.server.version
                )
            } else {
                format!(
                    "{reason}; give values with `-- planguard: params = [...]`, or use PostgreSQL 16+ where the generic plan needs none (this server is {})",
                    self.server.version
                )
            },
        ))
    }

    async fn measure_with(
        &self,
        job: &Job,
        client: &Client,
        analyze: bool,
    ) -> Result<Measured, MeasureError> {
        let generic = job.param_count > 0 && job.params.is_none();
        let analyze = analyze && !generic;
        let explain = self.explain_sql(job, analyze, generic);
        let begin = self.begin_sql(job);
        let params = text_params(job);
        let typed = untyped(&params);
        let counted = if analyze { self.options.runs.max(1) } else { 1 };
        let warmup = if analyze { self.options.warmup } else { 0 };
        let mut runs = Vec::with_capacity(counted as usize);
        if generic {
            // Sent as is, the EXPLAIN would make the `$n` its own protocol
            // parameters, which must then be bound, and bound values give a
            // custom plan. So the statement alone is parsed by the server
            // first (Parse refuses a second statement hidden in it), then
            // the EXPLAIN goes by the simple protocol: one statement, since
            // the server found one in the text after `EXPLAIN (...)`.
            drop(client.prepare(&job.sql).await?);
        }
        for round in 0..warmup + counted {
            // One round trip: the three are pipelined on the connection.
            let (began, explained, rolled_back) = tokio::join!(
                client.batch_execute(&begin),
                explain_json(client, &explain, &typed, generic),
                client.batch_execute("ROLLBACK"),
            );
            began?;
            let json = explained?;
            rolled_back?;
            if round < warmup {
                continue;
            }
            let plan = plan::parse_json_value(&json).map_err(|e| {
                MeasureError::Plan(format!(
                    "the server's EXPLAIN output could not be read: {e}"
                ))
            })?;
            let figures = figures(&plan);
            runs.push(Run {
                json,
                plan,
                figures,
            });
        }
        let median = median_index(&runs);
        Ok(Measured {
            runs,
            median,
            generic_plan: generic,
            params: None,
            retried: false,
            sequences: Vec::new(),
            generic: None,
        })
    }

    pub(crate) fn begin_sql(&self, job: &Job) -> String {
        let mut sql = String::from(if job.read_only {
            "BEGIN READ ONLY"
        } else {
            "BEGIN"
        });
        for (name, value) in &self.options.settings {
            // Names are checked by the configuration (valid_setting_name).
            sql.push_str(&format!(
                "; SET LOCAL {name} = {}",
                crate::sql::quote_literal(value)
            ));
        }
        if !self.options.session.per_transaction.is_empty() {
            sql.push_str("; ");
            sql.push_str(&self.options.session.per_transaction);
        }
        sql
    }

    pub(crate) fn explain_sql(&self, job: &Job, analyze: bool, generic: bool) -> String {
        let mut options = Vec::new();
        if analyze {
            options.push("ANALYZE");
            options.push("BUFFERS");
            if self.options.wal {
                options.push("WAL");
            }
        }
        if generic {
            options.push("GENERIC_PLAN");
        }
        if self.options.verbose {
            options.push("VERBOSE");
        }
        options.push("SETTINGS");
        options.push("FORMAT JSON");
        format!("EXPLAIN ({}) {}", options.join(", "), job.sql)
    }
}

/// Runs one EXPLAIN (FORMAT JSON) and returns its output: through the
/// extended protocol with `params` bound, or by the simple protocol for a
/// generic plan (see [`Runner::measure_with`]).
async fn explain_json(
    client: &Client,
    explain: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
    generic: bool,
) -> Result<serde_json::Value, MeasureError> {
    if generic {
        let messages = client.simple_query(explain).await?;
        let text = messages.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        });
        return match text {
            Some(text) => serde_json::from_str(text).map_err(|e| {
                MeasureError::Plan(format!("the server's EXPLAIN output is not JSON: {e}"))
            }),
            None => Ok(serde_json::Value::Null),
        };
    }
    let rows = client.query_typed(explain, params).await?;
    Ok(match rows.first() {
        Some(row) => row.try_get(0)?,
        None => serde_json::Value::Null,
    })
}

/// A job's values as text parameters (NULL for None).
pub(crate) fn text_params(job: &Job) -> Vec<TextParam> {
    job.params
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(TextParam)
        .collect()
}

/// The parameters with no type given: the server infers each from the
/// statement, as it does for a quoted literal.
pub(crate) fn untyped(params: &[TextParam]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    params
        .iter()
        .map(|p| (p as &(dyn ToSql + Sync), Type::UNKNOWN))
        .collect()
}

/// Whether a failed connection may work when tried again: refused or
/// broken connections (no SQLSTATE), `57P03` (the server is starting up or
/// shutting down) and `57P01` (terminated by an administrator).
fn is_transient(error: &ConnectError) -> bool {
    matches!(error.sqlstate.as_deref(), None | Some("57P01" | "57P03"))
}

/// Opens a session with planguard's settings.
async fn open_session(params: &ConnParams, options: &RunOptions) -> Result<Client, ConnectError> {
    let client = params.connect().await?;
    let setup = format!(
        "SET statement_timeout = {}; SET lock_timeout = {}; SET idle_in_transaction_session_timeout = {}; SET application_name = 'planguard'; SET standard_conforming_strings = on",
        options.timeout.as_millis().max(1),
        options.lock_timeout.as_millis().max(1),
        // Long enough for our own pauses between statements, short enough
        // that a stuck planguard never holds locks for long.
        (options.timeout.as_millis() * 2).max(60_000),
    );
    let setup = if options.session.on_open.is_empty() {
        setup
    } else {
        format!("{setup}; {}", options.session.on_open)
    };
    client
        .batch_execute(&setup)
        .await
        .map_err(|e| ConnectError {
            target: params.target(),
            reason: crate::conn::describe_query_error(&e),
            sqlstate: e.code().map(|c| c.code().to_owned()),
        })?;
    Ok(client)
}

async fn server_info(client: &Client) -> Result<ServerInfo, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
            &[],
        )
        .await?;
    let version: String = row.get(0);
    let num: i32 = row.get(1);
    Ok(ServerInfo {
        version: version
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
        version_num: u32::try_from(num).unwrap_or(0),
    })
}

/// Why a measurement failed.
enum MeasureError {
    Db(tokio_postgres::Error),
    Plan(String),
    /// Not run: the parameters got no values (the reason).
    Skip(String),
}

impl From<tokio_postgres::Error> for MeasureError {
    fn from(e: tokio_postgres::Error) -> Self {
        MeasureError::Db(e)
    }
}

fn error_outcome(error: &tokio_postgres::Error, lost: bool) -> Outcome {
    if let Some(db) = error.as_db_error() {
        let message = format!("{}: {}", db.severity(), db.message());
        // 57014: query_canceled, which statement_timeout raises.
        if db.code().code() == "57014" {
            return Outcome::Timeout { message };
        }
        return Outcome::Error {
            message,
            sqlstate: Some(db.code().code().to_owned()),
        };
    }
    Outcome::Error {
        message: if lost {
            format!("the connection was lost and the retry failed: {error}")
        } else {
            error.to_string()
        },
        sqlstate: None,
    }
}

/// The headline figures of one run.
pub fn figures(plan: &Plan) -> RunFigures {
    RunFigures {
        execution_ms: plan.execution_time_ms,
        planning_ms: plan.planning_time_ms,
        shared_hit: plan.root.buffers.shared_hit.unwrap_or(0),
        shared_read: plan.root.buffers.shared_read.unwrap_or(0),
    }
}

/// The run with the median execution time (the lower middle for an even
/// count); the first run without ANALYZE.
pub fn median_index(runs: &[Run]) -> usize {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| {
        let ta = runs[a].figures.execution_ms.unwrap_or(0.0);
        let tb = runs[b].figures.execution_ms.unwrap_or(0.0);
        ta.total_cmp(&tb).then(a.cmp(&b))
    });
    order
        .get(runs.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0)
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
