//! The text parser on the real fixtures (`fixtures/plans/pgNN/`): each
//! case's `.txt` must give the same tree as its `.json` through
//! `parse_json`, and a few text-only facts are checked by hand.
//!
//! The two files are separate executions of the same plan, so only what is
//! deterministic is compared: the plan itself (node types, relations,
//! aliases, indexes, join types, strategies, conditions, keys, costs,
//! estimated rows and widths) and the executions' row counts, loops,
//! filter counts and block totals. Never compared: times and memory
//! figures (they vary from run to run), the split of blocks between hit
//! and read (the first run warms the cache) and dirtied/written blocks
//! (hint bits), and below a Gather the per-process figures: how rows,
//! loops and blocks spread over the workers depends on which process got
//! there first.

use std::fs;
use std::path::{Path, PathBuf};

use planguard::plan::{self, Node, NodeType, Plan};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/plans")
}

/// The capture folders: `fixtures/plans/pgNN` and the second captures in
/// `fixtures/reruns/pgNN`, labelled `pgNN` and `reruns/pgNN`.
fn versions() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for (prefix, dir) in [("", root.join("plans")), ("reruns/", root.join("reruns"))] {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.filter_map(Result::ok).map(|e| e.path()) {
            if path.join("VERSION").is_file() {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                out.push((format!("{prefix}{}", name.unwrap_or_default()), path));
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

fn text_plan(version: &str, case: &str) -> Plan {
    let path = fixtures().join(version).join(format!("{case}.txt"));
    match plan::parse_text(&read(&path)) {
        Ok(plan) => plan,
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// Differences between the two trees, with the node path.
struct Diffs(Vec<String>);

impl Diffs {
    fn check<T: PartialEq + std::fmt::Debug>(&mut self, at: &str, what: &str, json: T, text: T) {
        if json != text {
            self.0
                .push(format!("{at} {what}: json {json:?}, text {text:?}"));
        }
    }
}

/// What the text output shows of the options EXPLAIN ran with.
#[derive(Clone, Copy)]
struct Shown {
    /// VERBOSE: `Inner Unique` is printed only with it (and only when true).
    verbose: bool,
    /// Some `Buffers:` line: a plan whose counters are all zero shows none,
    /// where JSON shows zeros.
    buffers: bool,
    /// PostgreSQL 13: a ModifyTable's child is a "Member" (one per target
    /// table), from 14 on its "Outer" plan; text cannot tell them apart.
    pg13: bool,
}

fn has_gather(node: &Node) -> bool {
    matches!(node.node_type, NodeType::Gather | NodeType::GatherMerge)
        || node.plans.iter().any(has_gather)
}

/// `parallel`: the node runs in parallel workers (it is below a Gather or
/// Gather Merge).
fn compare(json: &Node, text: &Node, at: &str, parallel: bool, shown: Shown, d: &mut Diffs) {
    d.check(at, "node type", &json.node_type, &text.node_type);
    if json.node_type != text.node_type {
        return;
    }
    let modify_child = at.matches('.').count() == 1
        && shown.pg13
        && json.parent_relationship.as_deref() == Some("Member");
    if !modify_child {
        d.check(
            at,
            "parent relationship",
            &json.parent_relationship,
            &text.parent_relationship,
        );
    }
    d.check(at, "subplan name", &json.subplan_name, &text.subplan_name);
    d.check(at, "relation", &json.relation_name, &text.relation_name);
    d.check(at, "schema", &json.schema, &text.schema);
    d.check(at, "alias", &json.alias, &text.alias);
    d.check(at, "index", &json.index_name, &text.index_name);
    d.check(
        at,
        "scan direction",
        &json.scan_direction,
        &text.scan_direction,
    );
    d.check(at, "cte", &json.cte_name, &text.cte_name);
    d.check(at, "function", &json.function_name, &text.function_name);
    d.check(at, "join type", &json.join_type, &text.join_type);
    d.check(at, "strategy", &json.strategy, &text.strategy);
    d.check(at, "partial mode", &json.partial_mode, &text.partial_mode);
    d.check(at, "command", &json.command, &text.command);
    d.check(at, "operation", &json.operation, &text.operation);
    d.check(
        at,
        "parallel aware",
        json.parallel_aware,
        text.parallel_aware,
    );
    // PostgreSQL 13's JSON has no "Async Capable"; text cannot tell.
    if json.async_capable.is_some() {
        d.check(at, "async capable", json.async_capable, text.async_capable);
    }
    if shown.verbose {
        d.check(at, "inner unique", json.inner_unique, text.inner_unique);
    }
    d.check(at, "conditions", &json.conditions, &text.conditions);
    d.check(at, "startup cost", json.startup_cost, text.startup_cost);
    d.check(at, "total cost", json.total_cost, text.total_cost);
    d.check(at, "plan rows", json.plan_rows, text.plan_rows);
    d.check(at, "plan width", json.plan_width, text.plan_width);
    d.check(at, "output", &json.output, &text.output);
    d.check(at, "sort key", &json.sort_key, &text.sort_key);
    d.check(
        at,
        "presorted key",
        &json.presorted_key,
        &text.presorted_key,
    );
    d.check(at, "group key", &json.group_key, &text.group_key);
    d.check(at, "hash key", &json.hash_key, &text.hash_key);
    d.check(
        at,
        "workers planned",
        json.workers_planned,
        text.workers_planned,
    );
    d.check(at, "single copy", json.single_copy, text.single_copy);
    d.check(at, "disabled", json.disabled.filter(|d| *d), text.disabled);
    d.check(
        at,
        "planned partitions",
        json.planned_partitions,
        text.planned_partitions,
    );
    d.check(
        at,
        "never executed",
        json.never_executed,
        text.never_executed,
    );
    d.check(
        at,
        "timing present",
        json.actual_total_time.is_some(),
        text.actual_total_time.is_some(),
    );
    if !parallel {
        d.check(at, "actual rows", json.actual_rows, text.actual_rows);
        d.check(at, "actual loops", json.actual_loops, text.actual_loops);
        d.check(
            at,
            "rows removed by filter",
            json.rows_removed_by_filter,
            text.rows_removed_by_filter,
        );
        d.check(
            at,
            "rows removed by join filter",
            json.rows_removed_by_join_filter,
            text.rows_removed_by_join_filter,
        );
        d.check(
            at,
            "rows removed by recheck",
            json.rows_removed_by_index_recheck,
            text.rows_removed_by_index_recheck,
        );
        d.check(at, "heap fetches", json.heap_fetches, text.heap_fetches);
        d.check(
            at,
            "exact heap blocks",
            json.exact_heap_blocks,
            text.exact_heap_blocks,
        );
        d.check(
            at,
            "lossy heap blocks",
            json.lossy_heap_blocks,
            text.lossy_heap_blocks,
        );
        d.check(
            at,
            "index searches",
            json.index_searches,
            text.index_searches,
        );
        d.check(at, "sort method", &json.sort_method, &text.sort_method);
        d.check(
            at,
            "sort space type",
            &json.sort_space_type,
            &text.sort_space_type,
        );
        d.check(at, "hash buckets", json.hash_buckets, text.hash_buckets);
        d.check(
            at,
            "original hash buckets",
            json.original_hash_buckets,
            text.original_hash_buckets,
        );
        d.check(at, "hash batches", json.hash_batches, text.hash_batches);
        d.check(
            at,
            "original hash batches",
            json.original_hash_batches,
            text.original_hash_batches,
        );
        d.check(
            at,
            "hashagg batches",
            json.hash_agg_batches,
            text.hash_agg_batches,
        );
        let touched = |n: &Node| {
            let b = &n.buffers;
            (
                b.shared_hit.zip(b.shared_read).map(|(h, r)| h + r),
                b.local_hit.zip(b.local_read).map(|(h, r)| h + r),
                b.temp_read,
                b.temp_written,
            )
        };
        // A DML statement's own blocks and WAL vary between executions
        // (pruning, hint bits, sequence WAL every 32 values), and so do the
        // totals above a Gather.
        let dml = json.node_type == NodeType::ModifyTable;
        if shown.buffers && !dml && !has_gather(json) {
            d.check(at, "blocks touched", touched(json), touched(text));
        }
        if !dml {
            d.check(
                at,
                "wal records",
                json.wal.map(|w| w.records),
                text.wal.map(|w| w.records),
            );
        }
    }
    let extra_keys = |n: &Node| n.extra.keys().cloned().collect::<Vec<_>>();
    d.check(at, "extra keys", extra_keys(json), extra_keys(text));
    for key in [
        "Cache Key",
        "Cache Mode",
        "Function Call",
        "Subplans Removed",
        "Grouping Sets",
        "Target Tables",
        "Window",
        "Run Condition",
    ] {
        d.check(at, key, json.extra.get(key), text.extra.get(key));
    }
    if !parallel {
        for key in [
            "Cache Hits",
            "Cache Misses",
            "Cache Evictions",
            "Cache Overflows",
            "Tuples Inserted",
            "Conflicting Tuples",
        ] {
            d.check(at, key, json.extra.get(key), text.extra.get(key));
        }
        let groups = |n: &Node, k: &str| n.extra.get(k).map(|g| g["Group Count"].clone());
        for key in ["Full-sort Groups", "Pre-sorted Groups"] {
            d.check(at, key, groups(json, key), groups(text, key));
        }
    }
    d.check(at, "children", json.plans.len(), text.plans.len());
    let below_gather =
        parallel || matches!(json.node_type, NodeType::Gather | NodeType::GatherMerge);
    for (i, (j, t)) in json.plans.iter().zip(&text.plans).enumerate() {
        compare(j, t, &format!("{at}.{i}"), below_gather, shown, d);
    }
}

fn compare_plans(json: &Plan, text: &Plan, pg13: bool, d: &mut Diffs) {
    let mut shown = Shown {
        verbose: false,
        buffers: text.planning_buffers.is_some(),
        pg13,
    };
    text.root.walk(&mut |_, n| {
        shown.verbose |= !n.output.is_empty();
        shown.buffers |= !n.buffers.is_empty();
    });
    compare(&json.root, &text.root, "0", false, shown, d);
    d.check("plan", "settings", &json.settings, &text.settings);
    d.check(
        "plan",
        "query identifier",
        json.query_identifier,
        text.query_identifier,
    );
    d.check(
        "plan",
        "planning time present",
        json.planning_time_ms.is_some(),
        text.planning_time_ms.is_some(),
    );
    d.check(
        "plan",
        "execution time present",
        json.execution_time_ms.is_some(),
        text.execution_time_ms.is_some(),
    );
    if shown.buffers {
        d.check(
            "plan",
            "planning buffers present",
            json.planning_buffers.is_some(),
            text.planning_buffers.is_some(),
        );
    }
    // Constraint triggers are named by their constraint in text; JSON has
    // the internal trigger name as well.
    let triggers = |p: &Plan| {
        p.triggers
            .iter()
            .map(|t| {
                (
                    t.constraint_name
                        .clone()
                        .unwrap_or_else(|| t.trigger_name.clone()),
                    t.calls,
                )
            })
            .collect::<Vec<_>>()
    };
    d.check("plan", "triggers", triggers(json), triggers(text));
    d.check(
        "plan",
        "jit",
        json.jit.as_ref().map(|j| (j.functions, j.options.clone())),
        text.jit.as_ref().map(|j| (j.functions, j.options.clone())),
    );
}

#[test]
fn text_and_json_fixtures_give_the_same_tree() {
    let mut cases = 0;
    let mut problems = Vec::new();
    for (version, dir) in versions() {
        let mut names: Vec<PathBuf> = fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for json_path in names
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
        {
            let text_path = json_path.with_extension("txt");
            if !text_path.is_file() {
                continue;
            }
            let case = format!(
                "{version}/{}",
                json_path
                    .file_stem()
                    .map(|s| s.to_string_lossy())
                    .unwrap_or_default()
            );
            let json = match plan::parse_json(read(json_path).as_bytes()) {
                Ok(p) => p,
                Err(e) => panic!("{case}.json: {e}"),
            };
            let text = match plan::parse_text(&read(&text_path)) {
                Ok(p) => p,
                Err(e) => panic!("{case}.txt: {e}"),
            };
            let mut d = Diffs(Vec::new());
            compare_plans(&json, &text, version.ends_with("pg13"), &mut d);
            // A snapshot taken from text output must match one from JSON.
            d.check(
                "plan",
                "fingerprint",
                plan::shape::fingerprint(&json),
                plan::shape::fingerprint(&text),
            );
            problems.extend(d.0.into_iter().map(|p| format!("{case}: {p}")));
            cases += 1;
        }
    }
    assert!(
        cases >= 300,
        "only {cases} fixture pairs found under {}",
        fixtures().display()
    );
    eprintln!("{cases} fixture pairs compared");
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Text-only facts of real fixtures

#[test]
fn hash_spill_figures() {
    let plan = text_plan("pg18", "hash_join_batches");
    let hash = &plan.root.plans[0].plans[1];
    assert_eq!(hash.node_type, NodeType::Hash);
    assert_eq!(hash.hash_buckets, Some(16384));
    assert_eq!(hash.original_hash_buckets, Some(16384));
    assert_eq!(hash.hash_batches, Some(8));
    assert_eq!(hash.peak_memory_usage, Some(329));
    assert_eq!(hash.buffers.temp_written, Some(112));
    assert_eq!(hash.buffers.temp_read, Some(0));
    let scan = &hash.plans[0];
    assert_eq!(scan.rows_removed_by_filter, Some(5000.0));
    assert_eq!(
        scan.conditions.filter.as_deref(),
        Some("(segment = 'consumer'::text)")
    );
    assert_eq!(plan.settings["work_mem"], "256kB");
    assert_eq!(plan.planning_buffers.and_then(|b| b.shared_hit), Some(14));
    assert_eq!(plan.execution_time_ms, Some(216.141));

    let plan = text_plan("pg18", "hash_agg_spill");
    let agg = &plan.root;
    assert_eq!(agg.strategy.as_deref(), Some("Hashed"));
    assert_eq!(agg.planned_partitions, Some(4));
    assert_eq!(agg.hash_agg_batches, Some(341));
    assert_eq!(agg.disk_usage, Some(7448));
    assert_eq!(agg.group_key, ["amount"]);

    let plan = text_plan("pg18", "sort_external");
    assert_eq!(plan.root.sort_method.as_deref(), Some("external merge"));
    assert_eq!(plan.root.sort_space_type.as_deref(), Some("Disk"));
    assert_eq!(plan.root.sort_space_used, Some(4184));
    assert_eq!(plan.root.sort_key, ["amount", "id"]);
}

#[test]
fn subplans_ctes_and_never_executed_nodes() {
    let plan = text_plan("pg18", "initplan");
    let init = &plan.root.plans[0];
    assert_eq!(init.parent_relationship.as_deref(), Some("InitPlan"));
    assert_eq!(init.subplan_name.as_deref(), Some("InitPlan 1"));
    assert_eq!(init.plans[0].alias.as_deref(), Some("orders_1"));
    assert_eq!(init.plans[0].exact_heap_blocks, Some(1482.0));

    let plan = text_plan("pg16", "initplan");
    assert_eq!(
        plan.root.plans[0].subplan_name.as_deref(),
        Some("InitPlan 1 (returns $0)")
    );

    let plan = text_plan("pg18", "cte_materialized");
    let cte = &plan.root.plans[0];
    assert_eq!(cte.subplan_name.as_deref(), Some("CTE big_spenders"));
    assert_eq!(cte.parent_relationship.as_deref(), Some("InitPlan"));
    let sort = &plan.root.plans[1];
    assert_eq!(sort.parent_relationship.as_deref(), Some("Outer"));
    let scan = &sort.plans[0].plans[1].plans[0];
    assert_eq!(scan.node_type, NodeType::CteScan);
    assert_eq!(scan.cte_name.as_deref(), Some("big_spenders"));
    assert_eq!(scan.alias.as_deref(), Some("b"));
    assert_eq!(scan.extra["Storage"], "Memory");
    assert_eq!(scan.extra["Maximum Storage"], 2466);

    let plan = text_plan("pg18", "subplan_correlated");
    assert_eq!(
        plan.root.plans[0].subplan_name.as_deref(),
        Some("SubPlan 1")
    );
    assert_eq!(plan.root.plans[0].actual_loops, Some(200.0));

    let plan = text_plan("pg18", "never_executed");
    let heap = &plan.root.plans[1];
    assert!(heap.never_executed);
    assert_eq!(
        (heap.actual_loops, heap.actual_rows),
        (Some(0.0), Some(0.0))
    );
    assert_eq!(heap.plans[0].index_searches, Some(0.0));
}

#[test]
fn parallel_workers_and_incremental_sort() {
    let plan = text_plan("pg16", "gather_merge");
    let sort = &plan.root.plans[0];
    assert_eq!(sort.workers.len(), 2);
    let w = &sort.workers[0];
    assert_eq!(w.worker_number, 0);
    assert_eq!((w.actual_rows, w.actual_loops), (Some(15147.0), Some(1.0)));
    assert_eq!(w.sort_method.as_deref(), Some("quicksort"));
    assert_eq!(w.sort_space_used, Some(976));
    assert_eq!(w.buffers.shared_hit, Some(615));
    let heap = &sort.plans[0];
    assert_eq!(heap.parallel_aware, Some(true));
    assert_eq!(heap.workers[1].actual_total_time, Some(4.127));

    let plan = text_plan("pg18", "parallel_hash_join");
    let join = &plan.root.plans[0].plans[0].plans[0];
    assert_eq!(join.node_type, NodeType::HashJoin);
    assert_eq!(join.inner_unique, Some(true));
    let bitmap = &join.plans[1].plans[0];
    assert_eq!(bitmap.workers[0].extra["Exact Heap Blocks"], 486);
    assert_eq!(bitmap.workers[0].extra["Lossy Heap Blocks"], 0);

    let plan = text_plan("pg13", "incremental_sort");
    let inc = &plan.root.plans[0];
    assert_eq!(inc.presorted_key, ["order_date"]);
    let full = &inc.extra["Full-sort Groups"];
    assert_eq!(full["Group Count"], 4);
    assert_eq!(full["Sort Methods Used"][0], "quicksort");
    assert_eq!(full["Sort Space Memory"]["Peak Sort Space Used"], 28);
    assert_eq!(inc.extra["Pre-sorted Groups"]["Group Count"], 4);
}

#[test]
fn memoize_partitions_dml_and_triggers() {
    let plan = text_plan("pg18", "memoize");
    let memoize = &plan.root.plans[0].plans[1];
    assert_eq!(memoize.extra["Cache Key"], "i.product_id");
    assert_eq!(memoize.extra["Cache Mode"], "logical");
    assert_eq!(memoize.extra["Cache Hits"], 19000);
    assert_eq!(memoize.extra["Cache Misses"], 1000);
    assert_eq!(memoize.peak_memory_usage, Some(114));

    let plan = text_plan("pg18", "partition_prune_run_time");
    let append = &plan.root.plans[0];
    assert_eq!(append.extra["Subplans Removed"], 9);
    assert_eq!(append.plans.len(), 3);
    assert!(
        append
            .plans
            .iter()
            .all(|p| p.parent_relationship.as_deref() == Some("Member"))
    );

    let plan = text_plan("pg17", "update_returning");
    assert_eq!(plan.root.node_type, NodeType::ModifyTable);
    assert_eq!(plan.root.operation.as_deref(), Some("Update"));
    assert_eq!(
        (
            plan.root.schema.as_deref(),
            plan.root.relation_name.as_deref()
        ),
        (Some("public"), Some("accounts"))
    );
    let wal = plan.root.wal.unwrap_or_default();
    assert_eq!(
        (wal.records, wal.fpi, wal.bytes),
        (Some(150), Some(0), Some(10700))
    );
    assert_eq!(plan.triggers[0].trigger_name, "accounts_audit_trg");
    assert_eq!(
        (plan.triggers[0].time_ms, plan.triggers[0].calls),
        (Some(0.309), Some(50))
    );

    let plan = text_plan("pg16", "delete_cascade");
    let t = &plan.triggers[0];
    assert_eq!(
        t.constraint_name.as_deref(),
        Some("order_items_order_id_fkey")
    );
    assert_eq!(t.calls, Some(200));
}

#[test]
fn every_text_fixture_parses_through_parse_too() {
    for (version, dir) in versions() {
        let paths = fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for path in paths {
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default();
            if ext != "txt" && ext != "json" {
                continue;
            }
            let input = read(&path);
            let expected = if ext == "json" {
                plan::Format::Json
            } else {
                plan::Format::Text
            };
            assert_eq!(
                plan::detect(&input),
                expected,
                "{version}: {}",
                path.display()
            );
            if let Err(e) = plan::parse(&input) {
                panic!("{}: {e}", path.display());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Robustness: no input makes the parsers panic.

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn random_bytes_and_truncated_fixtures_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut samples: Vec<String> = Vec::new();
    for (_, dir) in versions().into_iter().take(2) {
        for entry in fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            samples.push(read(&entry.path()));
        }
    }
    let alphabet = " ->()=.:\n\t|+\"'─│QUERY PLAN(1 row)cost=actual rows=loops width=Seq Scan on t\u{feff}ü0123456789N";
    let alphabet: Vec<char> = alphabet.chars().collect();
    let check = |input: &str| {
        let result = std::panic::catch_unwind(|| {
            let _ = plan::parse(input);
            let _ = plan::parse_text(input);
        });
        assert!(result.is_ok(), "panic on input {input:?}");
    };
    for _ in 0..3000 {
        // Random text from EXPLAIN's own characters.
        let len = rng.below(200);
        let s: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        check(&s);
        // Random bytes, lossily decoded.
        let bytes: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        check(&String::from_utf8_lossy(&bytes));
        // A real plan cut anywhere, or with one character replaced.
        let sample = &samples[rng.below(samples.len())];
        let cut = rng.below(sample.len() + 1);
        let cut = (0..=cut)
            .rev()
            .find(|&c| sample.is_char_boundary(c))
            .unwrap_or(0);
        check(&sample[..cut]);
        let mut mutated: Vec<char> = sample.chars().collect();
        if !mutated.is_empty() {
            let at = rng.below(mutated.len());
            mutated[at] = alphabet[rng.below(alphabet.len())];
        }
        check(&mutated.into_iter().collect::<String>());
    }
}

#[test]
fn errors_point_into_the_input() {
    let e = plan::parse_text("Seq Scan on t  (cost=0.00..1.00 rows=1");
    let e = e.expect_err("a truncated node line is an error");
    assert_eq!((e.line, e.column), (Some(1), Some(16)));
    assert!(e.message.contains("unterminated parenthesis"), "{e}");

    let framed = "     QUERY PLAN\n-----------------\n Limit  (cost=0.00..1.00 rows=1 width=4)\n   ->    (cost=0.00..1.00 rows=1 width=4)\n(2 rows)\n";
    let e = plan::parse(framed).expect_err("a node line without a node type");
    assert_eq!(e.line, Some(4));
    assert!(e.message.contains("without a node type"), "{e}");

    let e = plan::parse("      Limit\n  ->  Seq Scan on t\n");
    let e = e.expect_err("indentation goes nowhere");
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("indentation goes nowhere"), "{e}");

    let e = plan::parse("hello\nworld\n").expect_err("garbage");
    assert_eq!((e.line, e.column), (Some(1), Some(1)));
    let e = plan::parse("   \n").expect_err("empty");
    assert!(e.message.contains("empty"), "{e}");

    let e = plan::parse("<explain xmlns=\"http://www.postgresql.org/2009/explain\">\n");
    let e = e.expect_err("XML is refused");
    assert_eq!(e.format, plan::Format::Xml);
    assert_eq!(
        e.message,
        "XML EXPLAIN output is not supported; use FORMAT JSON or TEXT"
    );
    let e = plan::parse("- Plan: \n    Node Type: \"Result\"\n").expect_err("YAML is refused");
    assert_eq!(e.format, plan::Format::Yaml);
    assert!(e.message.contains("not supported"), "{e}");
}

#[test]
fn framed_json_errors_point_into_the_input() {
    // psql's aligned output with a border: the error is on input line 5,
    // after the two-character border.
    let input = "│ QUERY PLAN │\n├────────────┤\n│ [          │\n│   {        │\n│     \"Plan\" x │\n│ ]          │\n";
    let e = plan::parse(input).expect_err("broken JSON");
    assert_eq!(e.format, plan::Format::Json);
    assert_eq!(e.line, Some(5));
    assert!(e.column.is_some_and(|c| c > 3), "{e}");
}
