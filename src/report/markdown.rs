//! `--format markdown`: a report ready to post as a pull-request comment
//! (GitHub-flavoured Markdown).
//!
//! Layout: a one-line verdict (`❌ 2 regressions in 12 queries` or
//! `✅ no regressions in 12 queries`) with the counts under it, a table of
//! the regression findings (query, rule, severity, message), then one
//! collapsible `<details>` block per query with its figures (baseline and
//! now), its error or skip reason, every finding with its suggestion, and,
//! when the plan's shape changed, the unified diff of the two shapes.
//! The same report always gives the same bytes.
//!
//! Text from the report is escaped so that a message never opens HTML, an
//! emphasis or a table cell by accident.

use std::io::{self, Write};

use super::{
    Figures, FindingReport, QueryReport, Report, SeverityCounts, Status, plural, severity_words,
};
use crate::rules::units::{cost, ms};

/// Writes the report as Markdown.
pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    writeln!(out, "## planguard")?;
    writeln!(out)?;
    let queries = plural(s.queries, "query", "queries");
    if s.regressions == 0 {
        writeln!(out, "✅ no regressions in {queries}")?;
    } else {
        let regressions = plural(s.regressions, "regression", "regressions");
        writeln!(out, "❌ {regressions} in {queries}")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} ok, {} failed, {} skipped; findings: {}",
        s.ok,
        s.failed,
        s.skipped,
        severity_words(&s.findings)
    )?;
    if let Some(server) = &report.server {
        writeln!(out)?;
        writeln!(out, "PostgreSQL {}", text(&server.version))?;
    }

    let regressions: Vec<(&QueryReport, &FindingReport)> = report
        .queries
        .iter()
        .flat_map(|q| q.findings.iter().map(move |f| (q, f)))
        .filter(|(_, f)| f.regression)
        .collect();
    if !regressions.is_empty() {
        writeln!(out)?;
        writeln!(out, "### Regressions")?;
        writeln!(out)?;
        writeln!(out, "| query | rule | severity | message |")?;
        writeln!(out, "|---|---|---|---|")?;
        for (q, f) in regressions {
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                code(&q.id),
                code(&f.rule),
                f.severity,
                text(&f.message)
            )?;
        }
    }

    if !report.queries.is_empty() {
        writeln!(out)?;
        writeln!(out, "### Queries")?;
        for q in &report.queries {
            writeln!(out)?;
            write_query(q, out)?;
        }
    }
    Ok(())
}

fn write_query(q: &QueryReport, out: &mut dyn Write) -> io::Result<()> {
    let counts = SeverityCounts::of(&q.findings);
    let findings = if q.findings.is_empty() {
        "no findings".to_owned()
    } else {
        severity_words(&counts)
    };
    let mark = if q.findings.iter().any(|f| f.regression) {
        "❌"
    } else if matches!(q.status, Status::Ok | Status::Skipped) {
        "✅"
    } else {
        "⚠️"
    };
    writeln!(
        out,
        "<details><summary>{mark} <code>{}</code>: {}, {findings}</summary>",
        html(&q.id),
        q.status.as_str()
    )?;
    writeln!(out)?;
    if let Some(error) = &q.error {
        let label = if q.status == Status::Skipped {
            "Skipped"
        } else {
            "Error"
        };
        match &q.sqlstate {
            Some(code) => writeln!(out, "{label}: {} (SQLSTATE {})", text(error), text(code))?,
            None => writeln!(out, "{label}: {}", text(error))?,
        }
        writeln!(out)?;
    }
    if q.current.is_some() || q.baseline.is_some() {
        writeln!(out, "| | baseline | now |")?;
        writeln!(out, "|---|---:|---:|")?;
        figure_row(out, "cost", q, |f| Some(cost(f.total_cost)))?;
        figure_row(out, "time", q, |f| f.execution_ms.map(ms))?;
        figure_row(out, "buffers", q, |f| {
            f.shared_blocks.map(|b| b.to_string())
        })?;
        figure_row(out, "nodes", q, |f| Some(f.nodes.to_string()))?;
        writeln!(out)?;
    }
    for f in &q.findings {
        let regression = if f.regression { ", regression" } else { "" };
        let at = f.node.as_ref().map_or(String::new(), |n| {
            let on = n
                .relation
                .as_ref()
                .map_or(String::new(), |r| format!(" on {}", code(r)));
            format!(" at {} {}{on}", code(&n.path), text(&n.node_type))
        });
        writeln!(
            out,
            "- **{}** {}{regression}{at}: {}",
            f.severity,
            code(&f.rule),
            text(&f.message)
        )?;
        if let Some(suggestion) = &f.suggestion {
            writeln!(out, "  - suggestion: {}", text(suggestion))?;
        }
    }
    if !q.findings.is_empty() {
        writeln!(out)?;
    }
    write_plan_diff(q, out)?;
    writeln!(out, "</details>")
}

/// When the plan's shape changed and the report carries both plans: the
/// unified diff of the two shapes (the snapshot lines), collapsed.
fn write_plan_diff(q: &QueryReport, out: &mut dyn Write) -> io::Result<()> {
    let (Some(now), Some(then)) = (&q.current, &q.baseline) else {
        return Ok(());
    };
    if now.fingerprint == then.fingerprint {
        return Ok(());
    }
    let shape = |f: &Figures| {
        f.plan
            .as_ref()
            .and_then(|v| crate::plan::parse_json_value(v).ok())
            .map(|p| crate::plan::shape::shape(&p))
    };
    let (Some(new), Some(old)) = (shape(now), shape(then)) else {
        return Ok(());
    };
    let diff = super::unified_diff(&old, &new, "baseline", "now");
    writeln!(out, "<details><summary>plan diff</summary>")?;
    writeln!(out)?;
    // A fence longer than any run of backquotes in the diff.
    let longest = diff.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    writeln!(out, "{fence}diff")?;
    write!(out, "{diff}")?;
    if !diff.ends_with('\n') {
        writeln!(out)?;
    }
    writeln!(out, "{fence}")?;
    writeln!(out)?;
    writeln!(out, "</details>")?;
    writeln!(out)
}

/// One row of the figures table: `-` where a side has no figure.
fn figure_row(
    out: &mut dyn Write,
    label: &str,
    q: &QueryReport,
    figure: impl Fn(&Figures) -> Option<String>,
) -> io::Result<()> {
    let then = q.baseline.as_ref().and_then(&figure);
    let now = q.current.as_ref().and_then(&figure);
    let show = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    writeln!(out, "| {label} | {} | {} |", show(then), show(now))
}

/// Text for HTML contexts (inside `<summary>`, `<code>`), on one line.
fn html(s: &str) -> String {
    super::html_escape(&s.replace(['\r', '\n'], " "))
}

/// Free text in Markdown: no HTML, emphasis, links or line breaks from the
/// report's strings, and `|` cannot end a table cell. Backquoted spans (`planguard diff`) are kept as code;
/// underscores inside words are left alone (GFM does not emphasize them).
fn text(s: &str) -> String {
    let mut escaped = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '\\' | '*' | '[' | ']' | '|' | '~' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '\r' | '\n' => escaped.push(' '),
            c => escaped.push(c),
        }
    }
    escaped
}

/// An identifier as inline code; HTML `<code>` so that backquotes and pipes
/// in it need no special casing.
fn code(s: &str) -> String {
    format!("<code>{}</code>", html(s).replace('|', "&#124;"))
}
