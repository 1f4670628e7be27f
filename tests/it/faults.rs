//! Faults while planguard runs: the server stopped (`pg_ctl stop -m
//! fast`) or restarted in the middle of a run, and a full disk under the
//! baselines directory.
//!
//! Tested elsewhere: statement and lock timeouts
//! (`baseline::a_slow_query_times_out_while_the_others_complete`,
//! `baseline::a_held_row_lock_gives_a_lock_timeout_not_a_hang`), a
//! terminated backend (`baseline::a_terminated_backend_is_reconnected_and_the_query_retried`)
//! and Ctrl-C (`baseline::ctrl_c_cancels_the_statement_on_the_server_and_writes_no_partial_file`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use planguard::tempdb::{TempDb, TempDbOptions};
use serde_json::Value;

use crate::support::{self, write_queries};

const SCHEMA: &str = "
    CREATE TABLE items (id int PRIMARY KEY, kind int NOT NULL);
    INSERT INTO items SELECT i, i % 10 FROM generate_series(1, 5000) i;
    ANALYZE items;";

/// A cluster of its own (these tests stop it) with the schema loaded in
/// its `postgres` database.
async fn own_server() -> TempDb {
    let db = support::own_cluster(TempDbOptions::default());
    support::connect(&db.conninfo("postgres"))
        .await
        .batch_execute(SCHEMA)
        .await
        .unwrap();
    db
}

/// The three queries of these tests: one that finishes, one that is
/// running when the server goes away (`marker` names it), one after.
fn three_queries(dir: &Path, marker: &str, seconds: f64) {
    write_queries(
        dir,
        &[
            ("a_first", "SELECT count(*) FROM items WHERE kind = 3"),
            (
                "b_running",
                &format!("SELECT pg_sleep({seconds}) AS {marker}"),
            ),
            ("c_after", "SELECT max(id) FROM items"),
        ],
    );
}

fn spawn(db: &TempDb, dir: &Path, args: &[&str]) -> Child {
    support::planguard()
        .current_dir(dir)
        .args(args)
        .args([
            "-d",
            &db.conninfo("postgres"),
            "--runs",
            "1",
            "--warmup",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until planguard's session runs the statement holding `marker`.
async fn wait_for_marker(db: &TempDb, marker: &str) {
    let admin = support::connect(&db.conninfo("postgres")).await;
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity
         WHERE application_name = 'planguard' AND state = 'active'
           AND query LIKE '%{marker}%' AND pid <> pg_backend_pid()"
    );
    for _ in 0..500 {
        if admin.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never saw planguard's session running {marker}");
}

fn stop(db: &TempDb) {
    db.pg_ctl(&["stop", "-m", "fast", "-w"])
        .unwrap_or_else(|e| panic!("pg_ctl stop: {e}"));
}

fn finish(child: Child) -> (i32, String, String) {
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_mid_run_is_one_clear_error_and_finished_queries_are_kept() {
    let db = own_server().await;
    let dir = tempfile::tempdir().unwrap();
    three_queries(dir.path(), "stop_me_marker", 30.0);
    // Yesterday's baselines, recorded while the server was up.
    let (code, _, err) = support::run_in(
        dir.path(),
        &[
            "baseline",
            "-d",
            &db.conninfo("postgres"),
            "--query",
            "[ac]_*",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let baselines = dir.path().join("baselines");
    let previous_c = std::fs::read(baselines.join("c_after.json")).unwrap();
    std::fs::remove_file(baselines.join("a_first.json")).unwrap();

    // `baseline`: the first query's file is written, the server stops
    // while the second runs, the third keeps its previous baseline.
    let child = spawn(&db, dir.path(), &["baseline"]);
    wait_for_marker(&db, "stop_me_marker").await;
    stop(&db);
    let (code, _, err) = finish(child);
    assert_eq!(code, 3, "the server went away: exit 3\n{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: the server went away during the run and was not back within 10 s: connection to server at \"127.0.0.1\", port"),
        "{err}"
    );
    assert!(err.contains("b_running: failed"), "{err}");
    assert!(
        err.contains("c_after: failed, its previous baseline (if any) is kept: ")
            && err.contains("the server went away during the run"),
        "{err}"
    );
    assert!(err.contains("baseline: 1 recorded"), "{err}");
    assert_eq!(names_in(&baselines), ["a_first.json", "c_after.json"]);
    let a: Value =
        serde_json::from_slice(&std::fs::read(baselines.join("a_first.json")).unwrap()).unwrap();
    assert_eq!(a["query_id"], "a_first");
    assert_eq!(
        std::fs::read(baselines.join("c_after.json")).unwrap(),
        previous_c,
        "a query that did not run keeps its previous baseline"
    );

    // `check`: the report is written with what finished, the queries the
    // stop cut off are errors in it.
    db.restart().unwrap();
    let child = spawn(
        &db,
        dir.path(),
        &["check", "--format", "json", "--output", "report.json"],
    );
    wait_for_marker(&db, "stop_me_marker").await;
    stop(&db);
    let (code, out, err) = finish(child);
    assert_eq!(code, 3, "the server went away: exit 3\n{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.lines()
            .last()
            .unwrap_or_default()
            .starts_with("error: the server went away during the run"),
        "{err}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let status = |id: &str| -> (String, String) {
        let query = report["queries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not in the report"));
        (
            query["status"].as_str().unwrap().to_owned(),
            query["error"].as_str().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(status("a_first").0, "ok");
    // The query the stop cut off lost its connection; its retry either
    // found no server or was cut off too.
    let (b, b_message) = status("b_running");
    assert_eq!(b, "error");
    assert!(
        b_message.contains("the server went away") || b_message.contains("retry failed"),
        "{b_message}"
    );
    let (c, c_message) = status("c_after");
    assert_eq!(c, "error");
    assert!(
        c_message.contains("the server went away during the run"),
        "{c_message}"
    );
    assert_eq!(report["summary"]["ok"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_mid_run_is_reconnected_and_the_query_retried() {
    let db = own_server().await;
    let dir = tempfile::tempdir().unwrap();
    three_queries(dir.path(), "restart_me_marker", 1.0);
    let child = spawn(&db, dir.path(), &["baseline", "-v"]);
    wait_for_marker(&db, "restart_me_marker").await;
    stop(&db);
    db.restart().unwrap();
    let (code, _, err) = finish(child);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("b_running: ok (retried after a lost connection)"),
        "{err}"
    );
    assert_eq!(
        names_in(&dir.path().join("baselines")),
        ["a_first.json", "b_running.json", "c_after.json"]
    );
}

/// A tmpfs of `size` mounted on a directory, unmounted on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    /// Mounts the tmpfs, or fails the test saying why: it needs root and
    /// the right to mount (CAP_SYS_ADMIN, which a container may withhold).
    /// Never skipped silently: CI runs as root, where this works.
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        const NEEDS: &str = "this test needs root and mount rights (it mounts a small tmpfs)";
        use std::os::unix::fs::MetadataExt;
        // /proc/self belongs to the process's effective user.
        let uid = std::fs::metadata("/proc/self").map(|m| m.uid());
        assert!(
            matches!(uid, Ok(0)),
            "{NEEDS}: running as uid {}",
            uid.map_or_else(|e| format!("unknown ({e})"), |u| u.to_string())
        );
        std::fs::create_dir_all(dir).unwrap();
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "planguard-test",
            ])
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("{NEEDS}: cannot run mount: {e}"));
        assert!(
            output.status.success(),
            "{NEEDS}: mount -t tmpfs failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        SmallDisk {
            dir: dir.to_owned(),
        }
    }

    /// Fills the file system up to the last byte.
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.dir.join(".filler")).unwrap();
        let block = vec![0u8; 1024];
        loop {
            if file.write_all(&block).and_then(|()| file.flush()).is_err() {
                break;
            }
        }
        while file.write_all(&[0]).is_ok() {}
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[tokio::test]
async fn a_full_disk_leaves_the_previous_baselines_whole_and_names_the_file() {
    let (db, dir) = support::seeded(SCHEMA, &[]).await;
    write_queries(
        dir.path(),
        &[
            ("by_kind", "SELECT * FROM items WHERE kind = 3 ORDER BY id"),
            ("count", "SELECT count(*) FROM items"),
        ],
    );
    let baselines = dir.path().join("baselines");
    let disk = SmallDisk::mount(&baselines, "256k");
    let (code, _, err) = support::run_in(dir.path(), &["baseline", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    let before: Vec<(String, Vec<u8>)> = names_in(&baselines)
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(baselines.join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    assert_eq!(before.len(), 2);

    // A new query besides, whose file must not appear half written.
    write_queries(dir.path(), &[("another", "SELECT min(id) FROM items")]);
    disk.fill();
    let (code, out, err) = support::run_in(dir.path(), &["baseline", "-d", &db.conninfo]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("error: baselines/")
            && err.contains(".json: cannot write the baseline: No space left on device"),
        "{err}"
    );
    std::fs::remove_file(baselines.join(".filler")).unwrap();
    // The previous files are byte for byte as they were; nothing new, no
    // temporary file.
    let after: Vec<(String, Vec<u8>)> = names_in(&baselines)
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(baselines.join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    assert_eq!(after, before);
    drop(disk);
}
