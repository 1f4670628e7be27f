//! Measuring one job: the transaction it runs in, EXPLAIN with its values
//! bound, warm-up and counted runs, the median, and what a failure means.

use postgres_types::{Format, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::Client;

use std::sync::atomic::Ordering;

use super::session::{RECONNECT_WINDOW, is_transient};
use super::{Job, Measured, Outcome, Run, Runner, sequences};
use crate::baseline::RunFigures;
use crate::conn::ConnectError;
use crate::plan::{self, Plan};

impl Runner {
    /// Runs one job: warm-up and counted runs; a lost connection is
    /// reopened and the job retried once.
    pub(super) async fn run_job(&self, job: &Job, client: &mut Option<Client>) -> Outcome {
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
    pub(super) fn lose(&self, error: ConnectError) -> Outcome {
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

    pub(super) fn generic_plan_available(&self) -> bool {
        self.server.version_num >= 160000
    }

    /// Plans `job` with plain EXPLAIN (nothing executes) in a transaction
    /// like a run's (READ ONLY when the statement is, the `[settings]`,
    /// rolled back), on `client`: what the index advisor re-plans with a
    /// hypothetical index in the session.
    pub async fn plan_only(&self, job: &Job, client: &Client) -> Result<Plan, NotPlanned> {
        match self.measure_with(job, client, false).await {
            Ok(measured) => measured
                .runs
                .into_iter()
                .next()
                .map(|r| r.plan)
                .ok_or_else(|| NotPlanned::Output("EXPLAIN returned no plan".to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn measure(
        &self,
        job: &Job,
        client: &Client,
    ) -> Result<Measured, MeasureError> {
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

    pub(super) async fn measure_with(
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

/// Runs one EXPLAIN (FORMAT JSON) and returns its output: through the
/// extended protocol with `params` bound, or by the simple protocol for a
/// generic plan (see [`Runner::measure_with`]).
pub(super) async fn explain_json(
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

/// Why [`Runner::plan_only`] returned no plan, or why a query that ran
/// with values has no generic plan ([`super::Measured::generic`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotPlanned {
    /// The server refused the statement (its message, as psql shows it).
    #[error("{0}")]
    Server(String),
    /// EXPLAIN's output could not be read.
    #[error("{0}")]
    Output(String),
    /// A parameter got no value.
    #[error("{0}")]
    NoValues(String),
}

/// Why a measurement failed.
pub(super) enum MeasureError {
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

impl From<MeasureError> for NotPlanned {
    fn from(e: MeasureError) -> Self {
        match e {
            MeasureError::Db(e) => NotPlanned::Server(crate::conn::describe_query_error(&e)),
            MeasureError::Plan(message) => NotPlanned::Output(message),
            MeasureError::Skip(message) => NotPlanned::NoValues(message),
        }
    }
}

pub(super) fn error_outcome(error: &tokio_postgres::Error, lost: bool) -> Outcome {
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
