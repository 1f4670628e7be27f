//! `planguard baseline` against a real server: safety (rollback, refusals
//! that never reach the server), timeouts, lost connections, locks, bound
//! parameters, GENERIC_PLAN, stable baselines, and an unwritable directory.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::{self, TestDb, run_in, write_queries};

/// A table with a skewed column: value 1 is 99% of the rows, 2 is rare.
const SCHEMA: &str = "
    CREATE TABLE items (id int PRIMARY KEY, kind int NOT NULL, note text NOT NULL);
    INSERT INTO items SELECT i, CASE WHEN i % 100 = 0 THEN 2 ELSE 1 END, 'n' || i
        FROM generate_series(1, 20000) i;
    CREATE INDEX items_kind_idx ON items (kind);";

async fn shop() -> (TestDb, tempfile::TempDir) {
    support::seeded(SCHEMA, &[]).await
}

/// Starts `planguard baseline` (one counted run, no warm-up) in the
/// background, with stderr captured.
fn spawn_baseline(db: &TestDb, dir: &Path, extra: &[&str]) -> std::process::Child {
    support::planguard()
        .current_dir(dir)
        .args([
            "baseline",
            "-d",
            &db.conninfo,
            "--runs",
            "1",
            "--warmup",
            "0",
        ])
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `sql` (a count over pg_stat_activity) until it is above zero, for
/// up to five seconds; whether it ever was.
pub async fn poll_until_positive(admin: &tokio_postgres::Client, sql: &str) -> bool {
    for _ in 0..250 {
        if admin.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn baseline_file(dir: &Path, id: &str) -> Value {
    let text = std::fs::read_to_string(dir.join("baselines").join(format!("{id}.json")))
        .unwrap_or_else(|e| panic!("baseline of {id}: {e}"));
    serde_json::from_str(&text).unwrap()
}

async fn checksum(db: &TestDb) -> String {
    db.client()
        .await
        .query_one(
            "SELECT md5(string_agg(id || ':' || kind || ':' || note, ',' ORDER BY id)) FROM items",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn dml_with_allow_dml_runs_and_rolls_back() {
    let (db, dir) = shop().await;
    write_queries(
        dir.path(),
        &[
            (
                "update_kind",
                "-- planguard: allow_dml = true\nUPDATE items SET kind = 3, note = 'changed' WHERE id <= 500",
            ),
            ("delete_some", "DELETE FROM items WHERE id > 19000"),
        ],
    );
    let before = checksum(&db).await;
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo, "--runs", "2"]);
    // The directive allows the UPDATE; the DELETE has no permission.
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("delete_some: skipped: refused: DELETE runs only with --allow-dml"),
        "{err}"
    );
    assert!(!dir.path().join("baselines/delete_some.json").exists());
    let update = baseline_file(dir.path(), "update_kind");
    assert_eq!(update["plan"][0]["Plan"]["Node Type"], "ModifyTable");
    // ModifyTable returns no rows without RETURNING; the scan under it
    // shows that the UPDATE really ran and found its 500 rows.
    assert_eq!(update["plan"][0]["Plan"]["Plans"][0]["Actual Rows"], 500);
    assert_eq!(checksum(&db).await, before, "the table must be unchanged");

    // With --allow-dml the DELETE runs too, and is rolled back as well.
    let (code, _, err) = run_in(
        dir.path(),
        &["baseline", "-d", &db.conninfo, "--runs", "1", "--allow-dml"],
    );
    assert_eq!(code, 0, "{err}");
    let delete = baseline_file(dir.path(), "delete_some");
    assert_eq!(delete["plan"][0]["Plan"]["Node Type"], "ModifyTable");
    assert_eq!(delete["plan"][0]["Plan"]["Plans"][0]["Actual Rows"], 1000);
    assert_eq!(checksum(&db).await, before, "the table must be unchanged");
}

#[tokio::test]
async fn an_insert_with_allow_dml_names_the_sequence_it_advanced() {
    let (db, dir) = shop().await;
    db.client()
        .await
        .batch_execute(
            "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY, note text);
             INSERT INTO events (note) VALUES ('first');",
        )
        .await
        .unwrap();
    write_queries(
        dir.path(),
        &[
            (
                "add_event",
                "INSERT INTO events (note) VALUES ('planguard')",
            ),
            ("touch_items", "UPDATE items SET note = note WHERE id = 7"),
            ("read_events", "SELECT count(*) FROM events"),
        ],
    );
    let (code, _, err) = run_in(
        dir.path(),
        &[
            "baseline",
            "-d",
            &db.conninfo,
            "--runs",
            "1",
            "--warmup",
            "0",
            "--allow-dml",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let notes: Vec<&str> = err.lines().filter(|l| l.starts_with("note:")).collect();
    assert_eq!(
        notes,
        [
            "note: add_event: advanced sequence public.events_id_seq (1 to 2): the rows were rolled back, sequence values are not"
        ],
        "{err}"
    );
    let row = db
        .client()
        .await
        .query_one("SELECT count(*), max(id) FROM events", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1, "the row was rolled back");
    assert_eq!(row.get::<_, Option<i64>>(1), Some(1));
}

#[tokio::test]
async fn refused_statements_never_reach_the_server() {
    let (db, dir) = shop().await;
    let client = db.client().await;
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .unwrap();
    write_queries(
        dir.path(),
        &[
            ("ddl", "CREATE INDEX refused_marker_ddl ON items (note)"),
            ("copy", "COPY items TO STDOUT"),
            (
                "two_statements",
                "SELECT 1 AS refused_marker_two; DROP TABLE items",
            ),
            ("fine", "SELECT count(*) AS allowed_marker FROM items"),
        ],
    );
    let (code, _, err) = run_in(
        dir.path(),
        &["baseline", "-d", &db.conninfo, "--runs", "1", "--allow-dml"],
    );
    assert_eq!(code, 0, "{err}");
    for id in ["ddl", "copy", "two_statements"] {
        assert!(
            err.contains(&format!("{id}: skipped: refused:")),
            "{id}: {err}"
        );
    }
    let seen: Vec<String> = client
        .query(
            "SELECT query FROM pg_stat_statements
             WHERE query ILIKE '%refused_marker%' OR query ILIKE '%COPY items%' OR query ILIKE '%allowed_marker%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        seen.iter().all(|q| q.contains("allowed_marker")),
        "refused statements reached the server: {seen:?}"
    );
    assert!(
        seen.iter().any(|q| q.contains("allowed_marker")),
        "pg_stat_statements must see the allowed query: {seen:?}"
    );
    // The table is still there.
    client
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_slow_query_times_out_while_the_others_complete() {
    let (db, dir) = shop().await;
    write_queries(
        dir.path(),
        &[
            ("a_fast", "SELECT count(*) FROM items WHERE kind = 2"),
            ("b_slow", "SELECT pg_sleep(5)"),
            ("c_fast", "SELECT max(id) FROM items"),
        ],
    );
    let (code, _, err) = run_in(
        dir.path(),
        &[
            "baseline",
            "-d",
            &db.conninfo,
            "--runs",
            "1",
            "--warmup",
            "0",
            "--timeout",
            "300ms",
            "-v",
        ],
    );
    assert_eq!(code, 1, "one query failed: {err}");
    // The server says it cancelled the sleep: planguard did not wait for it.
    assert!(
        err.contains("b_slow: timeout: ERROR: canceling statement due to statement timeout"),
        "{err}"
    );
    assert!(dir.path().join("baselines/a_fast.json").exists());
    assert!(dir.path().join("baselines/c_fast.json").exists());
    assert!(!dir.path().join("baselines/b_slow.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_backend_is_reconnected_and_the_query_retried() {
    let (db, dir) = shop().await;
    write_queries(
        dir.path(),
        &[("sleepy", "SELECT pg_sleep(0.6) AS terminate_me_marker")],
    );
    let child = spawn_baseline(&db, dir.path(), &["-v"]);
    let admin = db.client().await;
    let terminated = poll_until_positive(
        &admin,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE application_name = 'planguard' AND query LIKE '%terminate_me_marker%'
           AND state = 'active' AND pid <> pg_backend_pid()",
    )
    .await;
    assert!(
        terminated,
        "never saw planguard's backend running the query"
    );
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(
        err.contains("sleepy: ok (retried after a lost connection)"),
        "{err}"
    );
    assert!(dir.path().join("baselines/sleepy.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_row_lock_gives_a_lock_timeout_not_a_hang() {
    let (db, dir) = shop().await;
    write_queries(
        dir.path(),
        &[(
            "lock_row",
            "-- planguard: allow_dml = true\nSELECT * FROM items WHERE id = 7 FOR UPDATE",
        )],
    );
    std::fs::write(
        dir.path().join("planguard.toml"),
        "[run]\nlock_timeout = \"300ms\"\ntimeout = \"20s\"\n",
    )
    .unwrap();
    let holder = db.client().await;
    holder
        .batch_execute("BEGIN; SELECT * FROM items WHERE id = 7 FOR UPDATE")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (code, _, err) = run_in(
        dir.path(),
        &[
            "baseline",
            "-d",
            &db.conninfo,
            "--runs",
            "1",
            "--warmup",
            "0",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(code, 3, "the only query failed: {err}");
    assert!(err.contains("lock_row: failed"), "{err}");
    assert!(err.contains("lock timeout"), "{err}");
    holder.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn bound_parameters_reach_the_planner() {
    let (db, dir) = shop().await;
    write_queries(
        dir.path(),
        &[
            (
                "rare",
                "-- planguard: params = [2]\nSELECT * FROM items WHERE kind = $1",
            ),
            (
                "common",
                "-- planguard: params = [1]\nSELECT * FROM items WHERE kind = $1",
            ),
            (
                "injection",
                "-- planguard: params = [\"x'; DROP TABLE items; --\"]\nSELECT * FROM items WHERE note = $1",
            ),
        ],
    );
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo, "--runs", "1"]);
    assert_eq!(code, 0, "{err}");
    let node = |id: &str| -> String {
        let b = baseline_file(dir.path(), id);
        let plan = &b["plan"][0]["Plan"];
        // The scan is the root or its child.
        plan.get("Plans")
            .and_then(|p| p[0]["Node Type"].as_str())
            .unwrap_or_else(|| plan["Node Type"].as_str().unwrap())
            .to_owned()
    };
    // A rare value is planned with the index, the common one with a scan of
    // the table: the planner saw the values.
    assert!(
        node("rare").contains("Bitmap") || node("rare").contains("Index"),
        "{}",
        node("rare")
    );
    assert_eq!(node("common"), "Seq Scan");
    let injection = baseline_file(dir.path(), "injection");
    assert_eq!(injection["plan"][0]["Plan"]["Actual Rows"], 0);
    db.client()
        .await
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn parameterized_queries_without_values_are_sampled_else_generic_on_16_and_later() {
    let (db, dir) = shop().await;
    write_queries(
        dir.path(),
        &[
            ("sampled", "SELECT * FROM items WHERE kind = $1"),
            // An expression: no column statistics to take a value from.
            ("no_values", "SELECT * FROM items WHERE kind + 1 = $1"),
        ],
    );
    let version: i32 = db
        .client()
        .await
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .unwrap()
        .get(0);
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    // A value from pg_stats, run with ANALYZE like any other, recorded.
    let b = baseline_file(dir.path(), "sampled");
    assert_eq!(b["analyze"], true);
    assert_eq!(b["params"]["source"], "sampled", "{}", b["params"]);
    assert_eq!(b["params"]["types"], serde_json::json!(["int4"]));
    let origin = b["params"]["origins"][0].as_str().unwrap();
    assert!(
        origin.starts_with("public.items.kind: the most common value (pg_stats"),
        "{origin}"
    );
    if version >= 160000 {
        // EXPLAIN (GENERIC_PLAN) exists: planned without values or ANALYZE.
        let b = baseline_file(dir.path(), "no_values");
        assert_eq!(b["analyze"], false);
        assert!(b["plan"][0]["Plan"].get("Actual Rows").is_none());
        assert_eq!(b["params"]["source"], "generic");
        assert!(
            b["params"]["note"]
                .as_str()
                .unwrap()
                .starts_with("$1 could not be sampled"),
            "{}",
            b["params"]
        );
    } else {
        // Before 16 there is no GENERIC_PLAN: the query is skipped, saying
        // which parameter got no value and why.
        assert!(
            err.contains(
                "no_values: skipped: $1 could not be sampled: it is not compared with a column"
            ),
            "{err}"
        );
        assert!(err.contains("PostgreSQL 16+"), "{err}");
        assert!(!dir.path().join("baselines/no_values.json").exists());
    }
}

/// Removes what legitimately changes between two runs of the same plan.
fn strip_volatile(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in [
                "recorded_at",
                "runs",
                "execution_ms_median",
                "execution_ms_max",
                "planning_ms_median",
                "Actual Startup Time",
                "Actual Total Time",
                "Planning Time",
                "Execution Time",
                "Shared Hit Blocks",
                "Shared Read Blocks",
                "Shared Dirtied Blocks",
                "Shared Written Blocks",
                "shared_blocks_median",
                "Planning",
                "last_autoanalyze",
                "n_mod_since_analyze",
            ] {
                map.remove(key);
            }
            map.values_mut().for_each(strip_volatile);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

#[tokio::test]
async fn two_baselines_of_an_unchanged_database_differ_only_in_volatile_fields() {
    let (db, dir) = shop().await;
    write_queries(
        dir.path(),
        &[
            (
                "by_kind",
                "-- planguard: params = [2]\nSELECT * FROM items WHERE kind = $1 ORDER BY id",
            ),
            ("count", "SELECT kind, count(*) FROM items GROUP BY kind"),
        ],
    );
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    let first: Vec<Value> = ["by_kind", "count"]
        .iter()
        .map(|id| baseline_file(dir.path(), id))
        .collect();
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    for (id, mut before) in ["by_kind", "count"].iter().zip(first) {
        let mut after = baseline_file(dir.path(), id);
        assert_eq!(
            before["summary"]["fingerprint"],
            after["summary"]["fingerprint"]
        );
        assert!(
            before["environment"]["relations"]["public.items"]["indexes"]["items_kind_idx"]
                .is_object()
        );
        strip_volatile(&mut before);
        strip_volatile(&mut after);
        assert_eq!(before, after, "{id}");
    }
}

#[tokio::test]
async fn an_unwritable_baselines_directory_exits_2_and_writes_nothing() {
    let (db, dir) = shop().await;
    write_queries(dir.path(), &[("q", "SELECT 1")]);
    // A regular file where the directory should be: not writable even for
    // root, which permissions would not stop.
    std::fs::write(dir.path().join("blocked"), "").unwrap();
    let (code, out, err) = run_in(
        dir.path(),
        &[
            "baseline",
            "-d",
            &db.conninfo,
            "--baselines",
            "blocked/baselines",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: blocked/baselines: the baselines directory is not writable"),
        "{err}"
    );
    assert!(out.is_empty());
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(entries.len(), 2, "nothing new was written: {entries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_the_statement_on_the_server_and_writes_no_partial_file() {
    let (db, dir) = shop().await;
    write_queries(
        dir.path(),
        &[
            ("a_first", "SELECT count(*) FROM items"),
            ("b_sleepy", "SELECT pg_sleep(30) AS interrupt_me_marker"),
            ("c_never", "SELECT max(id) FROM items"),
        ],
    );
    let child = spawn_baseline(&db, dir.path(), &[]);
    let admin = db.client().await;
    let running = "SELECT count(*) FROM pg_stat_activity
                   WHERE application_name = 'planguard' AND state = 'active'
                     AND query LIKE '%interrupt_me_marker%' AND pid <> pg_backend_pid()";
    let seen = poll_until_positive(&admin, running).await;
    assert!(seen, "never saw planguard's backend running the query");
    // The baseline of the query that finished is written while the next
    // one runs, not after the last one.
    let first = dir.path().join("baselines/a_first.json");
    let mut written = false;
    for _ in 0..250 {
        if first.exists() {
            written = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(written, "a_first.json was not written during the run");
    let started = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not wait for pg_sleep(30)"
    );
    // The statement was cancelled on the server, not left running.
    let gone = poll_until_positive(&admin, &format!("SELECT (({running}) = 0)::int::int8")).await;
    assert!(gone, "the statement still runs on the server");
    // The finished query's baseline is whole; nothing else, no temporary file.
    let baselines = dir.path().join("baselines");
    let mut names: Vec<String> = std::fs::read_dir(&baselines)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a_first.json"], "{err}");
    baseline_file(dir.path(), "a_first");
}

/// Runs `planguard ARGS` with a terminal (a pseudo-terminal from
/// util-linux's `script`) as stdin, stdout and stderr; returns the exit
/// code and everything the terminal showed.
fn on_a_terminal(dir: &Path, args: &[&str]) -> (i32, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = quote(env!("CARGO_BIN_EXE_planguard"));
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    let output = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .output()
        .expect("script (util-linux) runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn a_progress_bar_on_a_terminal_only() {
    let (db, dir) = shop().await;
    write_queries(
        dir.path(),
        &[
            ("a_sleepy", "SELECT pg_sleep(0.6)"),
            ("b_sleepy", "SELECT pg_sleep(0.6)"),
        ],
    );
    let args = [
        "baseline",
        "-d",
        &db.conninfo,
        "--runs",
        "1",
        "--warmup",
        "0",
    ];
    let (code, shown) = on_a_terminal(dir.path(), &args);
    assert_eq!(code, 0, "{shown}");
    // Query N of M, the current id and the elapsed time.
    assert!(shown.contains("query 0/2 a_sleepy"), "{shown}");
    assert!(shown.contains("query 1/2 b_sleepy"), "{shown}");
    assert!(shown.contains("[00:00:0"), "{shown}");
    // The bar is cleared at the end: the summary line is what stays.
    assert!(shown.contains("baseline: 2 recorded"), "{shown}");

    // --quiet on a terminal, and a pipe: no bar.
    let (code, shown) = on_a_terminal(dir.path(), &[&args[..], &["--quiet"]].concat());
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains("query 0/2"), "{shown}");
    let (code, _, err) = run_in(dir.path(), &args);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("query 0/2"), "{err}");
    assert!(err.contains("baseline: 2 recorded"), "{err}");
}
