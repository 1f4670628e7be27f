//! `--format table` (the terminal default): one row per query with its
//! status, cost, time and buffers (baseline -> now) and findings by
//! severity; then "What changed": each recorded change that explains a
//! regression, once, with the queries it hurt and its fix; then per query
//! with findings one verdict line and its regressions grouped under their
//! cause (the cause and its fix said once), its standing findings one line
//! each; then the summary. With `-v` ([`Style::verbose`]) every finding
//! is printed in full with its suggestion instead.
//!
//! The command chooses the [`Style`]: colours (status, severities,
//! regressions) and a width to fit only when the output is a terminal, so
//! that files and pipes get plain, stable text.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment, Color, ContentArrangement, Table, presets};

use super::{Figures, FindingReport, QueryReport, Report, SeverityCounts, Status, verdict};
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
    /// Every finding in full, with its suggestion (`-v`); otherwise one
    /// verdict per query and its findings grouped under their cause.
    pub verbose: bool,
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
    if !style.verbose {
        write_what_changed(report, style.color, out)?;
    }
    for q in report
        .queries
        .iter()
        .filter(|q| !q.findings.is_empty() || q.error.is_some())
    {
        writeln!(out)?;
        if style.verbose {
            write_query(q, style.color, out)?;
        } else {
            write_verdict(report, q, style.color, out)?;
        }
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

/// The findings part alone, as `check` prints it after its table: what
/// changed, then each query's verdict and findings (every finding in full
/// with `verbose`); nothing when there is no finding. For `explain` and
/// `diff`, after the plan.
pub fn render_findings(report: &Report, verbose: bool, out: &mut dyn Write) -> io::Result<()> {
    if !verbose {
        write_what_changed(report, false, out)?;
    }
    for q in report.queries.iter().filter(|q| !q.findings.is_empty()) {
        writeln!(out)?;
        if verbose {
            write_query(q, false, out)?;
        } else {
            write_verdict(report, q, false, out)?;
        }
    }
    Ok(())
}

/// Each change that explains a regression, once.
fn write_what_changed(report: &Report, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let (hurt, others) = verdict::what_changed(report);
    if hurt.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", paint("What changed", "1", color))?;
    for h in &hurt {
        writeln!(out, "  {}", h.change.detail)?;
        writeln!(
            out,
            "    -> {} regressed: {}",
            super::plural(h.queries.len(), "query", "queries"),
            h.queries.join(", ")
        )?;
        if let Some((id, effect)) = &h.worst {
            writeln!(out, "    worst: {id}, {effect}")?;
        }
        if let Some(fix) = &h.change.fix {
            writeln!(out, "    fix: {fix}")?;
        }
    }
    if others > 0 {
        writeln!(
            out,
            "  ({} explaining no regression: see the JSON report's changes)",
            super::plural(others, "other recorded change", "other recorded changes")
        )?;
    }
    Ok(())
}

/// One verdict line, the regressions grouped under their cause, the other
/// findings one line each.
fn write_verdict(
    report: &Report,
    q: &QueryReport,
    color: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let headline = verdict::headline(q);
    let code = match verdict::verdict(q) {
        verdict::Verdict::Regressed | verdict::Verdict::Failed => "31",
        verdict::Verdict::Improved => "32",
        _ => "0",
    };
    writeln!(
        out,
        "{}: {}",
        paint(&q.id, "1", color),
        paint(&headline, code, color)
    )?;
    if let Some(sqlstate) = &q.sqlstate {
        writeln!(out, "  SQLSTATE {sqlstate}")?;
    }
    write_params(q, out)?;
    let (groups, other) = verdict::grouped(q);
    for (cause, findings) in &groups {
        let change = cause.and_then(|id| verdict::change(report, id));
        match change {
            Some(c) => {
                let more = findings[0].causes.len().saturating_sub(1);
                let and = if more > 0 {
                    format!(
                        " (and {})",
                        super::plural(more, "other change", "other changes")
                    )
                } else {
                    String::new()
                };
                writeln!(out, "  because {}{and}:", c.detail)?;
            }
            None => writeln!(out, "  {}:", unexplained(findings[0]))?,
        }
        for f in findings {
            writeln!(
                out,
                "    {}",
                finding_line(f, verdict::bare_message(f), color)
            )?;
        }
        if let Some(fix) = change.and_then(|c| c.fix.as_deref()) {
            writeln!(out, "    fix: {fix}")?;
        }
    }
    for f in other {
        writeln!(out, "  {}", finding_line(f, &f.message, color))?;
        // What to do: always for an index suggestion; for every finding
        // of a query without a baseline (an audit, `explain`), where no
        // cause groups them.
        if (f.rule == "missing-index" || q.baseline.is_none())
            && let Some(s) = verdict::bare_suggestion(f, report)
        {
            writeln!(out, "    {s}")?;
        }
    }
    Ok(())
}

/// The header of regressions without a cause: nothing recorded explains
/// them, or today's environment was not observed (an offline comparison).
fn unexplained(f: &FindingReport) -> &'static str {
    let observed = f
        .evidence
        .get("cause_detail")
        .and_then(|d| d.as_str())
        .is_none_or(|d| !d.contains("not observed"));
    if observed {
        "no recorded change explains"
    } else {
        "cause unknown (today's indexes, statistics and sizes were not observed)"
    }
}

/// ` at 0 Seq Scan on orders`, or nothing for a finding about the query.
fn at(f: &FindingReport) -> String {
    f.node.as_ref().map_or(String::new(), |n| {
        format!(
            " at {} {}{}",
            n.path,
            n.node_type,
            n.relation
                .as_ref()
                .map_or(String::new(), |r| format!(" on {r}"))
        )
    })
}

/// `error [index-lost] at 0 Seq Scan on orders: message`.
fn finding_line(f: &FindingReport, message: &str, color: bool) -> String {
    let at = at(f);
    let code = match f.severity {
        Severity::Error => "1;31",
        Severity::Warning => "33",
        Severity::Info => "34",
    };
    format!(
        "{} [{}]{at}: {message}",
        paint(f.severity.as_str(), code, color),
        f.rule
    )
}

fn write_params(q: &QueryReport, out: &mut dyn Write) -> io::Result<()> {
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
    Ok(())
}

fn write_query(q: &QueryReport, color: bool, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{} ({})", paint(&q.id, "1", color), q.status.as_str())?;
    write_params(q, out)?;
    if let Some(error) = &q.error {
        match &q.sqlstate {
            Some(code) => writeln!(out, "  {error} (SQLSTATE {code})")?,
            None => writeln!(out, "  {error}")?,
        }
    }
    for f in &q.findings {
        let at = at(f);
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
