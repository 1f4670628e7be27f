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
