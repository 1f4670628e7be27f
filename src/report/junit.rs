//! `--format junit`: JUnit XML, the test-report format CI systems read
//! (GitLab, Jenkins, Azure Pipelines, CircleCI...).
//!
//! One `<testsuites>` holding one `<testsuite name="planguard">`, with one
//! `<testcase classname="planguard" name="<query id>">` per query:
//!
//! - a query that failed or timed out has an `<error>` (type: its status,
//!   message: the server's message);
//! - a skipped query has a `<skipped>` with the reason;
//! - a query with findings at or above the threshold (`--fail-on`) has one
//!   `<failure>` listing them;
//! - anything else passes. A test case's other findings (below the
//!   threshold, or of a failed query) are listed in its `<system-out>`.
//!
//! The `tests`, `failures`, `errors` and `skipped` counts of both elements
//! are the counts of those test cases. No times are written (a report has
//! no wall clock). Text is escaped for XML 1.0, and characters it cannot
//! carry at all (control characters) become U+FFFD.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::escape::Markup;
use super::{FindingReport, QueryReport, Report, Status};
use crate::rules::Severity;

/// Writes the report as JUnit XML; `fail_on` is the lowest severity that
/// fails a test case (None: findings never do).
pub fn render(report: &Report, fail_on: Option<Severity>, out: &mut dyn Write) -> io::Result<()> {
    let cases: Vec<Case> = report
        .queries
        .iter()
        .map(|q| Case::of(q, fail_on))
        .collect();
    let tests = cases.len();
    let failures = cases
        .iter()
        .filter(|c| matches!(c, Case::Failure(..)))
        .count();
    let errors = cases.iter().filter(|c| matches!(c, Case::Error)).count();
    let skipped = cases.iter().filter(|c| matches!(c, Case::Skipped)).count();
    let counts =
        format!(r#"tests="{tests}" failures="{failures}" errors="{errors}" skipped="{skipped}""#);

    let mut xml = String::new();
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(xml, r#"<testsuites name="planguard" {counts}>"#);
    let _ = writeln!(xml, r#"  <testsuite name="planguard" {counts}>"#);
    xml.push_str("    <properties>\n");
    property(&mut xml, "planguard.version", &report.tool.version);
    if let Some(server) = &report.server {
        property(&mut xml, "server.version", &server.version);
    }
    if let Some(threshold) = fail_on {
        property(&mut xml, "fail-on", threshold.as_str());
    }
    xml.push_str("    </properties>\n");
    for (q, case) in report.queries.iter().zip(&cases) {
        write_case(&mut xml, q, case);
    }
    xml.push_str("  </testsuite>\n");
    xml.push_str("</testsuites>\n");
    out.write_all(xml.as_bytes())
}

/// How one query ends up in JUnit's terms.
enum Case<'a> {
    Pass,
    Error,
    Skipped,
    /// The findings at or above the threshold.
    Failure(Vec<&'a FindingReport>),
}

impl<'a> Case<'a> {
    fn of(q: &'a QueryReport, fail_on: Option<Severity>) -> Case<'a> {
        match q.status {
            Status::Error | Status::Timeout => return Case::Error,
            Status::Skipped => return Case::Skipped,
            Status::Ok => {}
        }
        let failing: Vec<&FindingReport> = match fail_on {
            Some(threshold) => q
                .findings
                .iter()
                .filter(|f| f.severity >= threshold)
                .collect(),
            None => Vec::new(),
        };
        if failing.is_empty() {
            Case::Pass
        } else {
            Case::Failure(failing)
        }
    }
}

fn property(xml: &mut String, name: &str, value: &str) {
    let _ = writeln!(
        xml,
        r#"      <property name="{}" value="{}"/>"#,
        attr(name),
        attr(value)
    );
}

fn write_case(xml: &mut String, q: &QueryReport, case: &Case) {
    let _ = writeln!(
        xml,
        r#"    <testcase classname="planguard" name="{}">"#,
        attr(&q.id)
    );
    let reason = q.error.as_deref().unwrap_or("");
    match case {
        Case::Pass => {}
        Case::Error => {
            let detail = match &q.sqlstate {
                Some(code) => format!("{reason} (SQLSTATE {code})"),
                None => reason.to_owned(),
            };
            let _ = writeln!(
                xml,
                r#"      <error type="{}" message="{}">{}</error>"#,
                q.status.as_str(),
                attr(&detail),
                text(&detail)
            );
        }
        Case::Skipped => {
            let _ = writeln!(xml, r#"      <skipped message="{}"/>"#, attr(reason));
        }
        Case::Failure(failing) => {
            let rules: Vec<&str> = failing.iter().map(|f| f.rule.as_str()).collect();
            let message = format!(
                "{} {}: {}",
                failing.len(),
                if failing.len() == 1 {
                    "finding"
                } else {
                    "findings"
                },
                rules.join(", ")
            );
            let body: Vec<String> = failing.iter().map(|f| describe(f)).collect();
            let _ = writeln!(
                xml,
                r#"      <failure type="{}" message="{}">{}</failure>"#,
                failing[0].rule,
                attr(&message),
                text(&body.join("\n"))
            );
        }
    }
    let in_failure: &[&FindingReport] = match case {
        Case::Failure(failing) => failing,
        _ => &[],
    };
    let others: Vec<String> = q
        .findings
        .iter()
        .filter(|f| !in_failure.iter().any(|shown| std::ptr::eq(*shown, *f)))
        .map(describe)
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            xml,
            "      <system-out>{}</system-out>",
            text(&others.join("\n"))
        );
    }
    xml.push_str("    </testcase>\n");
}

/// `error [index-lost, regression] at 0 Seq Scan on orders: message`, and
/// the suggestion on the next line.
fn describe(f: &FindingReport) -> String {
    let regression = if f.regression { ", regression" } else { "" };
    let at = f.node.as_ref().map_or(String::new(), |n| {
        let on = n
            .relation
            .as_ref()
            .map_or(String::new(), |r| format!(" on {r}"));
        format!(" at {} {}{on}", n.path, n.node_type)
    });
    let mut line = format!("{} [{}{regression}]{at}: {}", f.severity, f.rule, f.message);
    if let Some(s) = &f.suggestion {
        let _ = write!(line, "\n  suggestion: {s}");
    }
    line
}

/// Character data: `&`, `<`, `>` escaped.
fn text(s: &str) -> String {
    escape(s, false)
}

/// An attribute value in double quotes: also `"`, and line breaks and tabs
/// as character references so that they survive attribute normalization.
fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let markup = if attribute {
        Markup::XmlAttribute
    } else {
        Markup::XmlText
    };
    super::escape::escape(s, markup)
}
