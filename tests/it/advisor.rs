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
    let cols = columns(&parse_condition("(customer_id = 42)"), &[], |_| {
        Some(0.0002)
    })
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
    client
        .query(
            "SELECT * FROM hypopg_create_index('CREATE INDEX ON public.orders (customer_id)')",
            &[],
        )
        .await
        .unwrap();
    let row = client
        .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &[])
        .await
        .unwrap();
    let plan: serde_json::Value = row.get(0);
    assert_eq!(
        plan[0]["Plan"]["Total Cost"].as_f64().unwrap(),
        v.cost_after
    );
    client.batch_execute("SELECT hypopg_reset()").await.unwrap();
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
        let mut sel = std::collections::HashMap::new();
        for u in &uses {
            let s = hypo::selectivity(&client, "public", "t", &u.column)
                .await
                .unwrap();
            sel.insert(u.column.clone(), s);
        }
        let order: Vec<(String, bool)> = order.iter().map(|(c, d)| (c.to_string(), *d)).collect();
        let cols = columns(&uses, &order, |c| sel.get(c).copied().flatten());
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
