//! `planguard explain`: analyze one saved plan or one query.
//!
//! Prints the plan as a table (see [`crate::report::tree`]): the tree with
//! each node's estimated and actual rows, loops, self and total time and
//! shared blocks, the heaviest nodes by self time marked.

use std::path::{Path, PathBuf};

use clap::Args;

use super::GlobalArgs;
use crate::conn::ConnParams;
use crate::error::{Exit, Failure};
use crate::pipeline::{self, saved::load};
use crate::plan::Plan;
use crate::queryset::Query;
use crate::report::tree::render_plan;

/// `planguard explain` arguments.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A file of JSON or text EXPLAIN output (`-` reads stdin), a baseline
    /// file, or a result saved with `check --format json --include-plans`.
    #[arg(
        value_name = "FILE",
        required_unless_present = "sql",
        conflicts_with = "sql"
    )]
    pub file: Option<PathBuf>,
    /// Plan this query on the database instead (EXPLAIN without ANALYZE).
    #[arg(long, value_name = "QUERY")]
    pub sql: Option<String>,
    /// With a saved result of several queries: the query whose plan to
    /// read.
    #[arg(long, value_name = "ID")]
    pub query: Option<String>,
    /// Exit 1 when a finding is at or above this severity, as `check`
    /// does; without it `explain` exits 0 whatever it finds.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<super::FailOn>,
    #[command(flatten)]
    pub output: super::OutputArgs,
}

/// Runs `planguard explain`: exit 0 with the table and the findings (1
/// with `--fail-on` when a finding reaches it), 2 when the file cannot be
/// read or is not a plan, 3 when `--sql` cannot reach the database.
pub async fn run(args: ExplainArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let (id, plan) = match (&args.sql, &args.file) {
        (Some(sql), _) => ("sql".to_owned(), plan_query(sql, global).await?),
        (None, Some(file)) => (
            args.query
                .clone()
                .unwrap_or_else(|| super::offline::id_of(file)),
            load(file, args.query.as_deref())?.plan,
        ),
        (None, None) => return Err(Failure::input(anyhow::anyhow!("give a FILE or --sql"))),
    };
    let report = super::offline::report_of(&id, &plan, None, None, false);
    super::offline::write_report_targets(
        &args.output,
        |with_plans| super::offline::report_of(&id, &plan, None, None, with_plans),
        |out| {
            render_plan(&plan, out)?;
            crate::report::table::render_findings(&report, global.verbose > 0, out)
        },
    )?;
    Ok(args.fail_on.map_or(Exit::Success, |fail_on| {
        super::check::exit_for(&report, fail_on, false)
    }))
}

/// Plans `--sql` on the database (see [`pipeline::plan_query`]).
async fn plan_query(sql: &str, global: &GlobalArgs) -> Result<Plan, Failure> {
    // Refused before the connection settings are even read.
    let query = Query::parse("sql", Path::new("--sql"), sql).map_err(Failure::input)?;
    if let Some(reason) = query.refusal(true, false) {
        return Err(Failure::input(anyhow::anyhow!("--sql: refused: {reason}")));
    }
    let conn = ConnParams::resolve(global.dbname.as_deref()).map_err(Failure::input)?;
    pipeline::plan_query(conn, "--sql", sql).await
}
