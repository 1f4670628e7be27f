//! Derived figures: exclusive time and buffers, rows scanned, estimate error.
//!
//! EXPLAIN ANALYZE reports, per node, the average time and rows *per loop*
//! and the buffers *over all loops*, each including the node's children
//! (explain.c, `ExplainNode`; the PostgreSQL docs, "Using EXPLAIN", 14.1.2).
//! [`derive`] turns those into what a person asks for: how long the node
//! took in total, how much of that was its own work, how many rows it looked
//! at, and how far the row estimate was off.

use std::collections::BTreeMap;

use super::model::{Buffers, Derived, Node, NodeType, Plan};

/// Fills `derived` on every node of the plan. Run by the parsers before they
/// return; safe to run again.
pub fn derive(plan: &mut Plan) {
    derive_node(&mut plan.root, None);
    charge_ctes_to_their_scans(&mut plan.root);
}

/// The CTE a node computes, from its `"Subplan Name"` (`CTE big_spenders`).
fn cte_defined(node: &Node) -> Option<&str> {
    node.subplan_name.as_deref()?.strip_prefix("CTE ")
}

/// `processes`: how many processes shared this node's loops, when it runs
/// below a Gather or Gather Merge.
fn derive_node(node: &mut Node, processes: Option<f64>) {
    let below = match node.node_type {
        NodeType::Gather | NodeType::GatherMerge => gather_processes(node),
        _ => processes,
    };
    for child in &mut node.plans {
        derive_node(child, below);
    }

    let inclusive = inclusive_time(node, processes);
    // A CTE is nested where it is attached but runs inside the CTE Scans
    // that read it: see charge_ctes_to_their_scans.
    let children: f64 = node
        .plans
        .iter()
        .filter(|c| cte_defined(c).is_none())
        .filter_map(|c| c.derived.inclusive_time_ms)
        .sum();
    let loops = if node.never_executed {
        Some(0.0)
    } else {
        node.actual_loops
    };
    node.derived = Derived {
        inclusive_time_ms: inclusive,
        // A node's time includes its children's, InitPlans and SubPlans
        // included: they run when the node evaluates the expression that
        // needs them. Lazily evaluated InitPlans can run inside a descendant
        // instead, and timing overhead varies, so the difference can come out
        // negative: clamp at zero.
        exclusive_time_ms: inclusive.map(|t| (t - children).max(0.0)),
        exclusive_buffers: exclusive_buffers(node),
        rows_scanned: node.actual_rows.zip(loops).map(|(rows, loops)| {
            let removed = node.rows_removed_by_filter.unwrap_or(0.0)
                + node.rows_removed_by_index_recheck.unwrap_or(0.0);
            (rows + removed) * loops
        }),
        estimate_factor: estimate_factor(node),
    };
}

/// A materialized CTE is printed as an InitPlan of the node it is attached
/// to, but it runs when a CTE Scan pulls rows from it, inside that scan's
/// time (nodeCtescan.c). Its time is therefore taken out of the CTE Scans
/// that read it, not out of the node it hangs from, so that the self times
/// add up to the query's time, as PEV2 checks in its "cte-exclusive-time"
/// tests. With several readers, each is charged in proportion to its own
/// time; a CTE name defined twice (in different subqueries) is left alone.
fn charge_ctes_to_their_scans(root: &mut Node) {
    /// A CTE's time and buffers; None when its name is defined twice.
    type Ctes = BTreeMap<String, Option<(Option<f64>, Buffers)>>;
    /// Per CTE name, the readers' total time and their number.
    type Readers = BTreeMap<String, (f64, usize)>;
    let mut ctes = Ctes::new();
    let mut readers = Readers::new();
    root.walk(&mut |_, node| {
        if let Some(name) = cte_defined(node) {
            ctes.entry(name.to_owned())
                .and_modify(|cte| *cte = None)
                .or_insert(Some((node.derived.inclusive_time_ms, node.buffers)));
        }
        if let (NodeType::CteScan, Some(name)) = (&node.node_type, &node.cte_name) {
            let entry = readers.entry(name.clone()).or_default();
            entry.0 += node.derived.inclusive_time_ms.unwrap_or(0.0);
            entry.1 += 1;
        }
    });
    fn charge(node: &mut Node, ctes: &Ctes, readers: &Readers) {
        if let (NodeType::CteScan, Some(name)) = (&node.node_type, &node.cte_name)
            && let (Some(Some((time, buffers))), Some(&(total, count))) =
                (ctes.get(name), readers.get(name))
        {
            let inclusive = node.derived.inclusive_time_ms.unwrap_or(0.0);
            let share = if total > 0.0 {
                inclusive / total
            } else {
                1.0 / count as f64
            };
            let d = &mut node.derived;
            if let (Some(own), Some(cte)) = (d.exclusive_time_ms, time) {
                d.exclusive_time_ms = Some((own - cte * share).max(0.0));
            }
            d.exclusive_buffers = minus_share(&d.exclusive_buffers, buffers, share);
        }
        for child in &mut node.plans {
            charge(child, ctes, readers);
        }
    }
    charge(root, &ctes, &readers);
}

/// `own` minus `share` of `other`, per counter, never below zero.
fn minus_share(own: &Buffers, other: &Buffers, share: f64) -> Buffers {
    let f = |own: Option<u64>, other: Option<u64>| {
        own.map(|own| own.saturating_sub((other.unwrap_or(0) as f64 * share).round() as u64))
    };
    Buffers {
        shared_hit: f(own.shared_hit, other.shared_hit),
        shared_read: f(own.shared_read, other.shared_read),
        shared_dirtied: f(own.shared_dirtied, other.shared_dirtied),
        shared_written: f(own.shared_written, other.shared_written),
        local_hit: f(own.local_hit, other.local_hit),
        local_read: f(own.local_read, other.local_read),
        local_dirtied: f(own.local_dirtied, other.local_dirtied),
        local_written: f(own.local_written, other.local_written),
        temp_read: f(own.temp_read, other.temp_read),
        temp_written: f(own.temp_written, other.temp_written),
    }
}

/// How many processes run the nodes below a Gather: the workers launched
/// (planned, without ANALYZE) plus the leader.
fn gather_processes(gather: &Node) -> Option<f64> {
    let workers = gather.workers_launched.or(gather.workers_planned)?;
    Some(workers as f64 + 1.0)
}

/// Total time in the node over all its loops, in ms.
///
/// Below a Gather, each worker and the leader run the node, and EXPLAIN
/// averages the per-loop time over all of their loops together, so
/// `time x loops` is the sum of the processes' times, not the time that
/// passed. As PEV2 does (dalibo/pev2, plan-service.ts, and its test
/// "Parallel nodes duration - not all workers launched"), divide by the
/// number of processes, launched workers plus the leader. The divisor is
/// capped at the loop count: a node that ran once (or, with
/// `parallel_leader_participation` off, once per worker) ran in at most
/// that many processes.
fn inclusive_time(node: &Node, processes: Option<f64>) -> Option<f64> {
    if node.never_executed {
        return Some(0.0);
    }
    let time = node.actual_total_time?;
    let loops = node.actual_loops?;
    let divisor = processes.map_or(1.0, |p| p.min(loops).max(1.0));
    Some(time * loops / divisor)
}

/// The node's buffers minus its children's (EXPLAIN counts the children's
/// blocks in the parent's), per counter, never below zero. CTEs are
/// charged to their readers instead, as for time.
fn exclusive_buffers(node: &Node) -> Buffers {
    fn minus(own: Option<u64>, children: u64) -> Option<u64> {
        own.map(|own| own.saturating_sub(children))
    }
    let sum = |f: fn(&Buffers) -> Option<u64>| -> u64 {
        node.plans
            .iter()
            .filter(|c| cte_defined(c).is_none())
            .filter_map(|c| f(&c.buffers))
            .fold(0, u64::saturating_add)
    };
    let b = &node.buffers;
    Buffers {
        shared_hit: minus(b.shared_hit, sum(|b| b.shared_hit)),
        shared_read: minus(b.shared_read, sum(|b| b.shared_read)),
        shared_dirtied: minus(b.shared_dirtied, sum(|b| b.shared_dirtied)),
        shared_written: minus(b.shared_written, sum(|b| b.shared_written)),
        local_hit: minus(b.local_hit, sum(|b| b.local_hit)),
        local_read: minus(b.local_read, sum(|b| b.local_read)),
        local_dirtied: minus(b.local_dirtied, sum(|b| b.local_dirtied)),
        local_written: minus(b.local_written, sum(|b| b.local_written)),
        temp_read: minus(b.temp_read, sum(|b| b.temp_read)),
        temp_written: minus(b.temp_written, sum(|b| b.temp_written)),
    }
}

/// `max(actual / estimated, estimated / actual)` per loop. Both sides are
/// taken as at least one row, as PEV2 and explain.depesz.com do, so that a
/// zero on either side (the planner never estimates below one row for most
/// nodes; an empty result is common) gives a finite factor, and so that the
/// fractional per-loop averages of PostgreSQL 18 below one row do not
/// inflate it.
fn estimate_factor(node: &Node) -> Option<f64> {
    if node.never_executed {
        return None;
    }
    let actual = node.actual_rows?.max(1.0);
    let estimated = node.plan_rows?.max(1.0);
    Some((actual / estimated).max(estimated / actual))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(time: f64, loops: f64, plans: Vec<Node>) -> Node {
        Node {
            actual_total_time: Some(time),
            actual_loops: Some(loops),
            actual_rows: Some(1.0),
            plan_rows: Some(1.0),
            plans,
            ..Node::default()
        }
    }

    fn derived(root: Node) -> Plan {
        let mut plan = Plan {
            root,
            ..Plan::default()
        };
        derive(&mut plan);
        plan
    }

    #[test]
    fn exclusive_time_subtracts_children_over_all_loops() {
        // A nested loop running its inner index scan 100 times.
        let plan = derived(node(
            50.0,
            1.0,
            vec![node(10.0, 1.0, vec![]), node(0.3, 100.0, vec![])],
        ));
        let d = plan.root.derived;
        assert_eq!(d.inclusive_time_ms, Some(50.0));
        let inner = plan.root.plans[1].derived;
        assert!((inner.inclusive_time_ms.unwrap() - 30.0).abs() < 1e-9);
        assert!((d.exclusive_time_ms.unwrap() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn exclusive_time_never_goes_negative() {
        let plan = derived(node(1.0, 1.0, vec![node(5.0, 1.0, vec![])]));
        assert_eq!(plan.root.derived.exclusive_time_ms, Some(0.0));
    }

    #[test]
    fn a_cte_is_charged_to_the_scans_that_read_it() {
        let mut cte = node(30.0, 1.0, vec![]);
        cte.buffers.shared_hit = Some(100);
        cte.parent_relationship = Some("InitPlan".into());
        cte.subplan_name = Some("CTE c".into());
        let reader = |time, hit| Node {
            node_type: NodeType::CteScan,
            cte_name: Some("c".into()),
            buffers: Buffers {
                shared_hit: Some(hit),
                ..Buffers::default()
            },
            ..node(time, 1.0, vec![])
        };
        let mut join = node(41.0, 1.0, vec![reader(30.0, 80), reader(10.0, 20)]);
        join.buffers.shared_hit = Some(100);
        let mut root = node(42.0, 1.0, vec![cte, join]);
        root.buffers.shared_hit = Some(100);
        let plan = derived(root);
        assert_eq!(plan.root.derived.exclusive_buffers.shared_hit, Some(0));
        // The root does not pay for the CTE a second time...
        assert_eq!(plan.root.derived.exclusive_time_ms, Some(1.0));
        // ...the readers do, in proportion to their time: 30 x 3/4 and 30 x 1/4.
        let join = &plan.root.plans[1];
        assert_eq!(join.plans[0].derived.exclusive_time_ms, Some(7.5));
        assert_eq!(join.plans[1].derived.exclusive_time_ms, Some(2.5));
        assert_eq!(join.plans[0].derived.inclusive_time_ms, Some(30.0));
        assert_eq!(join.plans[0].derived.exclusive_buffers.shared_hit, Some(5));
        assert_eq!(join.plans[1].derived.exclusive_buffers.shared_hit, Some(0));
    }

    #[test]
    fn time_below_gather_is_shared_by_the_processes() {
        let mut gather = node(100.0, 1.0, vec![node(90.0, 3.0, vec![])]);
        gather.node_type = NodeType::Gather;
        gather.workers_planned = Some(4);
        gather.workers_launched = Some(2);
        let plan = derived(gather);
        let scan = plan.root.plans[0].derived;
        assert_eq!(scan.inclusive_time_ms, Some(90.0));
        assert_eq!(plan.root.derived.exclusive_time_ms, Some(10.0));
    }

    #[test]
    fn never_executed_nodes_take_no_time_and_have_no_estimate_factor() {
        let mut child = node(0.0, 0.0, vec![]);
        child.never_executed = true;
        let plan = derived(node(2.0, 1.0, vec![child]));
        let d = plan.root.plans[0].derived;
        assert_eq!(d.inclusive_time_ms, Some(0.0));
        assert_eq!(d.exclusive_time_ms, Some(0.0));
        assert_eq!(d.estimate_factor, None);
        assert_eq!(d.rows_scanned, Some(0.0));
    }

    #[test]
    fn estimate_factor_treats_zero_as_one_row() {
        let mut n = node(1.0, 1.0, vec![]);
        n.plan_rows = Some(200.0);
        n.actual_rows = Some(0.0);
        assert_eq!(derived(n.clone()).root.derived.estimate_factor, Some(200.0));
        n.plan_rows = Some(5.0);
        n.actual_rows = Some(20.0);
        assert_eq!(derived(n.clone()).root.derived.estimate_factor, Some(4.0));
        n.actual_rows = None;
        assert_eq!(derived(n).root.derived.estimate_factor, None);
    }

    #[test]
    fn rows_scanned_adds_what_filters_removed() {
        let mut n = node(1.0, 4.0, vec![]);
        n.actual_rows = Some(2.0);
        n.rows_removed_by_filter = Some(10.0);
        n.rows_removed_by_index_recheck = Some(1.0);
        assert_eq!(derived(n).root.derived.rows_scanned, Some(52.0));
    }

    #[test]
    fn exclusive_buffers_subtract_children_and_clamp() {
        let mut child = node(1.0, 1.0, vec![]);
        child.buffers.shared_hit = Some(30);
        child.buffers.shared_read = Some(500);
        let mut root = node(2.0, 1.0, vec![child]);
        root.buffers.shared_hit = Some(100);
        root.buffers.shared_read = Some(400);
        let plan = derived(root);
        let b = plan.root.derived.exclusive_buffers;
        assert_eq!(b.shared_hit, Some(70));
        assert_eq!(b.shared_read, Some(0));
        assert_eq!(b.temp_read, None);
    }

    #[test]
    fn without_analyze_nothing_is_derived_but_buffers() {
        let plan = derived(Node {
            plan_rows: Some(10.0),
            ..Node::default()
        });
        let d = plan.root.derived;
        assert_eq!(d.inclusive_time_ms, None);
        assert_eq!(d.exclusive_time_ms, None);
        assert_eq!(d.rows_scanned, None);
        assert_eq!(d.estimate_factor, None);
    }
}
