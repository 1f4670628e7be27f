//! What the human-readable reports lead with (no analysis, only the
//! report's own data regrouped): each recorded change once, with the
//! queries it hurt and the worst effect; then per query one verdict and
//! its regression findings grouped under their first cause, so that a
//! cause and its fix are said once, not once per finding.

use super::{ChangeReport, Figures, FindingReport, QueryReport, Report, Status};
use crate::rules::units::{cost, ms};

/// A query's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Regressed,
    Improved,
    Unchanged,
    New,
    Failed,
    Skipped,
}

impl Verdict {
    /// The word people read.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::New => "new",
            Verdict::Failed => "failed",
            Verdict::Skipped => "skipped",
        }
    }
}

/// The verdict of one query.
pub fn verdict(q: &QueryReport) -> Verdict {
    match q.status {
        Status::Error | Status::Timeout => Verdict::Failed,
        Status::Skipped => Verdict::Skipped,
        Status::Ok if q.findings.iter().any(|f| f.regression) => Verdict::Regressed,
        Status::Ok if q.baseline.is_none() => Verdict::New,
        Status::Ok => {
            let better = |now: f64, then: f64| now * 1.2 < then;
            match (&q.current, &q.baseline) {
                (Some(now), Some(then))
                    if better(now.total_cost, then.total_cost)
                        || matches!((now.execution_ms, then.execution_ms), (Some(a), Some(b)) if better(a, b)) =>
                {
                    Verdict::Improved
                }
                _ => Verdict::Unchanged,
            }
        }
    }
}

/// The biggest numbers of a query against its baseline: `cost 319.59 ->
/// 3971.00 (12.4x), time 0.145 ms -> 11.4 ms`; empty without both sides.
pub fn effect(q: &QueryReport) -> String {
    let (Some(now), Some(then)) = (&q.current, &q.baseline) else {
        return String::new();
    };
    let mut parts = Vec::new();
    if (now.total_cost - then.total_cost).abs() > f64::EPSILON {
        let ratio = ratio(now.total_cost, then.total_cost);
        parts.push(format!(
            "cost {} -> {}{ratio}",
            cost(then.total_cost),
            cost(now.total_cost)
        ));
    }
    if let (Some(a), Some(b)) = (then.execution_ms, now.execution_ms) {
        parts.push(format!("time {} -> {}", ms(a), ms(b)));
    }
    if let (Some(a), Some(b)) = (then.shared_blocks, now.shared_blocks)
        && a != b
    {
        parts.push(format!("buffers {a} -> {b}"));
    }
    parts.join(", ")
}

fn ratio(now: f64, then: f64) -> String {
    if then > 0.0 && now / then >= 1.5 {
        format!(" ({:.1}x)", now / then)
    } else {
        String::new()
    }
}

/// A change that explains at least one regression, with the queries it
/// hurt and the worst effect among them (the largest cost ratio).
pub struct Hurt<'r> {
    pub change: &'r ChangeReport,
    pub queries: Vec<&'r str>,
    pub worst: Option<(&'r str, String)>,
}

/// The changes that explain a regression, in report order (by id), each
/// once; and how many other recorded changes explain none.
pub fn what_changed(report: &Report) -> (Vec<Hurt<'_>>, usize) {
    let mut hurt = Vec::new();
    for change in &report.changes {
        let hit: Vec<&QueryReport> = report
            .queries
            .iter()
            .filter(|q| {
                q.findings
                    .iter()
                    .any(|f| f.regression && f.causes.contains(&change.id))
            })
            .collect();
        if hit.is_empty() {
            continue;
        }
        let cost_ratio = |q: &QueryReport| match (&q.current, &q.baseline) {
            (Some(now), Some(then)) if then.total_cost > 0.0 => now.total_cost / then.total_cost,
            _ => 0.0,
        };
        let worst = hit
            .iter()
            .max_by(|a, b| cost_ratio(a).total_cmp(&cost_ratio(b)))
            .map(|q| (q.id.as_str(), effect(q)))
            .filter(|(_, e)| !e.is_empty());
        hurt.push(Hurt {
            change,
            queries: hit.iter().map(|q| q.id.as_str()).collect(),
            worst,
        });
    }
    let others = report.changes.len() - hurt.len();
    (hurt, others)
}

/// Regression findings under one cause id (None: no recorded change
/// explains them).
pub type Group<'q> = (Option<&'q str>, Vec<&'q FindingReport>);

/// A query's regression findings grouped by their first cause (None: no
/// recorded change explains them), in the order the causes first appear;
/// and its other findings.
pub fn grouped(q: &QueryReport) -> (Vec<Group<'_>>, Vec<&FindingReport>) {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut other = Vec::new();
    for f in &q.findings {
        if !f.regression {
            other.push(f);
            continue;
        }
        let cause = f.causes.first().map(String::as_str);
        match groups.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, list)) => list.push(f),
            None => groups.push((cause, vec![f])),
        }
    }
    (groups, other)
}

/// The finding's message without the cause the rules appended to it (the
/// group says it once).
pub fn bare_message(f: &FindingReport) -> &str {
    for marker in ["; likely cause: ", "; no recorded change explains this"] {
        if let Some(at) = f.message.find(marker) {
            return &f.message[..at];
        }
    }
    &f.message
}

/// The finding's own suggestion, without the cause's fix the rules put in
/// front of it (the group says the fix once).
pub fn bare_suggestion<'f>(f: &'f FindingReport, report: &Report) -> Option<&'f str> {
    let suggestion = f.suggestion.as_deref()?;
    let fix = f
        .causes
        .first()
        .and_then(|id| report.changes.iter().find(|c| &c.id == id))
        .and_then(|c| c.fix.as_deref());
    match fix {
        Some(fix) => suggestion
            .strip_prefix(fix)
            .map(|rest| rest.trim_start_matches(". "))
            .or(Some(suggestion)),
        None => Some(suggestion),
    }
}

/// The change of this id in the report.
pub fn change<'r>(report: &'r Report, id: &str) -> Option<&'r ChangeReport> {
    report.changes.iter().find(|c| c.id == id)
}

/// A query's figures now and then, for a one-line verdict.
pub fn headline(q: &QueryReport) -> String {
    let v = verdict(q);
    let detail = match v {
        Verdict::Failed | Verdict::Skipped => q.error.clone().unwrap_or_default(),
        Verdict::New => q
            .current
            .as_ref()
            .map(|f: &Figures| {
                let time = f
                    .execution_ms
                    .map(|t| format!(", time {}", ms(t)))
                    .unwrap_or_default();
                format!("cost {}{time}", cost(f.total_cost))
            })
            .unwrap_or_default(),
        _ => effect(q),
    };
    if detail.is_empty() {
        v.as_str().to_owned()
    } else {
        format!("{} ({detail})", v.as_str())
    }
}
