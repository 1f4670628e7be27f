//! Plan shapes and fingerprints on the real captured plans.

use std::path::Path;

use planguard::plan::shape::{fingerprint, shape};
use planguard::plan::{self, Node, NodeType, Plan};

use crate::plan_json::{json_fixtures, parse_file, plan_fixtures};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One snapshot per fixture file: the shape is what `snapshot` stores, so a
/// change to it is a change to every user's snapshots.
#[test]
fn shape_of_every_fixture() {
    insta::glob!("../../fixtures/plans", "pg*/*.json", |path| {
        insta::assert_snapshot!(shape(&parse_file(path)));
    });
}

/// Plans whose second capture (fixtures/reruns) chose another plan for
/// real: their fingerprints must differ.
const PLAN_FLIPS: &[(&str, &str)] = &[
    // Index Only Scans on the partitions in one run, Bitmap Heap Scans in
    // the other.
    ("pg17", "partition_prune_exec_param"),
];

/// Two executions of the same plan: times, buffers, memory and batches
/// differ, the fingerprint does not.
#[test]
fn fingerprints_survive_a_second_capture() {
    let reruns = json_fixtures(&root().join("fixtures/reruns"));
    assert!(reruns.len() >= 70, "only {} second captures", reruns.len());
    for (version, case, path) in reruns {
        let first = parse_file(&root().join(format!("fixtures/plans/{version}/{case}.json")));
        let second = parse_file(&path);
        assert_ne!(
            first, second,
            "{version}/{case}: the two captures are identical"
        );
        if PLAN_FLIPS.contains(&(version.as_str(), case.as_str())) {
            assert_ne!(
                fingerprint(&first),
                fingerprint(&second),
                "{version}/{case}"
            );
        } else {
            assert_eq!(shape(&first), shape(&second), "{version}/{case}");
            assert_eq!(
                fingerprint(&first),
                fingerprint(&second),
                "{version}/{case}"
            );
        }
    }
}

/// The text and the JSON fixture of one case are two executions of one
/// plan: both parsers must give one fingerprint (the second captures too).
#[test]
fn text_and_json_captures_have_one_fingerprint() {
    let mut fixtures = plan_fixtures();
    fixtures.extend(json_fixtures(&root().join("fixtures/reruns")));
    assert!(fixtures.len() >= 6 * 39 + 70);
    for (version, case, path) in fixtures {
        let json = parse_file(&path);
        let text_path = path.with_extension("txt");
        let text = std::fs::read_to_string(&text_path).unwrap();
        let text = plan::parse_text(&text).unwrap_or_else(|e| panic!("{version}/{case}: {e}"));
        assert_eq!(shape(&text), shape(&json), "{version}/{case}");
        assert_eq!(fingerprint(&text), fingerprint(&json), "{version}/{case}");
    }
}

/// Every fixture's shape changes when one of the things that define a plan
/// changes on one of its nodes.
#[test]
fn fingerprints_change_with_what_defines_the_plan() {
    type Mutation = (&'static str, fn(&mut Node) -> bool);
    let mutations: &[Mutation] = &[
        ("node type", |n| {
            n.node_type = NodeType::Other("Quantum Scan".into());
            true
        }),
        ("relation", |n| replace(&mut n.relation_name, "elsewhere")),
        ("alias", |n| replace(&mut n.alias, "other_alias")),
        ("index", |n| replace(&mut n.index_name, "other_idx")),
        ("join type", |n| replace(&mut n.join_type, "Anti")),
        ("strategy", |n| replace(&mut n.strategy, "Mixed")),
        ("partial mode", |n| replace(&mut n.partial_mode, "Finalize")),
        ("operation", |n| replace(&mut n.operation, "Merge")),
        ("scan direction", |n| {
            n.scan_direction.as_deref() == Some("Forward")
                && replace(&mut n.scan_direction, "Backward")
        }),
        ("parallel", |n| {
            n.parallel_aware = Some(!n.parallel_aware.unwrap_or(false));
            true
        }),
        ("subplan name", |n| {
            replace(&mut n.subplan_name, "SubPlan 9")
        }),
        ("filter", |n| replace(&mut n.conditions.filter, "(x = 1)")),
        ("index cond", |n| {
            replace(&mut n.conditions.index_cond, "(x = 1)")
        }),
        ("recheck cond", |n| {
            replace(&mut n.conditions.recheck_cond, "(x = 1)")
        }),
        ("hash cond", |n| {
            replace(&mut n.conditions.hash_cond, "(x = y)")
        }),
        ("merge cond", |n| {
            replace(&mut n.conditions.merge_cond, "(x = y)")
        }),
        ("join filter", |n| {
            n.join_type.is_some() && {
                n.conditions.join_filter = Some("(x < y)".into());
                true
            }
        }),
        ("one-time filter", |n| {
            replace(&mut n.conditions.one_time_filter, "false")
        }),
        ("sort key", |n| {
            n.sort_key.first_mut().is_some_and(|k| {
                k.push_str(" DESC");
                true
            })
        }),
        ("group key", |n| {
            n.group_key.first_mut().is_some_and(|k| {
                k.push('x');
                true
            })
        }),
        ("a literal", |n| {
            n.conditions.filter.as_mut().is_some_and(|f| {
                f.push_str(" AND (1 = 1)");
                true
            })
        }),
        ("one child less", |n| {
            n.node_type == NodeType::Append && n.plans.pop().is_some()
        }),
    ];
    let mut changed = vec![0; mutations.len()];
    for (version, case, path) in plan_fixtures() {
        let plan = parse_file(&path);
        let original = fingerprint(&plan);
        for (m, (what, mutate)) in mutations.iter().enumerate() {
            // Mutate the first node the mutation applies to.
            let mut mutated = plan.clone();
            if !mutate_first(&mut mutated.root, *mutate) {
                continue;
            }
            assert_ne!(
                fingerprint(&mutated),
                original,
                "{version}/{case}: changing the {what} kept the fingerprint"
            );
            changed[m] += 1;
        }
    }
    for ((what, _), count) in mutations.iter().zip(changed) {
        assert!(count > 0, "no fixture has a node to change the {what} of");
    }
}

/// Figures that vary between runs of one plan, changed on every node, keep
/// the fingerprint.
#[test]
fn fingerprints_ignore_run_figures() {
    for (version, case, path) in plan_fixtures() {
        let plan = parse_file(&path);
        let mut other = plan.clone();
        perturb(&mut other.root);
        other.execution_time_ms = Some(1e6);
        other.planning_time_ms = Some(1e6);
        assert_eq!(fingerprint(&plan), fingerprint(&other), "{version}/{case}");
    }
}

fn perturb(node: &mut Node) {
    let bump = |v: &mut Option<f64>| *v = Some(v.unwrap_or(0.0) * 3.0 + 1.0);
    bump(&mut node.startup_cost);
    bump(&mut node.total_cost);
    bump(&mut node.plan_rows);
    bump(&mut node.actual_startup_time);
    bump(&mut node.actual_total_time);
    bump(&mut node.actual_rows);
    bump(&mut node.actual_loops);
    bump(&mut node.rows_removed_by_filter);
    bump(&mut node.heap_fetches);
    node.never_executed = !node.never_executed;
    node.plan_width = Some(node.plan_width.unwrap_or(0) + 8);
    node.buffers.shared_hit = Some(node.buffers.shared_hit.unwrap_or(0) + 100);
    node.buffers.temp_written = Some(7);
    node.io.shared_read_ms = Some(2.5);
    node.workers_planned = node.workers_planned.map(|w| w + 2);
    node.workers_launched = node.workers_launched.map(|w| w.saturating_sub(1));
    node.workers.clear();
    if node.sort_method.is_some() {
        node.sort_method = Some("external merge".into());
        node.sort_space_type = Some("Disk".into());
        node.sort_space_used = Some(123_456);
    }
    if node.hash_batches.is_some() {
        node.hash_batches = Some(64);
        node.hash_buckets = Some(1 << 20);
        node.peak_memory_usage = Some(99);
    }
    node.hash_agg_batches = node.hash_agg_batches.map(|b| b + 5);
    node.disk_usage = Some(4096);
    node.disabled = Some(true);
    node.output.push("extra_column".into());
    node.extra
        .insert("Subplans Removed".into(), serde_json::Value::from(42));
    node.extra
        .insert("Cache Hits".into(), serde_json::Value::from(42));
    for child in &mut node.plans {
        perturb(child);
    }
}

fn replace(field: &mut Option<String>, value: &str) -> bool {
    match field {
        Some(old) if old != value => {
            *old = value.to_owned();
            true
        }
        _ => false,
    }
}

fn mutate_first(node: &mut Node, mutate: fn(&mut Node) -> bool) -> bool {
    mutate(node) || node.plans.iter_mut().any(|c| mutate_first(c, mutate))
}

#[test]
fn shapes_name_what_defines_the_nodes() {
    let shape_of = |version: &str, case: &str| -> String {
        let plan: Plan = parse_file(&root().join(format!("fixtures/plans/{version}/{case}.json")));
        shape(&plan)
    };
    assert!(shape_of("pg17", "hash_agg").starts_with("Aggregate (Hashed) [Group Key: "));
    assert!(shape_of("pg17", "parallel_seq_scan").contains("Parallel Seq Scan on public.orders"));
    assert!(
        shape_of("pg17", "insert_returning_trigger")
            .starts_with("ModifyTable (Insert) on public.accounts\n")
    );
    assert!(shape_of("pg13", "initplan").contains("InitPlan 1 (returns $0): Aggregate (Plain)"));
    assert!(shape_of("pg18", "initplan").contains("InitPlan 1: Aggregate (Plain)"));
    assert!(
        shape_of("pg17", "memoize")
            .contains("Memoize [Cache Key: i.product_id] [Cache Mode: logical]")
    );
}
