//! The output formats besides table and JSON: each renders the shared
//! sample report (see `report::sample_report`) once into a snapshot, and
//! what CI systems read from it is checked with a real parser.

use planguard::report::{self, Report};

use crate::report::sample_report;

/// Renders with `render` and returns the text.
fn rendered(
    report: &Report,
    render: impl Fn(&Report, &mut dyn std::io::Write) -> std::io::Result<()>,
) -> String {
    let mut out = Vec::new();
    render(report, &mut out).expect("rendering to memory does not fail");
    String::from_utf8(out).expect("renderers write UTF-8")
}

/// A report of these queries with no findings at all.
fn clean_report() -> Report {
    let mut report = sample_report();
    for q in &mut report.queries {
        q.findings.clear();
    }
    Report::new(report.server.clone(), report.queries)
}

/// A report whose texts carry every character some format must escape.
fn hostile_report() -> Report {
    let mut report = sample_report();
    let q = &mut report.queries[0];
    q.id = "odd/a,b:c|d<e>&\"f\"".to_owned();
    let f = &mut q.findings[0];
    f.message =
        "100% worse\r\nsecond line: a,b | <b>bold</b> *not* [link](x) \\ \"q\" & 'a'".to_owned();
    f.suggestion = Some("line 1\nline 2 %0A".to_owned());
    Report::new(report.server.clone(), report.queries)
}

// markdown

#[test]
fn markdown_report() {
    let text = rendered(&sample_report(), report::markdown::render);
    insta::assert_snapshot!(text);
}

#[test]
fn markdown_is_byte_identical_for_the_same_report() {
    let a = rendered(&sample_report(), report::markdown::render);
    let b = rendered(&sample_report(), report::markdown::render);
    assert_eq!(a, b);
}

#[test]
fn markdown_verdict_without_regressions() {
    let text = rendered(&clean_report(), report::markdown::render);
    assert!(text.contains("✅ no regressions in 5 queries"), "{text}");
    assert!(!text.contains("### Regressions"), "{text}");
}

#[test]
fn markdown_escapes_what_would_break_a_table_or_open_html() {
    let text = rendered(&hostile_report(), report::markdown::render);
    let row = text
        .lines()
        .find(|l| l.contains("100% worse"))
        .expect("the regression row");
    // Four cells: an unescaped `|` in the message would make more.
    let cells = row.replace("\\|", "").matches('|').count();
    assert_eq!(cells, 5, "{row}");
    assert!(!text.contains("<b>"), "{text}");
    assert!(text.contains("&lt;b&gt;bold&lt;/b&gt;"), "{text}");
    assert!(text.contains("\\*not\\*"), "{text}");
}
