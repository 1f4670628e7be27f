//! Baseline files on disk: one pretty JSON file per query, written
//! atomically.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::{Baseline, FORMAT_VERSION};

/// Why a baseline could not be read or written. Every variant names the
/// file.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{path}: cannot read the baseline: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid baseline (line {line}, column {column}): {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}: baseline format_version {found} is not supported (this planguard reads {FORMAT_VERSION}); re-record it with `planguard baseline`"
    )]
    UnknownVersion { path: PathBuf, found: String },
    #[error("{path}: cannot write the baseline: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "query id {0:?} cannot be used as a file name (it must be a relative path without `..`)"
    )]
    BadId(String),
}

/// A directory of baseline files.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a query id, refusing ids that would leave the directory.
    pub fn path_for(&self, query_id: &str) -> Result<PathBuf, BaselineError> {
        safe_relative(query_id)
            .map(|rel| self.dir.join(format!("{}.json", rel.display())))
            .ok_or_else(|| BaselineError::BadId(query_id.to_owned()))
    }

    /// Reads a query's baseline; `None` when it has none.
    pub fn load(&self, query_id: &str) -> Result<Option<Baseline>, BaselineError> {
        let path = self.path_for(query_id)?;
        match std::fs::read(&path) {
            Ok(bytes) => read_baseline(&path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(BaselineError::Read { path, source }),
        }
    }

    /// Writes a baseline: to a temporary file in the same directory, then
    /// renamed over the old one, so readers see the old or the new file and
    /// never half of one.
    pub fn save(&self, baseline: &Baseline) -> Result<PathBuf, BaselineError> {
        let path = self.path_for(&baseline.query_id)?;
        let mut text =
            serde_json::to_string_pretty(baseline).map_err(|e| BaselineError::Write {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
        text.push('\n');
        write_atomically(&path, text.as_bytes()).map_err(|source| BaselineError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// Parses a baseline file's bytes, checking the format version first so
/// that a newer format is named as such rather than as corrupt.
pub fn read_baseline(path: &Path, bytes: &[u8]) -> Result<Baseline, BaselineError> {
    let corrupt = |e: serde_json::Error| BaselineError::Corrupt {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(corrupt)?;
    match value.get("format_version") {
        Some(v) if v.as_u64() == Some(u64::from(FORMAT_VERSION)) => {}
        Some(other) => {
            return Err(BaselineError::UnknownVersion {
                path: path.to_owned(),
                found: other.to_string(),
            });
        }
        None => {
            return Err(BaselineError::Corrupt {
                path: path.to_owned(),
                line: 1,
                column: 1,
                message: "no format_version key".to_owned(),
            });
        }
    }
    serde_json::from_value(value).map_err(|e| BaselineError::Corrupt {
        path: path.to_owned(),
        line: 0,
        column: 0,
        message: e.to_string(),
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename; creates missing parent directories.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".planguard-")
        .suffix(".tmp")
        .tempfile_in(parent)?;
    // The rename makes the write atomic for readers and against a crash of
    // planguard; no fsync per file (the files are re-creatable, and one
    // fsync each would dominate the run time of large query sets).
    temp.write_all(bytes)?;
    temp.flush()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `id` as a relative path with only normal components, or None.
pub fn safe_relative(id: &str) -> Option<PathBuf> {
    if id.is_empty() || id.contains('\0') || id.contains('\\') {
        return None;
    }
    let path = Path::new(id);
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_the_directory() {
        let store = Store::new("/tmp/b");
        assert!(store.path_for("../x").is_err());
        assert!(store.path_for("/etc/passwd").is_err());
        assert!(store.path_for("a/../../x").is_err());
        assert!(store.path_for("").is_err());
        assert_eq!(
            store.path_for("reports/top").unwrap(),
            PathBuf::from("/tmp/b/reports/top.json")
        );
    }

    #[test]
    fn unknown_version_and_broken_json_name_the_file() {
        let p = Path::new("baselines/q.json");
        let err = read_baseline(p, br#"{"format_version": 99}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("baselines/q.json: baseline format_version 99")
        );
        let err = read_baseline(p, b"{\"format_version\": 1,").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("baselines/q.json: not a valid baseline (line 1")
        );
    }
}
