//! The rules: fixture cases captured from a real server (snapshotted), the
//! registry against docs and fixtures, and live plans from a throwaway
//! database (asserting shape and which rules fire, never figures).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use planguard::baseline::{Baseline, Environment};
use planguard::plan::{NodeType, Plan, parse_json};
use planguard::queryset::ParamValues;
use planguard::rules::{
    ALL_RULES, BaselineCtx, Context, Finding, GenericCtx, HistoryCtx, HistoryPoint, Observed,
    PLANNED_RULES, QueryError, QueryStatus, RulesConfig, Severity, Thresholds, analyze, nodes,
};
use serde_json::Value;

use crate::support;

mod capture;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn parse(value: &Value) -> Plan {
    parse_json(value.to_string().as_bytes()).unwrap_or_else(|e| panic!("fixture plan: {e}"))
}

fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// One fixture case: `<case>.json` (EXPLAIN JSON output, or for a failed
/// query `{"status", "message", "sqlstate"}`), with `<case>.baseline.json`,
/// `<case>.env.json` (the environment now), `<case>.generic.json` (the
/// generic plan at the same values: `{"values", "plan", "common":
/// {"values", "plan"}}`) and `<case>.history.json` (the query's recorded
/// runs: `{"now", "runs": [{"run", "at", "status", "fingerprint",
/// "execution_ms", "shared_blocks"}]}`) when present.
pub struct Case {
    pub id: String,
    pub plan: Option<Plan>,
    pub error: Option<QueryError>,
    pub status: QueryStatus,
    pub baseline: Option<(Baseline, Plan)>,
    pub env: Option<Environment>,
    pub generic: Option<Generic>,
    pub history: Option<(i64, Vec<HistoryPoint>)>,
}

/// A case's generic plan, its values and the custom plan at the common
/// values.
pub struct Generic {
    pub plan: Plan,
    pub values: ParamValues,
    pub common: Option<(Plan, ParamValues)>,
}

impl Generic {
    fn of(v: &Value) -> Generic {
        let values = |v: &Value| -> ParamValues {
            serde_json::from_value(v.clone()).expect("values of a generic case")
        };
        Generic {
            plan: parse(&v["plan"]),
            values: values(&v["values"]),
            common: v
                .get("common")
                .map(|c| (parse(&c["plan"]), values(&c["values"]))),
        }
    }
}

impl Case {
    pub fn load(path: &Path) -> Case {
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let dir = path.parent().unwrap();
        let rule = dir.file_name().unwrap().to_str().unwrap();
        let outcome = read_json(path).unwrap();
        let (plan, status, error) = match outcome.get("status").and_then(Value::as_str) {
            Some(status) => (
                None,
                if status == "timeout" {
                    QueryStatus::Timeout
                } else {
                    QueryStatus::Error
                },
                Some(QueryError {
                    message: outcome["message"].as_str().unwrap_or("").to_owned(),
                    sqlstate: outcome["sqlstate"].as_str().map(str::to_owned),
                }),
            ),
            None => (Some(parse(&outcome)), QueryStatus::Ok, None),
        };
        let baseline = read_json(&dir.join(format!("{stem}.baseline.json"))).map(|v| {
            let b: Baseline = serde_json::from_value(v).expect("a baseline file");
            let p = parse(&b.plan);
            (b, p)
        });
        let env = read_json(&dir.join(format!("{stem}.env.json")))
            .map(|v| serde_json::from_value(v).expect("an environment file"));
        let generic = read_json(&dir.join(format!("{stem}.generic.json"))).map(|v| Generic::of(&v));
        let history = read_json(&dir.join(format!("{stem}.history.json"))).map(|v| {
            let runs = serde_json::from_value(v["runs"].clone()).expect("history runs");
            (v["now"].as_i64().expect("history now"), runs)
        });
        Case {
            history,
            id: format!("{rule}/{stem}"),
            plan,
            error,
            status,
            baseline,
            env,
            generic,
        }
    }

    pub fn context<'a>(&'a self, thresholds: &'a Thresholds) -> Context<'a> {
        Context {
            query_id: &self.id,
            status: self.status,
            error: self.error.as_ref(),
            plan: self.plan.as_ref(),
            runs: &[],
            baseline: self
                .baseline
                .as_ref()
                .map(|(record, plan)| BaselineCtx { record, plan }),
            now: Observed {
                environment: self.env.as_ref(),
                settings: self.plan.as_ref().map(|p| &p.settings),
                server_version: None,
                advice: None,
                generic: self.generic.as_ref().map(|g| GenericCtx {
                    plan: &g.plan,
                    values: Some(&g.values),
                    common: g.common.as_ref().map(|(p, v)| (p, v)),
                }),
                planned: None,
                history: self
                    .history
                    .as_ref()
                    .map(|(now, runs)| HistoryCtx { now: *now, runs }),
            },
            thresholds,
        }
    }

    pub fn findings(&self) -> Vec<Finding> {
        let thresholds = Thresholds::default();
        analyze(&self.context(&thresholds), &RulesConfig::default())
    }

    /// The recorded changes since its baseline.
    pub fn changes(&self) -> Vec<planguard::rules::changes::Change> {
        let thresholds = Thresholds::default();
        planguard::rules::changes::changes(&self.context(&thresholds))
    }
}

/// Every case file of fixtures/plans/rules/, by rule.
fn case_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(repo().join("fixtures/plans/rules")).unwrap() {
        let dir = dir.unwrap().path();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_str().unwrap().to_owned();
            if name.ends_with(".json") && name.matches('.').count() == 1 {
                out.push(file);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn fixtures() {
    insta::glob!("../../fixtures/plans/rules", "*/*.json", |path| {
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.matches('.').count() > 1 {
            return; // a case's .baseline.json or .env.json
        }
        let case = Case::load(path);
        let rule = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let findings = case.findings();
        let of_rule = findings.iter().filter(|f| f.rule == rule).count();
        if name.starts_with("clean_") {
            assert_eq!(
                of_rule, 0,
                "{}: {rule} must stay quiet: {findings:#?}",
                case.id
            );
        } else {
            assert!(of_rule > 0, "{}: {rule} must fire: {findings:#?}", case.id);
        }
        insta::assert_json_snapshot!(findings);
    });
}

#[test]
fn every_rule_has_docs_and_fixture_cases() {
    let ids: BTreeSet<&str> = ALL_RULES.iter().map(|r| r.info().id).collect();
    assert_eq!(ids.len(), ALL_RULES.len(), "rule ids must be unique");
    // Every documented rule is built.
    assert!(PLANNED_RULES.is_empty(), "{PLANNED_RULES:?}");
    let listed = |dir: &str, suffix: &str| -> BTreeSet<String> {
        std::fs::read_dir(repo().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().to_owned())
            .filter_map(|n| n.strip_suffix(suffix).map(str::to_owned))
            .collect()
    };
    let documented = listed("docs/rules", ".md");
    let expected_docs: BTreeSet<String> = ids
        .iter()
        .chain(PLANNED_RULES)
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        documented, expected_docs,
        "docs/rules/ must have one page per rule"
    );
    let with_fixtures = listed("fixtures/plans/rules", "");
    // missing-index and redundant-index read the catalog and HypoPG, not a
    // plan alone: their cases run against a server (tests/it/advisor.rs).
    let expected_fixtures: BTreeSet<String> = ids
        .iter()
        .filter(|id| !["missing-index", "redundant-index"].contains(*id))
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        with_fixtures, expected_fixtures,
        "one fixtures folder per built rule"
    );

    let cases = case_files();
    for id in &expected_fixtures {
        let names: Vec<String> = cases
            .iter()
            .filter(|p| p.parent().unwrap().ends_with(id))
            .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with("fires_")),
            "{id}: no fires_* case"
        );
        assert!(
            names.iter().any(|n| n.starts_with("clean_")),
            "{id}: no clean_* case"
        );
        for n in &names {
            assert!(
                n.starts_with("fires_") || n.starts_with("clean_"),
                "{id}/{n}: cases are named fires_* or clean_*"
            );
        }
    }

    const HEADINGS: [&str; 6] = [
        "What it detects",
        "Why it matters",
        "Example plan",
        "How to fix",
        "Thresholds",
        "False positives",
    ];
    for rule in ALL_RULES {
        let info = rule.info();
        let page =
            std::fs::read_to_string(repo().join(format!("docs/rules/{}.md", info.id))).unwrap();
        assert_eq!(info.docs, page, "{}: docs are the page itself", info.id);
    }
    for id in &expected_docs {
        let page = std::fs::read_to_string(repo().join(format!("docs/rules/{id}.md"))).unwrap();
        let headings: Vec<&str> = page.lines().filter_map(|l| l.strip_prefix("## ")).collect();
        assert_eq!(headings, HEADINGS, "{id}: docs headings");
        assert!(page.starts_with(&format!("# {id}\n")), "{id}: title");
    }
}

/// A table large enough for the rules' defaults, statistics fresh,
/// autovacuum off so that nothing changes behind the test's back.
const ITEMS: &str = "
    CREATE TABLE items (id int PRIMARY KEY, owner int NOT NULL, label text NOT NULL)
        WITH (autovacuum_enabled = off);
    INSERT INTO items SELECT i, i % 1000, 'item ' || i FROM generate_series(1, 50000) i;
    VACUUM ANALYZE items;
";

async fn explain_plan(client: &tokio_postgres::Client, query: &str) -> Plan {
    let raw = capture::explain(client, query, true).await.unwrap();
    parse(&raw)
}

fn fired(findings: &[Finding]) -> BTreeSet<&str> {
    findings.iter().map(|f| f.rule.as_str()).collect()
}

fn analyze_alone(plan: &Plan) -> Vec<Finding> {
    let thresholds = Thresholds::default();
    analyze(
        &Context::for_plan("live", plan, &thresholds),
        &RulesConfig::default(),
    )
}

#[tokio::test]
async fn live_seq_scan_with_a_selective_filter() {
    let db = support::TestDb::new().await;
    let client = db.client().await;
    capture::run_sql(&client, ITEMS).await;
    let plan = explain_plan(&client, "SELECT * FROM items WHERE owner = 7").await;
    let scan = nodes(&plan.root)
        .into_iter()
        .map(|(_, n)| n)
        .find(|n| n.relation_name.as_deref() == Some("items"))
        .unwrap();
    assert_eq!(scan.node_type, NodeType::SeqScan);
    let findings = analyze_alone(&plan);
    assert_eq!(fired(&findings), ["new-query", "seq-scan"].into());

    // A Seq Scan of the same table whose filter keeps nearly every row is
    // the right plan: quiet.
    let plan = explain_plan(&client, "SELECT * FROM items WHERE owner <> 7").await;
    assert_eq!(plan.root.node_type, NodeType::SeqScan);
    assert_eq!(plan.root.relation_name.as_deref(), Some("items"));
    assert_eq!(plan.root.actual_rows, Some(49_950.0));
    assert_eq!(plan.root.rows_removed_by_filter, Some(50.0));
    assert_eq!(fired(&analyze_alone(&plan)), ["new-query"].into());
}

#[tokio::test]
async fn live_external_sort_with_a_tiny_work_mem() {
    let db = support::TestDb::new().await;
    let client = db.client().await;
    capture::run_sql(&client, ITEMS).await;
    let query = "SELECT * FROM items ORDER BY label";
    client.batch_execute("SET work_mem = '64MB'").await.unwrap();
    let plan = explain_plan(&client, query).await;
    assert_eq!(plan.root.node_type, NodeType::Sort);
    assert!(!fired(&analyze_alone(&plan)).contains("disk-spill"));

    client.batch_execute("SET work_mem = '64kB'").await.unwrap();
    let plan = explain_plan(&client, query).await;
    assert_eq!(plan.root.node_type, NodeType::Sort);
    assert_eq!(
        plan.settings.get("work_mem").map(String::as_str),
        Some("64kB")
    );
    let findings = analyze_alone(&plan);
    let spill = findings.iter().find(|f| f.rule == "disk-spill").unwrap();
    assert_eq!(spill.node.as_ref().unwrap().path, "0");
    assert_eq!(spill.evidence["work_mem"], "64kB");
}

#[tokio::test]
async fn live_skewed_load_without_analyze() {
    let db = support::TestDb::new().await;
    let client = db.client().await;
    capture::run_sql(
        &client,
        "CREATE TABLE events (id int, kind int NOT NULL) WITH (autovacuum_enabled = off);
             INSERT INTO events SELECT i, i % 100 FROM generate_series(1, 1000) i;
             ANALYZE events;
         INSERT INTO events SELECT i, 7 FROM generate_series(1001, 60000) i;",
    )
    .await;
    let query = "SELECT count(*) FROM events WHERE kind = 7";
    let plan = explain_plan(&client, query).await;
    let findings = analyze_alone(&plan);
    let miss = findings
        .iter()
        .find(|f| f.rule == "row-misestimate")
        .unwrap_or_else(|| panic!("no row-misestimate: {findings:#?}"));
    let node = miss.node.as_ref().unwrap();
    assert_eq!(node.relation.as_deref(), Some("events"));
    assert_eq!(miss.evidence["direction"], "underestimate");
    // Only where the error starts: the Aggregate above is not reported.
    assert_eq!(
        findings
            .iter()
            .filter(|f| f.rule == "row-misestimate")
            .count(),
        1
    );

    client.batch_execute("ANALYZE events").await.unwrap();
    let plan = explain_plan(&client, query).await;
    assert!(!fired(&analyze_alone(&plan)).contains("row-misestimate"));
}

#[tokio::test]
async fn live_drop_index_loses_the_index_and_jumps_in_cost() {
    let db = support::TestDb::new().await;
    let client = db.client().await;
    capture::run_sql(
        &client,
        &format!("{ITEMS}; CREATE INDEX items_owner_idx ON items (owner); ANALYZE items"),
    )
    .await;
    let query = "SELECT * FROM items WHERE owner = 7";
    let mut baseline = capture::record_baseline(&client, query).await;
    baseline.query_id = "live".into();
    let baseline_plan = parse(&baseline.plan);
    assert!(
        nodes(&baseline_plan.root)
            .iter()
            .any(|(_, n)| n.node_type.is_index_scan()),
        "the baseline reads items through items_owner_idx"
    );

    client
        .batch_execute("DROP INDEX items_owner_idx")
        .await
        .unwrap();
    let plan = explain_plan(&client, query).await;
    let thresholds = Thresholds::default();
    let ctx = Context {
        baseline: Some(BaselineCtx {
            record: &baseline,
            plan: &baseline_plan,
        }),
        ..Context::for_plan("live", &plan, &thresholds)
    };
    let findings = analyze(&ctx, &RulesConfig::default());
    let rules = fired(&findings);
    for rule in ["index-lost", "cost-jump", "plan-changed", "seq-scan"] {
        assert!(rules.contains(rule), "{rule} must fire: {findings:#?}");
    }
    assert!(!rules.contains("new-query"));
    let lost = findings.iter().find(|f| f.rule == "index-lost").unwrap();
    assert_eq!(lost.severity, Severity::Error);
    assert!(lost.regression);
    assert_eq!(lost.node.as_ref().unwrap().node_type, "Seq Scan");
    assert!(findings.iter().all(|f| f.regression), "{findings:#?}");
}

fn with_config(case: &Case, toml: &str) -> Vec<Finding> {
    let config = RulesConfig::from_table(&toml.parse().unwrap()).unwrap();
    let thresholds = Thresholds::default();
    analyze(&case.context(&thresholds), &config)
}

fn fixture(path: &str) -> Case {
    Case::load(&repo().join("fixtures/plans/rules").join(path))
}

#[test]
fn rules_are_switched_off_and_relevelled_but_improvements_stay_info() {
    let lost = fixture("index-lost/fires_index_dropped.json");
    let findings = with_config(
        &lost,
        "[seq-scan]\nenabled = false\n[cost-jump]\nseverity = \"warning\"",
    );
    assert!(!fired(&findings).contains("seq-scan"));
    let cost = findings.iter().find(|f| f.rule == "cost-jump").unwrap();
    assert_eq!(cost.severity, Severity::Warning);

    let gained = fixture("index-lost/fires_index_gained.json");
    let findings = with_config(&gained, "[index-lost]\nseverity = \"error\"");
    let note = findings.iter().find(|f| f.rule == "index-lost").unwrap();
    assert_eq!(note.severity, Severity::Info);
    assert!(findings.iter().all(|f| !f.regression), "{findings:#?}");
}

#[test]
fn per_query_thresholds_quiet_a_rule() {
    let case = fixture("seq-scan/fires_selective_filter.json");
    let thresholds = Thresholds::default()
        .with_overrides(&"seq_scan_min_rows = 1000000".parse().unwrap())
        .unwrap();
    let findings = analyze(&case.context(&thresholds), &RulesConfig::default());
    assert!(!fired(&findings).contains("seq-scan"));
}

#[test]
fn skipped_queries_get_no_findings() {
    let case = fixture("seq-scan/fires_selective_filter.json");
    let thresholds = Thresholds::default();
    let ctx = Context {
        status: QueryStatus::Skipped,
        ..case.context(&thresholds)
    };
    assert!(analyze(&ctx, &RulesConfig::default()).is_empty());
}
