//! `planguard check` against a real server: no false alarms on an unchanged
//! database, and real regressions found with the right cause.

use serde_json::Value;

use crate::support::{TestDb, run_in};

const SCHEMA: &str = "
    CREATE TABLE customers (id int PRIMARY KEY, region int NOT NULL, name text NOT NULL);
    INSERT INTO customers SELECT i, i % 20, 'c' || i FROM generate_series(1, 20000) i;
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
                         amount numeric NOT NULL, note text);
    INSERT INTO orders SELECT i, 1 + i % 20000, CASE WHEN i % 100 = 0 THEN 'open' ELSE 'done' END,
                              i % 1000, 'note ' || i
        FROM generate_series(1, 200000) i;
    CREATE INDEX orders_customer_id_idx ON orders (customer_id);";

/// The query set: sub-millisecond lookups and a 50 ms+ aggregate.
const QUERIES: &[(&str, &str)] = &[
    (
        "orders/by_customer",
        "-- planguard: params = [42]\nSELECT id, amount FROM orders WHERE customer_id = $1",
    ),
    (
        "orders/customer_total",
        "-- planguard: params = [77]\nSELECT sum(amount) FROM orders WHERE customer_id = $1",
    ),
    ("customers/one", "SELECT name FROM customers WHERE id = 7"),
    (
        "reports/by_region",
        "SELECT c.region, count(*), sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region ORDER BY c.region",
    ),
    (
        "orders/open",
        "SELECT id FROM orders WHERE status = 'open' AND note IS NOT NULL",
    ),
];

async fn setup() -> (TestDb, tempfile::TempDir) {
    crate::support::seeded(SCHEMA, QUERIES).await
}

fn check_json(dir: &std::path::Path, db: &TestDb, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["check", "-d", &db.conninfo, "--format", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = run_in(dir, &args);
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, report, err)
}

fn findings<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == id)
        .unwrap_or_else(|| panic!("no query {id}"))["findings"]
        .as_array()
        .unwrap()
        .iter()
        .collect()
}

fn rules_of(report: &Value, id: &str) -> Vec<String> {
    findings(report, id)
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect()
}

fn regressions(report: &Value) -> Vec<String> {
    report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| {
            q["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["regression"] == true)
                .map(move |f| format!("{} {} {}", q["id"], f["rule"], f["message"]))
        })
        .collect()
}

/// Every finding of one of `rules`, in any query, whatever its severity.
fn with_rules(report: &Value, rules: &[&str]) -> Vec<String> {
    report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| {
            q["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| rules.iter().any(|r| f["rule"] == *r))
                .map(move |f| format!("{} {} {}", q["id"], f["rule"], f["message"]))
        })
        .collect()
}

#[tokio::test]
async fn an_unchanged_database_raises_no_alarm_five_times_in_a_row() {
    let (db, dir) = setup().await;
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    for round in 1..=5 {
        let (code, report, err) = check_json(dir.path(), &db, &["--fail-on", "error"]);
        assert_eq!(report["summary"]["ok"], 5, "round {round}: {err}");
        assert_eq!(regressions(&report), Vec::<String>::new(), "round {round}");
        // A plan that flips between runs is no regression (plan-changed
        // alone is info), but it is an alarm all the same.
        assert_eq!(
            with_rules(&report, &["plan-changed", "cost-jump", "index-lost"]),
            Vec::<String>::new(),
            "round {round}"
        );
        assert_eq!(report["summary"]["regressions"], 0);
        assert_eq!(code, 0, "round {round}: {err}");
    }
}

#[tokio::test]
async fn a_dropped_index_is_found_on_exactly_the_queries_that_used_it() {
    let (db, dir) = setup().await;
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    db.client()
        .await
        .batch_execute("DROP INDEX orders_customer_id_idx")
        .await
        .unwrap();
    let (code, report, err) = check_json(dir.path(), &db, &[]);
    assert_eq!(code, 1, "{err}");
    for id in ["orders/by_customer", "orders/customer_total"] {
        let rules = rules_of(&report, id);
        assert!(rules.contains(&"index-lost".to_owned()), "{id}: {rules:?}");
        assert!(rules.contains(&"cost-jump".to_owned()), "{id}: {rules:?}");
        let lost = findings(&report, id)
            .into_iter()
            .find(|f| f["rule"] == "index-lost")
            .unwrap();
        assert_eq!(lost["severity"], "error");
        assert_eq!(lost["regression"], true);
        assert_eq!(lost["evidence"]["cause"], "index-dropped", "{lost}");
        assert!(
            lost["message"]
                .as_str()
                .unwrap()
                .contains("orders_customer_id_idx"),
            "{lost}"
        );
        assert!(
            lost["suggestion"]
                .as_str()
                .unwrap_or_default()
                .contains("CREATE INDEX"),
            "{lost}"
        );
    }
    for id in ["customers/one", "orders/open"] {
        let rules = rules_of(&report, id);
        assert!(!rules.contains(&"index-lost".to_owned()), "{id}: {rules:?}");
        assert!(!rules.contains(&"cost-jump".to_owned()), "{id}: {rules:?}");
    }
}

#[tokio::test]
async fn tiny_work_mem_spills_and_a_selective_filter_is_a_seq_scan() {
    let (db, dir) = setup().await;
    std::fs::write(
        dir.path().join("planguard.toml"),
        "[settings]\nwork_mem = \"64kB\"\n[run]\nruns = 1\n",
    )
    .unwrap();
    // A Seq Scan that keeps 99% of the rows: the right plan, no finding.
    crate::support::write_queries(
        dir.path(),
        &[(
            "orders/nearly_all",
            "SELECT id, amount FROM orders WHERE status = 'done'",
        )],
    );
    let (code, report, err) = check_json(dir.path(), &db, &["--include-plans"]);
    // No baselines: every finding is new, and the warnings (seq-scan,
    // disk-spill) fail the check at the default --fail-on warning.
    assert_eq!(code, 1, "{err}");
    assert_eq!(report["summary"]["findings"]["error"], 0, "{err}");
    let spill: Vec<String> = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| rules_of(&report, q["id"].as_str().unwrap()).contains(&"disk-spill".to_owned()))
        .map(|q| q["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        spill.contains(&"reports/by_region".to_owned()),
        "{spill:?} {err}"
    );
    // 200,000 rows read to keep 1%: a seq scan with a selective filter.
    assert!(rules_of(&report, "orders/open").contains(&"seq-scan".to_owned()));
    let nearly_all = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == "orders/nearly_all")
        .unwrap();
    let root = &nearly_all["current"]["plan"]["Plan"];
    assert_eq!(root["Node Type"], "Seq Scan", "{root}");
    assert_eq!(root["Relation Name"], "orders", "{root}");
    assert_eq!(root["Actual Rows"], 198000, "{root}");
    assert!(
        !rules_of(&report, "orders/nearly_all").contains(&"seq-scan".to_owned()),
        "{:?}",
        findings(&report, "orders/nearly_all")
    );
}

#[tokio::test]
async fn a_skewed_bulk_load_without_analyze_is_a_misestimate_with_its_cause() {
    let (db, dir) = setup().await;
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    db.client()
        .await
        .batch_execute(
            "ALTER TABLE orders SET (autovacuum_enabled = off);
             INSERT INTO orders SELECT 1000000 + i, 42, 'open', 1, 'bulk'
                 FROM generate_series(1, 150000) i;",
        )
        .await
        .unwrap();
    let (_, report, err) = check_json(dir.path(), &db, &[]);
    let found = findings(&report, "orders/by_customer");
    let misestimate = found
        .iter()
        .find(|f| f["rule"] == "row-misestimate")
        .unwrap_or_else(|| panic!("{found:?} {err}"));
    assert_eq!(misestimate["regression"], true, "{misestimate}");
    // The misestimate is blamed on the bulk load, by id, first.
    let causes = misestimate["causes"].as_array().unwrap();
    assert!(
        causes
            .first()
            .is_some_and(|c| c == "stats-stale:public.orders" || c == "table-grew:public.orders"),
        "{misestimate}"
    );
    assert_eq!(
        misestimate["evidence"]["cause"],
        causes[0].as_str().unwrap().split(':').next().unwrap()
    );
    let ids: Vec<&Value> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert!(ids.contains(&&causes[0]), "{ids:?}");
}

#[tokio::test]
async fn a_dropped_column_is_an_error_level_query_error() {
    let (db, dir) = setup().await;
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    db.client()
        .await
        .batch_execute("ALTER TABLE orders DROP COLUMN note")
        .await
        .unwrap();
    let (code, report, err) = check_json(dir.path(), &db, &[]);
    assert_eq!(code, 1, "{err}");
    let query = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == "orders/open")
        .unwrap();
    assert_eq!(query["status"], "error");
    let error = findings(&report, "orders/open")
        .into_iter()
        .find(|f| f["rule"] == "query-error")
        .unwrap();
    assert_eq!(error["severity"], "error", "the baseline had succeeded");
    assert!(
        error["message"].as_str().unwrap().contains("42703"),
        "{error}"
    );
}

#[tokio::test]
async fn a_new_index_that_helps_is_an_improvement_not_a_regression() {
    let (db, dir) = setup().await;
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    db.client()
        .await
        .batch_execute("CREATE INDEX orders_open_idx ON orders (status) WHERE status = 'open'; ANALYZE orders;")
        .await
        .unwrap();
    let (code, report, err) = check_json(dir.path(), &db, &["--fail-on", "warning"]);
    assert_eq!(regressions(&report), Vec::<String>::new(), "{err}");
    assert_eq!(code, 0, "{err}");
    let found = findings(&report, "orders/open");
    assert!(
        found.iter().any(|f| f["severity"] == "info"
            && f["regression"] == false
            && f["rule"] == "cost-jump"),
        "{found:?}"
    );
}

#[tokio::test]
async fn a_corrupt_baseline_exits_2_naming_the_file_before_running() {
    let (db, dir) = setup().await;
    std::fs::create_dir_all(dir.path().join("baselines/orders")).unwrap();
    std::fs::write(
        dir.path().join("baselines/orders/open.json"),
        "{\"format_version\": 1, \"quer",
    )
    .unwrap();
    let (code, out, err) = run_in(dir.path(), &["check", "-d", &db.conninfo]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(
        err.starts_with("error: baselines/orders/open.json: not a valid baseline"),
        "{err}"
    );
    // The broken file is left as it was.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("baselines/orders/open.json")).unwrap(),
        "{\"format_version\": 1, \"quer"
    );
}
