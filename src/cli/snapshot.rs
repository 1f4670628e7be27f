//! `planguard snapshot`: plan-shape snapshots for CI (DESIGN.md, snapshot
//! format). `--update` writes them; `--check` prints a unified diff for
//! every changed query and exits 1 on any change.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::baseline::sha256_hex;
use super::execute;
use super::{GlobalArgs, SnapshotArgs, use_color};
use crate::baseline::store::{create_parents_inside, safe_relative, write_atomically};
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::plan::shape;
use crate::runner::Outcome;

/// The snapshot text of one query: a header naming the query, the hash of
/// its SQL, the server's major version and, under `--stats`, the hash of
/// the statistics file, then the normalized shape.
pub fn snapshot_text(
    id: &str,
    sql: &str,
    server_version_num: u32,
    stats_sha256: Option<&str>,
    plan: &crate::plan::Plan,
) -> String {
    let stats = stats_sha256
        .map(|h| format!("{STATS_LINE}{h}\n"))
        .unwrap_or_default();
    format!(
        "# planguard plan snapshot\n# query: {id}\n# sql: sha256:{}\n# server: {}\n{stats}{}",
        sha256_hex(sql),
        server_version_num / 10000,
        shape::shape(plan)
    )
}

/// The header line of a snapshot recorded under `--stats`.
const STATS_LINE: &str = "# stats: sha256:";

/// The statistics hash a snapshot's header records.
fn recorded_stats(text: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(STATS_LINE))
        .map(str::to_owned)
}

/// A snapshot without its statistics line, to compare shapes across
/// statistics (recorded without `--stats`, or `--allow-stats-mismatch`).
fn without_stats(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with(STATS_LINE))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn snapshot_path(dir: &Path, id: &str) -> Result<PathBuf, Failure> {
    safe_relative(id)
        .map(|rel| dir.join(format!("{}.plan", rel.display())))
        .ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "query id {id:?} cannot be used as a file name"
            ))
        })
}

pub async fn run(args: SnapshotArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    if !args.check && !args.update {
        return Err(Failure::input(anyhow::anyhow!(
            "say what to do: `planguard snapshot --check` compares, `planguard snapshot --update` writes"
        )));
    }
    let mut config = Config::load(global, &args.run).map_err(Failure::input)?;
    if let Some(dir) = &args.snapshots {
        config.snapshots = dir.clone();
    }
    // Shapes need no timings: plan only unless asked otherwise.
    if !args.run.analyze {
        config.run.analyze = false;
    }
    config.run.runs = 1;
    config.run.warmup = 0;
    let queries = execute::load_queries(&config)?;
    // Read every existing snapshot before running, so a broken one stops
    // us before any work (exit 2, naming the file).
    let mut expected = Vec::new();
    for query in &queries {
        let path = snapshot_path(&config.snapshots, &query.id)?;
        let text = match std::fs::read(&path) {
            Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| {
                Failure::input(anyhow::anyhow!(
                    "{}: not a snapshot (not UTF-8 text)",
                    path.display()
                ))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Failure::input(anyhow::anyhow!(
                    "{}: cannot read: {e}",
                    path.display()
                )));
            }
        };
        if let Some(text) = &text {
            if !text.starts_with("# planguard plan snapshot\n") {
                return Err(Failure::input(anyhow::anyhow!(
                    "{}: not a planguard snapshot (no header); rewrite it with `planguard snapshot --update`",
                    path.display()
                )));
            }
        }
        expected.push((path, text));
    }
    let stats = execute::stats_sha256(&config)?;
    if args.check {
        let recorded: Vec<_> = expected
            .iter()
            .filter_map(|(path, text)| {
                text.as_deref()
                    .map(|text| (path.clone(), recorded_stats(text)))
            })
            .collect();
        execute::refuse_other_stats(
            &config,
            stats.as_deref(),
            &recorded,
            args.allow_stats_mismatch,
        )?;
    }
    // The values the baselines recorded for sampled parameters, as check
    // binds them: a snapshot then shows the plan for the same values, not
    // for whatever pg_stats says most common today. (A baseline that does
    // not load is check's business: it is not used here.)
    let store = crate::baseline::Store::new(&config.baselines);
    let stored: std::collections::BTreeMap<String, crate::queryset::ParamValues> = queries
        .iter()
        .filter_map(|q| {
            let record = store.load(&q.id).ok()??;
            let params = record.params?;
            (record.sql_sha256 == super::baseline::sha256_hex(&q.sql))
                .then(|| (q.id.clone(), params))
        })
        .collect();
    let set = execute::run_set(queries, &config, global, &stored).await?;
    let color = use_color(global.color);
    let mut stdout = std::io::stdout().lock();
    let (mut changed, mut new, mut failed, mut same, mut written) = (0, 0, 0, 0, 0);
    for (run, (path, old)) in set.runs.iter().zip(expected) {
        let id = &run.query.id;
        let measured = match &run.outcome {
            Outcome::Ok(m) => m,
            Outcome::Skipped { reason } => {
                eprintln!("{id}: skipped: {reason}");
                continue;
            }
            Outcome::Error { message, .. } | Outcome::Timeout { message } => {
                eprintln!("{id}: failed: {message}");
                failed += 1;
                continue;
            }
        };
        let text = snapshot_text(
            id,
            &run.query.sql,
            set.server.version_num,
            stats.as_deref(),
            &measured.median_run().plan,
        );
        if args.update {
            if old.as_deref() != Some(text.as_str()) {
                create_parents_inside(&config.snapshots, &path)
                    .and_then(|()| write_atomically(&path, text.as_bytes()))
                    .map_err(|e| {
                        Failure::input(anyhow::anyhow!("{}: cannot write: {e}", path.display()))
                    })?;
                written += 1;
            } else {
                same += 1;
            }
            continue;
        }
        match old {
            None => {
                new += 1;
                if args.allow_new {
                    eprintln!("{id}: no snapshot yet (allowed by --allow-new)");
                } else {
                    eprintln!(
                        "{id}: no snapshot at {}; record it with `planguard snapshot --update`",
                        path.display()
                    );
                }
            }
            Some(old) => {
                // Files recorded under other statistics got past the
                // refusal above: their shapes compare without the line.
                let (old, new) = if recorded_stats(&old) == stats {
                    (old, text)
                } else {
                    (without_stats(&old), without_stats(&text))
                };
                if old == new {
                    same += 1;
                } else {
                    changed += 1;
                    write_diff(&mut stdout, id, &old, &new, color).map_err(Failure::input)?;
                }
            }
        }
    }
    stdout.flush().map_err(Failure::input)?;
    // The server went away mid-run: said last, exit 3.
    let lost = set.runner.lost();
    let say_lost = || {
        if let Some(reason) = &lost {
            eprintln!("error: {reason}");
        }
    };
    if args.update {
        if !global.quiet {
            eprintln!(
                "snapshot: {written} written, {same} unchanged, {failed} failed in {}",
                config.snapshots.display()
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
    Ok(if set.interrupted {
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
