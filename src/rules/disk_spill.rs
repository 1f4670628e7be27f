//! `disk-spill`: a sort, hash or aggregate ran out of `work_mem` and wrote
//! to temporary files.
//!
//! Signals (explain.c, show_sort_info, show_hash_info, show_hashagg_info):
//! a Sort's `"Sort Method"` external sort/merge or `"Sort Space Type"`
//! Disk (also per worker); a Hash with more than one batch, or more batches
//! than it planned; a HashAggregate with more than one batch or disk usage;
//! any other node that wrote temporary blocks itself (Materialize,
//! WindowAgg, CTE Scan, ...).

use crate::plan::{Node, NodeType};

use super::units::bytes;
use super::{Context, Finding, Rule, RuleInfo, Severity, describe, node_ref, nodes};

pub struct DiskSpill;

static INFO: RuleInfo = RuleInfo {
    id: "disk-spill",
    summary: "a sort or hash spilled to disk (external sort, hash batches > 1)",
    default_severity: Severity::Warning,
    needs_baseline: false,
    needs_analyze: true,
    single_plan: true,
    docs: include_str!("../../docs/rules/disk-spill.md"),
};

impl Rule for DiskSpill {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let Some(plan) = ctx.plan else {
            return;
        };
        let work_mem = ctx
            .settings_now()
            .and_then(|s| s.get("work_mem"))
            .map_or_else(|| "the default 4MB".to_owned(), Clone::clone);
        for (index, node) in nodes(&plan.root) {
            let spill = sort_spill(node)
                .or_else(|| hash_spill(node))
                .or_else(|| hashagg_spill(node))
                .or_else(|| {
                    // A Hash Join writes the batches of its spilled Hash:
                    // that spill is reported on the Hash.
                    let hash_reported = node.plans.iter().any(|c| hash_spill(c).is_some());
                    temp_spill(node).filter(|_| !hash_reported)
                });
            let Some(spill) = spill else {
                continue;
            };
            let temp = temp_written(node);
            let mut finding = Finding::new(
                INFO.id,
                INFO.default_severity,
                format!("{} spilled to disk: {}", describe(node), spill.what),
            )
            .at(node_ref(&index, node))
            .with("work_mem", work_mem.as_str())
            .suggest(format!(
                "Raise work_mem for this query (SET LOCAL work_mem = '{}' inside its transaction, or ALTER ROLE ... SET work_mem) rather than globally, since every sort and hash of every session may use that much; or make the input smaller (a more selective filter, an index that returns rows already in order)",
                spill.needs
            ));
            for (key, value) in spill.evidence {
                finding = finding.with(key, value);
            }
            if temp > 0 {
                finding = finding.with("temp_blocks_written", temp);
            }
            findings.push(finding);
        }
    }
}

struct Spill {
    what: String,
    /// A work_mem that would likely have kept it in memory.
    needs: String,
    evidence: Vec<(&'static str, serde_json::Value)>,
}

fn sort_spill(node: &Node) -> Option<Spill> {
    if !matches!(node.node_type, NodeType::Sort | NodeType::IncrementalSort) {
        return None;
    }
    let external = node
        .sort_method
        .as_deref()
        .is_some_and(|m| m.starts_with("external"));
    let on_disk = |t: &Option<String>| t.as_deref() == Some("Disk");
    let worker_disk: Option<u64> = node
        .workers
        .iter()
        .filter(|w| on_disk(&w.sort_space_type))
        .filter_map(|w| w.sort_space_used)
        .max();
    if !external && !on_disk(&node.sort_space_type) && worker_disk.is_none() {
        return None;
    }
    let kb = node
        .sort_space_used
        .filter(|_| on_disk(&node.sort_space_type) || external)
        .or(worker_disk)
        .unwrap_or(0);
    let method = node
        .sort_method
        .clone()
        .or_else(|| node.workers.iter().find_map(|w| w.sort_method.clone()))
        .unwrap_or_else(|| "external".into());
    Some(Spill {
        what: format!("{method} using {} of disk", bytes(kb as f64 * 1024.0)),
        // An in-memory sort needs more than the on-disk run size; 2x is a
        // round margin.
        needs: mem_setting(kb.saturating_mul(2)),
        evidence: vec![
            ("sort_method", method.into()),
            ("sort_space_used_kb", kb.into()),
            ("sort_space_type", "Disk".into()),
        ],
    })
}

fn hash_spill(node: &Node) -> Option<Spill> {
    if node.node_type != NodeType::Hash {
        return None;
    }
    let batches = node.hash_batches?;
    let original = node.original_hash_batches.unwrap_or(batches);
    if batches <= 1 && original <= 1 {
        return None;
    }
    let grew = if batches > original {
        format!(" (planned {original}: the inner side was larger than estimated)")
    } else {
        String::new()
    };
    let peak = node.peak_memory_usage.unwrap_or(0);
    Some(Spill {
        what: format!(
            "{batches} hash batches{grew}, peak memory {}",
            bytes(peak as f64 * 1024.0)
        ),
        needs: mem_setting(peak.saturating_mul(batches)),
        evidence: vec![
            ("hash_batches", batches.into()),
            ("original_hash_batches", original.into()),
            ("peak_memory_kb", peak.into()),
        ],
    })
}

fn hashagg_spill(node: &Node) -> Option<Spill> {
    if node.node_type != NodeType::Aggregate {
        return None;
    }
    let batches = node.hash_agg_batches.unwrap_or(0);
    let disk = node.disk_usage.unwrap_or(0);
    if batches <= 1 && disk == 0 {
        return None;
    }
    let peak = node.peak_memory_usage.unwrap_or(0);
    Some(Spill {
        what: format!(
            "{batches} batches and {} of disk",
            bytes(disk as f64 * 1024.0)
        ),
        needs: mem_setting(peak.saturating_add(disk)),
        evidence: vec![
            ("hashagg_batches", batches.into()),
            ("disk_usage_kb", disk.into()),
            ("peak_memory_kb", peak.into()),
        ],
    })
}

/// Any other node that wrote temporary blocks itself.
fn temp_spill(node: &Node) -> Option<Spill> {
    if matches!(
        node.node_type,
        NodeType::Gather | NodeType::GatherMerge | NodeType::Hash
    ) {
        return None;
    }
    let blocks = temp_written(node);
    (blocks > 0).then(|| Spill {
        what: format!(
            "it wrote {blocks} temporary blocks ({})",
            bytes(blocks as f64 * 8192.0)
        ),
        needs: mem_setting(blocks.saturating_mul(8).saturating_mul(2)),
        evidence: vec![],
    })
}

/// Temporary blocks written by the node itself, children subtracted (per
/// node buffer figures include the children's).
fn temp_written(node: &Node) -> u64 {
    if let Some(own) = node.derived.exclusive_buffers.temp_written {
        return own;
    }
    let total = node.buffers.temp_written.unwrap_or(0);
    let children: u64 = node
        .plans
        .iter()
        .map(|c| c.buffers.temp_written.unwrap_or(0))
        .sum();
    total.saturating_sub(children)
}

/// A work_mem value of at least `kb`, rounded up to whole MB.
fn mem_setting(kb: u64) -> String {
    format!("{}MB", kb.div_ceil(1024).max(1))
}
