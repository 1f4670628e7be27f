//! `planguard diff OLD NEW`: compare two saved plans of one query offline.
//!
//! Prints the unified diff of the two plan shapes and, for the nodes that
//! correspond ([`crate::plan::compare`]), how cost, rows, time and shared
//! blocks changed.

use super::DiffArgs;
use super::offline::Live;
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::pipeline;
use crate::pipeline::check::Rerun;
use crate::pipeline::saved::{Saved, load};
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
            let rerun = run_again(&args, &old, global).await?;
            (
                Saved {
                    plan: rerun.plan.clone(),
                    record: None,
                },
                Some(rerun),
            )
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

/// Runs the baseline's query again now, as `check` would, and returns its
/// median plan with what was observed.
async fn run_again(
    args: &DiffArgs,
    old: &Saved,
    global: &super::GlobalArgs,
) -> Result<Rerun, Failure> {
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
    let config = Config::load(global.config.as_deref(), &run.flags()).map_err(Failure::input)?;
    let mut options = super::progress::pipeline_options(config, global)?;
    // One query: no progress bar.
    options.on_event = None;
    let source = args.old.display().to_string();
    pipeline::run_again(&options, &source, record, &old.plan).await
}
