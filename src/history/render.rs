//! `history`'s output: the runs, one query over time (a table with
//! sparklines and the plan-change timeline on a terminal; Markdown; a
//! self-contained HTML page with an SVG plot of time and cost), and the
//! queries that got worse. JSON is the serde form of the same values.
//! Renderers read no clock and no flags.

use std::fmt::Write as _;
use std::io::{self, Write};

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::query::{QueryHistory, Regressed};
use super::{QueryRow, RunRow, SeriesKey};
use crate::report::html_escape as esc;
use crate::rules::units::{cost, ms};

// Markdown the way the report writes it: identifiers as escaped HTML
// `<code>`, free text with no HTML, emphasis, links or table-cell ends.
use crate::report::markdown::{code as md_code, text as md_text};

/// `2026-12-06 20:45:07` (UTC) of seconds since the Unix epoch.
pub fn when(at: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.max(0) as u64);
    humantime::format_rfc3339_seconds(time)
        .to_string()
        .replacen('T', " ", 1)
        .trim_end_matches('Z')
        .to_owned()
}

/// The first 8 characters of a fingerprint.
fn short(fingerprint: Option<&str>) -> String {
    fingerprint.map_or_else(|| "-".to_owned(), |f| f.chars().take(8).collect())
}

/// A sparkline of the values (None: a gap), scaled from their minimum to
/// their maximum.
pub fn sparkline(values: &[Option<f64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    let (Some(lo), Some(hi)) = (
        known.iter().copied().reduce(f64::min),
        known.iter().copied().reduce(f64::max),
    ) else {
        return String::new();
    };
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(v) if hi > lo => BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize],
            Some(_) => BARS[3],
        })
        .collect()
}

/// A table fitted to `width` when given (a terminal), else as wide as
/// its content.
fn table(width: Option<u16>) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.force_no_tty();
    if let Some(width) = width {
        table.set_width(width);
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }
    table
}

/// The list of runs; `width` fits the table to a terminal.
pub fn runs_table(runs: &[RunRow], width: Option<u16>, out: &mut dyn Write) -> io::Result<()> {
    if runs.is_empty() {
        return writeln!(out, "No runs recorded.");
    }
    let mut t = table(width);
    t.set_header([
        "run",
        "when (UTC)",
        "command",
        "server",
        "version",
        "queries",
        "failed",
        "regressions",
    ]);
    for r in runs {
        t.add_row([
            r.id.to_string(),
            when(r.started_at),
            r.command.clone(),
            r.server.clone(),
            r.server_version.clone().unwrap_or_default(),
            r.queries.to_string(),
            r.failed.to_string(),
            r.regressions.to_string(),
        ]);
    }
    writeln!(out, "{t}")
}

/// The list of runs in Markdown.
pub fn runs_markdown(runs: &[RunRow], out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "# planguard history: runs\n")?;
    writeln!(
        out,
        "| run | when (UTC) | command | server | version | queries | failed | regressions |"
    )?;
    writeln!(out, "|---:|---|---|---|---|---:|---:|---:|")?;
    for r in runs {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.id,
            when(r.started_at),
            r.command,
            md_code(&r.server),
            md_text(r.server_version.as_deref().unwrap_or("")),
            r.queries,
            r.failed,
            r.regressions
        )?;
    }
    Ok(())
}

fn figure_cells(row: &QueryRow) -> [String; 4] {
    let r = &row.record;
    [
        r.total_cost.map(cost).unwrap_or_else(|| "-".into()),
        r.execution_ms.map(ms).unwrap_or_else(|| "-".into()),
        r.execution_ms_spread.map(ms).unwrap_or_default(),
        r.shared_blocks
            .map(|b| b.to_string())
            .unwrap_or_else(|| "-".into()),
    ]
}

fn rules_of(row: &QueryRow) -> String {
    let mut rules: Vec<&str> = row
        .record
        .findings
        .iter()
        .map(|f| f.rule.as_str())
        .collect();
    rules.dedup();
    rules.join(", ")
}

/// One query over time on a terminal: sparklines, the runs, the plan
/// changes; one such block per series when its runs belong to several
/// (a staging and a production server, other planner settings).
pub fn query_table(
    history: &QueryHistory,
    width: Option<u16>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let parts = history.by_series();
    if parts.len() < 2 {
        return query_table_one(history, &history.query_id, width, out);
    }
    writeln!(out, "{}: {}", history.query_id, several(parts.len()))?;
    for (label, part) in labelled(&parts) {
        writeln!(out)?;
        query_table_one(
            part,
            &format!("{} on {label}", history.query_id),
            width,
            out,
        )?;
    }
    Ok(())
}

fn query_table_one(
    history: &QueryHistory,
    title: &str,
    width: Option<u16>,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "{title}: {}",
        runs_and_changes(history.runs.len(), history)
    )?;
    let time: Vec<Option<f64>> = history.runs.iter().map(|r| r.record.execution_ms).collect();
    let costs: Vec<Option<f64>> = history.runs.iter().map(|r| r.record.total_cost).collect();
    let range = |values: &[Option<f64>], unit: fn(f64) -> String| {
        let known: Vec<f64> = values.iter().flatten().copied().collect();
        match (known.first(), known.last()) {
            (Some(a), Some(b)) => format!("{} → {}", unit(*a), unit(*b)),
            _ => "no figures".to_owned(),
        }
    };
    writeln!(out, "  time  {}  {}", sparkline(&time), range(&time, ms))?;
    writeln!(
        out,
        "  cost  {}  {}",
        sparkline(&costs),
        range(&costs, cost)
    )?;
    let mut t = table(width);
    t.set_header([
        "run",
        "when (UTC)",
        "status",
        "plan",
        "cost",
        "time",
        "spread",
        "blocks",
        "findings",
    ]);
    for row in &history.runs {
        let [c, tm, spread, b] = figure_cells(row);
        t.add_row([
            row.run.to_string(),
            when(row.started_at),
            row.record.status.clone(),
            short(row.record.fingerprint.as_deref()),
            c,
            tm,
            spread,
            b,
            rules_of(row),
        ]);
    }
    writeln!(out, "{t}")?;
    writeln!(out, "Plan changes:")?;
    for change in &history.plan_changes {
        writeln!(out, "  {}", timeline_line(change))?;
        for f in &change.findings {
            let causes = cause_note(f);
            writeln!(
                out,
                "      {} {}: {}{causes}",
                f.severity, f.rule, f.message
            )?;
        }
    }
    Ok(())
}

/// ` (cause: ...)` after a finding's message, unless the message names it
/// already.
fn cause_note(f: &super::FindingRecord) -> String {
    if f.causes.is_empty() || f.message.contains(&f.causes) {
        String::new()
    } else {
        format!(" (cause: {})", f.causes)
    }
}

fn timeline_line(change: &super::query::PlanChange) -> String {
    match &change.from {
        None => format!(
            "{}  run {}  first plan {}",
            when(change.started_at),
            change.run,
            short(Some(&change.to))
        ),
        Some(from) => format!(
            "{}  run {}  plan {} → {}",
            when(change.started_at),
            change.run,
            short(Some(from)),
            short(Some(&change.to))
        ),
    }
}

/// One query over time in Markdown; a section per series when its runs
/// belong to several.
pub fn query_markdown(history: &QueryHistory, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "# planguard history: {}\n", md_code(&history.query_id))?;
    let parts = history.by_series();
    if parts.len() < 2 {
        return query_markdown_one(history, "##", out);
    }
    writeln!(out, "{}.\n", capitalized(&several(parts.len())))?;
    for (label, part) in labelled(&parts) {
        writeln!(out, "## On {}\n", md_text(&label))?;
        query_markdown_one(part, "###", out)?;
        writeln!(out)?;
    }
    Ok(())
}

fn query_markdown_one(history: &QueryHistory, h: &str, out: &mut dyn Write) -> io::Result<()> {
    let time: Vec<Option<f64>> = history.runs.iter().map(|r| r.record.execution_ms).collect();
    let costs: Vec<Option<f64>> = history.runs.iter().map(|r| r.record.total_cost).collect();
    writeln!(
        out,
        "{}. Time `{}`, cost `{}`.\n",
        runs_and_changes(history.runs.len(), history),
        sparkline(&time),
        sparkline(&costs)
    )?;
    writeln!(out, "{h} Plan changes\n")?;
    for change in &history.plan_changes {
        writeln!(out, "- {}", timeline_line(change))?;
        for f in &change.findings {
            let causes = md_text(&cause_note(f));
            writeln!(
                out,
                "  - **{}** `{}`: {}{causes}",
                f.severity,
                f.rule,
                md_text(&f.message)
            )?;
        }
    }
    writeln!(out, "\n{h} Runs\n")?;
    writeln!(
        out,
        "| run | when (UTC) | status | plan | cost | time | spread | blocks | findings |"
    )?;
    writeln!(out, "|---:|---|---|---|---:|---:|---:|---:|---|")?;
    for row in &history.runs {
        let [c, tm, spread, b] = figure_cells(row);
        writeln!(
            out,
            "| {} | {} | {} | `{}` | {c} | {tm} | {spread} | {b} | {} |",
            row.run,
            when(row.started_at),
            row.record.status,
            short(row.record.fingerprint.as_deref()),
            rules_of(row)
        )?;
    }
    Ok(())
}

/// One series of the plot: its points (x from 0 to 1, the run's start,
/// y) and how to label a value.
struct Series<'a> {
    name: &'a str,
    class: &'a str,
    points: Vec<(f64, i64, f64)>,
    unit: fn(f64) -> String,
}

/// Where each run goes on the time axis, from 0 to 1: by its start time,
/// or evenly by run when two runs started in the same second (they would
/// hide each other).
fn positions(rows: &[QueryRow]) -> Vec<f64> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Vec::new();
    };
    let span = (last.started_at - first.started_at) as f64;
    let distinct = rows.windows(2).all(|w| w[0].started_at < w[1].started_at);
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            if distinct && span > 0.0 {
                (r.started_at - first.started_at) as f64 / span
            } else if rows.len() > 1 {
                i as f64 / (rows.len() - 1) as f64
            } else {
                0.5
            }
        })
        .collect()
}

/// An SVG line chart of one series over time, with the plan changes as
/// vertical markers.
fn svg_chart(series: &Series, changes: &[f64], span: (i64, i64)) -> String {
    const W: f64 = 860.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 90.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart {}" role="img" aria-label="{} over time" viewBox="0 0 {W} {H}" width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">"#,
        series.class,
        esc(series.name)
    );
    let (lo, hi) = series.points.iter().fold(
        (f64::INFINITY, f64::NEG_INFINITY),
        |(lo, hi), &(_, _, y)| (lo.min(y), hi.max(y)),
    );
    if series.points.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{LEFT}" y="{}">no {} recorded</text></svg>"#,
            H / 2.0,
            esc(series.name)
        );
        return svg;
    }
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo * 0.9, hi * 1.1 + 1e-9)
    };
    let (t0, t1) = span;
    let x = |frac: f64| LEFT + frac * (W - LEFT - RIGHT);
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
    // Axes and labels.
    let _ = write!(
        svg,
        r##"<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="#888"/><line class="axis" x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#888"/>"##,
        H - BOTTOM,
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM
    );
    for v in [lo, (lo + hi) / 2.0, hi] {
        let _ = write!(
            svg,
            r#"<text class="ylabel" x="{}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"#,
            LEFT - 6.0,
            y(v) + 4.0,
            esc(&(series.unit)(v))
        );
    }
    for (t, frac, anchor) in [(t0, 0.0, "start"), (t1, 1.0, "end")] {
        let _ = write!(
            svg,
            r#"<text class="xlabel" x="{:.1}" y="{}" text-anchor="{anchor}" font-size="11">{}</text>"#,
            x(frac),
            H - BOTTOM + 16.0,
            esc(&when(t))
        );
    }
    for &frac in changes {
        let _ = write!(
            svg,
            r##"<line class="plan-change" x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1}" stroke="#c0392b" stroke-dasharray="4 3"><title>plan changed</title></line>"##,
            x(frac),
            H - BOTTOM,
        );
    }
    let path: Vec<String> = series
        .points
        .iter()
        .map(|&(frac, _, v)| format!("{:.1},{:.1}", x(frac), y(v)))
        .collect();
    let _ = write!(
        svg,
        r##"<polyline class="line" fill="none" stroke="#2c6fbb" stroke-width="2" points="{}"/>"##,
        path.join(" ")
    );
    for &(frac, t, v) in &series.points {
        let _ = write!(
            svg,
            r##"<circle class="point" cx="{:.1}" cy="{:.1}" r="3.5" fill="#2c6fbb"><title>{}: {}</title></circle>"##,
            x(frac),
            y(v),
            esc(&when(t)),
            esc(&(series.unit)(v))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One query over time as a self-contained HTML page: a plot of time and
/// one of cost over time (SVG, no script, no external resource), the plan
/// changes marked on both and listed, and the runs.
pub fn query_html(history: &QueryHistory, out: &mut dyn Write) -> io::Result<()> {
    let title = format!("planguard history: {}", history.query_id);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}\
         td.l,th.l{{text-align:left}}code{{font-size:90%}}.changed{{background:#fdecea}}</style></head><body>\n",
        esc(&title)
    )?;
    writeln!(out, "<h1>{}</h1>", esc(&title))?;
    let parts = history.by_series();
    if parts.len() < 2 {
        query_html_one(history, "h2", "", out)?;
    } else {
        writeln!(
            out,
            "<p id=\"series\">{}.</p>",
            esc(&capitalized(&several(parts.len())))
        )?;
        for (k, (label, part)) in labelled(&parts).into_iter().enumerate() {
            writeln!(
                out,
                "<section id=\"series-{}\">\n<h2>On {}</h2>",
                k + 1,
                esc(&label)
            )?;
            query_html_one(part, "h3", &format!("-{}", k + 1), out)?;
            writeln!(out, "</section>")?;
        }
    }
    writeln!(out, "</body></html>")
}

/// The body of [`query_html`] for one series: `h` its headings' element,
/// `suffix` what makes its element ids unique in the page.
fn query_html_one(
    history: &QueryHistory,
    h: &str,
    suffix: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let rows = &history.runs;
    let span = (
        rows.first().map_or(0, |r| r.started_at),
        rows.last().map_or(0, |r| r.started_at),
    );
    let xs = positions(rows);
    let changes: Vec<f64> = history
        .plan_changes
        .iter()
        .filter(|c| c.from.is_some())
        .filter_map(|c| rows.iter().position(|r| r.run == c.run).map(|i| xs[i]))
        .collect();
    let points = |figure: fn(&QueryRow) -> Option<f64>| -> Vec<(f64, i64, f64)> {
        rows.iter()
            .zip(&xs)
            .filter_map(|(r, &x)| Some((x, r.started_at, figure(r)?)))
            .collect()
    };
    let time = Series {
        name: "execution time",
        class: "time",
        points: points(|r| r.record.execution_ms),
        unit: ms,
    };
    let cost_series = Series {
        name: "total cost",
        class: "cost",
        points: points(|r| r.record.total_cost),
        unit: cost,
    };
    writeln!(
        out,
        "<p id=\"summary{suffix}\">{}, from {} to {} (UTC).</p>",
        runs_and_changes(rows.len(), history),
        esc(&when(span.0)),
        esc(&when(span.1))
    )?;
    writeln!(
        out,
        "<{h}>Execution time</{h}>\n{}",
        svg_chart(&time, &changes, span)
    )?;
    writeln!(
        out,
        "<{h}>Cost</{h}>\n{}",
        svg_chart(&cost_series, &changes, span)
    )?;
    writeln!(
        out,
        "<{h}>Plan changes</{h}>\n<ol id=\"plan-changes{suffix}\">"
    )?;
    for change in &history.plan_changes {
        write!(out, "<li>{}", esc(&timeline_line(change)))?;
        if !change.findings.is_empty() {
            write!(out, "<ul>")?;
            for f in &change.findings {
                write!(
                    out,
                    "<li><strong>{}</strong> <code>{}</code>: {}{}</li>",
                    esc(&f.severity),
                    esc(&f.rule),
                    esc(&f.message),
                    esc(&cause_note(f))
                )?;
            }
            write!(out, "</ul>")?;
        }
        writeln!(out, "</li>")?;
    }
    writeln!(
        out,
        "</ol>\n<{h}>Runs</{h}>\n<table id=\"runs{suffix}\"><thead><tr><th>run</th><th class=\"l\">when (UTC)</th><th class=\"l\">status</th><th class=\"l\">plan</th><th>cost</th><th>time</th><th>spread</th><th>blocks</th><th class=\"l\">findings</th></tr></thead><tbody>"
    )?;
    let change_runs: Vec<i64> = history
        .plan_changes
        .iter()
        .filter(|c| c.from.is_some())
        .map(|c| c.run)
        .collect();
    for row in rows {
        let [c, tm, spread, b] = figure_cells(row);
        writeln!(
            out,
            "<tr{}><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\"><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            if change_runs.contains(&row.run) {
                " class=\"changed\""
            } else {
                ""
            },
            row.run,
            esc(&when(row.started_at)),
            esc(&row.record.status),
            esc(&short(row.record.fingerprint.as_deref())),
            esc(&c),
            esc(&tm),
            esc(&spread),
            esc(&b),
            esc(&rules_of(row))
        )?;
    }
    writeln!(out, "</tbody></table>")
}

fn ratio_text(x: f64) -> String {
    if x.is_finite() {
        format!("×{x:.2}")
    } else {
        "failing".to_owned()
    }
}

/// A query's name in the `--regressed` list: its id, and when the list
/// holds runs of more than one series, which one (the server, and the
/// settings or statistics hash when those tell them apart).
fn regressed_name(r: &Regressed, found: &[Regressed]) -> String {
    let mut keys: Vec<&SeriesKey> = found.iter().map(|f| &f.after.series).collect();
    keys.sort();
    keys.dedup();
    if keys.len() < 2 {
        return r.query_id.clone();
    }
    format!("{} ({})", r.query_id, series_label(&r.after.series, &keys))
}

fn regressed_cells(r: &Regressed, found: &[Regressed]) -> [String; 6] {
    let fig = |row: &QueryRow| {
        format!(
            "{} / {}",
            row.record
                .execution_ms
                .map(ms)
                .unwrap_or_else(|| "-".into()),
            row.record
                .total_cost
                .map(cost)
                .unwrap_or_else(|| "-".into())
        )
    };
    [
        regressed_name(r, found),
        ratio_text(r.worst_ratio),
        if r.plan_changed {
            format!(
                "{} → {}",
                short(r.before.record.fingerprint.as_deref()),
                short(r.after.record.fingerprint.as_deref())
            )
        } else {
            "same".to_owned()
        },
        fig(&r.before),
        format!("{} ({})", fig(&r.after), r.after.record.status),
        r.rules.join(", "),
    ]
}

const REGRESSED_HEADER: [&str; 6] = [
    "query",
    "worst growth",
    "plan",
    "before (time / cost)",
    "last (time / cost)",
    "regression findings",
];

/// The queries that got worse, worst first.
pub fn regressed_table(
    found: &[Regressed],
    since: i64,
    width: Option<u16>,
    out: &mut dyn Write,
) -> io::Result<()> {
    if found.is_empty() {
        return writeln!(out, "No query got worse since {} (UTC).", when(since));
    }
    writeln!(
        out,
        "{} {} worse since {} (UTC), worst first:",
        found.len(),
        if found.len() == 1 {
            "query got"
        } else {
            "queries got"
        },
        when(since)
    )?;
    let mut t = table(width);
    t.set_header(REGRESSED_HEADER);
    for r in found {
        t.add_row(regressed_cells(r, found));
    }
    writeln!(out, "{t}")
}

/// The queries that got worse, in Markdown.
pub fn regressed_markdown(found: &[Regressed], since: i64, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "# planguard history: queries worse since {} (UTC)\n",
        when(since)
    )?;
    writeln!(out, "| {} |", REGRESSED_HEADER.join(" | "))?;
    writeln!(out, "|---|---:|---|---:|---:|---|")?;
    for r in found {
        let cells = regressed_cells(r, found);
        let rest: Vec<String> = cells[1..].iter().map(|c| md_text(c)).collect();
        writeln!(out, "| {} | {} |", md_code(&cells[0]), rest.join(" | "))?;
    }
    Ok(())
}

/// `10 runs, plan changed 2 times` (`1 run`, `once`, `never`).
/// The line that says a query's runs belong to several series.
fn several(n: usize) -> String {
    format!("runs on {n} series (server, planner settings or statistics), each compared on its own")
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Each series' history with its label, in order.
fn labelled(parts: &[(SeriesKey, QueryHistory)]) -> Vec<(String, &QueryHistory)> {
    let keys: Vec<&SeriesKey> = parts.iter().map(|(k, _)| k).collect();
    parts
        .iter()
        .map(|(key, part)| (series_label(key, &keys), part))
        .collect()
}

/// What tells `key` apart among `keys`: its server, and the settings or
/// statistics hash when the same server has several.
fn series_label(key: &SeriesKey, keys: &[&SeriesKey]) -> String {
    let mut label = key.server.clone();
    let same_server: Vec<&&SeriesKey> = keys.iter().filter(|k| k.server == key.server).collect();
    if same_server.len() > 1 {
        if same_server
            .iter()
            .any(|k| k.settings_hash != key.settings_hash)
        {
            label.push_str(&format!(", settings {}", short(Some(&key.settings_hash))));
        }
        if same_server.iter().any(|k| k.stats_hash != key.stats_hash) {
            label.push_str(&format!(", stats {}", short(key.stats_hash.as_deref())));
        }
    }
    label
}

fn runs_and_changes(runs: usize, history: &QueryHistory) -> String {
    let changes = match history.plan_changes.len().saturating_sub(1) {
        0 => "never".to_owned(),
        1 => "once".to_owned(),
        n => format!("{n} times"),
    };
    let runs = if runs == 1 {
        "1 run".to_owned()
    } else {
        format!("{runs} runs")
    };
    format!("{runs}, plan changed {changes}")
}
