//! `seq-scan`: a Seq Scan reads a large relation and a selective filter
//! throws most of the rows away.

use crate::plan::{Node, NodeType};

use super::units::{rows, share};
use super::{
    Context, Finding, Rule, RuleInfo, Severity, node_ref, nodes, num, path_string, relation_info,
};

pub struct SeqScan;

static INFO: RuleInfo = RuleInfo {
    id: "seq-scan",
    summary: "a Seq Scan reads a large relation and a selective Filter throws most rows away",
    default_severity: Severity::Warning,
    needs_baseline: false,
    needs_analyze: false,
    single_plan: true,
    docs: include_str!("../../docs/rules/seq-scan.md"),
};

/// What the scan read, from actual figures or from estimates.
struct Reading {
    scanned: f64,
    removed: f64,
    source: &'static str,
}

impl Rule for SeqScan {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let Some(plan) = ctx.plan else {
            return;
        };
        let t = ctx.thresholds;
        for (index, node) in nodes(&plan.root) {
            if node.node_type != NodeType::SeqScan {
                continue;
            }
            let Some(filter) = node.conditions.filter.as_deref() else {
                continue;
            };
            let Some(reading) = reading(ctx, node) else {
                continue;
            };
            let ratio = if reading.scanned > 0.0 {
                reading.removed / reading.scanned
            } else {
                0.0
            };
            if reading.scanned < t.seq_scan_min_rows as f64 || ratio < t.seq_scan_min_removed_ratio
            {
                continue;
            }
            let relation = node.relation_name.as_deref().unwrap_or("?");
            let returned = reading.scanned - reading.removed;
            let loops = node.actual_loops.unwrap_or(1.0);
            let over_loops = if loops > 1.0 {
                format!(" over {} loops", rows(loops))
            } else {
                String::new()
            };
            let message = match reading.source {
                "actual" => format!(
                    "Seq Scan on {relation} read {} rows{over_loops} to return {}: its filter removed {}",
                    rows(reading.scanned),
                    rows(returned),
                    share(ratio)
                ),
                _ => format!(
                    "Seq Scan on {relation} is expected to read all {} rows to return about {}: its filter would remove {}",
                    rows(reading.scanned),
                    rows(returned),
                    share(ratio)
                ),
            };
            // Why the index advisor (when it ran) suggests nothing here.
            let path = path_string(&index);
            let no_index = ctx.now.advice.and_then(|advice| {
                advice
                    .unadvised
                    .iter()
                    .find(|u| u.query_id == ctx.query_id && u.path == path)
            });
            let mut finding = Finding::new(INFO.id, INFO.default_severity, message);
            if let Some(u) = no_index {
                finding = finding.with(
                    "no_index",
                    serde_json::json!({"reason": u.reason, "detail": u.detail}),
                );
            }
            findings.push(
                finding
                    .at(node_ref(&index, node))
                    .with("source", reading.source)
                    .with("rows_scanned", num(reading.scanned))
                    .with("rows_removed_by_filter", num(reading.removed))
                    .with("rows_returned", num(returned))
                    .with("removed_ratio", num(ratio))
                    .with("loops", num(loops))
                    .with("filter", filter)
                    .suggest(format!(
                        "Filter: {filter}. An index on {relation} covering the filtered columns would let PostgreSQL read only the matching rows; if one exists, check why it is not used (statistics, a function or cast on the column, a type mismatch)"
                    )),
            );
        }
    }
}

/// Rows looked at and removed, over all loops: actual figures under
/// ANALYZE; without it the estimate (`Plan Rows`) against the relation's
/// `reltuples` from the environment observed now, or nothing.
fn reading(ctx: &Context, node: &Node) -> Option<Reading> {
    if node.never_executed {
        return None;
    }
    if let Some(loops) = node.actual_loops {
        let returned = node.actual_rows.unwrap_or(0.0) * loops;
        let removed = node.rows_removed_by_filter.unwrap_or(0.0) * loops;
        return Some(Reading {
            scanned: returned + removed,
            removed,
            source: "actual",
        });
    }
    let env = ctx.now.environment?;
    let (_, info) = relation_info(env, node.relation_name.as_deref()?)?;
    if info.reltuples <= 0.0 {
        return None;
    }
    let expected = node.plan_rows?.min(info.reltuples);
    Some(Reading {
        scanned: info.reltuples,
        removed: info.reltuples - expected,
        source: "estimate",
    })
}
