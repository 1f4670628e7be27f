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

/// A plan read from a file, and the baseline it came from when the file is
/// one of planguard's baselines.
pub(super) struct Loaded {
    pub plan: Plan,
    pub record: Option<crate::baseline::Baseline>,
}

/// Reads and parses a saved plan (JSON or text EXPLAIN output; `-` is
/// stdin), or planguard's own files: a baseline (its stored plan, with its
/// record), a result saved with `check --format json --include-plans`
/// (`query` picks the query when it holds several; its current plan). A
/// file that is not a plan, or is larger than [`MAX_PLAN_BYTES`], is an
/// input error naming the file.
pub(super) fn load(path: &Path, query: Option<&str>) -> Result<Loaded, Failure> {
    let name = if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    let text = read_text(path)?;
    let fail = |message: String| Failure::input(anyhow::anyhow!("{name}: {message}"));
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        && let Ok(serde_json::Value::Object(object)) =
            serde_json::from_str::<serde_json::Value>(trimmed)
    {
        if object.contains_key("format_version") && object.contains_key("query_id") {
            let record: crate::baseline::Baseline =
                serde_json::from_value(serde_json::Value::Object(object))
                    .map_err(|e| fail(format!("not a readable baseline: {e}")))?;
            let plan = plan::parse_json_value(&record.plan)
                .map_err(|e| fail(format!("the baseline's plan: {e}")))?;
            return Ok(Loaded {
                plan,
                record: Some(record),
            });
        }
        if object.contains_key("schema_version") && object.contains_key("queries") {
            let queries = object["queries"].as_array().cloned().unwrap_or_default();
            let ids: Vec<&str> = queries.iter().filter_map(|q| q["id"].as_str()).collect();
            let chosen = match query {
                Some(id) => queries.iter().find(|q| q["id"] == id).ok_or_else(|| {
                    fail(format!(
                        "no query `{id}` in this result (it has: {})",
                        ids.join(", ")
                    ))
                })?,
                None if queries.len() == 1 => &queries[0],
                None => {
                    return Err(fail(format!(
                        "a saved result of {} queries: choose one with --query ID ({})",
                        queries.len(),
                        ids.join(", ")
                    )));
                }
            };
            let plan = &chosen["current"]["plan"];
            if plan.is_null() {
                return Err(fail(format!(
                    "the result holds no plan for `{}`: save it with `check --format json --include-plans`",
                    chosen["id"].as_str().unwrap_or_default()
                )));
            }
            let plan = plan::parse_json_value(plan).map_err(|e| fail(e.to_string()))?;
            return Ok(Loaded { plan, record: None });
        }
    }
    let plan = plan::parse(&text).map_err(|e| fail(e.to_string()))?;
    Ok(Loaded { plan, record: None })
}

/// [`load`]'s plan alone.
pub(super) fn load_plan(path: &Path) -> Result<Plan, Failure> {
    load(path, None).map(|l| l.plan)
}

/// The file's text, at most [`MAX_PLAN_BYTES`].
fn read_text(path: &Path) -> Result<String, Failure> {
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
    String::from_utf8(bytes).map_err(|e| {
        Failure::input(anyhow::anyhow!(
            "{name}: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}
