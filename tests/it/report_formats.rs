//! The output formats besides table and JSON: each renders the shared
//! sample report (see `report::sample_report`) once into a snapshot, and
//! what CI systems read from it is checked with a real parser.

use std::path::Path;
use std::process::Command;

use planguard::report::{self, Report};
use planguard::rules::Severity;

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
        .expect("the regression line");
    // Every `|` escaped: the same text in a table cell would not split it.
    assert!(!row.replace("\\|", "").contains('|'), "{row}");
    assert!(row.contains("a,b \\| &lt;b&gt;"), "{row}");
    assert!(!text.contains("<b>"), "{text}");
    assert!(text.contains("&lt;b&gt;bold&lt;/b&gt;"), "{text}");
    assert!(text.contains("\\*not\\*"), "{text}");
}

// junit

/// An element of a JUnit file: its name, attributes and the names of its
/// children, as a real XML parser reads them.
#[derive(Debug)]
struct Element {
    name: String,
    attributes: std::collections::BTreeMap<String, String>,
    children: Vec<Element>,
}

impl Element {
    fn attr(&self, name: &str) -> &str {
        self.attributes
            .get(name)
            .map_or_else(|| panic!("<{}> has no {name}", self.name), String::as_str)
    }

    fn count(&self, name: &str) -> usize {
        self.attr(name).parse().expect("a count")
    }

    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses XML into its element tree; panics on anything that is not
/// well-formed.
fn parse_xml(xml: &str) -> Element {
    use quick_xml::events::{BytesStart, Event};

    fn element(start: &BytesStart) -> Element {
        let attributes = start
            .attributes()
            .map(|a| {
                let a = a.expect("a well-formed attribute");
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().expect("an escaped value").into_owned(),
                )
            })
            .collect();
        Element {
            name: String::from_utf8(start.name().as_ref().to_vec()).unwrap(),
            attributes,
            children: Vec::new(),
        }
    }

    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(start) => stack.push(element(&start)),
            Event::Empty(start) => {
                let e = element(&start);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let e = stack.pop().expect("an open element");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::GeneralRef(r) => {
                let name = String::from_utf8(r.to_vec()).unwrap();
                assert!(
                    name.starts_with('#')
                        || ["amp", "lt", "gt", "quot", "apos"].contains(&name.as_str()),
                    "undefined entity &{name};"
                );
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed elements");
    root.expect("a root element")
}

fn junit(report: &Report, fail_on: Option<Severity>) -> String {
    rendered(report, |r, out| report::junit::render(r, fail_on, out))
}

#[test]
fn junit_report() {
    insta::assert_snapshot!(junit(&sample_report(), Some(Severity::Warning)));
}

#[test]
fn junit_counts_are_what_ci_systems_read() {
    let root = parse_xml(&junit(&sample_report(), Some(Severity::Warning)));
    assert_eq!(root.name, "testsuites");
    let suite = root
        .children_named("testsuite")
        .next()
        .expect("a testsuite");
    for e in [&root, suite] {
        // 5 queries: the lost index and the new query fail at warning, the
        // timeout is an error, one is skipped, one passes.
        assert_eq!(e.count("tests"), 5);
        assert_eq!(e.count("failures"), 2);
        assert_eq!(e.count("errors"), 1);
        assert_eq!(e.count("skipped"), 1);
    }
    let cases: Vec<&Element> = suite.children_named("testcase").collect();
    assert_eq!(cases.len(), 5);
    let names: Vec<&str> = cases.iter().map(|c| c.attr("name")).collect();
    assert_eq!(
        names,
        [
            "orders/by_customer",
            "orders/by_customer_new",
            "orders/by_customer_unchanged",
            "orders/self_join",
            "reports/by_month"
        ]
    );
    assert!(cases.iter().all(|c| c.attr("classname") == "planguard"));
    let outcome = |name: &str| -> Vec<&str> {
        cases
            .iter()
            .find(|c| c.attr("name") == name)
            .unwrap()
            .children
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| *n != "system-out")
            .collect()
    };
    assert_eq!(outcome("orders/by_customer"), ["failure"]);
    assert_eq!(outcome("orders/by_customer_new"), ["failure"]);
    assert_eq!(outcome("orders/by_customer_unchanged"), Vec::<&str>::new());
    assert_eq!(outcome("orders/self_join"), ["error"]);
    assert_eq!(outcome("reports/by_month"), ["skipped"]);
}

#[test]
fn junit_fails_only_at_or_above_the_threshold() {
    // At error, the new query's warning no longer fails it.
    let root = parse_xml(&junit(&sample_report(), Some(Severity::Error)));
    assert_eq!(root.count("failures"), 1);
    // At never, nothing fails; errors and skips stay.
    let root = parse_xml(&junit(&sample_report(), None));
    assert_eq!(
        (
            root.count("failures"),
            root.count("errors"),
            root.count("skipped")
        ),
        (0, 1, 1)
    );
}

#[test]
fn junit_escapes_names_messages_and_control_characters() {
    let mut report = hostile_report();
    report.queries[0].findings[0]
        .message
        .push_str(" \u{1b}[31m");
    let xml = junit(&report, Some(Severity::Info));
    let root = parse_xml(&xml);
    let suite = &root.children[0];
    let case = suite
        .children_named("testcase")
        .find(|c| c.attr("name") == "odd/a,b:c|d<e>&\"f\"")
        .expect("the odd query, its name read back exactly");
    let failure = case.children_named("failure").next().unwrap();
    assert!(failure.attr("message").contains("cost-jump"), "{xml}");
    assert!(!xml.contains('\u{1b}'), "control characters are not XML");
}

// github

fn github(report: &Report, root: &str) -> String {
    rendered(report, |r, out| report::github::render(r, root, out))
}

#[test]
fn github_report() {
    insta::assert_snapshot!(github(&sample_report(), "queries"));
}

#[test]
fn github_annotations_point_at_the_query_files() {
    let text = github(&sample_report(), "queries/");
    let lines: Vec<&str> = text.lines().collect();
    // What changed first (one notice for the dropped index), then one
    // annotation per finding, nothing else.
    assert_eq!(lines.len(), 10);
    assert!(lines.iter().all(|l| l.starts_with("::")));
    assert!(
        lines[0].starts_with(
            "::notice title=planguard%3A what changed::index orders_customer_id_idx on public.orders was dropped -> 1 query regressed: orders/by_customer%0Afix: Recreate the index"
        ),
        "{text}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with(
                "::error file=queries/orders/by_customer.sql,line=1,title=planguard index-lost::"
            ))
            .count(),
        1,
        "{text}"
    );
    // Time (78x) and buffers (14x) are past their error ratios.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("::warning ")).count(),
        2
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("::notice ")).count(),
        3
    );
    assert_eq!(report::github::query_file(".", "a/b"), "a/b.sql");
    assert_eq!(report::github::query_file("one.sql", "one"), "one.sql");
}

#[test]
fn github_escapes_data_and_properties() {
    let text = github(&hostile_report(), "queries");
    let line = text
        .lines()
        .find(|l| l.contains("100%25 worse"))
        .expect("the hostile finding on one line");
    assert!(
        line.starts_with(
            "::error file=queries/odd/a%2Cb%3Ac|d<e>&\"f\".sql,line=1,title=planguard "
        ),
        "{line}"
    );
    assert!(
        line.contains("100%25 worse%0D%0Asecond line: a,b"),
        "{line}"
    );
    assert!(line.contains("suggestion: line 1%0Aline 2 %250A"), "{line}");
    assert!(!text.contains('\r'));
}

// sarif

fn sarif(report: &Report) -> serde_json::Value {
    let text = rendered(report, |r, out| report::sarif::render(r, "queries", out));
    serde_json::from_str(&text).expect("SARIF is JSON")
}

#[test]
fn sarif_report() {
    let text = rendered(&sample_report(), |r, out| {
        report::sarif::render(r, "queries", out)
    });
    // The rules' help is their whole docs page: leave it out of the
    // snapshot, the structure test below checks it.
    let mut log: serde_json::Value = serde_json::from_str(&text).unwrap();
    for rule in log["runs"][0]["tool"]["driver"]["rules"]
        .as_array_mut()
        .unwrap()
    {
        rule["help"] = "[docs page]".into();
    }
    insta::assert_json_snapshot!(log);
}

#[test]
fn sarif_has_the_structure_of_2_1_0() {
    let log = sarif(&sample_report());
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = log["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "planguard");
    assert!(driver["version"].is_string());
    let rules = driver["rules"].as_array().expect("rules");
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for rule in planguard::rules::ALL_RULES {
        assert!(
            ids.contains(&rule.info().id),
            "{} is listed",
            rule.info().id
        );
    }
    for rule in rules {
        assert!(
            !rule["shortDescription"]["text"]
                .as_str()
                .unwrap()
                .is_empty()
        );
        let help = rule["help"]["text"].as_str().unwrap();
        assert!(help.starts_with(&format!("# {}", rule["id"].as_str().unwrap())));
        assert!(rule["help"]["markdown"].is_string());
    }
    let results = runs[0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 9, "one result per finding");
    for r in results {
        let id = r["ruleId"].as_str().unwrap();
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(ids[index], id, "ruleIndex points at its rule");
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(
            uri.starts_with("queries/") && uri.ends_with(".sql"),
            "{uri}"
        );
    }
}

// prometheus

fn prometheus(report: &Report, duration: Option<std::time::Duration>) -> String {
    let run = report::prometheus::RunTime {
        timestamp: 1_700_000_000,
        duration,
    };
    rendered(report, |r, out| report::prometheus::render(r, run, out))
}

/// One sample: metric name, labels in order, value.
type Sample = (String, Vec<(String, String)>, f64);

/// A strict reader of the text exposition format: every line is a HELP, a
/// TYPE (gauge) or a sample of the family just declared, with valid names,
/// well-escaped quoted label values and a float value; no series twice.
fn parse_exposition(text: &str) -> Vec<Sample> {
    fn name_ok(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    assert!(text.ends_with('\n'), "the last line ends with a line feed");
    let mut samples: Vec<Sample> = Vec::new();
    let mut help: Option<String> = None;
    let mut typed: Option<String> = None;
    let mut families = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').expect("HELP name text");
            assert!(name_ok(name) && !doc.is_empty(), "{line}");
            assert!(
                families.insert(name.to_owned()),
                "family {name} declared twice"
            );
            help = Some(name.to_owned());
            typed = None;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            assert_eq!(
                Some(rest.to_owned()),
                help.as_ref().map(|h| format!("{h} gauge")),
                "{line}"
            );
            typed = help.clone();
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let family = typed
            .as_deref()
            .unwrap_or_else(|| panic!("sample before HELP/TYPE: {line}"));
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("no value: {line}"),
        };
        assert_eq!(name, family, "{line}");
        let mut labels = Vec::new();
        let mut rest = rest;
        if let Some(mut body) = rest.strip_prefix('{') {
            loop {
                let (key, after) = body.split_once("=\"").expect("label=\"value\"");
                assert!(name_ok(key) && !key.contains(':'), "{line}");
                let mut value = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next().expect("a closing quote") {
                        (i, '"') => break i,
                        (_, '\\') => match chars.next().expect("an escape").1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            c => panic!("bad escape \\{c} in {line}"),
                        },
                        (_, '\n') => panic!("raw line feed"),
                        (_, c) => value.push(c),
                    }
                };
                labels.push((key.to_owned(), value));
                let after = &after[end + 1..];
                if let Some(more) = after.strip_prefix(',') {
                    body = more;
                } else {
                    rest = after.strip_prefix('}').expect("labels end with }");
                    break;
                }
            }
        }
        let value = rest.strip_prefix(' ').expect("one space before the value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let sample = (name.to_owned(), labels, value);
        assert!(
            !samples.iter().any(|s| s.0 == sample.0 && s.1 == sample.1),
            "series twice: {line}"
        );
        samples.push(sample);
    }
    samples
}

fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && l.len() == labels.len()
                && l.iter()
                    .zip(labels)
                    .all(|((k, v), (k2, v2))| k == k2 && v == v2)
        })
        .map(|s| s.2)
}

#[test]
fn prometheus_report() {
    insta::assert_snapshot!(prometheus(&sample_report(), None));
}

#[test]
fn prometheus_output_parses_and_has_the_gauges() {
    let samples = parse_exposition(&prometheus(
        &sample_report(),
        Some(std::time::Duration::from_millis(12_345)),
    ));
    let q = "orders/by_customer";
    assert_eq!(
        value_of(&samples, "planguard_query_total_cost", &[("query", q)]),
        Some(3971.0)
    );
    assert_eq!(
        value_of(&samples, "planguard_query_execution_ms", &[("query", q)]),
        Some(11.439)
    );
    assert_eq!(
        value_of(&samples, "planguard_query_shared_blocks", &[("query", q)]),
        Some(1471.0)
    );
    assert_eq!(
        value_of(
            &samples,
            "planguard_query_findings",
            &[("query", q), ("severity", "error")]
        ),
        // index-lost, cost-jump (12x), and time (78x) and buffers (14x)
        // past their error ratios.
        Some(4.0)
    );
    assert_eq!(
        value_of(&samples, "planguard_query_regression", &[("query", q)]),
        Some(1.0)
    );
    assert_eq!(
        value_of(
            &samples,
            "planguard_query_regression",
            &[("query", "orders/by_customer_unchanged")]
        ),
        Some(0.0)
    );
    // A query without a plan has no figures, but its findings and regression.
    assert_eq!(
        value_of(
            &samples,
            "planguard_query_total_cost",
            &[("query", "orders/self_join")]
        ),
        None
    );
    assert_eq!(
        value_of(
            &samples,
            "planguard_query_regression",
            &[("query", "orders/self_join")]
        ),
        Some(1.0)
    );
    for (status, n) in [("ok", 3.0), ("failed", 1.0), ("skipped", 1.0)] {
        assert_eq!(
            value_of(&samples, "planguard_queries", &[("status", status)]),
            Some(n)
        );
    }
    assert_eq!(
        value_of(&samples, "planguard_run_timestamp_seconds", &[]),
        Some(1_700_000_000.0)
    );
    assert_eq!(
        value_of(&samples, "planguard_run_duration_seconds", &[]),
        Some(12.345)
    );
}

#[test]
fn prometheus_escapes_label_values() {
    let mut report = sample_report();
    report.queries[0].id = "odd\\path \"x\"\nnext".to_owned();
    let text = prometheus(&report, None);
    assert!(
        text.contains(r#"{query="odd\\path \"x\"\nnext"}"#),
        "{text}"
    );
    let samples = parse_exposition(&text);
    assert_eq!(
        value_of(
            &samples,
            "planguard_query_regression",
            &[("query", "odd\\path \"x\"\nnext")]
        ),
        Some(1.0)
    );
}

// planguard report

/// Runs planguard in `dir`; returns the exit code, stdout and stderr.
fn planguard_in(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_planguard"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("planguard runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// A temp dir holding the sample report as `result.json`, as `check
/// --format json` writes it.
fn saved_result() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let json = rendered(&sample_report(), report::json::render);
    std::fs::write(dir.path().join("result.json"), &json).unwrap();
    (dir, json)
}

#[test]
fn report_rerenders_json_identically() {
    let (dir, json) = saved_result();
    let (code, stdout, stderr) = planguard_in(
        dir.path(),
        &["report", "result.json", "--format", "json"],
        &[],
    );
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(stdout, json, "the round trip changes nothing");
}

#[test]
fn report_writes_several_formats_to_files() {
    let (dir, _) = saved_result();
    let (code, stdout, stderr) = planguard_in(
        dir.path(),
        &[
            "report",
            "result.json",
            "--format",
            "markdown:pr.md",
            "--format",
            "junit:junit.xml",
            "--format",
            "sarif:planguard.sarif",
        ],
        &[],
    );
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    assert_eq!(
        read("pr.md"),
        rendered(&sample_report(), report::markdown::render)
    );
    assert_eq!(
        read("junit.xml"),
        junit(&sample_report(), Some(Severity::Warning))
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&read("planguard.sarif")).unwrap(),
        sarif(&sample_report())
    );
}

#[test]
fn report_github_appends_the_markdown_to_the_step_summary() {
    let (dir, _) = saved_result();
    let summary = dir.path().join("step_summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let (code, stdout, _) = planguard_in(
        dir.path(),
        &["report", "result.json", "--format", "github"],
        &[("GITHUB_STEP_SUMMARY", &summary)],
    );
    assert_eq!(code, 0);
    assert_eq!(stdout, github(&sample_report(), "queries"));
    let markdown = rendered(&sample_report(), report::markdown::render);
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        format!("earlier step\n{markdown}")
    );
}

#[test]
fn report_of_a_bad_file_exits_2_naming_it() {
    let (dir, json) = saved_result();
    std::fs::write(dir.path().join("notes.txt"), "not json at all").unwrap();
    let newer = json.replacen("\"schema_version\": 1", "\"schema_version\": 99", 1);
    std::fs::write(dir.path().join("future.json"), newer).unwrap();
    std::fs::write(dir.path().join("other.json"), "{\"hello\": 1}").unwrap();
    for (file, says) in [
        ("missing.json", "cannot read the report"),
        ("notes.txt", "not a JSON report"),
        ("future.json", "schema_version 99 is not supported"),
        ("other.json", "not a planguard report: no schema_version"),
    ] {
        let (code, stdout, stderr) =
            planguard_in(dir.path(), &["report", file, "--format", "markdown"], &[]);
        assert_eq!(code, 2, "{file}: {stderr}");
        assert_eq!(stdout, "", "{file}");
        assert!(
            stderr.starts_with(&format!("error: {file}: {says}")),
            "{file}: {stderr}"
        );
    }
}

#[test]
fn report_refuses_an_unknown_format() {
    let (dir, _) = saved_result();
    let (code, _, stderr) = planguard_in(
        dir.path(),
        &["report", "result.json", "--format", "yaml"],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unknown format `yaml`; one of: table, json, markdown"),
        "{stderr}"
    );
}

#[test]
fn check_writes_several_formats_at_once() {
    // Offline (--plans), with a baseline whose index is gone now.
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/plans/rules/index-lost");
    for sub in ["plans/orders", "baselines/orders"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    std::fs::copy(
        fixtures.join("fires_index_dropped.json"),
        dir.path().join("plans/orders/by_customer.json"),
    )
    .unwrap();
    std::fs::copy(
        fixtures.join("fires_index_dropped.baseline.json"),
        dir.path().join("baselines/orders/by_customer.json"),
    )
    .unwrap();
    let (code, stdout, stderr) = planguard_in(
        dir.path(),
        &[
            "check",
            "--plans",
            "plans",
            "--format",
            "markdown:pr.md",
            "--format",
            "junit:junit.xml",
            "--format",
            "github",
        ],
        &[],
    );
    assert_eq!(code, 1, "an error finding fails the run: {stderr}");
    assert!(
        stdout.lines().any(|l| l.starts_with(
            "::error file=queries/orders/by_customer.sql,line=1,title=planguard cost-jump::"
        )),
        "{stdout}"
    );
    let markdown = std::fs::read_to_string(dir.path().join("pr.md")).unwrap();
    assert!(
        markdown.contains("❌ 1 regression in 1 query"),
        "{markdown}"
    );
    let root = parse_xml(&std::fs::read_to_string(dir.path().join("junit.xml")).unwrap());
    assert_eq!((root.count("tests"), root.count("failures")), (1, 1));
}

/// Runs `planguard report result.json` with the environment as given
/// (NO_COLOR, COLUMNS unset unless set here); stdout is a pipe.
fn report_table(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_planguard"));
    command
        .args(["report", "result.json"])
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("planguard runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn table_colours_only_when_asked_or_on_a_terminal() {
    let (dir, _) = saved_result();
    let plain = report_table(dir.path(), &["--format", "table"], &[]);
    assert!(!plain.contains('\x1b'), "a pipe gets no colours:\n{plain}");
    let always = report_table(dir.path(), &["--format", "table", "--color", "always"], &[]);
    assert!(
        always.contains("\x1b["),
        "--color always colours:\n{always}"
    );
    let strip = |s: &str| {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    assert_eq!(strip(&always), plain, "colours change nothing else");
    let no_color = report_table(
        dir.path(),
        &["--format", "table", "--color", "auto"],
        &[("NO_COLOR", "1")],
    );
    assert!(!no_color.contains('\x1b'));
    let never = report_table(dir.path(), &["--format", "table", "--color", "never"], &[]);
    assert_eq!(never, plain);
}

#[test]
fn table_fits_the_width_in_columns() {
    let (dir, _) = saved_result();
    let wide = report_table(dir.path(), &["--format", "table"], &[]);
    let widest = |text: &str| {
        text.lines()
            .take_while(|l| !l.is_empty())
            .map(|l| l.chars().count())
            .max()
            .unwrap()
    };
    assert!(
        widest(&wide) > 70,
        "the sample table is wider than 70 columns"
    );
    let narrow = report_table(dir.path(), &["--format", "table"], &[("COLUMNS", "70")]);
    assert!(
        widest(&narrow) <= 70,
        "COLUMNS=70 fits the table in 70 columns:\n{narrow}"
    );
    for q in sample_report().queries {
        let first = q.id.split('/').next().unwrap();
        assert!(narrow.contains(first), "{} is still shown", q.id);
    }
}

#[test]
fn report_fail_on_sets_the_exit_code() {
    let (dir, _) = saved_result();
    let worst = sample_report().worst();
    assert_eq!(worst, Some(Severity::Error), "the sample has an error");
    for (fail_on, code) in [
        (None, 0),
        (Some("error"), 1),
        (Some("warning"), 1),
        (Some("never"), 0),
    ] {
        let mut args = vec!["report", "result.json", "--format", "json"];
        if let Some(level) = fail_on {
            args.extend(["--fail-on", level]);
        }
        let (got, stdout, stderr) = planguard_in(dir.path(), &args, &[]);
        assert_eq!(got, code, "--fail-on {fail_on:?}: {stderr}");
        assert!(stdout.starts_with('{'));
    }
    let clean = tempfile::tempdir().unwrap();
    std::fs::write(
        clean.path().join("result.json"),
        rendered(&clean_report(), report::json::render),
    )
    .unwrap();
    let (got, _, _) = planguard_in(
        clean.path(),
        &[
            "report",
            "result.json",
            "--format",
            "json",
            "--fail-on",
            "info",
        ],
        &[],
    );
    assert_eq!(got, 0, "a clean report passes even --fail-on info");
}

// sql

/// The sample report with the missing-index findings a real run gave for
/// two queries served by one index (figures from the advisor's test run on
/// PostgreSQL 15 with HypoPG), and one partial alternative.
fn report_with_suggestions() -> Report {
    let mut report = sample_report();
    let finding = |query: &str, before: f64, after: f64| -> report::FindingReport {
        serde_json::from_value(serde_json::json!({
            "rule": "missing-index",
            "severity": "warning",
            "regression": false,
            "message": format!("an index on public.orders (customer_id, status) would serve this Seq Scan on orders: planner cost {before:.1} -> {after:.1}, verified with HypoPG"),
            "node": {"path": "0", "node_type": "Seq Scan", "relation": "orders"},
            "evidence": {
                "ddl": "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_status_idx ON public.orders (customer_id, status)",
                "relation": "public.orders",
                "columns": ["customer_id", "status"],
                "rank": 1,
                "saving": 1139.1,
                "verified": true,
                "cost_before": before,
                "cost_after": after,
                "queries": ["orders/by_customer", query],
                "widens": "orders_customer_id_idx",
                "alternative": {"ddl": "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx1 ON public.orders (customer_id) WHERE status = 'open'", "cost_after": 9.5},
            },
            "suggestion": "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_status_idx ON public.orders (customer_id, status); it extends orders_customer_id_idx (CREATE INDEX orders_customer_id_idx ON public.orders USING btree (customer_id)), which it makes redundant: drop that one (DROP INDEX CONCURRENTLY) once nothing else needs it. Alternatively, smaller and cheaper to keep up, the partial index CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx1 ON public.orders (customer_id) WHERE status = 'open';",
        }))
        .unwrap()
    };
    let mut second = finding("orders/by_customer_new", 608.0, 8.06);
    second.evidence.remove("alternative");
    report.queries[0]
        .findings
        .push(finding("orders/by_customer_new", 558.0, 18.75));
    report.queries[1].findings.push(second);
    let mut unverified = finding("orders/self_join", 0.0, 0.0);
    unverified.evidence.insert(
        "ddl".into(),
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"Line\nItems_order_id_idx\" ON public.\"Line\nItems\" (order_id)".into(),
    );
    unverified.evidence.insert("rank".into(), 2.into());
    unverified
        .evidence
        .insert("relation".into(), "public.\"Line\nItems\"".into());
    unverified.evidence.remove("cost_before");
    unverified.evidence.remove("widens");
    unverified.evidence.remove("alternative");
    unverified.evidence.insert(
        "unverified_because".into(),
        "verification is off (--hypopg off)".into(),
    );
    report.queries[2].findings.push(unverified);
    Report::new(report.server.clone(), report.queries)
}

#[test]
fn sql_report() {
    let text = rendered(&report_with_suggestions(), report::sql::render);
    insta::assert_snapshot!(text);
}

#[test]
fn sql_has_each_index_once_and_comments_that_stay_comments() {
    let text = rendered(&report_with_suggestions(), report::sql::render);
    // Every line is a comment, blank, or part of a statement: a name with
    // a line break does not end its comment.
    let statements: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("-- ") && !l.is_empty())
        .collect();
    assert_eq!(
        statements,
        [
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_status_idx ON public.orders (customer_id, status);",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"Line",
            "Items_order_id_idx\" ON public.\"Line",
            "Items\" (order_id);",
        ]
    );
    assert!(
        text.contains("-- 2. public.\"Line Items\" (customer_id, status)\n"),
        "{text}"
    );
    assert_eq!(
        rendered(&clean_report(), report::sql::render),
        "-- planguard: no missing index found\n"
    );
}

/// Regression: a 22-query result rendered 80,000 characters of Markdown,
/// which GitHub refuses as a comment. The budget keeps the verdicts and
/// "What changed" and cuts the per-query details with a note.
#[test]
fn markdown_stays_under_its_byte_budget() {
    let mut report = sample_report();
    let template = report.queries[0].clone();
    for n in 0..300 {
        let mut q = template.clone();
        q.id = format!("many/q{n:03}");
        report.queries.push(q);
    }
    let changes = report.changes.clone();
    let mut report = Report::new(report.server.clone(), report.queries);
    report.changes = changes;
    let mut full = Vec::new();
    report::markdown::render_within(&report, usize::MAX, &mut full).unwrap();
    assert!(full.len() > 65_536, "{}", full.len());
    let mut out = Vec::new();
    report::markdown::render(&report, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.len() <= report::markdown::DEFAULT_MAX_BYTES,
        "{}",
        text.len()
    );
    assert!(text.contains("### What changed"), "{text}");
    assert!(
        text.contains("- <code>many/q299</code>: regressed"),
        "the verdicts are all there"
    );
    assert!(text.contains("more queries left out to keep this comment under 60000 bytes"));
    let shown = text.matches("<details><summary>").count();
    assert!((1..305).contains(&shown), "{shown}");
    // A small budget still keeps the head whole.
    let mut out = Vec::new();
    report::markdown::render_within(&report, 1000, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("- <code>many/q299</code>: regressed"));
    assert_eq!(text.matches("<details><summary>").count(), 0);
}
