//! `planguard snapshot`: plan-shape snapshots for CI (DESIGN.md, snapshot
//! format). `--update` writes them; `--check` prints a unified diff for
//! every changed query and exits 1 on any change.

use std::io::Write;

use super::progress::{pipeline_options, say_notes};
use super::{GlobalArgs, SnapshotArgs, use_color};
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::pipeline::snapshot::Status;
use crate::pipeline::{self, SnapshotMode};

pub async fn run(args: SnapshotArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    if !args.check && !args.update {
        return Err(Failure::input(anyhow::anyhow!(
            "say what to do: `planguard snapshot --check` compares, `planguard snapshot --update` writes"
        )));
    }
    let mut config =
        Config::load(global.config.as_deref(), &args.run.flags()).map_err(Failure::input)?;
    if let Some(dir) = &args.snapshots {
        config.snapshots = dir.clone();
    }
    // Shapes need no timings: plan only unless asked otherwise.
    if !args.run.analyze {
        config.run.analyze = false;
    }
    let dir = config.snapshots.clone();
    let mode = if args.update {
        SnapshotMode::Update
    } else {
        SnapshotMode::Check
    };
    let mut options = pipeline_options(config, global)?;
    options.allow_stats_mismatch = args.allow_stats_mismatch;
    let snapshots = pipeline::snapshot(&options, mode).await?;
    say_notes(&snapshots.notes, global);
    let color = use_color(global.color);
    let mut stdout = std::io::stdout().lock();
    let (mut changed, mut new, mut failed, mut same, mut written) = (0, 0, 0, 0, 0);
    for entry in &snapshots.entries {
        let id = &entry.id;
        match &entry.status {
            Status::Skipped(reason) => eprintln!("{id}: skipped: {reason}"),
            Status::Failed(message) => {
                eprintln!("{id}: failed: {message}");
                failed += 1;
            }
            Status::Same => same += 1,
            Status::Written => written += 1,
            Status::New => {
                new += 1;
                if args.allow_new {
                    eprintln!("{id}: no snapshot yet (allowed by --allow-new)");
                } else {
                    eprintln!(
                        "{id}: no snapshot at {}; record it with `planguard snapshot --update`",
                        entry.path.display()
                    );
                }
            }
            Status::Changed { old, new } => {
                changed += 1;
                write_diff(&mut stdout, id, old, new, color).map_err(Failure::input)?;
            }
        }
    }
    stdout.flush().map_err(Failure::input)?;
    // The server went away mid-run: said last, exit 3.
    let lost = &snapshots.lost;
    let say_lost = || {
        if let Some(reason) = lost {
            eprintln!("error: {reason}");
        }
    };
    if args.update {
        if !global.quiet {
            eprintln!(
                "snapshot: {written} written, {same} unchanged, {failed} failed in {}",
                dir.display()
            );
        }
        say_lost();
        return Ok(if lost.is_some() {
            Exit::Database
        } else if failed > 0 {
            Exit::Findings
        } else {
            Exit::Success
        });
    }
    if !global.quiet {
        eprintln!(
            "snapshot: {changed} changed, {new} without a snapshot, {failed} failed, {same} unchanged"
        );
    }
    say_lost();
    let new_fails = new > 0 && !args.allow_new;
    Ok(if snapshots.interrupted {
        Exit::Interrupted
    } else if lost.is_some() {
        Exit::Database
    } else if changed > 0 || failed > 0 || new_fails {
        Exit::Findings
    } else {
        Exit::Success
    })
}

/// A unified diff of one query's snapshot, as `git diff` shows it.
fn write_diff(
    out: &mut dyn Write,
    id: &str,
    old: &str,
    new: &str,
    color: bool,
) -> std::io::Result<()> {
    let text =
        crate::report::unified_diff(old, new, &format!("a/{id}.plan"), &format!("b/{id}.plan"));
    for line in text.lines() {
        let paint = if !color {
            ""
        } else if line.starts_with("+++") || line.starts_with("---") {
            "\x1b[1m"
        } else if line.starts_with('+') {
            "\x1b[32m"
        } else if line.starts_with('-') {
            "\x1b[31m"
        } else if line.starts_with("@@") {
            "\x1b[36m"
        } else {
            ""
        };
        if paint.is_empty() {
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{paint}{line}\x1b[0m")?;
        }
    }
    Ok(())
}
