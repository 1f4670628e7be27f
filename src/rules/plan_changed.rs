//! `plan-changed`: the plan's shape fingerprint differs from the baseline's.
//! `info` on its own; once every rule has run, it is marked a regression
//! when another finding on the query is one (the change also costs).

use crate::plan::{Node, shape};

use super::{Context, Finding, Rule, RuleInfo, Severity, path_string};

pub struct PlanChanged;

static INFO: RuleInfo = RuleInfo {
    id: "plan-changed",
    summary: "the fingerprint differs from the baseline",
    default_severity: Severity::Info,
    needs_baseline: true,
    needs_analyze: false,
    single_plan: false,
    docs: include_str!("../../docs/rules/plan-changed.md"),
};

/// At most this many changed nodes are listed.
const MAX_CHANGES: usize = 5;

impl Rule for PlanChanged {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        generic_changed(ctx, findings);
        let (Some(baseline), Some(plan)) = (ctx.baseline, ctx.plan) else {
            return;
        };
        let then = baseline.record.summary.fingerprint.as_str();
        let now = shape::fingerprint(plan);
        if then == now {
            return;
        }
        let mut changes = Vec::new();
        diff(
            &baseline.plan.root,
            &plan.root,
            &mut Vec::new(),
            &mut changes,
        );
        let total = changes.len();
        let mut message = format!(
            "plan shape changed since the baseline (fingerprint {} -> {})",
            short(then),
            short(&now)
        );
        match changes.first() {
            Some(first) if total > 1 => {
                message.push_str(&format!(": {first} (and {} more)", total - 1));
            }
            Some(first) => message.push_str(&format!(": {first}")),
            None => message.push_str(": conditions or keys changed"),
        }
        changes.truncate(MAX_CHANGES);
        findings.push(
            Finding::new(INFO.id, INFO.default_severity, message)
                .with("baseline_fingerprint", then)
                .with("current_fingerprint", now)
                .with("changes", changes)
                .with("changed_nodes", total)
                .suggest("If the new plan is intended, re-record the baseline (planguard baseline); `planguard diff` shows the two shapes side by side"),
        );
    }

    fn finish(&self, _ctx: &Context, findings: &mut [Finding]) {
        let costly: Vec<String> = findings
            .iter()
            .filter(|f| f.regression && f.rule != INFO.id)
            .map(|f| f.rule.clone())
            .collect();
        if costly.is_empty() {
            return;
        }
        let mut rules = costly;
        rules.sort();
        rules.dedup();
        for finding in findings.iter_mut().filter(|f| f.rule == INFO.id) {
            finding.regression = true;
            finding.message = format!("{}; it also costs ({})", finding.message, rules.join(", "));
            finding
                .evidence
                .insert("costs".into(), rules.clone().into());
        }
    }
}

/// The generic plan (issue 16) changed shape since the baseline recorded
/// its fingerprint. Its plan is not stored, so the finding lists the
/// current generic plan rather than a node-by-node diff.
fn generic_changed(ctx: &Context, findings: &mut Vec<Finding>) {
    let (Some(baseline), Some(generic)) = (ctx.baseline, ctx.now.generic) else {
        return;
    };
    let Some(then) = &baseline.record.generic else {
        return;
    };
    let now = shape::fingerprint(generic.plan);
    if then.fingerprint == now {
        return;
    }
    findings.push(
        Finding::new(
            INFO.id,
            INFO.default_severity,
            format!(
                "the generic plan's shape changed since the baseline (fingerprint {} -> {}): it is now {}",
                short(&then.fingerprint),
                short(&now),
                label(&generic.plan.root)
            ),
        )
        .with("plan", "generic")
        .with("baseline_fingerprint", then.fingerprint.as_str())
        .with("current_fingerprint", now)
        .with("current_generic_plan", super::spine(generic.plan, 20))
        .suggest("Prepared statements of this query get the new generic plan; if it is intended, re-record the baseline (planguard baseline)"),
    );
}

fn short(fingerprint: &str) -> &str {
    fingerprint.get(..12).unwrap_or(fingerprint)
}

fn label(node: &Node) -> String {
    super::describe(node)
}

/// Walks both trees by path and lists where they part: a node replaced (its
/// subtree is not descended), added or removed.
fn diff(old: &Node, new: &Node, index: &mut Vec<usize>, out: &mut Vec<String>) {
    let (a, b) = (label(old), label(new));
    if a != b {
        out.push(format!("{}: {a} -> {b}", path_string(index)));
        return;
    }
    let longest = old.plans.len().max(new.plans.len());
    for i in 0..longest {
        index.push(i);
        match (old.plans.get(i), new.plans.get(i)) {
            (Some(o), Some(n)) => diff(o, n, index, out),
            (Some(o), None) => out.push(format!("{}: {} removed", path_string(index), label(o))),
            (None, Some(n)) => out.push(format!("{}: {} added", path_string(index), label(n))),
            (None, None) => {}
        }
        index.pop();
    }
}
