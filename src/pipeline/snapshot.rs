//! `snapshot`: plan-shape snapshots for CI (DESIGN.md, snapshot format).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::baseline::sha256_hex;
use super::run;
use super::{Note, Options};
use crate::error::Failure;
use crate::files::{create_parents_inside, safe_relative, write_atomically};
use crate::plan::shape;
use crate::queryset::ParamValues;
use crate::runner::Outcome;

/// Compare with the stored snapshots, or write the current shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    Check,
    Update,
}

/// What came of one query's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The shape is the stored one.
    Same,
    /// The shape changed (check): the stored text and today's.
    Changed { old: String, new: String },
    /// No snapshot yet (check).
    New,
    /// Written (update): new or changed.
    Written,
    /// The query failed or timed out: why.
    Failed(String),
    /// Skipped or refused: why.
    Skipped(String),
}

/// One query's snapshot.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    /// The snapshot file.
    pub path: PathBuf,
    pub status: Status,
}

/// A finished (or interrupted) snapshot run.
#[derive(Debug, Default)]
pub struct Snapshots {
    pub entries: Vec<Entry>,
    pub interrupted: bool,
    pub lost: Option<String>,
    pub notes: Vec<Note>,
}

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

/// Plans the query set (EXPLAIN without ANALYZE unless the configuration
/// asks for it; one run, no warm-up) and compares each shape with its
/// snapshot in `options.config.snapshots`, or writes it (atomically).
/// Every existing snapshot is read before anything runs: a broken one is
/// an input error naming the file.
pub async fn snapshot(options: &Options, mode: SnapshotMode) -> Result<Snapshots, Failure> {
    // Shapes need no repeated runs.
    let mut options = options.clone();
    options.config.run.runs = 1;
    options.config.run.warmup = 0;
    let options = &options;
    let config = &options.config;
    let queries = run::load_queries(config)?;
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
        if let Some(text) = &text
            && !text.starts_with("# planguard plan snapshot\n")
        {
            return Err(Failure::input(anyhow::anyhow!(
                "{}: not a planguard snapshot (no header); rewrite it with `planguard snapshot --update`",
                path.display()
            )));
        }
        expected.push((path, text));
    }
    let mut notes = Vec::new();
    let loaded_stats = run::load_stats(config)?;
    let stats = loaded_stats.as_ref().map(|l| l.sha256.clone());
    if mode == SnapshotMode::Check {
        let recorded: Vec<_> = expected
            .iter()
            .filter_map(|(path, text)| {
                text.as_deref()
                    .map(|text| (path.clone(), recorded_stats(text)))
            })
            .collect();
        run::refuse_other_stats(options, stats.as_deref(), &recorded, &mut notes)?;
    }
    // The values the baselines recorded for sampled parameters, as check
    // binds them: a snapshot then shows the plan for the same values, not
    // for whatever pg_stats says most common today. (A baseline that does
    // not load is check's business: it is not used here.)
    let store = crate::baseline::Store::new(&config.baselines);
    let stored: BTreeMap<String, ParamValues> = queries
        .iter()
        .filter_map(|q| {
            let record = store.load(&q.id).ok()??;
            let params = record.params?;
            (record.sql_sha256 == sha256_hex(&q.sql)).then(|| (q.id.clone(), params))
        })
        .collect();
    let set = run::run_set(queries, options, loaded_stats.as_ref(), &stored).await?;
    let mut entries = Vec::new();
    for (run, (path, old)) in set.runs.iter().zip(expected) {
        let id = run.query.id.clone();
        let measured = match &run.outcome {
            Outcome::Ok(m) => m,
            Outcome::Skipped { reason } => {
                let status = Status::Skipped(reason.clone());
                entries.push(Entry { id, path, status });
                continue;
            }
            Outcome::Error { message, .. } | Outcome::Timeout { message } => {
                let status = Status::Failed(message.clone());
                entries.push(Entry { id, path, status });
                continue;
            }
        };
        let text = snapshot_text(
            &id,
            &run.query.sql,
            set.server.version_num,
            stats.as_deref(),
            &measured.median_run().plan,
        );
        let status = match (mode, old) {
            (_, Some(old)) if old == text => Status::Same,
            (SnapshotMode::Update, _) => {
                create_parents_inside(&config.snapshots, &path)
                    .and_then(|()| write_atomically(&path, text.as_bytes()))
                    .map_err(|e| {
                        Failure::input(anyhow::anyhow!("{}: cannot write: {e}", path.display()))
                    })?;
                Status::Written
            }
            (SnapshotMode::Check, None) => Status::New,
            (SnapshotMode::Check, Some(old)) => {
                // Files recorded under other statistics got past the
                // refusal above: their shapes compare without the line.
                let (old, new) = if recorded_stats(&old) == stats {
                    (old, text)
                } else {
                    (without_stats(&old), without_stats(&text))
                };
                if old == new {
                    Status::Same
                } else {
                    Status::Changed { old, new }
                }
            }
        };
        entries.push(Entry { id, path, status });
    }
    Ok(Snapshots {
        entries,
        interrupted: set.interrupted,
        lost: set.runner.lost(),
        notes: notes.into_iter().chain(set.notes).collect(),
    })
}
