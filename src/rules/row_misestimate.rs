//! `row-misestimate`: actual rows far from the planner's estimate on a node
//! that matters for the execution time.
//!
//! A misestimate carries up the tree: a join over a scan that returned
//! 1000x the estimate is usually off by 1000x too. The rule reports where
//! the error starts (a misestimated node none of whose children is off in
//! the same direction) and not every ancestor inheriting it; the chain of
//! inheriting ancestors counts for the time share, so a cheap scan whose
//! error makes an expensive join above it go wrong is reported.

use crate::plan::{Node, NodeType, Plan};

use super::units::rows;
use super::{
    Context, Finding, Rule, RuleInfo, Severity, describe, node_ref, nodes, num, path_string,
};

pub struct RowMisestimate;

static INFO: RuleInfo = RuleInfo {
    id: "row-misestimate",
    summary: "actual rows differ from the estimate by more than the factor on a node that matters",
    default_severity: Severity::Warning,
    needs_baseline: false,
    needs_analyze: true,
    single_plan: true,
    docs: include_str!("../../docs/rules/row-misestimate.md"),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// More rows than estimated.
    Under,
    /// Fewer rows than estimated.
    Over,
}

#[derive(Debug, Clone, Copy)]
struct Estimate {
    factor: f64,
    direction: Direction,
    estimated: f64,
    actual: f64,
}

impl Rule for RowMisestimate {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let Some(plan) = ctx.plan else {
            return;
        };
        let t = ctx.thresholds;
        let all = nodes(&plan.root);
        let total_ms = plan
            .execution_time_ms
            .or_else(|| inclusive_ms(&plan.root))
            .filter(|ms| *ms > 0.0);
        let off = |index: &[usize], node: &Node| {
            estimate(node)
                .filter(|e| e.factor >= t.misestimate_factor)
                .filter(|e| e.direction == Direction::Under || !stops_early(plan, index))
        };
        for (index, node) in &all {
            let Some(est) = off(index, node) else {
                continue;
            };
            let inherited = node.plans.iter().enumerate().any(|(i, child)| {
                let mut child_index = index.clone();
                child_index.push(i);
                off(&child_index, child).is_some_and(|c| c.direction == est.direction)
            });
            if inherited {
                continue;
            }
            // The chain: this node and the ancestors off in the same direction.
            let mut chain = vec![(index.clone(), *node)];
            let mut up = index.clone();
            while up.pop().is_some() {
                let ancestor = node_at(&plan.root, &up);
                match off(&up, ancestor) {
                    Some(a) if a.direction == est.direction => chain.push((up.clone(), ancestor)),
                    _ => break,
                }
            }
            let share = match total_ms {
                Some(total) => {
                    chain
                        .iter()
                        .filter_map(|(_, n)| inclusive_ms(n))
                        .fold(0.0, f64::max)
                        / total
                }
                None => 0.0,
            }
            .min(1.0);
            if share < t.misestimate_min_time_share {
                continue;
            }
            findings.push(finding(index, node, est, &chain, share));
        }
    }
}

fn finding(
    index: &[usize],
    node: &Node,
    est: Estimate,
    chain: &[(Vec<usize>, &Node)],
    share: f64,
) -> Finding {
    let loops = node.actual_loops.unwrap_or(1.0);
    let per_loop = if loops > 1.0 {
        format!(" per loop over {} loops", rows(loops))
    } else {
        String::new()
    };
    let way = match est.direction {
        Direction::Under => "more",
        Direction::Over => "fewer",
    };
    let mut message = format!(
        "{} returned {} rows{per_loop} where the planner estimated {} ({:.0}x {way} than estimated)",
        describe(node),
        rows(est.actual),
        rows(est.estimated),
        est.factor
    );
    let (top_index, top) = chain
        .last()
        .map_or((index, node), |(i, n)| (i.as_slice(), *n));
    if chain.len() > 1 {
        message.push_str(&format!(
            "; the error carries up to {} at {}, {:.0}% of the execution time",
            describe(top),
            path_string(top_index),
            share * 100.0
        ));
    } else {
        message.push_str(&format!(
            "; it accounts for {:.0}% of the execution time",
            share * 100.0
        ));
    }
    let suggestion = match &node.relation_name {
        Some(rel) => format!(
            "Run ANALYZE {rel}; if the estimate stays off, raise the statistics target of the filtered columns (ALTER TABLE {rel} ALTER COLUMN ... SET STATISTICS 1000) or create extended statistics for correlated columns (CREATE STATISTICS ... ON a, b FROM {rel})"
        ),
        None => {
            let mut rels: Vec<&str> = nodes(node)
                .into_iter()
                .filter_map(|(_, n)| n.relation_name.as_deref())
                .collect();
            rels.sort_unstable();
            rels.dedup();
            format!(
                "The estimate of this {} is off although its inputs are estimated well: the joined or grouped columns are likely correlated or skewed. Run ANALYZE on {}; consider extended statistics (CREATE STATISTICS) on the columns involved",
                node.node_type,
                if rels.is_empty() {
                    "the tables involved".to_owned()
                } else {
                    rels.join(", ")
                }
            )
        }
    };
    Finding::new(INFO.id, INFO.default_severity, message)
        .at(node_ref(index, node))
        .with("estimated_rows", num(est.estimated))
        .with("actual_rows", num(est.actual))
        .with("loops", num(loops))
        .with("factor", num(est.factor))
        .with(
            "direction",
            match est.direction {
                Direction::Under => "underestimate",
                Direction::Over => "overestimate",
            },
        )
        .with("time_share", num(share))
        .with("inherited_up_to", path_string(top_index))
        .suggest(suggestion)
}

/// How far a node's actual rows per loop are from the estimate per loop;
/// None for nodes that did not run or whose rows mean nothing (BitmapAnd
/// and BitmapOr always report 0).
/// Whether the misestimate of `now` was already there on the baseline's
/// matched node `then`: judged on the node's own estimate error, with
/// hysteresis, not on whether the rule fired (a time share that sits at
/// the threshold, or parallel workers splitting rows differently, would
/// make a finding flicker). It is a regression only when the baseline's
/// error was under the factor and at most half of today's.
pub(super) fn standing(then: &Node, now: &Node, factor: f64) -> bool {
    match (estimate(then), estimate(now)) {
        (Some(a), Some(b)) => {
            a.direction == b.direction && (a.factor >= factor || a.factor * 2.0 > b.factor)
        }
        // Not executed then (or no figures): nothing says it was there.
        _ => false,
    }
}

fn estimate(node: &Node) -> Option<Estimate> {
    if node.never_executed || node.actual_loops.is_none_or(|l| l <= 0.0) {
        return None;
    }
    if matches!(node.node_type, NodeType::BitmapAnd | NodeType::BitmapOr) {
        return None;
    }
    let estimated = node.plan_rows?;
    let actual = node.actual_rows?;
    // The planner never estimates below one row (clamp_row_est in
    // costsize.c); compare with the same floor on both sides.
    let (e, a) = (estimated.max(1.0), actual.max(1.0));
    let (factor, direction) = if a >= e {
        (a / e, Direction::Under)
    } else {
        (e / a, Direction::Over)
    };
    Some(Estimate {
        factor,
        direction,
        estimated,
        actual,
    })
}

/// Nodes whose execution a parent may stop before they return every row:
/// anything under a Limit, the inner side of a semi or anti join (it stops
/// at the first match), and the inputs of a Merge Join (it stops when one
/// side runs out). Fewer rows than estimated there is the plan working.
fn stops_early(plan: &Plan, index: &[usize]) -> bool {
    let mut node = &plan.root;
    for (depth, &i) in index.iter().enumerate() {
        let is_parent = depth + 1 == index.len();
        if node.node_type == NodeType::Limit
            || (is_parent && node.node_type == NodeType::MergeJoin)
            || (i > 0
                && matches!(
                    node.join_type.as_deref(),
                    Some("Semi" | "Anti" | "Right Semi" | "Right Anti")
                ))
        {
            return true;
        }
        match node.plans.get(i) {
            Some(child) => node = child,
            None => return false,
        }
    }
    false
}

fn node_at<'a>(root: &'a Node, index: &[usize]) -> &'a Node {
    index
        .iter()
        .fold(root, |node, &i| node.plans.get(i).unwrap_or(node))
}

/// Time in the node and below it, over all loops.
fn inclusive_ms(node: &Node) -> Option<f64> {
    node.derived
        .inclusive_time_ms
        .or_else(|| Some(node.actual_total_time? * node.actual_loops?))
}
