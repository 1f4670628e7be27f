//! Files planguard writes: atomically, and only inside the directory
//! they belong to (baselines, snapshots, a captured query set, reports).

use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename; creates missing parent directories. Readers see the old
/// file or the new one, never a part; a failed write (a full disk, say)
/// leaves the old file as it was and no temporary file.
///
/// A path that is (or links to) something other than a file or a
/// directory, such as `/dev/null`, `/dev/stdout` or a named pipe, is
/// written to as it is, as a shell redirection would: renaming over it
/// would replace the device (as root, `/dev/null` itself).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
        && !meta.is_dir()
    {
        let mut target = std::fs::OpenOptions::new().write(true).open(path)?;
        target.write_all(bytes)?;
        return target.flush();
    }
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
    replace(temp.into_temp_path(), path)
}

/// Moves the finished temporary file to `path`.
///
/// When `path` exists, Linux swaps the two names in one step
/// (`renameat2(RENAME_EXCHANGE)`, as atomic as a rename) and the old
/// contents, now under the temporary name, are removed. Renaming over an
/// existing file instead makes ext4 start writing the new file back at
/// once (its `auto_da_alloc` safeguard for programs that skip fsync), which
/// made replacing 500 baselines take two to three times as long. Where the
/// swap is not supported (another OS or file system), a plain rename.
fn replace(temp: tempfile::TempPath, path: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if std::fs::symlink_metadata(path).is_ok() {
        match exchange(&temp, path) {
            Ok(()) => {
                // `temp` now names the old contents. Should removing them
                // fail, the new file is in place all the same.
                let _ = temp.close();
                return Ok(());
            }
            Err(e)
                if [
                    rustix::io::Errno::INVAL,
                    rustix::io::Errno::NOSYS,
                    rustix::io::Errno::OPNOTSUPP,
                    rustix::io::Errno::NOENT,
                ]
                .iter()
                .any(|errno| e.raw_os_error() == Some(errno.raw_os_error())) => {}
            Err(e) => return Err(e),
        }
    }
    temp.persist(path).map_err(|e| e.error)
}

/// Swaps two existing paths atomically.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

/// Creates the missing directories between `root` and the file `path`
/// (which lies below it), refusing a symbolic link on the way that leads
/// outside `root`: a query id is a plain relative path, but a directory
/// under the baselines (or snapshots, or capture) directory may still be
/// a link planted to lead elsewhere. `root` itself may be a link; a link
/// in place of the file is replaced, never followed ([`write_atomically`]).
pub fn create_parents_inside(root: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root)?;
    let real_root = root.canonicalize()?;
    let Some(relative) = path.parent().and_then(|p| p.strip_prefix(root).ok()) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not inside {}", path.display(), root.display()),
        ));
    };
    let mut at = root.to_path_buf();
    for component in relative.components() {
        let Component::Normal(part) = component else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not inside {}", path.display(), root.display()),
            ));
        };
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_symlink() => {
                let real = at.canonicalize()?;
                if !real.starts_with(&real_root) || !real.is_dir() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        format!(
                            "{} is a symbolic link leading outside {}; planguard does not write through it",
                            at.display(),
                            root.display()
                        ),
                    ));
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir(&at)?,
            Err(e) => return Err(e),
        }
    }
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

    /// `-o /dev/null` or a named pipe: written through, never replaced.
    #[cfg(unix)]
    #[test]
    fn a_device_or_pipe_is_written_through_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // A reader at the pipe first (non-blocking: no writer yet), so
        // that writing to it does not wait.
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        write_atomically(&fifo, b"report").unwrap();
        let mut got = Vec::new();
        let _ = reader.read_to_end(&mut got);
        assert_eq!(got, b"report");
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "{kind:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
