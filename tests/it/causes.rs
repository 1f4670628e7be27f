//! Causes per finding, by mechanism: the demo's three changes injected at
//! once (an index dropped, a skewed bulk load without ANALYZE,
//! `work_mem = 64kB`) are each blamed for exactly the findings they
//! explain, and for nothing of a query they do not touch.

use std::collections::BTreeSet;

use planguard::tempdb::TempDbOptions;
use serde_json::Value;

use crate::support::{self, run_in, write_queries};

const SCHEMA: &str = "
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 30000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL);
INSERT INTO orders SELECT g, g % 5000, CASE WHEN g % 100 = 0 THEN 'pending' ELSE 'done' END
  FROM generate_series(1, 200000) g;
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
";

fn causes(report: &Value, id: &str, rule: &str) -> Vec<String> {
    let query = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == id)
        .unwrap_or_else(|| panic!("no {id}"));
    let finding = query["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} on {id}: {query}"));
    assert_eq!(finding["regression"], true, "{finding}");
    finding["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_change_is_blamed_for_what_it_explains_and_nothing_else() {
    // No autovacuum: the bulk load's statistics stay stale.
    let cluster = support::own_cluster(TempDbOptions::default().setting("autovacuum", "off"));
    let admin = support::connect(&cluster.conninfo("postgres")).await;
    admin.batch_execute("CREATE DATABASE shop").await.unwrap();
    let conninfo = cluster.conninfo("shop");
    let client = support::connect(&conninfo).await;
    client.batch_execute(SCHEMA).await.unwrap();
    // A backend reports its row counts at most once a second: have the
    // load's reach the statistics before ANALYZE resets them, or they
    // arrive after it and make customers look modified since (15+).
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_queries(
        root,
        &[
            (
                "orders/by_customer",
                "SELECT * FROM orders WHERE customer_id = 42",
            ),
            (
                "orders/pending",
                "SELECT count(*) FROM orders WHERE status = 'pending' AND id > 0",
            ),
            ("customers/sorted", "SELECT * FROM customers ORDER BY name"),
            ("customers/lookup", "SELECT * FROM customers WHERE id = 7"),
        ],
    );
    let (code, _, stderr) = run_in(root, &["baseline", "-d", &conninfo, "--runs", "1"]);
    assert_eq!(code, 0, "{stderr}");

    client
        .batch_execute(
            "DROP INDEX orders_customer_id_idx;
             INSERT INTO orders SELECT g, g % 5000, 'pending' FROM generate_series(200001, 400000) g;",
        )
        .await
        .unwrap();
    std::fs::write(root.join("small.toml"), "[settings]\nwork_mem = \"64kB\"\n").unwrap();
    let (code, stdout, stderr) = run_in(
        root,
        &[
            "check",
            "-d",
            &conninfo,
            "-c",
            "small.toml",
            "--runs",
            "1",
            "--format",
            "json",
            "--hypopg",
            "off",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();

    let dropped = "index-dropped:public.orders_customer_id_idx";
    let work_mem = "setting-changed:work_mem";
    let lost = causes(&report, "orders/by_customer", "index-lost");
    assert_eq!(lost.first().map(String::as_str), Some(dropped), "{lost:?}");
    assert!(!lost.contains(&work_mem.to_owned()), "{lost:?}");

    // The spill is the setting's, not the orders table's.
    let spill = causes(&report, "customers/sorted", "disk-spill");
    assert_eq!(spill, vec![work_mem.to_owned()]);

    let misestimate = causes(&report, "orders/pending", "row-misestimate");
    assert!(
        misestimate
            .first()
            .is_some_and(|c| c == "stats-stale:public.orders" || c == "table-grew:public.orders"),
        "{misestimate:?}"
    );
    assert!(
        !misestimate.contains(&dropped.to_owned()),
        "{misestimate:?}"
    );
    assert!(
        !misestimate.contains(&work_mem.to_owned()),
        "{misestimate:?}"
    );

    // A query the index and the load do not touch: nothing to blame.
    let lookup = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == "customers/lookup")
        .unwrap();
    assert!(
        lookup["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["regression"] == false),
        "{lookup}"
    );
    // Each change is listed once, with the queries whose tables it touches.
    let change = |id: &str| -> BTreeSet<String> {
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no change {id} in {}", report["changes"]))["queries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        change(dropped),
        BTreeSet::from(["orders/by_customer".to_owned(), "orders/pending".to_owned()])
    );
    let dropped_change = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == dropped)
        .unwrap();
    assert_eq!(dropped_change["kind"], "index-dropped");
    assert_eq!(dropped_change["object"], "public.orders_customer_id_idx");
    assert!(
        dropped_change["before"]
            .as_str()
            .unwrap()
            .starts_with("CREATE INDEX orders_customer_id_idx ON public.orders"),
        "{dropped_change}"
    );
    assert!(dropped_change["after"].is_null());
}

/// `diff BASELINE -d`: the baseline's query runs again now, as `check`
/// runs it, and the diff names the cause from today's environment.
#[tokio::test]
async fn diff_of_a_baseline_runs_its_query_again_now() {
    let (db, dir) = support::seeded(
        "CREATE TABLE items (id int PRIMARY KEY, kind int NOT NULL);
         INSERT INTO items SELECT g, g % 1000 FROM generate_series(1, 100000) g;
         CREATE INDEX items_kind_idx ON items (kind);",
        &[("items/by_kind", "SELECT * FROM items WHERE kind = $1")],
    )
    .await;
    let root = dir.path();
    let (code, _, stderr) = run_in(root, &["baseline", "-d", &db.conninfo, "--runs", "1"]);
    assert_eq!(code, 0, "{stderr}");
    db.client()
        .await
        .batch_execute("DROP INDEX items_kind_idx")
        .await
        .unwrap();
    let (code, stdout, stderr) = run_in(
        root,
        &[
            "diff",
            "baselines/items/by_kind.json",
            "-d",
            &db.conninfo,
            "--fail-on",
            "error",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("now"), "{stdout}");
    assert!(
        stdout.contains("because index items_kind_idx on public.items was dropped"),
        "{stdout}"
    );
    let (_, stdout, _) = run_in(
        root,
        &[
            "diff",
            "baselines/items/by_kind.json",
            "-d",
            &db.conninfo,
            "--format",
            "json",
        ],
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let q = &report["queries"][0];
    // The baseline's sampled value was bound again.
    assert_eq!(q["params"]["source"], "baseline", "{q}");
    assert_eq!(
        causes(&report, "items/by_kind", "index-lost"),
        vec!["index-dropped:public.items_kind_idx".to_owned()],
        "{} {}",
        report["changes"],
        std::fs::read_to_string(root.join("baselines/items/by_kind.json")).unwrap()
    );
    // Without NEW, OLD must be a baseline.
    std::fs::write(
        root.join("plain.json"),
        r#"[{"Plan": {"Node Type": "Result"}}]"#,
    )
    .unwrap();
    let (code, _, stderr) = run_in(root, &["diff", "plain.json", "-d", &db.conninfo]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("give NEW, or a baseline file as OLD"),
        "{stderr}"
    );
}
