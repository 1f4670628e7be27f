//! `planguard diff OLD NEW`: compare two saved plans of one query offline.
//!
//! Prints the unified diff of the two plan shapes and, for the nodes that
//! correspond ([`crate::plan::compare`]), how cost, rows, time and shared
//! blocks changed.

use super::DiffArgs;
use super::explain::load;
use crate::error::{Exit, Failure};
use crate::plan::compare::match_nodes;
use crate::report::tree::render_diff;

/// Runs `planguard diff`: exit 0 whatever changed, 2 when a file cannot be
/// read or is not a plan.
pub fn run(args: DiffArgs, global: &super::GlobalArgs) -> Result<Exit, Failure> {
    let old = load(&args.old, args.query.as_deref())?;
    let new = load(&args.new, args.query.as_deref())?;
    let matching = match_nodes(&old.plan, &new.plan);
    let id = match (&args.query, &old.record) {
        (Some(id), _) => id.clone(),
        (None, Some(record)) => record.query_id.clone(),
        (None, None) => super::offline::id_of(&args.new),
    };
    let report_with = |with_plans| {
        super::offline::report_of(
            &id,
            &new.plan,
            Some(&old.plan),
            old.record.as_ref(),
            with_plans,
        )
    };
    let report = report_with(false);
    super::offline::write_report_targets(&args.output, report_with, |out| {
        render_diff(
            &args.old.display().to_string(),
            &old.plan,
            &args.new.display().to_string(),
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
