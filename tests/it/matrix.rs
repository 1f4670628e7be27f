//! The live version matrix: the real workflow on every supported
//! PostgreSQL major version (13 to 18), each on a throwaway cluster of its
//! own. Server binaries come from `scripts/fetch-postgres.sh` (13, 14,
//! 16, 17, 18) and Debian (15); see [`planguard::tempdb::find_bindir_for`].
//!
//! A version whose binaries are missing is reported and skipped on a
//! developer's machine; under `CI=true` it fails the test.

use std::collections::BTreeSet;
use std::path::Path;

use planguard::tempdb::TempDb;
use serde_json::Value;

use crate::support::{self, run_in, write_queries};

const LOG_PREFIX: &str = "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ";

/// 40,000 orders with a skewed status, customers in tiers, a char(n)
/// column and a quoted mixed-case table.
const SCHEMA: &str = "
CREATE TABLE customers (id int PRIMARY KEY, tier text NOT NULL, code char(8) NOT NULL);
INSERT INTO customers
  SELECT g, CASE WHEN g % 100 = 0 THEN 'gold' WHEN g % 10 = 0 THEN 'silver' ELSE 'basic' END,
         'C' || (g % 5)
  FROM generate_series(1, 2000) g;
CREATE TABLE orders (
  id int PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers,
  status text NOT NULL,
  created_at timestamptz NOT NULL,
  total numeric NOT NULL,
  note text NOT NULL);
INSERT INTO orders
  SELECT g, 1 + (g * 7919) % 2000,
         CASE WHEN g % 100 = 0 THEN 'failed' WHEN g % 10 = 0 THEN 'pending' ELSE 'done' END,
         timestamptz '2024-01-01' + (g || ' minutes')::interval,
         (g * 37) % 1000,
         repeat(md5(g::text), 4)
  FROM generate_series(1, 40000) g;
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE TABLE \"Audit\" (\"Id\" int PRIMARY KEY, \"Kind\" text NOT NULL);
INSERT INTO \"Audit\" SELECT g, CASE WHEN g % 50 = 0 THEN 'rare' ELSE 'common' END
  FROM generate_series(1, 5000) g;
";

const QUERIES: &[(&str, &str)] = &[
    (
        "orders/by_customer",
        "SELECT * FROM orders WHERE customer_id = 42",
    ),
    (
        "orders/by_status_given",
        "-- planguard: params = [\"pending\"]\nSELECT count(*) FROM orders WHERE status = $1",
    ),
    (
        "orders/recent_for_customer",
        "SELECT id, total FROM orders o\n WHERE o.customer_id = $1 AND o.created_at > $2\n ORDER BY o.created_at DESC LIMIT $3",
    ),
    (
        "orders/sorted",
        "SELECT id, note FROM orders ORDER BY note, id",
    ),
    (
        "orders/failed",
        "SELECT id FROM orders WHERE status = 'failed'",
    ),
    (
        "customers/gold_orders",
        "SELECT c.tier, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id\n WHERE c.tier = 'gold' GROUP BY c.tier",
    ),
    (
        "audit/by_kind",
        "SELECT count(*) FROM \"Audit\" a WHERE a.\"Kind\" = $1",
    ),
    (
        "customers/by_code",
        "SELECT id FROM customers WHERE code = $1 AND id < $2",
    ),
];

/// The cluster for one version: pg_stat_statements and auto_explain
/// preloaded, every plan logged, no autovacuum (stale statistics stay
/// stale).
fn cluster(major: u32) -> Option<TempDb> {
    let options = crate::support::version_options(major)?
        .setting(
            "shared_preload_libraries",
            "pg_stat_statements,auto_explain",
        )
        .setting("autovacuum", "off")
        .setting("auto_explain.log_min_duration", "0")
        .setting("auto_explain.log_format", "json")
        .setting("logging_collector", "on")
        .setting("log_directory", "log")
        .setting("log_filename", "pg.log")
        .setting("log_line_prefix", LOG_PREFIX)
        .setting("lc_messages", "C");
    let db = support::own_cluster(options);
    assert_eq!(db.major_version(), major, "{}", db.version());
    Some(db)
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn query<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == id)
        .unwrap_or_else(|| panic!("no query {id} in {report}"))
}

/// The ids of the queries with a finding of `rule`.
fn with_rule(report: &Value, rule: &str) -> BTreeSet<String> {
    report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| {
            q["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["rule"] == rule)
        })
        .map(|q| q["id"].as_str().unwrap().to_owned())
        .collect()
}

fn statuses(report: &Value) -> Vec<(String, String, String)> {
    report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["id"].as_str().unwrap_or_default().to_owned(),
                q["status"].as_str().unwrap_or_default().to_owned(),
                q["error"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The live report, `params` included, matches docs/report.schema.json.
fn assert_schema(report: &Value) {
    crate::support::assert_matches_schema("report.schema.json", report);
}

fn check(dir: &Path, conninfo: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["check", "-d", conninfo, "--format", "json", "--runs", "1"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run_in(dir, &args);
    (code, json(&stdout), stderr)
}

async fn workflow(major: u32) {
    let Some(cluster) = cluster(major) else {
        return;
    };
    let admin = support::connect(&cluster.conninfo("postgres")).await;
    admin.batch_execute("CREATE DATABASE shop").await.unwrap();
    let conninfo = cluster.conninfo("shop");
    // The workload's own sessions (support::connect says planguard).
    let app = support::connect(&format!("{conninfo} application_name=shop")).await;
    app.batch_execute(SCHEMA).await.unwrap();
    app.batch_execute("CREATE EXTENSION pg_stat_statements")
        .await
        .unwrap();
    app.batch_execute("VACUUM ANALYZE").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_queries(root, QUERIES);

    // Baseline, then an unchanged database: no alarm.
    let (code, _, stderr) = run_in(root, &["baseline", "-d", &conninfo, "--runs", "1"]);
    assert_eq!(code, 0, "PostgreSQL {major}: baseline: {stderr}");
    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("baselines/orders/recent_for_customer.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        recorded["params"]["source"], "sampled",
        "PostgreSQL {major}: {}",
        recorded["params"]
    );
    // Standing warnings (Seq Scans that were there in the baseline too)
    // fail the run only with --strict.
    let (code, report, stderr) = check(root, &conninfo, &[]);
    assert_eq!(code, 0, "PostgreSQL {major}: unchanged check: {stderr}");
    assert!(
        report["summary"]["findings"]["warning"].as_u64().unwrap() > 0,
        "PostgreSQL {major}: the set has standing warnings: {report}"
    );
    // The index advisor reads this version's catalog (pg_stats widths,
    // operator classes) and has suggestions, without an error.
    assert!(
        !with_rule(&report, "missing-index").is_empty(),
        "PostgreSQL {major}: {stderr}"
    );
    assert!(
        !stderr.contains("index advisor:"),
        "PostgreSQL {major}: {stderr}"
    );
    let (code, _, stderr) = check(root, &conninfo, &["--strict"]);
    assert_eq!(code, 1, "PostgreSQL {major}: --strict: {stderr}");
    for (id, status, error) in statuses(&report) {
        assert_eq!(status, "ok", "PostgreSQL {major}: {id}: {error}");
    }
    for rule in ["index-lost", "plan-changed", "cost-jump"] {
        assert!(
            with_rule(&report, rule).is_empty(),
            "PostgreSQL {major}: {rule} on an unchanged database: {report}"
        );
    }
    assert_eq!(report["summary"]["regressions"], 0, "PostgreSQL {major}");
    assert_schema(&report);
    // Values: given, and the baseline's sampled ones bound again.
    let given = &query(&report, "orders/by_status_given")["params"];
    assert_eq!(given["source"], "given");
    assert_eq!(given["values"], serde_json::json!(["pending"]));
    let reused = &query(&report, "orders/recent_for_customer")["params"];
    assert_eq!(reused["source"], "baseline", "PostgreSQL {major}: {reused}");
    assert_eq!(reused["values"], recorded["params"]["values"]);
    let origins = reused["origins"].to_string();
    assert!(
        origins.contains("public.orders.customer_id") && origins.contains("histogram bound"),
        "PostgreSQL {major}: {origins}"
    );
    // Quoted mixed-case names and char(n) sample too.
    for id in ["audit/by_kind", "customers/by_code"] {
        let params = &query(&report, id)["params"];
        assert_eq!(
            params["source"], "baseline",
            "PostgreSQL {major}: {id}: {params}"
        );
    }

    version_specifics(major, root, &conninfo).await;

    // A dropped index: index-lost on exactly the queries whose baseline
    // plan read orders through it and whose plan now reads orders by a
    // Seq Scan (another index may serve the rest).
    let plan_of = |id: &str| -> String {
        let text = std::fs::read_to_string(root.join(format!("baselines/{id}.json"))).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["plan"].to_string()
    };
    let used: BTreeSet<String> = QUERIES
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| plan_of(id).contains("\"Index Name\":\"orders_customer_id_idx\""))
        .map(str::to_owned)
        .collect();
    assert!(
        used.contains("orders/by_customer"),
        "PostgreSQL {major}: {used:?}"
    );
    app.batch_execute("DROP INDEX orders_customer_id_idx")
        .await
        .unwrap();
    let (code, report, stderr) = check(root, &conninfo, &["--include-plans"]);
    assert_eq!(code, 1, "PostgreSQL {major}: {stderr}");
    let now_seq_scan: BTreeSet<String> = used
        .iter()
        .filter(|id| {
            let plan = query(&report, id)["current"]["plan"].to_string();
            plan.contains("\"Node Type\":\"Seq Scan\"")
                && plan.contains("\"Relation Name\":\"orders\"")
        })
        .cloned()
        .collect();
    assert!(
        now_seq_scan.contains("orders/by_customer"),
        "PostgreSQL {major}: {now_seq_scan:?}"
    );
    assert_eq!(
        with_rule(&report, "index-lost"),
        now_seq_scan,
        "PostgreSQL {major}: index-lost"
    );
    app.batch_execute("CREATE INDEX orders_customer_id_idx ON orders (customer_id)")
        .await
        .unwrap();

    // A work_mem spill.
    std::fs::write(
        root.join("small-work-mem.toml"),
        "[settings]\nwork_mem = \"64kB\"\n",
    )
    .unwrap();
    let (_, report, stderr) = check(
        root,
        &conninfo,
        &["-c", "small-work-mem.toml", "--query", "orders/sorted"],
    );
    assert_eq!(
        with_rule(&report, "disk-spill"),
        BTreeSet::from(["orders/sorted".to_owned()]),
        "PostgreSQL {major}: {stderr}"
    );

    // Stale statistics: a skewed bulk load with no ANALYZE after it.
    app.batch_execute(
        "INSERT INTO orders SELECT g, 1 + g % 2000, 'failed', timestamptz '2025-01-01', 1, 'x' \
         FROM generate_series(100001, 160000) g",
    )
    .await
    .unwrap();
    let (_, report, stderr) = check(root, &conninfo, &["--query", "orders/failed"]);
    assert!(
        with_rule(&report, "row-misestimate").contains("orders/failed"),
        "PostgreSQL {major}: {stderr} {report}"
    );
    app.batch_execute("ANALYZE orders").await.unwrap();

    // --no-analyze plans only; DML runs and rolls back; a timeout.
    let (code, report, stderr) = check(root, &conninfo, &["--no-analyze"]);
    assert!(code <= 1, "PostgreSQL {major}: {stderr}");
    let current = &query(&report, "orders/by_customer")["current"];
    assert!(current["execution_ms"].is_null(), "{current}");
    write_queries(
        root,
        &[
            (
                "dml/insert",
                "INSERT INTO customers SELECT g, 'basic', 'X' FROM generate_series(5001, 5100) g",
            ),
            ("slow/sleep", "SELECT pg_sleep(5)"),
        ],
    );
    let count = || async {
        app.query_one("SELECT count(*) FROM customers", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let before = count().await;
    let (_, report, stderr) = check(
        root,
        &conninfo,
        &[
            "--allow-dml",
            "--query",
            "dml/*",
            "--query",
            "slow/*",
            "--timeout",
            "500ms",
        ],
    );
    assert_eq!(query(&report, "dml/insert")["status"], "ok", "{stderr}");
    assert_eq!(count().await, before, "PostgreSQL {major}: DML rolled back");
    assert_eq!(
        query(&report, "slow/sleep")["status"],
        "timeout",
        "{stderr}"
    );
    std::fs::remove_dir_all(root.join("queries/dml")).unwrap();
    std::fs::remove_dir_all(root.join("queries/slow")).unwrap();

    // Snapshots are stable.
    let (code, _, stderr) = run_in(root, &["snapshot", "--update", "-d", &conninfo]);
    assert_eq!(code, 0, "PostgreSQL {major}: {stderr}");
    // The snapshot shows the plan for the baseline's sampled values.
    let shape =
        std::fs::read_to_string(root.join("snapshots/orders/recent_for_customer.plan")).unwrap();
    let customer = recorded["params"]["values"][0].as_str().unwrap();
    assert!(
        shape.contains(&format!("customer_id = {customer}")),
        "PostgreSQL {major}: {shape}"
    );
    let (code, stdout, stderr) = run_in(root, &["snapshot", "--check", "-d", &conninfo]);
    assert_eq!(code, 0, "PostgreSQL {major}: {stdout}{stderr}");

    capture_then_check(major, &cluster, &app, root, &conninfo).await;
    crate::stats::export_on(major, &cluster, root, &conninfo).await;
}

/// What exists on some versions only.
async fn version_specifics(major: u32, root: &Path, conninfo: &str) {
    write_queries(
        root,
        &[(
            "generic/by_customer",
            "-- planguard: params = \"generic\"\nSELECT * FROM orders WHERE customer_id = $1",
        )],
    );
    let (_, report, stderr) = check(root, conninfo, &["--query", "generic/*"]);
    let generic = query(&report, "generic/by_customer");
    if major >= 16 {
        assert_eq!(generic["status"], "ok", "PostgreSQL {major}: {stderr}");
        assert_eq!(generic["params"]["source"], "generic");
        assert!(generic["current"]["execution_ms"].is_null());
    } else {
        assert_eq!(generic["status"], "skipped", "PostgreSQL {major}");
        assert!(
            generic["error"]
                .as_str()
                .unwrap()
                .contains("needs PostgreSQL 16+"),
            "{generic}"
        );
    }
    std::fs::remove_dir_all(root.join("queries/generic")).unwrap();
    hidden_statement_in_a_generic_plan(major, conninfo).await;
    std::fs::remove_dir_all(root.join("baselines/generic")).ok();

    // 18 counts index searches (and gives fractional row counts, which
    // parse); the written-back plan keeps them.
    let (_, report, stderr) = check(
        root,
        conninfo,
        &["--query", "orders/by_customer", "--include-plans"],
    );
    let plan = query(&report, "orders/by_customer")["current"]["plan"].to_string();
    assert_eq!(
        plan.contains("\"Index Searches\""),
        major >= 18,
        "PostgreSQL {major}: {stderr} {plan}"
    );
    assert_eq!(
        report["server"]["version_num"].as_u64().unwrap() / 10000,
        u64::from(major)
    );
}

/// The generic plan goes by the simple protocol after the server parsed
/// the statement alone: a second statement hidden in it is refused there,
/// before anything runs.
async fn hidden_statement_in_a_generic_plan(major: u32, conninfo: &str) {
    use planguard::queryset::ParamMode;
    use planguard::runner::{Job, Outcome, RunOptions, Runner};
    let client = support::connect(conninfo).await;
    client
        .batch_execute("CREATE TABLE victims (id int)")
        .await
        .unwrap();
    let params = planguard::conn::ConnParams::parse(conninfo).unwrap();
    let runner = std::sync::Arc::new(
        Runner::connect(params, RunOptions::default())
            .await
            .unwrap(),
    );
    let job = Job::unclassified(
        "smuggled",
        "SELECT * FROM orders WHERE id = $1; DROP TABLE victims",
        1,
        ParamMode::Generic,
    );
    let outcomes = runner
        .run_all(std::sync::Arc::new(vec![job]), std::sync::Arc::new(|_| {}))
        .await;
    match &outcomes[0] {
        Outcome::Error { message, .. } if major >= 16 => assert!(
            message.contains("cannot insert multiple commands into a prepared statement"),
            "{message}"
        ),
        Outcome::Skipped { reason } if major < 16 => {
            assert!(reason.contains("needs PostgreSQL 16+"), "{reason}")
        }
        other => panic!("PostgreSQL {major}: {other:?}"),
    }
    client
        .query_one("SELECT count(*) FROM victims", &[])
        .await
        .expect("the table is still there");
    client.batch_execute("DROP TABLE victims").await.unwrap();
}

/// pg_stat_statements and auto_explain capture, then check: every
/// captured query ends ok (or skipped with a reason), none in error.
async fn capture_then_check(
    major: u32,
    cluster: &TempDb,
    app: &tokio_postgres::Client,
    root: &Path,
    conninfo: &str,
) {
    app.batch_execute("SELECT pg_stat_statements_reset()")
        .await
        .unwrap();
    app.batch_execute(
        "SELECT * FROM orders WHERE status = 'pending';
         SELECT * FROM orders WHERE customer_id = 17 ORDER BY created_at DESC LIMIT 5;
         SELECT c.tier, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id
           WHERE c.tier = 'silver' GROUP BY c.tier;
         SELECT count(*) FROM \"Audit\" WHERE \"Kind\" = 'rare';
         SET auto_explain.log_format = text;
         SELECT id FROM customers WHERE code = 'C1' AND id < 300;",
    )
    .await
    .unwrap();
    for customer in [5i32, 6, 7] {
        app.query(
            "SELECT id FROM orders WHERE customer_id = $1 AND created_at > $2::text::timestamptz",
            &[&customer, &"2024-01-10"],
        )
        .await
        .unwrap();
    }
    let (code, _, stderr) = run_in(
        root,
        &[
            "capture",
            "--from",
            "pg_stat_statements",
            "-d",
            conninfo,
            "--out",
            "captured",
        ],
    );
    assert_eq!(code, 0, "PostgreSQL {major}: capture: {stderr}");
    for extra in [&[][..], &["--no-analyze"][..]] {
        let mut args = vec!["--queries", "captured", "--baselines", "none"];
        args.extend_from_slice(extra);
        let (_, report, stderr) = check(root, conninfo, &args);
        let all = statuses(&report);
        assert!(all.len() >= 5, "PostgreSQL {major}: {all:?}");
        for (id, status, error) in &all {
            assert!(
                status == "ok" || (status == "skipped" && !error.is_empty()),
                "PostgreSQL {major} {extra:?}: {id}: {status}: {error} ({stderr})"
            );
        }
        let sampled: Vec<&Value> = report["queries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["params"]["source"] == "sampled" && q["status"] == "ok")
            .collect();
        for needle in [
            "status = $1",
            "customer_id = $1 ORDER BY created_at DESC LIMIT $2",
        ] {
            let found = sampled.iter().any(|q| {
                std::fs::read_to_string(
                    root.join("captured")
                        .join(format!("{}.sql", q["id"].as_str().unwrap())),
                )
                .is_ok_and(|t| t.contains(needle))
            });
            assert!(
                found,
                "PostgreSQL {major} {extra:?}: no ok sampled query with {needle:?}: {report}"
            );
        }
    }

    // The log: auto_explain plans in JSON and text.
    cluster.pg_ctl(&["stop", "-m", "fast", "-w", "-s"]).unwrap();
    let log = cluster.data_dir().join("log/pg.log");
    let (code, _, stderr) = run_in(
        root,
        &[
            "capture",
            "--from",
            "log",
            log.to_str().unwrap(),
            "--out",
            "from-log",
        ],
    );
    assert_eq!(code, 0, "PostgreSQL {major}: capture --from log: {stderr}");
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            if entry.path().is_dir() {
                walk(&entry.path(), out);
            } else {
                out.push(entry.path().display().to_string());
            }
        }
    }
    let mut files = Vec::new();
    walk(&root.join("from-log"), &mut files);
    assert!(
        files.iter().any(|f| f.ends_with(".plan.json"))
            && files.iter().any(|f| f.ends_with(".plan.txt")),
        "PostgreSQL {major}: {files:?}"
    );
    // explain reads the auto_explain plans capture wrote, in both formats.
    for suffix in [".plan.json", ".plan.txt"] {
        let file = files.iter().find(|f| f.ends_with(suffix)).unwrap();
        let (code, stdout, stderr) = run_in(root, &["explain", file]);
        assert_eq!(code, 0, "PostgreSQL {major}: explain {file}: {stderr}");
        assert!(stdout.contains(" on "), "{stdout}");
    }
    let (code, stdout, stderr) = run_in(
        root,
        &[
            "check",
            "--plans",
            "from-log",
            "--baselines",
            "none",
            "--format",
            "json",
        ],
    );
    assert!(code <= 1, "PostgreSQL {major}: check --plans: {stderr}");
    let report = json(&stdout);
    assert!(
        report["queries"].as_array().unwrap().len() >= 2,
        "PostgreSQL {major}: {report}"
    );
    cluster.restart().unwrap();
}

#[tokio::test]
async fn matrix_pg13() {
    workflow(13).await;
}

#[tokio::test]
async fn matrix_pg14() {
    workflow(14).await;
}

#[tokio::test]
async fn matrix_pg15() {
    workflow(15).await;
}

#[tokio::test]
async fn matrix_pg16() {
    workflow(16).await;
}

#[tokio::test]
async fn matrix_pg17() {
    workflow(17).await;
}

#[tokio::test]
async fn matrix_pg18() {
    workflow(18).await;
}

/// 200,000 rows: `status` is `done` in 90% of them and one of 500 rare
/// `err-n` values (40 rows each) in the rest, served by a partial index on the rare
/// ones (which only a literal value can prove usable); `bucket` is
/// uniform (100 values) with a full index.
const SKEWED: &str = "
CREATE TABLE ev (id int PRIMARY KEY, status text NOT NULL, bucket int NOT NULL, payload text NOT NULL);
INSERT INTO ev SELECT g, CASE WHEN g % 10 <> 0 THEN 'done' ELSE 'err-' || (g / 10) % 500 END,
                      g % 100, repeat('x', 60)
  FROM generate_series(1, 200000) g;
CREATE INDEX ev_open_idx ON ev (status) WHERE status <> 'done';
CREATE INDEX ev_bucket_idx ON ev (bucket);
";

fn finding<'a>(report: &'a Value, id: &str, rule: &str) -> Option<&'a Value> {
    query(report, id)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
}

/// The prepared-statement trap (issue 16): a rare value of a skewed column
/// is a generic-plan warning with both plans in the evidence, a uniform
/// column stays quiet; an index both plans can use quiets it, and the
/// generic plan's new shape is a plan-changed against the baseline.
async fn generic_plan_trap(major: u32) {
    let Some(cluster) = cluster(major) else {
        return;
    };
    let admin = support::connect(&cluster.conninfo("postgres")).await;
    admin.batch_execute("CREATE DATABASE trap").await.unwrap();
    let conninfo = cluster.conninfo("trap");
    let app = support::connect(&conninfo).await;
    app.batch_execute(SKEWED).await.unwrap();
    app.batch_execute("VACUUM ANALYZE ev").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_queries(
        root,
        &[
            (
                "ev/rare",
                "-- planguard: params = [\"err-7\"]\nSELECT * FROM ev WHERE status = $1",
            ),
            (
                "ev/uniform",
                "-- planguard: params = [7]\nSELECT * FROM ev WHERE bucket = $1",
            ),
        ],
    );
    let (code, _, stderr) = run_in(root, &["baseline", "-d", &conninfo, "--runs", "3"]);
    assert_eq!(code, 0, "PostgreSQL {major}: baseline: {stderr}");
    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("baselines/ev/rare.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        recorded["generic"]["fingerprint"].as_str().map(str::len),
        Some(64),
        "PostgreSQL {major}: {}",
        recorded["generic"]
    );

    // The median of three runs: one run of a 40-row index scan can be
    // slowed down by a busy machine.
    let (code, stdout, stderr) = run_in(
        root,
        &[
            "check", "-d", &conninfo, "--format", "json", "--runs", "3", "--strict",
        ],
    );
    let report = json(&stdout);
    assert_schema(&report);
    let trap = finding(&report, "ev/rare", "generic-plan")
        .unwrap_or_else(|| panic!("PostgreSQL {major}: no generic-plan: {report} {stderr}"));
    eprintln!("PostgreSQL {major}: {trap:#}");
    // The trap was there when the baseline was recorded: a standing
    // warning, which fails the check with --strict.
    assert_eq!(code, 1, "PostgreSQL {major}: a warning fails the check");
    assert_eq!(trap["severity"], "warning", "PostgreSQL {major}: {trap}");
    let e = &trap["evidence"];
    assert_eq!(e["would_switch"], true);
    assert_eq!(e["trap"], "live");
    assert_eq!(e["values"], serde_json::json!(["err-7"]));
    assert_eq!(e["common_values"], serde_json::json!(["done"]));
    assert_eq!(e["generic_spine"], serde_json::json!(["Seq Scan on ev"]));
    let custom = e["custom_spine"].to_string();
    assert!(
        custom.contains("ev_open_idx"),
        "PostgreSQL {major}: {custom}"
    );
    assert_eq!(e["index_to_seq_scan"][0]["relation"], "ev");
    assert!(e["slowdown"].as_f64().unwrap() >= 10.0, "{e}");
    assert!(e["generic_ms"].as_f64().unwrap() > e["custom_ms"].as_f64().unwrap());
    assert!(
        e["generic_shared_blocks"].as_u64().unwrap() > e["custom_shared_blocks"].as_u64().unwrap(),
        "{e}"
    );
    assert!(
        e["generic_cost"].as_f64().unwrap() < e["common_average_custom_cost"].as_f64().unwrap(),
        "{e}"
    );
    assert_eq!(e["planning_surcharge"], 5, "1000 * 0.0025 * (1 + 1)");
    assert_eq!(trap["node"]["node_type"], "Index Scan");
    assert!(
        finding(&report, "ev/uniform", "generic-plan").is_none(),
        "PostgreSQL {major}: {report}"
    );
    assert!(with_rule(&report, "plan-changed").is_empty(), "{report}");

    // An index both plans can use: the generic plan reads it too, the
    // rule is quiet, and the generic plan's new shape is reported.
    app.batch_execute("CREATE INDEX ev_status_idx ON ev (status); ANALYZE ev")
        .await
        .unwrap();
    let (_, report, stderr) = check(root, &conninfo, &["--query", "ev/rare"]);
    assert!(
        finding(&report, "ev/rare", "generic-plan").is_none(),
        "PostgreSQL {major}: {report} {stderr}"
    );
    let changed = report["queries"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "plan-changed" && f["evidence"]["plan"] == "generic")
        .unwrap_or_else(|| {
            panic!("PostgreSQL {major}: no plan-changed on the generic plan: {report}")
        });
    assert!(
        changed["evidence"]["current_generic_plan"]
            .to_string()
            .contains("ev_status_idx"),
        "{changed}"
    );
    generic_plan_deallocated(major, &conninfo, &app).await;
}

/// PREPARE is not transactional: the runner deallocates the generic
/// plan's statement after the rollback, when the generic run worked and
/// when it failed (here: a generic plan that runs past the timeout while
/// the custom plan, and so the query, is fine).
async fn generic_plan_deallocated(major: u32, conninfo: &str, app: &tokio_postgres::Client) {
    use planguard::runner::{Outcome, RunOptions, Runner};
    // Cheap by its declared cost, so the planner filters with it first:
    // on 40 rows in the custom plan, on every row in the generic one.
    // Back to the partial index alone: the generic plan is a Seq Scan.
    app.batch_execute("DROP INDEX ev_status_idx").await.unwrap();
    app.batch_execute(
        "CREATE FUNCTION slow_ok(int) RETURNS bool LANGUAGE plpgsql COST 1          AS $$ BEGIN PERFORM pg_sleep(0.0002); RETURN true; END $$",
    )
    .await
    .unwrap();
    let params = planguard::conn::ConnParams::parse(conninfo).unwrap();
    let options = RunOptions {
        timeout: std::time::Duration::from_secs(2),
        runs: 1,
        ..RunOptions::default()
    };
    let runner = std::sync::Arc::new(Runner::connect(params, options).await.unwrap());
    let job = |id: &str, sql: &str| {
        let query =
            planguard::queryset::Query::parse(id, std::path::Path::new("q.sql"), sql).unwrap();
        runner
            .admit(&query, &Default::default())
            .unwrap()
            .with_values(vec![Some("err-7".to_owned())])
    };
    let jobs = vec![
        job("fine", "SELECT * FROM ev WHERE status = $1"),
        job("slow", "SELECT * FROM ev WHERE slow_ok(id) AND status = $1"),
    ];
    let outcomes = runner
        .run_all(std::sync::Arc::new(jobs), std::sync::Arc::new(|_| {}))
        .await;
    let generic = |i: usize| match &outcomes[i] {
        Outcome::Ok(m) => m.generic.clone(),
        other => panic!("PostgreSQL {major}: {other:?}"),
    };
    assert!(
        matches!(generic(0), Some(Ok(_))),
        "PostgreSQL {major}: {:?}",
        generic(0).map(|g| g.map(|_| ()))
    );
    match generic(1) {
        Some(Err(reason)) => assert!(
            matches!(&reason, planguard::runner::NotPlanned::Server(m) if m.contains("statement timeout")),
            "{reason}"
        ),
        other => panic!("PostgreSQL {major}: {:?}", other.map(|g| g.map(|_| ()))),
    }
    // One worker ran both jobs on one session, which went back to the pool.
    let session = runner.session().await.unwrap();
    let left: i64 = session
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'planguard%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        left, 0,
        "PostgreSQL {major}: prepared statements left behind"
    );
}

#[tokio::test]
async fn generic_plan_pg13() {
    generic_plan_trap(13).await;
}

#[tokio::test]
async fn generic_plan_pg14() {
    generic_plan_trap(14).await;
}

#[tokio::test]
async fn generic_plan_pg15() {
    generic_plan_trap(15).await;
}

#[tokio::test]
async fn generic_plan_pg16() {
    generic_plan_trap(16).await;
}

#[tokio::test]
async fn generic_plan_pg17() {
    generic_plan_trap(17).await;
}

#[tokio::test]
async fn generic_plan_pg18() {
    generic_plan_trap(18).await;
}
