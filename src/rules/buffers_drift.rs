//! `buffers-drift`: the shared buffers an unchanged plan touches creep up
//! run after run, by a trend that adds up past the threshold over the
//! recorded window.

use super::time_drift::finding;
use super::trend;
use super::units::blocks;
use super::{Context, Finding, Rule, RuleInfo, Severity};

pub struct BuffersDrift;

static INFO: RuleInfo = RuleInfo {
    id: "buffers-drift",
    summary: "a sustained trend in shared buffers touched over the recorded runs of an unchanged plan",
    default_severity: Severity::Warning,
    needs_baseline: false,
    needs_analyze: true,
    single_plan: false,
    docs: include_str!("../../docs/rules/buffers-drift.md"),
};

impl Rule for BuffersDrift {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let Some(now) = ctx.figures().and_then(|f| f.shared_blocks) else {
            return;
        };
        let Some(drift) = trend::drift(
            ctx,
            |p| p.shared_blocks.map(|b| b as f64),
            now as f64,
            ctx.thresholds.buffers_drift_min_increase as f64,
        ) else {
            return;
        };
        findings.push(finding(
            INFO.id,
            "shared buffers touched",
            &drift,
            |b| blocks(b.round().max(0.0) as u64),
            "blocks_per_day",
            "The plan reads more blocks each run for the same shape: a growing table or index, or bloat (VACUUM, pg_repack); planguard history QUERY_ID shows since when",
        ));
    }
}
