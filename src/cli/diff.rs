//! `planguard diff OLD NEW`: compare two saved plans of one query offline.
//!
//! Prints the unified diff of the two plan shapes and, for the nodes that
//! correspond ([`crate::plan::compare`]), how cost, rows, time and shared
//! blocks changed.

use super::DiffArgs;
use super::explain::load_plan;
use crate::error::{Exit, Failure};
use crate::plan::compare::match_nodes;
use crate::report::tree::render_diff;

/// Runs `planguard diff`: exit 0 whatever changed, 2 when a file cannot be
/// read or is not a plan.
pub fn run(args: DiffArgs) -> Result<Exit, Failure> {
    let old = load_plan(&args.old)?;
    let new = load_plan(&args.new)?;
    let matching = match_nodes(&old, &new);
    let id = super::offline::id_of(&args.new);
    super::offline::write_report_targets(
        &args.output,
        |with_plans| super::offline::report_of(&id, &new, Some(&old), with_plans),
        |out| {
            render_diff(
                &args.old.display().to_string(),
                &old,
                &args.new.display().to_string(),
                &new,
                &matching,
                out,
            )
        },
    )?;
    Ok(Exit::Success)
}
