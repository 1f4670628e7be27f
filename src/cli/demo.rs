//! `planguard demo`: the whole workflow on a throwaway database. Starts a
//! temporary cluster, loads a sample shop, records baselines, injects a
//! realistic regression, runs check, and says what to do next.

use std::path::Path;
use std::time::Instant;

use super::check;
use super::{DemoArgs, FailOn, GlobalArgs, OutputArgs};
use crate::config::{Config, RunFlags};
use crate::conn::ConnParams;
use crate::error::{Exit, Failure};
use crate::pipeline::{self, CheckOptions};
use crate::tempdb::{TempDb, TempDbError, TempDbOptions};

const SCHEMA: &str = include_str!("../../fixtures/demo/schema.sql");
const REGRESSION: &str = include_str!("../../fixtures/demo/regression.sql");

/// The demo's query set, compiled in so that an installed binary has it.
const QUERIES: &[(&str, &str)] = &[
    (
        "customers/big_spenders",
        include_str!("../../fixtures/demo/queries/customers/big_spenders.sql"),
    ),
    (
        "customers/by_email",
        include_str!("../../fixtures/demo/queries/customers/by_email.sql"),
    ),
    (
        "orders/by_customer",
        include_str!("../../fixtures/demo/queries/orders/by_customer.sql"),
    ),
    (
        "orders/pending",
        include_str!("../../fixtures/demo/queries/orders/pending.sql"),
    ),
    (
        "orders/status_counts",
        include_str!("../../fixtures/demo/queries/orders/status_counts.sql"),
    ),
    (
        "orders/with_items",
        include_str!("../../fixtures/demo/queries/orders/with_items.sql"),
    ),
    (
        "products/by_category",
        include_str!("../../fixtures/demo/queries/products/by_category.sql"),
    ),
    (
        "products/sales",
        include_str!("../../fixtures/demo/queries/products/sales.sql"),
    ),
    (
        "reports/revenue_by_day",
        include_str!("../../fixtures/demo/queries/reports/revenue_by_day.sql"),
    ),
    (
        "reports/top_products",
        include_str!("../../fixtures/demo/queries/reports/top_products.sql"),
    ),
];

/// Splits one of our own SQL files into statements: a statement ends with
/// a line ending in `;`. (The demo files hold no function bodies.)
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") || line.trim().is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

async fn execute_file(conninfo: &str, sql: &str, what: &str) -> Result<(), Failure> {
    let client = ConnParams::parse(conninfo)
        .map_err(Failure::input)?
        .connect()
        .await
        .map_err(Failure::database)?;
    for statement in statements(sql) {
        client.batch_execute(&statement).await.map_err(|e| {
            Failure::database(anyhow::anyhow!(
                "{what}: {}",
                crate::conn::describe_query_error(&e)
            ))
        })?;
    }
    Ok(())
}

fn say(global: &GlobalArgs, text: &str) {
    if !global.quiet {
        eprintln!("{text}");
    }
}

fn write_demo_files(dir: &Path) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::input(anyhow::anyhow!("{}: {e}", dir.display()));
    for (id, text) in QUERIES {
        let path = dir.join("queries").join(format!("{id}.sql"));
        std::fs::create_dir_all(path.parent().unwrap_or(dir)).map_err(io)?;
        std::fs::write(&path, text).map_err(io)?;
    }
    std::fs::write(
        dir.join("planguard.toml"),
        "# The demo's configuration: every key has a default.\nqueries = \"queries\"\nbaselines = \"baselines\"\n",
    )
    .map_err(io)
}

pub async fn run(args: DemoArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let started = Instant::now();
    say(
        global,
        "planguard demo: starting a throwaway PostgreSQL cluster...",
    );
    let db = tokio::task::spawn_blocking(|| TempDb::start_with(TempDbOptions::default()))
        .await
        .map_err(Failure::input)?
        .map_err(|e| match e {
            TempDbError::NoBinaries { .. }
            | TempDbError::BadBindir(_)
            | TempDbError::NoPostgresUser => Failure::input(e),
            other => Failure::database(other),
        })?;
    say(
        global,
        &format!(
            "  PostgreSQL {} on 127.0.0.1:{} (started in {:.1} s)",
            db.version(),
            db.port(),
            db.startup_time().as_secs_f64()
        ),
    );
    execute_file(
        &db.conninfo("postgres"),
        "CREATE DATABASE shop;",
        "creating the database",
    )
    .await?;
    let conninfo = db.conninfo("shop");
    let loading = Instant::now();
    say(
        global,
        "Loading a sample shop: 50,000 customers, 300,000 orders, 600,000 order lines...",
    );
    execute_file(&conninfo, SCHEMA, "loading the sample shop").await?;
    say(
        global,
        &format!("  loaded in {:.1} s", loading.elapsed().as_secs_f64()),
    );

    let dir = tempfile::Builder::new()
        .prefix("planguard-demo-")
        .tempdir()
        .map_err(Failure::input)?
        .keep();
    write_demo_files(&dir)?;
    let flags = RunFlags {
        queries: Some(dir.join("queries")),
        ..RunFlags::default()
    };
    let mut config =
        Config::load(Some(&dir.join("planguard.toml")), &flags).map_err(Failure::input)?;
    config.baselines = dir.join("baselines");
    let mut options = super::progress::pipeline_options(config, global)?;
    options.conn = ConnParams::parse(&conninfo).map_err(Failure::input)?;

    say(
        global,
        "\nRecording baselines of 10 queries (1 warm-up and 3 counted runs each)...",
    );
    let recorded = pipeline::baseline(&options).await?;
    let exit = super::baseline::finish(&recorded, &options.config.baselines, global)?;
    if exit != Exit::Success {
        return Err(Failure::database(anyhow::anyhow!(
            "recording the demo's baselines failed (exit {})",
            exit.code()
        )));
    }

    say(
        global,
        "\nInjecting a regression (fixtures/demo/regression.sql):\n  \
         - DROP INDEX orders_customer_id_idx\n  \
         - a bulk load of 150,000 pending orders for one customer, without ANALYZE\n  \
         - ALTER DATABASE shop SET work_mem = '64kB'",
    );
    execute_file(&conninfo, REGRESSION, "injecting the regression").await?;

    say(
        global,
        "\nRunning planguard check against the baselines...\n",
    );
    let report = dir.join("report.json");
    let html = dir.join("report.html");
    let targets = check::output_targets(&OutputArgs {
        format: vec![
            "table".to_owned(),
            format!("json:{}", report.display()),
            format!("html:{}", html.display()),
        ],
        output: None,
        include_plans: false,
        max_bytes: crate::report::markdown::DEFAULT_MAX_BYTES,
    })?;
    let checked = pipeline::check(
        &options,
        &CheckOptions {
            // A throwaway database: the advisor may add HypoPG to it.
            hypopg: Some(crate::advisor::HypoPg::Create),
            confirm: false,
            include_plans: check::needs_plans(&targets),
        },
    )
    .await?;
    let context = check::RenderContext {
        fail_on: FailOn::Warning,
        queries_root: options.config.queries.clone(),
        timestamp: 0,
        duration: None,
        include_plans: false,
        color: global.color,
        verbose: global.verbose > 0,
        max_bytes: crate::report::markdown::DEFAULT_MAX_BYTES,
    };
    let exit = check::finish(checked, &targets, context, false, global)?;
    let caught = exit == Exit::Findings;
    say(
        global,
        &format!(
            "\n{}\n\nWhat happened: planguard ran every query with EXPLAIN (ANALYZE, BUFFERS) inside a\n\
             rolled-back transaction, stored one baseline per query, and after the regression it\n\
             compared each new plan with its baseline: the lost index, the cost and time jumps,\n\
             the misestimate from missing statistics and the sorts that now spill to disk, each\n\
             with the change that explains it.\n\n\
             Files of this demo (queries, baselines, the reports): {}\n\
             The JSON report: {}\n\
             The HTML report (plan trees side by side; open it in a browser): file://{}\n\n\
             Next, on your own database (staging is best; --no-analyze executes nothing):\n  \
             planguard capture --from pg_stat_statements --out queries -d postgres://user@host/db\n  \
             planguard baseline -d postgres://user@host/db\n  \
             planguard check -d postgres://user@host/db          # exit 1 on regressions\n  \
             planguard snapshot --update   /   planguard snapshot --check   # plan shapes in CI\n\n\
             The demo took {:.0} s.",
            if caught {
                "planguard caught the regression (check exited 1, as it would in CI)."
            } else {
                "planguard did not report the regression it should have: please report this."
            },
            dir.display(),
            report.display(),
            html.display(),
            started.elapsed().as_secs_f64()
        ),
    );
    if args.keep {
        let port = db.port();
        let data = db.keep();
        say(
            global,
            &format!(
                "\nThe cluster keeps running (--keep): -d \"host=127.0.0.1 port={port} user=postgres dbname=shop\"\n\
                 Stop it with: pg_ctl -D {} stop -m fast   (as the postgres user when you are root)",
                data.display()
            ),
        );
    } else {
        drop(db);
    }
    Ok(if caught {
        Exit::Success
    } else {
        Exit::Findings
    })
}
