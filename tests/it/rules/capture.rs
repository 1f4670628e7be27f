//! Captures the rule fixtures in fixtures/plans/rules/ from a real server.
//!
//! Ignored by `cargo test`; run it when a scenario changes, then review the
//! files and the snapshots:
//!
//! ```text
//! cargo test --test it -- --ignored capture_rule_fixtures
//! INSTA_UPDATE=always cargo test --test it rules::fixtures
//! ```
//!
//! Each scenario builds a schema in a fresh database, records a baseline of
//! its query the way `planguard baseline` does (a warm-up run, three counted
//! runs, the median run's plan, the environment), applies a change (drop an
//! index, load rows, set a setting), runs the query again and writes the
//! outcome. Tables have autovacuum off so that statistics change only when a
//! scenario says so.

use std::path::{Path, PathBuf};

use planguard::baseline::{Baseline, Environment, FORMAT_VERSION, RunFigures, Summary};
use planguard::plan::{Plan, parse_json, shape};
use planguard::rules::{median, nodes};
use planguard::runner::{self, capture_environment};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::support;

/// One captured situation and the rule cases it feeds.
struct Scenario {
    name: &'static str,
    /// Schema and data.
    setup: &'static str,
    /// The query (one statement).
    query: &'static str,
    /// Session settings for the baseline runs (after `setup`).
    before: &'static str,
    /// Record a baseline before `change`.
    baseline: bool,
    /// Run between the baseline and the current run.
    change: &'static str,
    /// Run the current query with ANALYZE (else plain EXPLAIN).
    analyze: bool,
    /// Write the environment observed after `change` as `<case>.env.json`.
    env: bool,
    /// `(rule, case)`: the folders and names to write it under.
    cases: &'static [(&'static str, &'static str)],
}

const ORDERS: &str = "
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, country text NOT NULL)
        WITH (autovacuum_enabled = off);
    INSERT INTO customers
        SELECT i, 'customer ' || i, (ARRAY['fr', 'de', 'us', 'jp'])[1 + i % 4]
        FROM generate_series(1, 2000) i;
    CREATE TABLE orders (
        id int PRIMARY KEY,
        customer_id int NOT NULL,
        status text NOT NULL,
        amount numeric(10, 2) NOT NULL,
        created_at timestamptz NOT NULL
    ) WITH (autovacuum_enabled = off);
    INSERT INTO orders
        SELECT i, 1 + (i * 7919) % 2000, (ARRAY['open', 'paid', 'shipped'])[1 + i % 3],
               (i % 1000) + 0.5, timestamptz '2024-01-01' + i * interval '1 minute'
        FROM generate_series(1, 200000) i;
    VACUUM ANALYZE customers, orders;
";

const ORDERS_INDEXED: &str =
    "CREATE INDEX orders_customer_id_idx ON orders (customer_id); ANALYZE orders;";

const BY_CUSTOMER: &str = "SELECT id, status, amount FROM orders WHERE customer_id = 42";

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "index dropped",
            setup: "INDEXED",
            query: BY_CUSTOMER,
            before: "",
            baseline: true,
            change: "DROP INDEX orders_customer_id_idx;",
            analyze: true,
            env: true,
            cases: &[
                ("index-lost", "fires_index_dropped"),
                ("cost-jump", "fires_index_dropped"),
                ("time-regression", "fires_index_dropped"),
                ("buffers-regression", "fires_index_dropped"),
                ("plan-changed", "fires_with_regression"),
                ("seq-scan", "fires_new_since_baseline"),
            ],
        },
        Scenario {
            name: "index scans disabled",
            setup: "INDEXED",
            query: BY_CUSTOMER,
            before: "",
            baseline: true,
            change: "SET enable_indexscan = off; SET enable_bitmapscan = off;",
            analyze: true,
            env: true,
            cases: &[("index-lost", "fires_setting_changed")],
        },
        Scenario {
            name: "index created",
            setup: "PLAIN",
            query: BY_CUSTOMER,
            before: "",
            baseline: true,
            change: ORDERS_INDEXED,
            analyze: true,
            env: true,
            cases: &[
                ("index-lost", "fires_index_gained"),
                ("cost-jump", "fires_cost_fell"),
                ("time-regression", "fires_time_fell"),
                ("buffers-regression", "fires_buffers_fell"),
                ("plan-changed", "fires_without_regression"),
            ],
        },
        Scenario {
            name: "nothing changed",
            setup: "INDEXED",
            query: BY_CUSTOMER,
            before: "",
            baseline: true,
            change: "",
            analyze: true,
            env: true,
            cases: &[
                ("index-lost", "clean_same_plan"),
                ("cost-jump", "clean_same_plan"),
                ("time-regression", "clean_same_plan"),
                ("buffers-regression", "clean_same_plan"),
                ("plan-changed", "clean_same_plan"),
                ("new-query", "clean_with_baseline"),
                ("query-error", "clean_ran"),
            ],
        },
        Scenario {
            name: "table grew",
            setup: "PLAIN",
            query: "SELECT status, sum(amount) FROM orders WHERE created_at >= '2024-02-01' GROUP BY status",
            before: "",
            baseline: true,
            change: "INSERT INTO orders
                        SELECT i, 1 + (i::bigint * 7919) % 2000, 'open', 10, timestamptz '2024-03-01' + i * interval '1 second'
                        FROM generate_series(200001, 500000) i;
                     VACUUM ANALYZE orders;",
            analyze: true,
            env: true,
            cases: &[
                ("cost-jump", "fires_table_grew"),
                ("buffers-regression", "fires_table_grew"),
            ],
        },
        Scenario {
            name: "small cost change",
            setup: "PLAIN",
            query: "SELECT count(*) FROM customers WHERE country = 'fr'",
            before: "",
            baseline: true,
            change: "INSERT INTO customers SELECT i, 'customer ' || i, 'fr' FROM generate_series(2001, 2200) i;
                     ANALYZE customers;",
            analyze: true,
            env: true,
            cases: &[("cost-jump", "clean_small_increase")],
        },
        Scenario {
            name: "selective seq scan",
            setup: "PLAIN",
            query: BY_CUSTOMER,
            before: "",
            baseline: false,
            change: "",
            analyze: true,
            env: false,
            cases: &[
                ("seq-scan", "fires_selective_filter"),
                ("new-query", "fires_no_baseline"),
            ],
        },
        Scenario {
            name: "selective seq scan planned only",
            setup: "PLAIN",
            query: BY_CUSTOMER,
            before: "",
            baseline: false,
            change: "",
            analyze: false,
            env: true,
            cases: &[("seq-scan", "fires_estimate_against_reltuples")],
        },
        Scenario {
            name: "planned only, environment unknown",
            setup: "PLAIN",
            query: BY_CUSTOMER,
            before: "",
            baseline: false,
            change: "",
            analyze: false,
            env: false,
            cases: &[("seq-scan", "clean_estimate_without_environment")],
        },
        Scenario {
            name: "small table",
            setup: "PLAIN",
            query: "SELECT * FROM customers WHERE id % 500 = 7",
            before: "",
            baseline: false,
            change: "",
            analyze: true,
            env: false,
            cases: &[("seq-scan", "clean_small_table")],
        },
        Scenario {
            name: "most rows kept",
            setup: "PLAIN",
            query: "SELECT count(*) FROM orders WHERE amount > 10",
            before: "",
            baseline: false,
            change: "",
            analyze: true,
            env: false,
            cases: &[("seq-scan", "clean_most_rows_returned")],
        },
        Scenario {
            name: "skewed load without analyze",
            setup: "SKEW",
            query: "SELECT k.label, count(*) FROM events e JOIN kinds k ON k.id = e.kind WHERE e.kind = 7 GROUP BY k.label",
            before: "",
            baseline: false,
            change: "INSERT INTO events SELECT i, 7, 'x' FROM generate_series(1001, 101000) i;",
            analyze: true,
            env: false,
            cases: &[("row-misestimate", "fires_skewed_load_without_analyze")],
        },
        Scenario {
            name: "skewed load analyzed",
            setup: "SKEW",
            query: "SELECT k.label, count(*) FROM events e JOIN kinds k ON k.id = e.kind WHERE e.kind = 7 GROUP BY k.label",
            before: "",
            baseline: false,
            change: "INSERT INTO events SELECT i, 7, 'x' FROM generate_series(1001, 101000) i;
                     ANALYZE events;",
            analyze: true,
            env: false,
            cases: &[("row-misestimate", "clean_fresh_statistics")],
        },
        Scenario {
            name: "limit stops early",
            setup: "PLAIN",
            query: "SELECT * FROM orders WHERE status = 'open' LIMIT 10",
            before: "",
            baseline: false,
            change: "",
            analyze: true,
            env: false,
            cases: &[("row-misestimate", "clean_limit_stops_early")],
        },
        Scenario {
            name: "external sort",
            setup: "PLAIN",
            query: "SELECT id, amount FROM orders ORDER BY amount, created_at",
            before: "",
            baseline: false,
            change: "SET work_mem = '64kB';",
            analyze: true,
            env: false,
            cases: &[("disk-spill", "fires_external_sort")],
        },
        Scenario {
            name: "hash batches",
            setup: "PLAIN",
            query: "SELECT count(*) FROM orders o JOIN orders p ON p.created_at = o.created_at",
            before: "",
            baseline: false,
            change: "SET work_mem = '256kB'; SET enable_mergejoin = off;",
            analyze: true,
            env: false,
            cases: &[("disk-spill", "fires_hash_batches")],
        },
        Scenario {
            name: "hash aggregate spill",
            setup: "PLAIN",
            query: "SELECT created_at, count(*) FROM orders GROUP BY created_at",
            before: "",
            baseline: false,
            change: "SET work_mem = '256kB'; SET enable_sort = off;",
            analyze: true,
            env: false,
            cases: &[("disk-spill", "fires_hashagg_spill")],
        },
        Scenario {
            name: "sort in memory",
            setup: "PLAIN",
            query: "SELECT id, name FROM customers ORDER BY name",
            before: "",
            baseline: true,
            change: "",
            analyze: true,
            env: false,
            cases: &[("disk-spill", "clean_sort_in_memory")],
        },
        Scenario {
            name: "sort spills since the baseline",
            setup: "PLAIN",
            query: "SELECT id, amount FROM orders ORDER BY amount, created_at",
            before: "SET work_mem = '64MB';",
            baseline: true,
            change: "SET work_mem = '64kB';",
            analyze: true,
            env: true,
            cases: &[("disk-spill", "fires_new_since_baseline")],
        },
        Scenario {
            name: "table dropped",
            setup: "PLAIN",
            query: "SELECT count(*) FROM customers WHERE country = 'fr'",
            before: "",
            baseline: false,
            change: "DROP TABLE customers CASCADE;",
            analyze: true,
            env: false,
            cases: &[("query-error", "fires_undefined_table")],
        },
        Scenario {
            name: "timeout after baseline",
            setup: "PLAIN",
            query: "SELECT count(*) FROM orders a JOIN orders b ON b.customer_id = a.customer_id",
            before: "",
            baseline: true,
            change: "SET statement_timeout = '200ms';",
            analyze: true,
            env: false,
            cases: &[("query-error", "fires_timeout_after_baseline")],
        },
    ]
}

const SKEW: &str = "
    CREATE TABLE kinds (id int PRIMARY KEY, label text NOT NULL) WITH (autovacuum_enabled = off);
    INSERT INTO kinds SELECT i, 'kind ' || i FROM generate_series(1, 100) i;
    CREATE TABLE events (id int, kind int NOT NULL, payload text) WITH (autovacuum_enabled = off);
    INSERT INTO events SELECT i, 1 + i % 100, 'x' FROM generate_series(1, 1000) i;
    VACUUM ANALYZE kinds, events;
";

fn setup_sql(name: &str) -> String {
    match name {
        "PLAIN" => ORDERS.to_owned(),
        "INDEXED" => format!("{ORDERS}{ORDERS_INDEXED}"),
        "SKEW" => SKEW.to_owned(),
        other => panic!("unknown setup {other}"),
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/plans/rules")
}

#[tokio::test]
#[ignore = "writes fixtures/plans/rules/; run by hand when a scenario changes"]
async fn capture_rule_fixtures() {
    for scenario in scenarios() {
        eprintln!("capturing: {}", scenario.name);
        capture(&scenario).await;
    }
}

async fn capture(s: &Scenario) {
    let db = support::TestDb::new().await;
    let client = db.client().await;
    run_sql(&client, &setup_sql(s.setup)).await;
    run_sql(&client, s.before).await;
    let baseline = if s.baseline {
        Some(record_baseline(&client, s.query).await)
    } else {
        None
    };
    run_sql(&client, s.change).await;
    let outcome = if s.analyze {
        // A warm-up run, as the runner does, then the one kept.
        let _ = explain(&client, s.query, true).await;
        explain(&client, s.query, true).await
    } else {
        explain(&client, s.query, false).await
    };
    let outcome = match outcome {
        Ok(plan) => plan,
        Err(e) => {
            let db_error = e.as_db_error().expect("a server error");
            let status = if db_error.code().code() == "57014" {
                "timeout"
            } else {
                "error"
            };
            json!({
                "status": status,
                "message": db_error.message(),
                "sqlstate": db_error.code().code(),
            })
        }
    };
    let env = if s.env {
        let plan = match parse_json(outcome.to_string().as_bytes()) {
            Ok(plan) => plan,
            Err(_) => parse_json(baseline.as_ref().unwrap().plan.to_string().as_bytes()).unwrap(),
        };
        Some(environment(&client, &plan).await)
    } else {
        None
    };
    for (rule, case) in s.cases {
        let dir = fixtures_dir().join(rule);
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir.join(format!("{case}.json")), &outcome);
        if let Some(b) = &baseline {
            let mut b = b.clone();
            b.query_id = format!("{rule}/{case}");
            write(&dir.join(format!("{case}.baseline.json")), &b);
        }
        if let Some(env) = &env {
            write(&dir.join(format!("{case}.env.json")), env);
        }
    }
}

/// Runs statements one at a time: a multi-statement string is one implicit
/// transaction, where VACUUM is refused.
pub async fn run_sql(client: &Client, sql: &str) {
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        client
            .batch_execute(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
    }
}

fn write(path: &Path, value: &impl serde::Serialize) {
    let mut text = serde_json::to_string_pretty(value).unwrap();
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

pub async fn explain(
    client: &Client,
    query: &str,
    analyze: bool,
) -> Result<Value, tokio_postgres::Error> {
    let options = if analyze {
        "ANALYZE, BUFFERS, SETTINGS, FORMAT JSON"
    } else {
        "SETTINGS, FORMAT JSON"
    };
    let row = client
        .query_one(&format!("EXPLAIN ({options}) {query}"), &[])
        .await?;
    Ok(row.get::<_, Value>(0))
}

/// A baseline as `planguard baseline` records it: one warm-up run, three
/// counted runs, the median run's plan.
pub async fn record_baseline(client: &Client, query: &str) -> Baseline {
    explain(client, query, true).await.unwrap();
    let mut runs = Vec::new();
    for _ in 0..3 {
        let raw = explain(client, query, true).await.unwrap();
        let plan = parse_json(raw.to_string().as_bytes()).unwrap();
        runs.push((raw, plan));
    }
    let figures: Vec<RunFigures> = runs.iter().map(|(_, p)| runner::figures(p)).collect();
    // The median run, as the runner picks it.
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| {
        let ta = figures[a].execution_ms.unwrap_or(0.0);
        let tb = figures[b].execution_ms.unwrap_or(0.0);
        ta.total_cmp(&tb).then(a.cmp(&b))
    });
    let (raw, plan) = &runs[order[1]];
    let exec: Vec<f64> = figures.iter().filter_map(|r| r.execution_ms).collect();
    let planning: Vec<f64> = figures.iter().filter_map(|r| r.planning_ms).collect();
    let blocks: Vec<f64> = figures
        .iter()
        .map(|r| (r.shared_hit + r.shared_read) as f64)
        .collect();
    let version = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int,
                    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            &[],
        )
        .await
        .unwrap();
    Baseline {
        format_version: FORMAT_VERSION,
        query_id: String::new(),
        sql_sha256: format!("{:x}", Sha256::digest(query.as_bytes())),
        server_version: version.get(0),
        server_version_num: version.get::<_, i32>(1) as u32,
        recorded_at: version.get(2),
        analyze: true,
        settings: plan.settings.clone(),
        summary: Summary {
            total_cost: plan.root.total_cost.unwrap_or(0.0),
            execution_ms_median: median(&exec),
            execution_ms_max: exec.iter().copied().reduce(f64::max),
            planning_ms_median: median(&planning),
            shared_blocks_median: median(&blocks).unwrap_or(0.0).round() as u64,
            nodes: nodes(&plan.root).len(),
            fingerprint: shape::fingerprint(plan),
        },
        runs: figures,
        environment: environment(client, plan).await,
        params: None,
        generic: None,
        stats_sha256: None,
        plan: raw.clone(),
    }
}

/// The environment the plan depended on, as the runner records it, with
/// this session's pending statistics made visible first (15+).
async fn environment(client: &Client, plan: &Plan) -> Environment {
    client
        .batch_execute("SELECT pg_stat_force_next_flush(); SELECT pg_stat_clear_snapshot();")
        .await
        .unwrap();
    capture_environment(client, plan).await.unwrap()
}
