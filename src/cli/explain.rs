//! `planguard explain`: analyze one saved plan or one query.
//!
//! Prints the plan as a table (see [`crate::report::tree`]): the tree with
//! each node's estimated and actual rows, loops, self and total time and
//! shared blocks, the heaviest nodes by self time marked.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::GlobalArgs;
use crate::conn::ConnParams;
use crate::error::{Exit, Failure};
use crate::plan::{self, Plan};
use crate::queryset::Query;
use crate::report::tree::render_plan;
use crate::runner::{Job, Outcome, RunOptions, Runner};

/// `planguard explain` arguments.
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

/// Runs `planguard explain`: exit 0 with the table, 2 when the file cannot
/// be read or is not a plan, 3 when `--sql` cannot reach the database.
pub async fn run(args: ExplainArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let (id, plan) = match (&args.sql, &args.file) {
        (Some(sql), _) => ("sql".to_owned(), plan_query(sql, global).await?),
        (None, Some(file)) => (super::offline::id_of(file), load_plan(file)?),
        (None, None) => return Err(Failure::input(anyhow::anyhow!("give a FILE or --sql"))),
    };
    super::offline::write_report_targets(
        &args.output,
        |with_plans| super::offline::report_of(&id, &plan, None, with_plans),
        |out| render_plan(&plan, out),
    )?;
    Ok(Exit::Success)
}

/// Plans one query on the database (EXPLAIN without ANALYZE), the way
/// `check --no-analyze` would: classified first (DDL and several
/// statements are refused; DML is fine, as nothing executes), then in a
/// read-only transaction that is rolled back (the planner may still call
/// functions on constants), on a session with planguard's timeouts.
async fn plan_query(sql: &str, global: &GlobalArgs) -> Result<Plan, Failure> {
    let query = Query::parse("sql", Path::new("--sql"), sql).map_err(Failure::input)?;
    if let Some(reason) = query.refusal(true, false) {
        return Err(Failure::input(anyhow::anyhow!("--sql: refused: {reason}")));
    }
    let params = ConnParams::resolve(global.dbname.as_deref()).map_err(Failure::input)?;
    let options = RunOptions {
        analyze: false,
        runs: 1,
        warmup: 0,
        ..RunOptions::default()
    };
    let runner = Arc::new(
        Runner::connect(params, options)
            .await
            .map_err(Failure::database)?,
    );
    let job = Job {
        id: query.id.clone(),
        sql: query.sql.clone(),
        params: None,
        param_count: query.param_count,
        param_mode: query.param_mode.unwrap_or_default(),
        stored: None,
        read_only: query.statement.is_read_only(),
    };
    let outcome = runner
        .run_all(Arc::new(vec![job]), Arc::new(|_| {}))
        .await
        .into_iter()
        .next();
    let not_planned = |message: String| {
        Failure::input(anyhow::anyhow!("the query could not be planned: {message}"))
    };
    match outcome {
        Some(Outcome::Ok(measured)) => Ok(measured.median_run().plan.clone()),
        Some(Outcome::Error { message, .. } | Outcome::Timeout { message }) => {
            Err(not_planned(message))
        }
        Some(Outcome::Skipped { reason }) => Err(not_planned(reason)),
        None => Err(not_planned("interrupted".to_owned())),
    }
}

/// The largest plan planguard reads: 256 MiB. Parsing takes memory in
/// proportion to the plan (up to about 14 times its bytes for a text plan
/// of many short nodes, see docs/SECURITY.md), so the cap bounds it at a
/// few GB; PostgreSQL's own plans stay far below it.
pub const MAX_PLAN_BYTES: u64 = 256 * 1024 * 1024;

/// Reads and parses a saved plan (JSON or text EXPLAIN output; `-` is
/// stdin). A file that is not a plan, or is larger than
/// [`MAX_PLAN_BYTES`], is an input error naming the file.
pub(super) fn load_plan(path: &Path) -> Result<Plan, Failure> {
    let (name, reader): (String, Box<dyn Read>) = if path == Path::new("-") {
        ("<stdin>".to_owned(), Box::new(std::io::stdin()))
    } else {
        let name = path.display().to_string();
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::input(anyhow::anyhow!("{name}: {e}")))?;
        (name, Box::new(file))
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::input(anyhow::anyhow!("{name}: {e}")))?;
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return Err(Failure::input(anyhow::anyhow!(
            "{name}: the plan is larger than {} MiB, the most planguard reads",
            MAX_PLAN_BYTES / (1024 * 1024)
        )));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        Failure::input(anyhow::anyhow!(
            "{name}: not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    plan::parse(text).map_err(|e| Failure::input(anyhow::anyhow!("{name}: {e}")))
}
