//! `planguard history`, and the `--history` / `--no-history` flags of
//! `check` and `baseline` (the store, the statistics and the recording
//! live in the `history` module and the pipeline; this file parses flags
//! and picks a renderer).

use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args;

use super::{GlobalArgs, HistoryFlags};
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::files::write_atomically;
use crate::history::{self, QueryHistory, Store, Target, render};

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
    let config =
        Config::load(global.config.as_deref(), &Default::default()).map_err(Failure::input)?;
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
        (Some(text), _) => Some(now - window(text).map_err(Failure::input)?.as_secs() as i64),
        (None, true) => Some(now - 7 * 86_400),
        (None, false) => None,
    };
    if args.format == "html" && args.query.is_none() {
        return Err(Failure::input(anyhow::anyhow!(
            "--format html shows one query over time: give a QUERY_ID"
        )));
    }
    // Read only: `history` never creates, migrates or writes a store.
    let store = Store::open_read_only(&target).await.map_err(|e| match e {
        // DESIGN's exit codes: a database that cannot be reached is 3.
        history::HistoryError::Unreachable { .. } => Failure::database(e),
        _ => Failure::input(e),
    })?;
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
        let found = history::regressed(rows, since, &config.thresholds);
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

/// `--since`: a window like 24h, 7d or 4w, longer than zero.
fn window(text: &str) -> anyhow::Result<std::time::Duration> {
    let window = humantime::parse_duration(text.trim())
        .map_err(|e| anyhow::anyhow!("--since {text}: not a duration like 24h, 7d or 4w ({e})"))?;
    if window.is_zero() {
        anyhow::bail!(
            "--since {text}: an empty window holds no run; give a duration like 24h or 7d"
        );
    }
    Ok(window)
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

/// `--history` and `--no-history` over the configuration's `[history]`.
pub fn apply_flags(config: &mut Config, flags: &HistoryFlags) {
    if flags.no_history {
        config.history.disabled = true;
    }
    if let Some(text) = &flags.history {
        config.history.target = Some(Target::parse(text));
    }
}
