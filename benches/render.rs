//! Report rendering benchmark (docs/PERFORMANCE.md has the command and the
//! figures): a 10,000-query result rendered in every format. Target: under
//! 2 s per format.
//!
//! The result is built the way `check` builds one, from the real plans
//! captured in fixtures/plans/rules/ (each with its baseline when it has
//! one, and the findings the rules give), repeated under new ids up to
//! 10,000 queries. The HTML and Markdown reports get the plans of both
//! sides (as `check` gives them); the other formats get the result without
//! plans, as `check` writes them without `--include-plans`; `json_with_plans`
//! is `--include-plans`.

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use planguard::advisor::{Advice, Served, Suggestion};
use planguard::baseline::{Baseline, Environment};
use planguard::plan::{NodeType, Plan, parse_json_value};
use planguard::report::{self, QueryReport, QueryResult, Report};
use planguard::rules::{
    BaselineCtx, Context, Observed, QueryStatus, RulesConfig, Severity, Thresholds, analyze, nodes,
    path_string,
};
use serde_json::Value;

const QUERIES: usize = 10_000;

/// One captured case: the plan now, its baseline and the environment now.
struct Case {
    name: String,
    plan: Plan,
    baseline: Option<(Baseline, Plan)>,
    env: Option<Environment>,
}

fn read(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/plans/rules");
    let mut cases = Vec::new();
    let mut rules: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    rules.sort();
    for dir in rules {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_str().unwrap();
                name.ends_with(".json")
                    && !name.ends_with(".baseline.json")
                    && !name.ends_with(".env.json")
            })
            .collect();
        files.sort();
        for path in files {
            let value = read(&path).unwrap();
            if value.get("status").is_some() {
                continue; // a failed query: no plan
            }
            let stem = path.file_stem().unwrap().to_str().unwrap();
            let plan = parse_json_value(&value).unwrap();
            let baseline = read(&dir.join(format!("{stem}.baseline.json"))).map(|v| {
                let b: Baseline = serde_json::from_value(v).unwrap();
                let p = parse_json_value(&b.plan).unwrap();
                (b, p)
            });
            let env = read(&dir.join(format!("{stem}.env.json")))
                .map(|v| serde_json::from_value(v).unwrap());
            cases.push(Case {
                name: format!("{}/{stem}", dir.file_name().unwrap().to_str().unwrap()),
                plan,
                baseline,
                env,
            });
        }
    }
    assert!(
        !cases.is_empty(),
        "no fixture plans under {}",
        root.display()
    );
    cases
}

/// Advice with one suggestion serving the plan's first Seq Scan, if any.
fn suggestion_for(id: &str, plan: &Plan, i: usize) -> Advice {
    let Some((index, node)) = nodes(&plan.root)
        .into_iter()
        .find(|(_, n)| n.node_type == NodeType::SeqScan)
    else {
        return Advice::default();
    };
    let relation = node.relation_name.clone().unwrap_or_default();
    let column = format!("c{}", i % 200);
    Advice {
        suggestions: vec![Suggestion {
            rank: i % 200 + 1,
            relation: format!("public.{relation}"),
            columns: vec![column.clone()],
            predicate: None,
            ddl: format!("CREATE INDEX CONCURRENTLY ON public.{relation} ({column})"),
            verified: true,
            widens: None,
            served: vec![Served {
                query_id: id.to_owned(),
                path: path_string(&index),
                node_type: "Seq Scan".to_owned(),
                relation,
                why: "seq_scan".to_owned(),
                predicates: vec!["Filter: (x = 1)".to_owned()],
                cost_before: Some(1000.0),
                cost_after: Some(10.0),
                calls: None,
                rows_discarded: 0.0,
                loops: 1.0,
                plan_after: None,
            }],
            saving: Some(990.0),
            confirmed: None,
            alternative: None,
            size_bytes: None,
        }],
        unverified_because: None,
        notes: Vec::new(),
        unadvised: Vec::new(),
        redundant: Vec::new(),
        total_size_bytes: None,
        verbose: Vec::new(),
    }
}

/// The 10,000-query result, with the plans of both sides.
fn big_report() -> Report {
    let cases = cases();
    let thresholds = Thresholds::default();
    let mut queries = Vec::with_capacity(QUERIES);
    for i in 0..QUERIES {
        let case = &cases[i % cases.len()];
        let id = format!("set{:02}/{}/{i:05}", i % 37, case.name);
        // An index suggestion on the first Seq Scan, one of 200 indexes
        // shared across the set, for the sql format to gather.
        let advice = suggestion_for(&id, &case.plan, i);
        let ctx = Context {
            query_id: &id,
            status: QueryStatus::Ok,
            error: None,
            plan: Some(&case.plan),
            runs: &[],
            baseline: case
                .baseline
                .as_ref()
                .map(|(record, plan)| BaselineCtx { record, plan }),
            now: Observed {
                environment: case.env.as_ref(),
                settings: Some(&case.plan.settings),
                server_version: None,
                advice: Some(&advice),
                generic: None,
                planned: None,
                history: None,
            },
            thresholds: &thresholds,
        };
        let findings = analyze(&ctx, &RulesConfig::default());
        queries.push(QueryReport::build(
            &QueryResult {
                id: &id,
                status: QueryStatus::Ok,
                error: None,
                skip_reason: None,
                plan: Some(&case.plan),
                runs: &[],
                baseline: case.baseline.as_ref().map(|(b, _)| b),
                findings: &findings,
                params: None,
                changes: &[],
            },
            true,
        ));
    }
    Report::new(None, queries)
}

type Render = fn(&Report, &mut Vec<u8>) -> std::io::Result<()>;

fn formats() -> Vec<(&'static str, bool, Render)> {
    vec![
        ("table", false, |r, out| {
            report::table::render(r, report::table::Style::default(), out)
        }),
        ("json", false, |r, out| report::json::render(r, out)),
        ("json_with_plans", true, |r, out| {
            report::json::render(r, out)
        }),
        ("markdown", true, |r, out| report::markdown::render(r, out)),
        ("github", false, |r, out| {
            report::github::render(r, "queries", out)
        }),
        ("junit", false, |r, out| {
            report::junit::render(r, Some(Severity::Warning), out)
        }),
        ("sarif", false, |r, out| {
            report::sarif::render(r, "queries", out)
        }),
        ("prometheus", false, |r, out| {
            let run = report::prometheus::RunTime {
                timestamp: 1_700_000_000,
                duration: Some(Duration::from_secs(60)),
            };
            report::prometheus::render(r, run, out)
        }),
        ("html", true, |r, out| report::html::render(r, out)),
        ("sql", false, |r, out| report::sql::render(r, out)),
    ]
}

fn render_10000(c: &mut Criterion) {
    let with_plans = big_report();
    let without_plans = with_plans.without_plans();
    let mut group = c.benchmark_group("render_10000");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(QUERIES as u64));
    for (name, plans, render) in formats() {
        let report = if plans { &with_plans } else { &without_plans };
        let mut size = Vec::new();
        render(report, &mut size).unwrap();
        eprintln!("{name}: {} bytes for {QUERIES} queries", size.len());
        group.bench_with_input(BenchmarkId::from_parameter(name), report, |b, report| {
            b.iter(|| {
                let mut out = Vec::with_capacity(size.len());
                render(report, &mut out).unwrap();
                out
            });
        });
    }
    group.finish();
}

criterion_group!(benches, render_10000);
criterion_main!(benches);
