//! `planguard history`, and the hooks by which `check` and `baseline`
//! read and record the run history (the store and the statistics live in
//! the `history` module; this file parses flags, prints warnings and
//! picks a renderer).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args;

use super::{GlobalArgs, HistoryFlags, RunArgs};
use crate::baseline::store::write_atomically;
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::history::{self, Measures, QueryHistory, Run, RunInfo, Store, Target, render};
use crate::queryset::Query;
use crate::report::Report;
use crate::rules::{HistoryPoint, Thresholds};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A query id: that query over time (figures, sparklines of time and
    /// cost, plan changes). Without it, the recorded runs.
    #[arg(value_name = "QUERY_ID", conflicts_with = "regressed")]
    pub query: Option<String>,
    /// The queries whose plan or figures got worse in the window
    /// (--since), worst first.
    #[arg(long)]
    pub regressed: bool,
    /// Only runs started in this window: 24h, 7d, 4w [default:
    /// everything; 7d with --regressed].
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Runs listed at most, newest first (without QUERY_ID).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: u32,
    /// The history to read: a postgres:// URL or an SQLite file [default:
    /// [history] of planguard.toml, else planguard-history.sqlite next to
    /// the baselines directory].
    #[arg(long, value_name = "URL|PATH")]
    pub history: Option<String>,
    /// table, json, markdown or html (html: QUERY_ID only).
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "table",
          value_parser = ["table", "json", "markdown", "html"])]
    pub format: String,
    /// Write to FILE instead of stdout (written atomically).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(args: HistoryArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let config = Config::load(global, &RunArgs::default()).map_err(Failure::input)?;
    let target = match &args.history {
        Some(text) => Target::parse(text),
        None => config
            .history
            .target
            .clone()
            .unwrap_or_else(|| Target::default_for(&config.baselines)),
    };
    if let Target::Sqlite(path) = &target
        && !path.exists()
    {
        return Err(Failure::input(anyhow::anyhow!(
            "{}: no history there yet (check and baseline record one unless --no-history)",
            path.display()
        )));
    }
    let now = crate::cli::check::unix_seconds(SystemTime::now()) as i64;
    let since = match (&args.since, args.regressed) {
        (Some(text), _) => Some(
            now - crate::config::parse_keep(text)
                .map_err(|m| Failure::input(anyhow::anyhow!("--since: {m}")))?
                .as_secs() as i64,
        ),
        (None, true) => Some(now - 7 * 86_400),
        (None, false) => None,
    };
    if args.format == "html" && args.query.is_none() {
        return Err(Failure::input(anyhow::anyhow!(
            "--format html shows one query over time: give a QUERY_ID"
        )));
    }
    let store = Store::open(&target).await.map_err(Failure::input)?;
    // The terminal's width for a table on stdout; files get it whole.
    let width = args.output.is_none().then(super::output_width).flatten();
    let mut out = Vec::new();
    let json = |value: &dyn erased::Json, out: &mut Vec<u8>| value.write(out);
    if let Some(id) = &args.query {
        let rows = store
            .queries(Some(id), since)
            .await
            .map_err(Failure::input)?;
        if rows.is_empty() {
            return Err(Failure::input(anyhow::anyhow!(
                "{}: no recorded run of query `{id}`",
                target.label()
            )));
        }
        let history = QueryHistory::of(id, rows);
        match args.format.as_str() {
            "json" => json(&history, &mut out),
            "markdown" => render::query_markdown(&history, &mut out),
            "html" => render::query_html(&history, &mut out),
            _ => render::query_table(&history, width, &mut out),
        }
    } else if args.regressed {
        let since = since.unwrap_or(now);
        let rows = store.queries(None, None).await.map_err(Failure::input)?;
        let found = history::regressed(rows, since);
        match args.format.as_str() {
            "json" => json(&found, &mut out),
            "markdown" => render::regressed_markdown(&found, since, &mut out),
            _ => render::regressed_table(&found, since, width, &mut out),
        }
    } else {
        let runs = store
            .runs(since, i64::from(args.limit))
            .await
            .map_err(Failure::input)?;
        match args.format.as_str() {
            "json" => json(&runs, &mut out),
            "markdown" => render::runs_markdown(&runs, &mut out),
            _ => render::runs_table(&runs, width, &mut out),
        }
    }
    .map_err(Failure::input)?;
    match &args.output {
        Some(path) => write_atomically(path, &out).map_err(|e| {
            Failure::input(anyhow::anyhow!("{}: cannot write: {e}", path.display()))
        })?,
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&out).map_err(Failure::input)?;
        }
    }
    Ok(Exit::Success)
}

/// Pretty JSON of any serializable value, for the `json` format.
mod erased {
    pub trait Json {
        fn write(&self, out: &mut Vec<u8>) -> std::io::Result<()>;
    }
    impl<T: serde::Serialize + ?Sized> Json for T {
        fn write(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
            serde_json::to_writer_pretty(&mut *out, self)?;
            out.push(b'\n');
            Ok(())
        }
    }
}

/// The history of one `check` or `baseline` run: opened before the rules
/// (they read the past runs), written after the report. Any failure is
/// one warning on stderr naming the file or URL, after which the run goes
/// on without a history: the report and the exit code never depend on it.
pub struct Recorder {
    store: Option<Store>,
    keep: Option<std::time::Duration>,
    info: RunInfo,
}

impl Recorder {
    /// Opens the history that `config` and the flags name, if any, for a
    /// run of `command` over `queries`.
    pub async fn open(
        config: &Config,
        flags: &HistoryFlags,
        global: &GlobalArgs,
        command: &'static str,
        queries: &[Query],
    ) -> Recorder {
        let mut settings = config.history.clone();
        if flags.no_history {
            settings.disabled = true;
        }
        if let Some(text) = &flags.history {
            settings.target = Some(Target::parse(text));
        }
        let store = match settings.target(&config.baselines) {
            None => None,
            Some(target) => Store::open(&target).await.map_err(warn).ok(),
        };
        Recorder {
            store,
            keep: settings.keep,
            info: RunInfo {
                started_at: 0,
                command,
                conninfo: global.dbname.clone(),
                settings: config.run.settings.clone(),
                queryset: queries
                    .iter()
                    .map(|q| (q.id.clone(), q.sql.clone()))
                    .collect(),
            },
        }
    }

    /// Each query's recorded runs, oldest first, as many as the drift
    /// rules look at (`drift_runs`, a query's own override included);
    /// empty without a history.
    pub async fn series(
        &mut self,
        queries: &[Query],
        thresholds: &Thresholds,
    ) -> BTreeMap<String, Vec<HistoryPoint>> {
        let Some(store) = &self.store else {
            return BTreeMap::new();
        };
        let per_query = queries
            .iter()
            .filter_map(|q| thresholds.with_overrides(&q.thresholds).ok())
            .map(|t| t.drift_runs)
            .max()
            .unwrap_or(thresholds.drift_runs);
        match store.series(per_query as i64).await {
            Ok(series) => series,
            Err(e) => {
                warn(e);
                self.store = None;
                BTreeMap::new()
            }
        }
    }

    /// Appends the finished run, started at `started_at` (seconds since
    /// the Unix epoch).
    pub async fn record(
        mut self,
        report: &Report,
        started_at: u64,
        measures: &BTreeMap<String, Measures>,
    ) {
        if let Some(store) = &self.store {
            self.info.started_at = started_at as i64;
            let run = Run::of_report(report, &self.info, measures);
            if let Err(e) = store.record(&run, self.keep).await {
                warn(e);
            }
        }
    }
}

/// The report model of a `baseline` run, for its history: each query's
/// figures, no findings (a baseline compares with nothing).
pub fn baseline_report(set: &super::execute::SetRun) -> (Report, BTreeMap<String, Measures>) {
    use crate::report::{QueryReport, QueryResult, Server};
    use crate::rules::{QueryError, QueryStatus};
    use crate::runner::Outcome;
    let mut measures = BTreeMap::new();
    let mut reports = Vec::new();
    for run in &set.runs {
        let (status, error, skip) = match &run.outcome {
            Outcome::Ok(_) => (QueryStatus::Ok, None, None),
            Outcome::Error { message, sqlstate } => (
                QueryStatus::Error,
                Some(QueryError {
                    message: message.clone(),
                    sqlstate: sqlstate.clone(),
                }),
                None,
            ),
            Outcome::Timeout { message } => (
                QueryStatus::Timeout,
                Some(QueryError {
                    message: message.clone(),
                    sqlstate: Some("57014".to_owned()),
                }),
                None,
            ),
            Outcome::Skipped { reason } => (QueryStatus::Skipped, None, Some(reason.as_str())),
        };
        let measured = match &run.outcome {
            Outcome::Ok(m) => Some(m),
            _ => None,
        };
        let plan = measured.map(|m| &m.median_run().plan);
        let runs: Vec<_> = measured
            .map(|m| m.runs.iter().map(|r| r.figures.clone()).collect())
            .unwrap_or_default();
        measures.insert(run.query.id.clone(), Measures::of(plan, &runs));
        reports.push(QueryReport::build(
            &QueryResult {
                id: &run.query.id,
                status,
                error: error.as_ref(),
                skip_reason: skip,
                plan,
                runs: &runs,
                baseline: None,
                findings: &[],
                params: measured.and_then(|m| m.params.as_ref()),
                changes: &[],
            },
            false,
        ));
    }
    let server = Server {
        version: set.server.version.clone(),
        version_num: set.server.version_num,
    };
    (Report::new(Some(server), reports), measures)
}

fn warn(e: history::HistoryError) {
    eprintln!("warning: {e}; the run is reported as usual");
}
