//! Finding the `.sql` files of a query directory (rules in the module docs
//! of `queryset`).

use std::path::{Path, PathBuf};

use super::QuerySetError;

/// Every `.sql` file under `root` as (id, path), sorted by id. Paths are
/// `root` joined with the relative path, as people typed them.
pub(crate) fn sql_files(root: &Path) -> Result<Vec<(String, PathBuf)>, QuerySetError> {
    let canonical_root = canonical(root)?;
    let mut walk = Walk {
        root: canonical_root.clone(),
        ancestors: vec![canonical_root],
        files: Vec::new(),
    };
    walk.dir(root, "")?;
    walk.files.sort();
    Ok(walk.files)
}

struct Walk {
    root: PathBuf,
    /// The canonical directories being read, outermost first: a link back
    /// to one of them would loop, so it is skipped.
    ancestors: Vec<PathBuf>,
    files: Vec<(String, PathBuf)>,
}

impl Walk {
    fn dir(&mut self, dir: &Path, prefix: &str) -> Result<(), QuerySetError> {
        let read_error = |source| QuerySetError::Read {
            path: dir.to_owned(),
            source,
        };
        let mut entries = std::fs::read_dir(dir)
            .map_err(read_error)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(read_error)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return Err(QuerySetError::NotUtf8 { path });
            };
            if name.starts_with('.') {
                continue;
            }
            let file_type = entry.file_type().map_err(|source| QuerySetError::Read {
                path: path.clone(),
                source,
            })?;
            let (is_dir, is_file) = if file_type.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(meta) => (meta.is_dir(), meta.is_file()),
                    // A dangling link matters only where a query was meant.
                    Err(_) if !name.ends_with(".sql") => continue,
                    Err(source) => return Err(QuerySetError::Read { path, source }),
                }
            } else {
                (file_type.is_dir(), file_type.is_file())
            };
            let sql_stem = name.strip_suffix(".sql").filter(|_| is_file);
            if !is_dir && sql_stem.is_none() {
                continue;
            }
            let target = canonical(&path)?;
            if file_type.is_symlink() && !target.starts_with(&self.root) {
                return Err(QuerySetError::LinkOutside { path, target });
            }
            if is_dir {
                if !self.ancestors.contains(&target) {
                    self.ancestors.push(target);
                    self.dir(&path, &format!("{prefix}{name}/"))?;
                    self.ancestors.pop();
                }
            } else if let Some(stem) = sql_stem {
                self.files.push((format!("{prefix}{stem}"), path));
            }
        }
        Ok(())
    }
}

fn canonical(path: &Path) -> Result<PathBuf, QuerySetError> {
    std::fs::canonicalize(path).map_err(|source| QuerySetError::Read {
        path: path.to_owned(),
        source,
    })
}
