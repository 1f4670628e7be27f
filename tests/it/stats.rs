//! Production planner statistics on a small CI database (issue 17): a
//! "production" database and a "CI" database with the same schema, far
//! fewer rows and other value distributions, six queries whose CI plans
//! differ from production's for different reasons (parallelism, join
//! strategy, aggregate strategy, index choice), compared by plan shape
//! (`snapshot --check`) as they are, with the statistics imported, and
//! with `--stats` (statistics and the planguard_stats module), on 15 and
//! 18. Also: the export on every version (from the matrix), the hash
//! refusal, redaction, hidden columns, tables missing in CI.

use std::collections::BTreeSet;
use std::path::Path;

use planguard::tempdb::{TempDb, TempDbOptions};
use serde_json::Value;

use crate::support::{self, run_in, write_queries};

/// The schema of both databases.
const SCHEMA: &str = "
CREATE TABLE customers (id int PRIMARY KEY, tier text NOT NULL, name text NOT NULL);
CREATE TABLE orders (
  id int PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers,
  status text NOT NULL,
  created_at timestamptz NOT NULL,
  total numeric(10,2) NOT NULL);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE INDEX orders_status_idx ON orders (status);
CREATE INDEX orders_created_at_idx ON orders (created_at);
";

/// Production: 50,000 customers (1% platinum), 300,000 orders over a
/// year, 0.1% refunded.
const PRODUCTION: &str = "
INSERT INTO customers
  SELECT g, CASE WHEN g % 100 = 0 THEN 'platinum' WHEN g % 10 = 0 THEN 'gold' ELSE 'basic' END,
         'customer ' || g
  FROM generate_series(1, 50000) g;
INSERT INTO orders
  SELECT g, 1 + (g::bigint * 7919) % 50000,
         CASE WHEN g % 1000 = 0 THEN 'refunded' WHEN g % 10 = 0 THEN 'pending' ELSE 'shipped' END,
         timestamptz '2024-01-01' + (g * interval '1 year') / 300000,
         (g % 500) + 0.99
  FROM generate_series(1, 300000) g;
";

/// CI fixtures: 200 customers and 1,000 orders, tiers and statuses
/// evenly spread, six weeks of dates.
const CI: &str = "
INSERT INTO customers
  SELECT g, (ARRAY['basic', 'gold', 'platinum'])[1 + g % 3], 'customer ' || g
  FROM generate_series(1, 200) g;
INSERT INTO orders
  SELECT g, 1 + g % 200, (ARRAY['shipped', 'pending', 'refunded'])[1 + g % 3],
         timestamptz '2024-01-01' + g * interval '1 hour', (g % 500) + 0.99
  FROM generate_series(1, 1000) g;
";

const QUERIES: &[(&str, &str)] = &[
    ("key_lookup", "SELECT * FROM orders WHERE id = 4242"),
    (
        "rare_status",
        "SELECT * FROM orders WHERE status = 'refunded'",
    ),
    (
        "common_status",
        "SELECT count(*) FROM orders WHERE status = 'shipped'",
    ),
    (
        "platinum_join",
        "SELECT o.id, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tier = 'platinum'",
    ),
    (
        "date_range",
        "SELECT * FROM orders WHERE created_at >= '2024-03-01' AND created_at < '2024-03-03'",
    ),
    (
        "top_customers",
        "SELECT customer_id, sum(total) FROM orders GROUP BY customer_id ORDER BY 2 DESC LIMIT 10",
    ),
];

/// Queries whose CI plan differs from production's as the CI database is.
const DIFFER_AS_IS: &[&str] = &[
    "common_status",
    "platinum_join",
    "rare_status",
    "top_customers",
];

/// With production's statistics imported into CI (18) but the planner
/// still scaling row counts to the CI files' sizes: only the plan that
/// needed production's column statistics (the rare status, an MCV) is
/// fixed.
const DIFFER_STATISTICS_ONLY: &[&str] = &["common_status", "platinum_join", "top_customers"];

/// With production's table and index sizes only (15: no column statistics
/// can be imported): the aggregate strategy, which depends on the table's
/// size alone, matches; the others need production's value distributions.
const DIFFER_SIZES_ONLY: &[&str] = &["common_status", "platinum_join", "rare_status"];

fn cluster(major: u32) -> Option<TempDb> {
    let options = crate::support::version_options(major)?
        // Imported statistics stay until an ANALYZE replaces them (docs).
        .setting("autovacuum", "off")
        .setting("lc_messages", "C");
    Some(support::own_cluster(options))
}

/// Whether the planguard_stats module is installed for this server
/// (`.ci/run` builds it for 15 and 18).
async fn module_installed(client: &tokio_postgres::Client, major: u32) -> bool {
    match client
        .batch_execute("LOAD '$libdir/plugins/planguard_stats'")
        .await
    {
        Ok(()) => true,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "planguard_stats is not installed for PostgreSQL {major} under CI=true: {e}"
                );
            }
            eprintln!(
                "SKIPPED: planguard_stats is not installed for PostgreSQL {major} (make -C extension/planguard_stats PG_CONFIG=... install): {e}"
            );
            false
        }
    }
}

/// The query ids `snapshot --check` printed a diff for.
fn changed(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("--- a/")?.strip_suffix(".plan"))
        .map(str::to_owned)
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Validates a statistics file against docs/stats.schema.json.
pub fn assert_stats_schema(file: &Value) {
    crate::support::assert_matches_schema("stats.schema.json", file);
}

async fn reltuples(client: &tokio_postgres::Client, table: &str) -> f64 {
    client
        .query_one(
            "SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass($1)",
            &[&table],
        )
        .await
        .unwrap()
        .get(0)
}

async fn production_plans_in_ci(major: u32) {
    let Some(cluster) = cluster(major) else {
        return;
    };
    let admin = support::connect(&cluster.conninfo("postgres")).await;
    if !module_installed(&admin, major).await {
        return;
    }
    for name in ["prod", "ci", "ci_without_orders"] {
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    }
    let (prod, ci) = (cluster.conninfo("prod"), cluster.conninfo("ci"));
    for (conninfo, data) in [(&prod, PRODUCTION), (&ci, CI)] {
        let client = support::connect(conninfo).await;
        client.batch_execute(SCHEMA).await.unwrap();
        client.batch_execute(data).await.unwrap();
        client.batch_execute("VACUUM ANALYZE").await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_queries(root, QUERIES);
    let v = |s: &str| format!("PostgreSQL {major}: {s}");

    // The export: the two tables the queries read, sorted, versioned,
    // stable from one export to the next.
    let (code, _, stderr) = run_in(
        root,
        &["stats", "export", "-d", &prod, "--out", "stats.json"],
    );
    assert_eq!(code, 0, "{}", v(&stderr));
    assert!(stderr.contains("real data"), "{}", v(&stderr));
    let first = std::fs::read(root.join("stats.json")).unwrap();
    let file = read_json(&root.join("stats.json"));
    assert_stats_schema(&file);
    assert_eq!(
        file["source"]["server_version_num"].as_u64().unwrap() / 10000,
        u64::from(major)
    );
    let tables: Vec<&str> = file["relations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["customers", "orders"]);
    let orders = &file["relations"][1];
    assert_eq!(orders["reltuples"].as_f64(), Some(300_000.0));
    assert_eq!(orders["indexes"].as_array().unwrap().len(), 4);
    assert_eq!(orders["relallfrozen"].is_i64(), major >= 18);
    let status = orders["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "status")
        .unwrap();
    assert!(
        status["most_common_vals"]
            .as_str()
            .unwrap()
            .contains("shipped"),
        "{status}"
    );
    let (code, _, stderr) = run_in(
        root,
        &["stats", "export", "-d", &prod, "--out", "stats.json"],
    );
    assert_eq!(code, 0, "{}", v(&stderr));
    assert_eq!(
        std::fs::read(root.join("stats.json")).unwrap(),
        first,
        "stable output"
    );
    let sha = planguard::hash::sha256_hex(&first);

    // Production's plan shapes, recorded on production.
    let (code, _, stderr) = run_in(root, &["snapshot", "--update", "-d", &prod]);
    assert_eq!(code, 0, "{}", v(&stderr));

    // CI as it is.
    let (code, stdout, stderr) = run_in(root, &["snapshot", "--check", "-d", &ci]);
    assert_eq!(code, 1, "{}", v(&stderr));
    assert_eq!(changed(&stdout), set(DIFFER_AS_IS), "{}", v(&stdout));

    // CI with --stats: the statistics and the module in planguard's
    // sessions only.
    let (code, stdout, stderr) = run_in(
        root,
        &["snapshot", "--check", "-d", &ci, "--stats", "stats.json"],
    );
    let client = support::connect(&ci).await;
    if major >= 18 {
        assert_eq!(code, 0, "{}", v(&format!("{stdout}{stderr}")));
        assert!(changed(&stdout).is_empty());
    } else {
        assert_eq!(code, 1, "{}", v(&stderr));
        assert_eq!(changed(&stdout), set(DIFFER_SIZES_ONLY), "{}", v(&stdout));
        assert_eq!(
            stderr.matches("cannot import column statistics").count(),
            1,
            "said once: {stderr}"
        );
    }
    // The run wrote nothing: the restore was rolled back with each plan.
    assert_eq!(
        reltuples(&client, "orders").await,
        1000.0,
        "{}",
        v("catalog")
    );

    // Baselines under --stats record the file's hash; another file is
    // refused unless --allow-stats-mismatch.
    let (code, _, stderr) = run_in(
        root,
        &[
            "baseline",
            "-d",
            &ci,
            "--stats",
            "stats.json",
            "--no-analyze",
        ],
    );
    assert_eq!(code, 0, "{}", v(&stderr));
    let baseline = read_json(&root.join("baselines/top_customers.json"));
    assert_eq!(baseline["stats_sha256"].as_str(), Some(sha.as_str()));
    let mut other = file.clone();
    other["relations"][1]["reltuples"] = serde_json::json!(600_000.0);
    std::fs::write(root.join("other.json"), other.to_string()).unwrap();
    let (code, _, stderr) = run_in(
        root,
        &["check", "-d", &ci, "--stats", "other.json", "--no-analyze"],
    );
    assert_eq!(code, 2, "{}", v(&stderr));
    assert!(stderr.contains("--allow-stats-mismatch"), "{stderr}");
    let (code, _, stderr) = run_in(root, &["check", "-d", &ci, "--no-analyze"]);
    assert_eq!(code, 2, "without --stats: {}", v(&stderr));
    let (code, _, stderr) = run_in(
        root,
        &[
            "check",
            "-d",
            &ci,
            "--stats",
            "other.json",
            "--no-analyze",
            "--allow-stats-mismatch",
        ],
    );
    assert_ne!(code, 2, "{}", v(&stderr));
    // The same for snapshots recorded under --stats.
    let (code, _, stderr) = run_in(
        root,
        &[
            "snapshot",
            "--update",
            "-d",
            &ci,
            "--stats",
            "stats.json",
            "--snapshots",
            "ci_snapshots",
        ],
    );
    assert_eq!(code, 0, "{}", v(&stderr));
    assert!(
        std::fs::read_to_string(root.join("ci_snapshots/key_lookup.plan"))
            .unwrap()
            .contains(&format!("# stats: sha256:{sha}\n"))
    );
    let (code, _, stderr) = run_in(
        root,
        &[
            "snapshot",
            "--check",
            "-d",
            &ci,
            "--stats",
            "other.json",
            "--snapshots",
            "ci_snapshots",
        ],
    );
    assert_eq!(code, 2, "{}", v(&stderr));

    // A table missing in CI is named and skipped.
    let partial = cluster.conninfo("ci_without_orders");
    support::connect(&partial)
        .await
        .batch_execute(
            "CREATE TABLE customers (id int PRIMARY KEY, tier text NOT NULL); ANALYZE customers",
        )
        .await
        .unwrap();
    let (code, _, stderr) = run_in(
        root,
        &[
            "snapshot",
            "--update",
            "-d",
            &partial,
            "--stats",
            "stats.json",
            "--snapshots",
            "partial",
            "--query",
            "key_lookup",
        ],
    );
    assert!(
        stderr.contains("table public.orders is not in this database: skipped"),
        "{}",
        v(&stderr)
    );
    assert!(
        stderr.contains("column public.customers.name is not in this database"),
        "{}",
        v(&stderr)
    );
    assert_eq!(code, 1, "the query fails: no orders table: {stderr}");

    // `stats import`: for good on 18 (then the column statistics count,
    // the sizes still do not without the module); refused before 18.
    let (code, _, stderr) = run_in(root, &["stats", "import", "-d", &ci, "stats.json"]);
    if major < 18 {
        assert_eq!(code, 2, "{}", v(&stderr));
        assert!(stderr.contains("PostgreSQL 18+"), "{stderr}");
        eprintln!(
            "PostgreSQL {major}: same shape as production: as is {}/6, sizes through planguard_stats {}/6",
            6 - DIFFER_AS_IS.len(),
            6 - DIFFER_SIZES_ONLY.len()
        );
        return;
    }
    assert_eq!(code, 0, "{}", v(&stderr));
    assert_eq!(reltuples(&client, "orders").await, 300_000.0);
    let (code, stdout, stderr) = run_in(root, &["snapshot", "--check", "-d", &ci]);
    assert_eq!(code, 1, "{}", v(&stderr));
    assert_eq!(
        changed(&stdout),
        set(DIFFER_STATISTICS_ONLY),
        "{}",
        v(&stdout)
    );
    // After the import, the module in catalog mode: a session that
    // enables it plans the common status like production (in parallel),
    // one that does not plans it as before, at the same time.
    let explain = async |client: &tokio_postgres::Client| -> String {
        client
            .query(
                "EXPLAIN (COSTS OFF) SELECT count(*) FROM orders WHERE status = 'shipped'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0) + "\n")
            .collect()
    };
    let other = support::connect(&ci).await;
    client
        .batch_execute("LOAD '$libdir/plugins/planguard_stats'; SET planguard_stats.enabled = on")
        .await
        .unwrap();
    assert!(
        explain(&client).await.contains("Gather"),
        "{}",
        explain(&client).await
    );
    assert!(
        !explain(&other).await.contains("Gather"),
        "{}",
        explain(&other).await
    );
    // A malformed override list is refused with the reason.
    let error = client
        .batch_execute("SET planguard_stats.relations = 'orders'")
        .await
        .unwrap_err();
    let db = error.as_db_error().unwrap();
    assert!(db.message().contains("planguard_stats.relations"), "{db:?}");
    assert_eq!(
        db.detail(),
        Some("each entry is oid:pages:tuples:allvisible")
    );
    // A role that may only read cannot restore the statistics: --stats
    // then plans with what `stats import` left in the catalog, and names
    // a table analyzed since.
    let reader = "stats_ci_reader";
    client
        .batch_execute(&format!(
            "CREATE ROLE {reader} LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}"
        ))
        .await
        .unwrap();
    let as_reader = format!("{ci} user={reader}");
    let (code, stdout, stderr) = run_in(
        root,
        &[
            "snapshot",
            "--check",
            "-d",
            &as_reader,
            "--stats",
            "stats.json",
        ],
    );
    assert_eq!(code, 0, "{}", v(&format!("{stdout}{stderr}")));
    assert!(
        stderr.contains("this role cannot restore the statistics"),
        "{stderr}"
    );
    assert!(!stderr.contains("does not hold"), "{stderr}");
    other.batch_execute("ANALYZE orders").await.unwrap();
    let (_, _, stderr) = run_in(
        root,
        &[
            "snapshot",
            "--check",
            "-d",
            &as_reader,
            "--stats",
            "stats.json",
        ],
    );
    assert!(
        stderr.contains("public.orders: the catalog does not hold the file's statistics: never imported (`planguard stats import`), or replaced by an ANALYZE since (last analyzed "),
        "{}",
        v(&stderr)
    );
    assert!(
        !stderr.contains("public.customers: the catalog"),
        "{stderr}"
    );
    eprintln!(
        "PostgreSQL {major}: same shape as production: as is {}/6, statistics imported {}/6, statistics and planguard_stats 6/6",
        6 - DIFFER_AS_IS.len(),
        6 - DIFFER_STATISTICS_ONLY.len()
    );
}

#[tokio::test]
async fn production_plans_in_ci_pg15() {
    production_plans_in_ci(15).await;
}

#[tokio::test]
async fn production_plans_in_ci_pg18() {
    production_plans_in_ci(18).await;
}

/// Export by a role that may read some columns only: the others are
/// named as hidden and carry no statistics; `--redact` drops a column's
/// values but keeps its other figures; a `--redact` naming no column is
/// an input error.
#[tokio::test]
async fn export_privileges_and_redaction() {
    let (db, dir) = support::seeded(
        "CREATE TABLE customers (id int PRIMARY KEY, tier text NOT NULL, email text NOT NULL);
         INSERT INTO customers SELECT g, CASE WHEN g % 10 = 0 THEN 'gold' ELSE 'basic' END,
                'user' || g || '@example.com' FROM generate_series(1, 2000) g;",
        &[("by_tier", "SELECT id FROM customers WHERE tier = 'gold'")],
    )
    .await;
    let root = dir.path();
    let client = db.client().await;
    let role = format!("stats_reader_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; GRANT SELECT (id, tier) ON customers TO {role}"
        ))
        .await
        .unwrap();
    let as_reader = format!("{} user={role}", db.conninfo);
    let (code, _, stderr) = run_in(
        root,
        &["stats", "export", "-d", &as_reader, "--out", "s.json"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("public.customers.email"), "{stderr}");
    let file = read_json(&root.join("s.json"));
    assert_stats_schema(&file);
    assert_eq!(
        file["hidden_columns"],
        serde_json::json!(["public.customers.email"])
    );
    let columns: Vec<&str> = file["relations"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["id", "tier"]);

    let (code, _, stderr) = run_in(
        root,
        &[
            "stats",
            "export",
            "-d",
            &db.conninfo,
            "--out",
            "r.json",
            "--redact",
            "customers.tier",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let file = read_json(&root.join("r.json"));
    assert_eq!(
        file["redacted_columns"],
        serde_json::json!(["public.customers.tier"])
    );
    let tier = file["relations"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tier")
        .unwrap();
    assert!(tier["most_common_vals"].is_null(), "{tier}");
    assert!(tier["n_distinct"].is_number(), "{tier}");
    let text = std::fs::read_to_string(root.join("r.json")).unwrap();
    assert!(!text.contains("gold"), "the redacted value leaked: {text}");
    // The e-mail addresses are in the file unless redacted: real data.
    let (code, _, stderr) = run_in(
        root,
        &[
            "stats",
            "export",
            "-d",
            &db.conninfo,
            "--out",
            "x.json",
            "--redact",
            "customers.nope",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--redact customers.nope"), "{stderr}");
    assert!(!root.join("x.json").exists());
    client
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .await
        .unwrap();
}

/// A statistics file that is not one is an input error naming it, before
/// anything runs.
#[tokio::test]
async fn broken_statistics_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_queries(root, &[("one", "SELECT 1")]);
    std::fs::write(
        root.join("bad.json"),
        "{\"format\": \"planguard-stats\", \"format_version\": 7}",
    )
    .unwrap();
    let (code, _, stderr) = run_in(
        root,
        &["check", "-d", "host=/nonexistent", "--stats", "bad.json"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("bad.json: statistics format_version 7"),
        "{stderr}"
    );
}

/// The export on every version of the matrix (called from its workflow):
/// `--all` with element and range statistics, valid against the schema,
/// `relallfrozen` on 18 only, range histograms on 17+; on 18 a round trip
/// through `stats import` into a second database gives the same pg_stats.
pub async fn export_on(major: u32, cluster: &TempDb, root: &Path, conninfo: &str) {
    let client = support::connect(conninfo).await;
    client
        .batch_execute(
            "CREATE TABLE stats_shapes (id int PRIMARY KEY, tags text[] NOT NULL, span int4range NOT NULL);
             INSERT INTO stats_shapes SELECT g, ARRAY['t' || g % 7, 't' || g % 3], int4range(g, g + g % 50)
               FROM generate_series(1, 3000) g;
             CREATE STATISTICS stats_shapes_ext (ndistinct) ON id, span FROM stats_shapes;
             ANALYZE stats_shapes;",
        )
        .await
        .unwrap();
    let (code, _, stderr) = run_in(
        root,
        &[
            "stats", "export", "-d", conninfo, "--all", "--out", "all.json",
        ],
    );
    assert_eq!(code, 0, "PostgreSQL {major}: {stderr}");
    let file = read_json(&root.join("all.json"));
    assert_stats_schema(&file);
    let rel = file["relations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "stats_shapes")
        .unwrap();
    assert_eq!(
        rel["relallfrozen"].is_i64(),
        major >= 18,
        "PostgreSQL {major}"
    );
    let column = |name: &str| {
        rel["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    assert!(
        column("tags")["most_common_elems"].is_string(),
        "PostgreSQL {major}"
    );
    assert_eq!(
        column("span")["range_length_histogram"].is_string(),
        major >= 17,
        "PostgreSQL {major}: {}",
        column("span")
    );
    assert_eq!(
        rel["extended"][0]["name"], "stats_shapes_ext",
        "PostgreSQL {major}"
    );
    // Where planguard_stats is not installed (CI builds it for 15 and 18
    // only), --stats goes on and says what it cannot do.
    if client
        .batch_execute("LOAD '$libdir/plugins/planguard_stats'")
        .await
        .is_err()
    {
        let (code, _, stderr) = run_in(
            root,
            &[
                "snapshot",
                "--update",
                "-d",
                conninfo,
                "--stats",
                "all.json",
                "--snapshots",
                "stats_snapshots",
                "--query",
                "orders/by_customer",
            ],
        );
        assert_eq!(code, 0, "PostgreSQL {major}: {stderr}");
        assert!(
            stderr.contains("planguard_stats is not installed on this server")
                && stderr.contains("still follow the CI tables' real sizes"),
            "PostgreSQL {major}: {stderr}"
        );
        assert_eq!(
            stderr.contains("cannot import column statistics"),
            major < 18,
            "PostgreSQL {major}: {stderr}"
        );
    }
    client
        .batch_execute("DROP TABLE stats_shapes")
        .await
        .unwrap();
    if major < 18 {
        return;
    }
    // Round trip: the same table elsewhere, empty, takes the statistics.
    let admin = support::connect(&cluster.conninfo("postgres")).await;
    admin
        .batch_execute("CREATE DATABASE stats_copy")
        .await
        .unwrap();
    let copy = cluster.conninfo("stats_copy");
    let target = support::connect(&copy).await;
    target
        .batch_execute("CREATE TABLE stats_shapes (id int PRIMARY KEY, tags text[] NOT NULL, span int4range NOT NULL)")
        .await
        .unwrap();
    std::fs::write(
        root.join("shapes.json"),
        serde_json::json!({
            "format": "planguard-stats", "format_version": 1,
            "source": file["source"], "hidden_columns": [], "redacted_columns": [],
            "relations": [rel],
        })
        .to_string(),
    )
    .unwrap();
    let (code, _, stderr) = run_in(root, &["stats", "import", "-d", &copy, "shapes.json"]);
    assert_eq!(code, 0, "PostgreSQL {major}: {stderr}");
    let (code, _, stderr) = run_in(
        root,
        &[
            "stats",
            "export",
            "-d",
            &copy,
            "--schema",
            "public",
            "--out",
            "copy.json",
        ],
    );
    assert_eq!(code, 0, "PostgreSQL {major}: {stderr}");
    let copied = read_json(&root.join("copy.json"));
    let back = &copied["relations"][0];
    assert_eq!(back["columns"], rel["columns"], "PostgreSQL {major}");
    assert_eq!(back["reltuples"], rel["reltuples"]);
    assert_eq!(back["relpages"], rel["relpages"]);
}

/// Creates the databases `names` on `cluster` and returns their conninfo.
async fn databases(cluster: &TempDb, names: &[&str]) -> Vec<String> {
    let admin = support::connect(&cluster.conninfo("postgres")).await;
    let mut out = Vec::new();
    for name in names {
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        out.push(cluster.conninfo(name));
    }
    out
}

/// `stats import` that imports nothing is an error naming the file: a
/// role that may not restore the statistics (exit 3), a database without
/// any of the file's tables (exit 2).
#[tokio::test]
async fn import_of_nothing_is_an_error() {
    let Some(cluster) = cluster(18) else {
        return;
    };
    let [prod, other] = &databases(&cluster, &["prod", "other"]).await[..] else {
        unreachable!()
    };
    let client = support::connect(prod).await;
    client
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, kind text);
             INSERT INTO items SELECT g, 'k' || g % 5 FROM generate_series(1, 2000) g;
             ANALYZE items;
             CREATE ROLE stats_importer LOGIN; GRANT SELECT ON items TO stats_importer;",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (code, _, stderr) = run_in(
        root,
        &["stats", "export", "-d", prod, "--all", "--out", "s.json"],
    );
    assert_eq!(code, 0, "{stderr}");

    let (code, _, stderr) = run_in(root, &["stats", "import", "-d", other, "s.json"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        stderr.trim(),
        "error: s.json: nothing imported: none of its 1 table(s) is in this database (is it the right database?): public.items"
    );

    let as_importer = format!("{prod} user=stats_importer");
    let (code, _, stderr) = run_in(root, &["stats", "import", "-d", &as_importer, "s.json"]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("s.json: nothing imported: this role cannot restore the statistics (")
            && stderr.contains("permission denied"),
        "{stderr}"
    );
    assert!(!stderr.contains("imported from"), "{stderr}");
}

/// Statistics of date and time columns go through the file in ISO form
/// and UTC, whatever the exporting role's DateStyle and TimeZone: the
/// import into a session with other settings gives the same values
/// (day-first dates are not read month-first). Under `--stats` the
/// query is still planned and printed with the session's own settings.
#[tokio::test]
async fn statistics_do_not_depend_on_the_session_settings() {
    let Some(cluster) = cluster(18) else {
        return;
    };
    let [prod, ci] = &databases(&cluster, &["prod", "ci"]).await[..] else {
        unreachable!()
    };
    let schema = "CREATE TABLE events (id int PRIMARY KEY, created_at timestamptz NOT NULL, day date NOT NULL, took interval NOT NULL)";
    let admin = support::connect(&cluster.conninfo("postgres")).await;
    admin
        .batch_execute(
            "CREATE ROLE tzuser LOGIN;
             ALTER ROLE tzuser SET timezone = 'Asia/Tokyo';
             ALTER ROLE tzuser SET datestyle = 'SQL, DMY';
             ALTER ROLE tzuser SET intervalstyle = 'sql_standard'",
        )
        .await
        .unwrap();
    for conninfo in [prod, ci] {
        let client = support::connect(conninfo).await;
        client
            .batch_execute(&format!("{schema}; ALTER TABLE events OWNER TO tzuser"))
            .await
            .unwrap();
    }
    let client = support::connect(prod).await;
    client
        .batch_execute(
            "INSERT INTO events SELECT g * 10 + h, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 day',
                    date '2025-01-01' + g % 40, g * interval '1 hour 1 minute'
               FROM generate_series(1, 300) g, generate_series(1, 10) h;
             ANALYZE events",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let as_tz = |conninfo: &str| format!("{conninfo} user=tzuser");
    let (code, _, stderr) = run_in(
        root,
        &[
            "stats",
            "export",
            "-d",
            &as_tz(prod),
            "--all",
            "--out",
            "s.json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(root.join("s.json")).unwrap();
    assert!(text.contains("\\\"2025-06-04 00:00:00+00\\\""), "{text}");
    assert!(!text.contains("JST"), "{text}");
    // Imported by the default (ISO, MDY) superuser session.
    let (code, _, stderr) = run_in(root, &["stats", "import", "-d", ci, "s.json"]);
    assert_eq!(code, 0, "{stderr}");
    let stats = async |conninfo: &str| -> Vec<(String, Option<String>, Option<String>)> {
        support::connect(conninfo)
            .await
            .query(
                "SELECT attname::text, histogram_bounds::text, most_common_vals::text
                   FROM pg_stats WHERE tablename = 'events' ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    };
    let imported = stats(ci).await;
    assert_eq!(imported.len(), 4, "{imported:?}");
    assert_eq!(imported, stats(prod).await);

    // --stats as the role with its own settings: the restore in each
    // transaction reads the file right, the query keeps the role's
    // settings (the plan prints its constant day-first, in JST).
    support::connect(ci)
        .await
        .batch_execute("TRUNCATE events; ANALYZE events")
        .await
        .unwrap();
    write_queries(
        root,
        &[(
            "recent",
            "SELECT id FROM events WHERE created_at >= '05/06/2025'",
        )],
    );
    let (code, _, stderr) = run_in(
        root,
        &[
            "snapshot",
            "--update",
            "-d",
            &as_tz(ci),
            "--stats",
            "s.json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let plan = std::fs::read_to_string(root.join("snapshots/recent.plan")).unwrap();
    assert!(plan.contains("05/06/2025 00:00:00 JST"), "{plan}");
}

/// A partitioned table, its partitions and a partitioned index.
const PARTITIONED: &str = "
CREATE TABLE orders (id int NOT NULL, customer_id int NOT NULL, status text NOT NULL, created date NOT NULL)
  PARTITION BY RANGE (created);
CREATE TABLE orders_2024 PARTITION OF orders FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE orders_2025 PARTITION OF orders FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
";

/// Rows for [`PARTITIONED`]: few statuses, so that each has MCVs.
const PARTITIONED_ROWS: &str = "
INSERT INTO orders SELECT g, g % 300, (ARRAY['shipped', 'pending', 'refunded'])[1 + g % 3],
       date '2024-01-01' + g % 700 FROM generate_series(1, 20000) g;
ANALYZE orders;
";

/// The indexes of a partitioned table (relkind `I`) are found in the
/// target: not reported missing, and restored on 18.
async fn partitioned_indexes_are_found(major: u32) {
    let Some(cluster) = cluster(major) else {
        return;
    };
    let [prod, ci] = &databases(&cluster, &["prod", "ci"]).await[..] else {
        unreachable!()
    };
    support::connect(prod)
        .await
        .batch_execute(&format!("{PARTITIONED}{PARTITIONED_ROWS}"))
        .await
        .unwrap();
    support::connect(ci)
        .await
        .batch_execute(PARTITIONED)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_queries(
        root,
        &[("by_customer", "SELECT * FROM orders WHERE customer_id = 7")],
    );
    let (code, _, stderr) = run_in(root, &["stats", "export", "-d", prod, "--out", "s.json"]);
    assert_eq!(code, 0, "{stderr}");
    let file = read_json(&root.join("s.json"));
    let parent = &file["relations"][0];
    assert_eq!(parent["name"], "orders");
    assert_eq!(parent["indexes"][0]["name"], "orders_customer_id_idx");
    let (code, _, stderr) = run_in(
        root,
        &["snapshot", "--update", "-d", ci, "--stats", "s.json"],
    );
    assert_eq!(code, 0, "PostgreSQL {major}: {stderr}");
    assert!(
        !stderr.contains("is not in this database"),
        "PostgreSQL {major}: {stderr}"
    );
    if major < 18 {
        return;
    }
    let (code, _, stderr) = run_in(root, &["stats", "import", "-d", ci, "s.json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("is not in this database"), "{stderr}");
}

#[tokio::test]
async fn partitioned_indexes_are_found_pg15() {
    partitioned_indexes_are_found(15).await;
}

#[tokio::test]
async fn partitioned_indexes_are_found_pg18() {
    partitioned_indexes_are_found(18).await;
}

/// `--redact` of a partitioned table's column redacts it in the
/// partitions too (their own statistics hold the same values) and says
/// so.
#[tokio::test]
async fn redaction_reaches_the_partitions() {
    let (db, dir) = support::seeded(
        &format!("{PARTITIONED}{PARTITIONED_ROWS}"),
        &[("by_customer", "SELECT * FROM orders WHERE customer_id = 7")],
    )
    .await;
    let root = dir.path();
    let (code, _, stderr) = run_in(
        root,
        &[
            "stats",
            "export",
            "-d",
            &db.conninfo,
            "--out",
            "r.json",
            "--redact",
            "orders.status",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("public.orders_2024.status, public.orders_2025.status"),
        "{stderr}"
    );
    let file = read_json(&root.join("r.json"));
    assert_eq!(
        file["redacted_columns"],
        serde_json::json!([
            "public.orders.status",
            "public.orders_2024.status",
            "public.orders_2025.status"
        ])
    );
    let text = std::fs::read_to_string(root.join("r.json")).unwrap();
    assert!(
        !text.contains("refunded"),
        "a redacted value leaked: {text}"
    );
}

/// A query whose tables cannot be read (sqlparser cannot parse it) is
/// named by its file, not skipped in silence.
#[tokio::test]
async fn export_names_the_queries_it_cannot_read() {
    let (db, dir) = support::seeded(
        "CREATE TABLE jobs (id int PRIMARY KEY, n int NOT NULL);
         CREATE TABLE runs (id int PRIMARY KEY);
         INSERT INTO jobs SELECT g, g % 4 FROM generate_series(1, 100) g;",
        &[
            (
                "lateral",
                "SELECT j.id, g FROM jobs j, LATERAL ROWS FROM (generate_series(1, j.n)) AS g",
            ),
            (
                "next_job",
                "SELECT id FROM jobs WHERE n = 1 LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED",
            ),
            ("runs", "SELECT * FROM runs"),
        ],
    )
    .await;
    let root = dir.path();
    let (code, _, stderr) = run_in(
        root,
        &["stats", "export", "-d", &db.conninfo, "--out", "s.json"],
    );
    assert_eq!(code, 0, "{stderr}");
    for file in ["lateral.sql", "next_job.sql"] {
        assert!(
            stderr.lines().any(|l| l.starts_with("warning: ")
                && l.contains(file)
                && l.contains("cannot read which tables")),
            "{file}: {stderr}"
        );
    }
    assert!(!stderr.contains("runs.sql"), "{stderr}");
}

/// `--redact` takes names quoted as in SQL and names of hidden columns;
/// hidden columns are named quoted where SQL needs it; extended
/// statistics hidden from the role are named.
#[tokio::test]
async fn names_of_hidden_and_redacted_columns() {
    let (db, dir) = support::seeded(
        "CREATE TABLE \"Customers\" (id int PRIMARY KEY, tier text NOT NULL, \"Secret Col\" text NOT NULL);
         INSERT INTO \"Customers\" SELECT g, 't' || g % 4, 's' || g % 4 FROM generate_series(1, 2000) g;
         CREATE STATISTICS customers_tier_secret (dependencies) ON tier, \"Secret Col\" FROM \"Customers\";
         CREATE STATISTICS customers_id_tier (dependencies) ON id, tier FROM \"Customers\";",
        &[("one", "SELECT 1")],
    )
    .await;
    let root = dir.path();
    let client = db.client().await;
    let role = format!("stats_names_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; GRANT SELECT (id, tier) ON \"Customers\" TO {role}"
        ))
        .await
        .unwrap();
    let as_reader = format!("{} user={role}", db.conninfo);
    let (code, _, stderr) = run_in(
        root,
        &[
            "stats",
            "export",
            "-d",
            &as_reader,
            "--all",
            "--out",
            "s.json",
            "--redact",
            "\"Customers\".tier",
            "public.\"Customers\".\"Secret Col\"",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let file = read_json(&root.join("s.json"));
    assert_eq!(
        file["hidden_columns"],
        serde_json::json!(["public.\"Customers\".\"Secret Col\""])
    );
    assert_eq!(
        file["redacted_columns"],
        serde_json::json!(["public.\"Customers\".tier"])
    );
    // Not the owner: PostgreSQL 14+ hides the table's extended
    // statistics from the role.
    assert!(
        stderr.contains("pg_stats_ext hides 2 extended statistics object(s) from this role")
            && stderr.contains("public.customers_id_tier, public.customers_tier_secret"),
        "{stderr}"
    );
    assert_eq!(file["relations"][0]["extended"], serde_json::json!([]));
    client
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .await
        .unwrap();
}

/// The autovacuum warning after `stats import` leaves out partitioned
/// tables (autovacuum analyzes their partitions, never them) and tables
/// with autovacuum_enabled off in any spelling PostgreSQL takes.
#[tokio::test]
async fn autovacuum_warning_names_the_tables_it_analyzes() {
    if let Err(e) = planguard::tempdb::find_bindir_for(18) {
        eprintln!("SKIPPED: PostgreSQL 18: {e}");
        return;
    }
    let cluster = support::own_cluster(TempDbOptions {
        major: Some(18),
        ..TempDbOptions::default()
    });
    let [prod, ci] = &databases(&cluster, &["prod", "ci"]).await[..] else {
        unreachable!()
    };
    let plain = "CREATE TABLE plain (id int PRIMARY KEY);";
    support::connect(prod)
        .await
        .batch_execute(&format!(
            "{PARTITIONED}{plain}{PARTITIONED_ROWS} INSERT INTO plain SELECT generate_series(1, 100); ANALYZE plain"
        ))
        .await
        .unwrap();
    support::connect(ci)
        .await
        .batch_execute(&format!(
            "{PARTITIONED}{plain}
             ALTER TABLE orders_2024 SET (autovacuum_enabled = 'no');
             ALTER TABLE orders_2025 SET (autovacuum_enabled = 0);"
        ))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (code, _, stderr) = run_in(
        root,
        &["stats", "export", "-d", prod, "--all", "--out", "s.json"],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run_in(root, &["stats", "import", "-d", ci, "s.json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: autovacuum is on for public.plain: "),
        "{stderr}"
    );
}

/// A server's error under one of planguard's is said once, as psql says
/// it, when the error is shown with its causes (as `planguard` prints
/// it): tokio-postgres's own message already repeats its cause.
#[tokio::test]
async fn a_server_error_under_an_export_error_is_said_once() {
    let db = support::TestDb::new().await;
    let client = db.client().await;
    let server = client
        .batch_execute("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    let error = planguard::stats::export::ExportError::from(server);
    assert_eq!(error.to_string(), "cannot read the statistics");
    assert_eq!(
        planguard::error::chain(&error).to_string(),
        "cannot read the statistics: ERROR: relation \"no_such_table\" does not exist (SQLSTATE 42P01)"
    );
}
