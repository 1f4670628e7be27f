//! `time-drift`: the execution time of an unchanged plan creeps up run
//! after run, by a trend that adds up past the threshold over the recorded
//! window although no single run crosses `time-regression`'s.

use super::trend::{self, Drift};
use super::units::ms;
use super::{Context, Finding, Rule, RuleInfo, Severity};

pub struct TimeDrift;

static INFO: RuleInfo = RuleInfo {
    id: "time-drift",
    summary: "a sustained trend in execution time over the recorded runs of an unchanged plan",
    default_severity: Severity::Warning,
    needs_baseline: false,
    needs_analyze: true,
    single_plan: false,
    docs: include_str!("../../docs/rules/time-drift.md"),
};

impl Rule for TimeDrift {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let Some(now) = ctx.figures().and_then(|f| f.execution_ms) else {
            return;
        };
        let Some(drift) = trend::drift(
            ctx,
            |p| p.execution_ms,
            now,
            ctx.thresholds.time_drift_min_increase_ms,
        ) else {
            return;
        };
        findings.push(finding(
            INFO.id,
            "execution time",
            &drift,
            ms,
            "ms_per_day",
            "Look at what grows under the plan: the rows it reads (a table or an index that keeps growing, bloat: VACUUM), then planguard history QUERY_ID for when it started",
        ));
    }
}

/// The finding of a drift rule: the message with the slope per day and
/// the runs used, and the evidence behind it.
pub(super) fn finding(
    rule: &str,
    what: &str,
    drift: &Drift,
    unit: fn(f64) -> String,
    slope_key: &str,
    suggestion: &str,
) -> Finding {
    let t = &drift.trend;
    let pct_per_day = (t.log_slope_per_day.exp() - 1.0) * 100.0;
    let first = drift.values.first().copied().unwrap_or_default();
    let last = drift.values.last().copied().unwrap_or_default();
    let p = if t.p_increase < 0.0001 {
        "p < 0.0001".to_owned()
    } else {
        format!("p = {:.4}", t.p_increase)
    };
    let message = format!(
        "{what} drifts up by {} a day ({pct_per_day:+.1}%/day) over the last {} runs of an unchanged plan ({:.1} days): {:+.0}% over the window, from {} to {} (Mann-Kendall {p})",
        unit(t.slope_per_day),
        t.n,
        t.span_days,
        (t.total_ratio() - 1.0) * 100.0,
        unit(first),
        unit(last),
    );
    Finding::new(rule, INFO.default_severity, message)
        .regression(true)
        .with(&format!("slope_{slope_key}"), super::num(t.slope_per_day))
        .with("slope_pct_per_day", super::num(pct_per_day))
        .with(
            "window_change_pct",
            super::num((t.total_ratio() - 1.0) * 100.0),
        )
        .with("window_days", super::num(t.span_days))
        .with("p_value", p_value(t.p_increase))
        .with("runs_used", t.n)
        .with("runs", drift.runs.clone())
        .with(
            "series",
            drift
                .values
                .iter()
                .map(|v| super::num(*v))
                .collect::<Vec<_>>(),
        )
        .suggest(suggestion)
}

/// A p-value with six decimals (the evidence's three would round most
/// drifts to 0).
fn p_value(p: f64) -> serde_json::Value {
    serde_json::Number::from_f64((p * 1e6).round() / 1e6)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}
