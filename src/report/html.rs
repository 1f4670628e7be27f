//! `--format html`: one self-contained page to read a run in a browser.
//!
//! Layout: a verdict and the counts; a table of the queries (regressions
//! first) linking to each query's section; per query its figures, its
//! error, its findings (each linked to the node it is about) and its plans,
//! the baseline's and today's side by side, as trees. Each node shows its
//! cost, estimated and actual rows (the estimate error highlighted from
//! 10x), loops, its self time as a bar scaled to the whole plan, its total
//! time and buffers, and its conditions. Nodes that changed against the
//! baseline (no counterpart that reads the same: same label and
//! conditions, matched by relation or at the same position) are marked, in
//! both trees; nodes with findings link back to
//! them.
//!
//! The page loads nothing: CSS and the few lines of script are inline, and
//! its Content-Security-Policy forbids any other source. The plans come
//! from the report (`current.plan`, `baseline.plan`): `check` always puts
//! them in for this format; a saved JSON result has them only when written
//! with `--include-plans`, and the page says so when they are missing.
//! The same report always gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Write};

use super::{
    Figures, FindingReport, QueryReport, Report, SeverityCounts, Status, plural, severity_words,
};
use crate::plan::compare::match_nodes;
use crate::plan::shape::{details, label};
use crate::plan::{Node, Plan, node_path};
use crate::rules::units::{cost, ms, rows};

/// From this factor between estimated and actual rows a node's estimate is
/// highlighted.
const MISESTIMATE: f64 = 10.0;

/// Writes the report as one HTML page.
pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut page = String::with_capacity(4096 + report.queries.len() * 2048);
    head(report, &mut page);
    what_changed(report, &mut page);
    summary(report, &mut page);
    page.push_str("<main>\n");
    for (index, q) in report.queries.iter().enumerate() {
        query(index, q, &mut page);
    }
    page.push_str("</main>\n");
    let _ = writeln!(
        page,
        "<footer>{} {} &middot; report schema_version {}</footer>",
        esc(&report.tool.name),
        esc(&report.tool.version),
        report.schema_version
    );
    page.push_str("<script>\n");
    page.push_str(SCRIPT);
    page.push_str("</script>\n</body>\n</html>\n");
    out.write_all(page.as_bytes())
}

fn head(report: &Report, page: &mut String) {
    let s = &report.summary;
    let verdict = verdict(report);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n",
    );
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        page,
        "<meta name=\"generator\" content=\"{} {}\">",
        esc(&report.tool.name),
        esc(&report.tool.version)
    );
    let _ = writeln!(page, "<title>planguard: {}</title>", esc(&verdict));
    page.push_str("<style>\n");
    page.push_str(STYLE);
    page.push_str("</style>\n</head>\n<body>\n<header>\n<h1>planguard report</h1>\n");
    let class = if s.regressions > 0 || s.findings.error > 0 {
        "fail"
    } else {
        "pass"
    };
    let _ = writeln!(page, "<p class=\"verdict {class}\">{}</p>", esc(&verdict));
    let server = report.server.as_ref().map_or_else(String::new, |s| {
        format!("PostgreSQL {} &middot; ", esc(&s.version))
    });
    let _ = writeln!(
        page,
        "<p class=\"meta\">{server}{} ok, {} failed, {} skipped &middot; findings: {}</p>",
        s.ok,
        s.failed,
        s.skipped,
        severity_words(&s.findings)
    );
    page.push_str("</header>\n");
}

fn verdict(report: &Report) -> String {
    let s = &report.summary;
    let queries = plural(s.queries, "query", "queries");
    if s.regressions == 0 {
        format!("no regressions in {queries}")
    } else {
        format!(
            "{} in {queries}",
            plural(
                s.regressions,
                "query with regressions",
                "queries with regressions"
            )
        )
    }
}

/// The table of queries, those with regressions first, then those with
/// findings, then the rest, each group by id.
/// Each recorded change that explains a regression, once, before
/// everything else.
fn what_changed(report: &Report, page: &mut String) {
    let (hurt, others) = super::verdict::what_changed(report);
    if hurt.is_empty() {
        return;
    }
    page.push_str("<section id=\"changes\">\n<h2>What changed</h2>\n<ul>\n");
    for h in &hurt {
        let queries: Vec<String> = h
            .queries
            .iter()
            .map(|id| format!("<code>{}</code>", esc(id)))
            .collect();
        let _ = write!(
            page,
            "<li><strong>{}</strong> &rarr; {} regressed: {}",
            esc(&h.change.detail),
            super::plural(h.queries.len(), "query", "queries"),
            queries.join(", ")
        );
        if let Some((id, effect)) = &h.worst {
            let _ = write!(page, "<br>worst: <code>{}</code>, {}", esc(id), esc(effect));
        }
        if let Some(fix) = &h.change.fix {
            let _ = write!(page, "<br>fix: <code>{}</code>", esc(fix));
        }
        page.push_str("</li>\n");
    }
    page.push_str("</ul>\n");
    if others > 0 {
        let _ = writeln!(
            page,
            "<p>{} explaining no regression are in the JSON report.</p>",
            super::plural(others, "other recorded change", "other recorded changes")
        );
    }
    page.push_str("</section>\n");
}

fn summary(report: &Report, page: &mut String) {
    page.push_str("<nav>\n<label><input type=\"checkbox\" id=\"only-findings\"> only queries with findings</label>\n</nav>\n");
    page.push_str("<section id=\"summary\">\n<table class=\"queries\">\n<thead><tr><th>query</th><th>status</th><th>cost</th><th>time</th><th>buffers</th><th>findings</th></tr></thead>\n<tbody>\n");
    let mut order: Vec<usize> = (0..report.queries.len()).collect();
    order.sort_by_key(|&i| {
        let q = &report.queries[i];
        let regression = q.findings.iter().any(|f| f.regression);
        (!regression, q.findings.is_empty(), i)
    });
    for i in order {
        let q = &report.queries[i];
        let regression = q.findings.iter().any(|f| f.regression);
        let _ = writeln!(
            page,
            "<tr data-findings=\"{}\"{}><td><a href=\"#q{i}\">{}</a></td><td><span class=\"status {}\">{}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            q.findings.len(),
            if regression {
                " class=\"regression\""
            } else {
                ""
            },
            esc(&q.id),
            q.status.as_str(),
            q.status.as_str(),
            pair(q, |f| Some(cost(f.total_cost))),
            pair(q, |f| f.execution_ms.map(ms)),
            pair(q, |f| f.shared_blocks.map(|b| b.to_string())),
            badges(&SeverityCounts::of(&q.findings)),
        );
    }
    page.push_str("</tbody>\n</table>\n</section>\n");
}

fn query(index: usize, q: &QueryReport, page: &mut String) {
    let regression = q.findings.iter().any(|f| f.regression);
    let _ = writeln!(
        page,
        "<section class=\"query\" id=\"q{index}\" data-findings=\"{}\">",
        q.findings.len()
    );
    let _ = writeln!(
        page,
        "<h2><a href=\"#q{index}\">{}</a> <span class=\"status {}\">{}</span>{}</h2>",
        esc(&q.id),
        q.status.as_str(),
        q.status.as_str(),
        if regression {
            " <span class=\"badge regression\">regression</span>"
        } else {
            ""
        }
    );
    if let Some(error) = &q.error {
        let label = if q.status == Status::Skipped {
            "skipped"
        } else {
            "error"
        };
        let code = q
            .sqlstate
            .as_ref()
            .map_or_else(String::new, |c| format!(" (SQLSTATE {})", esc(c)));
        let _ = writeln!(page, "<p class=\"error\">{label}: {}{code}</p>", esc(error));
    }
    if q.current.is_some() || q.baseline.is_some() {
        figures(q, page);
    }

    // Findings by node path, so the trees can link to them.
    let mut by_node: BTreeMap<&str, Vec<(usize, &FindingReport)>> = BTreeMap::new();
    if !q.findings.is_empty() {
        page.push_str("<ul class=\"findings\">\n");
        for (n, f) in q.findings.iter().enumerate() {
            finding(index, n, f, page);
            if let Some(node) = &f.node {
                by_node.entry(node.path.as_str()).or_default().push((n, f));
            }
        }
        page.push_str("</ul>\n");
    }
    plans(index, q, &by_node, page);
    page.push_str("</section>\n");
}

/// How one figure of the figures table is read and printed.
type FigureOf = fn(&Figures) -> Option<String>;

fn figures(q: &QueryReport, page: &mut String) {
    page.push_str("<table class=\"figures\"><thead><tr><th></th><th>baseline</th><th>now</th></tr></thead><tbody>\n");
    let rows: [(&str, FigureOf); 5] = [
        ("cost", |f| Some(cost(f.total_cost))),
        ("time", |f| f.execution_ms.map(ms)),
        ("planning", |f| f.planning_ms.map(ms)),
        ("buffers", |f| f.shared_blocks.map(|b| b.to_string())),
        ("nodes", |f| Some(f.nodes.to_string())),
    ];
    for (name, figure) in rows {
        let then = q.baseline.as_ref().and_then(figure);
        let now = q.current.as_ref().and_then(figure);
        if then.is_none() && now.is_none() {
            continue;
        }
        let show = |v: Option<String>| v.map_or_else(|| "-".to_owned(), |v| esc(&v));
        let _ = writeln!(
            page,
            "<tr><th>{name}</th><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            show(then),
            show(now)
        );
    }
    page.push_str("</tbody></table>\n");
}

fn finding(query: usize, n: usize, f: &FindingReport, page: &mut String) {
    let _ = write!(
        page,
        "<li class=\"finding {}\" id=\"q{query}-f{n}\"><span class=\"sev\">{}</span> <code>{}</code>",
        f.severity,
        f.severity,
        esc(&f.rule)
    );
    if f.regression {
        page.push_str(" <span class=\"badge regression\">regression</span>");
    }
    if let Some(node) = &f.node {
        let on = node
            .relation
            .as_ref()
            .map_or_else(String::new, |r| format!(" on {}", esc(r)));
        let _ = write!(
            page,
            " <a class=\"at\" href=\"#q{query}-now-{}\">at {} {}{on}</a>",
            esc(&node.path),
            esc(&node.path),
            esc(&node.node_type)
        );
    }
    let _ = write!(page, "<p>{}</p>", esc(&f.message));
    if let Some(s) = &f.suggestion {
        let _ = write!(page, "<pre class=\"suggestion\">{}</pre>", esc(s));
    }
    page.push_str("</li>\n");
}

/// Marks of the nodes that changed between the two plans, by side.
#[derive(Default)]
struct Changes {
    /// Paths in the baseline plan with no counterpart now, or a different
    /// one.
    old: BTreeSet<String>,
    /// Paths in the current plan with no counterpart in the baseline, or a
    /// different one.
    new: BTreeSet<String>,
}

fn changes(old: &Plan, new: &Plan) -> Changes {
    let matching = match_nodes(old, new);
    let mut changes = Changes::default();
    // Unchanged: a node matched with one that reads the same (same label
    // and conditions), or at the same position in both trees and reading
    // the same (a Sort above a scan that changed is still that Sort).
    let same = |a: &Node, b: &Node| label(a) == label(b) && details(a) == details(b);
    let mut old_paired = BTreeSet::new();
    let mut new_paired = BTreeSet::new();
    for pair in &matching.pairs {
        if same(pair.old.node, pair.new.node) {
            old_paired.insert(pair.old.path());
            new_paired.insert(pair.new.path());
        }
    }
    let mut old_at = BTreeMap::new();
    old.root.walk(&mut |index, node| {
        old_at.insert(node_path(index), node);
    });
    new.root.walk(&mut |index, node| {
        let path = node_path(index);
        if old_at.get(&path).is_some_and(|o| same(o, node)) {
            old_paired.insert(path.clone());
            new_paired.insert(path);
        }
    });
    let mark = |plan: &Plan, paired: &BTreeSet<String>, into: &mut BTreeSet<String>| {
        plan.root.walk(&mut |index, _| {
            let path = node_path(index);
            if !paired.contains(&path) {
                into.insert(path);
            }
        });
    };
    mark(old, &old_paired, &mut changes.old);
    mark(new, &new_paired, &mut changes.new);
    changes
}

fn plans(
    index: usize,
    q: &QueryReport,
    findings: &BTreeMap<&str, Vec<(usize, &FindingReport)>>,
    page: &mut String,
) {
    let parse = |f: &Option<Figures>| {
        f.as_ref()
            .and_then(|f| f.plan.as_ref())
            .and_then(|v| crate::plan::parse_json_value(v).ok())
    };
    let current = parse(&q.current);
    let baseline = parse(&q.baseline);
    if current.is_none() && baseline.is_none() {
        if q.current.is_some() {
            page.push_str("<p class=\"note\">The plans are not in this result: write it with <code>check --format json --include-plans</code> to see them here.</p>\n");
        }
        return;
    }
    let changes = match (&baseline, &current) {
        (Some(old), Some(new)) => changes(old, new),
        _ => Changes::default(),
    };
    let none = BTreeMap::new();
    page.push_str("<div class=\"plans\">\n");
    if let Some(plan) = &baseline {
        tree(
            index,
            "baseline",
            "Baseline",
            plan,
            &changes.old,
            &none,
            page,
        );
    } else if q.baseline.is_some() {
        page.push_str("<div class=\"plan baseline\"><h3>Baseline</h3><p class=\"note\">Not in this result.</p></div>\n");
    } else {
        page.push_str("<div class=\"plan baseline\"><h3>Baseline</h3><p class=\"note\">No baseline: run <code>planguard baseline</code> to record one.</p></div>\n");
    }
    if let Some(plan) = &current {
        tree(index, "now", "Now", plan, &changes.new, findings, page);
    }
    page.push_str("</div>\n");
}

fn tree(
    query: usize,
    side: &str,
    title: &str,
    plan: &Plan,
    changed: &BTreeSet<String>,
    findings: &BTreeMap<&str, Vec<(usize, &FindingReport)>>,
    page: &mut String,
) {
    let count = plan.root.count();
    let total_ms = plan.root.derived.inclusive_time_ms.filter(|t| *t > 0.0);
    let _ = write!(
        page,
        "<div class=\"plan {side}\" data-nodes=\"{count}\"><h3>{title} <span class=\"meta\">{}",
        plural(count, "node", "nodes")
    );
    if let Some(cost_now) = plan.root.total_cost {
        let _ = write!(page, " &middot; cost {}", cost(cost_now));
    }
    if let Some(t) = plan.execution_time_ms {
        let _ = write!(page, " &middot; {}", esc(&ms(t)));
    }
    page.push_str("</span></h3>\n<ul class=\"tree\">\n");
    let context = TreeContext {
        query,
        side,
        total_ms,
        changed,
        findings,
    };
    node(&context, &plan.root, &mut vec![], page);
    page.push_str("</ul>\n</div>\n");
}

struct TreeContext<'a> {
    query: usize,
    side: &'a str,
    total_ms: Option<f64>,
    changed: &'a BTreeSet<String>,
    findings: &'a BTreeMap<&'a str, Vec<(usize, &'a FindingReport)>>,
}

fn node(cx: &TreeContext, node: &Node, index: &mut Vec<usize>, page: &mut String) {
    let path = node_path(index);
    let flagged = cx.findings.get(path.as_str());
    let misestimate = node.derived.estimate_factor.filter(|f| *f >= MISESTIMATE);
    let mut classes = vec!["node"];
    if cx.changed.contains(&path) {
        classes.push("changed");
    }
    if misestimate.is_some() {
        classes.push("misestimate");
    }
    if let Some(list) = flagged {
        classes.push("flagged");
        if let Some(worst) = list.iter().map(|(_, f)| f.severity).max() {
            classes.push(worst.as_str());
        }
    }
    let _ = write!(
        page,
        "<li><div class=\"{}\" id=\"q{}-{}-{path}\" data-path=\"{path}\"><div class=\"head\"><span class=\"label\">{}</span> <span class=\"path\">{path}</span>",
        classes.join(" "),
        cx.query,
        cx.side,
        esc(&label(node))
    );
    if cx.changed.contains(&path) {
        let what = if cx.side == "now" {
            "changed: not in the baseline plan"
        } else {
            "changed: not in the current plan"
        };
        let _ = write!(
            page,
            " <span class=\"badge changed\" title=\"{what}\">changed</span>"
        );
    }
    for (n, f) in flagged.into_iter().flatten() {
        let _ = write!(
            page,
            " <a class=\"badge {}\" href=\"#q{}-f{n}\">{}</a>",
            f.severity,
            cx.query,
            esc(&f.rule)
        );
    }
    page.push_str("</div>\n");

    if let (Some(total), Some(own)) = (cx.total_ms, node.derived.exclusive_time_ms) {
        let share = (own / total * 100.0).clamp(0.0, 100.0);
        let _ = write!(
            page,
            "<div class=\"bar\" title=\"self time {} ({share:.1}% of the plan)\"><span style=\"width:{share:.1}%\"></span></div>",
            esc(&ms(own))
        );
    }

    let mut figures: Vec<String> = Vec::new();
    if let Some(c) = node.total_cost {
        figures.push(format!("cost {}", cost(c)));
    }
    match (node.plan_rows, node.actual_rows) {
        _ if node.never_executed => figures.push("never executed".to_owned()),
        (Some(est), Some(actual)) => {
            let factor = misestimate.map_or_else(String::new, |f| {
                format!(
                    " <span class=\"estimate\" title=\"estimate off by {f:.0}x\">{}{f:.0}x</span>",
                    if actual > est { "&uarr;" } else { "&darr;" }
                )
            });
            figures.push(format!(
                "rows {} est &rarr; {} actual{factor}",
                rows(est),
                rows(actual)
            ));
        }
        (Some(est), None) => figures.push(format!("rows {} est", rows(est))),
        (None, Some(actual)) => figures.push(format!("rows {}", rows(actual))),
        (None, None) => {}
    }
    if let Some(loops) = node.actual_loops.filter(|l| *l > 1.0) {
        figures.push(format!("loops {}", rows(loops)));
    }
    if let Some(own) = node.derived.exclusive_time_ms {
        figures.push(format!("self {}", esc(&ms(own))));
    }
    if let Some(total) = node.derived.inclusive_time_ms {
        figures.push(format!("total {}", esc(&ms(total))));
    }
    let blocks = node.buffers.shared_hit.unwrap_or(0) + node.buffers.shared_read.unwrap_or(0);
    if node.buffers.shared_hit.is_some() || node.buffers.shared_read.is_some() {
        figures.push(format!("{blocks} blocks"));
    }
    if !figures.is_empty() {
        let _ = write!(
            page,
            "<div class=\"figs\">{}</div>",
            figures.join(" &middot; ")
        );
    }
    for (key, value) in details(node) {
        let _ = write!(
            page,
            "<div class=\"cond\"><span>{}:</span> {}</div>",
            esc(key),
            esc(&value)
        );
    }
    page.push_str("</div>");
    if !node.plans.is_empty() {
        page.push_str("\n<ul>\n");
        for (i, child) in node.plans.iter().enumerate() {
            index.push(i);
            self::node(cx, child, index, page);
            index.pop();
        }
        page.push_str("</ul>");
    }
    page.push_str("</li>\n");
}

/// `baseline → now`, or `now` alone.
fn pair(q: &QueryReport, figure: impl Fn(&Figures) -> Option<String>) -> String {
    let now = q.current.as_ref().and_then(&figure);
    let then = q.baseline.as_ref().and_then(&figure);
    match (then, now) {
        (Some(then), Some(now)) if then == now => esc(&now),
        (Some(then), Some(now)) => format!("{} &rarr; {}", esc(&then), esc(&now)),
        (None, Some(now)) => esc(&now),
        (Some(then), None) => format!("{} &rarr; -", esc(&then)),
        (None, None) => "-".to_owned(),
    }
}

fn badges(c: &SeverityCounts) -> String {
    use crate::rules::Severity;
    let mut out = String::new();
    for severity in [Severity::Error, Severity::Warning, Severity::Info] {
        let n = c.get(severity);
        if n > 0 {
            let _ = write!(
                out,
                "<span class=\"badge {severity}\">{n} {severity}</span> "
            );
        }
    }
    if out.is_empty() {
        "-".to_owned()
    } else {
        out.trim_end().to_owned()
    }
}

/// Text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    super::html_escape(s)
}

const STYLE: &str = r#":root { --fg: #1d2733; --muted: #5d6b7a; --line: #d5dde5; --bg: #ffffff; --soft: #f4f7fa;
  --error: #c62828; --warning: #b26a00; --info: #1565c0; --ok: #2e7d32; --changed: #7b1fa2; --bar: #4f83cc; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1600px; padding: 1.5rem; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
h1 { margin: 0 0 .3rem; font-size: 1.5rem; }
h2 { font-size: 1.15rem; margin: 0 0 .6rem; word-break: break-all; }
h2 a { color: inherit; text-decoration: none; }
h3 { font-size: 1rem; margin: 0 0 .5rem; }
code, pre, .cond, .path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.verdict { font-size: 1.2rem; font-weight: 600; margin: .2rem 0; }
.verdict.fail { color: var(--error); } .verdict.pass { color: var(--ok); }
.meta { color: var(--muted); font-weight: normal; font-size: .9em; }
nav { margin: 1rem 0 .5rem; color: var(--muted); }
table { border-collapse: collapse; }
table.queries { width: 100%; margin-bottom: 1.5rem; }
table.queries th, table.queries td, table.figures th, table.figures td { border-bottom: 1px solid var(--line); padding: .3rem .6rem; text-align: left; }
table.queries tr.regression td:first-child { border-left: 3px solid var(--error); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.figures { margin: .3rem 0 .8rem; }
table.figures th { color: var(--muted); font-weight: normal; }
.status { padding: 0 .4rem; border-radius: 3px; font-size: .85em; background: var(--soft); }
.status.error, .status.timeout { background: #fdecea; color: var(--error); }
.status.skipped { color: var(--muted); }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 3px; font-size: .8em; font-weight: 600; color: #fff; text-decoration: none; }
.badge.error { background: var(--error); } .badge.warning { background: var(--warning); } .badge.info { background: var(--info); }
.badge.regression { background: var(--error); } .badge.changed { background: var(--changed); }
section.query { border: 1px solid var(--line); border-radius: 6px; padding: 1rem; margin: 0 0 1.2rem; }
section.query:target { box-shadow: 0 0 0 3px #90caf9; }
p.error { color: var(--error); }
.note { color: var(--muted); font-style: italic; }
ul.findings { list-style: none; padding: 0; margin: 0 0 1rem; }
li.finding { border-left: 4px solid var(--line); padding: .3rem .7rem; margin: .4rem 0; background: var(--soft); }
li.finding.error { border-color: var(--error); } li.finding.warning { border-color: var(--warning); } li.finding.info { border-color: var(--info); }
li.finding:target { outline: 2px solid #90caf9; }
li.finding p { margin: .2rem 0; }
.sev { font-weight: 700; text-transform: uppercase; font-size: .8em; }
li.finding.error .sev { color: var(--error); } li.finding.warning .sev { color: var(--warning); } li.finding.info .sev { color: var(--info); }
pre.suggestion { white-space: pre-wrap; background: #fff; border: 1px solid var(--line); padding: .4rem .6rem; margin: .3rem 0; }
.plans { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem; }
.plan { min-width: 0; overflow-x: auto; }
ul.tree, ul.tree ul { list-style: none; margin: 0; padding-left: 1.1rem; }
ul.tree { padding-left: 0; }
ul.tree ul { border-left: 1px dashed var(--line); }
.node { border: 1px solid var(--line); border-radius: 4px; padding: .3rem .5rem; margin: .25rem 0; background: #fff; }
.node:target { outline: 2px solid #90caf9; }
.node.changed { border-color: var(--changed); border-left: 4px solid var(--changed); }
.node.flagged.error { background: #fdecea; } .node.flagged.warning { background: #fff4e5; } .node.flagged.info { background: #e8f1fb; }
.node .label { font-weight: 600; }
.node .path { color: var(--muted); font-size: 11px; }
.bar { height: 5px; background: var(--soft); border-radius: 2px; margin: .2rem 0; }
.bar span { display: block; height: 100%; background: var(--bar); border-radius: 2px; min-width: 1px; }
.figs { color: var(--muted); font-size: .88em; }
.estimate { color: #fff; background: var(--warning); border-radius: 3px; padding: 0 .3rem; font-weight: 600; }
.cond { color: var(--fg); word-break: break-word; }
.cond span { color: var(--muted); }
footer { color: var(--muted); margin-top: 2rem; font-size: .85em; }
[hidden] { display: none !important; }
"#;

const SCRIPT: &str = r#"(function () {
  'use strict';
  var box = document.getElementById('only-findings');
  function apply() {
    var only = box.checked;
    document.querySelectorAll('[data-findings]').forEach(function (el) {
      el.hidden = only && el.getAttribute('data-findings') === '0';
    });
  }
  box.addEventListener('change', apply);
  apply();
  document.body.setAttribute('data-ready', 'true');
})();
"#;
