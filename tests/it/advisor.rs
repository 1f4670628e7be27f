//! The index advisor against a real PostgreSQL 15 with HypoPG.

use planguard::advisor::candidate::{columns, ddl};
use planguard::advisor::hypo;
use planguard::advisor::parse_condition;

use crate::support::TestDb;

/// The verified cost drop is the planner's: the same hypothetical index
/// created by the test itself gives the same plan cost.
#[tokio::test]
async fn verified_cost_comes_from_the_planner() {
    let db = TestDb::new().await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE EXTENSION hypopg;
             CREATE TABLE orders AS SELECT g AS id, g % 5000 AS customer_id, g % 3 AS kind
               FROM generate_series(1, 20000) g;
             ANALYZE orders;",
        )
        .await
        .unwrap();
    assert!(hypo::available(&client).await.unwrap());
    let sql = "SELECT * FROM orders WHERE customer_id = 42";
    let cols = columns(
        &parse_condition("(customer_id = 42)"),
        &[],
        |_| Some(0.0002),
        |_| None,
    )
    .unwrap();
    let suggestion = ddl("public", "orders", &cols);
    assert_eq!(
        suggestion,
        "CREATE INDEX CONCURRENTLY ON public.orders (customer_id)"
    );
    let plain = suggestion.replace(" CONCURRENTLY", "");
    let v = hypo::verify(&client, sql, &plain).await.unwrap();
    assert!(v.used, "{v:?}");
    assert!(v.cost_after <= v.cost_before * 0.5, "{v:?}");
    eprintln!("{suggestion}: {} -> {}", v.cost_before, v.cost_after);

    // The test's own EXPLAIN with the same hypothetical index.
    assert_eq!(
        hypothetical_cost(&client, "CREATE INDEX ON public.orders (customer_id)", sql).await,
        v.cost_after
    );
    // And nothing real was created.
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

/// The planner's cost for `sql` with a hypothetical index made here,
/// outside planguard.
async fn hypothetical_cost(client: &tokio_postgres::Client, create: &str, sql: &str) -> f64 {
    let plan = hypothetical_plan(client, create, sql).await;
    plan[0]["Plan"]["Total Cost"].as_f64().unwrap()
}

/// The planner's plan (EXPLAIN JSON) for `sql` with a hypothetical index
/// made here, outside planguard.
async fn hypothetical_plan(
    client: &tokio_postgres::Client,
    create: &str,
    sql: &str,
) -> serde_json::Value {
    client
        .query("SELECT * FROM hypopg_create_index($1)", &[&create])
        .await
        .unwrap();
    let row = client
        .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &[])
        .await
        .unwrap();
    client.batch_execute("SELECT hypopg_reset()").await.unwrap();
    row.get(0)
}

/// The node types of a plan (EXPLAIN JSON), depth first.
fn node_types(node: &serde_json::Value) -> Vec<String> {
    let mut out = vec![node["Node Type"].as_str().unwrap_or_default().to_owned()];
    for child in node["Plans"].as_array().into_iter().flatten() {
        out.extend(node_types(child));
    }
    out
}

fn filter_of(node: &serde_json::Value) -> Option<String> {
    if let Some(f) = node["Filter"].as_str() {
        return Some(f.to_string());
    }
    node["Plans"].as_array()?.iter().find_map(filter_of)
}

/// One case per situation: the condition comes from the real plan's Filter,
/// the column order from pg_stats, the verdict from HypoPG.
#[tokio::test]
async fn candidates_table() {
    let db = TestDb::new().await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE EXTENSION hypopg;
             CREATE TABLE t AS SELECT g AS id, g % 5000 AS customer_id, g % 40 AS status,
                    g % 2 = 0 AS flag, now() - g * interval '1 minute' AS created_at,
                    md5(g::text) AS email
               FROM generate_series(1, 20000) g;
             ANALYZE t;",
        )
        .await
        .unwrap();
    // (where, order by, expected DDL or "" for none)
    type Case<'a> = (&'a str, &'a [(&'a str, bool)], &'a str);
    let cases: &[Case] = &[
        ("customer_id = 42", &[], "(customer_id)"),
        (
            "status = 3 AND customer_id = 42",
            &[],
            "(customer_id, status)",
        ),
        (
            "status = 3 AND created_at > now() - interval '1 hour'",
            &[],
            "(status, created_at)",
        ),
        (
            "status = 3",
            &[("created_at", true)],
            "(status, created_at DESC)",
        ),
        ("customer_id IN (1, 2, 3)", &[], "(customer_id)"),
        ("email LIKE 'abc%'", &[], "(email text_pattern_ops)"),
        ("flag", &[], ""),
        ("flag = true", &[], ""),
    ];
    let mut catalog = planguard::advisor::catalog::Cache::default();
    let relation = catalog
        .get(&client, Some("public"), "t")
        .await
        .unwrap()
        .cloned()
        .unwrap();
    for (where_, order, want) in cases {
        let mut sql = format!("SELECT * FROM t WHERE {where_}");
        if !order.is_empty() {
            let keys: Vec<String> = order
                .iter()
                .map(|(c, d)| format!("{c}{}", if *d { " DESC" } else { "" }))
                .collect();
            sql.push_str(&format!(" ORDER BY {} LIMIT 10", keys.join(", ")));
        }
        let row = client
            .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &[])
            .await
            .unwrap();
        let plan: serde_json::Value = row.get(0);
        let filter = filter_of(&plan[0]["Plan"]).unwrap_or_default();
        let uses = parse_condition(&filter);
        let order: Vec<(String, bool)> = order.iter().map(|(c, d)| (c.to_string(), *d)).collect();
        // Each column's selectivity as the advisor reads it (pg_stats).
        let cols = columns(
            &uses,
            &order,
            |c| relation.column(c)?.stats.as_ref()?.equality(),
            |_| Some("text_pattern_ops"),
        );
        match cols {
            None => assert!(want.is_empty(), "{sql}: no candidate, wanted {want}"),
            Some(cols) => {
                let suggestion = ddl("public", "t", &cols);
                assert!(
                    suggestion.ends_with(&format!("public.t {want}")) && !want.is_empty(),
                    "{sql}: {suggestion}"
                );
                let v = hypo::verify(&client, &sql, &suggestion.replace(" CONCURRENTLY", ""))
                    .await
                    .unwrap();
                assert!(
                    v.used && v.cost_after <= v.cost_before * 0.5,
                    "{sql}: {v:?}"
                );
                eprintln!(
                    "| {sql} | {suggestion} | {} | {} |",
                    v.cost_before, v.cost_after
                );
            }
        }
    }
}

/// Tables for the advisor's cases: each case is one query of the set,
/// checked alone (`--query`), so that no other query's index merges in.
const SCHEMA: &str = "
    CREATE EXTENSION hypopg;
    CREATE TABLE t (id int PRIMARY KEY, customer_id int, status int, flag bool,
                    created_at timestamptz, email text, code text COLLATE \"C\", state text);
    INSERT INTO t SELECT g, g % 5000, g % 40, g % 2 = 0, now() - g * interval '1 minute',
                         md5(g::text), md5(g::text),
                         CASE WHEN g % 100 = 0 THEN 'failed' ELSE 'done' END
        FROM generate_series(1, 20000) g;
    CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);
    INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 5000) g;
    CREATE INDEX customers_email_idx ON customers (email);
    CREATE TABLE w (id int PRIMARY KEY, account_id int, code int, kind int);
    INSERT INTO w SELECT g, g % 100, g % 1000, g % 3 FROM generate_series(1, 20000) g;
    CREATE INDEX w_account_id_idx ON w (account_id);
    CREATE TABLE events (id int, account_id int, at date) PARTITION BY RANGE (at);
    CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    INSERT INTO events SELECT g, g % 3000, date '2024-01-01' + (g % 700) FROM generate_series(1, 40000) g;";

/// (id, query, the expected columns of the one suggestion or "" for none).
const CASES: &[(&str, &str, &str)] = &[
    (
        "single_equality",
        "SELECT * FROM t WHERE customer_id = 42",
        "public.t (customer_id)",
    ),
    (
        "two_equalities",
        "SELECT * FROM t WHERE status = 3 AND customer_id = 42",
        "public.t (customer_id, status)",
    ),
    (
        "equality_and_range",
        "SELECT * FROM t WHERE created_at > now() - interval '1 hour' AND status = 3",
        // The hour keeps 60 rows of 20,000 and status a fortieth: the
        // range alone is as good to the planner, and smaller.
        "public.t (created_at)",
    ),
    (
        "order_by_limit",
        "SELECT * FROM t WHERE status = 3 ORDER BY created_at DESC LIMIT 10",
        "public.t (status, created_at DESC)",
    ),
    (
        "in_list",
        "SELECT * FROM t WHERE customer_id IN (1, 2, 3)",
        "public.t (customer_id)",
    ),
    (
        "like_prefix_c_collation",
        "SELECT * FROM t WHERE code LIKE 'abc%'",
        "public.t (code)",
    ),
    (
        "join_inner_key",
        "SELECT * FROM customers c JOIN t ON t.customer_id = c.id WHERE c.email = 'c42'",
        "public.t (customer_id)",
    ),
    (
        "widens_existing",
        // A hundred calls: one saves less than half a read of w.
        "-- captured: pg_stat_statements, calls = 100, mean = 0.10 ms, total = 10.00 ms
SELECT * FROM w WHERE code = 7 AND account_id = 7",
        "public.w (account_id, code)",
    ),
    (
        "already_covered",
        "SELECT * FROM w WHERE account_id = 5 AND kind = 1",
        "",
    ),
    ("low_selectivity", "SELECT * FROM t WHERE flag = true", ""),
    (
        "low_selectivity_common_value",
        "SELECT * FROM t WHERE state = 'done'",
        "",
    ),
    (
        "rare_value",
        "SELECT * FROM t WHERE state = 'failed'",
        "public.t (state)",
    ),
    (
        "partitioned",
        "SELECT * FROM events WHERE account_id = 7",
        "public.events (account_id)",
    ),
];

fn missing_index(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| q["findings"].as_array().unwrap())
        .filter(|f| f["rule"] == "missing-index")
        .collect()
}

/// Runs a suggestion's `ddl` for real, analyzes `table`, and asserts the
/// planner then uses `index` for `sql`.
async fn built_and_used(db: &TestDb, ddl: &str, table: &str, sql: &str, index: &str) {
    let client = db.client().await;
    client.batch_execute(ddl).await.unwrap();
    client
        .batch_execute(&format!("ANALYZE {table}"))
        .await
        .unwrap();
    let plan = client
        .query(&format!("EXPLAIN {sql}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains(index), "{ddl}\n{plan}");
}

/// Builds a suggestion (its evidence `e`) for real and returns its
/// estimated size over the size of the built index `name`.
async fn built_size_ratio(
    client: &tokio_postgres::Client,
    e: &serde_json::Value,
    name: &str,
) -> f64 {
    let estimate = e["size_bytes"].as_u64().unwrap() as f64;
    client
        .batch_execute(e["ddl"].as_str().unwrap())
        .await
        .unwrap();
    let built: i64 = client
        .query_one("SELECT pg_relation_size($1::text::regclass)", &[&name])
        .await
        .unwrap()
        .get(0);
    estimate / built as f64
}

fn redundant_index(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| q["findings"].as_array().unwrap())
        .filter(|f| f["rule"] == "redundant-index")
        .collect()
}

fn check(dir: &std::path::Path, db: &TestDb, extra: &[&str]) -> (i32, serde_json::Value, String) {
    check_as(dir, &db.conninfo, extra)
}

/// [`check`] with a conninfo of its own (another role).
fn check_as(
    dir: &std::path::Path,
    conninfo: &str,
    extra: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut args = vec!["check", "-d", conninfo, "--format", "json", "--runs", "1"];
    args.extend_from_slice(extra);
    let (code, out, err) = crate::support::run_in(dir, &args);
    let report = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, report, err)
}

/// One case per situation, through `planguard check`: the columns, the
/// DDL, and a cost drop the planner confirms for the same hypothetical
/// index. The LIKE case on a column in the database's own collation wants
/// `text_pattern_ops` unless that collation is C.
#[tokio::test]
async fn check_suggests_verified_indexes_case_by_case() {
    let queries: Vec<(&str, &str)> = CASES.iter().map(|(id, sql, _)| (*id, *sql)).collect();
    let (db, dir) = crate::support::seeded(SCHEMA, &queries).await;
    let client = db.client().await;
    let c_locale: bool = client
        .query_one(
            "SELECT datcollate IN ('C', 'POSIX') FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let like_default = (
        "like_prefix",
        "SELECT * FROM t WHERE email LIKE 'abc%'",
        if c_locale {
            "public.t (email)"
        } else {
            "public.t (email text_pattern_ops)"
        },
    );
    // ORDER BY in mixed directions: only an index in the same mixed
    // directions (or all reversed) gives the order; an all-ascending one
    // leaves a Sort (checked below with HypoPG).
    let mut extra = vec![
        like_default,
        (
            "order_by_mixed",
            "SELECT * FROM t WHERE status = 3 ORDER BY customer_id, created_at DESC LIMIT 10",
            "public.t (status, customer_id, created_at DESC)",
        ),
    ];
    // A column in a collation other than C needs text_pattern_ops, whatever
    // the database's own collation (the test cluster's is C). The ICU root
    // collation `und-x-icu` exists wherever PostgreSQL is built with ICU
    // (Debian's is); `en-x-icu` where ICU knows English.
    for collation in ["und-x-icu", "en-x-icu"] {
        let present: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = $1)",
                &[&collation],
            )
            .await
            .unwrap()
            .get(0);
        if !present {
            // CI's server has ICU: a missing collation there is a failure,
            // not a case quietly left out.
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "no {collation} collation on the test server: the text_pattern_ops case cannot run"
            );
            eprintln!("no {collation} collation: its text_pattern_ops case is not run");
            continue;
        }
        let column = format!("name_{}", collation.replace('-', "_"));
        client
            .batch_execute(&format!(
                "ALTER TABLE t ADD COLUMN {column} text COLLATE \"{collation}\";
                 UPDATE t SET {column} = md5(id::text || 'n');"
            ))
            .await
            .unwrap();
        client.batch_execute("VACUUM ANALYZE t").await.unwrap();
        let (id, sql, want) = if collation == "en-x-icu" {
            (
                "like_prefix_icu",
                "SELECT * FROM t WHERE name_en_x_icu LIKE 'abc%'",
                "public.t (name_en_x_icu text_pattern_ops)",
            )
        } else {
            (
                "like_prefix_und_icu",
                "SELECT * FROM t WHERE name_und_x_icu LIKE 'abc%'",
                "public.t (name_und_x_icu text_pattern_ops)",
            )
        };
        extra.push((id, sql, want));
    }
    let extra_queries: Vec<(&str, &str)> = extra.iter().map(|(id, sql, _)| (*id, *sql)).collect();
    crate::support::write_queries(dir.path(), &extra_queries);
    let mut table = Vec::new();
    for (id, sql, want) in CASES.iter().chain(extra.iter()) {
        let (_, report, err) = check(dir.path(), &db, &["--query", id]);
        let found = missing_index(&report);
        if want.is_empty() {
            assert!(found.is_empty(), "{id}: {found:#?}\n{err}");
            table.push(format!("| {id} | {sql} | (none) | | |"));
            continue;
        }
        assert_eq!(found.len(), 1, "{id}: {found:#?}\n{err}");
        let f = found[0];
        let e = &f["evidence"];
        let columns: Vec<&str> = e["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(
            format!(
                "{} ({})",
                e["relation"].as_str().unwrap(),
                columns.join(", ")
            ),
            *want,
            "{id}: {f:#}"
        );
        assert_eq!(e["verified"], true, "{id}: {f:#}");
        let (before, after) = (
            e["cost_before"].as_f64().unwrap(),
            e["cost_after"].as_f64().unwrap(),
        );
        assert!(after <= before * 0.5, "{id}: {before} -> {after}");
        let ddl = f["suggestion"].as_str().unwrap();
        assert!(ddl.starts_with(e["ddl"].as_str().unwrap()), "{id}: {ddl}");
        let alternative = match e["alternative"]["ddl"].as_str() {
            Some(alt) => format!(" (alternative `{alt}`: {})", e["alternative"]["cost_after"]),
            None => String::new(),
        };
        table.push(format!(
            "| {id} | {sql} | `{}`{alternative} | {before} | {after} |",
            e["ddl"].as_str().unwrap().replace('\n', " ")
        ));
        match *id {
            "order_by_limit" => {
                // The Sort is gone from the hypothetical plan: the Limit
                // reads the index in order.
                let plan_after = e["plan_after"].as_str().unwrap();
                assert!(
                    plan_after.starts_with("Limit -> Index Scan using ")
                        && !plan_after.contains("Sort"),
                    "{plan_after}"
                );
            }
            "order_by_mixed" => {
                let plan_after = e["plan_after"].as_str().unwrap();
                assert!(
                    plan_after.starts_with("Limit -> Index Scan using ")
                        && !plan_after.contains("Sort"),
                    "{plan_after}"
                );
                // The same columns all ascending: the index is read, but
                // a Sort (or Incremental Sort) is still needed.
                let ascending = hypothetical_plan(
                    &client,
                    "CREATE INDEX ON t (status, customer_id, created_at)",
                    sql,
                )
                .await;
                assert!(
                    node_types(&ascending[0]["Plan"])
                        .iter()
                        .any(|n| n.ends_with("Sort")),
                    "{ascending:#}"
                );
                let mixed = hypothetical_plan(
                    &client,
                    "CREATE INDEX ON t (status, customer_id, created_at DESC)",
                    sql,
                )
                .await;
                let types = node_types(&mixed[0]["Plan"]);
                assert!(!types.iter().any(|n| n.ends_with("Sort")), "{mixed:#}");
            }
            "rare_value" => {
                // The column keeps 99% of the rows for its common value,
                // but a partial index `(state) WHERE state = 'failed'`
                // would have every key equal: no alternative (issue 21;
                // the partial index keyed on other columns is in
                // no_partial_index_on_its_own_key_or_on_a_value_without_rows).
                assert!(e["alternative"].is_null(), "{f:#}");
                assert!(!ddl.contains("Alternatively"), "{ddl}");
            }
            "widens_existing" => {
                assert_eq!(e["widens"], "w_account_id_idx", "{f:#}");
                assert!(ddl.contains("it extends w_account_id_idx"), "{ddl}");
            }
            "partitioned" => {
                let ddl = e["ddl"].as_str().unwrap();
                // PostgreSQL cannot build an index on a partitioned table
                // concurrently: the parent alone, each partition, attach.
                assert!(
                    ddl.starts_with(
                        "CREATE INDEX IF NOT EXISTS events_account_id_idx ON ONLY public.events (account_id);\n"
                    ),
                    "{ddl}"
                );
                for part in ["events_2024", "events_2025"] {
                    assert!(
                        ddl.contains(&format!(
                            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {part}_account_id_idx ON public.{part} (account_id)"
                        )),
                        "{ddl}"
                    );
                    assert!(
                        ddl.contains(&format!(
                            "ALTER INDEX public.events_account_id_idx ATTACH PARTITION public.{part}_account_id_idx"
                        )),
                        "{ddl}"
                    );
                }
            }
            "single_equality" => {
                // The planner's own cost for the same hypothetical index.
                assert_eq!(
                    hypothetical_cost(&client, "CREATE INDEX ON t (customer_id)", sql).await,
                    after
                );
            }
            _ => {}
        }
    }
    eprintln!("{}", table.join("\n"));
    // Nothing real was created.
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5, "only the schema's own indexes");
}

/// The whole set at once: indexes merged across queries, ranked by the cost
/// they save times the calls a capture recorded, printed once each by
/// `--format sql`; the script runs as it is, and afterwards the advisor has
/// nothing left to suggest.
#[tokio::test]
async fn the_sql_script_merges_ranks_and_applies() {
    let mut queries: Vec<(&str, String)> = CASES
        .iter()
        .map(|(id, sql, _)| (*id, sql.to_string()))
        .collect();
    // The partitioned table's query ran a million times: its index saves
    // the most.
    for (id, sql) in &mut queries {
        if *id == "partitioned" {
            *sql = format!(
                "-- captured: pg_stat_statements, calls = 1000000, mean = 1.00 ms, total = 1000000.00 ms\n{sql}"
            );
        }
    }
    let queries: Vec<(&str, &str)> = queries.iter().map(|(id, s)| (*id, s.as_str())).collect();
    let (db, dir) = crate::support::seeded(SCHEMA, &queries).await;
    let (_, report, err) = check(dir.path(), &db, &["--format", "sql:indexes.sql"]);
    let found = missing_index(&report);
    let script = std::fs::read_to_string(dir.path().join("indexes.sql")).unwrap();
    eprintln!("{script}");

    // One index on t (customer_id) serves the four queries that need
    // customer_id first: four rows a customer, so the second equality of
    // two_equalities would not save half a read of t more.
    let t_customer: Vec<&&serde_json::Value> = found
        .iter()
        .filter(|f| {
            f["evidence"]["ddl"]
                == "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_customer_id_idx ON public.t (customer_id)"
        })
        .collect();
    let mut served: Vec<&str> = t_customer[0]["evidence"]["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_str().unwrap())
        .collect();
    served.sort_unstable();
    assert_eq!(
        served,
        [
            "in_list",
            "join_inner_key",
            "single_equality",
            "two_equalities"
        ],
        "{err}"
    );
    assert_eq!(t_customer.len(), 4);
    assert!(
        !script.contains("ON public.t (customer_id, status);"),
        "{script}"
    );

    // Ranked: the million calls put the partitioned table's index first.
    let ddls: Vec<&str> = script
        .lines()
        .filter(|l| !l.starts_with("--") && !l.is_empty())
        .collect();
    assert!(
        ddls[0]
            .starts_with("CREATE INDEX IF NOT EXISTS events_account_id_idx ON ONLY public.events"),
        "{script}"
    );
    assert!(
        script.contains("-- 1. public.events (account_id)\n"),
        "{script}"
    );
    // The script's indexes are numbered 1..n in rank order, the findings'
    // ranks are those numbers, and savings do not grow down the list.
    let numbered: Vec<u64> = script
        .lines()
        .filter_map(|l| l.strip_prefix("-- ")?.split_once(". ")?.0.parse().ok())
        .collect();
    assert_eq!(numbered, (1..=numbered.len() as u64).collect::<Vec<_>>());
    let mut by_rank: std::collections::BTreeMap<u64, f64> = Default::default();
    for f in &found {
        let e = &f["evidence"];
        by_rank.insert(e["rank"].as_u64().unwrap(), e["saving"].as_f64().unwrap());
    }
    assert_eq!(by_rank.keys().copied().collect::<Vec<_>>(), numbered);
    let savings: Vec<f64> = by_rank.values().copied().collect();
    assert!(savings.windows(2).all(|w| w[0] >= w[1]), "{savings:?}");
    // Each index once in the script, whatever the number of queries.
    for f in &found {
        let ddl = f["evidence"]["ddl"].as_str().unwrap();
        assert_eq!(script.matches(&format!("{ddl};")).count(), 1, "{ddl}");
    }

    // The script runs statement by statement (CONCURRENTLY outside a
    // transaction block), and then nothing is missing any more. Run twice
    // (issue 21), it creates each index once: every one is named and
    // created IF NOT EXISTS.
    let client = db.client().await;
    let sql: String = script
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for _ in 0..2 {
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            client
                .batch_execute(statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
    }
    let duplicates: Vec<String> = client
        .query(
            "SELECT string_agg(indexrelid::regclass::text, ', ' ORDER BY indexrelid::regclass::text)
               FROM pg_index
              GROUP BY indrelid, indkey, indclass, indoption, pg_get_expr(indpred, indrelid)
             HAVING count(*) > 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(duplicates, Vec::<String>::new(), "{script}");
    // Each index has the name in the script.
    for f in &found {
        let ddl = f["evidence"]["ddl"].as_str().unwrap();
        let name = ddl
            .split_once("IF NOT EXISTS ")
            .and_then(|(_, rest)| rest.split_once(' '))
            .map(|(name, _)| name)
            .unwrap();
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
            .await
            .unwrap()
            .get(0);
        assert!(exists, "{name}: {ddl}");
    }
    client.batch_execute("ANALYZE").await.unwrap();
    let (_, report, err) = check(dir.path(), &db, &[]);
    assert_eq!(
        missing_index(&report),
        Vec::<&serde_json::Value>::new(),
        "{err}"
    );
    let seq_scans: Vec<String> = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| {
            q["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["rule"] == "seq-scan")
                .map(move |f| format!("{}: {}", q["id"], f["message"]))
        })
        .collect();
    assert_eq!(seq_scans, Vec::<String>::new());
}

/// The advisor names an index as PostgreSQL names `CREATE INDEX ON`, long
/// names cut the same way.
#[tokio::test]
async fn index_names_are_the_ones_postgres_chooses() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let table = format!("orders_{}", "x".repeat(40));
    let columns = [format!("customer_{}", "y".repeat(30)), "status".to_owned()];
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} ({} int, status int);
             CREATE INDEX ON {table} ({0}, status);
             CREATE INDEX ON {table} ({0}, status);",
            columns[0]
        ))
        .await
        .unwrap();
    let names: Vec<String> = client
        .query(
            "SELECT indexrelid::regclass::text FROM pg_index ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .filter(|n: &String| n.starts_with("orders_"))
        .collect();
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    let mut ours =
        [0, 1].map(|pass| planguard::advisor::candidate::index_name(&table, &columns, pass));
    ours.sort();
    assert_eq!(names, ours);
}

/// Without HypoPG a suggestion is marked unverified with one line on how
/// to verify; `--hypopg create` adds the extension, says so, and verifies.
#[tokio::test]
async fn without_hypopg_suggestions_are_unverified_until_it_is_created() {
    let schema = SCHEMA.replace("CREATE EXTENSION hypopg;", "");
    let (db, dir) = crate::support::seeded(&schema, &[("single_equality", CASES[0].1)]).await;
    let (_, report, err) = check(dir.path(), &db, &[]);
    let found = missing_index(&report);
    assert_eq!(found.len(), 1, "{err}");
    let e = &found[0]["evidence"];
    assert_eq!(e["verified"], false);
    assert!(e["cost_after"].is_null());
    let why = e["unverified_because"].as_str().unwrap();
    assert!(
        why.contains("not installed") && why.contains("--hypopg create"),
        "{why}"
    );
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("(unverified: ")
    );
    assert_eq!(
        e["ddl"],
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_customer_id_idx ON public.t (customer_id)"
    );

    let (_, report, _) = check(dir.path(), &db, &["--hypopg", "off"]);
    let why = missing_index(&report)[0]["evidence"]["unverified_because"].clone();
    assert_eq!(why, "verification is off (--hypopg off)");

    let (_, report, err) = check(dir.path(), &db, &["--hypopg", "create"]);
    assert!(
        err.contains("note: created the hypopg extension in database "),
        "{err}"
    );
    let found = missing_index(&report);
    assert_eq!(found[0]["evidence"]["verified"], true, "{err}");
    // Only once: the extension is there now.
    let (_, _, err) = check(dir.path(), &db, &["--hypopg", "create"]);
    assert!(!err.contains("created the hypopg extension"), "{err}");
}

/// `--confirm` builds the best index for real in a transaction, measures
/// the query before and after, and rolls back; a lock held by another
/// session makes it give up at lock_timeout, and the check goes on.
#[tokio::test]
async fn confirm_builds_in_a_rolled_back_transaction() {
    let (db, dir) = crate::support::seeded(SCHEMA, &[("single_equality", CASES[0].1)]).await;
    let client = db.client().await;
    let indexes = async || -> i64 {
        client
            .query_one("SELECT count(*) FROM pg_indexes WHERE tablename = 't'", &[])
            .await
            .unwrap()
            .get(0)
    };
    let before = indexes().await;
    let (_, report, err) = check(dir.path(), &db, &["--confirm"]);
    let found = missing_index(&report);
    assert_eq!(found.len(), 1, "{err}");
    let c = &found[0]["evidence"]["confirmed"];
    assert_eq!(c["query"], "single_equality", "{c:#}");
    assert_eq!(c["used"], true, "{c:#}");
    assert!(c["build_ms"].as_f64().unwrap() > 0.0, "{c:#}");
    let (b, a) = (
        c["buffers_before"].as_u64().unwrap(),
        c["buffers_after"].as_u64().unwrap(),
    );
    assert!(a * 10 < b, "buffers {b} -> {a}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("built for real and rolled back (--confirm)")
    );
    assert_eq!(indexes().await, before, "the build was rolled back");

    // Another session holds a lock that the build waits for.
    std::fs::write(
        dir.path().join("planguard.toml"),
        "[run]\nlock_timeout = \"300ms\"\n",
    )
    .unwrap();
    let holder = db.client().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE t IN ROW EXCLUSIVE MODE")
        .await
        .unwrap();
    let (code, report, err) = check(dir.path(), &db, &["--confirm", "--fail-on", "never"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("--confirm: building public.t failed:") && err.contains("lock timeout"),
        "{err}"
    );
    let found = missing_index(&report);
    assert!(found[0]["evidence"]["confirmed"].is_null());
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(indexes().await, before);
}

/// docs/SECURITY.md: HypoPG's functions work for every role, and
/// `--confirm` needs ownership of the table. An ordinary role (no
/// superuser, SELECT on the table, not its owner) gets verified
/// suggestions; its `--confirm` fails in one line that says why, and
/// leaves no index behind.
#[tokio::test]
async fn an_ordinary_role_verifies_with_hypopg_but_cannot_confirm_on_a_table_it_does_not_own() {
    let (db, dir) = crate::support::seeded(SCHEMA, &[("single_equality", CASES[0].1)]).await;
    let client = db.client().await;
    // Role names are cluster-wide: one per test database.
    let dbname = db
        .conninfo
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("dbname="))
        .unwrap();
    let role = format!("analyst_{dbname}");
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
             GRANT SELECT ON t TO {role};"
        ))
        .await
        .unwrap();
    let analyst = format!("{} user={role}", db.conninfo);
    let objects = async || -> (i64, i64) {
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace),
                        (SELECT count(*) FROM pg_indexes WHERE tablename = 't')",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    let before = objects().await;

    let (code, report, err) = check_as(dir.path(), &analyst, &["--fail-on", "never"]);
    assert_eq!(code, 0, "{err}");
    let found = missing_index(&report);
    assert_eq!(found.len(), 1, "{err}");
    assert_eq!(found[0]["evidence"]["verified"], true, "{:#}", found[0]);

    let (code, report, err) = check_as(dir.path(), &analyst, &["--confirm", "--fail-on", "never"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("--confirm")).collect();
    assert_eq!(
        lines,
        [format!(
            "note: --confirm: building public.t failed: --confirm needs ownership of the table, and role {role} does not own it"
        )],
        "{err}"
    );
    let found = missing_index(&report);
    assert_eq!(found[0]["evidence"]["verified"], true, "{:#}", found[0]);
    assert!(
        found[0]["evidence"]["confirmed"].is_null(),
        "{:#}",
        found[0]
    );
    assert_eq!(objects().await, before, "nothing left behind");
}

/// Tables for the defects of issue 21, each a situation where the advisor
/// used to suggest something absurd or nothing at all.
const DEFECTS_SCHEMA: &str = "
    CREATE EXTENSION hypopg;
    -- The same 4-value data in char(10) and varchar(10), and a 500-value key.
    CREATE TABLE customer (c_custkey int PRIMARY KEY, c_mktsegment char(10),
                           c_segment varchar(10), c_nationkey int);
    INSERT INTO customer
        SELECT g, s, s, g % 500
          FROM (SELECT g, (ARRAY['BUILDING', 'AUTOMOBILE', 'MACHINERY', 'HOUSEHOLD'])[g % 4 + 1] AS s
                  FROM generate_series(1, 40000) g) x;
    CREATE SCHEMA \"Bar\";
    CREATE TABLE \"Bar\".\"Foo\" (\"Id\" int, \"Note\" text);
    INSERT INTO \"Bar\".\"Foo\" SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
    -- part_pkey identifies one row; a few keys to join.
    CREATE TABLE part (p_partkey int PRIMARY KEY, p_size int, p_name text);
    INSERT INTO part SELECT g, g % 50, md5(g::text) FROM generate_series(1, 100000) g;
    CREATE TABLE picks (k int);
    INSERT INTO picks SELECT g * 7 FROM generate_series(1, 50) g;
    -- state: 'done' 99%, 'failed' 1%, nothing else.
    CREATE TABLE jobs (id int PRIMARY KEY, customer_id int, state text, created_at timestamptz);
    INSERT INTO jobs SELECT g, g % 5000, CASE WHEN g % 100 = 0 THEN 'failed' ELSE 'done' END,
                            now() - g * interval '1 minute'
        FROM generate_series(1, 20000) g;
    -- a and b: one value each for 15% of the rows, else about 1,000 values.
    CREATE TABLE pairs (id int PRIMARY KEY, a int, b int);
    INSERT INTO pairs SELECT g, CASE WHEN g % 20 < 3 THEN 0 ELSE g % 1000 + 1 END,
                                CASE WHEN g % 20 IN (5, 6, 7) THEN 0 ELSE g % 997 + 1 END
        FROM generate_series(1, 60000) g;
    -- vip: a bare boolean flag, true for 1%; country: 60% 'US', else 20 values.
    CREATE TABLE members (id int PRIMARY KEY, vip boolean NOT NULL, country text);
    INSERT INTO members SELECT g, g % 100 = 0,
                               CASE WHEN g % 5 < 3 THEN 'US' ELSE 'C' || (g % 20) END
        FROM generate_series(1, 50000) g;";

/// The missing-index suggestions of a check of `id` alone, as
/// `relation (columns)`, each with its partial alternative when it has one
/// (` | alternative DDL`).
fn suggested(dir: &std::path::Path, db: &TestDb, ids: &[&str], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<&str> = ids.iter().flat_map(|id| ["--query", id]).collect();
    args.extend_from_slice(extra);
    let (_, report, err) = check(dir, db, &args);
    let mut out: Vec<String> = missing_index(&report)
        .iter()
        .map(|f| {
            let e = &f["evidence"];
            let columns: Vec<&str> = e["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            let mut s = format!(
                "{} ({})",
                e["relation"].as_str().unwrap(),
                columns.join(", ")
            );
            if let Some(predicate) = e["predicate"].as_str() {
                s.push_str(&format!(" WHERE {predicate}"));
            }
            if let Some(alt) = e["alternative"]["ddl"].as_str() {
                s.push_str(&format!(" | {alt}"));
            }
            s
        })
        .collect();
    out.sort();
    out.dedup();
    eprintln!("{ids:?} {extra:?}: {out:?}\n{err}");
    out
}

/// Regression (issue 21): a char(n) column's pg_stats values are padded
/// (`BUILDING  `), so the plan's `(c_mktsegment = 'BUILDING'::bpchar)`
/// missed its frequency: the 4-value column counted as rare and went
/// first, with a partial index on its own value as an alternative. It
/// must be left out exactly as its varchar twin is.
#[tokio::test]
async fn char_n_columns_follow_the_low_selectivity_rule_like_varchar() {
    let queries = [
        (
            "bpchar",
            "SELECT * FROM customer WHERE c_mktsegment = 'BUILDING' AND c_nationkey = 7",
        ),
        (
            "varchar",
            "SELECT * FROM customer WHERE c_segment = 'BUILDING' AND c_nationkey = 7",
        ),
        (
            "bpchar_alone",
            "SELECT * FROM customer WHERE c_mktsegment = 'BUILDING'",
        ),
    ];
    let (db, dir) = crate::support::seeded(DEFECTS_SCHEMA, &queries).await;
    for mode in [&["--hypopg", "off"][..], &[]] {
        for id in ["bpchar", "varchar"] {
            assert_eq!(
                suggested(dir.path(), &db, &[id], mode),
                ["public.customer (c_nationkey)"],
                "{id} {mode:?}"
            );
        }
        assert_eq!(
            suggested(dir.path(), &db, &["bpchar_alone"], mode),
            Vec::<String>::new(),
            "{mode:?}"
        );
    }
}

/// Regression (issue 21): without VERBOSE the plan names the relation
/// `Foo` without its schema, and the lookup through search_path found
/// nothing: a quoted, mixed-case, schema-qualified table got no
/// suggestion at all.
#[tokio::test]
async fn quoted_mixed_case_schema_qualified_names_get_a_suggestion() {
    let queries = [(
        "quoted",
        "SELECT * FROM \"Bar\".\"Foo\" WHERE \"Id\" = 10000",
    )];
    let (db, dir) = crate::support::seeded(DEFECTS_SCHEMA, &queries).await;
    let (_, report, err) = check(dir.path(), &db, &[]);
    let found = missing_index(&report);
    assert_eq!(found.len(), 1, "{err}");
    let e = &found[0]["evidence"];
    assert_eq!(e["verified"], true, "{e:#}");
    assert_eq!(
        e["ddl"],
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"Foo_Id_idx\" ON \"Bar\".\"Foo\" (\"Id\")",
        "{e:#}"
    );
}

/// Regression (issue 21): the join key p_partkey is part's primary key, so
/// a nested loop finds one row per key through part_pkey already; the
/// advisor used to suggest `part (p_partkey, p_size)`, extending it.
#[tokio::test]
async fn a_unique_index_that_identifies_the_row_is_never_extended() {
    let queries = [(
        "join_on_primary_key",
        "SELECT * FROM picks JOIN part ON p_partkey = picks.k WHERE p_size = 15",
    )];
    let (db, dir) = crate::support::seeded(DEFECTS_SCHEMA, &queries).await;
    // A hash join, so that part is read by a Seq Scan with the join key
    // above it (the plan a large outer side gives).
    let client = db.client().await;
    let dbname: String = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .unwrap()
        .get(0);
    client
        .batch_execute(&format!(
            "ALTER DATABASE {dbname} SET enable_nestloop = off;
             ALTER DATABASE {dbname} SET enable_mergejoin = off;"
        ))
        .await
        .unwrap();
    for mode in [&["--hypopg", "off"][..], &[]] {
        assert_eq!(
            suggested(dir.path(), &db, &["join_on_primary_key"], mode),
            Vec::<String>::new(),
            "{mode:?}"
        );
    }
}

/// Regression (issue 21): a partial index whose WHERE fixes its only key
/// column (all its keys equal), or selects a value no row has, was offered
/// as the smaller alternative. Nor is one offered for a value bound to a
/// parameter, which is only the value of this run.
#[tokio::test]
async fn no_partial_index_on_its_own_key_or_on_a_value_without_rows() {
    let queries = [
        ("failed", "SELECT * FROM jobs WHERE state = 'failed'"),
        (
            "failed_of_customer",
            "SELECT * FROM jobs WHERE state = 'failed' AND customer_id = 42",
        ),
        (
            "lost_of_customer",
            "SELECT * FROM jobs WHERE state = 'lost' AND customer_id = 42",
        ),
        (
            "failed_bound",
            "-- planguard: params = [\"failed\"]\nSELECT * FROM jobs WHERE state = $1 AND customer_id = 42",
        ),
    ];
    let (db, dir) = crate::support::seeded(DEFECTS_SCHEMA, &queries).await;
    for mode in [&["--hypopg", "off"][..], &[]] {
        assert_eq!(
            suggested(dir.path(), &db, &["failed"], mode),
            ["public.jobs (state)"],
            "{mode:?}"
        );
        // A rare value with rows: the partial index keyed on the rest,
        // offered beside the plain one; with HypoPG, chosen for its size.
        let expected = if mode.is_empty() {
            "public.jobs (customer_id) WHERE state = 'failed'"
        } else {
            "public.jobs (customer_id, state) | CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_customer_id_idx ON public.jobs (customer_id) WHERE state = 'failed'"
        };
        assert_eq!(
            suggested(dir.path(), &db, &["failed_of_customer"], mode),
            [expected],
            "{mode:?}"
        );
        // The same value bound to a parameter is only this run's value:
        // no partial index for it.
        assert_eq!(
            suggested(dir.path(), &db, &["failed_bound"], mode),
            ["public.jobs (customer_id, state)"],
            "{mode:?}"
        );
        let lost = suggested(dir.path(), &db, &["lost_of_customer"], mode);
        assert!(
            lost.len() == 1 && !lost[0].contains(" | "),
            "{mode:?}: {lost:?}"
        );
    }
}

/// A boolean flag alone in the condition (`WHERE vip AND country = 'FR'`,
/// which the plan prints without `= true`) is an equality on a rare value:
/// the partial index `(country) WHERE vip` (1% of the rows) is offered
/// beside the plain one, and with HypoPG it is the one chosen, since it
/// serves the query as well at a fraction of the size. Its DDL is named,
/// runs, and the planner then uses it.
#[tokio::test]
async fn a_rare_boolean_flag_gets_a_partial_index() {
    let queries = [
        (
            "vip_in_country",
            "SELECT id FROM members WHERE vip AND country = 'C4'",
        ),
        (
            "regular_in_country",
            "SELECT id FROM members WHERE NOT vip AND country = 'C4'",
        ),
    ];
    let (db, dir) = crate::support::seeded(DEFECTS_SCHEMA, &queries).await;
    assert_eq!(
        suggested(dir.path(), &db, &["vip_in_country"], &["--hypopg", "off"]),
        [
            "public.members (vip, country) | CREATE INDEX CONCURRENTLY IF NOT EXISTS members_country_idx ON public.members (country) WHERE vip"
        ]
    );
    assert_eq!(
        suggested(dir.path(), &db, &["vip_in_country"], &[]),
        ["public.members (country) WHERE vip"]
    );
    // The common value: no partial index (it would hold 99% of the rows).
    let regular = suggested(dir.path(), &db, &["regular_in_country"], &[]);
    assert!(regular.iter().all(|s| !s.contains("WHERE")), "{regular:?}");
    // The chosen DDL, as the report gives it, builds an index the planner
    // uses for the query.
    let (_, report, _) = check(dir.path(), &db, &["--query", "vip_in_country"]);
    let found = missing_index(&report);
    let e = &found[0]["evidence"];
    assert_eq!(e["predicate"], "vip", "{e:#}");
    let ddl = e["ddl"].as_str().unwrap();
    assert_eq!(
        ddl,
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS members_country_idx ON public.members (country) WHERE vip"
    );
    // The SQL script names it with its WHERE clause and carries the DDL.
    let (_, script, err) = crate::support::run_in(
        dir.path(),
        &[
            "check",
            "-d",
            &db.conninfo,
            "--query",
            "vip_in_country",
            "--runs",
            "1",
            "--format",
            "sql",
        ],
    );
    assert!(
        script.contains("-- 1. public.members (country) WHERE vip\n")
            && script.contains(&format!("{ddl};")),
        "{script}\n{err}"
    );
    built_and_used(
        &db,
        ddl,
        "members",
        "SELECT id FROM members WHERE vip AND country = 'C4'",
        "members_country_idx",
    )
    .await;
}

/// Regression (issue 21): two queries with equalities on the same two
/// columns, each value rarer in a different column, got the same index in
/// both orders; one index serves both.
#[tokio::test]
async fn the_same_columns_are_never_suggested_in_two_orders() {
    let queries = [
        ("a_common", "SELECT * FROM pairs WHERE a = 0 AND b = 7"),
        ("b_common", "SELECT * FROM pairs WHERE a = 7 AND b = 0"),
    ];
    let (db, dir) = crate::support::seeded(DEFECTS_SCHEMA, &queries).await;
    for mode in [&["--hypopg", "off"][..], &[]] {
        let found = suggested(dir.path(), &db, &["a_common", "b_common"], mode);
        assert_eq!(found.len(), 1, "{mode:?}: {found:?}");
        assert!(
            ["public.pairs (a, b)", "public.pairs (b, a)"].contains(&found[0].as_str()),
            "{mode:?}: {found:?}"
        );
    }
}

/// Regression (issue 21): a range that keeps most of the table (here about
/// 93% of it) earned an index, unverified; an equality in the same query
/// that keeps few rows still does.
#[tokio::test]
async fn a_predicate_keeping_most_rows_is_never_credited() {
    let queries = [
        (
            "most_rows",
            "SELECT * FROM jobs WHERE created_at > now() - interval '13 days'",
        ),
        (
            "few_rows",
            "SELECT * FROM jobs WHERE created_at > now() - interval '13 days' AND customer_id = 42",
        ),
    ];
    let (db, dir) = crate::support::seeded(DEFECTS_SCHEMA, &queries).await;
    for mode in [&["--hypopg", "off"][..], &[]] {
        assert_eq!(
            suggested(dir.path(), &db, &["most_rows"], mode),
            Vec::<String>::new(),
            "{mode:?}"
        );
        let few = suggested(dir.path(), &db, &["few_rows"], mode);
        assert_eq!(few.len(), 1, "{mode:?}: {few:?}");
        assert!(few[0].starts_with("public.jobs (customer_id"), "{few:?}");
    }
}

/// Issue 21 item 8: every scan an index could serve that gets no
/// suggestion says why with `-v`: low selectivity, covered by an existing
/// index, the planner's verdict, a relation it could not resolve.
#[tokio::test]
async fn every_target_without_a_suggestion_says_why_with_verbose() {
    let schema = format!(
        "{SCHEMA}
         CREATE SCHEMA hidden;
         CREATE TABLE hidden.big AS SELECT g AS x FROM generate_series(1, 20000) g;
         CREATE VIEW v AS SELECT * FROM hidden.big;"
    );
    let queries = [
        ("common_value", "SELECT * FROM t WHERE state = 'done'"),
        (
            "covered",
            "SELECT * FROM w WHERE account_id = 5 AND kind = 1",
        ),
        ("wide_range", "SELECT * FROM t WHERE customer_id < 900"),
        ("through_view", "SELECT * FROM v WHERE x = 5"),
        ("suggested", "SELECT * FROM t WHERE customer_id = 42"),
    ];
    let (db, dir) = crate::support::seeded(&schema, &queries).await;
    let (_, report, err) = check(dir.path(), &db, &["-v"]);
    let found: Vec<&str> = missing_index(&report)
        .iter()
        .flat_map(|f| f["evidence"]["queries"].as_array().unwrap())
        .map(|q| q.as_str().unwrap())
        .collect();
    assert_eq!(found, ["suggested"], "{err}");
    let notes: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("note: index advisor: "))
        .collect();
    let why = |id: &str| -> Vec<&str> {
        notes
            .iter()
            .filter(|l| l.starts_with(&format!("note: index advisor: {id} ")))
            .copied()
            .collect()
    };
    let one = |id: &str, wanted: &[&str]| {
        let lines = why(id);
        assert_eq!(lines.len(), 1, "{id}: {err}");
        assert!(
            wanted.iter().any(|w| lines[0].contains(w)),
            "{id}: {}",
            lines[0]
        );
    };
    one(
        "common_value",
        &["Seq Scan on t (node 0): no index: low selectivity: its conditions keep 99% of the rows"],
    );
    one(
        "covered",
        &[
            "no index: covered by an existing index: w_account_id_idx (CREATE INDEX w_account_id_idx",
        ],
    );
    one(
        "wide_range",
        &[
            "no index: the planner ignored the hypothetical index: with public.t (customer_id) the plan is Seq Scan on t",
            "no index: the cost drop is below min_cost_drop: public.t (customer_id): planner cost ",
        ],
    );
    one(
        "through_view",
        &[
            "no index: the relation could not be resolved: no table big (through the search_path) in the catalog",
        ],
    );
    assert!(why("suggested").is_empty(), "{err}");
    // The seq-scan finding on such a scan carries the reason in its
    // evidence; the one an index is suggested for does not.
    let no_index = |id: &str| -> Vec<serde_json::Value> {
        report["queries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["id"] == id)
            .flat_map(|q| q["findings"].as_array().unwrap())
            .filter(|f| f["rule"] == "seq-scan")
            .map(|f| f["evidence"]["no_index"].clone())
            .collect()
    };
    let view = no_index("through_view");
    assert_eq!(view.len(), 1, "{report:#}");
    assert_eq!(view[0]["reason"], "unresolved", "{view:?}");
    assert!(
        view[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("no table big"),
        "{view:?}"
    );
    assert_eq!(no_index("suggested"), [serde_json::Value::Null]);
    // And the report keeps to docs/report.schema.json.
    crate::support::assert_matches_schema("report.schema.json", &report);
    // Without -v, none of it.
    let (_, _, err) = check(dir.path(), &db, &[]);
    assert!(!err.contains("note: index advisor: "), "{err}");
}

/// Without HypoPG nothing is verified: suggestions are ranked by the work
/// the plans show an index would avoid (rows read and thrown away, times
/// calls), never by name. Here the table whose name sorts first is the
/// smaller one.
#[tokio::test]
async fn unverified_suggestions_rank_by_the_rows_they_avoid() {
    let (db, dir) = crate::support::seeded(
        "CREATE TABLE a_small (id int PRIMARY KEY, k int NOT NULL);
         INSERT INTO a_small SELECT g, g FROM generate_series(1, 20000) g;
         CREATE TABLE z_big (id int PRIMARY KEY, k int NOT NULL);
         INSERT INTO z_big SELECT g, g FROM generate_series(1, 300000) g;",
        &[
            ("small", "SELECT * FROM a_small WHERE k = 7"),
            ("big", "SELECT * FROM z_big WHERE k = 7"),
        ],
    )
    .await;
    let (_, report, err) = check(dir.path(), &db, &["--hypopg", "off"]);
    let mut found: Vec<(u64, String)> = missing_index(&report)
        .iter()
        .map(|f| {
            (
                f["evidence"]["rank"].as_u64().unwrap(),
                f["evidence"]["relation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            (1, "public.z_big".to_owned()),
            (2, "public.a_small".to_owned())
        ],
        "{err}"
    );
    for f in missing_index(&report) {
        assert_eq!(f["evidence"]["verified"], false);
    }
}

/// A query that times out gets advice too (it needs it most): it is
/// planned again with plain EXPLAIN and the suggestion is verified with
/// HypoPG like any other.
#[tokio::test]
async fn a_query_that_times_out_is_advised_from_its_plain_plan() {
    let (db, dir) = crate::support::seeded(
        "CREATE EXTENSION hypopg;
         CREATE TABLE slow (id int PRIMARY KEY, k int NOT NULL);
         INSERT INTO slow SELECT g, g % 5000 FROM generate_series(1, 200000) g;",
        &[(
            "slow",
            "SELECT * FROM slow WHERE k = 7 AND pg_sleep(0.001) IS NOT NULL",
        )],
    )
    .await;
    let (_, report, err) = check(dir.path(), &db, &["--timeout", "300ms"]);
    let q = &report["queries"][0];
    assert_eq!(q["status"], "timeout", "{err}");
    let found = missing_index(&report);
    assert_eq!(found.len(), 1, "{err} {report}");
    let e = &found[0]["evidence"];
    assert_eq!(e["verified"], true, "{e}");
    assert_eq!(
        e["ddl"],
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS slow_k_idx ON public.slow (k)"
    );
    assert_eq!(found[0]["node"]["node_type"], "Seq Scan");
    // The same from --no-analyze: a plain plan's Seq Scan reads the whole
    // table, which the catalog says (the plan gives only what it returns).
    let (_, report, err) = check(dir.path(), &db, &["--no-analyze"]);
    let found = missing_index(&report);
    assert_eq!(found.len(), 1, "{err} {report}");
    assert_eq!(found[0]["evidence"]["verified"], true);
}

/// Issue 21 item 7: an index whose key columns lead another's with the
/// same properties is reported once, on the first query that reads its
/// table, with its DROP commented out in the SQL script; a unique index
/// and a partial index with another predicate beside a wider one are not.
#[tokio::test]
async fn a_left_prefix_index_is_redundant_unless_unique_or_partial_otherwise() {
    let schema = "
        CREATE EXTENSION hypopg;
        CREATE TABLE r AS SELECT g AS id, g % 500 AS a, g % 7 AS b FROM generate_series(1, 20000) g;
        CREATE INDEX r_a ON r (a);
        CREATE INDEX r_a_b ON r (a, b);
        CREATE TABLE u AS SELECT g AS id, g AS a, g % 7 AS b FROM generate_series(1, 20000) g;
        CREATE UNIQUE INDEX u_a ON u (a);
        CREATE INDEX u_a_b ON u (a, b);
        CREATE TABLE p AS SELECT g AS id, g % 500 AS a, g % 7 AS b FROM generate_series(1, 20000) g;
        CREATE INDEX p_a ON p (a) WHERE b > 3;
        CREATE INDEX p_a_b ON p (a, b) WHERE b > 1;
    ";
    let queries = [
        ("r1", "SELECT * FROM r WHERE a = 42"),
        ("r2", "SELECT * FROM r WHERE a = 43 AND b = 1"),
        ("u1", "SELECT * FROM u WHERE a = 42"),
        ("p1", "SELECT * FROM p WHERE a = 42 AND b > 3"),
    ];
    let (db, dir) = crate::support::seeded(schema, &queries).await;
    let (_, report, err) = check(dir.path(), &db, &[]);
    let found: Vec<(&str, &serde_json::Value)> = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| {
            q["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |f| (q["id"].as_str().unwrap(), f))
        })
        .filter(|(_, f)| f["rule"] == "redundant-index" && f["evidence"]["kind"] == "left_prefix")
        .collect();
    assert_eq!(found.len(), 1, "{found:#?}\n{err}");
    let (query, f) = found[0];
    assert_eq!(query, "r1");
    assert_eq!(f["severity"], "info");
    let e = &f["evidence"];
    assert_eq!(e["index"], "public.r_a");
    assert_eq!(e["covered_by"], "public.r_a_b");
    assert_eq!(e["table"], "public.r");
    assert_eq!(
        e["ddl_drop"],
        "DROP INDEX CONCURRENTLY IF EXISTS public.r_a;"
    );
    // The test server's HypoPG decides which; either way they agree.
    assert_eq!(e["verified"], e["reason"].is_null(), "{e}");
    let client = db.client().await;
    let can_hide: bool = client
        .query_one("SELECT to_regproc('hypopg_hide_index') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    if !can_hide {
        // HypoPG before 1.4 (Debian 12 ships 1.3.1): said plainly.
        let reason = e["reason"].as_str().unwrap();
        assert!(reason.contains("has no hypopg_hide_index"), "{reason}");
        assert!(
            f["message"].as_str().unwrap().contains("not verified"),
            "{f}"
        );
    }
    let (_, off, _) = check(dir.path(), &db, &["--hypopg", "off"]);
    let reasons: Vec<&str> = off["queries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| q["findings"].as_array().unwrap())
        .filter(|f| f["rule"] == "redundant-index" && f["evidence"]["kind"] == "left_prefix")
        .map(|f| f["evidence"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].starts_with("not verified: verification is off (--hypopg off)"),
        "{reasons:?}"
    );
    assert_eq!(f["node"]["relation"], "r", "{f}");

    let (_, sql, err) = crate::support::run_in(
        dir.path(),
        &[
            "check",
            "-d",
            &db.conninfo,
            "--format",
            "sql",
            "--runs",
            "1",
        ],
    );
    assert!(
        sql.lines()
            .any(|l| l == "-- DROP INDEX CONCURRENTLY IF EXISTS public.r_a;"),
        "{sql}\n{err}"
    );
    assert!(!sql.lines().any(|l| l.starts_with("DROP")), "{sql}");
}

/// A small TPC-H shape: parts with four suppliers each, their line items
/// over seven years, char(n) names.
const CORRELATED_SCHEMA: &str = "
    CREATE EXTENSION hypopg;
    CREATE TABLE nation (n_nationkey int PRIMARY KEY, n_name char(25) NOT NULL);
    INSERT INTO nation SELECT g, 'NATION' || g FROM generate_series(0, 24) g;
    CREATE TABLE supplier (s_suppkey int PRIMARY KEY, s_name char(25) NOT NULL,
                           s_address varchar(40) NOT NULL, s_nationkey int NOT NULL);
    INSERT INTO supplier SELECT g, 'Supplier#' || g, md5(g::text), g % 25 FROM generate_series(1, 100) g;
    CREATE TABLE part (p_partkey int PRIMARY KEY, p_name varchar(55) NOT NULL);
    INSERT INTO part SELECT g, (ARRAY['forest','almond','blue','red','green','ivory','khaki','lace','linen','navy'])[1 + (g * 7) % 10]
                               || ' ' || md5(g::text) FROM generate_series(1, 2000) g;
    CREATE TABLE partsupp (ps_partkey int, ps_suppkey int, ps_availqty int NOT NULL,
                           PRIMARY KEY (ps_partkey, ps_suppkey));
    INSERT INTO partsupp SELECT p, (p + s * 25) % 100 + 1, (p * 7 + s * 13) % 1000
      FROM generate_series(1, 2000) p, generate_series(0, 3) s;
    CREATE TABLE lineitem (l_orderkey int NOT NULL, l_partkey int NOT NULL, l_suppkey int NOT NULL,
                           l_quantity numeric NOT NULL, l_shipdate date NOT NULL);
    INSERT INTO lineitem SELECT g, p, (p + (g % 4) * 25) % 100 + 1, g % 50 + 1, date '1992-01-01' + (g * 17) % 2500
      FROM generate_series(1, 100000) g, LATERAL (SELECT (g * 7919) % 2000 + 1 AS p) x;
    CREATE TABLE z_big (id int PRIMARY KEY, k int NOT NULL);
    INSERT INTO z_big SELECT g, g FROM generate_series(1, 300000) g;";

/// TPC-H's query 20: the correlated subquery reads lineitem once per
/// partsupp row it filters.
const Q20: &str = "SELECT s_name, s_address FROM supplier, nation
 WHERE s_suppkey IN (SELECT ps_suppkey FROM partsupp
                      WHERE ps_partkey IN (SELECT p_partkey FROM part WHERE p_name LIKE 'forest%')
                        AND ps_availqty > (SELECT 0.5 * sum(l_quantity) FROM lineitem
                                            WHERE l_partkey = ps_partkey AND l_suppkey = ps_suppkey
                                              AND l_shipdate >= date '1994-01-01'
                                              AND l_shipdate < date '1994-01-01' + interval '1' year))
   AND s_nationkey = n_nationkey AND n_name = 'NATION3'
 ORDER BY s_name";

/// Issue 21 item 2: a scan inside a SubPlan, filtered by the outer row's
/// columns (`l_partkey = partsupp.ps_partkey`), is a target whose outer
/// references count as equalities, weighed by its loops; a filter that
/// holds a `(SubPlan n)` (a NOT IN, a per-row comparison) keeps its other
/// conditions.
#[tokio::test]
async fn correlated_subqueries_and_per_loop_scans_are_targets() {
    let queries = [
        ("q20", Q20),
        (
            "not_in",
            "SELECT * FROM lineitem WHERE l_orderkey = 4242
                AND l_partkey NOT IN (SELECT p_partkey FROM part WHERE p_name LIKE 'forest%')",
        ),
        (
            "per_row",
            "SELECT * FROM lineitem l WHERE l_orderkey = 4243
                AND l_quantity > (SELECT min(ps_availqty) FROM partsupp WHERE ps_partkey = l.l_partkey) / 100",
        ),
        ("big", "SELECT * FROM z_big WHERE k = 7"),
    ];
    let (db, dir) = crate::support::seeded(CORRELATED_SCHEMA, &queries).await;
    for mode in [&[][..], &["--no-analyze"]] {
        let (_, report, err) = check(dir.path(), &db, mode);
        let found = missing_index(&report);
        let q20: Vec<&&serde_json::Value> = found.iter().filter(|f| serves(f, "q20")).collect();
        assert_eq!(q20.len(), 1, "{mode:?} {err}\n{found:#?}");
        let e = &q20[0]["evidence"];
        assert_eq!(e["relation"], "public.lineitem", "{e:#}");
        assert_eq!(e["columns"][0], "l_partkey", "{e:#}");
        assert_eq!(e["columns"][1], "l_suppkey", "{e:#}");
        assert_eq!(e["verified"], true, "{e:#}");
        assert_eq!(q20[0]["node"]["node_type"], "Seq Scan");
        assert!(e["loops"].as_f64().unwrap() > 10.0, "{e:#}");
        for (id, column) in [("not_in", "l_orderkey"), ("per_row", "l_orderkey")] {
            let f = found
                .iter()
                .find(|f| serves(f, id))
                .unwrap_or_else(|| panic!("{id} {mode:?}: {found:#?}\n{err}"));
            assert_eq!(
                f["evidence"]["columns"],
                serde_json::json!([column]),
                "{f:#}"
            );
        }
    }
    // Unverified, the SubPlan's scan is weighed by its loops (over a
    // hundred reads of lineitem's 100,000 rows) and ranks before a single
    // read of a 300,000-row table, executed or only planned.
    for mode in [
        &["--hypopg", "off"][..],
        &["--hypopg", "off", "--no-analyze"],
    ] {
        let (_, report, err) = check(dir.path(), &db, mode);
        let rank = |id: &str| {
            missing_index(&report)
                .iter()
                .filter(|f| serves(f, id))
                .map(|f| f["evidence"]["rank"].as_u64().unwrap())
                .min()
                .unwrap_or_else(|| panic!("{id} {mode:?}: {report:#}\n{err}"))
        };
        assert!(rank("q20") < rank("big"), "{mode:?}: {report:#}");
    }
}

/// A missing-index finding's index serves query `id`.
fn serves(f: &serde_json::Value, id: &str) -> bool {
    f["evidence"]["queries"]
        .as_array()
        .is_some_and(|q| q.iter().any(|q| q == id))
}

/// Issue 21 item 4: the whole workload's set in one run. `items
/// (order_id)` cuts the join's cost by too little while orders is read
/// whole, and by more than half once `orders (customer_id)` exists: one
/// run suggests both (the per-query verification needed a second run).
/// `r (a)` serves q1 and q2, and `r (a, b)`, chosen after it for q2's
/// thousand calls, serves both as well: the wider one alone is kept. Each index has its estimated size, and the set its
/// total; after the script, a check suggests nothing more.
#[tokio::test]
async fn one_run_chooses_the_whole_workloads_set_with_sizes() {
    let (db, dir) = crate::support::seeded(
        "CREATE EXTENSION hypopg;
         CREATE TABLE orders AS SELECT g AS id, g % 5000 AS customer_id, md5(g::text) AS note
           FROM generate_series(1, 300000) g;
         CREATE TABLE items AS SELECT g AS id, g * 5 AS order_id, g % 100 AS qty
           FROM generate_series(1, 60000) g;
         CREATE TABLE r AS SELECT g AS id, g % 500 AS a, g % 97 AS b, md5(g::text) AS pad
           FROM generate_series(1, 200000) g;",
        &[
            (
                "join",
                "SELECT * FROM orders o JOIN items i ON i.order_id = o.id WHERE o.customer_id = 42",
            ),
            ("q1", "SELECT * FROM r WHERE a = 42"),
            (
                "q2",
                "-- captured: pg_stat_statements, calls = 1000, mean = 1.00 ms, total = 1000.00 ms
SELECT * FROM r WHERE a = 43 AND b = 7",
            ),
        ],
    )
    .await;
    let (_, report, err) = check(dir.path(), &db, &["-v"]);
    let found = missing_index(&report);
    let mut indexes: Vec<(String, u64)> = found
        .iter()
        .map(|f| {
            let e = &f["evidence"];
            assert_eq!(e["verified"], true, "{e:#}");
            let columns: Vec<&str> = e["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            (
                format!(
                    "{} ({})",
                    e["relation"].as_str().unwrap(),
                    columns.join(", ")
                ),
                e["size_bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    indexes.sort();
    indexes.dedup();
    let names: Vec<&str> = indexes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "public.items (order_id)",
            "public.orders (customer_id)",
            "public.r (a, b)"
        ],
        "{err}"
    );
    // Sizes: estimates, a bigger table a bigger index.
    let size = |n: &str| indexes.iter().find(|(x, _)| x == n).unwrap().1;
    assert!(size("public.items (order_id)") > 8192);
    assert!(size("public.orders (customer_id)") > size("public.items (order_id)"));
    let total: u64 = indexes.iter().map(|(_, s)| s).sum();
    for f in &found {
        assert_eq!(f["evidence"]["total_size_bytes"].as_u64(), Some(total));
    }
    assert!(
        err.lines()
            .any(|l| l.starts_with("note: index advisor: index set: 3 of ")
                && l.contains("1 dropped as redundant in the set")),
        "{err}"
    );
    // The script says each size and the total, and leaves nothing to add.
    let (_, script, err) = crate::support::run_in(
        dir.path(),
        &[
            "check",
            "-d",
            &db.conninfo,
            "--format",
            "sql",
            "--runs",
            "1",
        ],
    );
    assert_eq!(
        script.matches("--    estimated size ").count(),
        3,
        "{script}\n{err}"
    );
    assert!(
        script.contains("-- Estimated size of the set: "),
        "{script}"
    );
    let client = db.client().await;
    for line in script.lines().filter(|l| l.starts_with("CREATE INDEX")) {
        client.batch_execute(line).await.unwrap();
    }
    client.batch_execute("ANALYZE").await.unwrap();
    let (_, report, err) = check(dir.path(), &db, &[]);
    assert_eq!(
        missing_index(&report),
        Vec::<&serde_json::Value>::new(),
        "{err}"
    );
}

/// Issue 21 item 9: the selection plans a query again only when the set of
/// hypothetical indexes on the tables it reads changes. Five tables, four
/// queries each, two candidates each (`(a)`, `(a, b)`): each query is
/// planned with at most four sets (none, either, both), whatever the
/// rounds; everything else comes from the cache.
#[tokio::test]
async fn the_selection_plans_each_query_once_per_set_of_its_tables_indexes() {
    let mut schema = String::from("CREATE EXTENSION hypopg;");
    let mut queries = Vec::new();
    for t in 1..=5 {
        schema.push_str(&format!(
            "CREATE TABLE t{t} AS SELECT g AS id, g % 1000 AS a, g % 50 AS b, md5(g::text) AS pad
               FROM generate_series(1, 20000) g;"
        ));
        for q in 1..=4 {
            let sql = if q % 2 == 1 {
                format!("SELECT * FROM t{t} WHERE a = {}", t * 31 + q * 7)
            } else {
                format!(
                    "SELECT * FROM t{t} WHERE a = {} AND b = {q}",
                    t * 31 + q * 7
                )
            };
            queries.push((format!("t{t}_q{q}"), sql));
        }
    }
    let queries: Vec<(&str, &str)> = queries
        .iter()
        .map(|(id, sql)| (id.as_str(), sql.as_str()))
        .collect();
    let (db, dir) = crate::support::seeded(&schema, &queries).await;
    let (_, report, err) = check(dir.path(), &db, &["-v", "--no-analyze"]);
    let line = err
        .lines()
        .find(|l| l.starts_with("note: index advisor: index set: "))
        .unwrap_or_else(|| panic!("{err}"));
    let number_before = |word: &str| -> usize {
        let (head, _) = line.split_once(word).unwrap();
        head.rsplit(' ')
            .find(|w| !w.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    let plans = number_before(" plans, ");
    let cached = number_before(" from the cache");
    assert!(line.contains("5 of 10 candidates"), "{line}");
    assert!(plans <= 20 * 4, "{line}");
    assert!(cached > plans, "{line}");
    let mut found: Vec<String> = missing_index(&report)
        .iter()
        .map(|f| f["evidence"]["ddl"].as_str().unwrap().to_owned())
        .collect();
    found.sort();
    found.dedup();
    // One index a table: `(a)` (1000 values, its keys deduplicated) is
    // small, and `(a, b)` does not save half a read of the table more.
    assert_eq!(found.len(), 5, "{found:?}");
    for t in 1..=5 {
        assert!(
            found
                .iter()
                .any(|d| d.contains(&format!(" ON public.t{t} ("))),
            "{found:?}"
        );
    }
}

/// Issue 21 item 7, the unused kind: an index no plan of the set uses is
/// reported (a used one, a unique one and a primary key are not). HypoPG
/// 1.3.1 cannot hide it, so it is unverified unless `--confirm`, which
/// drops it inside a transaction under lock_timeout and rolls back: the
/// index is still there afterwards and no lock is left. A session holding
/// a lock on the table makes the drop give up after lock_timeout, named in
/// the reason, and the index stays.
#[tokio::test]
async fn an_unused_index_is_verified_by_a_rolled_back_drop_with_confirm() {
    let (db, dir) = crate::support::seeded(
        "CREATE EXTENSION hypopg;
         CREATE TABLE un (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL, c int NOT NULL);
         INSERT INTO un SELECT g, g % 1000, g % 77, g FROM generate_series(1, 50000) g;
         CREATE INDEX un_a ON un (a);
         CREATE INDEX un_b ON un (b);
         CREATE UNIQUE INDEX un_c ON un (c);",
        &[("by_a", "SELECT * FROM un WHERE a = 42")],
    )
    .await;
    let unused = |report: &serde_json::Value| -> Vec<serde_json::Value> {
        report["queries"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|q| q["findings"].as_array().unwrap())
            .filter(|f| f["rule"] == "redundant-index" && f["evidence"]["kind"] == "unused")
            .cloned()
            .collect()
    };
    let client = db.client().await;
    let can_hide: bool = client
        .query_one("SELECT to_regproc('hypopg_hide_index') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    let (_, report, err) = check(dir.path(), &db, &["-v"]);
    let found = unused(&report);
    assert_eq!(found.len(), 1, "{found:#?}\n{err}");
    let e = &found[0]["evidence"];
    assert_eq!(e["index"], "public.un_b", "{e}");
    assert_eq!(e["covered_by"], serde_json::Value::Null);
    if !can_hide {
        assert_eq!(e["verified"], false, "{e}");
        let reason = e["reason"].as_str().unwrap();
        assert!(reason.contains("has no hypopg_hide_index"), "{reason}");
        assert!(reason.contains("--confirm"), "{reason}");
    }
    assert!(
        err.lines()
            .any(|l| l.starts_with("note: index advisor: redundant index public.un_b (unused, ")),
        "{err}"
    );

    let (_, report, err) = check(dir.path(), &db, &["--confirm", "--hypopg", "off"]);
    let found = unused(&report);
    assert_eq!(found.len(), 1, "{found:#?}\n{err}");
    let e = &found[0]["evidence"];
    assert_eq!(e["verified"], true, "{e}\n{err}");
    assert_eq!(e["verified_by"], "rolled_back_drop", "{e}");
    // Never committed, nothing left locked.
    let exists: bool = client
        .query_one("SELECT to_regclass('public.un_b') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(exists);
    let locks: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
              WHERE c.relname IN ('un', 'un_b') AND l.pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(locks, 0);

    // A session reading the table holds a lock the drop must wait for:
    // lock_timeout gives up, the reason says so, the index stays.
    let holder = db.client().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE un IN ACCESS SHARE MODE")
        .await
        .unwrap();
    let (_, report, err) = check(dir.path(), &db, &["--confirm", "--hypopg", "off"]);
    holder.batch_execute("ROLLBACK").await.unwrap();
    let found = unused(&report);
    assert_eq!(found.len(), 1, "{found:#?}\n{err}");
    let e = &found[0]["evidence"];
    assert_eq!(e["verified"], false, "{e}");
    let reason = e["reason"].as_str().unwrap();
    assert!(reason.contains("lock"), "{reason}");
    let exists: bool = client
        .query_one("SELECT to_regclass('public.un_b') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(exists);

    let (_, sql, _) = crate::support::run_in(
        dir.path(),
        &[
            "check",
            "-d",
            &db.conninfo,
            "--format",
            "sql",
            "--runs",
            "1",
        ],
    );
    assert!(
        sql.lines()
            .any(|l| l == "-- DROP INDEX CONCURRENTLY IF EXISTS public.un_b;"),
        "{sql}"
    );
    assert!(!sql.lines().any(|l| l.starts_with("DROP")), "{sql}");
}

/// Issue 21 item 7: the verified redundant indexes of a table can be
/// dropped together. Of two identical indexes the planner uses one (the
/// later created, on equal cost) and the other is unused: either could go,
/// never both. The later named is the redundant left prefix, covered by
/// the other, which is not reported unused too (it once was, unverified,
/// its reason naming the first); dropping every verified one for real
/// (rolled back) leaves the cost as it was.
/// With `--confirm` on any server, and with `hypopg_hide_index` where the
/// installed HypoPG has it.
#[tokio::test]
async fn of_two_indexes_that_stand_in_for_each_other_one_is_verified_never_both() {
    let (db, dir) = crate::support::seeded(
        "CREATE EXTENSION hypopg;
         CREATE TABLE twin (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL);
         INSERT INTO twin SELECT g, g % 1000, g % 7 FROM generate_series(1, 100000) g;
         CREATE INDEX twin_a_1 ON twin (a);
         CREATE INDEX twin_a_2 ON twin (a);",
        &[("by_a", "SELECT * FROM twin WHERE a = 42")],
    )
    .await;
    let client = db.client().await;
    let can_hide: bool = client
        .query_one("SELECT to_regproc('hypopg_hide_index') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    async fn cost(client: &tokio_postgres::Client) -> f64 {
        let row = client
            .query_one("EXPLAIN (FORMAT JSON) SELECT * FROM twin WHERE a = 42", &[])
            .await
            .unwrap();
        let plan: serde_json::Value = row.get(0);
        plan[0]["Plan"]["Total Cost"].as_f64().unwrap()
    }
    let before = cost(&client).await;
    let mut ways = vec![(vec!["--confirm", "--hypopg", "off"], "rolled_back_drop")];
    if can_hide {
        ways.push((vec![], "hypopg_hide_index"));
    }
    for (extra, how) in ways {
        let (_, report, err) = check(dir.path(), &db, &extra);
        let found: std::collections::BTreeMap<String, serde_json::Value> = redundant_index(&report)
            .into_iter()
            .map(|f| {
                let e = &f["evidence"];
                (e["index"].as_str().unwrap().to_owned(), e.clone())
            })
            .collect();
        assert_eq!(found.len(), 1, "{how}: {found:#?}\n{err}");
        let second = &found["public.twin_a_2"];
        assert_eq!(second["kind"], "left_prefix", "{how}: {second}");
        assert_eq!(second["covered_by"], "public.twin_a_1", "{how}: {second}");
        assert_eq!(second["verified"], true, "{how}: {second}\n{err}");
        assert_eq!(second["verified_by"], how, "{how}: {second}");
        assert!(!found.contains_key("public.twin_a_1"), "{how}: {found:#?}");

        // What the findings promise: the verified ones go together.
        let verified: Vec<&str> = found
            .iter()
            .filter(|(_, e)| e["verified"] == true)
            .map(|(index, _)| index.as_str())
            .collect();
        client
            .batch_execute(&format!("BEGIN; DROP INDEX {}", verified.join(", ")))
            .await
            .unwrap();
        let after = cost(&client).await;
        client.batch_execute("ROLLBACK").await.unwrap();
        assert!(after <= before, "{how}: {verified:?}: {before} -> {after}");
    }
    // Nothing was dropped for real.
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'twin'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
}

/// Issue 21 item 7 on a partitioned table: plans show the partitions'
/// indexes, which PostgreSQL drops only with their partitioned index, so
/// the findings are on the partitioned indexes (verified by hiding or
/// dropping all their partitions' indexes, with the scans of every
/// partition), with a plain `DROP INDEX` (never CONCURRENTLY, which a
/// partitioned index refuses); a partition's own index is its own finding.
/// Every DROP the findings verify runs, together, and no cost rises.
#[tokio::test]
async fn a_partitioned_tables_redundant_indexes_are_its_own_not_its_partitions() {
    let (db, dir) = crate::support::seeded(
        "CREATE EXTENSION hypopg;
         CREATE TABLE pev (id int NOT NULL, account_id int NOT NULL, kind int NOT NULL)
           PARTITION BY RANGE (id);
         CREATE TABLE pev_1 PARTITION OF pev FOR VALUES FROM (0) TO (50000);
         CREATE TABLE pev_2 PARTITION OF pev FOR VALUES FROM (50000) TO (100001);
         INSERT INTO pev SELECT g, g % 1000, g % 7 FROM generate_series(1, 100000) g;
         CREATE INDEX pev_account ON pev (account_id);
         CREATE INDEX pev_account_kind ON pev (account_id, kind);
         CREATE INDEX pev_kind ON pev (kind);
         CREATE INDEX pev_1_id ON pev_1 (id);",
        &[("by_account", "SELECT * FROM pev WHERE account_id = 42")],
    )
    .await;
    let client = db.client().await;
    client.batch_execute("ANALYZE pev").await.unwrap();
    let can_hide: bool = client
        .query_one("SELECT to_regproc('hypopg_hide_index') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    async fn cost(client: &tokio_postgres::Client) -> f64 {
        let row = client
            .query_one(
                "EXPLAIN (FORMAT JSON) SELECT * FROM pev WHERE account_id = 42",
                &[],
            )
            .await
            .unwrap();
        let plan: serde_json::Value = row.get(0);
        plan[0]["Plan"]["Total Cost"].as_f64().unwrap()
    }
    let before = cost(&client).await;
    let mut ways = vec![(vec!["--confirm", "--hypopg", "off"], "rolled_back_drop")];
    if can_hide {
        ways.push((vec![], "hypopg_hide_index"));
    }
    let mut drops = Vec::new();
    for (extra, how) in ways {
        let (_, report, err) = check(dir.path(), &db, &extra);
        let found: std::collections::BTreeMap<String, serde_json::Value> = redundant_index(&report)
            .into_iter()
            .map(|f| {
                let e = &f["evidence"];
                (e["index"].as_str().unwrap().to_owned(), e.clone())
            })
            .collect();
        assert_eq!(
            found.keys().map(String::as_str).collect::<Vec<_>>(),
            ["public.pev_1_id", "public.pev_account", "public.pev_kind"],
            "{how}: {found:#?}\n{err}"
        );
        for e in found.values() {
            assert_eq!(e["verified"], true, "{how}: {e}\n{err}");
            assert_eq!(e["verified_by"], how, "{how}: {e}");
        }
        let account = &found["public.pev_account"];
        assert_eq!(account["kind"], "left_prefix", "{account}");
        assert_eq!(
            account["covered_by"], "public.pev_account_kind",
            "{account}"
        );
        assert_eq!(account["table"], "public.pev", "{account}");
        assert_eq!(
            account["ddl_drop"],
            "DROP INDEX IF EXISTS public.pev_account;"
        );
        let kind = &found["public.pev_kind"];
        assert_eq!(kind["kind"], "unused", "{kind}");
        assert_eq!(kind["table"], "public.pev", "{kind}");
        assert_eq!(kind["ddl_drop"], "DROP INDEX IF EXISTS public.pev_kind;");
        let own = &found["public.pev_1_id"];
        assert_eq!(own["kind"], "unused", "{own}");
        assert_eq!(own["table"], "public.pev_1", "{own}");
        assert_eq!(
            own["ddl_drop"],
            "DROP INDEX CONCURRENTLY IF EXISTS public.pev_1_id;"
        );
        drops = found
            .values()
            .map(|e| e["ddl_drop"].as_str().unwrap().to_owned())
            .collect();
    }
    // What the findings promise: the statements run, one by one outside a
    // transaction as the script says, and the query costs no more.
    for drop in &drops {
        client
            .batch_execute(drop)
            .await
            .unwrap_or_else(|e| panic!("{drop}: {e}"));
    }
    let after = cost(&client).await;
    assert!(after <= before, "{drops:?}: {before} -> {after}");
    let left: Vec<String> = client
        .query(
            "SELECT indexrelid::regclass::text FROM pg_index
              WHERE indrelid IN ('pev'::regclass, 'pev_1'::regclass, 'pev_2'::regclass)
              ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        left,
        [
            "pev_1_account_id_kind_idx",
            "pev_2_account_id_kind_idx",
            "pev_account_kind"
        ]
    );
}

/// Issue 21 item 7: when the installed HypoPG cannot hide an index, the
/// reason says what would help: on a server that has HypoPG 1.4+, an
/// extension still at 1.3.1 gets `ALTER EXTENSION hypopg UPDATE`; one in a
/// schema off the search_path is named as such, not as too old.
#[tokio::test]
async fn why_hypopg_cannot_hide_says_what_would_help() {
    let schema = "
        CREATE TABLE h AS SELECT g AS id, g % 500 AS a, g % 7 AS b FROM generate_series(1, 20000) g;
        CREATE INDEX h_a ON h (a);
        CREATE INDEX h_a_b ON h (a, b);";
    let queries = [("h1", "SELECT * FROM h WHERE a = 42 AND b = 1")];
    let reason = |dir: &std::path::Path, db: &TestDb| -> String {
        let (_, report, err) = check(dir, db, &[]);
        let reasons: Vec<String> = redundant_index(&report)
            .into_iter()
            .map(|f| f["evidence"]["reason"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(reasons.len(), 1, "{reasons:?}\n{err}");
        reasons[0].clone()
    };

    let (db, dir) = crate::support::seeded(schema, &queries).await;
    let client = db.client().await;
    let available: String = client
        .query_one(
            "SELECT default_version::text FROM pg_available_extensions WHERE name = 'hypopg'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let can_hide = available != "1.3.1";
    client
        .batch_execute("CREATE EXTENSION hypopg VERSION '1.3.1'")
        .await
        .unwrap();
    let old = reason(dir.path(), &db);
    assert!(
        old.contains("the installed HypoPG 1.3.1 has no hypopg_hide_index"),
        "{old}"
    );
    assert_eq!(
        old.contains(&format!(
            "; this server has {available}: ALTER EXTENSION hypopg UPDATE adds it"
        )),
        can_hide,
        "{old}"
    );

    let (db, dir) = crate::support::seeded(
        &format!("CREATE SCHEMA ext; CREATE EXTENSION hypopg SCHEMA ext; {schema}"),
        &queries,
    )
    .await;
    let elsewhere = reason(dir.path(), &db);
    if can_hide {
        assert!(
            elsewhere.starts_with(&format!(
                "not verified: HypoPG {available} is installed in schema ext, which is not on the session's search_path"
            )),
            "{elsewhere}"
        );
    } else {
        assert!(
            elsewhere.contains("the installed HypoPG 1.3.1 has no hypopg_hide_index"),
            "{elsewhere}"
        );
    }
}

/// Issue 21 items 4 and 8: an index the planner uses and that cuts a
/// query's cost by more than half, but saves less than half a read of its
/// table per run of the set, is not in the set, and `-v` says why; the
/// same query called a hundred times gets it.
#[tokio::test]
async fn an_index_saving_less_than_half_a_table_read_is_not_chosen_and_says_why() {
    let (db, dir) = crate::support::seeded(
        "CREATE EXTENSION hypopg;
         CREATE TABLE w (id int PRIMARY KEY, account_id int, code int, kind int);
         INSERT INTO w SELECT g, g % 100, g % 1000, g % 3 FROM generate_series(1, 20000) g;
         CREATE INDEX w_account_id_idx ON w (account_id);",
        &[
            ("once", "SELECT * FROM w WHERE code = 7 AND account_id = 7"),
            (
                "often",
                "-- captured: pg_stat_statements, calls = 100, mean = 0.10 ms, total = 10.00 ms
SELECT * FROM w WHERE code = 8 AND account_id = 8",
            ),
        ],
    )
    .await;
    let (_, report, err) = check(dir.path(), &db, &["-v", "--query", "once"]);
    assert_eq!(missing_index(&report).len(), 0, "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("note: index advisor: once ")
                && l.contains("no index: not chosen for the workload's index set")),
        "{err}"
    );
    let (_, report, err) = check(dir.path(), &db, &["-v"]);
    // One index, on both queries' findings.
    let found = missing_index(&report);
    assert_eq!(found.len(), 2, "{err}");
    for f in &found {
        let e = &f["evidence"];
        assert_eq!(
            e["columns"],
            serde_json::json!(["account_id", "code"]),
            "{e}"
        );
        assert_eq!(e["widens"], "w_account_id_idx");
        assert_eq!(e["queries"], serde_json::json!(["often", "once"]), "{e}");
    }
}

/// Issue 21 item 4: each suggestion's `size_bytes` is what building it
/// takes. For every shape (an integer key with repeats, which btree
/// deduplication stores once; two columns, nearly unique or with repeats;
/// a text key; a partial index on a 1% flag) the index the DDL builds is
/// within 15% of the estimate (or two pages, for a small one). A char(n)
/// key is sized without deduplication, which is what Debian's 15.20 builds
/// (`bt_metap` says `allequalimage` false) while the upstream builds of
/// 13.23, 14.23, 15.18, 16.14, 17.10 and 18.6 deduplicate it: its
/// estimate must be close, or above (never more than 15% under).
/// HypoPG's `hypopg_relation_size`, which counts a tuple header and a line
/// pointer per key column, gives about twice the size of a two-column
/// index (printed for comparison).
#[tokio::test]
async fn estimated_sizes_match_the_built_indexes() {
    let queries = [
        ("dups", "SELECT * FROM sz WHERE a = 42"),
        (
            "pair",
            "SELECT * FROM sz WHERE a = 42 AND d = date '2023-05-05'",
        ),
        ("pair_dups", "SELECT * FROM sz WHERE b = 7 AND b2 = 3"),
        (
            "text",
            "SELECT * FROM sz WHERE e = 'c4ca4238a0b923820dcc509a6f75849b'",
        ),
        ("chars", "SELECT * FROM sz WHERE c = 'K7'"),
        ("flag", "SELECT * FROM sz WHERE f AND a = 7"),
    ];
    let (db, dir) = crate::support::seeded(
        "CREATE EXTENSION hypopg;
         CREATE TABLE sz (id int PRIMARY KEY, a int, b int, b2 int, d date, e text,
                          c char(12), f boolean, pad text);
         INSERT INTO sz
             SELECT g, g % 2000, g % 50, g % 47, date '2023-01-01' + (g * 7919 % 730),
                    md5(g::text), 'K' || (g % 400), g % 101 = 0, repeat('x', 40)
               FROM generate_series(1, 200000) g;",
        &queries,
    )
    .await;
    let client = db.client().await;
    for (id, _) in queries {
        let (_, report, err) = check(dir.path(), &db, &["--query", id]);
        let found = missing_index(&report);
        assert_eq!(found.len(), 1, "{id}: {err}");
        // One query, said in English.
        assert!(err.contains("check: 1 query, 1 ok, "), "{err}");
        let e = &found[0]["evidence"];
        let estimate = e["size_bytes"].as_u64().unwrap() as f64;
        let ddl = e["ddl"].as_str().unwrap();
        let hypothetical = ddl
            .replacen(" CONCURRENTLY", "", 1)
            .replacen(" IF NOT EXISTS", "", 1);
        let hypopg: i64 = client
            .query_one(
                "SELECT hypopg_relation_size(indexrelid) FROM hypopg_create_index($1)",
                &[&hypothetical],
            )
            .await
            .unwrap()
            .get(0);
        client.batch_execute("SELECT hypopg_reset()").await.unwrap();
        client.batch_execute(ddl).await.unwrap();
        let name = ddl.split_whitespace().nth(6).unwrap();
        let built: i64 = client
            .query_one(&format!("SELECT pg_relation_size('{name}')"), &[])
            .await
            .unwrap()
            .get(0);
        client
            .batch_execute(&format!("DROP INDEX {name}"))
            .await
            .unwrap();
        let ratio = estimate / built as f64;
        eprintln!(
            "{id}: {ddl}: estimated {estimate}, built {built} ({ratio:.2}x), hypopg_relation_size {hypopg} ({:.2}x)",
            hypopg as f64 / built as f64
        );
        // A small index is a few pages: within two of them is as close.
        let pages = (estimate - built as f64).abs() / 8192.0;
        let high = if id == "chars" { f64::INFINITY } else { 1.15 };
        assert!(
            (0.85..=high).contains(&ratio) || pages <= 2.0,
            "{id}: {ratio:.2}x"
        );
    }
}

/// HypoPG installed in a schema the session's search_path does not
/// include: its functions, called unqualified, are not found. The
/// suggestions used to be lost to "function hypopg_create_index(unknown)
/// does not exist"; they are now given unverified, saying where the
/// extension is and what would let the planner verify them.
#[tokio::test]
async fn hypopg_outside_the_search_path_leaves_suggestions_unverified_and_says_why() {
    let (db, dir) = crate::support::seeded(
        "CREATE SCHEMA ext;
         CREATE EXTENSION hypopg SCHEMA ext;
         CREATE TABLE lone AS SELECT g AS id, g % 5000 AS k FROM generate_series(1, 100000) g;",
        &[("by_k", "SELECT * FROM lone WHERE k = 42")],
    )
    .await;
    let (code, report, err) = check(dir.path(), &db, &[]);
    assert!(code == 0 || code == 1, "{code}: {err}");
    let found = missing_index(&report);
    assert_eq!(found.len(), 1, "{err}");
    let e = &found[0]["evidence"];
    assert_eq!(e["verified"], false, "{e:#}");
    let why = e["unverified_because"].as_str().unwrap();
    assert!(
        why.starts_with("the hypopg extension is installed in schema ext, which this session's search_path does not include"),
        "{why}"
    );
    assert_eq!(e["columns"], serde_json::json!(["k"]), "{e:#}");
    assert!(!err.contains("does not exist"), "{err}");
}

/// A table never analyzed (`reltuples` -1) holds the rows the planner
/// sees in its pages: its index's estimated size counts them, where it
/// was once an empty index's two pages (16 kB for 4.9 MB built). Without
/// statistics neither the planner's row count (it guesses the text
/// column's width) nor the repeats per key are exact: within half and
/// twice the built size.
#[tokio::test]
async fn a_never_analyzed_tables_index_size_counts_its_rows() {
    let (db, dir) = crate::support::seeded(
        "CREATE EXTENSION hypopg;",
        &[("fresh", "SELECT * FROM fresh WHERE z = 42")],
    )
    .await;
    let client = db.client().await;
    // Created after the seeding's VACUUM ANALYZE, and kept from autovacuum.
    client
        .batch_execute(
            "CREATE TABLE fresh (id int, z int, w text) WITH (autovacuum_enabled = off);
             INSERT INTO fresh SELECT g, g % 100000, 'w' || g FROM generate_series(1, 300000) g;",
        )
        .await
        .unwrap();
    let (_, report, err) = check(dir.path(), &db, &[]);
    let found = missing_index(&report);
    assert_eq!(found.len(), 1, "{err}");
    let e = &found[0]["evidence"];
    let ratio = built_size_ratio(&client, e, "fresh_z_idx").await;
    assert!((0.85..=1.15).contains(&ratio), "{e:#}: {ratio:.2}x");
}

/// Long text keys kept out of line in the table's TOAST relation, whose
/// `pg_stats.avg_width` is the 18-byte pointer: the index's estimated size
/// is what building it takes (a 2,240-byte key: three tuples a leaf page,
/// two with the high key), where it was once a fortieth of it; and a key
/// longer than a btree entry holds (3,200 bytes) gets no suggestion, whose
/// `CREATE INDEX` fails, and says why.
#[tokio::test]
async fn long_toasted_keys_are_sized_as_built_and_too_long_ones_get_no_index() {
    let (db, dir) = crate::support::seeded(
        "CREATE EXTENSION hypopg;
         CREATE TABLE longk (id int, k text, pad text);
         INSERT INTO longk
             SELECT g, (SELECT string_agg(md5((g * 97 + i)::text), '') FROM generate_series(1, 70) i),
                    repeat('p', 200)
               FROM generate_series(1, 6000) g;
         CREATE TABLE hugek (id int, k text, pad text);
         INSERT INTO hugek
             SELECT g, (SELECT string_agg(md5((g * 89 + i)::text), '') FROM generate_series(1, 100) i),
                    repeat('p', 200)
               FROM generate_series(1, 6000) g;",
        &[],
    )
    .await;
    let client = db.client().await;
    let mut queries = Vec::new();
    for table in ["longk", "hugek"] {
        let (width, key): (i32, String) = client
            .query_one(
                &format!(
                    "SELECT (SELECT avg_width FROM pg_stats WHERE tablename = '{table}' AND attname = 'k'),
                            k FROM {table} WHERE id = 77"
                ),
                &[],
            )
            .await
            .map(|row| (row.get(0), row.get(1)))
            .unwrap();
        assert!(width < 100, "{table}: out of line, avg_width {width}");
        queries.push((table, format!("SELECT * FROM {table} WHERE k = '{key}'")));
    }
    let queries: Vec<(&str, &str)> = queries.iter().map(|(t, q)| (*t, q.as_str())).collect();
    crate::support::write_queries(dir.path(), &queries);
    std::fs::write(
        dir.path().join("planguard.toml"),
        "[thresholds]\nseq_scan_min_rows = 1000\n",
    )
    .unwrap();
    let (_, report, err) = check(dir.path(), &db, &[]);
    let found = missing_index(&report);
    assert_eq!(found.len(), 1, "{err}");
    let e = &found[0]["evidence"];
    assert_eq!(e["relation"], "public.longk", "{e:#}");
    let ratio = built_size_ratio(&client, e, "longk_k_idx").await;
    assert!((0.85..=1.15).contains(&ratio), "{e:#}: {ratio:.2}x");
    // The too long key: the seq-scan finding says why there is no index.
    let no_index: Vec<&serde_json::Value> = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["id"] == "hugek")
        .flat_map(|q| q["findings"].as_array().unwrap())
        .filter(|f| f["rule"] == "seq-scan")
        .map(|f| &f["evidence"]["no_index"])
        .collect();
    assert_eq!(no_index.len(), 1, "{report:#}");
    assert_eq!(no_index[0]["reason"], "too_wide", "{no_index:?}");
    crate::support::assert_matches_schema("report.schema.json", &report);
    assert!(
        no_index[0]["detail"]
            .as_str()
            .unwrap()
            .contains("k up to 3200 bytes"),
        "{no_index:?}"
    );
    let failed = client
        .batch_execute("CREATE INDEX ON hugek (k)")
        .await
        .unwrap_err();
    assert!(
        format!("{failed:?}").contains("exceeds btree version 4 maximum 2704"),
        "{failed:?}"
    );
}

/// A NULL-able flag tested with `IS TRUE` (which PostgreSQL keeps as
/// written, and serves from a partial index only when its WHERE says the
/// same) gets `(country) WHERE gold IS TRUE`; once it got nothing (the
/// test was no equality), and beside a query with the bare flag both got
/// the whole `(gold, country)` (the two scans' partial indexes differ, so
/// neither was offered): now each its own, a few pages each.
#[tokio::test]
async fn a_flag_tested_with_is_true_gets_a_partial_index_in_those_words() {
    let queries = [
        (
            "bare",
            "SELECT id FROM flagged WHERE gold AND country = 'C4'",
        ),
        (
            "is_true",
            "SELECT id FROM flagged WHERE gold IS TRUE AND country = 'C7'",
        ),
    ];
    let (db, dir) = crate::support::seeded(
        "CREATE EXTENSION hypopg;
         CREATE TABLE flagged (id int PRIMARY KEY, gold boolean, country text);
         INSERT INTO flagged
             SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE g % 100 = 1 END,
                    CASE WHEN g % 5 < 3 THEN 'US' ELSE 'C' || (g % 20) END
               FROM generate_series(1, 100000) g;",
        &queries,
    )
    .await;
    assert_eq!(
        suggested(dir.path(), &db, &["is_true"], &[]),
        ["public.flagged (country) WHERE gold IS TRUE"]
    );
    assert_eq!(
        suggested(dir.path(), &db, &["bare", "is_true"], &[]),
        [
            "public.flagged (country) WHERE gold",
            "public.flagged (country) WHERE gold IS TRUE"
        ]
    );
    let (_, report, _) = check(dir.path(), &db, &["--query", "is_true"]);
    let ddl = missing_index(&report)[0]["evidence"]["ddl"]
        .as_str()
        .unwrap()
        .to_owned();
    built_and_used(
        &db,
        &ddl,
        "flagged",
        "SELECT id FROM flagged WHERE gold IS TRUE AND country = 'C7'",
        "flagged_country_idx",
    )
    .await;
}

/// Two indexes no plan of the set uses, one a left prefix of the other:
/// the prefix is redundant, covered by the wider one, which stays; it was
/// once reported unused as well, and the script dropped both, leaving the
/// prefix's queries beyond the set with neither.
#[tokio::test]
async fn the_index_covering_a_redundant_prefix_is_not_dropped_too() {
    let (db, dir) = crate::support::seeded(
        "CREATE TABLE cov (id int PRIMARY KEY, a int, b int, c int);
         INSERT INTO cov SELECT g, g % 1000, g % 7, g FROM generate_series(1, 50000) g;
         CREATE INDEX cov_a ON cov (a);
         CREATE INDEX cov_a_b ON cov (a, b);
         CREATE INDEX cov_c ON cov (c);",
        &[("by_c", "SELECT * FROM cov WHERE c = 42")],
    )
    .await;
    let (_, report, err) = check(dir.path(), &db, &["--hypopg", "off"]);
    let found: Vec<(String, String)> = redundant_index(&report)
        .into_iter()
        .map(|f| {
            let e = &f["evidence"];
            (
                e["index"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [("public.cov_a".to_owned(), "left_prefix".to_owned())],
        "{err}"
    );
    let (_, script, _) = crate::support::run_in(
        dir.path(),
        &[
            "check",
            "-d",
            &db.conninfo,
            "--runs",
            "1",
            "--hypopg",
            "off",
            "--format",
            "sql",
        ],
    );
    assert!(
        script.contains("DROP INDEX CONCURRENTLY IF EXISTS public.cov_a;"),
        "{script}"
    );
    assert!(!script.contains("IF EXISTS public.cov_a_b"), "{script}");
}

/// A parameterized query's flag written in its text (`WHERE vip AND
/// country = $1`) is the same in every run: it gets the partial index
/// `(country) WHERE vip`, where the whole `(vip, country)` was once
/// suggested. A flag compared with a placeholder (`vip = $1`, whose
/// custom plan prints the bound `true` as a bare `vip`) still gets none.
#[tokio::test]
async fn a_flag_in_a_parameterized_querys_text_gets_a_partial_index() {
    let queries = [
        (
            "vip_text",
            "-- planguard: params = [\"C4\"]\nSELECT id FROM members WHERE vip AND country = $1",
        ),
        (
            "vip_bound",
            "-- planguard: params = [true, \"C4\"]\nSELECT id FROM members WHERE vip = $1 AND country = $2",
        ),
    ];
    let (db, dir) = crate::support::seeded(DEFECTS_SCHEMA, &queries).await;
    assert_eq!(
        suggested(dir.path(), &db, &["vip_text"], &[]),
        ["public.members (country) WHERE vip"]
    );
    let bound = suggested(dir.path(), &db, &["vip_bound"], &[]);
    assert!(
        !bound.is_empty() && bound.iter().all(|s| !s.contains("WHERE")),
        "{bound:?}"
    );
}
