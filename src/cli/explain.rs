//! `planguard explain`: analyze one saved plan or one query.

use std::path::PathBuf;

use clap::Args;

use super::GlobalArgs;
use crate::conn::ConnParams;
use crate::error::{Exit, Failure};

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A file of JSON or text EXPLAIN output; `-` reads stdin.
    #[arg(
        value_name = "FILE",
        required_unless_present = "sql",
        conflicts_with = "sql"
    )]
    pub file: Option<PathBuf>,
    /// Plan this query on the database instead (EXPLAIN without ANALYZE).
    #[arg(long, value_name = "QUERY")]
    pub sql: Option<String>,
    #[command(flatten)]
    pub output: super::OutputArgs,
}

pub async fn run(args: ExplainArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    if let Some(sql) = &args.sql {
        let params = ConnParams::resolve(global.dbname.as_deref()).map_err(Failure::input)?;
        let client = params.connect().await.map_err(Failure::database)?;
        let rows = client
            .query(&format!("EXPLAIN (FORMAT JSON) {sql}"), &[])
            .await
            .map_err(|e| {
                Failure::input(anyhow::anyhow!(
                    "the query could not be planned: {}",
                    crate::conn::describe_query_error(&e)
                ))
            })?;
        let json: serde_json::Value = rows
            .first()
            .and_then(|row| row.try_get(0).ok())
            .ok_or_else(|| Failure::database(anyhow::anyhow!("EXPLAIN returned no plan")))?;
        let root = &json[0]["Plan"];
        let mut out = std::io::stdout().lock();
        use std::io::Write;
        writeln!(
            out,
            "{}{}  (cost={}..{} rows={} width={})",
            root["Node Type"].as_str().unwrap_or("?"),
            root["Relation Name"]
                .as_str()
                .map(|r| format!(" on {r}"))
                .unwrap_or_default(),
            root["Startup Cost"],
            root["Total Cost"],
            root["Plan Rows"],
            root["Plan Width"],
        )
        .map_err(Failure::input)?;
        return Ok(Exit::Success);
    }
    Err(Failure::not_built("explain FILE"))
}
