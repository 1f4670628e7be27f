//! The report model and its renderers: one sample report built from the
//! captured rule fixtures, snapshotted once per format, and validated
//! against docs/report.schema.json.

use std::path::Path;

use planguard::report::{self, QueryReport, QueryResult, Report, Server};
use planguard::rules::{QueryError, QueryStatus};
use serde_json::Value;

use crate::rules::Case;

fn case(path: &str) -> Case {
    Case::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/plans/rules")
            .join(path),
    )
}

fn query(id: &str, case: &Case, include_plan: bool) -> QueryReport {
    let findings = case.findings();
    let changes = case.changes();
    QueryReport::build(
        &QueryResult {
            id,
            status: case.status,
            error: case.error.as_ref(),
            skip_reason: None,
            plan: case.plan.as_ref(),
            runs: &[],
            baseline: case.baseline.as_ref().map(|(b, _)| b),
            findings: &findings,
            params: None,
            changes: &changes,
        },
        include_plan,
    )
}

/// The report every renderer is tested with: a lost index with its cause,
/// a query without a baseline (with its plan included), a failed query, a
/// clean one and a skipped one.
pub fn sample_report() -> Report {
    let lost = case("index-lost/fires_index_dropped.json");
    let new = case("seq-scan/fires_selective_filter.json");
    let failed = case("query-error/fires_timeout_after_baseline.json");
    let clean = case("cost-jump/clean_same_plan.json");
    let skipped = QueryReport::build(
        &QueryResult {
            id: "reports/by_month",
            status: QueryStatus::Skipped,
            error: None,
            skip_reason: Some(
                "parameterized query without params (EXPLAIN (GENERIC_PLAN) needs PostgreSQL 16)",
            ),
            plan: None,
            runs: &[],
            baseline: None,
            findings: &[],
            params: None,
            changes: &[],
        },
        false,
    );
    let server = lost
        .baseline
        .as_ref()
        .map(|(b, _)| Server::new(b.server_version.clone(), b.server_version_num));
    Report::new(
        server,
        vec![
            query("orders/by_customer", &lost, false),
            query("orders/by_customer_new", &new, true),
            query("orders/self_join", &failed, false),
            query("orders/by_customer_unchanged", &clean, false),
            skipped,
        ],
    )
}

/// The sample report with the plans of both sides, as `check` builds it
/// for the HTML and Markdown formats.
pub fn sample_report_with_plans() -> Report {
    let mut report = sample_report();
    let lost = case("index-lost/fires_index_dropped.json");
    let clean = case("cost-jump/clean_same_plan.json");
    for q in &mut report.queries {
        match q.id.as_str() {
            "orders/by_customer" => *q = query("orders/by_customer", &lost, true),
            "orders/by_customer_unchanged" => {
                *q = query("orders/by_customer_unchanged", &clean, true);
            }
            _ => {}
        }
    }
    report
}

fn render(render: fn(&Report, &mut dyn std::io::Write) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    render(&sample_report(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn json_report() {
    let text = render(report::json::render);
    insta::assert_snapshot!(text);
    let back = report::json::parse(text.as_bytes()).unwrap();
    assert_eq!(
        back,
        sample_report(),
        "the JSON reads back to the same report"
    );
}

#[test]
fn table_report() {
    let mut out = Vec::new();
    report::table::render(&sample_report(), report::table::Style::default(), &mut out).unwrap();
    insta::assert_snapshot!("table_report", String::from_utf8(out).unwrap());
}

/// `-v`: every finding in full with its suggestion, as before the verdicts.
#[test]
fn table_report_verbose() {
    let mut out = Vec::new();
    let style = report::table::Style {
        verbose: true,
        ..report::table::Style::default()
    };
    report::table::render(&sample_report(), style, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("What changed"), "{text}");
    insta::assert_snapshot!("table_report_verbose", text);
}

/// The verdict layout says each cause and its fix once, however many
/// findings it explains.
#[test]
fn table_report_says_each_cause_once() {
    let mut out = Vec::new();
    report::table::render(&sample_report(), report::table::Style::default(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let fix = "Recreate the index: CREATE INDEX orders_customer_id_idx";
    // Once under "What changed", once under the query's cause.
    assert_eq!(text.matches(fix).count(), 2, "{text}");
    assert_eq!(text.matches("likely cause").count(), 0, "{text}");
    assert!(text.contains("What changed\n  index orders_customer_id_idx on public.orders was dropped\n    -> 1 query regressed: orders/by_customer\n"), "{text}");
}

#[test]
fn html_report() {
    let mut out = Vec::new();
    report::html::render(&sample_report_with_plans(), &mut out).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn markdown_report_with_the_plan_diff() {
    let mut out = Vec::new();
    report::markdown::render(&sample_report_with_plans(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    insta::assert_snapshot!(text);
    assert!(text.contains("<summary>plan diff</summary>"));
    assert_eq!(
        text.matches("<summary>plan diff</summary>").count(),
        1,
        "only the query whose shape changed has a diff"
    );
}

#[test]
fn summary_counts() {
    let r = sample_report();
    let s = &r.summary;
    assert_eq!((s.queries, s.ok, s.failed, s.skipped), (5, 3, 1, 1));
    assert_eq!(s.regressions, 2, "the lost index and the timeout");
    let ids: Vec<&str> = r.queries.iter().map(|q| q.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    let q = r
        .queries
        .iter()
        .find(|q| q.id == "orders/self_join")
        .unwrap();
    assert_eq!(q.sqlstate.as_deref(), Some("57014"));
    assert!(q.current.is_none() && q.baseline.is_some());
}

#[test]
fn json_report_matches_its_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/report.schema.json")).unwrap(),
    )
    .unwrap();
    jsonschema::draft202012::meta::validate(&schema).expect("a valid draft 2020-12 schema");
    let validator = jsonschema::draft202012::new(&schema).unwrap();

    let instance: Value = serde_json::from_str(&render(report::json::render)).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // The schema is strict enough to catch a renamed key or a bad value.
    let mut broken = instance.clone();
    broken["queries"][0]["status"] = "fine".into();
    assert!(!validator.is_valid(&broken));
    let mut broken = instance;
    broken["summary"]["regression"] = 1.into();
    assert!(!validator.is_valid(&broken));
}

#[test]
fn a_query_error_keeps_the_servers_message() {
    let error = QueryError {
        message: "relation \"orders\" does not exist".into(),
        sqlstate: Some("42P01".into()),
    };
    let q = QueryReport::build(
        &QueryResult {
            id: "q",
            status: QueryStatus::Error,
            error: Some(&error),
            skip_reason: None,
            plan: None,
            runs: &[],
            baseline: None,
            findings: &[],
            params: None,
            changes: &[],
        },
        false,
    );
    let json = serde_json::to_value(&q).unwrap();
    assert_eq!(json["status"], "error");
    assert_eq!(json["error"], "relation \"orders\" does not exist");
    assert_eq!(json["current"], Value::Null);
}
