//! `index-lost`: a relation read through an index in the baseline is now
//! read by a Seq Scan. It is an error only when the query also got
//! materially worse (a `cost-jump`, `time-regression` or
//! `buffers-regression` regression); a flip that costs about the same is a
//! warning: the planner chose between two plans of nearly equal cost. The opposite change (an index now used where the
//! baseline read the whole table) is reported by the same rule as an `info`
//! improvement that is not a regression.

use crate::plan::{Node, NodeType};

use super::{Context, Finding, Rule, RuleInfo, Severity, describe, node_ref, nodes};
use crate::plan::compare::match_nodes;

pub struct IndexLost;

static INFO: RuleInfo = RuleInfo {
    id: "index-lost",
    summary: "a relation read by an index (or bitmap) scan in the baseline is now read by a Seq Scan",
    default_severity: Severity::Error,
    needs_baseline: true,
    needs_analyze: false,
    single_plan: false,
    docs: include_str!("../../docs/rules/index-lost.md"),
};

impl Rule for IndexLost {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn finish(&self, _ctx: &Context, findings: &mut [Finding]) {
        let worse = findings.iter().any(|f| {
            f.regression
                && matches!(
                    f.rule.as_str(),
                    "cost-jump" | "time-regression" | "buffers-regression"
                )
        });
        for finding in findings
            .iter_mut()
            .filter(|f| f.rule == INFO.id && f.regression)
        {
            finding.evidence.insert("material".into(), worse.into());
            if !worse && finding.severity == Severity::Error {
                finding.severity = Severity::Warning;
                finding
                    .message
                    .push_str(" (the query's cost, time and buffers did not get materially worse)");
            }
        }
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let (Some(baseline), Some(current)) = (ctx.baseline, ctx.plan) else {
            return;
        };
        for pair in match_nodes(baseline.plan, current).pairs {
            let (old, new) = (pair.old.node, pair.new.node);
            let Some(relation) = new.relation_name.as_deref() else {
                continue;
            };
            let at = node_ref(&pair.new.index, new);
            let indexes = index_names(old);
            if reads_by_index(old) && new.node_type == NodeType::SeqScan {
                findings.push(
                    Finding::new(
                        INFO.id,
                        INFO.default_severity,
                        format!(
                            "{relation} was read by {} in the baseline and is now read by a {}",
                            describe(old),
                            describe(new).split(" on ").next().unwrap_or("Seq Scan")
                        ),
                    )
                    .at(at)
                    .regression(true)
                    .with("baseline_node_type", old.node_type.name())
                    .with("baseline_path", pair.old.path())
                    .with("baseline_indexes", indexes.clone())
                    .with("node_type", new.node_type.name())
                    .suggest(format!(
                        "Check that {} still exists and is valid (\\d {relation}), that the statistics of {relation} are current (ANALYZE {relation}), and that no planner setting (enable_indexscan, random_page_cost, ...) changed",
                        if indexes.is_empty() { "the index".to_owned() } else { indexes.join(", ") }
                    )),
                );
            } else if old.node_type == NodeType::SeqScan && reads_by_index(new) {
                findings.push(
                    Finding::new(
                        INFO.id,
                        Severity::Info,
                        format!(
                            "{relation} is now read by {} where the baseline used a Seq Scan (improvement)",
                            describe(new)
                        ),
                    )
                    .at(at)
                    .with("baseline_node_type", old.node_type.name())
                    .with("baseline_path", pair.old.path())
                    .with("indexes", index_names(new))
                    .with("node_type", new.node_type.name())
                    .suggest("Re-record the baseline (planguard baseline) to keep the better plan as the reference"),
                );
            }
        }
    }
}

fn reads_by_index(node: &Node) -> bool {
    matches!(
        node.node_type,
        NodeType::IndexScan | NodeType::IndexOnlyScan | NodeType::BitmapHeapScan
    )
}

/// The indexes a scan reads: its own, or its Bitmap Index Scans'.
fn index_names(node: &Node) -> Vec<String> {
    let mut names: Vec<String> = nodes(node)
        .into_iter()
        .filter_map(|(_, n)| n.index_name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}
