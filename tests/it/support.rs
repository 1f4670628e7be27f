//! Shared helpers for the integration tests: one throwaway cluster for the
//! whole test binary (or the server named by `PLANGUARD_TEST_DATABASE_URL`),
//! and a fresh database for each test.

// Not every helper is used by every build of the test binary.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use planguard::conn::ConnParams;
use planguard::tempdb::{TempDb, TempDbOptions};

static CLUSTER: OnceLock<TempDb> = OnceLock::new();

/// The shared throwaway cluster, started on first use. It is never dropped;
/// its guard process removes it when the test binary exits.
pub fn cluster() -> &'static TempDb {
    CLUSTER.get_or_init(|| {
        // pg_stat_statements proves what reached the server (and feeds
        // the capture tests).
        let options = TempDbOptions::default()
            .setting("shared_preload_libraries", "pg_stat_statements")
            .setting("pg_stat_statements.track", "all");
        TempDb::start_with(options).unwrap_or_else(|e| {
            panic!(
                "cannot start the test cluster: {}",
                planguard::error::chain(&e)
            )
        })
    })
}

/// Starts a cluster of its own for a test that needs special server
/// settings.
pub fn own_cluster(options: TempDbOptions) -> TempDb {
    TempDb::start_with(options).unwrap_or_else(|e| {
        panic!(
            "cannot start a test cluster: {}",
            planguard::error::chain(&e)
        )
    })
}

/// A database of its own for one test, dropped at the end of the test.
pub struct TestDb {
    /// A conninfo for the database, usable with `-d`.
    pub conninfo: String,
    name: String,
    admin: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// Creates a fresh database, on `PLANGUARD_TEST_DATABASE_URL` when set,
    /// else on the shared throwaway cluster.
    pub async fn new() -> TestDb {
        let name = format!(
            "pgtest_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let (admin, conninfo) = match std::env::var("PLANGUARD_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let conninfo = format!("dbname='{}' dbname={name}", url.replace('\'', "\\'"));
                (url, conninfo)
            }
            _ => (cluster().conninfo("postgres"), cluster().conninfo(&name)),
        };
        let client = connect(&admin).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        TestDb {
            conninfo,
            name,
            admin,
        }
    }

    /// A `postgresql://` URL of this database (without a password).
    pub fn url(&self) -> String {
        match std::env::var("PLANGUARD_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let p = ConnParams::parse(&url).expect("PLANGUARD_TEST_DATABASE_URL");
                format!(
                    "postgresql://{}@{}:{}/{}",
                    p.effective_user(),
                    p.effective_host(),
                    p.effective_port(),
                    self.name
                )
            }
            _ => cluster().uri(&self.name),
        }
    }

    /// A client connected to this database.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.conninfo).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (&self.admin, &self.name);
        block_on(async {
            if let Ok(client) = ConnParams::parse(admin)
                .expect("admin conninfo")
                .connect()
                .await
            {
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        });
    }
}

/// Runs `future` to completion from synchronous code (a `Drop`, the setup
/// of a shared cluster in a `OnceLock`), on a runtime of its own in a
/// thread of its own: safe whether or not the caller is inside a runtime,
/// where `Runtime::block_on` would panic ("Cannot start a runtime from
/// within a runtime").
pub fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(future)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Connects with a conninfo, panicking with the reason.
pub async fn connect(conninfo: &str) -> tokio_postgres::Client {
    ConnParams::parse(conninfo)
        .unwrap_or_else(|e| panic!("bad conninfo: {e}"))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect: {e}"))
}

/// The planguard binary, with an environment free of connection variables.
pub fn planguard() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_planguard"));
    for var in [
        "PLANGUARD_DATABASE_URL",
        "DATABASE_URL",
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGDATABASE",
        "PGPASSFILE",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGAPPNAME",
        "PGCONNECT_TIMEOUT",
        "PGOPTIONS",
        "NO_COLOR",
    ] {
        command.env_remove(var);
    }
    command
}

/// A fresh database with `schema` loaded and analyzed, and a temp dir
/// holding `queries` as its query set (see [`write_queries`]).
pub async fn seeded(schema: &str, queries: &[(&str, &str)]) -> (TestDb, tempfile::TempDir) {
    let db = TestDb::new().await;
    let client = db.client().await;
    client
        .batch_execute(schema)
        .await
        .expect("the schema loads");
    // VACUUM cannot run in the implicit transaction of a batch.
    client
        .batch_execute("VACUUM ANALYZE")
        .await
        .expect("VACUUM ANALYZE");
    let dir = tempfile::tempdir().expect("a temp dir");
    write_queries(dir.path(), queries);
    (db, dir)
}

/// Writes a query set: `(id, file contents)` pairs as
/// `<dir>/queries/<id>.sql`, where planguard looks by default.
pub fn write_queries(dir: &std::path::Path, queries: &[(&str, &str)]) {
    for (id, text) in queries {
        let path = dir.join("queries").join(format!("{id}.sql"));
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("query dir");
        std::fs::write(&path, text).expect("query file");
    }
}

/// Runs planguard with arguments in a directory; returns exit code, stdout
/// and stderr.
pub fn run_in(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output = planguard()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("planguard runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts that `value` keeps to the JSON schema `docs/<schema>` (draft
/// 2020-12), listing every violation with its place.
pub fn assert_matches_schema(schema: &str, value: &serde_json::Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(schema);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
}

/// The options of a throwaway cluster of PostgreSQL `major`, or None (and a
/// `SKIPPED:` line) when its binaries are not here; under `CI=true` a
/// missing version fails the test instead (`scripts/fetch-postgres.sh`).
pub fn version_options(major: u32) -> Option<TempDbOptions> {
    if let Err(e) = planguard::tempdb::find_bindir_for(major) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("PostgreSQL {major} is missing under CI=true: {e}");
        }
        eprintln!("SKIPPED: PostgreSQL {major}: {e}");
        return None;
    }
    Some(TempDbOptions {
        major: Some(major),
        ..TempDbOptions::default()
    })
}
