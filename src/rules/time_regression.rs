//! `time-regression`: the median execution time grew past the threshold
//! and beyond the slowest baseline run. A time that fell past the same
//! thresholds is reported by the same rule as an `info` improvement that is
//! not a regression.

use super::units::{change, ms};
use super::{Context, Finding, Rule, RuleInfo, Severity, num};

pub struct TimeRegression;

static INFO: RuleInfo = RuleInfo {
    id: "time-regression",
    summary: "execution time grew past the threshold and beyond the baseline runs' spread",
    default_severity: Severity::Warning,
    needs_baseline: true,
    needs_analyze: true,
    single_plan: false,
    docs: include_str!("../../docs/rules/time-regression.md"),
};

impl Rule for TimeRegression {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let (Some(baseline), Some(now)) = (ctx.baseline, ctx.figures()) else {
            return;
        };
        let summary = &baseline.record.summary;
        let (Some(then), Some(now_ms)) = (summary.execution_ms_median, now.execution_ms) else {
            return;
        };
        let then_max = summary.execution_ms_max.unwrap_or(then).max(then);
        let then_runs = baseline.record.runs.len().max(1);
        let t = ctx.thresholds;
        // One run says nothing about the spread: ask for a larger jump.
        let single = then_runs == 1 || now.runs == 1;
        let ratio_needed = if single {
            t.time_single_run_ratio
        } else {
            t.time_ratio
        };
        let ratio = if then > 0.0 {
            now_ms / then
        } else {
            f64::INFINITY
        };
        // The fastest run now must be slower than the slowest run then: two
        // spreads that overlap are one noisy measurement, not a change.
        let now_min = ctx
            .runs
            .iter()
            .filter_map(|r| r.execution_ms)
            .reduce(f64::min)
            .unwrap_or(now_ms);
        let (severity, regression, verb) = if now_ms - then >= t.time_min_increase_ms
            && ratio >= ratio_needed
            && now_ms > then_max
            && now_min > then_max
        {
            if same_plan_and_buffers(ctx) {
                // The plan and the work it did are unchanged: the time went to
                // the machine (load, contention, a cold OS cache), which a
                // plan check cannot fix. Say so without raising an alarm.
                (Severity::Info, false, "rose")
            } else if ratio >= t.time_error_ratio {
                (Severity::Error, true, "rose")
            } else {
                (INFO.default_severity, true, "rose")
            }
        } else if then - now_ms >= t.time_min_increase_ms
            && now_ms > 0.0
            && then / now_ms >= ratio_needed
        {
            (Severity::Info, false, "fell")
        } else {
            return;
        };
        let runs = |n: usize| {
            if n == 1 {
                "1 run".to_owned()
            } else {
                format!("median of {n} runs")
            }
        };
        let spread = if then_runs > 1 {
            format!(", slowest {}", ms(then_max))
        } else {
            String::new()
        };
        let message = format!(
            "execution time {verb} from {} ({}{spread}) to {} ({}), {}",
            ms(then),
            runs(then_runs),
            ms(now_ms),
            runs(now.runs),
            change(then, now_ms)
        );
        let message = if severity == Severity::Info && verb == "rose" {
            format!(
                "{message}; the plan and its buffers did not change, so this is the machine (load, contention, caches), not the plan"
            )
        } else {
            message
        };
        let suggestion = if regression {
            "Look at the nodes whose time grew (planguard diff); if the plan did not change, check the load on the server and the cache state (shared_blocks read vs hit) before blaming the query"
        } else {
            "Re-record the baseline (planguard baseline) to keep the faster run as the reference"
        };
        findings.push(
            Finding::new(INFO.id, severity, message)
                .regression(regression)
                .with("baseline_ms_median", num(then))
                .with("baseline_ms_max", num(then_max))
                .with("baseline_runs", then_runs)
                .with("current_ms_median", num(now_ms))
                .with("current_runs", now.runs)
                .with("ratio", num(ratio))
                .with("ratio_needed", num(ratio_needed))
                .suggest(suggestion),
        );
    }
}

/// Whether the plan has the baseline's shape and touched about as many
/// shared buffers (below the buffers-regression threshold).
fn same_plan_and_buffers(ctx: &Context) -> bool {
    let (Some(baseline), Some(plan), Some(now)) = (ctx.baseline, ctx.plan, ctx.figures()) else {
        return false;
    };
    let summary = &baseline.record.summary;
    if summary.fingerprint.is_empty()
        || crate::plan::shape::fingerprint(plan) != summary.fingerprint
    {
        return false;
    }
    let then = summary.shared_blocks_median as f64;
    let now_blocks = now.shared_blocks.unwrap_or(0) as f64;
    now_blocks < then * ctx.thresholds.buffers_ratio.max(1.0)
        || now_blocks - then < ctx.thresholds.buffers_min_increase as f64
}
