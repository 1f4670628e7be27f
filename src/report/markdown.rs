//! `--format markdown`: a report ready to post as a pull-request comment
//! (GitHub-flavoured Markdown).
//!
//! Layout: a one-line verdict (`❌ 2 regressions in 12 queries` or
//! `✅ no regressions in 12 queries`) with the counts under it; "What
//! changed": each recorded change that explains a regression, once, with
//! the queries it hurt, the worst effect and its fix; one verdict line per
//! regressed or failed query; then one collapsible `<details>` block per
//! query with its figures (baseline and now), its error or skip reason,
//! its regressions grouped under their cause, its other findings with
//! their suggestions, and, when the plan's shape changed, the unified diff
//! of the two shapes. The same report always gives the same bytes.
//!
//! GitHub refuses a comment over 65,536 characters: [`render_within`]
//! keeps the whole under a byte budget ([`DEFAULT_MAX_BYTES`], or
//! `--max-bytes`). The verdicts and "What changed" always fit first; the
//! per-query blocks follow, regressed and failed queries first, until the
//! budget is spent, then one line says how many were left out and where
//! the full report is.
//!
//! Text from the report is escaped so that a message never opens HTML, an
//! emphasis or a table cell by accident.

use std::io::{self, Write};

use super::{
    Figures, FindingReport, QueryReport, Report, SeverityCounts, Status, plural, severity_words,
    verdict,
};
use crate::rules::units::{cost, ms};

/// The default byte budget: under GitHub's 65,536-character limit for a
/// comment, with room for a bot's own header.
pub const DEFAULT_MAX_BYTES: usize = 60_000;

/// Writes the report as Markdown within [`DEFAULT_MAX_BYTES`].
pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    render_within(report, DEFAULT_MAX_BYTES, out)
}

/// Writes the report as Markdown in at most `max_bytes` bytes (the head,
/// "What changed" and the verdicts are always written whole).
pub fn render_within(report: &Report, max_bytes: usize, out: &mut dyn Write) -> io::Result<()> {
    let mut head = Vec::new();
    write_head(report, &mut head)?;
    // Regressed and failed queries first, then the rest, each in id order.
    let mut order: Vec<&QueryReport> = report.queries.iter().collect();
    order.sort_by_key(|q| {
        !matches!(
            verdict::verdict(q),
            verdict::Verdict::Regressed | verdict::Verdict::Failed
        )
    });
    let mut blocks = Vec::new();
    let mut used = head.len();
    let mut left_out = 0;
    for q in &order {
        let mut block = Vec::new();
        writeln!(block)?;
        write_query(report, q, &mut block)?;
        // Room for the closing line about what was left out.
        if left_out == 0 && used + block.len() + 200 <= max_bytes {
            used += block.len();
            blocks.push(block);
        } else {
            left_out += 1;
        }
    }
    out.write_all(&head)?;
    if !report.queries.is_empty() {
        writeln!(out)?;
        writeln!(out, "### Queries")?;
        for block in blocks {
            out.write_all(&block)?;
        }
    }
    if left_out > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "_{} left out to keep this comment under {max_bytes} bytes; the full report is in the JSON or HTML output (`--format json:planguard.json`)._",
            plural(left_out, "more query", "more queries")
        )?;
    }
    Ok(())
}

/// The verdict, the counts, "What changed" and the regressed queries.
fn write_head(report: &Report, out: &mut dyn Write) -> io::Result<()> {
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

    let (hurt, others) = verdict::what_changed(report);
    if !hurt.is_empty() {
        writeln!(out)?;
        writeln!(out, "### What changed")?;
        writeln!(out)?;
        for h in &hurt {
            let queries: Vec<String> = h.queries.iter().map(|q| code(q)).collect();
            writeln!(
                out,
                "- **{}** → {} regressed: {}",
                text(&h.change.detail),
                plural(h.queries.len(), "query", "queries"),
                queries.join(", ")
            )?;
            if let Some((id, effect)) = &h.worst {
                writeln!(out, "  - worst: {}, {}", code(id), text(effect))?;
            }
            if let Some(fix) = &h.change.fix {
                writeln!(out, "  - fix: {}", text(fix))?;
            }
        }
        if others > 0 {
            writeln!(out)?;
            writeln!(
                out,
                "{} explaining no regression are in the JSON report (`changes`).",
                plural(others, "Another recorded change", "Other recorded changes")
            )?;
        }
    }

    for (title, kind) in [
        ("Regressions", verdict::Verdict::Regressed),
        ("Failed", verdict::Verdict::Failed),
    ] {
        let flagged: Vec<&QueryReport> = report
            .queries
            .iter()
            .filter(|q| verdict::verdict(q) == kind)
            .collect();
        if flagged.is_empty() {
            continue;
        }
        writeln!(out)?;
        writeln!(out, "### {title}")?;
        writeln!(out)?;
        for q in flagged {
            writeln!(out, "- {}: {}", code(&q.id), text(&verdict::headline(q)))?;
        }
    }
    Ok(())
}

fn write_query(report: &Report, q: &QueryReport, out: &mut dyn Write) -> io::Result<()> {
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
        html(&verdict::headline(q))
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
    let (groups, other) = verdict::grouped(q);
    for (cause, findings) in &groups {
        let change = cause.and_then(|id| verdict::change(report, id));
        match change {
            Some(c) => writeln!(out, "Because {}:", text(&c.detail))?,
            None => {
                let observed = findings[0]
                    .evidence
                    .get("cause_detail")
                    .and_then(|d| d.as_str())
                    .is_none_or(|d| !d.contains("not observed"));
                if observed {
                    writeln!(out, "No recorded change explains:")?
                } else {
                    writeln!(
                        out,
                        "Cause unknown (today's indexes, statistics and sizes were not observed):"
                    )?
                }
            }
        }
        writeln!(out)?;
        for f in findings {
            writeln!(
                out,
                "- **{}** {}{}: {}",
                f.severity,
                code(&f.rule),
                at(f),
                text(verdict::bare_message(f))
            )?;
            if let Some(s) = verdict::bare_suggestion(f, report).filter(|s| !s.is_empty()) {
                writeln!(out, "  - suggestion: {}", text(s))?;
            }
        }
        if let Some(fix) = change.and_then(|c| c.fix.as_deref()) {
            writeln!(out, "- fix: {}", text(fix))?;
        }
        writeln!(out)?;
    }
    for f in &other {
        writeln!(
            out,
            "- **{}** {}{}: {}",
            f.severity,
            code(&f.rule),
            at(f),
            text(&f.message)
        )?;
        if let Some(suggestion) = &f.suggestion {
            writeln!(out, "  - suggestion: {}", text(suggestion))?;
        }
    }
    if !other.is_empty() {
        writeln!(out)?;
    }
    write_plan_diff(q, out)?;
    writeln!(out, "</details>")
}

/// ` at 0 Seq Scan on orders`.
fn at(f: &FindingReport) -> String {
    f.node.as_ref().map_or(String::new(), |n| {
        let on = n
            .relation
            .as_ref()
            .map_or(String::new(), |r| format!(" on {}", code(r)));
        format!(" at {} {}{on}", code(&n.path), text(&n.node_type))
    })
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
pub(crate) fn text(s: &str) -> String {
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
pub(crate) fn code(s: &str) -> String {
    format!("<code>{}</code>", html(s).replace('|', "&#124;"))
}
