//! `--format table` (the terminal default): one row per query with its
//! status, cost, time and buffers (baseline -> now) and findings by
//! severity, then the findings grouped by query with their suggestions in
//! full, then the summary.

use std::io::{self, Write};

use comfy_table::{CellAlignment, Table, presets};

use super::{Figures, QueryReport, Report, SeverityCounts};
use crate::rules::Severity;
use crate::rules::units::{cost, ms};

/// Writes the report as tables and text.
pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header(["query", "status", "cost", "time", "buffers", "findings"]);
    for q in &report.queries {
        table.add_row([
            q.id.clone(),
            q.status.as_str().to_owned(),
            pair(q, |f| Some(cost(f.total_cost))),
            pair(q, |f| f.execution_ms.map(ms)),
            pair(q, |f| f.shared_blocks.map(|b| b.to_string())),
            counts(&SeverityCounts::of(&q.findings)),
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
        write_query(q, out)?;
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

fn write_query(q: &QueryReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{} ({})", q.id, q.status.as_str())?;
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
        let regression = if f.regression { ", regression" } else { "" };
        writeln!(out, "  {} [{}{regression}]{at}", f.severity, f.rule)?;
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
