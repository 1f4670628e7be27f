//! Conformance of `plan::parse` with public corpora of EXPLAIN output:
//! PostgreSQL's own regression outputs (12 to 18), pev2's text-parser
//! expectations and Pg::Explain's test plans. The corpus lives outside the
//! repository: `PLANGUARD_CORPUS` points at it (CI sets `../shared/corpus`),
//! by default `../shared/corpus` next to the crate. Without it these tests
//! fail: a skipped conformance test must never count as passed.
//!
//! Deliberate differences from the expectations are listed in
//! [`PEV2_DEVIATIONS`] and [`DEPESZ_DEVIATIONS`] with the reason; anything
//! else that differs fails the test.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use planguard::plan::{self, Format, Node, NodeType, ParseError, Plan};
use serde_json::Value;

fn corpus() -> PathBuf {
    let dir = match std::env::var_os("PLANGUARD_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    assert!(
        dir.join("README.txt").is_file(),
        "the conformance corpus is not at {}: set PLANGUARD_CORPUS to its directory \
         (these tests fail rather than skip without it)",
        dir.display()
    );
    dir
}

fn read(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

fn read_json(path: &Path) -> Value {
    match serde_json::from_str(&read(path)) {
        Ok(v) => v,
        Err(e) => panic!("{} is not JSON: {e}", path.display()),
    }
}

/// Files of a directory, sorted, whose name ends with `suffix`.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no *{suffix} files in {}", dir.display());
    out
}

/// Parses, turning a panic into a test failure that names the case.
fn parse(case: &str, input: &str) -> Result<Plan, ParseError> {
    match panic::catch_unwind(AssertUnwindSafe(|| plan::parse(input))) {
        Ok(result) => result,
        Err(_) => panic!("plan::parse panicked on {case}"),
    }
}

fn must_parse(case: &str, input: &str) -> Plan {
    match parse(case, input) {
        Ok(plan) => plan,
        Err(e) => panic!("{case} does not parse: {e}"),
    }
}

// ---------------------------------------------------------------------------
// pg-regress

/// Why a regression output is expected not to parse.
fn expected_failure(entry: &Value, plan: &str) -> Option<&'static str> {
    let format = entry["format"].as_str().unwrap_or("");
    let filtered = entry["filtered"].as_bool().unwrap_or(false);
    if matches!(format, "xml" | "yaml") {
        return Some("XML/YAML format");
    }
    if plan.trim().is_empty() {
        return Some("empty output (the statement was skipped)");
    }
    if filtered && matches!(plan.trim(), "t" | "f") {
        return Some("not a plan (a helper's boolean result)");
    }
    if filtered && (masked_parentheses(plan) || (format == "json" && entry["json_valid"] == false))
    {
        return Some("figures masked as N by a regression helper");
    }
    None
}

/// `(cost=N.N..N.N rows=N width=N)`, `(actual rows=N loops=N)`.
fn masked_parentheses(plan: &str) -> bool {
    plan.match_indices("(cost=")
        .chain(plan.match_indices("(actual "))
        .any(|(at, _)| {
            let group = &plan[at..];
            let group = &group[..group.find(')').unwrap_or(group.len())];
            group.contains("=N") || group.contains("..N")
        })
}

/// The nodes a text plan shows as lines: the root and every `->` line.
fn arrow_lines(plan: &str) -> usize {
    1 + plan
        .lines()
        .filter(|l| l.trim_start().starts_with("->"))
        .count()
}

#[test]
#[ignore = "needs the conformance corpus: PLANGUARD_CORPUS=DIR cargo test --test it -- --ignored corpus"]
fn pg_regress_plans_parse_or_fail_clearly() {
    let dir = corpus().join("pg-regress");
    let mut parsed = 0;
    let mut counted = 0;
    let mut expected: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut failures = Vec::new();
    for version in 12..=18 {
        let path = dir.join(format!("pg{version}/plans.jsonl"));
        for line in read(&path).lines() {
            let entry: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => panic!("{}: bad line: {e}", path.display()),
            };
            let id = entry["id"].as_str().unwrap_or("?").to_owned();
            let input = entry["plan"].as_str().unwrap_or("");
            let why = expected_failure(&entry, input);
            match (parse(&id, input), why) {
                (Ok(plan), None) => {
                    parsed += 1;
                    let text = entry["format"] == "text";
                    let simple = !input.contains("\n\n")
                        && !input.lines().any(|l| {
                            let l = l.trim_start();
                            l.starts_with("InitPlan")
                                || l.starts_with("SubPlan")
                                || l.starts_with("CTE ")
                        });
                    if text && simple {
                        counted += 1;
                        let nodes = plan.root.count();
                        if nodes != arrow_lines(input) {
                            failures.push(format!(
                                "{id}: {nodes} nodes, {} node lines",
                                arrow_lines(input)
                            ));
                        }
                    }
                }
                (Err(e), None) => failures.push(format!("{id}: {e}")),
                (Ok(_), Some(why)) => {
                    failures.push(format!("{id}: parsed, but expected to fail ({why})"))
                }
                (Err(e), Some(why)) => {
                    if why == "XML/YAML format" {
                        assert!(
                            e.message.contains("not supported")
                                && matches!(e.format, Format::Xml | Format::Yaml),
                            "{id}: {e}"
                        );
                    }
                    assert!(!e.message.is_empty(), "{id}: an error without a message");
                    *expected.entry(why).or_default() += 1;
                }
            }
        }
    }
    // The standalone JSON files, and the filtered ones renumbered to parse.
    for version in 12..=18 {
        for sub in ["json", "json-filtered-renumbered"] {
            let d = dir.join(format!("pg{version}/{sub}"));
            let Ok(entries) = fs::read_dir(&d) else {
                continue;
            };
            for path in entries.filter_map(Result::ok).map(|e| e.path()) {
                let case = path.display().to_string();
                match parse(&case, &read(&path)) {
                    Ok(_) => parsed += 1,
                    Err(e) => failures.push(format!("{case}: {e}")),
                }
            }
        }
    }
    eprintln!(
        "pg-regress: {parsed} plans parsed ({counted} node counts checked against their `->` lines); \
         expected failures: {expected:?}"
    );
    assert!(
        failures.is_empty(),
        "{} pg-regress plans failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(parsed > 10_000, "only {parsed} plans parsed");
}

// ---------------------------------------------------------------------------
// pev2

/// pev2 expectations planguard deliberately does not meet: (case, JSON
/// pointer prefix, reason). planguard follows PostgreSQL's own JSON output;
/// pev2 sometimes keeps text-format spellings.
const PEV2_DEVIATIONS: &[(&str, &str, &str)] = &[
    (
        "from-text/37",
        "/Plan/Plans/0/Plans/0/Relation Name",
        "pev2 keeps `pg_temp_5.pp` as the relation name; PostgreSQL's JSON has \"Schema\" and \"Relation Name\" apart",
    ),
    (
        "from-text/37",
        "/Plan/Plans/0/Plans/1/Relation Name",
        "pev2 keeps `public.pgbench_accounts` as the relation name; PostgreSQL's JSON has \"Schema\" apart",
    ),
    (
        "from-text/37",
        "/Plan/Output",
        "pev2 keeps \"Output\" as one string; PostgreSQL's JSON has a list",
    ),
    (
        "from-text/37",
        "/Plan/Plans/0/Plans/0/Output",
        "pev2 keeps \"Output\" as one string; PostgreSQL's JSON has a list",
    ),
    (
        "from-text/37",
        "/Plan/Plans/0/Plans/1/Output",
        "pev2 keeps \"Output\" as one string; PostgreSQL's JSON has a list",
    ),
    (
        "from-text/37",
        "/Plan/Temp Hit Blocks",
        "PostgreSQL has no temp hit counter (show_buffer_usage)",
    ),
    (
        "from-text/37",
        "/Plan/Temp Dirtied Blocks",
        "PostgreSQL has no temp dirtied counter (show_buffer_usage)",
    ),
    (
        "from-text/43-index-name-parsing",
        "/Plan/Plans/0/Index Name",
        "pev2 keeps the quotes of `\"mytable:2020-12-09_...\"`; PostgreSQL's JSON has the bare name",
    ),
    (
        "from-text/43-index-name-parsing",
        "/Plan/Plans/0/Relation Name",
        "pev2 keeps `public.\"mytable:2020-12-09\"`; PostgreSQL's JSON has \"Schema\" and the bare name",
    ),
];

/// pev2 writes some node types the way the text format spells them
/// (`GroupAggregate`, `Hash Semi Join`, `Merge` for MERGE, and `Nested Loop
/// Join` for `Nested Loop Left Join`, or 8.3's `Subquery Scan alias`);
/// planguard writes PostgreSQL's JSON node type with the strategy, join
/// type or operation in their own keys. Such a difference is deliberate
/// when pev2's name is the text spelling of the node planguard parsed.
fn pev2_text_spelling(expected: &Value, node: Option<&Value>) -> bool {
    let (Some(expected), Some(node)) = (expected.as_str(), node) else {
        return false;
    };
    let ty = node["Node Type"].as_str().unwrap_or("");
    let text = text_name_json(node);
    let join_base = match ty {
        "Nested Loop" => Some("Nested Loop Join"),
        "Hash Join" => Some("Hash Join"),
        "Merge Join" => Some("Merge Join"),
        _ => None,
    };
    expected == text
        || Some(expected) == join_base
        || (ty == "Subquery Scan"
            && expected.strip_prefix("Subquery Scan ") == node["Alias"].as_str())
}

/// The text-format node name (explain.c, ExplainNode's `pname`) of a node
/// written by `to_json`.
fn text_name_json(node: &Value) -> String {
    let s = |k: &str| node[k].as_str().unwrap_or("").to_owned();
    let ty = s("Node Type");
    match ty.as_str() {
        "Aggregate" => {
            let base = match s("Strategy").as_str() {
                "Sorted" => "GroupAggregate",
                "Hashed" => "HashAggregate",
                "Mixed" => "MixedAggregate",
                _ => "Aggregate",
            };
            match s("Partial Mode").as_str() {
                mode @ ("Partial" | "Finalize") => format!("{mode} {base}"),
                _ => base.to_owned(),
            }
        }
        "Nested Loop" | "Hash Join" | "Merge Join" => {
            let base = ty.trim_end_matches(" Join");
            match s("Join Type").as_str() {
                "Inner" | "" => ty.clone(),
                join => format!("{base} {join} Join"),
            }
        }
        "ModifyTable" => s("Operation"),
        "SetOp" if s("Strategy") == "Hashed" => "HashSetOp".to_owned(),
        _ if s("Scan Direction") == "Backward" => format!("{ty} Backward"),
        _ => ty,
    }
}

/// `expect` is a subset of `actual` (Jest's `toMatchObject`: objects may
/// have more keys, arrays must have the same length). Numbers compare
/// numerically, also against numeric strings (pev2 writes some as
/// strings). Differences are pushed with their JSON pointer.
fn subset(expect: &Value, actual: Option<&Value>, pointer: &str, out: &mut Vec<(String, String)>) {
    let Some(actual) = actual else {
        out.push((pointer.to_owned(), format!("missing, expected {expect}")));
        return;
    };
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    match (expect, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                if k.starts_with('*') {
                    continue; // pev2's own computed figures
                }
                subset(v, a.get(k), &format!("{pointer}/{k}"), out);
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push((
                    pointer.to_owned(),
                    format!("{} items, expected {}", a.len(), e.len()),
                ));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset(ev, Some(av), &format!("{pointer}/{i}"), out);
            }
        }
        (Value::Number(_), _) | (_, Value::Number(_))
            if number(expect).is_some() && number(expect) == number(actual) => {}
        _ if expect == actual => {}
        _ => out.push((pointer.to_owned(), format!("{actual}, expected {expect}"))),
    }
}

/// Subset-matches every `<name>plan` file against its expectation and
/// returns the unexpected differences.
fn pev2_cases(dir: &str, plan_suffix: &str, expect_suffix: &str, root_only: bool) -> Vec<String> {
    let base = corpus().join("pev2").join(dir);
    let mut problems = Vec::new();
    let mut checked = 0;
    for plan_path in files(&base, plan_suffix) {
        let name = plan_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = name.trim_end_matches(plan_suffix);
        let case = format!("{dir}/{}", stem.trim_end_matches('-'));
        let expect_path = base.join(format!("{stem}{expect_suffix}"));
        let plan = must_parse(&case, &read(&plan_path));
        let expect = read_json(&expect_path);
        let actual = plan::to_json(&plan);
        let mut diffs = Vec::new();
        if root_only {
            subset(&expect, actual.get("Plan"), "/Plan", &mut diffs);
        } else {
            subset(&expect, Some(&actual), "", &mut diffs);
        }
        checked += 1;
        for (pointer, what) in diffs {
            let spelling = pointer.strip_suffix("/Node Type").is_some_and(|parent| {
                let expected = expect.pointer(&pointer);
                let parent = if root_only {
                    parent.strip_prefix("/Plan").unwrap_or(parent)
                } else {
                    parent
                };
                let node = if root_only {
                    actual.get("Plan").and_then(|p| p.pointer(parent))
                } else {
                    actual.pointer(parent)
                };
                expected.is_some_and(|e| pev2_text_spelling(e, node))
            });
            let deliberate = spelling
                || PEV2_DEVIATIONS
                    .iter()
                    .any(|(c, p, _)| *c == case && pointer.starts_with(p));
            if !deliberate {
                problems.push(format!("{case} {pointer}: {what}"));
            }
        }
    }
    eprintln!("pev2 {dir}: {checked} plans matched against their expectations");
    problems
}

#[test]
#[ignore = "needs the conformance corpus: PLANGUARD_CORPUS=DIR cargo test --test it -- --ignored corpus"]
fn pev2_from_text_expectations() {
    let problems = pev2_cases("from-text", "-plan", "-expect", false);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
#[ignore = "needs the conformance corpus: PLANGUARD_CORPUS=DIR cargo test --test it -- --ignored corpus"]
fn pev2_line_wrapped_plans() {
    let problems = pev2_cases("12-line-wrapped-plans", "-plan", "-expect", false);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
#[ignore = "needs the conformance corpus: PLANGUARD_CORPUS=DIR cargo test --test it -- --ignored corpus"]
fn pev2_io_timings_root_keys() {
    let problems = pev2_cases("21-io-timings", ".plan", ".expect", true);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
#[ignore = "needs the conformance corpus: PLANGUARD_CORPUS=DIR cargo test --test it -- --ignored corpus"]
fn pev2_psql_frames_parse() {
    let base = corpus().join("pev2/11-psql-frames");
    let mut count = 0;
    for path in files(&base, ".plan") {
        let case = path.display().to_string();
        let plan = must_parse(&case, &read(&path));
        // Every framing holds the same Nested Loop over two Seq Scans (the
        // DBeaver paste is a Delete).
        assert!(plan.root.count() >= 2, "{case}");
        count += 1;
    }
    eprintln!("pev2 11-psql-frames: {count} framed plans parsed");
}

#[test]
#[ignore = "needs the conformance corpus: PLANGUARD_CORPUS=DIR cargo test --test it -- --ignored corpus"]
fn pev2_other_text_plans_parse() {
    let base = corpus().join("pev2");
    let mut count = 0;
    for path in files(&base.join("cte-exclusive-time"), ".plan") {
        must_parse(&path.display().to_string(), &read(&path));
        count += 1;
    }
    let index = read_json(&base.join("inline-plans/INDEX.json"));
    let entries = index.as_array().cloned().unwrap_or_default();
    for entry in entries {
        let Some(file) = entry["file"].as_str() else {
            continue;
        };
        let path = base.join("inline-plans").join(file);
        let input = read(&path);
        let case = path.display().to_string();
        // pev2's spec expects this truncated node line to be refused.
        if file == "1-parse-error-line-break.L8.planText.txt" {
            let result = parse(&case, &input);
            assert!(
                result.is_err(),
                "{case}: a truncated node line must not parse"
            );
            continue;
        }
        match parse(&case, &input) {
            Ok(_) => count += 1,
            // The corpus marks two JSON quirks as not strictly valid.
            Err(e) if entry["strict_json_valid"] == false => {
                assert!(!e.message.is_empty());
            }
            Err(e) => panic!("{case} does not parse: {e}"),
        }
    }
    // A few of pev2's spec assertions on these sources.
    let inline = |file: &str| must_parse(file, &read(&base.join("inline-plans").join(file)));
    let plan = inline("13-query-text.L8.source.txt");
    let text = plan.query_text.unwrap_or_default();
    assert!(
        text.contains("WHERE oid = indrelid AND indisunique"),
        "{text}"
    );
    let plan = inline("13-query-text.L27.source.txt");
    assert!(
        plan.query_text
            .unwrap_or_default()
            .ends_with("FROM pg_class;")
    );
    assert_eq!(plan.settings["work_mem"], "100kB");
    let plan = inline("11-mix-tabs-spaces.L12.source.txt");
    assert_eq!(plan.root.plans.len(), 3);
    assert_eq!(
        plan.root.plans[0].subplan_name.as_deref(),
        Some("CTE artist_count")
    );
    let plan = inline("1-parse-error-line-break.L19.source.txt");
    assert_eq!(plan.planning_time_ms, Some(1.11));
    eprintln!("pev2 cte-exclusive-time and inline plans: {count} parsed");
}

// ---------------------------------------------------------------------------
// Pg::Explain (depesz)

/// Pg::Explain expectations planguard deliberately does not meet: (case,
/// reason).
const DEPESZ_DEVIATIONS: &[(&str, &str)] = &[];

/// The node name as the text format prints it (explain.c, ExplainNode:
/// `pname`), which is what Pg::Explain keeps as the type.
fn text_name(node: &Node) -> String {
    let mut name = String::new();
    match node.node_type {
        NodeType::Aggregate => {
            if let Some(mode @ ("Partial" | "Finalize")) = node.partial_mode.as_deref() {
                name.push_str(mode);
                name.push(' ');
            }
            name.push_str(match node.strategy.as_deref() {
                Some("Sorted") => "GroupAggregate",
                Some("Hashed") => "HashAggregate",
                Some("Mixed") => "MixedAggregate",
                _ => "Aggregate",
            });
        }
        NodeType::NestedLoop | NodeType::HashJoin | NodeType::MergeJoin => {
            name.push_str(match node.node_type {
                NodeType::NestedLoop => "Nested Loop",
                NodeType::HashJoin => "Hash",
                _ => "Merge",
            });
            match node.join_type.as_deref() {
                Some("Inner") | None if node.node_type == NodeType::NestedLoop => {}
                Some("Inner") | None => name.push_str(" Join"),
                Some(join) => {
                    name.push(' ');
                    name.push_str(join);
                    name.push_str(" Join");
                }
            }
        }
        NodeType::ModifyTable => name.push_str(node.operation.as_deref().unwrap_or("")),
        NodeType::SetOp => {
            let hashed = node.strategy.as_deref() == Some("Hashed");
            name.push_str(if hashed { "HashSetOp" } else { "SetOp" });
        }
        ref other => {
            name.push_str(other.name());
            if node.scan_direction.as_deref() == Some("Backward") {
                name.push_str(" Backward");
            }
        }
    }
    name
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Compares a Pg::Explain node structure with a parsed node.
fn depesz_node(expect: &Value, node: &Node, path: &str, out: &mut Vec<String>) {
    let diff = |out: &mut Vec<String>, what: &str, e: String, a: String| {
        out.push(format!("{path} {what}: {a}, expected {e}"));
    };
    let ty = expect["type"].as_str().unwrap_or("");
    let name = text_name(node);
    // Before 8.4 a Subquery Scan printed its alias without `on`, and
    // Pg::Explain keeps it in the type.
    let old_subquery = ty.strip_prefix("Subquery Scan ").map(str::to_owned) == node.alias;
    if ty != name && !old_subquery {
        diff(out, "type", ty.to_owned(), name);
    }
    let scan = &expect["scan_on"];
    let relation = node
        .relation_name
        .clone()
        .or_else(|| node.cte_name.clone())
        .or_else(|| node.function_name.clone());
    for (key, actual) in [
        ("table_name", node.relation_name.clone()),
        ("index_name", node.index_name.clone()),
        ("cte_name", node.cte_name.clone()),
        ("function_name", node.function_name.clone()),
        ("table_alias", node.alias.clone()),
        ("cte_alias", node.alias.clone()),
        ("function_alias", node.alias.clone()),
    ] {
        if let Some(e) = scan[key].as_str() {
            if actual.as_deref() != Some(e) {
                diff(out, key, e.to_owned(), format!("{actual:?} ({relation:?})"));
            }
        }
    }
    for (key, actual) in [
        ("estimated_startup_cost", node.startup_cost),
        ("estimated_total_cost", node.total_cost),
        ("estimated_rows", node.plan_rows),
        ("estimated_row_width", node.plan_width.map(|w| w as f64)),
        ("actual_time_first", node.actual_startup_time),
        ("actual_time_last", node.actual_total_time),
        ("actual_rows", node.actual_rows),
        ("actual_loops", node.actual_loops),
    ] {
        if let Some(e) = num(&expect[key]) {
            if actual != Some(e) {
                diff(out, key, e.to_string(), format!("{actual:?}"));
            }
        }
    }
    let kind = |c: &&Node| match c.parent_relationship.as_deref() {
        Some("InitPlan")
            if c.subplan_name
                .as_deref()
                .is_some_and(|n| n.starts_with("CTE ")) =>
        {
            "cte"
        }
        Some("InitPlan") => "init",
        Some("SubPlan") => "sub",
        _ => "plain",
    };
    for (key, which) in [
        ("sub_nodes", "plain"),
        ("initplans", "init"),
        ("subplans", "sub"),
    ] {
        let children: Vec<&Node> = node.plans.iter().filter(|c| kind(c) == which).collect();
        let expected = expect[key].as_array().cloned().unwrap_or_default();
        if expected.len() != children.len() {
            diff(
                out,
                key,
                expected.len().to_string(),
                children.len().to_string(),
            );
            continue;
        }
        for (i, (e, c)) in expected.iter().zip(children).enumerate() {
            depesz_node(e, c, &format!("{path}/{key}/{i}"), out);
        }
    }
    if let Some(ctes) = expect["ctes"].as_object() {
        for (name, e) in ctes {
            let cte = node
                .plans
                .iter()
                .find(|c| c.subplan_name.as_deref() == Some(&format!("CTE {name}")));
            match cte {
                Some(c) => depesz_node(e, c, &format!("{path}/ctes/{name}"), out),
                None => diff(out, "ctes", name.clone(), "missing".into()),
            }
        }
    }
}

fn depesz_case(case: &str, plan_path: &Path, expect_path: Option<&Path>, out: &mut Vec<String>) {
    let input = read(plan_path);
    let result = parse(case, &input);
    let Some(expect_path) = expect_path else {
        if let Err(e) = result {
            out.push(format!("{case}: {e}"));
        }
        return;
    };
    let expect = read_json(expect_path);
    let plan = match result {
        Ok(plan) => plan,
        Err(e) => {
            out.push(format!("{case}: {e}"));
            return;
        }
    };
    let mut diffs = Vec::new();
    if let Some(top) = expect.get("top_node") {
        depesz_node(top, &plan.root, "", &mut diffs);
        for (key, actual) in [
            ("planning_time", plan.planning_time_ms),
            ("execution_time", plan.execution_time_ms),
        ] {
            if let Some(e) = num(&expect[key]) {
                if actual != Some(e) {
                    diffs.push(format!("{key}: {actual:?}, expected {e}"));
                }
            }
        }
        if let Some(triggers) = expect["trigger_times"].as_array() {
            let names: Vec<(String, Option<u64>)> = plan
                .triggers
                .iter()
                .map(|t| (t.trigger_name.clone(), t.calls))
                .collect();
            let expected: Vec<(String, Option<u64>)> = triggers
                .iter()
                .map(|t| {
                    (
                        t["name"].as_str().unwrap_or("").to_owned(),
                        num(&t["calls"]).map(|c| c as u64),
                    )
                })
                .collect();
            if names != expected {
                diffs.push(format!("triggers: {names:?}, expected {expected:?}"));
            }
        }
    } else {
        depesz_node(&expect, &plan.root, "", &mut diffs);
    }
    for d in diffs {
        if !DEPESZ_DEVIATIONS.iter().any(|(c, _)| *c == case) {
            out.push(format!("{case}{d}"));
        }
    }
}

#[test]
#[ignore = "needs the conformance corpus: PLANGUARD_CORPUS=DIR cargo test --test it -- --ignored corpus"]
fn depesz_plans_and_expectations() {
    let base = corpus().join("depesz-pg-explain");
    let mut problems = Vec::new();
    let mut count = 0;
    for dir in ["github-fork-2016/t/plans", "cpan-2.x/t/plans"] {
        for plan_path in files(&base.join(dir), "-plan") {
            let name = plan_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = name.trim_end_matches("-plan");
            let expect = base.join(dir).join(format!("{stem}-expect.json"));
            let case = format!("{dir}/{stem}");
            depesz_case(
                &case,
                &plan_path,
                expect.is_file().then_some(expect.as_path()),
                &mut problems,
            );
            count += 1;
        }
    }
    for plan_path in files(&base.join("github-fork-2016/t/17-as_text"), "-plan") {
        depesz_case(
            &plan_path.display().to_string(),
            &plan_path,
            None,
            &mut problems,
        );
        count += 1;
    }
    for plan_path in files(&base.join("github-fork-2016/t/16-ctes"), ".plan") {
        let case = plan_path.display().to_string();
        let expect = plan_path.with_extension("expect.json");
        if case.contains("-xml") || case.contains("-yaml") {
            match parse(&case, &read(&plan_path)) {
                Err(e) if e.message.contains("not supported") => {}
                other => problems.push(format!(
                    "{case}: expected the not-supported error, got {other:?}"
                )),
            }
        } else {
            depesz_case(&case, &plan_path, Some(&expect), &mut problems);
        }
        count += 1;
    }
    for plan_path in files(&base.join("github-fork-2016/t/14-json-plans"), ".json") {
        if plan_path.to_string_lossy().ends_with(".expect.json") {
            continue;
        }
        let expect = plan_path.with_extension("expect.json");
        depesz_case(
            &plan_path.display().to_string(),
            &plan_path,
            Some(&expect),
            &mut problems,
        );
        count += 1;
    }
    for (plan, expect) in [
        (
            "cpan-2.x/t/40-buffers-info.d/01.plan",
            Some("cpan-2.x/t/40-buffers-info.d/01.struct.json"),
        ),
        (
            "cpan-2.x/t/41-triggers-info.d/01.plan",
            Some("cpan-2.x/t/41-triggers-info.d/01.struct.json"),
        ),
        ("cpan-2.x/t/59-jit.d/jit.plan.text", None),
        ("cpan-2.x/t/59-jit.d/jit.plan.json", None),
        ("cpan-2.x/t/63-rows-removed-by.d/plan-1.text", None),
    ] {
        let expect = expect.map(|e| base.join(e));
        depesz_case(plan, &base.join(plan), expect.as_deref(), &mut problems);
        count += 1;
    }
    eprintln!(
        "Pg::Explain: {count} plans parsed, {} problems",
        problems.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
