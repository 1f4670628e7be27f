//! `generic-plan`: the generic plan of a parameterized query is much worse
//! than its custom plan at the same values: the prepared-statement trap.
//!
//! Reads the context's custom plan (the median run, planned with the
//! values bound) and `now.generic` (the statement prepared by the server
//! and run under `plan_cache_mode = force_generic_plan` with the same
//! values). Fires when the generic plan reads a relation by Seq Scan that
//! the custom plan reads by an index, or when it is at least
//! `generic_plan_ratio` times slower (costlier, without ANALYZE).
//!
//! Whether the server would switch to the generic plan follows
//! plancache.c: `choose_custom_plan` makes five custom plans, then takes
//! the generic plan when its cost is below the average custom cost, and
//! `cached_plan_cost` adds to each custom plan's cost a planning charge of
//! `1000 * cpu_operator_cost * (range table entries + 1)` (not to the
//! generic plan's). The average is estimated for two ways the first five
//! executions may go: all with the run's values, or all with the most
//! common values (pg_stats, when the run bound others). The range table
//! is counted from the plan (one entry per scan); join entries of
//! explicit `JOIN`s are not visible in a plan, so the charge is a lower
//! bound.

use serde_json::Value;

use crate::plan::{Node, NodeType, Plan, shape};

use super::units::{cost, ms};
use super::{Context, Finding, Rule, RuleInfo, Severity, node_ref, num, plan_analyzed, spine};

pub struct GenericPlan;

static INFO: RuleInfo = RuleInfo {
    id: "generic-plan",
    summary: "the generic plan of a parameterized query is much worse than its custom plan (the prepared-statement trap)",
    default_severity: Severity::Warning,
    needs_baseline: false,
    needs_analyze: false,
    single_plan: false,
    docs: include_str!("../../docs/rules/generic-plan.md"),
};

/// `cpu_operator_cost` unless the plan's settings say otherwise.
const DEFAULT_CPU_OPERATOR_COST: f64 = 0.0025;

/// Custom plans the server makes before it considers the generic one
/// (plancache.c, `choose_custom_plan`).
const CUSTOM_PLANS_FIRST: u32 = 5;

/// At most this many lines of each plan in the evidence.
const MAX_SPINE: usize = 20;

impl Rule for GenericPlan {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let (Some(custom), Some(generic)) = (ctx.plan, ctx.now.generic) else {
            return;
        };
        let g = generic.plan;
        let t = ctx.thresholds;
        let lost = index_to_seq_scan(custom, g);

        let analyzed = plan_analyzed(custom) && plan_analyzed(g);
        let custom_ms = ctx.figures().and_then(|f| f.execution_ms);
        let generic_ms = g.execution_time_ms;
        let slowdown = match (analyzed, custom_ms, generic_ms) {
            (true, Some(c), Some(g)) => Some((c, g, g / c.max(0.001))),
            _ => None,
        };
        // One generic run against the custom median: time alone is noise
        // on a busy machine (the same plan read the same blocks 12x
        // slower once). It counts when the generic plan also did more
        // work: twice the shared blocks, or a Seq Scan where the custom
        // plan used an index.
        let blocks = |p: &crate::plan::Plan| {
            p.root.buffers.shared_hit.unwrap_or(0) + p.root.buffers.shared_read.unwrap_or(0)
        };
        let more_work = !lost.is_empty() || blocks(g) >= 2 * blocks(custom).max(1);
        let slower = more_work
            && slowdown.is_some_and(|(c, g, ratio)| {
                ratio >= t.generic_plan_ratio && g - c >= t.generic_plan_min_ms
            });
        let custom_cost = custom.root.total_cost.unwrap_or(0.0);
        let generic_cost = g.root.total_cost.unwrap_or(0.0);
        let cost_ratio = generic_cost / custom_cost.max(0.001);
        let costlier = !analyzed && cost_ratio >= t.generic_plan_ratio;
        if lost.is_empty() && !slower && !costlier {
            return;
        }

        let decision = decide(ctx, custom, generic_cost, generic.common);
        let severity = if decision.switches && slower {
            Severity::Warning
        } else {
            Severity::Info
        };

        let mut what = Vec::new();
        if let Some(l) = lost.first() {
            what.push(format!(
                "the generic plan reads {} by {} where the custom plan uses {}",
                l.relation,
                super::describe(l.generic),
                super::describe(l.custom),
            ));
        }
        match slowdown {
            Some((c, g, ratio)) if slower || !lost.is_empty() => what.push(format!(
                "it is {ratio:.1}x {} at the same values ({} vs {})",
                if ratio >= 1.0 { "slower" } else { "as fast" },
                ms(g),
                ms(c)
            )),
            _ => {}
        }
        if costlier || slowdown.is_none() {
            what.push(format!(
                "its cost is {cost_ratio:.1}x the custom plan's ({} vs {})",
                cost(generic_cost),
                cost(custom_cost)
            ));
        }
        let message = format!("{}; {}", what.join("; "), decision.sentence);

        let regression = ctx
            .baseline
            .and_then(|b| b.record.generic.as_ref())
            .is_some_and(|then| then.fingerprint != shape::fingerprint(g));

        let mut finding = Finding::new(INFO.id, severity, message)
            .regression(regression)
            .with("would_switch", decision.switches)
            .with("trap", if decision.switches { "live" } else { "latent" })
            .with("generic_cost", num(generic_cost))
            .with("custom_cost", num(custom_cost))
            .with("planning_surcharge", num(decision.surcharge))
            .with("average_custom_cost", num(decision.average))
            .with("cost_ratio", num(cost_ratio))
            .with("custom_spine", spine(custom, MAX_SPINE))
            .with("generic_spine", spine(g, MAX_SPINE))
            .with("custom_ms", custom_ms.map_or(Value::Null, num))
            .with("generic_ms", generic_ms.map_or(Value::Null, num))
            .with(
                "slowdown",
                slowdown.map_or(Value::Null, |(_, _, ratio)| num(ratio)),
            )
            .with(
                "custom_shared_blocks",
                ctx.figures()
                    .and_then(|f| f.shared_blocks)
                    .map_or(Value::Null, Value::from),
            )
            .with(
                "generic_shared_blocks",
                (!g.root.buffers.is_empty())
                    .then(|| g.root.buffers.shared_touched())
                    .map_or(Value::Null, Value::from),
            )
            .with(
                "values",
                generic
                    .values
                    .map_or(Value::Null, |v| Value::from(v.values.clone())),
            )
            .with(
                "index_to_seq_scan",
                lost.iter()
                    .map(|l| {
                        serde_json::json!({
                            "relation": l.relation,
                            "custom": super::describe(l.custom),
                            "generic": super::describe(l.generic),
                        })
                    })
                    .collect::<Vec<_>>(),
            )
            .suggest(suggestion(&lost));
        if let Some(common) = &decision.common {
            finding = finding
                .with("common_values", common.values.clone())
                .with("common_custom_cost", num(common.cost))
                .with("common_average_custom_cost", num(common.average));
        }
        if let Some(l) = lost.first() {
            finding = finding.at(node_ref(&l.custom_at, l.custom));
        }
        if let Some(mode) = &decision.mode {
            finding = finding.with("plan_cache_mode", mode.as_str());
        }
        findings.push(finding);
    }
}

/// One relation read by an index in the custom plan and by a Seq Scan in
/// the generic plan.
struct Lost<'a> {
    relation: String,
    /// The custom plan's node and its path.
    custom: &'a Node,
    custom_at: Vec<usize>,
    generic: &'a Node,
}

/// Relations the custom plan reads by an index (or bitmap) scan and the
/// generic plan reads by a Seq Scan (matched by alias).
fn index_to_seq_scan<'a>(custom: &'a Plan, generic: &'a Plan) -> Vec<Lost<'a>> {
    let scans = |plan: &'a Plan, keep: fn(&Node) -> bool| {
        let mut out: Vec<(String, Vec<usize>, &'a Node)> = Vec::new();
        plan.root.walk(&mut |index, node| {
            if keep(node)
                && let Some(relation) = &node.relation_name
            {
                out.push((
                    node.alias.clone().unwrap_or_else(|| relation.clone()),
                    index.to_vec(),
                    node,
                ));
            }
        });
        out
    };
    let by_index = scans(custom, |n| {
        matches!(
            n.node_type,
            NodeType::IndexScan | NodeType::IndexOnlyScan | NodeType::BitmapHeapScan
        )
    });
    let by_seq = scans(generic, |n| n.node_type == NodeType::SeqScan);
    let mut out: Vec<Lost> = Vec::new();
    for (alias, custom_at, custom_node) in by_index {
        if let Some((_, _, generic_node)) = by_seq.iter().find(|(a, _, _)| *a == alias) {
            let relation = custom_node.relation_name.clone().unwrap_or(alias);
            if !out.iter().any(|l| l.relation == relation) {
                out.push(Lost {
                    relation,
                    custom: custom_node,
                    custom_at,
                    generic: generic_node,
                });
            }
        }
    }
    out
}

/// What the server would do under `plan_cache_mode = auto`.
struct Decision {
    switches: bool,
    /// The planning charge added to the custom plan at the run's values.
    surcharge: f64,
    /// The average custom cost if the first five executions bound the
    /// run's values.
    average: f64,
    common: Option<CommonCase>,
    /// `plan_cache_mode` when it is not `auto`.
    mode: Option<String>,
    sentence: String,
}

struct CommonCase {
    values: Vec<Option<String>>,
    cost: f64,
    average: f64,
}

fn decide(
    ctx: &Context,
    custom: &Plan,
    generic_cost: f64,
    common: Option<(&Plan, &crate::queryset::ParamValues)>,
) -> Decision {
    let settings = ctx.settings_now();
    let cpu_operator_cost = settings
        .and_then(|s| s.get("cpu_operator_cost"))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(DEFAULT_CPU_OPERATOR_COST);
    // plancache.c, cached_plan_cost(plan, include_planner = true).
    let surcharge_of = |plan: &Plan| 1000.0 * cpu_operator_cost * (range_table(plan) + 1) as f64;
    let surcharge = surcharge_of(custom);
    let average = custom.root.total_cost.unwrap_or(0.0) + surcharge;
    let common = common.map(|(plan, values)| {
        let cost = plan.root.total_cost.unwrap_or(0.0);
        CommonCase {
            values: values.values.clone(),
            cost,
            average: cost + surcharge_of(plan),
        }
    });
    let mode = settings
        .and_then(|s| s.get("plan_cache_mode"))
        .filter(|m| m.as_str() != "auto")
        .cloned();
    let on_run = generic_cost < average;
    let on_common = common.as_ref().is_some_and(|c| generic_cost < c.average);
    let (switches, sentence) = match mode.as_deref() {
        Some("force_custom_plan") => (
            false,
            "plan_cache_mode = force_custom_plan is set: the server never uses the generic plan, the trap is latent".to_owned(),
        ),
        Some("force_generic_plan") => (
            true,
            "plan_cache_mode = force_generic_plan is set: the server always uses the generic plan, the trap is live".to_owned(),
        ),
        _ if on_common => {
            let c = common.as_ref().map_or(average, |c| c.average);
            (
                true,
                format!(
                    "after {CUSTOM_PLANS_FIRST} executions with the most common values the server switches to it for every value (generic cost {} < average custom cost {} there): the trap is live",
                    cost(generic_cost),
                    cost(c)
                ),
            )
        }
        _ if on_run => (
            true,
            format!(
                "after {CUSTOM_PLANS_FIRST} executions with these values the server switches to it (generic cost {} < average custom cost {}): the trap is live",
                cost(generic_cost),
                cost(average)
            ),
        ),
        _ => (
            false,
            format!(
                "under plan_cache_mode = auto the server keeps custom plans (generic cost {} is not below the average custom cost {}{}): the trap is latent until the values or the statistics change",
                cost(generic_cost),
                cost(average),
                common
                    .as_ref()
                    .map(|c| format!(", {} with the most common values", cost(c.average)))
                    .unwrap_or_default()
            ),
        ),
    };
    Decision {
        switches,
        surcharge,
        average,
        common,
        mode,
        sentence,
    }
}

/// Range table entries as far as a plan shows them: one per node that
/// scans something (a relation, function, CTE, VALUES list, subquery).
fn range_table(plan: &Plan) -> usize {
    let mut count = 0;
    plan.root.walk(&mut |_, node| {
        if node.alias.is_some() {
            count += 1;
        }
    });
    count.max(1)
}

fn suggestion(lost: &[Lost]) -> String {
    let first = match lost.first() {
        Some(Lost {
            relation, custom, ..
        }) => format!(
            "Make both plans agree: give the generic plan an index it can use on {relation} (a partial index such as {} serves only values the planner sees; a full index or a partial one on a condition the statement itself states serves both), or statistics that lead both plans to it (ANALYZE, a higher statistics target)",
            custom.index_name.as_deref().unwrap_or("the custom plan's")
        ),
        None => "Make both plans agree: an index or statistics (ANALYZE, a higher statistics target on the compared columns) that lead the generic plan to what the custom plan does".to_owned(),
    };
    format!(
        "{first}. Else keep custom plans for this statement: plan_cache_mode = force_custom_plan for the application's role (ALTER ROLE ... SET plan_cache_mode = force_custom_plan) or in the statement's transaction (SET LOCAL). If the filtered columns are correlated, extended statistics (CREATE STATISTICS ... (dependencies, mcv) ON a, b FROM t) let the planner see it"
    )
}
