//! Verification of a candidate with HypoPG: create it hypothetically in the
//! planning session, re-plan with plain `EXPLAIN (FORMAT JSON)` (nothing
//! executes), and reset. Nothing real is created.

use tokio_postgres::Client;

/// What the planner said with and without the hypothetical index.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub cost_before: f64,
    pub cost_after: f64,
    /// The planner chose the hypothetical index.
    pub used: bool,
    /// The name HypoPG gave the index (as it appears in the plan).
    pub index_name: String,
}

/// Is the hypopg extension installed in the connected database?
pub async fn available(client: &Client) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'hypopg')",
            &[],
        )
        .await?;
    row.try_get(0)
}

/// The schema of the installed hypopg extension when this session's
/// search_path does not reach its functions (they are called unqualified).
pub async fn unreachable_schema(client: &Client) -> Result<Option<String>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT n.nspname::text FROM pg_extension e
               JOIN pg_namespace n ON n.oid = e.extnamespace
              WHERE e.extname = 'hypopg' AND to_regproc('hypopg_create_index') IS NULL",
            &[],
        )
        .await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// Creates a hypothetical index in this session (`create_index` is a
/// plain `CREATE INDEX ON ...`) and returns the name the planner will show.
pub async fn create(client: &Client, create_index: &str) -> Result<String, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT indexname::text FROM hypopg_create_index($1)",
            &[&create_index],
        )
        .await?;
    row.try_get(0)
}

/// Creates a hypothetical index like [`create`] and returns its oid, the
/// name the planner will show and its estimated size in bytes
/// (`hypopg_relation_size`).
pub async fn create_sized(
    client: &Client,
    create_index: &str,
) -> Result<(i64, String, i64), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT indexrelid::int8, indexname::text, hypopg_relation_size(indexrelid)::int8
               FROM hypopg_create_index($1)",
            &[&create_index],
        )
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
}

/// Removes one hypothetical index of this session.
pub async fn drop(client: &Client, oid: i64) -> Result<(), tokio_postgres::Error> {
    client
        .query_one("SELECT hypopg_drop_index($1::int8::oid)", &[&oid])
        .await?;
    Ok(())
}

/// Removes every hypothetical index of this session.
pub async fn reset(client: &Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute("SELECT hypopg_reset()").await
}

/// Plan `sql` (no parameters), create `create_index` (a plain `CREATE INDEX`,
/// without CONCURRENTLY) hypothetically, plan again, and reset HypoPG.
pub async fn verify(
    client: &Client,
    sql: &str,
    create_index: &str,
) -> Result<Verified, tokio_postgres::Error> {
    let cost_before = plan_cost(client, sql).await?.0;
    let index_name = create(client, create_index).await?;
    let after = plan_cost(client, sql).await;
    reset(client).await?;
    let (cost_after, indexes) = after?;
    Ok(Verified {
        cost_before,
        cost_after,
        used: indexes.contains(&index_name),
        index_name,
    })
}

async fn plan_cost(
    client: &Client,
    sql: &str,
) -> Result<(f64, Vec<String>), tokio_postgres::Error> {
    let row = client
        .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &[])
        .await?;
    let text: String = match row.try_get::<_, serde_json::Value>(0) {
        Ok(v) => v.to_string(),
        Err(_) => row.try_get(0)?,
    };
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let plan = &value[0]["Plan"];
    let cost = plan["Total Cost"].as_f64().unwrap_or(f64::NAN);
    let mut names = Vec::new();
    index_names(plan, &mut names);
    Ok((cost, names))
}

fn index_names(node: &serde_json::Value, out: &mut Vec<String>) {
    if let Some(name) = node["Index Name"].as_str() {
        out.push(name.to_string());
    }
    if let Some(children) = node["Plans"].as_array() {
        for c in children {
            index_names(c, out);
        }
    }
}
