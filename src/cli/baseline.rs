//! `planguard baseline`: run the query set and store one baseline per query.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::execute::{self, QueryRun};
use super::{BaselineArgs, GlobalArgs};
use crate::baseline::{Baseline, Environment, FORMAT_VERSION, Store, Summary};
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::plan::{self, Node, Plan};
use crate::runner::{self, Measured, Outcome, ServerInfo};

pub async fn run(args: BaselineArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let mut config = Config::load(global, &args.run).map_err(Failure::input)?;
    if let Some(dir) = args.baselines {
        config.baselines = dir;
    }
    let queries = execute::load_queries(&config)?;
    let store = Store::new(&config.baselines);
    // Find out before running anything whether we can write at all.
    ensure_writable(store.dir())?;
    let set = execute::run_set(queries, &config, global).await?;

    // One catalog query for every relation of every plan.
    let plans: Vec<&Plan> = set
        .runs
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Ok(m) => Some(&m.median_run().plan),
            _ => None,
        })
        .collect();
    let environment = environment_for(&set.runner, &plans).await;
    let mut written = 0;
    let mut failed = Vec::new();
    let mut skipped = 0;
    for QueryRun { query, outcome } in &set.runs {
        match outcome {
            Outcome::Ok(measured) => {
                let environment =
                    runner::environment_subset(&environment, [&measured.median_run().plan]);
                let baseline = build(
                    &query.id,
                    &query.sql,
                    measured,
                    &set.server,
                    environment,
                    config.run.analyze,
                );
                let path = store.save(&baseline).map_err(Failure::input)?;
                written += 1;
                if global.verbose > 0 {
                    eprintln!("wrote {}", path.display());
                }
            }
            Outcome::Error { message, .. } | Outcome::Timeout { message } => {
                failed.push((query.id.clone(), message.clone()));
            }
            Outcome::Skipped { reason } => {
                skipped += 1;
                if !global.quiet {
                    eprintln!("{}: skipped: {reason}", query.id);
                }
            }
        }
    }
    for (id, message) in &failed {
        eprintln!("{id}: failed, its previous baseline (if any) is kept: {message}");
    }
    if !global.quiet {
        eprintln!(
            "baseline: {written} recorded in {}, {} failed, {skipped} skipped{}",
            store.dir().display(),
            failed.len(),
            if set.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
    }
    Ok(if set.interrupted {
        Exit::Interrupted
    } else if written == 0 && !failed.is_empty() {
        Exit::Database
    } else if !failed.is_empty() {
        Exit::Findings
    } else {
        Exit::Success
    })
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
pub async fn environment_for(runner: &runner::Runner, plans: &[&Plan]) -> Environment {
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

/// Lowercase hex SHA-256.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Number of nodes in a plan.
pub fn node_count(node: &Node) -> usize {
    1 + node.plans.iter().map(node_count).sum::<usize>()
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[(values.len() - 1) / 2])
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
            planning_ms_median: median(runs.iter().filter_map(|r| r.planning_ms).collect()),
            shared_blocks_median: median(blocks).unwrap_or(0.0) as u64,
            nodes: node_count(&plan.root),
            fingerprint: plan::shape::fingerprint(plan),
        },
        runs,
        environment,
        plan: median_run.json.clone(),
    }
}
