//! Command-line interface: clap definitions (one file per subcommand) and
//! the dispatch from a parsed [`Cli`] to the pipeline.
//!
//! Promise: every flag of DESIGN.md is declared here and nowhere else; the
//! raw flags are turned into validated values before any work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{Exit, Failure};

mod baseline;
mod capture;
mod check;
mod demo;
mod diff;
mod explain;
mod history;
mod offline;
mod progress;
mod report;
mod snapshot;
mod stats;

/// Catch PostgreSQL query-plan regressions before your users feel them.
///
/// planguard runs EXPLAIN on a set of captured queries, parses the plans,
/// flags what hurts (sequential scans, lost indexes, cost and time jumps,
/// misestimates, spills, missing indexes) and compares every run against
/// stored baselines.
#[derive(Debug, Parser)]
#[command(
    name = "planguard",
    version,
    about,
    long_about,
    max_term_width = 100,
    after_long_help = FIRST_TEN_MINUTES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The first ten minutes, at the end of `planguard --help`.
const FIRST_TEN_MINUTES: &str = "\
The first ten minutes:
  planguard demo                                       # a regression caught on a throwaway database
  planguard capture --from pg_stat_statements --out queries -d \"$STAGING_URL\"
  planguard baseline -d \"$STAGING_URL\"                 # commit queries/ and baselines/
  planguard check -d \"$STAGING_URL\"                    # exit 1 on a new regression
  planguard snapshot --check -d \"$STAGING_URL\"         # in CI, after snapshot --update";

/// Flags every subcommand accepts.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Database to connect to: a URI (postgres://user@host:5432/db?sslmode=require)
    /// or a keyword/value string (host=/var/run/postgresql dbname=app), as libpq
    /// takes it. Falls back to PLANGUARD_DATABASE_URL, DATABASE_URL, then the
    /// libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE,
    /// PGSSLROOTCERT, PGAPPNAME and PGCONNECT_TIMEOUT; the password may come from
    /// ~/.pgpass (or PGPASSFILE).
    #[arg(short = 'd', long = "dbname", value_name = "CONNINFO", global = true)]
    pub dbname: Option<String>,

    /// Configuration file [default: ./planguard.toml when it exists].
    #[arg(short = 'c', long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Print nothing but the report and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// When to use colours. `auto` uses them on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN", global = true)]
    pub color: ColorChoice,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Whether output to stdout gets colours: `always`, `never`, or with
/// `auto` when stdout is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>).
pub fn use_color(choice: ColorChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// The width to fit tables on stdout to, as psql decides it: `COLUMNS`
/// when set to a number, else the terminal's width when stdout is a
/// terminal, else none (as wide as the content).
pub fn output_width() -> Option<u16> {
    use std::io::IsTerminal;
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|c| *c > 0)
    {
        return Some(columns);
    }
    if std::io::stdout().is_terminal() {
        comfy_table::Table::new().width()
    } else {
        None
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the queries a database actually runs as a query set (.sql files
    /// with directives), from pg_stat_statements or a PostgreSQL log.
    Capture(CaptureArgs),
    /// Run the query set and store one baseline per query (plan, timings,
    /// buffers and the environment the plan depended on).
    Baseline(BaselineArgs),
    /// Run the query set, apply the rules, compare with the baselines and
    /// report. Exits 1 when a finding reaches --fail-on.
    Check(CheckArgs),
    /// Plan-shape snapshots for CI: --update writes them, --check fails with a
    /// unified diff when a query's plan shape changed.
    Snapshot(SnapshotArgs),
    /// Analyze one plan (a file of JSON or text EXPLAIN output, `-` for stdin)
    /// or one query (--sql, needs a database).
    Explain(explain::ExplainArgs),
    /// Compare two plans: shape diff, changed figures and the findings; or a
    /// baseline with its query run again now (-d).
    Diff(DiffArgs),
    /// Re-render a saved JSON result in another format.
    Report(ReportArgs),
    /// Planner statistics of production for CI: `export` writes them as a
    /// portable JSON file, `import` restores them into a database
    /// (PostgreSQL 18+).
    #[command(subcommand)]
    Stats(stats::StatsCommand),
    /// The recorded runs of check and baseline: list them, show one query
    /// over time (figures, sparklines, plan changes), or the queries that
    /// got worse recently.
    History(history::HistoryArgs),
    /// Print a shell completion script: `planguard completions bash >
    /// /etc/bash_completion.d/planguard`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `planguard man > planguard.1`.
    Man,
    /// See planguard catch a real regression on a throwaway database: starts a
    /// temporary PostgreSQL, loads a sample shop, records baselines, injects a
    /// regression and runs check.
    Demo(DemoArgs),
}

/// Options shared by `baseline`, `check` and `snapshot`. Unset options
/// come from planguard.toml, then from the defaults shown.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// The query set: a directory of .sql files or one file [default: queries].
    #[arg(long, value_name = "PATH")]
    pub queries: Option<PathBuf>,
    /// Only queries whose id matches this glob (repeatable; `*` stays within
    /// one folder, `**` crosses folders).
    #[arg(long = "query", value_name = "GLOB")]
    pub query: Vec<String>,
    /// Only queries with this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// Counted runs per query; the median run is kept [default: 3].
    #[arg(long, value_name = "N")]
    pub runs: Option<u32>,
    /// Runs per query before counting, to warm the caches [default: 1].
    #[arg(long, value_name = "N")]
    pub warmup: Option<u32>,
    /// Execute the statements (EXPLAIN ANALYZE, inside a rolled-back
    /// transaction). This is the default.
    #[arg(long, overrides_with = "no_analyze")]
    pub analyze: bool,
    /// Plan only, execute nothing: costs without timings. Safe on production.
    #[arg(long, overrides_with = "analyze")]
    pub no_analyze: bool,
    /// Concurrent sessions [default: 1]. Timings are only trustworthy with 1:
    /// sessions running side by side compete for CPU, I/O and buffers.
    #[arg(long, value_name = "N")]
    pub jobs: Option<u32>,
    /// Statement timeout per query (500ms, 30s, 2m) [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Allow INSERT, UPDATE, DELETE and MERGE (always rolled back).
    #[arg(long)]
    pub allow_dml: bool,
    /// How parameterized queries without a `params` directive get values:
    /// `sample` (representative values from pg_stats, recorded in the
    /// baseline and reused), `generic` (EXPLAIN (GENERIC_PLAN), PostgreSQL
    /// 16+), or `auto`: sample, else generic on 16+, else skip saying which
    /// parameter got no value [default: auto].
    #[arg(long, value_name = "MODE", value_parser = ["auto", "sample", "generic"])]
    pub params: Option<String>,
    /// Plan with the planner statistics of FILE (`planguard stats export`
    /// on production), in planguard's sessions only: on PostgreSQL 18+
    /// restored inside each run's rolled-back transaction, and table and
    /// index sizes given to the planner by the planguard_stats module when
    /// it is installed (on 13-17 only those sizes). Baselines and snapshots
    /// record the file's hash.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
}

impl RunArgs {
    /// The flags as the configuration merges them.
    pub fn flags(&self) -> crate::config::RunFlags {
        crate::config::RunFlags {
            queries: self.queries.clone(),
            query: self.query.clone(),
            tag: self.tag.clone(),
            runs: self.runs,
            warmup: self.warmup,
            analyze: self.analyze,
            no_analyze: self.no_analyze,
            jobs: self.jobs,
            timeout: self.timeout.clone(),
            allow_dml: self.allow_dml,
            params: self.params.clone(),
            stats: self.stats.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Where to take the queries from.
    #[arg(long, value_enum, value_name = "SOURCE")]
    pub from: CaptureSource,
    /// The log file (with --from log): stderr, csvlog or jsonlog format,
    /// detected; any log_line_prefix. Statements come from
    /// log_min_duration_statement and log_statement lines (with the
    /// extended protocol's bound parameters) and auto_explain plans.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// At most this many queries (the first ones in --order-by order).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: u32,
    /// Leave out statements called fewer times than this.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_calls: u64,
    /// Order statements by total time, mean time or calls before --limit.
    #[arg(long, value_enum, default_value_t = CaptureOrder::Total)]
    pub order_by: CaptureOrder,
    /// Directory to write the query set into. Existing files are updated
    /// (their `-- captured:` line), never deleted; a file whose SQL was
    /// edited by hand is kept as it is.
    #[arg(long, value_name = "DIR", default_value = "queries")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaptureSource {
    #[value(name = "pg_stat_statements")]
    PgStatStatements,
    Log,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaptureOrder {
    Total,
    Mean,
    Calls,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub history: HistoryFlags,
    /// Directory of baseline files [default: baselines].
    #[arg(long, value_name = "DIR")]
    pub baselines: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub history: HistoryFlags,
    /// Directory of baseline files [default: baselines].
    #[arg(long, value_name = "DIR")]
    pub baselines: Option<PathBuf>,
    /// Check saved plans in this directory instead of running queries.
    #[arg(long, value_name = "DIR")]
    pub plans: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Exit 1 when a new finding is at or above this severity: a regression
    /// against the baseline, or any finding of a query without a baseline.
    #[arg(long, value_enum, default_value_t = FailOn::Warning, value_name = "SEVERITY")]
    pub fail_on: FailOn,
    /// Count standing findings too (there in the baseline already, such as
    /// a Seq Scan that was always there) for the exit code.
    #[arg(long)]
    pub strict: bool,
    /// Verify index suggestions with HypoPG (hypothetical indexes, plain
    /// EXPLAIN, nothing built): auto uses the extension when it is installed
    /// in the database; create runs CREATE EXTENSION IF NOT EXISTS hypopg
    /// first (and says so); off leaves every suggestion unverified
    /// [default: auto, or [advisor] hypopg].
    #[arg(long, value_name = "MODE", value_parser = hypopg_mode())]
    pub hypopg: Option<crate::advisor::HypoPg>,
    /// STAGING ONLY. Build the best suggested index for real inside a
    /// transaction, measure its query with EXPLAIN (ANALYZE, BUFFERS) before
    /// and after, and roll back. The build blocks writes to the table while
    /// it runs (lock_timeout and --timeout apply). Without HypoPG 1.4+, also
    /// verify redundant indexes by dropping each inside a transaction under
    /// lock_timeout and rolling back.
    #[arg(long)]
    pub confirm: bool,
    /// Compare with baselines recorded with another --stats file (or with
    /// one, when this run has none) instead of refusing to.
    #[arg(long)]
    pub allow_stats_mismatch: bool,
}

/// Where `baseline` and `check` record the run.
#[derive(Debug, Args, Default, Clone)]
pub struct HistoryFlags {
    /// Record the run in this history: a PostgreSQL database shared by a
    /// team (postgres:// URL or key=value conninfo) or an SQLite file [default: [history] of planguard.toml,
    /// else planguard-history.sqlite next to the baselines directory].
    #[arg(long, value_name = "URL|PATH")]
    pub history: Option<String>,
    /// Record nothing (also `[history] enabled = false`); the drift rules
    /// then have no past runs to look at.
    #[arg(long, conflicts_with = "history")]
    pub no_history: bool,
}

/// `--hypopg`: one of [`HypoPg::NAMES`](crate::advisor::HypoPg::NAMES),
/// listed in `--help` and completions.
fn hypopg_mode() -> impl clap::builder::TypedValueParser<Value = crate::advisor::HypoPg> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(crate::advisor::HypoPg::NAMES)
        .map(|name| name.parse().unwrap_or_default())
}

/// Report output options.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Report format: table, json, markdown, github, junit, sarif, prometheus,
    /// html or sql. `FORMAT:FILE` writes that format to FILE; repeat for several.
    #[arg(long = "format", short = 'f', value_name = "FORMAT[:FILE]")]
    pub format: Vec<String>,
    /// Write the report to FILE instead of stdout (written atomically).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Include each query's full parsed plan in the JSON report.
    #[arg(long)]
    pub include_plans: bool,
    /// Keep the Markdown report under this many bytes (a pull-request
    /// comment: GitHub refuses more than 65,536 characters); the verdicts
    /// and what changed always fit, per-query details are cut with a note.
    #[arg(long, value_name = "BYTES", default_value_t = crate::report::markdown::DEFAULT_MAX_BYTES)]
    pub max_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    Never,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Compare with the stored snapshots; exit 1 with a diff on any change.
    #[arg(long, conflicts_with = "update")]
    pub check: bool,
    /// Write the current plan shapes as the new snapshots.
    #[arg(long)]
    pub update: bool,
    /// Directory of snapshot files [default: snapshots].
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// With --check, a query without a snapshot does not fail.
    #[arg(long)]
    pub allow_new: bool,
    /// With --check, compare with snapshots recorded with another --stats
    /// file (or with one, when this run has none) instead of refusing to.
    #[arg(long)]
    pub allow_stats_mismatch: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old plan: JSON or text EXPLAIN output, a baseline file
    /// (baselines/<id>.json: its plan, figures and settings), or a result
    /// saved with `check --format json --include-plans`.
    pub old: PathBuf,
    /// The new plan, read the same way. Without it, OLD must be a baseline:
    /// its query (`<queries>/<id>.sql`) is run again now on the database
    /// (-d), as `check` runs it, with the baseline's values, and that plan
    /// is compared with the baseline's.
    pub new: Option<PathBuf>,
    /// Without NEW: the query set holding the baseline's query [default:
    /// queries].
    #[arg(long, value_name = "PATH", requires = "old")]
    pub queries: Option<PathBuf>,
    /// Without NEW: statement timeout for the run (500ms, 30s, 2m).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Without NEW: plan only, execute nothing.
    #[arg(long)]
    pub no_analyze: bool,
    /// With a saved result of several queries: the query to compare.
    #[arg(long, value_name = "ID")]
    pub query: Option<String>,
    /// Exit 1 when a finding is at or above this severity, as `check`
    /// does; without it `diff` exits 0 whatever changed.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A result saved with `check --format json`.
    pub result: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Exit 1 when a finding is at or above this severity, as `check` does
    /// (it also sets which findings fail a JUnit test case). Without it,
    /// `report` exits 0 and JUnit fails on warnings.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,
    /// With --fail-on: count standing findings too, as `check --strict`.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Leave the throwaway cluster running and print its connection string.
    #[arg(long)]
    pub keep: bool,
}

/// The `planguard` command: parses the process's arguments, runs the
/// command on a Tokio runtime, prints an error as one `error: ...` line, and
/// returns the process exit code (DESIGN.md, exit codes).
pub fn main() -> i32 {
    use std::io::Write;
    let cli = Cli::parse();
    // The library's warnings, on stderr as libpq prints its own.
    if log::set_logger(&STDERR_LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return Exit::Usage.code();
        }
    };
    let result = runtime.block_on(run(cli));
    // Statements still running in the background are cancelled with the
    // runtime; do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(exit) => exit.code(),
        Err(failure) if is_broken_pipe(&failure.error) => 0,
        Err(failure) => {
            // One line, with each cause once, as psql prints its errors.
            let _ = writeln!(
                std::io::stderr().lock(),
                "error: {}",
                crate::error::chain(&*failure.error)
            );
            failure.exit.code()
        }
    }
}

/// Prints the library's `log` records on stderr: `WARNING: ...`, as libpq
/// prints its warnings (only warnings and errors are enabled).
struct StderrLogger;

static STDERR_LOGGER: StderrLogger = StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "{}: {}",
                record.level().as_str().to_uppercase(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// `planguard check | head` must not report an error (ripgrep does the same).
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<Exit, Failure> {
    let global = &cli.global;
    match cli.command {
        Command::Explain(args) => explain::run(args, global).await,
        Command::Capture(args) => capture::run(args, global).await,
        Command::Baseline(args) => baseline::run(args, global).await,
        Command::Check(args) => check::run(args, global).await,
        Command::Snapshot(args) => snapshot::run(args, global).await,
        Command::Diff(args) => diff::run(args, global).await,
        Command::Report(args) => report::run(args, global),
        Command::Stats(command) => stats::run(command, global).await,
        Command::History(args) => history::run(args, global).await,
        Command::Demo(args) => demo::run(args, global).await,
        Command::Completions(args) => {
            use clap::CommandFactory;
            let mut command = Cli::command();
            let mut out = std::io::stdout().lock();
            clap_complete::generate(args.shell, &mut command, "planguard", &mut out);
            Ok(Exit::Success)
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut out = std::io::stdout().lock();
            man_pages(Cli::command(), &mut out).map_err(Failure::input)?;
            Ok(Exit::Success)
        }
    }
}

/// The manual: planguard(1), then the planguard-<command>(1) page of each
/// command it refers to, in one roff stream, so that every command's
/// options are in `planguard man`.
fn man_pages(command: clap::Command, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut command = command;
    command.build();
    clap_mangen::Man::new(command.clone()).render(out)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{}-{}", command.get_name(), sub.get_name());
        clap_mangen::Man::new(sub.clone())
            .title(name)
            .source(format!("planguard {}", env!("CARGO_PKG_VERSION")))
            .render(out)?;
    }
    Ok(())
}
