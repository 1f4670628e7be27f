//! The run history: both backends (SQLite in a temp dir, PostgreSQL on its
//! own database), their migrations from empty and from schema version 1,
//! the drift rules on recorded histories of noise and of a steady creep,
//! and the CLI: ten recorded runs of a query whose plan changed twice,
//! `history` in every format (the HTML plot in headless Chromium), two
//! concurrent `check`s writing one file, and a corrupt or locked file that
//! leaves `check`'s report and exit code as they were.

use std::path::Path;

use planguard::baseline::RunFigures;
use planguard::history::{
    FindingRecord, QueryHistory, QueryRecord, QueryRow, Run, RunRow, SeriesKey, Store, Target,
    regressed, render, schema,
};
use planguard::plan::{Plan, parse_json, shape};
use planguard::rules::{
    Context, Finding, HistoryCtx, HistoryPoint, RulesConfig, Thresholds, analyze,
};
use serde_json::Value;

use crate::support::{TestDb, run_in, seeded};

const DAY: i64 = 86_400;
const T0: i64 = 1_764_547_200; // 2025-12-01 00:00 UTC

/// A real captured plan (53.6 ms, 1471 shared blocks) the synthetic
/// histories are runs of.
fn plan() -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/plans/rules/seq-scan/clean_most_rows_returned.json");
    parse_json(&std::fs::read(path).unwrap()).unwrap()
}

/// xorshift64* with Box–Muller: seeded noise, the same on every run.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Fourteen daily (time ms, blocks) figures: `creep` per run on top of
/// log-normal noise (10% on time, 5% on blocks).
fn series(rng: &mut Rng, creep: f64) -> Vec<(f64, u64)> {
    (0..14)
        .map(|i| {
            let growth = (1.0 + creep).powi(i);
            (
                50.0 * growth * (0.10 * rng.normal()).exp(),
                (1500.0 * growth * (0.05 * rng.normal()).exp()).round() as u64,
            )
        })
        .collect()
}

/// The drift findings for a query whose recorded runs are `past` and whose
/// current run (a day after the last) has `now`.
fn drift_findings(plan: &Plan, past: &[HistoryPoint], now: (f64, u64)) -> Vec<Finding> {
    let thresholds = Thresholds::default();
    let runs = [RunFigures {
        execution_ms: Some(now.0),
        planning_ms: None,
        shared_hit: now.1,
        shared_read: 0,
    }];
    let mut ctx = Context::for_plan("q", plan, &thresholds);
    ctx.runs = &runs;
    ctx.now.history = Some(HistoryCtx {
        now: past.last().map_or(T0, |p| p.at + DAY),
        runs: past,
    });
    analyze(&ctx, &RulesConfig::default())
        .into_iter()
        .filter(|f| f.rule.ends_with("-drift"))
        .collect()
}

fn points(fingerprint: &str, figures: &[(f64, u64)]) -> Vec<HistoryPoint> {
    figures
        .iter()
        .enumerate()
        .map(|(i, &(ms, blocks))| HistoryPoint {
            run: i as i64 + 1,
            at: T0 + i as i64 * DAY,
            status: "ok".to_owned(),
            fingerprint: Some(fingerprint.to_owned()),
            execution_ms: Some(ms),
            shared_blocks: Some(blocks),
        })
        .collect()
}

/// The drift rules' figures: the false-alarm rate on 1,000 seeded
/// histories of noise, and the detection rate and slope on 1,000 with a
/// 3%-per-run creep (printed; `--nocapture` shows them).
#[test]
fn drift_false_alarms_on_noise_and_detection_of_a_creep() {
    let plan = plan();
    let fp = shape::fingerprint(&plan);
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let trials = 1000;
    let mut false_alarms = 0;
    for _ in 0..trials {
        let s = series(&mut rng, 0.0);
        if !drift_findings(&plan, &points(&fp, &s[..13]), s[13]).is_empty() {
            false_alarms += 1;
        }
    }
    let (mut time_found, mut blocks_found, mut slopes) = (0, 0, Vec::new());
    for _ in 0..trials {
        let s = series(&mut rng, 0.03);
        let findings = drift_findings(&plan, &points(&fp, &s[..13]), s[13]);
        if let Some(f) = findings.iter().find(|f| f.rule == "time-drift") {
            time_found += 1;
            slopes.push(f.evidence["slope_pct_per_day"].as_f64().unwrap());
        }
        if findings.iter().any(|f| f.rule == "buffers-drift") {
            blocks_found += 1;
        }
    }
    slopes.sort_by(f64::total_cmp);
    let median_slope = slopes[slopes.len() / 2];
    println!(
        "drift: noise only: {false_alarms}/{trials} histories with a finding; \
         3%/run creep: time-drift {time_found}/{trials}, buffers-drift {blocks_found}/{trials}, \
         median time slope {median_slope:.2}%/day"
    );
    assert!(false_alarms <= trials / 100, "{false_alarms} false alarms");
    assert!(
        time_found >= trials * 80 / 100,
        "time-drift found {time_found}"
    );
    assert!(
        blocks_found >= trials * 99 / 100,
        "buffers-drift found {blocks_found}"
    );
    assert!((2.0..4.0).contains(&median_slope), "{median_slope}");
}

/// The series of [`run_of`]'s runs.
fn app() -> SeriesKey {
    SeriesKey {
        server: "postgres@localhost:5432/app".to_owned(),
        settings_hash: "s".to_owned(),
        stats_hash: None,
    }
}

/// A run of synthetic figures for several queries, as `check` records it.
fn run_of(at: i64, queries: &[(&str, &str, f64, u64)]) -> Run {
    run_on(&app(), at, queries)
}

/// A run of synthetic figures in the series `key`.
fn run_on(key: &SeriesKey, at: i64, queries: &[(&str, &str, f64, u64)]) -> Run {
    Run {
        id: 0,
        started_at: at,
        command: "check".to_owned(),
        server: key.server.clone(),
        server_version: Some("15.18".to_owned()),
        settings_hash: key.settings_hash.clone(),
        planguard_version: "0.1.0".to_owned(),
        queryset_hash: "q".to_owned(),
        stats_hash: key.stats_hash.clone(),
        queries: queries
            .iter()
            .map(|&(id, fp, ms, blocks)| QueryRecord {
                query_id: id.to_owned(),
                status: "ok".to_owned(),
                fingerprint: Some(fp.to_owned()),
                total_cost: Some(1234.5),
                execution_ms: Some(ms),
                execution_ms_spread: Some(0.5),
                planning_ms: Some(0.1),
                shared_blocks: Some(blocks as i64),
                actual_rows: Some(10.0),
                findings: Vec::new(),
            })
            .collect(),
    }
}

/// Thirteen recorded runs of a creeping query and three noisy ones go
/// through the store and back; the drift rules, given the fourteenth run,
/// fire on the creep only.
async fn drift_through(store: &Store) {
    let plan = plan();
    let fp = shape::fingerprint(&plan);
    let mut rng = Rng(42);
    let ids = ["creep", "noise/a", "noise/b", "noise/c"];
    let all: Vec<Vec<(f64, u64)>> = ids
        .iter()
        .map(|id| series(&mut rng, if *id == "creep" { 0.03 } else { 0.0 }))
        .collect();
    for day in 0..13 {
        let queries: Vec<(&str, &str, f64, u64)> = ids
            .iter()
            .zip(&all)
            .map(|(id, s)| (*id, fp.as_str(), s[day].0, s[day].1))
            .collect();
        store
            .record(&run_of(T0 + day as i64 * DAY, &queries), None)
            .await
            .unwrap();
        // The same queries on another server and with a statistics file,
        // three times slower: other series, which the drift rules must
        // not mix into this one.
        let slower: Vec<(&str, &str, f64, u64)> = queries
            .iter()
            .map(|&(id, fp, ms, blocks)| (id, fp, ms * 3.0, blocks * 3))
            .collect();
        let elsewhere = [
            SeriesKey {
                server: "postgres@prod:5432/app".to_owned(),
                ..app()
            },
            SeriesKey {
                stats_hash: Some("f".repeat(64)),
                ..app()
            },
        ];
        for (i, key) in elsewhere.iter().enumerate() {
            let at = T0 + day as i64 * DAY + 3600 * (i as i64 + 1);
            store.record(&run_on(key, at, &slower), None).await.unwrap();
        }
    }
    let past = store.series(14, &app()).await.unwrap();
    for (id, s) in ids.iter().zip(&all) {
        let recorded = &past[*id];
        assert_eq!(recorded.len(), 13, "{id}");
        assert!(
            recorded.iter().all(|p| (p.at - T0) % DAY == 0),
            "{id}: a run of another series"
        );
        let rules: Vec<String> = drift_findings(&plan, recorded, s[13])
            .into_iter()
            .map(|f| f.rule)
            .collect();
        if *id == "creep" {
            assert_eq!(rules, ["buffers-drift", "time-drift"], "{id}");
        } else {
            assert!(rules.is_empty(), "{id}: {rules:?}");
        }
    }
}

#[tokio::test]
async fn sqlite_drift_on_recorded_histories() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Target::Sqlite(dir.path().join("h.sqlite")))
        .await
        .unwrap();
    drift_through(&store).await;
}

#[tokio::test]
async fn postgres_drift_on_recorded_histories() {
    let db = TestDb::new().await;
    let store = Store::open(&Target::Postgres(db.url())).await.unwrap();
    drift_through(&store).await;
}

/// Version 1 of the schema with one run in it, as an older planguard left
/// it.
const V1_ROWS: &str = "INSERT INTO planguard_schema (version) VALUES (1);
    INSERT INTO planguard_runs (started_at, command, server, server_version, settings_hash, planguard_version, queryset_hash)
        VALUES (1764547200, 'check', 'app@db:5432/app', '15.18', 's', '0.0.9', 'q');
    INSERT INTO planguard_queries (run_id, query_id, status, fingerprint, total_cost, execution_ms, execution_ms_spread, shared_blocks, actual_rows)
        VALUES (1, 'orders/by_customer', 'ok', 'aaaa', 8.4, 0.1, 0.01, 4, 20);
    INSERT INTO planguard_findings (run_id, query_id, rule, severity, regression, message)
        VALUES (1, 'orders/by_customer', 'seq-scan', 'warning', FALSE, 'old finding');";

/// After a migration from version 1: the old run reads back (new columns
/// empty), and a new run is recorded next to it.
async fn check_migrated(store: &Store) {
    assert_eq!(store.schema_version().await.unwrap(), schema::VERSION);
    let rows = store
        .queries(Some("orders/by_customer"), None)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let old = &rows[0].record;
    assert_eq!(old.execution_ms, Some(0.1));
    assert_eq!(old.planning_ms, None);
    assert_eq!(old.findings.len(), 1);
    assert_eq!(old.findings[0].causes, "");
    store
        .record(
            &run_of(T0 + DAY, &[("orders/by_customer", "bbbb", 0.2, 5)]),
            None,
        )
        .await
        .unwrap();
    let rows = store
        .queries(Some("orders/by_customer"), None)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].record.planning_ms, Some(0.1));
}

#[tokio::test]
async fn sqlite_migrates_from_empty_and_from_version_1() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = Store::open(&Target::Sqlite(dir.path().join("new.sqlite")))
        .await
        .unwrap();
    assert_eq!(fresh.schema_version().await.unwrap(), schema::VERSION);
    assert!(fresh.runs(None, 10).await.unwrap().is_empty());

    let path = dir.path().join("v1.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(schema::VERSION_TABLE).unwrap();
    conn.execute_batch(&schema::migration(0, "INTEGER PRIMARY KEY AUTOINCREMENT"))
        .unwrap();
    conn.execute_batch(V1_ROWS).unwrap();
    drop(conn);
    check_migrated(&Store::open(&Target::Sqlite(path.clone())).await.unwrap()).await;

    // A newer planguard's store is refused and left as it is.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("UPDATE planguard_schema SET version = 99")
        .unwrap();
    drop(conn);
    let Err(e) = Store::open(&Target::Sqlite(path.clone())).await else {
        panic!("a newer schema opens");
    };
    assert!(
        e.to_string()
            .contains("schema version 99 was written by a newer planguard"),
        "{e}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("SELECT version FROM planguard_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99);
}

#[tokio::test]
async fn postgres_migrates_from_empty_and_from_version_1() {
    let empty = TestDb::new().await;
    let fresh = Store::open(&Target::Postgres(empty.url())).await.unwrap();
    assert_eq!(fresh.schema_version().await.unwrap(), schema::VERSION);
    // Opening again finds it current and changes nothing.
    let again = Store::open(&Target::Postgres(empty.url())).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), schema::VERSION);

    let old = TestDb::new().await;
    let client = old.client().await;
    client.batch_execute(schema::VERSION_TABLE).await.unwrap();
    client
        .batch_execute(&schema::migration(
            0,
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        ))
        .await
        .unwrap();
    client.batch_execute(V1_ROWS).await.unwrap();
    check_migrated(&Store::open(&Target::Postgres(old.url())).await.unwrap()).await;
}

/// Version 2 of the schema with one run in it (no statistics hash yet).
const V2_ROWS: &str = "INSERT INTO planguard_schema (version) VALUES (2);
    INSERT INTO planguard_runs (started_at, command, server, server_version, settings_hash, planguard_version, queryset_hash)
        VALUES (1764547200, 'check', 'postgres@localhost:5432/app', '15.18', 's', '0.1.0', 'q');
    INSERT INTO planguard_queries (run_id, query_id, status, fingerprint, total_cost, execution_ms, execution_ms_spread, planning_ms, shared_blocks, actual_rows)
        VALUES (1, 'orders/by_customer', 'ok', 'aaaa', 8.4, 0.1, 0.01, 0.05, 4, 20);";

/// After a migration from version 2: the old run is in the series of no
/// statistics file, and a run with one starts a series of its own.
async fn check_migrated_from_2(store: &Store) {
    assert_eq!(store.schema_version().await.unwrap(), schema::VERSION);
    let series = store.series(14, &app()).await.unwrap();
    assert_eq!(series["orders/by_customer"].len(), 1);
    let with_stats = SeriesKey {
        stats_hash: Some("e".repeat(64)),
        ..app()
    };
    store
        .record(
            &run_on(
                &with_stats,
                T0 + DAY,
                &[("orders/by_customer", "aaaa", 0.3, 9)],
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.series(14, &app()).await.unwrap()["orders/by_customer"].len(),
        1
    );
    let theirs = store.series(14, &with_stats).await.unwrap();
    assert_eq!(theirs["orders/by_customer"].len(), 1);
    assert_eq!(theirs["orders/by_customer"][0].shared_blocks, Some(9));
    let rows = store
        .queries(Some("orders/by_customer"), None)
        .await
        .unwrap();
    assert_eq!(rows[0].series.stats_hash, None);
    assert_eq!(rows[1].series.stats_hash, with_stats.stats_hash);
}

#[tokio::test]
async fn both_backends_migrate_from_version_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(schema::VERSION_TABLE).unwrap();
    for i in 0..2 {
        conn.execute_batch(&schema::migration(i, "INTEGER PRIMARY KEY AUTOINCREMENT"))
            .unwrap();
    }
    conn.execute_batch(V2_ROWS).unwrap();
    drop(conn);
    check_migrated_from_2(&Store::open(&Target::Sqlite(path)).await.unwrap()).await;

    let old = TestDb::new().await;
    let client = old.client().await;
    client.batch_execute(schema::VERSION_TABLE).await.unwrap();
    for i in 0..2 {
        client
            .batch_execute(&schema::migration(
                i,
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            ))
            .await
            .unwrap();
    }
    client.batch_execute(V2_ROWS).await.unwrap();
    check_migrated_from_2(&Store::open(&Target::Postgres(old.url())).await.unwrap()).await;
}

/// `history --regressed` compares a query within one series: the same
/// query three times slower on another server is not a regression.
#[test]
fn regressed_compares_runs_of_one_series() {
    let prod = SeriesKey {
        server: "postgres@prod:5432/app".to_owned(),
        ..app()
    };
    let row = |key: &SeriesKey, run: i64, day: i64, ms: f64| QueryRow {
        run,
        started_at: T0 + day * DAY,
        command: "check".to_owned(),
        series: key.clone(),
        record: run_on(key, T0 + day * DAY, &[("q", "f", ms, 100)])
            .queries
            .remove(0),
    };
    let rows = vec![
        row(&app(), 1, 0, 10.0),
        row(&app(), 2, 1, 10.0),
        row(&prod, 3, 5, 30.0),
        row(&prod, 4, 6, 30.0),
    ];
    let floors = Thresholds::default();
    assert!(regressed(rows.clone(), T0 + 4 * DAY, &floors).is_empty());
    let mut worse = rows;
    worse.push(row(&app(), 5, 6, 30.0));
    let found = regressed(worse, T0 + 4 * DAY, &floors);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].after.series, app());
    assert_eq!(found[0].before.run, 2);
}

/// `history --regressed` has the rules' noise floors: a lookup going from
/// 0.012 ms to 0.017 ms on the same plan (x1.42) is not listed; one going
/// to 2.5 ms is.
#[tokio::test]
async fn regressed_ignores_growth_below_the_floors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let store = Store::open(&Target::Sqlite(path.clone())).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let runs = [(now - 10 * DAY, 0.012, 0.012), (now - DAY, 0.017, 2.5)];
    for (at, lookup, slow) in runs {
        store
            .record(
                &run_of(at, &[("lookup", "f", lookup, 3), ("slow", "f", slow, 3)]),
                None,
            )
            .await
            .unwrap();
    }
    drop(store);
    let history = path.to_str().unwrap();
    let (code, stdout, stderr) = run_in(
        dir.path(),
        &[
            "history",
            "--history",
            history,
            "--regressed",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let found: Value = serde_json::from_str(&stdout).unwrap();
    let ids: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["query_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["slow"], "{stdout}");
}

/// `history` reads a store and never writes it: a history file that is
/// read-only to the user, in a directory that is too (a copy fetched from
/// the CI server), is read; an empty file is not given a schema; an older
/// schema is not migrated (`check` does that); a PostgreSQL database
/// without the tables is left without them.
#[tokio::test]
async fn history_reads_without_writing() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let path = shared.join("h.sqlite");
    let store = Store::open(&Target::Sqlite(path.clone())).await.unwrap();
    store
        .record(&run_of(T0, &[("q", "f", 1.0, 1)]), None)
        .await
        .unwrap();
    drop(store);
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(&path, 0o444).unwrap();
    mode(&shared, 0o555).unwrap();
    mode(dir.path(), 0o755).unwrap();
    // As a user who may not write there (the tests run as root, whom
    // file modes do not stop).
    let output = crate::support::planguard()
        .current_dir(&shared)
        .args([
            "history",
            "--history",
            path.to_str().unwrap(),
            "--format",
            "json",
        ])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let runs: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(runs[0]["started_at"], T0, "{runs}");
    let names: Vec<String> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["h.sqlite"]);
    mode(&shared, 0o755).unwrap();

    // An empty file stays empty.
    let empty = dir.path().join("empty.sqlite");
    std::fs::write(&empty, b"").unwrap();
    let (code, _, stderr) = run_in(
        dir.path(),
        &["history", "--history", empty.to_str().unwrap()],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no run recorded there yet"), "{stderr}");
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);

    // A version-2 store is not migrated.
    let old = dir.path().join("v2.sqlite");
    let conn = rusqlite::Connection::open(&old).unwrap();
    conn.execute_batch(schema::VERSION_TABLE).unwrap();
    for i in 0..2 {
        conn.execute_batch(&schema::migration(i, "INTEGER PRIMARY KEY AUTOINCREMENT"))
            .unwrap();
    }
    conn.execute_batch(V2_ROWS).unwrap();
    drop(conn);
    let (code, _, stderr) = run_in(dir.path(), &["history", "--history", old.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("schema version 2 is older than this planguard's (3); run planguard check"),
        "{stderr}"
    );
    let conn = rusqlite::Connection::open(&old).unwrap();
    let version: i64 = conn
        .query_row("SELECT version FROM planguard_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);

    // A PostgreSQL database without the tables gets none.
    let team = TestDb::new().await;
    let (code, _, stderr) = run_in(dir.path(), &["history", "--history", &team.url()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no run recorded there yet"), "{stderr}");
    let tables: i64 = team
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'planguard%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
}

/// Markdown from `history` escapes what it shows: a query id or a message
/// with markup in it shows as text and never opens HTML or ends a cell.
#[tokio::test]
async fn history_markdown_escapes_markup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let store = Store::open(&Target::Sqlite(path.clone())).await.unwrap();
    let id = "<b>bold</b>|x";
    for day in 0..2 {
        let mut run = run_of(T0 + day * DAY, &[(id, "f", 1.0, 1)]);
        run.queries[0].findings.push(FindingRecord {
            rule: "seq-scan".to_owned(),
            severity: "warning".to_owned(),
            regression: false,
            message: "<img src=x onerror=alert(1)> read | whole".to_owned(),
            causes: String::new(),
        });
        store.record(&run, None).await.unwrap();
    }
    drop(store);
    let history = path.to_str().unwrap();
    let (code, markdown, stderr) = run_in(
        dir.path(),
        &["history", "--history", history, id, "--format", "markdown"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        markdown.contains("# planguard history: <code>&lt;b&gt;bold&lt;/b&gt;&#124;x</code>"),
        "{markdown}"
    );
    assert!(
        markdown.contains("&lt;img src=x onerror=alert(1)&gt; read \\| whole"),
        "{markdown}"
    );
    assert!(
        !markdown.contains("<b>") && !markdown.contains("<img"),
        "{markdown}"
    );
}

/// Retention is pruned in the transaction that records a run: the runs
/// older than `keep` are gone, with their queries and findings.
#[tokio::test]
async fn retention_prunes_old_runs_when_recording() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Target::Sqlite(dir.path().join("h.sqlite")))
        .await
        .unwrap();
    for day in 0..10 {
        store
            .record(&run_of(T0 + day * DAY, &[("q", "f", 1.0, 1)]), None)
            .await
            .unwrap();
    }
    let keep = std::time::Duration::from_secs(3 * DAY as u64);
    store
        .record(&run_of(T0 + 10 * DAY, &[("q", "f", 1.0, 1)]), Some(keep))
        .await
        .unwrap();
    let runs = store.runs(None, 100).await.unwrap();
    let days: Vec<i64> = runs.iter().map(|r| (r.started_at - T0) / DAY).collect();
    assert_eq!(days, [10, 9, 8, 7]);
    assert_eq!(store.queries(Some("q"), None).await.unwrap().len(), 4);
}

const SCHEMA: &str = "CREATE TABLE t (id int PRIMARY KEY, k int NOT NULL, pad text NOT NULL);
    INSERT INTO t SELECT g, g % 5000, repeat('x', 40) FROM generate_series(1, 50000) g;
    CREATE INDEX t_k_idx ON t (k);";

const QUERY: (&str, &str) = ("by_k", "SELECT id, pad FROM t WHERE k = 42;\n");

fn check(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["check", "--runs", "1", "--warmup", "0", "--format", "json"];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

/// Ten recorded runs (a baseline and nine checks) of a query whose index
/// is dropped after the fourth and created again after the seventh: the
/// plan changed twice, and `history` shows it in every format.
#[tokio::test]
async fn ten_runs_with_two_plan_changes() {
    let (db, dir) = seeded(SCHEMA, &[QUERY]).await;
    let dir = dir.path();
    let d = db.conninfo.as_str();
    let client = db.client().await;
    let (code, _, stderr) = run_in(dir, &["baseline", "-d", d, "--runs", "1", "--warmup", "0"]);
    assert_eq!(code, 0, "{stderr}");
    for i in 1..=9 {
        if i == 4 {
            client.batch_execute("DROP INDEX t_k_idx").await.unwrap();
        }
        if i == 7 {
            client
                .batch_execute("CREATE INDEX t_k_idx ON t (k)")
                .await
                .unwrap();
        }
        let (code, _, stderr) = check(dir, &["-d", d]);
        assert!(code == 0 || code == 1, "{code}: {stderr}");
        assert!(!stderr.contains("warning: history"), "{stderr}");
    }
    assert!(dir.join("planguard-history.sqlite").exists());

    let (code, table, stderr) = run_in(dir, &["history", "by_k"]);
    assert_eq!(code, 0, "{stderr}");
    println!("{table}");
    assert!(
        table.contains("by_k: 10 runs, plan changed 2 times"),
        "{table}"
    );
    assert!(table.contains("first plan"), "{table}");
    assert_eq!(table.matches("  plan ").count(), 2, "{table}");
    assert!(table.contains("index-lost"), "{table}");

    let (code, json, _) = run_in(dir, &["history", "by_k", "--format", "json"]);
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&json).unwrap();
    let changes = json["plan_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 3);
    assert_eq!(changes[0]["to"], changes[2]["to"], "back to the index plan");
    assert_ne!(changes[0]["to"], changes[1]["to"]);
    assert_eq!(changes[1]["run"], json["runs"][4]["run"]);

    let (code, markdown, _) = run_in(dir, &["history", "by_k", "--format", "markdown"]);
    assert_eq!(code, 0);
    assert!(markdown.contains("## Plan changes"), "{markdown}");

    let (code, list, _) = run_in(dir, &["history", "--format", "json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&list).unwrap();
    let commands: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands.len(), 10);
    assert_eq!(commands.last(), Some(&"baseline"), "newest first");

    let (code, regressed, _) = run_in(dir, &["history", "--regressed", "--since", "7d"]);
    assert_eq!(code, 0);
    assert!(regressed.contains("by_k"), "{regressed}");
    assert!(regressed.contains("index-lost"), "{regressed}");
    for (since, says) in [
        (
            "0d",
            "--since 0d: an empty window holds no run; give a duration like 24h or 7d",
        ),
        ("soon", "--since soon: not a duration like 24h, 7d or 4w"),
    ] {
        let (code, _, stderr) = run_in(dir, &["history", "--regressed", "--since", since]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.starts_with(&format!("error: {says}")), "{stderr}");
    }

    // The HTML plot, in a real browser: one point per run on both plots,
    // the two plan changes marked on each, no console message.
    let page = dir.join("by_k.html");
    let (code, _, stderr) = run_in(
        dir,
        &[
            "history",
            "by_k",
            "--format",
            "html",
            "-o",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let loaded = crate::html::load(&page, None);
    assert!(loaded.console.is_empty(), "{:?}", loaded.console);
    let dom = &loaded.dom;
    for class in ["chart time", "chart cost"] {
        let start = dom
            .find(&format!("<svg class=\"{class}\""))
            .unwrap_or_else(|| panic!("{class} plot in {dom}"));
        let svg = &dom[start..start + dom[start..].find("</svg>").unwrap()];
        assert_eq!(svg.matches("<circle").count(), 10, "{class}");
        // Runs of one second are spread by run, not piled on one x.
        let xs: std::collections::BTreeSet<&str> = svg
            .split("<circle class=\"point\" cx=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        assert_eq!(xs.len(), 10, "{class}: {xs:?}");
        assert_eq!(svg.matches("class=\"plan-change\"").count(), 2, "{class}");
        assert!(svg.contains("<polyline"), "{class}");
    }
    assert_eq!(dom.matches("<tr class=\"changed\"").count(), 2);
}

/// Two `check` processes writing one history at the same time: both runs
/// are recorded.
#[tokio::test]
async fn two_concurrent_checks_write_one_history() {
    let (db, dir) = seeded(SCHEMA, &[QUERY]).await;
    let dir = dir.path();
    let spawn = || {
        crate::support::planguard()
            .current_dir(dir)
            .args([
                "check",
                "-d",
                &db.conninfo,
                "--format",
                "json",
                "--runs",
                "5",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("warning:"), "{stderr}");
    }
    let (code, list, _) = run_in(dir, &["history", "--format", "json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
}

/// What a report says, without the figures that change from run to run.
fn verdict(json: &str) -> (Value, Vec<String>) {
    let report: Value = serde_json::from_str(json).unwrap();
    let rules = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| q["findings"].as_array().unwrap().iter())
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect();
    (report["summary"].clone(), rules)
}

/// A history file that is not a database, and one locked by another
/// writer: one warning line naming the file, and the same report and exit
/// code as without a history.
#[tokio::test]
async fn corrupt_or_locked_history_is_one_warning() {
    let (db, dir) = seeded(SCHEMA, &[QUERY]).await;
    let dir = dir.path();
    let d = db.conninfo.as_str();
    let (code, _, _) = run_in(dir, &["baseline", "-d", d, "--no-history"]);
    assert_eq!(code, 0);
    let (expected_code, expected, _) = check(dir, &["-d", d, "--no-history"]);
    assert!(!dir.join("planguard-history.sqlite").exists());

    let file = dir.join("planguard-history.sqlite");
    std::fs::write(&file, b"not a database, just some bytes\n".repeat(200)).unwrap();
    let (code, stdout, stderr) = check(dir, &["-d", d]);
    assert_eq!(code, expected_code, "{stderr}");
    assert_eq!(verdict(&stdout), verdict(&expected));
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("history")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with("warning: history planguard-history.sqlite:"),
        "{stderr}"
    );
    assert!(warnings[0].contains("not a database"), "{stderr}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"not a database, just some bytes\n".repeat(200),
        "the file is left as it was"
    );

    std::fs::remove_file(&file).unwrap();
    let (code, _, stderr) = check(dir, &["-d", d]);
    assert_eq!(code, expected_code, "{stderr}");
    let locker = rusqlite::Connection::open(&file).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (code, stdout, stderr) = check(dir, &["-d", d]);
    locker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(code, expected_code, "{stderr}");
    assert_eq!(verdict(&stdout), verdict(&expected));
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("history")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with(
            "warning: history planguard-history.sqlite: cannot record this run: database is locked"
        ),
        "{stderr}"
    );
    let (_, list, _) = run_in(dir, &["history", "--format", "json"]);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the locked run is not recorded"
    );
}

/// `[history] enabled = false` and `--no-history` record nothing;
/// `--history URL` records in PostgreSQL, and `history --history URL`
/// reads it.
#[tokio::test]
async fn history_switches_and_the_postgres_url() {
    let (db, dir) = seeded(SCHEMA, &[QUERY]).await;
    let dir = dir.path();
    let d = db.conninfo.as_str();
    std::fs::write(dir.join("planguard.toml"), "[history]\nenabled = false\n").unwrap();
    let (code, _, stderr) = run_in(dir, &["baseline", "-d", d]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!dir.join("planguard-history.sqlite").exists());
    std::fs::remove_file(dir.join("planguard.toml")).unwrap();

    let team = TestDb::new().await;
    let url = team.url();
    let (code, _, stderr) = check(dir, &["-d", d, "--history", &url]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("warning:"), "{stderr}");
    assert!(!dir.join("planguard-history.sqlite").exists());
    let (code, list, stderr) = run_in(dir, &["history", "--history", &url, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["command"], "check");
    assert_eq!(list[0]["queries"], 1);
    // A history server that is not there: one warning naming it (without
    // the password), the check as usual.
    let (code, _, stderr) = check(
        dir,
        &[
            "-d",
            d,
            "--history",
            "postgres://team:s3cret@127.0.0.1:1/history",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("history")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0]
            .starts_with("warning: history postgres://team@127.0.0.1:1/history: cannot connect:"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    // `history` on that server: exit 3 (the database cannot be reached),
    // one line naming it; a URL that does not parse: exit 2, saying so.
    let (code, _, stderr) = run_in(
        dir,
        &[
            "history",
            "--history",
            "postgres://team:s3cret@127.0.0.1:1/history",
        ],
    );
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: history postgres://team@127.0.0.1:1/history: cannot connect:"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    let (code, _, stderr) = run_in(
        dir,
        &["history", "--history", "postgres://h/db?sslmode=sometimes"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with("error: the history URL is not a valid connection string: "),
        "{stderr}"
    );
    let (code, regressed, stderr) = run_in(
        dir,
        &[
            "history",
            "--history",
            &url,
            "--regressed",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(regressed.trim(), "[]", "one run: nothing got worse");
    let (code, _, stderr) = run_in(dir, &["history", "--history", &url, "nope"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no recorded run of query `nope`"),
        "{stderr}"
    );
    let (code, _, stderr) = run_in(dir, &["history", "--history", &url, "--format", "html"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("give a QUERY_ID"), "{stderr}");

    let (code, _, stderr) = run_in(dir, &["history"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("planguard-history.sqlite: no history there yet"),
        "{stderr}"
    );
}

/// The drift rules inside `check`, end to end: thirteen earlier runs of
/// the query's current plan in the history file, their blocks climbing to
/// today's, and `check` reads them and warns with `buffers-drift`; with
/// `--no-history` it has nothing to read and stays quiet.
#[tokio::test]
async fn check_reads_the_history_for_the_drift_rules() {
    let (db, dir) = seeded(SCHEMA, &[QUERY]).await;
    let dir = dir.path();
    let d = db.conninfo.as_str();
    std::fs::write(
        dir.join("planguard.toml"),
        "[thresholds]\nbuffers_drift_min_increase = 1\n",
    )
    .unwrap();
    let (code, stdout, stderr) = check(dir, &["-d", d, "--no-history"]);
    assert!(code <= 1, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let current = &report["queries"][0]["current"];
    let fp = current["fingerprint"].as_str().unwrap().to_owned();
    let blocks = current["shared_blocks"].as_u64().unwrap();
    assert!(blocks >= 4, "{current}");

    let store = Store::open(&Target::Sqlite(dir.join("planguard-history.sqlite")))
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // This check's series: its server, no planner settings, no --stats.
    let here = SeriesKey {
        server: planguard::history::server_label(Some(d)),
        settings_hash: planguard::history::settings_hash(&Default::default()),
        stats_hash: None,
    };
    let creep = |key: SeriesKey| {
        let store = &store;
        let fp = fp.clone();
        async move {
            for day in 0..13u64 {
                // From half of today's blocks up, a little more each day.
                let past = (blocks as f64 * (0.5 + 0.5 * day as f64 / 13.0)).floor() as u64;
                let at = now - (13 - day as i64) * DAY;
                store
                    .record(&run_on(&key, at, &[("by_k", &fp, 0.1, past)]), None)
                    .await
                    .unwrap();
            }
        }
    };
    let drift = |stdout: &str| -> Vec<Value> {
        let report: Value = serde_json::from_str(stdout).unwrap();
        report["queries"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "buffers-drift")
            .cloned()
            .collect()
    };
    // The creep recorded on another server (a staging database sharing
    // the history), then with other planner settings: not this series.
    creep(SeriesKey {
        server: "postgres@staging:5432/app".to_owned(),
        ..here.clone()
    })
    .await;
    creep(SeriesKey {
        settings_hash: "0".repeat(64),
        ..here.clone()
    })
    .await;
    let (_, stdout, stderr) = check(dir, &["-d", d]);
    assert!(drift(&stdout).is_empty(), "{stdout}\n{stderr}");
    creep(here).await;
    drop(store);
    let (_, stdout, stderr) = check(dir, &["-d", d, "--no-history"]);
    assert!(drift(&stdout).is_empty(), "{stderr}");
    let (code, stdout, stderr) = check(dir, &["-d", d]);
    assert_eq!(code, 1, "{stderr}");
    // The report with a drift finding keeps to docs/report.schema.json.
    let report: Value = serde_json::from_str(&stdout).unwrap();
    crate::support::assert_matches_schema("report.schema.json", &report);
    let found = drift(&stdout);
    assert_eq!(found.len(), 1, "{stdout}");
    assert_eq!(found[0]["evidence"]["runs_used"], 14);
    assert_eq!(found[0]["evidence"]["runs"].as_array().unwrap().len(), 13);
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("over the last 14 runs of an unchanged plan"),
        "{}",
        found[0]["message"]
    );
}

/// The drift rules judge a per-day trend only over runs that span a day:
/// thirteen runs seconds apart with climbing blocks give no finding (and
/// no "+inf%/day"); the same climb over thirteen days does, and with the
/// table grown threefold since the baseline it names that as the cause
/// instead of saying that no recorded change explains it.
#[tokio::test]
async fn drift_needs_a_day_of_runs_and_names_a_grown_table() {
    let (db, dir) = seeded(SCHEMA, &[QUERY]).await;
    let dir = dir.path();
    let d = db.conninfo.as_str();
    std::fs::write(
        dir.join("planguard.toml"),
        "[thresholds]\nbuffers_drift_min_increase = 1\n",
    )
    .unwrap();
    let (code, _, stderr) = run_in(dir, &["baseline", "-d", d, "--no-history"]);
    assert_eq!(code, 0, "{stderr}");
    db.client()
        .await
        .batch_execute(
            "INSERT INTO t SELECT g, g % 5000, repeat('x', 40) FROM generate_series(50001, 150000) g;
             ANALYZE t;",
        )
        .await
        .unwrap();
    let (_, stdout, stderr) = check(dir, &["-d", d, "--no-history"]);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stderr}"));
    let current = &report["queries"][0]["current"];
    let fp = current["fingerprint"].as_str().unwrap().to_owned();
    let blocks = current["shared_blocks"].as_u64().unwrap();
    let here = SeriesKey {
        server: planguard::history::server_label(Some(d)),
        settings_hash: planguard::history::settings_hash(&Default::default()),
        stats_hash: None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let drift = |stdout: &str| -> Vec<Value> {
        let report: Value = serde_json::from_str(stdout).unwrap();
        report["queries"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "buffers-drift" || f["rule"] == "time-drift")
            .cloned()
            .collect()
    };
    for (file, step) in [("seconds.sqlite", 10), ("days.sqlite", DAY)] {
        let path = dir.join(file);
        let store = Store::open(&Target::Sqlite(path.clone())).await.unwrap();
        for i in 0..13u64 {
            let past = (blocks as f64 * (0.5 + 0.5 * i as f64 / 13.0)).floor() as u64;
            let at = now - (13 - i as i64) * step;
            store
                .record(&run_on(&here, at, &[("by_k", &fp, 0.1, past)]), None)
                .await
                .unwrap();
        }
        drop(store);
        let (_, stdout, stderr) = check(dir, &["-d", d, "--history", path.to_str().unwrap()]);
        let found = drift(&stdout);
        if step < DAY {
            assert!(found.is_empty(), "{found:?}\n{stderr}");
            assert!(!stdout.contains("/day"), "{stdout}");
            continue;
        }
        let buffers: Vec<&Value> = found
            .iter()
            .filter(|f| f["rule"] == "buffers-drift")
            .collect();
        assert_eq!(buffers.len(), 1, "{stdout}");
        let message = buffers[0]["message"].as_str().unwrap();
        assert!(message.contains("likely cause: public.t grew"), "{message}");
        assert!(!message.contains("no recorded change"), "{message}");
        assert!(buffers[0]["evidence"]["slope_pct_per_day"].is_number());
    }
}

/// Ten runs of one query, its index lost in the fifth and back in the
/// eighth, as the store reads them back.
fn sample_rows() -> Vec<QueryRow> {
    (0..10)
        .map(|i| {
            let lost = (4..7).contains(&i);
            let mut record = run_of(
                T0 + i * DAY,
                &[(
                    "orders/by_customer",
                    if lost { "3a4b2fcf86b3" } else { "c07ab21e6b17" },
                    if lost { 3.8 + i as f64 * 0.4 } else { 0.12 + i as f64 * 0.01 },
                    if lost { 516 } else { 12 },
                )],
            )
            .queries
            .remove(0);
            record.total_cost = Some(if lost { 1141.0 } else { 40.32 });
            if i == 4 {
                record.findings = vec![FindingRecord {
                    rule: "index-lost".to_owned(),
                    severity: "error".to_owned(),
                    regression: true,
                    message: "orders was read by Index Scan in the baseline and is now read by a Seq Scan; likely cause: index orders_customer_idx on public.orders was dropped".to_owned(),
                    causes: "index orders_customer_idx on public.orders was dropped".to_owned(),
                }];
            }
            QueryRow {
                run: i + 1,
                started_at: T0 + i * DAY,
                command: if i == 0 { "baseline" } else { "check" }.to_owned(),
                series: app(),
                record,
            }
        })
        .collect()
}

/// Every `history` format, snapshotted from one sample history.
#[test]
fn history_renderers() {
    let history = QueryHistory::of("orders/by_customer", sample_rows());
    let text = |f: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    insta::assert_snapshot!(
        "query_table",
        text(&|o| render::query_table(&history, None, o))
    );
    insta::assert_snapshot!(
        "query_markdown",
        text(&|o| render::query_markdown(&history, o))
    );
    insta::assert_snapshot!("query_html", text(&|o| render::query_html(&history, o)));
    insta::assert_json_snapshot!("query_json", history.plan_changes);

    let runs: Vec<RunRow> = (0..3)
        .map(|i| RunRow {
            id: 3 - i,
            started_at: T0 + (2 - i) * DAY,
            command: "check".to_owned(),
            server: "app@db:5432/app".to_owned(),
            server_version: Some("15.18".to_owned()),
            planguard_version: "0.1.0".to_owned(),
            queries: 12,
            failed: i,
            regressions: 1,
        })
        .collect();
    insta::assert_snapshot!("runs_table", text(&|o| render::runs_table(&runs, None, o)));
    insta::assert_snapshot!("runs_markdown", text(&|o| render::runs_markdown(&runs, o)));

    // Back to the index plan by the last run: still listed for the
    // regression of the week, with the plan the same as before.
    let found = regressed(sample_rows(), T0 + 3 * DAY, &Thresholds::default());
    assert_eq!(found.len(), 1);
    assert!(!found[0].plan_changed);
    assert_eq!(found[0].rules, ["index-lost"]);
    let found = regressed(
        sample_rows()[..6].to_vec(),
        T0 + 3 * DAY,
        &Thresholds::default(),
    );
    assert_eq!(found.len(), 1);
    assert!(found[0].plan_changed);
    assert_eq!(found[0].rules, ["index-lost"]);
    insta::assert_snapshot!(
        "regressed_table",
        text(&|o| render::regressed_table(&found, T0 + 3 * DAY, None, o))
    );
    insta::assert_snapshot!(
        "regressed_markdown",
        text(&|o| render::regressed_markdown(&found, T0 + 3 * DAY, o))
    );
}

/// Ctrl-C in the middle of a `check`: exit 130, the interrupted run is not
/// recorded and the runs before it are intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_leaves_the_previous_runs_intact() {
    let (db, dir) = seeded(SCHEMA, &[QUERY]).await;
    let dir = dir.path();
    let d = db.conninfo.as_str();
    let (code, _, stderr) = run_in(dir, &["baseline", "-d", d, "--runs", "1", "--warmup", "0"]);
    assert_eq!(code, 0, "{stderr}");
    crate::support::write_queries(
        dir,
        &[(
            "z_sleepy",
            "SELECT pg_sleep(30) AS history_interrupt_marker;\n",
        )],
    );
    let child = crate::support::planguard()
        .current_dir(dir)
        .args(["check", "-d", d, "--runs", "1", "--warmup", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let admin = db.client().await;
    let running = "SELECT count(*) FROM pg_stat_activity
                   WHERE application_name = 'planguard' AND state = 'active'
                     AND query LIKE '%history_interrupt_marker%' AND pid <> pg_backend_pid()";
    assert!(
        crate::baseline::poll_until_positive(&admin, running).await,
        "never saw the sleepy query run"
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(!stderr.contains("warning: history"), "{stderr}");
    let (code, list, stderr) = run_in(dir, &["history", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let list: Value = serde_json::from_str(&list).unwrap();
    let commands: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["baseline"]);
}

/// One query checked nightly on a staging and a production server that
/// share a history, each with its own (steady) plan: the runs alternate
/// between the two plans, which is no plan change. The timeline used to
/// show a change at every run; each series is now compared on its own and
/// shown apart, in every format.
#[test]
fn a_query_on_two_servers_is_two_timelines_not_a_plan_change_every_run() {
    let production = SeriesKey {
        server: "postgres@prod:5432/app".to_owned(),
        ..app()
    };
    let rows: Vec<QueryRow> = sample_rows()
        .into_iter()
        .enumerate()
        .map(|(i, mut row)| {
            let on_production = i % 2 == 1;
            row.record.fingerprint = Some(
                if on_production {
                    "3a4b2fcf86b3"
                } else {
                    "c07ab21e6b17"
                }
                .to_owned(),
            );
            row.record.findings.clear();
            if on_production {
                row.series = production.clone();
            }
            row
        })
        .collect();
    let history = QueryHistory::of("orders/by_customer", rows);
    // The first plan of each series, and nothing else.
    assert_eq!(history.plan_changes.len(), 2, "{:#?}", history.plan_changes);
    assert!(history.plan_changes.iter().all(|c| c.from.is_none()));
    let parts = history.by_series();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].1.runs.len(), 5);
    assert_eq!(parts[1].0, production);

    let text = |f: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    let table = text(&|o| render::query_table(&history, None, o));
    for server in ["postgres@localhost:5432/app", "postgres@prod:5432/app"] {
        assert!(
            table.contains(&format!(
                "orders/by_customer on {server}: 5 runs, plan changed never"
            )),
            "{table}"
        );
    }
    let markdown = text(&|o| render::query_markdown(&history, o));
    assert!(
        markdown.contains("\nRuns on 2 series ")
            && markdown.contains("## On postgres@prod:5432/app\n")
            && markdown.contains("### Runs"),
        "{markdown}"
    );
    let html = text(&|o| render::query_html(&history, o));
    for id in ["runs-1", "runs-2", "plan-changes-1", "plan-changes-2"] {
        assert_eq!(html.matches(&format!("id=\"{id}\"")).count(), 1, "{html}");
    }
    assert!(!html.contains("id=\"runs\""), "{html}");
}
