//! `planguard baseline`: run the query set and store one baseline per query.

use super::progress::{pipeline_options, say_notes};
use super::{BaselineArgs, GlobalArgs};
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::pipeline;

pub async fn run(args: BaselineArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let mut config =
        Config::load(global.config.as_deref(), &args.run.flags()).map_err(Failure::input)?;
    if let Some(dir) = args.baselines {
        config.baselines = dir;
    }
    super::history::apply_flags(&mut config, &args.history);
    let dir = config.baselines.clone();
    let options = pipeline_options(config, global)?;
    let recorded = pipeline::baseline(&options).await?;
    finish(&recorded, &dir, global)
}

/// Says what a baseline run did, and its exit code.
pub fn finish(
    recorded: &pipeline::Recorded,
    dir: &std::path::Path,
    global: &GlobalArgs,
) -> Result<Exit, Failure> {
    say_notes(&recorded.notes, global);
    if global.verbose > 0 {
        for (_, path) in &recorded.written {
            eprintln!("wrote {}", path.display());
        }
    }
    if !global.quiet {
        for (id, reason) in &recorded.skipped {
            eprintln!("{id}: skipped: {reason}");
        }
    }
    for (id, message) in &recorded.failed {
        eprintln!("{id}: failed, its previous baseline (if any) is kept: {message}");
    }
    if !global.quiet {
        eprintln!(
            "baseline: {} recorded in {}, {} failed, {} skipped{}",
            recorded.written.len(),
            dir.display(),
            recorded.failed.len(),
            recorded.skipped.len(),
            if recorded.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
    }
    // The server went away mid-run: what finished is written, the rest
    // keeps its previous baselines, and the run says so last (exit 3).
    if let Some(reason) = &recorded.lost {
        eprintln!("error: {reason}");
    } else if !recorded.interrupted && recorded.written.is_empty() && !recorded.failed.is_empty() {
        // Exit 3 says why; each query's cause is on its line above.
        eprintln!(
            "error: every query failed ({}): no baseline recorded",
            recorded.failed.len()
        );
    }
    Ok(if recorded.interrupted {
        Exit::Interrupted
    } else if recorded.lost.is_some()
        || (recorded.written.is_empty() && !recorded.failed.is_empty())
    {
        Exit::Database
    } else if !recorded.failed.is_empty() {
        Exit::Findings
    } else {
        Exit::Success
    })
}
