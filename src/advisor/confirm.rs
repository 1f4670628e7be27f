//! `--confirm` (staging only): a real build of the best suggestion inside
//! a transaction, measured before and after, and a real `DROP INDEX` to
//! verify a redundant index; both always rolled back.

use super::*;
use crate::plan;
use crate::runner::{figures, text_params, untyped};
use std::time::Instant;

/// Builds the best suggestion for real and measures the first read-only
/// query it serves (a query that writes is not run again for this).
pub(super) async fn confirm(
    runner: &Runner,
    client: &Client,
    inputs: &[Input<'_>],
    best: &Suggestion,
) -> Result<Option<Confirmation>, AdvisorError> {
    let Some(input) = best.served.iter().find_map(|s| {
        inputs
            .iter()
            .find(|i| i.job.id == s.query_id && i.job.read_only)
    }) else {
        return Ok(None);
    };
    // PostgreSQL lets only the table's owner (or a member of the owning
    // role) create an index on it: say so before any transaction begins,
    // rather than passing on the server's refusal.
    let row = client
        .query_one(
            "SELECT pg_has_role(relowner, 'USAGE'), current_user::text FROM pg_class WHERE oid = $1::text::regclass",
            &[&best.relation],
        )
        .await
        ?;
    if !row.try_get::<_, bool>(0)? {
        return Err(AdvisorError::NotOwner {
            role: row.try_get(1)?,
        });
    }
    let create = format!(
        "CREATE INDEX ON {} ({})",
        best.relation,
        best.columns.join(", ")
    );
    let confirmed = confirm_index(runner, input.job, client, &create).await?;
    let used = !uses_nothing_new(&confirmed.after_plan, input.plan);
    Ok(Some(Confirmation {
        query_id: input.job.id.clone(),
        build_ms: duration_ms(confirmed.build),
        before: confirmed.before,
        after: confirmed.after,
        used,
    }))
}

/// The plan with the index reads through no index the plan without it did
/// not already use.
pub(super) fn uses_nothing_new(after: &Plan, before: &Plan) -> bool {
    fn names(node: &Node, out: &mut BTreeSet<String>) {
        if let Some(n) = &node.index_name {
            out.insert(n.clone());
        }
        for c in &node.plans {
            names(c, out);
        }
    }
    let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
    names(&after.root, &mut a);
    names(&before.root, &mut b);
    a.is_subset(&b)
}

pub(super) fn duration_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// An index built for real in a rolled-back transaction, and the query
/// measured before and after it ([`confirm_index`]).
#[derive(Debug, Clone)]
pub(super) struct Confirmed {
    pub(super) before: RunFigures,
    pub(super) after: RunFigures,
    /// How long the build took.
    pub(super) build: Duration,
    /// The plan with the index.
    pub(super) after_plan: Plan,
}

/// Builds an index for real inside a transaction, measures `job` with
/// `EXPLAIN (ANALYZE, BUFFERS)` before and after the build (a first,
/// uncounted run warms the cache), and rolls everything back. The
/// build holds a lock that blocks writes to the table while it runs:
/// the session's `lock_timeout` and `statement_timeout` apply.
pub(super) async fn confirm_index(
    runner: &Runner,
    job: &Job,
    client: &Client,
    create_index: &str,
) -> Result<Confirmed, AdvisorError> {
    let begin = runner.begin_sql(&Job {
        read_only: false,
        ..job.clone()
    });
    client.batch_execute(&begin).await?;
    let result = async {
        let explain = runner.explain_sql(job, true, false);
        let params = text_params(job);
        let typed = untyped(&params);
        let run = async || -> Result<Plan, AdvisorError> {
            let rows = client.query_typed(&explain, &typed).await?;
            let json: serde_json::Value = match rows.first() {
                Some(row) => row.try_get(0)?,
                None => serde_json::Value::Null,
            };
            Ok(plan::parse_json_value(&json)?)
        };
        run().await?;
        let before = run().await?;
        let started = Instant::now();
        client.batch_execute(create_index).await?;
        let build = started.elapsed();
        let after = run().await?;
        Ok::<_, AdvisorError>(Confirmed {
            before: figures(&before),
            after: figures(&after),
            build,
            after_plan: after,
        })
    }
    .await;
    let rolled_back = client.batch_execute("ROLLBACK").await;
    let confirmed = result?;
    rolled_back?;
    Ok(confirmed)
}

/// Drops an index for real inside a transaction under `lock_timeout`
/// (`SET LOCAL lock_timeout = '2s'`, so that a busy table is a quick
/// refusal rather than a queue of blocked sessions), plans each job
/// with plain EXPLAIN, and rolls back whatever happened: the drop is
/// never committed. Each job's planner cost without the index (None
/// when it could not be planned: a generic plan, a failure).
pub(super) async fn plan_without_index(
    runner: &Runner,
    jobs: &[&Job],
    client: &Client,
    drop_index: &str,
) -> Result<Vec<Option<f64>>, AdvisorError> {
    let Some(first) = jobs.first() else {
        return Ok(Vec::new());
    };
    let begin = runner.begin_sql(&Job {
        read_only: false,
        ..(*first).clone()
    });
    client.batch_execute(&begin).await?;
    let result = async {
        client
            .batch_execute(&format!("SET LOCAL lock_timeout = '2s'; {drop_index}"))
            .await?;
        let mut costs = Vec::with_capacity(jobs.len());
        for job in jobs {
            if job.param_count > 0 && job.params.is_none() {
                costs.push(None);
                continue;
            }
            let explain = runner.explain_sql(job, false, false);
            let params = text_params(job);
            let typed = untyped(&params);
            let cost = match client.query_typed(&explain, &typed).await {
                Ok(rows) => rows
                    .first()
                    .and_then(|row| row.try_get::<_, serde_json::Value>(0).ok())
                    .and_then(|json| plan::parse_json_value(&json).ok())
                    .and_then(|p| p.root.total_cost),
                // The transaction is aborted: nothing more can be
                // planned in it.
                Err(e) => return Err(e.into()),
            };
            costs.push(cost);
        }
        Ok::<_, AdvisorError>(costs)
    }
    .await;
    let rolled_back = client.batch_execute("ROLLBACK").await;
    let costs = result?;
    rolled_back?;
    Ok(costs)
}
