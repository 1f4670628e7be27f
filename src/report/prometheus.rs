//! `--format prometheus`: the Prometheus text exposition format (0.0.4), as
//! node_exporter's textfile collector reads it (write it atomically into
//! the collector's directory: `--format prometheus:/var/lib/node_exporter/planguard.prom`).
//!
//! Gauges, every family with its `# HELP` and `# TYPE` lines:
//!
//! - per query: `planguard_query_total_cost{query}`,
//!   `planguard_query_execution_ms{query}` and
//!   `planguard_query_shared_blocks{query}` (only where the report has the
//!   figure), `planguard_query_findings{query,severity}` (all three
//!   severities) and `planguard_query_regression{query}` (0 or 1);
//! - per run: `planguard_queries{status="ok|failed|skipped"}`,
//!   `planguard_findings{severity}`, `planguard_regressions`,
//!   `planguard_run_timestamp_seconds` and, when known,
//!   `planguard_run_duration_seconds`.
//!
//! The timestamp and duration are given by the caller: the renderer reads
//! no clock. Label values escape `\`, `"` and line feeds.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use super::{Report, SeverityCounts};
use crate::rules::Severity;

/// When the run happened and how long it took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunTime {
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// The run's duration, when known.
    pub duration: Option<Duration>,
}

/// Writes the report as Prometheus gauges.
pub fn render(report: &Report, run: RunTime, out: &mut dyn Write) -> io::Result<()> {
    let mut text = String::new();
    let queries = &report.queries;

    family(
        &mut text,
        "planguard_query_total_cost",
        "Total cost of the query's current plan (root node).",
        queries.iter().filter_map(|q| {
            let cost = q.current.as_ref()?.total_cost;
            Some((vec![("query", q.id.as_str())], number(cost)))
        }),
    );
    family(
        &mut text,
        "planguard_query_execution_ms",
        "Median execution time of the query in milliseconds (EXPLAIN ANALYZE).",
        queries.iter().filter_map(|q| {
            let ms = q.current.as_ref()?.execution_ms?;
            Some((vec![("query", q.id.as_str())], number(ms)))
        }),
    );
    family(
        &mut text,
        "planguard_query_shared_blocks",
        "Median shared buffer blocks touched by the query (hit + read).",
        queries.iter().filter_map(|q| {
            let blocks = q.current.as_ref()?.shared_blocks?;
            Some((vec![("query", q.id.as_str())], blocks.to_string()))
        }),
    );
    family(
        &mut text,
        "planguard_query_findings",
        "Findings on the query by severity.",
        queries.iter().flat_map(|q| {
            let counts = SeverityCounts::of(&q.findings);
            severities().map(move |s| {
                (
                    vec![("query", q.id.as_str()), ("severity", s.as_str())],
                    counts.get(s).to_string(),
                )
            })
        }),
    );
    family(
        &mut text,
        "planguard_query_regression",
        "1 when the query has a regression against its baseline, else 0.",
        queries.iter().map(|q| {
            let regressed = q.findings.iter().any(|f| f.regression);
            (
                vec![("query", q.id.as_str())],
                u8::from(regressed).to_string(),
            )
        }),
    );

    let s = &report.summary;
    family(
        &mut text,
        "planguard_queries",
        "Queries in the run by outcome (failed: error or timeout).",
        [("ok", s.ok), ("failed", s.failed), ("skipped", s.skipped)]
            .into_iter()
            .map(|(status, n)| (vec![("status", status)], n.to_string())),
    );
    family(
        &mut text,
        "planguard_findings",
        "Findings in the run by severity.",
        severities().map(|sev| {
            (
                vec![("severity", sev.as_str())],
                s.findings.get(sev).to_string(),
            )
        }),
    );
    family(
        &mut text,
        "planguard_regressions",
        "Queries with at least one regression in the run.",
        std::iter::once((Vec::new(), s.regressions.to_string())),
    );
    family(
        &mut text,
        "planguard_run_timestamp_seconds",
        "When the run happened, in seconds since the Unix epoch.",
        std::iter::once((Vec::new(), run.timestamp.to_string())),
    );
    if let Some(duration) = run.duration {
        family(
            &mut text,
            "planguard_run_duration_seconds",
            "How long the run took, in seconds.",
            std::iter::once((Vec::new(), number(duration.as_secs_f64()))),
        );
    }
    out.write_all(text.as_bytes())
}

/// Error, warning, info: the order of the other reports.
fn severities() -> impl Iterator<Item = Severity> + Clone {
    Severity::ALL.into_iter().rev()
}

/// One metric family: HELP, TYPE, then its samples.
fn family<'a>(
    text: &mut String,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (Vec<(&'a str, &'a str)>, String)>,
) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} gauge");
    for (labels, value) in samples {
        text.push_str(name);
        if !labels.is_empty() {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", label_value(v)))
                .collect();
            let _ = write!(text, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(text, " {value}");
    }
}

/// A float as Go's `strconv.ParseFloat` reads it, rounded to 3 decimals
/// like the JSON report.
fn number(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    format!("{rounded}")
}

/// `\` -> `\\`, `"` -> `\"`, line feed -> `\n`.
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
