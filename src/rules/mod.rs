//! Stage `analysis`: rules on one plan and against the query's baseline,
//! turning a query's result into [`Finding`]s.
//!
//! Promises: rules never do I/O and never print; [`ALL_RULES`] is the only
//! place a rule is registered (a test checks it against docs/rules/ and
//! fixtures/plans/rules/); [`analyze`] is deterministic.
//!
//! What [`analyze`] adds around the rules themselves:
//!
//! - Skipped queries get no findings. Rules that need a baseline do not run
//!   without one; rules that need ANALYZE do not run on a plan without
//!   actual figures.
//! - A finding of a rule that looks at one plan (`seq-scan`,
//!   `row-misestimate`, `disk-spill`) is a regression when the query has a
//!   baseline and the same rule does not fire on the matched node of the
//!   baseline plan.
//! - Every regression names the recorded changes that explain it, by
//!   mechanism (see [`changes`]): their ids in `causes`, most specific
//!   first; the first one in the message (`; likely cause: ...`), in
//!   `evidence.cause` (its kind) and `evidence.cause_detail`, and its fix
//!   before the suggestion. A regression no change explains says so.
//! - `[rules.<id>] severity` re-levels the rule's findings, except the
//!   `info` notes of a rule whose default is above `info` (improvements
//!   such as "cost fell"), which stay `info`.
//! - Findings are sorted: severity (worst first), node path, rule id.

use std::collections::BTreeSet;

pub mod changes;
mod config;
mod context;
mod finding;

mod buffers_drift;
mod buffers_regression;
mod cost_jump;
mod disk_spill;
mod generic_plan;
mod index_lost;
mod missing_index;
mod new_query;
mod plan_changed;
mod query_error;
mod redundant_index;
mod row_misestimate;
mod seq_scan;
mod time_drift;
mod time_regression;
pub mod trend;

pub use config::{ConfigError, RuleSetting, RulesConfig, Thresholds};
pub use context::{
    BaselineCtx, Context, GenericCtx, HistoryCtx, HistoryPoint, Observed, QueryError, QueryStatus,
    RunSummary, describe, median, node_ref, nodes, path_string, plan_analyzed, relation_info,
    spine,
};
pub use finding::{Finding, NodeRef, Severity, UnknownSeverity, num, round3, sort_findings};

/// What a rule is, for the CLI, the docs and the engine.
#[derive(Debug)]
pub struct RuleInfo {
    /// The rule id (kebab-case, never renamed).
    pub id: &'static str,
    /// One line: what it detects.
    pub summary: &'static str,
    /// The severity of its findings unless configured otherwise.
    pub default_severity: Severity,
    /// It compares with the baseline and does not run without one.
    pub needs_baseline: bool,
    /// It reads actual figures and does not run on a plain EXPLAIN.
    pub needs_analyze: bool,
    /// It looks at the current plan alone; with a baseline, its findings are
    /// regressions only where it did not fire on the baseline plan.
    pub single_plan: bool,
    /// Its docs page (docs/rules/<id>.md).
    pub docs: &'static str,
}

/// A rule. Implementations are unit structs listed in [`ALL_RULES`].
pub trait Rule: Sync {
    /// The rule's static description.
    fn info(&self) -> &'static RuleInfo;

    /// Looks at the query and pushes findings. Never does I/O.
    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>);

    /// Runs after every rule has checked the query, with all findings so far
    /// (`plan-changed` uses it to tell whether the change also costs).
    fn finish(&self, _ctx: &Context, _findings: &mut [Finding]) {}
}

/// Every rule, in the order they run. The only registration.
pub static ALL_RULES: &[&dyn Rule] = &[
    &query_error::QueryErrorRule,
    &new_query::NewQuery,
    &seq_scan::SeqScan,
    &row_misestimate::RowMisestimate,
    &disk_spill::DiskSpill,
    &index_lost::IndexLost,
    &cost_jump::CostJump,
    &time_regression::TimeRegression,
    &buffers_regression::BuffersRegression,
    &plan_changed::PlanChanged,
    &missing_index::MissingIndex,
    &redundant_index::RedundantIndex,
    &generic_plan::GenericPlan,
    &time_drift::TimeDrift,
    &buffers_drift::BuffersDrift,
];

/// Rule ids that are part of the contract but not built yet: accepted in
/// `[rules.<id>]` and documented, but they raise nothing.
pub const PLANNED_RULES: &[&str] = &[];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static dyn Rule> {
    ALL_RULES.iter().copied().find(|r| r.info().id == id)
}

/// Runs every enabled rule on one query and returns its findings, with
/// regressions classified, causes named, severities re-levelled and sorted.
pub fn analyze(ctx: &Context, config: &RulesConfig) -> Vec<Finding> {
    if ctx.status == QueryStatus::Skipped {
        return Vec::new();
    }
    let enabled: Vec<&dyn Rule> = ALL_RULES
        .iter()
        .copied()
        .filter(|r| config.enabled(r.info().id) && applies(r.info(), ctx))
        .collect();
    let mut findings = Vec::new();
    for rule in &enabled {
        let start = findings.len();
        rule.check(ctx, &mut findings);
        if rule.info().single_plan {
            mark_new_on_baseline(*rule, ctx, &mut findings[start..]);
        }
    }
    for rule in &enabled {
        rule.finish(ctx, &mut findings);
    }
    let all = changes::changes(ctx);
    let spilled = findings.iter().any(|f| f.rule == "disk-spill");
    for finding in &mut findings {
        if finding.regression && !finding.evidence.contains_key("cause") {
            attach_causes(ctx, &all, finding, spilled);
        }
        relevel(finding, config);
    }
    sort_findings(&mut findings);
    findings
}

fn applies(info: &RuleInfo, ctx: &Context) -> bool {
    (!info.needs_baseline || ctx.baseline.is_some()) && (!info.needs_analyze || ctx.analyzed())
}

/// Marks single-plan findings as regressions where the rule stays quiet on
/// the matched node of the baseline plan.
fn mark_new_on_baseline(rule: &dyn Rule, ctx: &Context, findings: &mut [Finding]) {
    let Some(baseline) = ctx.baseline else {
        return;
    };
    if rule.info().needs_analyze && !plan_analyzed(baseline.plan) {
        // Nothing to compare with: the baseline did not execute the query.
        return;
    }
    let Some(current) = ctx.plan else {
        return;
    };
    let then = Context {
        plan: Some(baseline.plan),
        runs: &baseline.record.runs,
        baseline: None,
        now: Observed {
            environment: Some(&baseline.record.environment),
            settings: Some(&baseline.record.settings),
            server_version: Some(&baseline.record.server_version),
            advice: None,
            generic: None,
            planned: None,
            history: None,
        },
        ..*ctx
    };
    let mut before = Vec::new();
    rule.check(&then, &mut before);
    let fired_on: BTreeSet<Option<String>> = before
        .iter()
        .map(|f| f.node.as_ref().map(|n| n.path.clone()))
        .collect();
    let matching = crate::plan::compare::match_nodes(baseline.plan, current);
    for finding in findings {
        let partner = match &finding.node {
            None => Some(None),
            Some(node) => {
                let index: Vec<usize> = node
                    .path
                    .split('.')
                    .skip(1)
                    .filter_map(|s| s.parse().ok())
                    .collect();
                matching.old_of(&index).map(|b| Some(b.path()))
            }
        };
        finding.regression = partner.as_ref().is_none_or(|p| !fired_on.contains(p));
        if rule.info().id == "row-misestimate"
            && let (Some(Some(then_path)), Some(node)) = (&partner, &finding.node)
            && let (Some(then), Some(now)) = (
                changes::node_at(&baseline.plan.root, then_path),
                changes::node_at(&current.root, &node.path),
            )
        {
            finding.regression =
                !row_misestimate::standing(then, now, ctx.thresholds.misestimate_factor);
        }
    }
}

fn attach_causes(ctx: &Context, all: &[changes::Change], finding: &mut Finding, spilled: bool) {
    let causes = changes::causes_of(finding, ctx, all, spilled);
    finding.causes = causes.iter().map(|c| c.id.clone()).collect();
    match causes.first() {
        Some(first) => {
            let more = match causes.len() {
                1 => String::new(),
                2 => format!(" (and {})", causes[1].detail),
                n => format!(" (and {} more)", n - 1),
            };
            finding.message = format!("{}; likely cause: {}{more}", finding.message, first.detail);
            finding
                .evidence
                .insert("cause".into(), first.kind.clone().into());
            finding
                .evidence
                .insert("cause_detail".into(), first.detail.clone().into());
            if let Some(fix) = &first.fix {
                finding.suggestion = Some(match finding.suggestion.take() {
                    Some(s) => format!("{fix}. {s}"),
                    None => fix.clone(),
                });
            }
        }
        None if ctx.baseline.is_some() => {
            finding.evidence.insert("cause".into(), "unknown".into());
            let detail = if ctx.now.environment.is_some() {
                "no recorded change explains this (indexes, table sizes, statistics, settings and the server version of its nodes are as recorded)"
            } else {
                "the environment now was not observed, so no cause could be named"
            };
            if ctx.now.environment.is_some() {
                finding.message = format!("{}; no recorded change explains this", finding.message);
            }
            finding
                .evidence
                .insert("cause_detail".into(), detail.into());
        }
        None => {}
    }
}

fn relevel(finding: &mut Finding, config: &RulesConfig) {
    let Some(severity) = config.severity_for(&finding.rule) else {
        return;
    };
    let default = rule(&finding.rule).map_or(Severity::Info, |r| r.info().default_severity);
    if finding.severity == Severity::Info && default > Severity::Info {
        return;
    }
    finding.severity = severity;
}

/// Figures in units people use, shared by the rules' messages and the
/// table report.
pub mod units {
    /// `12.3 ms`, `1.23 s`, `2.1 min`.
    pub fn ms(ms: f64) -> String {
        if ms >= 60_000.0 {
            format!("{:.1} min", ms / 60_000.0)
        } else if ms >= 1000.0 {
            format!("{:.2} s", ms / 1000.0)
        } else if ms >= 10.0 {
            format!("{ms:.1} ms")
        } else {
            format!("{ms:.3} ms")
        }
    }

    /// Shared blocks with their size at the default 8 kB block size.
    pub fn blocks(blocks: u64) -> String {
        format!("{blocks} blocks ({})", bytes(blocks as f64 * 8192.0))
    }

    /// `512 B`, `12.0 kB`, `1.2 MB`, `3.4 GB`.
    pub fn bytes(bytes: f64) -> String {
        const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
        if bytes < 1024.0 {
            return format!("{bytes:.0} B");
        }
        let mut value = bytes / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        format!("{value:.1} {}", UNITS[unit])
    }

    /// A cost as EXPLAIN prints it (two decimals).
    pub fn cost(cost: f64) -> String {
        format!("{cost:.2}")
    }

    /// A signed percentage change from `before` to `after`: `+250%`, `-99%`.
    pub fn change(before: f64, after: f64) -> String {
        if before <= 0.0 {
            return "new".to_owned();
        }
        let pct = (after - before) / before * 100.0;
        format!("{pct:+.0}%")
    }

    /// A row count (rounded; fractional averages exist since 18).
    pub fn rows(rows: f64) -> String {
        format!("{}", rows.round())
    }

    /// A share of a whole (0 to 1) as a percentage with one decimal, or
    /// more where one would round a part to all or nothing: 100 of 200,000
    /// rows returned is `99.95%` removed, never `100.0%`.
    pub fn share(ratio: f64) -> String {
        let pct = ratio * 100.0;
        for decimals in 1..=4 {
            let text = format!("{pct:.decimals$}%");
            let rounded: f64 = text.trim_end_matches('%').parse().unwrap_or(pct);
            let whole_or_none =
                (rounded >= 100.0 && ratio < 1.0) || (rounded <= 0.0 && ratio > 0.0);
            if !whole_or_none {
                return text;
            }
        }
        if ratio > 0.5 {
            "more than 99.9999%".to_owned()
        } else {
            "less than 0.0001%".to_owned()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn units_people_use() {
            assert_eq!(ms(0.0421), "0.042 ms");
            assert_eq!(ms(12.34), "12.3 ms");
            assert_eq!(ms(1234.0), "1.23 s");
            assert_eq!(ms(125_000.0), "2.1 min");
            assert_eq!(blocks(310), "310 blocks (2.4 MB)");
            assert_eq!(bytes(512.0), "512 B");
            assert_eq!(change(1234.5, 8.4), "-99%");
            assert_eq!(change(8.4, 1234.5), "+14596%");
        }

        /// Regression: 100 of 200,000 rows returned was shown as a filter
        /// that removed 100.0% of them.
        #[test]
        fn a_share_is_all_or_nothing_only_when_it_is() {
            assert_eq!(share(1.0), "100.0%");
            assert_eq!(share(0.0), "0.0%");
            assert_eq!(share(199_900.0 / 200_000.0), "99.95%");
            assert_eq!(share(0.5), "50.0%");
            assert_eq!(share(0.98765), "98.8%");
            assert_eq!(share(1.0 - 1e-9), "more than 99.9999%");
            assert_eq!(share(1e-9), "less than 0.0001%");
        }
    }
}
