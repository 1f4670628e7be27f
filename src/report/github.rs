//! `--format github`: GitHub Actions workflow commands, one annotation per
//! finding, on the query's file:
//!
//! ```text
//! ::error file=queries/orders/by_customer.sql,line=1,title=planguard index-lost::orders was read by ...
//! ```
//!
//! First one `::notice` per recorded change that explains a regression
//! ("what changed", with the queries it hurt and its fix), then the
//! findings: `error` findings are `::error`, `warning` ones `::warning`,
//! `info` ones `::notice`. The message is the finding's message, its node and its
//! suggestion on the following lines. Data is escaped as the Actions
//! toolkit does (`%`, `\r`, `\n`), and property values also escape `:` and
//! `,` (`escapeData` and `escapeProperty` of `@actions/core`).
//!
//! Query files are `<queries root>/<id>.sql`, the root as the command was
//! given it. The step summary (`GITHUB_STEP_SUMMARY`) is the CLI's
//! business: it appends the Markdown report there.

use std::io::{self, Write};

use super::{FindingReport, Report};
use crate::rules::Severity;

/// Writes one workflow command per finding; `queries_root` is the query
/// set's directory (`queries`), or the query file itself when the set is
/// one file.
pub fn render(report: &Report, queries_root: &str, out: &mut dyn Write) -> io::Result<()> {
    // What changed first: one notice per change that explains a regression.
    let (hurt, _) = super::verdict::what_changed(report);
    for h in &hurt {
        let mut text = format!(
            "{} -> {} regressed: {}",
            h.change.detail,
            super::plural(h.queries.len(), "query", "queries"),
            h.queries.join(", ")
        );
        if let Some(fix) = &h.change.fix {
            text.push_str(&format!("\nfix: {fix}"));
        }
        writeln!(
            out,
            "::notice title={}::{}",
            property("planguard: what changed"),
            data(&text)
        )?;
    }
    for q in &report.queries {
        let file = query_file(queries_root, &q.id);
        for f in &q.findings {
            writeln!(
                out,
                "::{} file={},line=1,title={}::{}",
                command(f.severity),
                property(&file),
                property(&format!("planguard {}", f.rule)),
                data(&message(f))
            )?;
        }
    }
    Ok(())
}

/// The query file of `id`: `<root>/<id>.sql`; a root that is itself a
/// `.sql` file is the file.
pub fn query_file(root: &str, id: &str) -> String {
    if root.ends_with(".sql") {
        return root.to_owned();
    }
    let root = root.trim_end_matches('/');
    if root.is_empty() || root == "." {
        format!("{id}.sql")
    } else {
        format!("{root}/{id}.sql")
    }
}

fn command(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    }
}

fn message(f: &FindingReport) -> String {
    let mut text = f.message.clone();
    if let Some(n) = &f.node {
        let on = n
            .relation
            .as_ref()
            .map_or(String::new(), |r| format!(" on {r}"));
        text.push_str(&format!("\nnode {}: {}{on}", n.path, n.node_type));
    }
    if let Some(s) = &f.suggestion {
        text.push_str(&format!("\nsuggestion: {s}"));
    }
    text
}

/// `escapeData`: the message after `::`.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `escapeProperty`: a property value before `::`.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}
