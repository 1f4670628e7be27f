//! Writing captured statements into a query set directory.
//!
//! Promises: a file is written through a temporary file in its directory
//! and a rename, so a reader never sees half of one; no file is ever
//! deleted; an id that would leave the output directory is refused; a file
//! whose SQL differs from what capture would write (a person edited the
//! statement) is left exactly as it is and reported. A file whose SQL is
//! the same only has its `-- captured:` line replaced: directives a person
//! changed or added stay.

use crate::files::{create_parents_inside, safe_relative, write_atomically};
use std::path::{Path, PathBuf};

use super::{CapturedQuery, ParamValue, format_ms, normalize};

pub use crate::queryset::STATS_PREFIX;

/// Why the query set could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: cannot read the existing query file")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot write")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "query id {0:?} cannot be used as a file name (it must be a relative path without `..`)"
    )]
    BadId(String),
    #[error(
        "{path}: a symbolic link leads out of the output directory {dir}; capture writes only inside it"
    )]
    Escapes { path: PathBuf, dir: PathBuf },
}

/// What happened to one query's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// The file did not exist.
    New,
    /// Its `-- captured:` line was rewritten.
    Updated,
    /// Nothing to change.
    Unchanged,
    /// Its SQL differs from the captured statement: left alone.
    Kept,
}

/// What [`write_set`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Each query id with what happened to its file, in capture order.
    pub files: Vec<(String, FileStatus)>,
    /// Plan files written (`<id>.plan.json` or `.plan.txt`).
    pub plans: Vec<PathBuf>,
}

impl WriteSummary {
    /// How many files had this status.
    pub fn count(&self, status: FileStatus) -> usize {
        self.files.iter().filter(|(_, s)| *s == status).count()
    }

    /// `capture: 3 new, 5 updated, 2 unchanged, 1 kept (edited by hand): orders/select_ab12`
    pub fn line(&self) -> String {
        let mut line = format!(
            "capture: {} new, {} updated, {} unchanged",
            self.count(FileStatus::New),
            self.count(FileStatus::Updated),
            self.count(FileStatus::Unchanged)
        );
        let kept: Vec<&str> = self
            .files
            .iter()
            .filter(|(_, s)| *s == FileStatus::Kept)
            .map(|(id, _)| id.as_str())
            .collect();
        if !kept.is_empty() {
            line.push_str(&format!(
                ", {} kept (edited by hand): {}",
                kept.len(),
                kept.join(", ")
            ));
        }
        line
    }
}

/// Writes each query to `<dir>/<id>.sql` (and its plan, if any), creating
/// directories as needed. See the module docs for what happens to files
/// that exist.
pub fn write_set(dir: &Path, queries: &[CapturedQuery]) -> Result<WriteSummary, WriteError> {
    let mut summary = WriteSummary::default();
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| WriteError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let root = dir.canonicalize().map_err(write_error(dir))?;
    for query in queries {
        let relative =
            safe_relative(&query.id).ok_or_else(|| WriteError::BadId(query.id.clone()))?;
        let path = dir.join(format!("{}.sql", relative.display()));
        // The id is a plain relative path; a directory on the way may still
        // be a symbolic link planted to lead elsewhere.
        let escapes = || WriteError::Escapes {
            path: path.clone(),
            dir: dir.to_owned(),
        };
        match create_parents_inside(dir, &path) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(escapes()),
            Err(e) => return Err(write_error(&path)(e)),
            Ok(()) => {}
        }
        if !path
            .parent()
            .and_then(|p| p.canonicalize().ok())
            .is_some_and(|real| real.starts_with(&root))
        {
            return Err(escapes());
        }
        let status = write_query(&path, query)?;
        if matches!(status, FileStatus::New | FileStatus::Updated) {
            if let Some(plan) = &query.plan {
                let plan_path = dir.join(format!(
                    "{}.plan.{}",
                    relative.display(),
                    plan.format.extension()
                ));
                let mut text = plan.text.clone();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                if std::fs::read_to_string(&plan_path).ok().as_deref() != Some(text.as_str()) {
                    write_atomically(&plan_path, text.as_bytes()).map_err(|source| {
                        WriteError::Write {
                            path: plan_path.clone(),
                            source,
                        }
                    })?;
                    summary.plans.push(plan_path);
                }
            }
        }
        summary.files.push((query.id.clone(), status));
    }
    Ok(summary)
}

fn write_query(path: &Path, query: &CapturedQuery) -> Result<FileStatus, WriteError> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(WriteError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let (status, text) = match existing {
        None => (FileStatus::New, render(query)),
        Some(existing) => {
            let (header, body) = split_header(&existing);
            if normalize::key(body) != query.key {
                return Ok(FileStatus::Kept);
            }
            let updated = replace_stats_line(header, &stats_line(query)) + body;
            if updated == existing {
                return Ok(FileStatus::Unchanged);
            }
            (FileStatus::Updated, updated)
        }
    };
    write_atomically(path, text.as_bytes()).map_err(|source| WriteError::Write {
        path: path.to_owned(),
        source,
    })?;
    Ok(status)
}

/// The whole file for a query.
pub fn render(query: &CapturedQuery) -> String {
    let mut text = format!(
        "-- planguard: name = {}\n-- planguard: tags = [\"captured\"]\n",
        quote(&name_for(&query.sql))
    );
    if query.dml {
        text.push_str("-- planguard: allow_dml = false\n");
    }
    if let Some(params) = &query.params {
        let values: Vec<String> = params.iter().map(param_literal).collect();
        text.push_str(&format!("-- planguard: params = [{}]\n", values.join(", ")));
    }
    text.push_str(&stats_line(query));
    text.push('\n');
    text.push_str(&query.sql);
    text.push_str(";\n");
    text
}

/// `-- captured: pg_stat_statements, calls = 3, mean = 0.012 ms, ...`
fn stats_line(query: &CapturedQuery) -> String {
    let stats = &query.stats;
    let mut line = format!(
        "{STATS_PREFIX} {}, calls = {}, mean = {}, total = {}",
        query.source.name(),
        stats.calls,
        format_ms(stats.mean_ms()),
        format_ms(stats.total_ms)
    );
    if let Some(max) = stats.max_ms {
        line.push_str(&format!(", max = {}", format_ms(max)));
    }
    if let Some(rows) = stats.rows {
        line.push_str(&format!(", rows = {rows}"));
    }
    if !stats.queryids.is_empty() {
        let mut ids = stats.queryids.clone();
        ids.sort_unstable();
        let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
        line.push_str(&format!(", queryid = {}", ids.join(" ")));
    }
    line
}

/// The statement on one line, cut at about 72 characters.
fn name_for(sql: &str) -> String {
    let flat: String = sql
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    const MAX: usize = 72;
    if flat.chars().count() <= MAX {
        flat
    } else {
        let cut: String = flat.chars().take(MAX).collect();
        format!("{}…", cut.trim_end())
    }
}

/// A string that is both a TOML basic string and a JSON string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An integer as a number when it reads back the same, anything else as
/// a string; NULL as `null` (which makes the array JSON, not TOML).
fn param_literal(value: &ParamValue) -> String {
    match value {
        ParamValue::Null => "null".to_owned(),
        ParamValue::Text(text) => match text.parse::<i64>() {
            Ok(n) if n.to_string() == *text => text.clone(),
            _ => quote(text),
        },
    }
}

/// The leading comment and blank lines, and the rest.
fn split_header(text: &str) -> (&str, &str) {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if !(trimmed.is_empty() || trimmed.starts_with("--")) {
            break;
        }
        offset += line.len();
    }
    text.split_at(offset)
}

/// The header with its `-- captured:` line replaced, or the line added at
/// its end when a person removed it.
fn replace_stats_line(header: &str, line: &str) -> String {
    let mut out = String::with_capacity(header.len() + line.len());
    let mut replaced = false;
    for existing in header.split_inclusive('\n') {
        if !replaced && existing.trim_start().starts_with(STATS_PREFIX) {
            out.push_str(line);
            out.push('\n');
            replaced = true;
        } else {
            out.push_str(existing);
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Source, Stats};

    fn query(id: &str, sql: &str, calls: u64) -> CapturedQuery {
        CapturedQuery {
            id: id.into(),
            sql: sql.into(),
            key: normalize::key(sql),
            dml: sql.starts_with("UPDATE"),
            source: Source::PgStatStatements,
            stats: Stats {
                calls,
                total_ms: calls as f64 * 1.5,
                rows: Some(calls),
                queryids: vec![-42],
                ..Stats::default()
            },
            params: None,
            plan: None,
        }
    }

    #[test]
    fn the_file_reads_as_a_query_set_file() {
        let mut q = query("t/update_1", "UPDATE t SET a = $1 WHERE b = $2", 2);
        q.params = Some(vec![
            ParamValue::Text("42".into()),
            ParamValue::Text("say \"hi\"\n".into()),
        ]);
        assert_eq!(
            render(&q),
            "-- planguard: name = \"UPDATE t SET a = $1 WHERE b = $2\"\n\
             -- planguard: tags = [\"captured\"]\n\
             -- planguard: allow_dml = false\n\
             -- planguard: params = [42, \"say \\\"hi\\\"\\n\"]\n\
             -- captured: pg_stat_statements, calls = 2, mean = 1.50 ms, total = 3.00 ms, rows = 2, queryid = -42\n\
             UPDATE t SET a = $1 WHERE b = $2;\n"
        );
        assert_eq!(param_literal(&ParamValue::Text("007".into())), "\"007\"");
        assert_eq!(param_literal(&ParamValue::Null), "null");
    }

    #[test]
    fn a_second_capture_updates_counts_and_keeps_edits() {
        let dir = tempfile::tempdir().unwrap();
        let a = query("t/select_a", "SELECT * FROM t WHERE a = $1", 1);
        let b = query("t/select_b", "SELECT * FROM t WHERE b = $1", 1);
        let summary = write_set(dir.path(), &[a.clone(), b.clone()]).unwrap();
        assert_eq!(summary.count(FileStatus::New), 2);

        // A person adds a directive to one file and edits the other's SQL.
        let a_path = dir.path().join("t/select_a.sql");
        let b_path = dir.path().join("t/select_b.sql");
        let a_text = std::fs::read_to_string(&a_path).unwrap();
        std::fs::write(&a_path, format!("-- planguard: skip = \"slow\"\n{a_text}")).unwrap();
        let b_edited = std::fs::read_to_string(&b_path)
            .unwrap()
            .replace("b = $1", "b = $1 AND c = 2");
        std::fs::write(&b_path, &b_edited).unwrap();

        let summary = write_set(
            dir.path(),
            &[
                query("t/select_a", &a.sql, 5),
                query("t/select_b", &b.sql, 5),
            ],
        )
        .unwrap();
        assert_eq!(
            summary.line(),
            "capture: 0 new, 1 updated, 0 unchanged, 1 kept (edited by hand): t/select_b"
        );
        let a_now = std::fs::read_to_string(&a_path).unwrap();
        assert!(a_now.starts_with("-- planguard: skip = \"slow\"\n"));
        assert!(a_now.contains("calls = 5,"));
        assert_eq!(std::fs::read_to_string(&b_path).unwrap(), b_edited);

        let summary = write_set(dir.path(), &[query("t/select_a", &a.sql, 5)]).unwrap();
        assert_eq!(summary.line(), "capture: 0 new, 0 updated, 1 unchanged");
    }

    #[test]
    fn ids_never_leave_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        for id in ["../x", "/etc/x", "a/../../x", ""] {
            let err = write_set(dir.path(), &[query(id, "SELECT 1", 1)]).unwrap_err();
            assert!(matches!(err, WriteError::BadId(_)), "{id}");
        }
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("t")).unwrap();
        let err = write_set(dir.path(), &[query("t/select_a", "SELECT 1", 1)]).unwrap_err();
        assert!(matches!(err, WriteError::Escapes { .. }), "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
