//! Baseline files on disk: one pretty JSON file per query, written
//! atomically.

use std::path::{Path, PathBuf};

use crate::files::{create_parents_inside, safe_relative, write_atomically};

use super::{Baseline, FORMAT_VERSION};

/// Why a baseline could not be read or written. Every variant names the
/// file.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{path}: cannot read the baseline")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid baseline{}: {message}", at(.position))]
    Corrupt {
        path: PathBuf,
        /// Line and column of a JSON syntax error.
        position: Option<(usize, usize)>,
        message: String,
    },
    #[error(
        "{path}: baseline format_version {found} is not supported (this planguard reads {FORMAT_VERSION}); re-record it with `planguard baseline`"
    )]
    UnknownVersion { path: PathBuf, found: String },
    #[error("{path}: cannot write the baseline")]
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
        create_parents_inside(&self.dir, &path).map_err(|source| BaselineError::Write {
            path: path.clone(),
            source,
        })?;
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
        position: (e.line() > 0).then(|| (e.line(), e.column())),
        message: without_position(&e),
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
                position: None,
                message: "no format_version key".to_owned(),
            });
        }
    }
    serde_json::from_value(value).map_err(|e| BaselineError::Corrupt {
        path: path.to_owned(),
        position: None,
        message: without_position(&e),
    })
}

/// ` (line L, column C)` for a syntax error's position, else nothing.
fn at(position: &Option<(usize, usize)>) -> String {
    position.map_or_else(String::new, |(line, column)| {
        format!(" (line {line}, column {column})")
    })
}

/// serde_json's message without the " at line L column C" it appends,
/// which [`BaselineError::Corrupt`] says once itself.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.line() > 0 => text[..at].to_owned(),
        _ => text,
    }
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

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_new_and_replaces_existing_files_leaving_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.json");
        write_atomically(&path, b"first").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        // A reader holding the old file keeps reading the old contents:
        // the new ones come in a new file, not by rewriting it.
        let mut held = std::fs::File::open(&path).unwrap();
        write_atomically(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        let mut old = String::new();
        std::io::Read::read_to_string(&mut held, &mut old).unwrap();
        assert_eq!(old, "first");
        assert_eq!(names_in(dir.path()), ["q.json"]);
        // Nested ids create their directories.
        write_atomically(&dir.path().join("a/b/c.json"), b"x").unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b/c.json")).unwrap(), b"x");
        assert_eq!(names_in(dir.path()), ["a", "q.json"]);
    }

    #[test]
    fn a_symlinked_directory_leading_outside_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let store = Store::new(dir.path().join("store"));
        std::fs::create_dir(store.dir()).unwrap();
        std::os::unix::fs::symlink(&outside, store.dir().join("sub")).unwrap();
        std::os::unix::fs::symlink(store.dir().join("real"), store.dir().join("inner")).unwrap();
        std::fs::create_dir(store.dir().join("real")).unwrap();
        for id in ["sub/q", "sub/deeper/q"] {
            let path = store.path_for(id).unwrap();
            let err = create_parents_inside(store.dir(), &path).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "{}/sub is a symbolic link leading outside {}; planguard does not write through it",
                    store.dir().display(),
                    store.dir().display()
                )
            );
        }
        assert_eq!(names_in(&outside), Vec::<String>::new());
        // A link that stays inside is fine.
        let path = store.path_for("inner/new/q").unwrap();
        create_parents_inside(store.dir(), &path).unwrap();
        assert!(store.dir().join("real/new").is_dir());
    }

    #[test]
    fn a_symlink_in_the_way_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.json");
        std::fs::write(&outside, "keep me").unwrap();
        let inner = dir.path().join("store");
        std::fs::create_dir(&inner).unwrap();
        let path = inner.join("q.json");
        std::os::unix::fs::symlink(&outside, &path).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names_in(&inner), ["q.json"]);
    }
}
