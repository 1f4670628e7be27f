//! A throwaway PostgreSQL cluster from the local server binaries, for the
//! demo and the tests.
//!
//! Promises: the cluster listens only on 127.0.0.1 (a free port) and on a
//! private socket directory; it runs as the unprivileged `postgres` user when
//! the caller is root (initdb refuses root); it is stopped and its files
//! removed when the [`TempDb`] is dropped, and also when the process dies
//! without dropping it (a guard process notices the closed pipe).

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Instant;

/// The superuser every throwaway cluster is created with.
pub const SUPERUSER: &str = "postgres";

/// Why a throwaway cluster could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TempDbError {
    #[error(
        "no PostgreSQL server binaries found (looked at PLANGUARD_PG_BINDIR, pg_config --bindir, PATH and /usr/lib/postgresql/*/bin); {hint}"
    )]
    NoBinaries { hint: String },
    #[error("PLANGUARD_PG_BINDIR={0} holds no initdb")]
    BadBindir(PathBuf),
    #[error(
        "no PostgreSQL {major} server binaries found (looked in {looked}); fetch them with `scripts/fetch-postgres.sh {major}`, or install postgresql-{major}"
    )]
    NoVersion { major: u32, looked: String },
    #[error(
        "running as root, but there is no `postgres` user to run the server as (initdb refuses root); create one with `useradd --system postgres`"
    )]
    NoPostgresUser,
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> TempDbError {
    let context = context.into();
    move |source| TempDbError::Io { context, source }
}

/// How to make the cluster.
#[derive(Debug, Clone, Default)]
pub struct TempDbOptions {
    /// Server binaries to use instead of searching.
    pub bindir: Option<PathBuf>,
    /// The major version wanted (13, 14, ...): its binaries are looked up
    /// with [`find_bindir_for`]. None: [`find_bindir`].
    pub major: Option<u32>,
    /// Server settings written to postgresql.conf (values are quoted).
    pub settings: Vec<(String, String)>,
    /// pg_hba.conf lines placed before the default trust lines.
    pub hba: Vec<String>,
    /// Files written into the data directory (mode 0600), e.g. a TLS
    /// certificate and key for `ssl_cert_file`.
    pub files: Vec<(String, Vec<u8>)>,
}

impl TempDbOptions {
    /// Adds a server setting.
    pub fn setting(mut self, name: &str, value: &str) -> TempDbOptions {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A running throwaway cluster.
pub struct TempDb {
    root: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    bindir: PathBuf,
    port: u16,
    version: String,
    run_as: Option<(u32, u32)>,
    startup: std::time::Duration,
    guard: Option<(Child, ChildStdin)>,
}

impl TempDb {
    /// Starts a cluster with default options.
    pub fn start() -> Result<TempDb, TempDbError> {
        TempDb::start_with(TempDbOptions::default())
    }

    /// Creates and starts a cluster.
    pub fn start_with(options: TempDbOptions) -> Result<TempDb, TempDbError> {
        let started = Instant::now();
        let bindir = match (&options.bindir, options.major) {
            (Some(dir), _) => dir.clone(),
            (None, Some(major)) => find_bindir_for(major)?,
            (None, None) => find_bindir()?,
        };
        let run_as = if is_root() {
            Some(postgres_user()?)
        } else {
            None
        };
        let root = tempfile::Builder::new()
            .prefix("planguard-tempdb-")
            .tempdir()
            .map_err(io_err("cannot create a temporary directory"))?
            .keep();
        let data = root.join("data");
        let socket_dir = root.join("socket");
        std::fs::create_dir(&socket_dir).map_err(io_err("cannot create the socket directory"))?;
        if let Some((uid, gid)) = run_as {
            for path in [&root, &socket_dir] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io_err(format!(
                    "cannot hand {} to postgres",
                    path.display()
                )))?;
            }
        }
        let mut db = TempDb {
            version: server_version(&bindir)?,
            root,
            data,
            socket_dir,
            bindir,
            port: 0,
            run_as,
            startup: Default::default(),
            guard: None,
        };
        // From here on, dropping `db` cleans up.
        db.spawn_guard()?;
        db.initdb(&options)?;
        let mut last_error = None;
        for _ in 0..5 {
            db.port = free_port()?;
            match db.pg_ctl(&[
                "start",
                "-w",
                "-t",
                "60",
                "-s",
                "-o",
                &format!("-p {}", db.port),
            ]) {
                Ok(_) => {
                    db.startup = started.elapsed();
                    return Ok(db);
                }
                Err(err) => {
                    let log = db.log();
                    let port_taken = log.contains("could not bind") || log.contains("in use");
                    last_error = Some(match err {
                        TempDbError::Command { what, detail } => TempDbError::Command {
                            what,
                            detail: format!("{detail}; server log: {}", tail(&log, 5)),
                        },
                        other => other,
                    });
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        Err(last_error.expect("the loop ran at least once"))
    }

    fn initdb(&self, options: &TempDbOptions) -> Result<(), TempDbError> {
        self.run(
            "initdb",
            &[
                "-D",
                path_str(&self.data),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        let mut conf = format!(
            "\n# planguard tempdb\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             max_connections = 100\nlogging_collector = off\n",
            self.socket_dir.display()
        );
        for (name, value) in &options.settings {
            conf.push_str(&format!("{name} = '{}'\n", value.replace('\'', "''")));
        }
        self.append(&self.data.join("postgresql.conf"), conf.as_bytes())?;
        let mut hba = options.hba.join("\n");
        hba.push_str(
            "\nlocal all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n",
        );
        self.write_file(&self.data.join("pg_hba.conf"), hba.as_bytes())?;
        for (name, contents) in &options.files {
            self.write_file(&self.data.join(name), contents)?;
        }
        Ok(())
    }

    fn write_file(&self, path: &Path, contents: &[u8]) -> Result<(), TempDbError> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(io_err(format!("cannot write {}", path.display())))?;
        file.write_all(contents)
            .map_err(io_err(format!("cannot write {}", path.display())))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io_err(format!(
                "cannot hand {} to postgres",
                path.display()
            )))?;
        }
        Ok(())
    }

    fn append(&self, path: &Path, contents: &[u8]) -> Result<(), TempDbError> {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io_err(format!("cannot write {}", path.display())))?;
        file.write_all(contents)
            .map_err(io_err(format!("cannot write {}", path.display())))
    }

    /// A shell that waits for our end of a pipe to close (we exited, however
    /// we exited), then stops the server and removes the files.
    fn spawn_guard(&mut self) -> Result<(), TempDbError> {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(
                "while read -r _; do :; done; \
                 if [ -f \"$1/postmaster.pid\" ]; then \"$0\" -D \"$1\" stop -m immediate -w -s >/dev/null 2>&1; fi; \
                 rm -rf -- \"$2\"",
            )
            .arg(self.bindir.join("pg_ctl"))
            .arg(&self.data)
            .arg(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(&self.root)
            // Its own process group: a Ctrl-C meant for us must not kill
            // the guard before it has cleaned up.
            .process_group(0);
        self.prepare(&mut command);
        let mut child = command
            .spawn()
            .map_err(io_err("cannot start the cleanup guard"))?;
        let stdin = child.stdin.take().expect("stdin is piped");
        self.guard = Some((child, stdin));
        Ok(())
    }

    fn prepare(&self, command: &mut Command) {
        use std::os::unix::process::CommandExt;
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command.env("LC_ALL", "C").env_remove("PGDATA");
        if let Some(lib) = self
            .bindir
            .parent()
            .map(|p| p.join("lib"))
            .filter(|l| l.is_dir())
        {
            command.env("LD_LIBRARY_PATH", lib);
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<Output, TempDbError> {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(self.bindir.join(program));
        command
            .args(args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .process_group(0);
        self.prepare(&mut command);
        let output = command.output().map_err(io_err(format!(
            "cannot run {}",
            self.bindir.join(program).display()
        )))?;
        if !output.status.success() {
            return Err(TempDbError::Command {
                what: format!("{program} {}", args.first().copied().unwrap_or_default()),
                detail: tail(&String::from_utf8_lossy(&output.stderr), 5),
            });
        }
        Ok(output)
    }

    /// Runs `pg_ctl` on this cluster (`stop -m fast`, `restart`, ...), as
    /// the right user.
    pub fn pg_ctl(&self, args: &[&str]) -> Result<Output, TempDbError> {
        let log = self.log_path();
        let mut full = vec!["-D", path_str(&self.data), "-l", path_str(&log)];
        full.extend_from_slice(args);
        self.run("pg_ctl", &full)
    }

    /// Starts the server again after a `pg_ctl stop`, on the same port.
    pub fn restart(&self) -> Result<(), TempDbError> {
        self.pg_ctl(&[
            "start",
            "-w",
            "-t",
            "60",
            "-s",
            "-o",
            &format!("-p {}", self.port),
        ])
        .map(|_| ())
    }

    /// Leaves the cluster running after this process exits: the cleanup
    /// guard is stopped and nothing is removed. Returns the data directory
    /// (stop the server with `pg_ctl -D DIR stop` as the server's user).
    pub fn keep(mut self) -> PathBuf {
        if let Some((mut child, stdin)) = self.guard.take() {
            // Kill the guard before closing its pipe, so it never runs.
            let _ = child.kill();
            let _ = child.wait();
            drop(stdin);
        }
        let data = self.data.clone();
        std::mem::forget(self);
        data
    }

    /// The user the server runs as (`postgres` when started as root).
    pub fn runs_as_postgres_user(&self) -> bool {
        self.run_as.is_some()
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The server binaries in use.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The server's version, e.g. `15.18`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The server's major version, e.g. 15.
    pub fn major_version(&self) -> u32 {
        major_of(&self.version)
    }

    /// How long initdb and start-up took.
    pub fn startup_time(&self) -> std::time::Duration {
        self.startup
    }

    /// A keyword/value conninfo for `dbname` over TCP.
    pub fn conninfo(&self, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={SUPERUSER} dbname={dbname} sslmode=disable",
            self.port
        )
    }

    /// A URI for `dbname` over TCP.
    pub fn uri(&self, dbname: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}@127.0.0.1:{}/{dbname}?sslmode=disable",
            self.port
        )
    }

    /// The server log file.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.guard.take() {
            drop(stdin);
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl std::fmt::Debug for TempDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempDb")
            .field("version", &self.version)
            .field("port", &self.port)
            .field("data", &self.data)
            .finish()
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

fn free_port() -> Result<u16, TempDbError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(io_err("cannot find a free port on 127.0.0.1"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(io_err("cannot find a free port on 127.0.0.1"))
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() && dir.join("postgres").is_file()
}

/// Finds server binaries: `PLANGUARD_PG_BINDIR`, `pg_config --bindir`,
/// `PATH`, then `/usr/lib/postgresql/*/bin`, newest version first.
pub fn find_bindir() -> Result<PathBuf, TempDbError> {
    find_bindir_from(
        std::env::var_os("PLANGUARD_PG_BINDIR"),
        std::env::var_os("PATH"),
        Path::new("/usr/lib/postgresql"),
    )
}

/// [`find_bindir`] with its inputs given: the `PLANGUARD_PG_BINDIR` and
/// `PATH` values, and the directory holding one `<major>/bin` per version.
fn find_bindir_from(
    explicit: Option<std::ffi::OsString>,
    path: Option<std::ffi::OsString>,
    versions_root: &Path,
) -> Result<PathBuf, TempDbError> {
    if let Some(dir) = explicit.filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_server(&dir) {
            Ok(dir)
        } else {
            Err(TempDbError::BadBindir(dir))
        };
    }
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(pg_config) = dirs
        .iter()
        .map(|d| d.join("pg_config"))
        .find(|p| p.is_file())
        && let Ok(output) = Command::new(pg_config).arg("--bindir").output()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_server(&dir) {
            return Ok(dir);
        }
    }
    if let Some(dir) = dirs.into_iter().find(|d| has_server(d)) {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(versions_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((major, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, dir)| dir)
        .ok_or_else(|| TempDbError::NoBinaries {
            hint: install_hint(),
        })
}

/// Where `scripts/fetch-postgres.sh` puts server binaries, one
/// `<major>/bin` each: `PLANGUARD_PG_CACHE`, else
/// `/var/cache/planguard/postgres` (where it writes as root), else
/// `${XDG_CACHE_HOME:-~/.cache}/planguard/postgres`.
pub fn cache_roots() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("PLANGUARD_PG_CACHE").filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut roots = vec![PathBuf::from("/var/cache/planguard/postgres")];
    let user_cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    if let Some(cache) = user_cache {
        roots.push(cache.join("planguard/postgres"));
    }
    roots
}

/// The server binaries of one major version: `<cache>/<major>/bin` (see
/// [`cache_roots`]), then `/usr/lib/postgresql/<major>/bin`, then
/// [`find_bindir`]'s answer when it is that version.
pub fn find_bindir_for(major: u32) -> Result<PathBuf, TempDbError> {
    let mut candidates: Vec<PathBuf> = cache_roots()
        .into_iter()
        .map(|root| root.join(major.to_string()).join("bin"))
        .collect();
    candidates.push(PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")));
    if let Some(dir) = candidates.iter().find(|d| has_server(d)) {
        return Ok(dir.clone());
    }
    if let Ok(dir) = find_bindir()
        && server_version(&dir).is_ok_and(|v| major_of(&v) == major)
    {
        return Ok(dir);
    }
    Err(TempDbError::NoVersion {
        major,
        looked: candidates
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// `15` of `15.18`, `18` of `18beta1`.
fn major_of(version: &str) -> u32 {
    version
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// Which package gives the server binaries on this system.
pub fn install_hint() -> String {
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let like = os
        .lines()
        .filter(|l| l.starts_with("ID=") || l.starts_with("ID_LIKE="))
        .collect::<Vec<_>>()
        .join(" ");
    if like.contains("debian") || like.contains("ubuntu") {
        "install them with `sudo apt-get install postgresql`".to_owned()
    } else if like.contains("fedora") || like.contains("rhel") || like.contains("centos") {
        "install them with `sudo dnf install postgresql-server`".to_owned()
    } else if like.contains("alpine") {
        "install them with `apk add postgresql`".to_owned()
    } else if like.contains("arch") {
        "install them with `pacman -S postgresql`".to_owned()
    } else if cfg!(target_os = "macos") {
        "install them with `brew install postgresql`".to_owned()
    } else {
        "install the PostgreSQL server package, or point PLANGUARD_PG_BINDIR at its bin directory"
            .to_owned()
    }
}

fn server_version(bindir: &Path) -> Result<String, TempDbError> {
    let mut command = Command::new(bindir.join("postgres"));
    command.arg("--version");
    if let Some(lib) = bindir
        .parent()
        .map(|p| p.join("lib"))
        .filter(|l| l.is_dir())
    {
        command.env("LD_LIBRARY_PATH", lib);
    }
    let output = command
        .output()
        .map_err(io_err(format!("cannot run {}/postgres", bindir.display())))?;
    // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .nth(2)
        .map(str::to_owned)
        .ok_or_else(|| TempDbError::Command {
            what: "postgres --version".to_owned(),
            detail: text.trim().to_owned(),
        })
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The uid and gid of the `postgres` user.
fn postgres_user() -> Result<(u32, u32), TempDbError> {
    let entry = Command::new("getent")
        .args(["passwd", SUPERUSER])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .or_else(|| {
            std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
                p.lines()
                    .find(|l| l.starts_with("postgres:"))
                    .map(str::to_owned)
            })
        })
        .ok_or(TempDbError::NoPostgresUser)?;
    let fields: Vec<&str> = entry.trim().split(':').collect();
    match (
        fields.get(2).and_then(|u| u.parse().ok()),
        fields.get(3).and_then(|g| g.parse().ok()),
    ) {
        (Some(uid), Some(gid)) => Ok((uid, gid)),
        _ => Err(TempDbError::NoPostgresUser),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_server(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for name in ["initdb", "pg_ctl", "postgres"] {
            std::fs::write(dir.join(name), "").unwrap();
        }
    }

    #[test]
    fn binaries_are_searched_in_order_and_their_absence_says_what_to_install() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("lib");
        let empty = tmp.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let path = Some(empty.clone().into_os_string());

        let err = find_bindir_from(None, path.clone(), &root).unwrap_err();
        assert!(matches!(err, TempDbError::NoBinaries { .. }));
        let message = err.to_string();
        assert!(
            message.starts_with("no PostgreSQL server binaries found")
                && message.ends_with(&install_hint()),
            "{message}"
        );

        // The newest version under the root.
        fake_server(&root.join("13/bin"));
        fake_server(&root.join("15/bin"));
        assert_eq!(
            find_bindir_from(None, path.clone(), &root).unwrap(),
            root.join("15/bin")
        );
        // PATH before the root; PLANGUARD_PG_BINDIR before everything.
        let on_path = tmp.path().join("on-path");
        fake_server(&on_path);
        let both = std::env::join_paths([&empty, &on_path]).unwrap();
        assert_eq!(
            find_bindir_from(None, Some(both.clone()), &root).unwrap(),
            on_path
        );
        assert_eq!(
            find_bindir_from(Some(root.join("13/bin").into()), Some(both), &root).unwrap(),
            root.join("13/bin")
        );
        assert!(matches!(
            find_bindir_from(Some(empty.clone().into()), path, &root),
            Err(TempDbError::BadBindir(dir)) if dir == empty
        ));
    }
}
