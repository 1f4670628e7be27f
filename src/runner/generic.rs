//! The generic plan of a parameterized query that ran with values, got the
//! way the server itself gets it for a prepared statement, on every
//! version (13+): in a transaction like the run's (READ ONLY for a SELECT,
//! the `[settings]`, rolled back), `PREPARE` the statement, `SET LOCAL
//! plan_cache_mode = force_generic_plan` and `EXPLAIN (ANALYZE, BUFFERS)
//! EXECUTE` it with the run's values (plain EXPLAIN without ANALYZE).
//!
//! Safety: the statement is first parsed alone by the server (Parse and
//! Describe refuse a second statement hidden in it, and give the types of
//! its parameters), and the `PREPARE` is sent through the extended
//! protocol, which refuses a second statement too. Values are never
//! pasted into SQL: `EXECUTE` cannot see the protocol parameters of the
//! statement around it, so each value is bound to `set_config` (a `SET
//! LOCAL` that the rollback undoes) and read back inside `EXECUTE`'s
//! arguments with `current_setting`, cast to the type the server gave the
//! parameter. `PREPARE` is not transactional: the statement is
//! deallocated after the rollback on every path, also after an error.
//!
//! Also the custom plan at the representative values (pg_stats' most
//! common values, [`super::params::sample`]) when the run bound others:
//! what most executions of an application bind, so what the server's
//! average custom-plan cost is made of when it decides to switch
//! (plancache.c, `choose_custom_plan`). One plain EXPLAIN: nothing runs.

use std::sync::atomic::{AtomicU64, Ordering};

use postgres_types::Type;
use tokio_postgres::Client;

use crate::plan::{self, Plan};
use crate::queryset::ParamValues;

use super::measure::MeasureError;
use super::{Job, NotPlanned, Run, Runner, figures, quoted_names};

/// The generic plan of one query, measured next to its custom plan.
#[derive(Debug, Clone)]
pub struct GenericRun {
    /// `EXPLAIN [(ANALYZE, BUFFERS)] EXECUTE` under `plan_cache_mode =
    /// force_generic_plan`, with the values the custom runs bound.
    pub run: Run,
    /// The custom plan at the representative values, when the run bound
    /// other values (given ones); None when the run's values are those.
    pub common: Option<CommonPlan>,
}

/// A custom plan (plain EXPLAIN) at other values than the run's.
#[derive(Debug, Clone)]
pub struct CommonPlan {
    /// The values and where they came from (`source: sampled`).
    pub values: ParamValues,
    /// The plan.
    pub plan: Plan,
}

/// Names of the statements prepared here, unique in the process.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// The custom GUC each value is handed over in, `planguard.generic_<n>`.
fn setting_name(n: usize) -> String {
    format!("planguard.generic_{n}")
}

impl Runner {
    /// The generic plan of `job` (which has its values bound) and the
    /// custom plan at the representative values; an error is the reason
    /// there is none (the query's own outcome does not depend on it).
    pub(super) async fn measure_generic(
        &self,
        job: &Job,
        used: Option<&ParamValues>,
        client: &Client,
    ) -> Result<GenericRun, NotPlanned> {
        let run = self.generic_run(job, client).await?;
        let common = if used.is_some_and(|u| u.source == "given") {
            self.common_plan(job, client).await
        } else {
            None
        };
        Ok(GenericRun { run, common })
    }

    async fn generic_run(&self, job: &Job, client: &Client) -> Result<Run, MeasureError> {
        // Parse and Describe of the statement alone: the server refuses a
        // second statement, and says each parameter's type.
        let statement = client.prepare(&job.sql).await?;
        let types: Vec<Type> = statement.params().to_vec();
        drop(statement);
        let name = format!("planguard_generic_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let begin = format!(
            "{}; SET LOCAL plan_cache_mode = force_generic_plan",
            self.begin_sql(job)
        );
        client.batch_execute(&begin).await?;
        let mut prepared = false;
        let result = async {
            // Through the extended protocol: one statement only.
            client
                .execute(&format!("PREPARE {name} AS {}", job.sql), &[])
                .await?;
            prepared = true;
            let values: Vec<Option<String>> = job.params.clone().unwrap_or_default();
            client
                .execute(
                    "SELECT pg_catalog.set_config('planguard.generic_' || t.n, t.v, true) \
                     FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS t(v, n) \
                     WHERE t.v IS NOT NULL",
                    &[&values],
                )
                .await?;
            let explain = self.explain_execute_sql(&name, &types, &values);
            let rows = client.query(&explain, &[]).await?;
            let json: serde_json::Value = match rows.first() {
                Some(row) => row.try_get(0)?,
                None => serde_json::Value::Null,
            };
            Ok::<_, MeasureError>(json)
        }
        .await;
        let rolled_back = client.batch_execute("ROLLBACK").await;
        // PREPARE is not transactional: the rollback leaves it in place.
        let deallocated = if prepared {
            client.batch_execute(&format!("DEALLOCATE {name}")).await
        } else {
            Ok(())
        };
        let json = result?;
        rolled_back?;
        deallocated?;
        let plan = plan::parse_json_value(&json).map_err(|e| {
            MeasureError::Plan(format!(
                "the server's EXPLAIN EXECUTE output could not be read: {e}"
            ))
        })?;
        let figures = figures(&plan);
        Ok(Run {
            json,
            plan,
            figures,
        })
    }

    /// `EXPLAIN (...) EXECUTE name(args)`: each argument reads its value
    /// back from the setting it was bound to, cast to the parameter's type
    /// (a NULL is a typed NULL).
    fn explain_execute_sql(&self, name: &str, types: &[Type], values: &[Option<String>]) -> String {
        let args: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(i, ty)| {
                let quoted = quoted_names(&[ty.schema().to_owned(), ty.name().to_owned()]);
                let ty = quoted.join(".");
                match values.get(i) {
                    Some(Some(_)) => format!(
                        "CAST(pg_catalog.current_setting('{}') AS {ty})",
                        setting_name(i + 1)
                    ),
                    _ => format!("CAST(NULL AS {ty})"),
                }
            })
            .collect();
        let mut options = Vec::new();
        if self.options.analyze {
            options.push("ANALYZE");
            options.push("BUFFERS");
        }
        if self.options.verbose {
            options.push("VERBOSE");
        }
        options.push("FORMAT JSON");
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        format!("EXPLAIN ({}) EXECUTE {name}{args}", options.join(", "))
    }

    /// The custom plan at the values sampling would pick, when they differ
    /// from the run's; None when they cannot be sampled or planned.
    async fn common_plan(&self, job: &Job, client: &Client) -> Option<CommonPlan> {
        let values = super::params::sample(job, client).await.ok()?.ok()?;
        if Some(&values.values) == job.params.as_ref() {
            return None;
        }
        let at = Job {
            params: Some(values.values.clone()),
            ..job.clone()
        };
        let plan = self.plan_only(&at, client).await.ok()?;
        Some(CommonPlan { values, plan })
    }
}
