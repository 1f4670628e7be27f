//! The JSON parser and the derived figures on the real captured plans of
//! fixtures/plans (PostgreSQL 13 to 18) and the public corpus.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use planguard::plan::{self, Node, NodeType, Plan};

/// The crate's root directory.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `<dir>/pg*/*.json`, sorted, as (version folder, case, path).
pub fn json_fixtures(dir: &Path) -> Vec<(String, String, PathBuf)> {
    let mut found = Vec::new();
    let versions = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for version in versions {
        let version = version.unwrap().path();
        let name = version.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("pg") || !version.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&version).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "json") {
                let case = file.file_stem().unwrap().to_string_lossy().into_owned();
                found.push((name.clone(), case, file));
            }
        }
    }
    found.sort();
    found
}

/// The fixtures of fixtures/plans.
pub fn plan_fixtures() -> Vec<(String, String, PathBuf)> {
    json_fixtures(&root().join("fixtures/plans"))
}

pub fn parse_file(path: &Path) -> Plan {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    plan::parse_json(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(version: &str, case: &str) -> Plan {
    parse_file(&root().join(format!("fixtures/plans/{version}/{case}.json")))
}

/// Every node of the plan, depth first.
fn nodes(plan: &Plan) -> Vec<&Node> {
    let mut all = Vec::new();
    plan.root.walk(&mut |_, node| all.push(node));
    all
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

/// The keys planguard deliberately keeps in `extra` (they are node-type
/// specific details no analysis reads yet). Anything else in `extra` on a
/// real plan means a key missing from, or misspelled in, the key tables.
const KNOWN_EXTRA: &[&str] = &[
    "Cache Evictions",
    "Cache Hits",
    "Cache Key",
    "Cache Misses",
    "Cache Mode",
    "Cache Overflows",
    "Conflict Arbiter Indexes",
    "Conflict Filter",
    "Conflict Resolution",
    "Full-sort Groups",
    "Function Call",
    "Maximum Storage",
    "Pre-sorted Groups",
    "Storage",
    "Subplans Removed",
    "Table Function Call",
    "Window",
];

/// The same for the entries of `"Workers"` (PostgreSQL 18 prints the heap
/// blocks of a parallel bitmap scan per worker).
const KNOWN_WORKER_EXTRA: &[&str] = &["Exact Heap Blocks", "Lossy Heap Blocks"];

#[test]
fn every_json_fixture_parses() {
    let fixtures = plan_fixtures();
    assert!(fixtures.len() >= 6 * 39, "only {} fixtures", fixtures.len());
    let mut versions = BTreeSet::new();
    for (version, _, path) in &fixtures {
        let plan = parse_file(path);
        assert!(plan.execution_time_ms.is_some(), "{}", path.display());
        assert!(plan.planning_buffers.is_some(), "{}", path.display());
        versions.insert(version.clone());
    }
    let expected = ["pg13", "pg14", "pg15", "pg16", "pg17", "pg18"];
    assert_eq!(versions, expected.iter().map(|v| v.to_string()).collect());
}

#[test]
fn fixtures_leave_only_known_keys_in_extra() {
    let mut unknown = BTreeSet::new();
    for (_, _, path) in plan_fixtures() {
        let plan = parse_file(&path);
        unknown.extend(plan.extra.keys().cloned());
        unknown.extend(plan.planning_extra.keys().cloned());
        for node in nodes(&plan) {
            for key in node.extra.keys() {
                if !KNOWN_EXTRA.contains(&key.as_str()) {
                    unknown.insert(format!("{key} ({})", path.display()));
                }
            }
            for worker in &node.workers {
                for key in worker.extra.keys() {
                    if !KNOWN_WORKER_EXTRA.contains(&key.as_str()) {
                        unknown.insert(format!("worker {key} ({})", path.display()));
                    }
                }
            }
        }
    }
    assert!(unknown.is_empty(), "unexpected keys in extra: {unknown:#?}");
}

/// parse_json(to_json(parse_json(x))) == parse_json(x), on every fixture
/// and every second capture.
#[test]
fn to_json_round_trips_every_fixture() {
    let mut fixtures = plan_fixtures();
    fixtures.extend(json_fixtures(&root().join("fixtures/reruns")));
    for (_, _, path) in fixtures {
        let plan = parse_file(&path);
        let written = plan::to_json(&plan);
        let again = plan::parse_json(written.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(again, plan, "{}", path.display());
    }
}

/// Every prefix of a plan is an error with a position, never a panic; byte
/// flips anywhere either parse or fail cleanly.
#[test]
fn truncated_and_garbled_fixtures_never_panic() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (_, _, path) in plan_fixtures().into_iter().step_by(3) {
        let bytes = std::fs::read(&path).unwrap();
        let end = bytes.trim_ascii_end().len();
        for cut in (0..end).step_by(53) {
            let e = plan::parse_json(&bytes[..cut])
                .expect_err(&format!("{} cut at {cut} parsed", path.display()));
            assert!(e.line.is_some(), "{} cut at {cut}: {e}", path.display());
        }
        for _ in 0..50 {
            let mut garbled = bytes.clone();
            let at = (next() as usize) % garbled.len();
            let pool = b"{}[]\":,0a\\\x00\xff";
            garbled[at] = pool[(next() % pool.len() as u64) as usize];
            let _ = plan::parse_json(&garbled);
        }
    }
}

#[test]
fn to_json_reads_like_explain() {
    let plan = fixture("pg18", "insert_returning_trigger");
    let json = plan::to_json(&plan);
    let root = &json["Plan"];
    assert_eq!(root["Node Type"], "ModifyTable");
    assert_eq!(root["Operation"], "Insert");
    assert_eq!(root["Relation Name"], "accounts");
    assert_eq!(root["Plans"][0]["Node Type"], "Function Scan");
    assert_eq!(root["Plans"][0]["Parent Relationship"], "Outer");
    assert_eq!(root["WAL Records"], plan.root.wal.unwrap().records.unwrap());
    assert_eq!(json["Triggers"][0]["Trigger Name"], "accounts_audit_trg");
    assert_eq!(json["Triggers"][0]["Calls"], 100);
    assert!(json["Planning"]["Shared Hit Blocks"].is_u64());
    assert!(json["Execution Time"].is_f64());
}

#[test]
fn hash_agg_spill_has_batches_and_disk_usage() {
    for version in ["pg13", "pg14", "pg15", "pg16", "pg17", "pg18"] {
        let plan = fixture(version, "hash_agg_spill");
        assert_eq!(
            plan.settings.get("work_mem").map(String::as_str),
            Some("64kB")
        );
        let agg = nodes(&plan)
            .into_iter()
            .find(|n| n.node_type == NodeType::Aggregate)
            .unwrap_or_else(|| panic!("{version}: no Aggregate"));
        assert_eq!(agg.strategy.as_deref(), Some("Hashed"), "{version}");
        assert!(agg.hash_agg_batches.unwrap() > 1, "{version}");
        assert!(agg.disk_usage.unwrap() > 0, "{version}");
        assert!(agg.planned_partitions.is_some(), "{version}");
    }
}

#[test]
fn parallel_seq_scan_has_two_workers_with_their_figures() {
    for version in ["pg13", "pg14", "pg15", "pg16", "pg17", "pg18"] {
        let plan = fixture(version, "parallel_seq_scan");
        let all = nodes(&plan);
        let gather = all
            .iter()
            .find(|n| n.node_type == NodeType::Gather)
            .unwrap_or_else(|| panic!("{version}: no Gather"));
        assert_eq!(gather.workers_planned, Some(2), "{version}");
        assert_eq!(gather.workers_launched, Some(2), "{version}");
        let scan = all
            .iter()
            .find(|n| n.node_type == NodeType::SeqScan)
            .unwrap_or_else(|| panic!("{version}: no Seq Scan"));
        assert_eq!(scan.parallel_aware, Some(true), "{version}");
        assert_eq!(scan.schema.as_deref(), Some("public"), "{version}");
        assert_eq!(scan.actual_loops, Some(3.0), "{version}");
        // VERBOSE prints one entry per worker.
        assert_eq!(scan.workers.len(), 2, "{version}");
        let numbers: Vec<_> = scan.workers.iter().map(|w| w.worker_number).collect();
        assert_eq!(numbers, [0, 1], "{version}");
        for worker in &scan.workers {
            assert!(worker.actual_total_time.is_some(), "{version}");
            assert_eq!(worker.actual_loops, Some(1.0), "{version}");
            assert!(worker.buffers.shared_hit.is_some(), "{version}");
        }
    }
}

#[test]
fn the_trigger_case_has_a_trigger_with_calls_and_wal() {
    for version in ["pg13", "pg14", "pg15", "pg16", "pg17", "pg18"] {
        let plan = fixture(version, "insert_returning_trigger");
        assert_eq!(plan.triggers.len(), 1, "{version}");
        let trigger = &plan.triggers[0];
        assert_eq!(trigger.trigger_name, "accounts_audit_trg", "{version}");
        assert_eq!(trigger.relation.as_deref(), Some("accounts"), "{version}");
        assert_eq!(trigger.calls, Some(100), "{version}");
        assert!(trigger.time_ms.unwrap() > 0.0, "{version}");
        assert_eq!(plan.root.operation.as_deref(), Some("Insert"), "{version}");
        let wal = plan.root.wal.unwrap_or_else(|| panic!("{version}: no WAL"));
        assert!(wal.records.unwrap() > 0, "{version}");
        assert_eq!(wal.buffers_full.is_some(), version == "pg18", "{version}");
    }
}

#[test]
fn never_executed_nodes_are_flagged() {
    for version in ["pg13", "pg14", "pg15", "pg16", "pg17", "pg18"] {
        let plan = fixture(version, "never_executed");
        let never: Vec<_> = nodes(&plan)
            .into_iter()
            .filter(|n| n.never_executed)
            .collect();
        assert!(!never.is_empty(), "{version}");
        for node in never {
            assert_eq!(node.actual_loops, Some(0.0), "{version}");
            assert_eq!(node.derived.inclusive_time_ms, Some(0.0), "{version}");
            assert_eq!(node.derived.estimate_factor, None, "{version}");
        }
        assert!(!plan.root.never_executed, "{version}");
    }
}

#[test]
fn spills_and_sort_details() {
    let plan = fixture("pg16", "sort_external");
    let sort = nodes(&plan)
        .into_iter()
        .find(|n| n.node_type == NodeType::Sort)
        .unwrap();
    assert_eq!(sort.sort_method.as_deref(), Some("external merge"));
    assert_eq!(sort.sort_space_type.as_deref(), Some("Disk"));
    assert!(sort.sort_space_used.unwrap() > 0);
    assert!(sort.buffers.temp_written.unwrap() > 0);

    let plan = fixture("pg16", "hash_join_batches");
    let hash = nodes(&plan)
        .into_iter()
        .find(|n| n.node_type == NodeType::Hash)
        .unwrap();
    assert!(hash.hash_batches.unwrap() > 1);
    assert!(hash.hash_buckets.unwrap() > 0);
    assert!(hash.peak_memory_usage.is_some());
}

#[test]
fn postgres_18_fractional_rows_and_index_searches() {
    let plan = fixture("pg18", "initplan");
    assert_eq!(plan.root.actual_rows.map(|r| r.fract()), Some(0.0));
    let index = nodes(&plan)
        .into_iter()
        .find(|n| n.node_type == NodeType::BitmapIndexScan)
        .unwrap();
    assert_eq!(index.index_searches, Some(1.0));
    assert_eq!(index.disabled, Some(false));
    assert_eq!(fixture("pg17", "initplan").root.disabled, None);
}

#[test]
fn memoize_details_stay_in_extra() {
    let plan = fixture("pg17", "memoize");
    let memoize = nodes(&plan)
        .into_iter()
        .find(|n| n.node_type == NodeType::Memoize)
        .unwrap();
    assert_eq!(memoize.extra["Cache Key"], "i.product_id");
    assert_eq!(memoize.extra["Cache Mode"], "logical");
}

/// Hand-checked from fixtures/plans/pg17/memoize.json: HashAggregate
/// (26.243 ms) over a Nested Loop (23.191 ms) of a Bitmap Heap Scan (2.655
/// ms, 185 blocks) on a Bitmap Index Scan (0.610 ms, 57 blocks) and a
/// Memoize (0.001 ms x 20000 loops) over an Index Scan (0.002 ms x 1000).
#[test]
fn derived_figures_of_a_nested_loop_with_memoize() {
    let plan = fixture("pg17", "memoize");
    let agg = &plan.root;
    let nested = &agg.plans[0];
    let (heap, memoize) = (&nested.plans[0], &nested.plans[1]);
    let index = &memoize.plans[0];
    assert!(close(memoize.derived.inclusive_time_ms, 20.0));
    assert!(close(index.derived.inclusive_time_ms, 2.0));
    assert!(close(memoize.derived.exclusive_time_ms, 18.0));
    assert!(close(
        nested.derived.exclusive_time_ms,
        23.191 - 2.655 - 20.0
    ));
    assert!(close(agg.derived.exclusive_time_ms, 26.243 - 23.191));
    assert!(close(heap.derived.exclusive_time_ms, 2.655 - 0.610));
    assert_eq!(heap.derived.exclusive_buffers.shared_hit, Some(128));
    assert_eq!(nested.derived.exclusive_buffers.shared_hit, Some(0));
    assert_eq!(index.derived.exclusive_buffers.shared_hit, Some(3000));
    assert!(close(nested.derived.estimate_factor, 20614.0 / 20000.0));
    assert!(close(memoize.derived.rows_scanned, 20000.0));
}

/// Hand-checked from fixtures/plans/pg17/parallel_seq_scan.json: below the
/// Gather (2 workers launched), times are averages over 3 processes.
#[test]
fn derived_figures_below_a_gather() {
    let plan = fixture("pg17", "parallel_seq_scan");
    let finalize = &plan.root;
    let gather = &finalize.plans[0];
    let partial = &gather.plans[0];
    let scan = &partial.plans[0];
    assert!(close(scan.derived.inclusive_time_ms, 25.252));
    assert!(close(partial.derived.inclusive_time_ms, 34.652));
    assert!(close(partial.derived.exclusive_time_ms, 34.652 - 25.252));
    assert!(close(gather.derived.exclusive_time_ms, 52.045 - 34.652));
    assert!(close(finalize.derived.exclusive_time_ms, 52.080 - 52.045));
    // Rows are per-loop averages: 9333 returned and 57333 removed, 3 loops.
    assert!(close(scan.derived.rows_scanned, (9333.0 + 57333.0) * 3.0));
}

/// Hand-checked from fixtures/plans/pg13/cte_materialized.json: the CTE
/// (236.229 ms) hangs from the Limit (253.665 ms) but runs inside the CTE
/// Scan (253.647 ms) that reads it.
#[test]
fn derived_figures_charge_a_cte_to_its_scan() {
    let plan = fixture("pg13", "cte_materialized");
    let limit = &plan.root;
    let (cte, sort) = (&limit.plans[0], &limit.plans[1]);
    assert_eq!(cte.subplan_name.as_deref(), Some("CTE big_spenders"));
    let scan = &sort.plans[0].plans[0];
    assert_eq!(scan.node_type, NodeType::CteScan);
    assert!(close(limit.derived.exclusive_time_ms, 253.665 - 253.660));
    assert!(close(scan.derived.exclusive_time_ms, 253.647 - 236.229));
    assert_eq!(scan.derived.exclusive_buffers.shared_hit, Some(0));
    let mut total = 0.0;
    plan.root
        .walk(&mut |_, n| total += n.derived.exclusive_time_ms.unwrap_or(0.0));
    assert!(
        (total - 253.665).abs() < 1e-6,
        "self times add up to {total}"
    );
}

#[test]
fn derived_rows_scanned_and_estimate_factor_of_a_filter() {
    // 98 rows kept, 199902 removed by the filter, 60 estimated.
    let plan = fixture("pg16", "seq_scan_filter");
    let d = plan.root.derived;
    assert!(close(d.rows_scanned, 200_000.0));
    assert!(close(d.estimate_factor, 98.0 / 60.0));
    assert!(close(d.exclusive_time_ms, 52.939));
    assert_eq!(d.exclusive_buffers.shared_hit, Some(1482));
}

/// The public conformance corpus: `PLANGUARD_CORPUS`, else `../shared/corpus`
/// next to the crate. Missing, it fails the test: a conformance test that
/// passes without its data proves nothing.
fn corpus() -> PathBuf {
    let corpus = match std::env::var_os("PLANGUARD_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => root().join("../shared/corpus"),
    };
    assert!(
        corpus.join("pg-regress").is_dir(),
        "the conformance corpus is missing: {} has no pg-regress/ directory. Point \
         PLANGUARD_CORPUS at the corpus directory.",
        corpus.display()
    );
    corpus
}

/// The corpus: every JSON plan PostgreSQL's own regression tests print
/// (pg-regress/pg*/json/) and the filtered EXPLAIN outputs of explain.out
/// (json-filtered-renumbered/, numbers masked as 0), which hold every key
/// each version prints.
#[test]
#[ignore = "needs the conformance corpus: PLANGUARD_CORPUS=DIR cargo test --test it -- --ignored corpus"]
fn corpus_json_plans_parse() {
    let regress = corpus().join("pg-regress");
    let mut parsed = 0;
    let mut unknown = BTreeSet::new();
    for version in std::fs::read_dir(&regress).unwrap() {
        let version = version.unwrap().path();
        for sub in ["json", "json-filtered-renumbered"] {
            let Ok(files) = std::fs::read_dir(version.join(sub)) else {
                continue;
            };
            for file in files {
                let file = file.unwrap().path();
                if file.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let plan = parse_file(&file);
                let again = plan::parse_json(plan::to_json(&plan).to_string().as_bytes());
                assert_eq!(again.as_ref(), Ok(&plan), "{}", file.display());
                if sub == "json-filtered-renumbered" {
                    unknown.extend(plan.extra.keys().cloned());
                    unknown.extend(plan.planning_extra.keys().cloned());
                    for node in nodes(&plan) {
                        unknown.extend(node.extra.keys().cloned());
                    }
                }
                parsed += 1;
            }
        }
    }
    assert!(parsed >= 29, "only {parsed} corpus JSON plans found");
    // explain.out's plans print every key of the options they test: the
    // key tables must know them all.
    assert!(unknown.is_empty(), "keys left in extra: {unknown:?}");
}

#[test]
#[ignore = "needs the conformance corpus: PLANGUARD_CORPUS=DIR cargo test --test it -- --ignored corpus"]
fn corpus_inventory_keys_are_typed() {
    // pg18 explain.L286: ANALYZE, BUFFERS and track_io_timing.
    let inventory = corpus().join("pg-regress/pg18/json-filtered-renumbered");
    let plan = parse_file(&inventory.join("explain.L286.json"));
    assert_eq!(plan.root.io.shared_read_ms, Some(0.0));
    assert_eq!(plan.root.io.local_write_ms, Some(0.0));
    assert_eq!(plan.root.io.temp_read_ms, Some(0.0));
    assert_eq!(plan.planning_io.unwrap().shared_write_ms, Some(0.0));
    assert!(
        plan.root.never_executed,
        "the masked plan has Actual Loops 0"
    );
    // explain.L421: the MEMORY option.
    let plan = parse_file(&inventory.join("explain.L421.json"));
    let memory = plan.planning_memory.unwrap();
    assert_eq!((memory.used_kb, memory.allocated_kb), (Some(0), Some(0)));
}
