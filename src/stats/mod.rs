//! Planner statistics of one database (production) carried to another
//! (CI), so that CI plans the way production does: [`export`] reads them
//! into the versioned file of [`format`] (docs/stats.schema.json), and
//! [`import`] applies them, for good (`stats import`, PostgreSQL 18+) or
//! for one run's sessions only (`--stats`), with the planguard_stats
//! planner module (extension/planguard_stats) giving the planner the
//! file's table sizes.

use std::path::{Path, PathBuf};

pub mod export;
pub mod format;
pub mod import;

pub use export::{ExportOptions, Selection, export};
pub use format::{Loaded, StatsFile, read, write};
pub use import::{Prepared, prepare};

/// The server's `server_version` (its first word) and
/// `server_version_num`.
pub async fn server_version(
    client: &tokio_postgres::Client,
) -> Result<(String, u32), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT split_part(current_setting('server_version'), ' ', 1), current_setting('server_version_num')::int",
            &[],
        )
        .await?;
    Ok((
        row.try_get(0)?,
        u32::try_from(row.try_get::<_, i32>(1)?).unwrap_or(0),
    ))
}

/// Baselines or snapshots recorded with another statistics file than a
/// run's: plans made from other statistics are not comparable.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} was recorded with the statistics file sha256:{}{}, and {}: plans made under other statistics are not comparable; record them again with the same --stats, or pass --allow-stats-mismatch",
    first.display(),
    short(recorded),
    if *count > 1 { format!(" (and {} more)", count - 1) } else { String::new() },
    match (current, current_path) {
        (Some(h), Some(path)) => format!("this run plans with {} (sha256:{})", path.display(), short(h)),
        _ => "this run has no --stats".to_owned(),
    }
)]
pub struct Mismatch {
    /// The first file recorded with another statistics file.
    pub first: PathBuf,
    /// The hash it recorded.
    pub recorded: String,
    /// How many files were recorded with another one.
    pub count: usize,
    /// The run's statistics hash and file, if any.
    pub current: Option<String>,
    pub current_path: Option<PathBuf>,
}

/// A hash read from a file may be anything: cut it by characters.
fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

/// The files of `recorded` (each with the statistics hash it recorded)
/// that were recorded with another statistics file than `current` (the
/// run's, from `current_path`). A file recorded without one was planned
/// with the real statistics of the database it was recorded on
/// (production, where statistics files come from) and compares with any
/// run.
pub fn mismatch(
    current: Option<&str>,
    current_path: Option<&Path>,
    recorded: &[(PathBuf, Option<String>)],
) -> Option<Mismatch> {
    let other: Vec<(&PathBuf, &str)> = recorded
        .iter()
        .filter_map(|(path, hash)| Some((path, hash.as_deref()?)))
        .filter(|(_, hash)| Some(*hash) != current)
        .collect();
    let (first, hash) = other.first()?;
    Some(Mismatch {
        first: (*first).clone(),
        recorded: (*hash).to_owned(),
        count: other.len(),
        current: current.map(str::to_owned),
        current_path: current_path.map(Path::to_path_buf),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_recorded_with_another_file_mismatch() {
        let recorded = vec![
            (PathBuf::from("baselines/a.json"), None),
            (PathBuf::from("baselines/b.json"), Some("aaaa".to_owned())),
            (PathBuf::from("baselines/c.json"), Some("bbbb".to_owned())),
        ];
        let m = mismatch(Some("aaaa"), Some(Path::new("stats.json")), &recorded).unwrap();
        assert_eq!((m.first.to_str(), m.count), (Some("baselines/c.json"), 1));
        assert!(
            m.to_string()
                .contains("this run plans with stats.json (sha256:aaaa)"),
            "{m}"
        );
        let m = mismatch(None, None, &recorded).unwrap();
        assert_eq!(m.count, 2);
        assert!(m.to_string().contains("this run has no --stats"), "{m}");
        assert!(mismatch(Some("x"), None, &recorded[..1]).is_none());
        // A hand-edited hash is cut by characters, never inside one.
        let odd = vec![(PathBuf::from("s.plan"), Some("é".repeat(20)))];
        assert!(
            mismatch(None, None, &odd)
                .unwrap()
                .to_string()
                .contains(&"é".repeat(12))
        );
    }
}
