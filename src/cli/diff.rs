//! `planguard diff OLD NEW`: compare two saved plans of one query offline.
//!
//! Prints the unified diff of the two plan shapes and, for the nodes that
//! correspond ([`crate::plan::compare`]), how cost, rows, time and shared
//! blocks changed.

use super::DiffArgs;
use super::explain::{Loaded, load};
use super::offline::Live;
use crate::error::{Exit, Failure};
use crate::plan::compare::match_nodes;
use crate::report::tree::render_diff;

/// Runs `planguard diff`: exit 0 whatever changed (1 with `--fail-on`
/// when a finding reaches it), 2 when a file cannot be read or is not a
/// plan, 3 when the database cannot be reached for a live comparison.
pub async fn run(args: DiffArgs, global: &super::GlobalArgs) -> Result<Exit, Failure> {
    let old = load(&args.old, args.query.as_deref())?;
    let (new, live) = match &args.new {
        Some(path) => (load(path, args.query.as_deref())?, None),
        None => {
            let (plan, live) = run_again(&args, &old, global).await?;
            (Loaded { plan, record: None }, Some(live))
        }
    };
    let matching = match_nodes(&old.plan, &new.plan);
    let id = match (&args.query, &old.record, &args.new) {
        (Some(id), _, _) => id.clone(),
        (None, Some(record), _) => record.query_id.clone(),
        (None, None, Some(new)) => super::offline::id_of(new),
        (None, None, None) => super::offline::id_of(&args.old),
    };
    let observed = live.as_ref().map(|l| Live {
        runs: &l.runs,
        environment: &l.environment,
        server_version: &l.server_version,
        params: l.params.as_ref(),
    });
    let report_with = |with_plans| {
        super::offline::report_live(
            &id,
            &new.plan,
            Some(&old.plan),
            old.record.as_ref(),
            observed.as_ref(),
            with_plans,
        )
    };
    let report = report_with(false);
    let new_name = match &args.new {
        Some(path) => path.display().to_string(),
        None => "now".to_owned(),
    };
    super::offline::write_report_targets(&args.output, report_with, |out| {
        render_diff(
            &args.old.display().to_string(),
            &old.plan,
            &new_name,
            &new.plan,
            &matching,
            out,
        )?;
        crate::report::table::render_findings(&report, global.verbose > 0, out)
    })?;
    Ok(args.fail_on.map_or(Exit::Success, |fail_on| {
        super::check::exit_for(&report, fail_on, false)
    }))
}

/// What a live run observed.
struct Observed {
    runs: Vec<crate::baseline::RunFigures>,
    environment: crate::baseline::Environment,
    server_version: String,
    params: Option<crate::queryset::ParamValues>,
}

/// Runs the baseline's query again now, as `check` would (admitted by the
/// same rules, the baseline's values bound again), and returns its median
/// plan with what was observed.
async fn run_again(
    args: &DiffArgs,
    old: &Loaded,
    global: &super::GlobalArgs,
) -> Result<(crate::plan::Plan, Observed), Failure> {
    let Some(record) = &old.record else {
        return Err(Failure::input(anyhow::anyhow!(
            "{}: give NEW, or a baseline file as OLD to run its query again now",
            args.old.display()
        )));
    };
    let run = super::RunArgs {
        queries: args.queries.clone(),
        timeout: args.timeout.clone(),
        no_analyze: args.no_analyze,
        ..super::RunArgs::default()
    };
    let config = crate::config::Config::load(global, &run).map_err(Failure::input)?;
    let set = crate::queryset::load(&config.queries).map_err(Failure::input)?;
    let query = set
        .queries()
        .iter()
        .find(|q| q.id == record.query_id)
        .cloned()
        .ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "{}: no query `{}` in {} to run again",
                args.old.display(),
                record.query_id,
                config.queries.display()
            ))
        })?;
    let stored: std::collections::BTreeMap<String, crate::queryset::ParamValues> = record
        .params
        .clone()
        .filter(|_| record.sql_sha256 == super::baseline::sha256_hex(&query.sql))
        .map(|p| (query.id.clone(), p))
        .into_iter()
        .collect();
    let runner = super::execute::open(&config, global).await?;
    let set = super::execute::run_on(runner, vec![query], &config, global, None, &stored).await;
    let outcome = set.runs.into_iter().next().map(|r| r.outcome);
    let measured = match outcome {
        Some(crate::runner::Outcome::Ok(m)) => m,
        Some(
            crate::runner::Outcome::Error { message, .. }
            | crate::runner::Outcome::Timeout { message },
        )
        | Some(crate::runner::Outcome::Skipped { reason: message }) => {
            return Err(Failure::input(anyhow::anyhow!(
                "{}: the query could not be run again: {message}",
                record.query_id
            )));
        }
        None => return Err(Failure::input(anyhow::anyhow!("interrupted"))),
    };
    let plan = measured.median_run().plan.clone();
    let environment = super::baseline::environment_for(&set.runner, &[&plan, &old.plan]).await;
    Ok((
        plan,
        Observed {
            runs: measured.runs.iter().map(|r| r.figures.clone()).collect(),
            environment,
            server_version: set.server.version.clone(),
            params: measured.params.clone(),
        },
    ))
}
