//! `--format table` (the terminal default): one row per query with its
//! status, cost, time and buffers (baseline -> now) and findings by
//! severity, then the findings grouped by query with their suggestions in
//! full, then the summary.
//!
//! The command chooses the [`Style`]: colours (status, severities,
//! regressions) and a width to fit only when the output is a terminal, so
//! that files and pipes get plain, stable text.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment, Color, ContentArrangement, Table, presets};

use super::{Figures, QueryReport, Report, SeverityCounts, Status};
use crate::rules::Severity;
use crate::rules::units::{cost, ms};

/// How the table is drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours.
    pub color: bool,
    /// Fit the table to this many columns, wrapping cells; None: as wide as
    /// the content.
    pub width: Option<u16>,
}

/// Writes the report as tables and text.
pub fn render(report: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    if style.color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    if let Some(width) = style.width {
        table.set_width(width);
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }
    table.set_header(["query", "status", "cost", "time", "buffers", "findings"]);
    for q in &report.queries {
        let counts = SeverityCounts::of(&q.findings);
        let status_color = match q.status {
            Status::Ok => Color::Green,
            Status::Error | Status::Timeout => Color::Red,
            Status::Skipped => Color::DarkGrey,
        };
        let findings_color = if counts.error > 0 || q.findings.iter().any(|f| f.regression) {
            Some(Color::Red)
        } else if counts.warning > 0 {
            Some(Color::Yellow)
        } else {
            None
        };
        let mut findings = Cell::new(self::counts(&counts));
        if let Some(color) = findings_color {
            findings = findings.fg(color);
        }
        table.add_row([
            Cell::new(&q.id),
            Cell::new(q.status.as_str()).fg(status_color),
            Cell::new(pair(q, |f| Some(cost(f.total_cost)))),
            Cell::new(pair(q, |f| f.execution_ms.map(ms))),
            Cell::new(pair(q, |f| f.shared_blocks.map(|b| b.to_string()))),
            findings,
        ]);
    }
    for column in 2..6 {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(out, "{table}")?;
    for q in report
        .queries
        .iter()
        .filter(|q| !q.findings.is_empty() || q.error.is_some())
    {
        writeln!(out)?;
        write_query(q, style.color, out)?;
    }
    writeln!(out)?;
    let s = &report.summary;
    writeln!(
        out,
        "{} {}: {} ok, {} failed, {} skipped; {} with regressions; findings: {}",
        s.queries,
        if s.queries == 1 { "query" } else { "queries" },
        s.ok,
        s.failed,
        s.skipped,
        s.regressions,
        words(&s.findings)
    )
}

/// `text` in an ANSI colour (SGR code) when colours are on.
fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn write_query(q: &QueryReport, color: bool, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{} ({})", paint(&q.id, "1", color), q.status.as_str())?;
    if let Some(params) = q.params.as_ref().filter(|p| p.source != "given") {
        if params.source == "generic" {
            writeln!(out, "  planned generically, without values")?;
        } else {
            let values: Vec<String> = params
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Some(v) => format!("${} = '{}'", i + 1, v.replace('\'', "''")),
                    None => format!("${} = NULL", i + 1),
                })
                .collect();
            let when = if params.source == "baseline" {
                " when the baseline was recorded"
            } else {
                ""
            };
            writeln!(
                out,
                "  values sampled from pg_stats{when}: {}",
                values.join(", ")
            )?;
        }
    }
    if let Some(error) = &q.error {
        match &q.sqlstate {
            Some(code) => writeln!(out, "  {error} (SQLSTATE {code})")?,
            None => writeln!(out, "  {error}")?,
        }
    }
    for f in &q.findings {
        let at = f.node.as_ref().map_or(String::new(), |n| {
            format!(
                " at {} {}{}",
                n.path,
                n.node_type,
                n.relation
                    .as_ref()
                    .map_or(String::new(), |r| format!(" on {r}"))
            )
        });
        let regression = if f.regression {
            paint(", regression", "31", color)
        } else {
            String::new()
        };
        let code = match f.severity {
            Severity::Error => "1;31",
            Severity::Warning => "33",
            Severity::Info => "34",
        };
        writeln!(
            out,
            "  {} [{}{regression}]{at}",
            paint(f.severity.as_str(), code, color),
            f.rule
        )?;
        writeln!(out, "    {}", f.message)?;
        if let Some(s) = &f.suggestion {
            writeln!(out, "    suggestion: {s}")?;
        }
    }
    Ok(())
}

/// `baseline -> now`, or `now` alone without a baseline.
fn pair(q: &QueryReport, figure: impl Fn(&Figures) -> Option<String>) -> String {
    let now = q.current.as_ref().and_then(&figure);
    let then = q.baseline.as_ref().and_then(&figure);
    match (then, now) {
        (Some(then), Some(now)) => format!("{then} -> {now}"),
        (None, Some(now)) => now,
        (Some(then), None) => format!("{then} -> -"),
        (None, None) => "-".to_owned(),
    }
}

/// `1E 2W 3I`, or `-` when there are none.
fn counts(c: &SeverityCounts) -> String {
    let parts: Vec<String> = [
        (Severity::Error, "E"),
        (Severity::Warning, "W"),
        (Severity::Info, "I"),
    ]
    .into_iter()
    .filter(|(s, _)| c.get(*s) > 0)
    .map(|(s, letter)| format!("{}{letter}", c.get(s)))
    .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

/// `1 error, 3 warnings, 4 info`.
fn words(c: &SeverityCounts) -> String {
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    format!(
        "{}, {}, {} info",
        plural(c.error, "error"),
        plural(c.warning, "warning"),
        c.info
    )
}
