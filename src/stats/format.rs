//! The statistics file (`stats.json`): planner statistics of one database
//! as portable, versioned JSON (schema: docs/stats.schema.json).
//!
//! Promises: relations, indexes, columns and extended statistics are
//! written sorted by name, and nothing depends on the time of the export,
//! so exporting twice from an unchanged database gives the same bytes and
//! a git diff shows what changed. Values the planner keeps as arrays of
//! the column's type (most common values, histograms) are kept in
//! PostgreSQL's text form, exactly as `pg_restore_attribute_stats` takes
//! them. A file with an unknown `format_version` or broken JSON is an
//! error naming the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The value of `format`.
pub const FORMAT_NAME: &str = "planguard-stats";
/// The file format this version writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// A statistics file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsFile {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] when written by this version.
    pub format_version: u32,
    /// The server the statistics come from.
    pub source: Source,
    /// Columns whose statistics `pg_stats` did not show to the exporting
    /// role (it needs SELECT on them), as `schema.table.column`.
    pub hidden_columns: Vec<String>,
    /// Columns exported without most-common values and histograms
    /// (`--redact`), as `schema.table.column`.
    pub redacted_columns: Vec<String>,
    /// Tables (and materialized views, partitioned tables) by schema and
    /// name.
    pub relations: Vec<Relation>,
}

/// Where the statistics come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// `server_version`, e.g. `18.1`.
    pub server_version: String,
    /// `server_version_num`, e.g. 180001 (what `pg_restore_*_stats` take as
    /// `version`).
    pub server_version_num: u32,
}

/// One table's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    /// `pg_class.relkind`: `r` table, `p` partitioned table, `m`
    /// materialized view.
    pub kind: String,
    #[serde(flatten)]
    pub size: Size,
    /// Its indexes, by name (same schema as the table).
    pub indexes: Vec<Index>,
    /// `pg_stats` rows of its columns, by column name then `inherited`.
    pub columns: Vec<Column>,
    /// `pg_stats_ext` rows of its extended statistics objects.
    pub extended: Vec<Extended>,
}

/// `pg_class` size figures of a table or an index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Size {
    pub relpages: i64,
    /// -1 when never analyzed (PostgreSQL 14+).
    pub reltuples: f64,
    pub relallvisible: i64,
    /// PostgreSQL 18+ only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relallfrozen: Option<i64>,
}

/// One index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    #[serde(flatten)]
    pub size: Size,
}

/// One `pg_stats` row. Array values are PostgreSQL's text form of the
/// column-typed arrays (`{a,b,"c d"}`); `None` is SQL NULL.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// Statistics of the table with its inheritance children.
    pub inherited: bool,
    pub null_frac: Option<f32>,
    pub avg_width: Option<i32>,
    pub n_distinct: Option<f32>,
    /// Real data from the table: see `--redact`.
    pub most_common_vals: Option<String>,
    pub most_common_freqs: Option<Vec<f32>>,
    /// Real data from the table: see `--redact`.
    pub histogram_bounds: Option<String>,
    pub correlation: Option<f32>,
    pub most_common_elems: Option<String>,
    pub most_common_elem_freqs: Option<Vec<f32>>,
    pub elem_count_histogram: Option<Vec<f32>>,
    /// PostgreSQL 17+.
    #[serde(default)]
    pub range_length_histogram: Option<String>,
    /// PostgreSQL 17+.
    #[serde(default)]
    pub range_empty_frac: Option<f32>,
    /// PostgreSQL 17+.
    #[serde(default)]
    pub range_bounds_histogram: Option<String>,
}

/// One `pg_stats_ext` row, values in their text form. Exported for the
/// record and for diffs; no PostgreSQL release up to 18 can import them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extended {
    pub schema: String,
    pub name: String,
    pub inherited: bool,
    /// The columns it covers.
    pub columns: Vec<String>,
    /// `d` (n-distinct), `f` (dependencies), `m` (MCV), `e` (expressions).
    pub kinds: Vec<String>,
    pub n_distinct: Option<String>,
    pub dependencies: Option<String>,
    pub most_common_vals: Option<String>,
    pub most_common_freqs: Option<Vec<f64>>,
    pub most_common_base_freqs: Option<Vec<f64>>,
}

/// A statistics file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: cannot read", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a planguard statistics file: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error(
        "{}: statistics format_version {found} is not supported (this planguard reads {FORMAT_VERSION}); export it again with `planguard stats export`",
        path.display()
    )]
    Version { path: PathBuf, found: u64 },
    #[error("{}: cannot write", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A statistics file as read, with the hash runs record.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: StatsFile,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub path: PathBuf,
}

/// Reads and checks a statistics file.
pub fn read(path: &Path) -> Result<Loaded, FileError> {
    let bytes = std::fs::read(path).map_err(|source| FileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file = parse(path, &bytes)?;
    Ok(Loaded {
        file,
        sha256: crate::hash::sha256_hex(&bytes),
        path: path.to_owned(),
    })
}

/// Parses the bytes of a statistics file (`path` names it in errors).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<StatsFile, FileError> {
    let invalid = |message: String| FileError::Invalid {
        path: path.to_owned(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("broken JSON: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
        return Err(invalid(format!("no \"format\": \"{FORMAT_NAME}\"")));
    }
    match value.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(found) => {
            return Err(FileError::Version {
                path: path.to_owned(),
                found,
            });
        }
        None => return Err(invalid("no format_version".to_owned())),
    }
    // From the bytes again, so that an error says where it is.
    serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))
}

/// Writes `file` as pretty JSON, atomically (a temporary file renamed
/// into place).
pub fn write(path: &Path, file: &StatsFile) -> Result<(), FileError> {
    let mut text = serde_json::to_string_pretty(file).map_err(|e| FileError::Write {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    text.push('\n');
    crate::files::write_atomically(path, text.as_bytes()).map_err(|source| FileError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_version_and_broken_json_name_the_file() {
        let p = Path::new("ci/stats.json");
        let err = parse(p, br#"{"format": "planguard-stats", "format_version": 9}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ci/stats.json: statistics format_version 9"),
            "{err}"
        );
        let err = parse(p, b"{\"format\":").unwrap_err();
        assert!(err.to_string().contains("broken JSON"), "{err}");
        let err = parse(
            p,
            b"{\"format\": \"planguard-stats\", \"format_version\": 1,\n \"source\": 5}",
        )
        .unwrap_err();
        assert!(err.to_string().contains("line 2 column"), "{err}");
        let err = parse(p, br#"{"format_version": 1}"#).unwrap_err();
        assert!(
            err.to_string().contains("not a planguard statistics file"),
            "{err}"
        );
    }
}
