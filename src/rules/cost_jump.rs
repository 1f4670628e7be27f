//! `cost-jump`: the plan's total cost grew past the threshold against the
//! baseline. A cost that fell past the same thresholds is reported by the
//! same rule as an `info` improvement that is not a regression.

use super::units::{change, cost};
use super::{Context, Finding, Rule, RuleInfo, Severity, node_ref, num};

pub struct CostJump;

static INFO: RuleInfo = RuleInfo {
    id: "cost-jump",
    summary: "total plan cost grew past the threshold vs baseline (ratio and absolute floor)",
    default_severity: Severity::Warning,
    needs_baseline: true,
    needs_analyze: false,
    single_plan: false,
    docs: include_str!("../../docs/rules/cost-jump.md"),
};

impl Rule for CostJump {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let (Some(baseline), Some(plan)) = (ctx.baseline, ctx.plan) else {
            return;
        };
        let Some(now) = plan.root.total_cost else {
            return;
        };
        let t = ctx.thresholds;
        let then = baseline.record.summary.total_cost;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
        let (severity, regression, verb, factor) =
            if now - then >= t.cost_min_increase && ratio(now, then) >= t.cost_ratio {
                let factor = ratio(now, then);
                let severity = if factor >= t.cost_error_ratio {
                    Severity::Error
                } else {
                    INFO.default_severity
                };
                (severity, true, "rose", factor)
            } else if then - now >= t.cost_min_increase && ratio(then, now) >= t.cost_ratio {
                (Severity::Info, false, "fell", ratio(then, now))
            } else {
                return;
            };
        let times = if factor.is_finite() {
            format!(", {factor:.1}x")
        } else {
            String::new()
        };
        let message = format!(
            "total cost {verb} from {} to {} ({}{times})",
            cost(then),
            cost(now),
            change(then, now)
        );
        let suggestion = if regression {
            "Compare the plans (planguard diff, or the plan-changed and index-lost findings) to see which node got more expensive; if the new cost is expected (more data), re-record the baseline"
        } else {
            "Re-record the baseline (planguard baseline) to keep the cheaper plan as the reference"
        };
        findings.push(
            Finding::new(INFO.id, severity, message)
                .at(node_ref(&[], &plan.root))
                .regression(regression)
                .with("baseline_cost", num(then))
                .with("current_cost", num(now))
                .with("ratio", num(ratio(now, then)))
                .with("increase", num(now - then))
                .suggest(suggestion),
        );
    }
}
