//! `buffers-regression`: the query touches many more shared buffers than in
//! the baseline. Fewer buffers past the same thresholds are reported by the
//! same rule as an `info` improvement that is not a regression.

use super::units::{blocks, change};
use super::{Context, Finding, Rule, RuleInfo, Severity, num};

pub struct BuffersRegression;

static INFO: RuleInfo = RuleInfo {
    id: "buffers-regression",
    summary: "shared buffers touched grew past the threshold",
    default_severity: Severity::Warning,
    needs_baseline: true,
    needs_analyze: true,
    single_plan: false,
    docs: include_str!("../../docs/rules/buffers-regression.md"),
};

impl Rule for BuffersRegression {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let (Some(baseline), Some(figures)) = (ctx.baseline, ctx.figures()) else {
            return;
        };
        let Some(now) = figures.shared_blocks else {
            return;
        };
        if !baseline.record.analyze {
            return;
        }
        let then = baseline.record.summary.shared_blocks_median;
        let t = ctx.thresholds;
        let ratio = |a: u64, b: u64| {
            if b > 0 {
                a as f64 / b as f64
            } else {
                f64::INFINITY
            }
        };
        let (severity, regression, verb) = if now.saturating_sub(then) >= t.buffers_min_increase
            && ratio(now, then) >= t.buffers_ratio
        {
            let severity = if ratio(now, then) >= t.buffers_error_ratio {
                Severity::Error
            } else {
                INFO.default_severity
            };
            (severity, true, "rose")
        } else if then.saturating_sub(now) >= t.buffers_min_increase
            && ratio(then, now) >= t.buffers_ratio
        {
            (Severity::Info, false, "fell")
        } else {
            return;
        };
        let message = format!(
            "shared buffers touched {verb} from {} to {} ({})",
            blocks(then),
            blocks(now),
            change(then as f64, now as f64)
        );
        let suggestion = if regression {
            "More blocks usually means more rows read: look for a Seq Scan or a less selective index (seq-scan, index-lost findings, planguard diff); if the table grew as expected, re-record the baseline"
        } else {
            "Re-record the baseline (planguard baseline) to keep the leaner run as the reference"
        };
        findings.push(
            Finding::new(INFO.id, severity, message)
                .regression(regression)
                .with("baseline_blocks", then)
                .with("current_blocks", now)
                .with("ratio", num(ratio(now, then)))
                .suggest(suggestion),
        );
    }
}
