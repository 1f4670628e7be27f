//! `missing-index`: an index would serve a scan's predicates and order.
//!
//! The evidence comes from the advisor stage ([`crate::advisor`]), which
//! reads the catalog and verifies each candidate with HypoPG; the rule
//! turns the suggestions that serve this query into findings, on the scans
//! they serve. Without the advisor (offline commands) it stays quiet.

use serde_json::{Value, json};

use super::{Context, Finding, Rule, RuleInfo, Severity, node_ref, nodes, num, path_string};
use crate::advisor::model::{Served, Suggestion};

pub struct MissingIndex;

static INFO: RuleInfo = RuleInfo {
    id: "missing-index",
    summary: "an index would serve a scan's predicates and order (verified with HypoPG when available)",
    default_severity: Severity::Warning,
    needs_baseline: false,
    needs_analyze: false,
    single_plan: false,
    docs: include_str!("../../docs/rules/missing-index.md"),
};

impl Rule for MissingIndex {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        // A query that timed out was advised from its plain EXPLAIN plan.
        let (Some(plan), Some(advice)) = (ctx.plan.or(ctx.now.planned), ctx.now.advice) else {
            return;
        };
        let all = nodes(&plan.root);
        // One finding per suggestion, on the first scan it serves (the
        // partitions of one table are several scans).
        let mut seen: Vec<&str> = Vec::new();
        for (suggestion, served) in advice.for_query(ctx.query_id) {
            if seen.contains(&suggestion.ddl.as_str()) {
                continue;
            }
            seen.push(&suggestion.ddl);
            let Some((index, node)) = all.iter().find(|(i, _)| path_string(i) == served.path)
            else {
                continue;
            };
            let scans = suggestion
                .served
                .iter()
                .filter(|s| s.query_id == ctx.query_id)
                .count();
            let unverified = advice.unverified_because.as_deref();
            findings.push(
                finding(suggestion, served, scans, unverified)
                    .with(
                        "total_size_bytes",
                        advice.total_size_bytes.map_or(Value::Null, Value::from),
                    )
                    .at(node_ref(index, node)),
            );
        }
    }
}

fn finding(s: &Suggestion, served: &Served, scans: usize, unverified: Option<&str>) -> Finding {
    let index = format!("{} ({})", s.relation, s.columns.join(", "));
    let mut message = format!(
        "an index on {index} would serve this {} on {}",
        served.node_type, served.relation
    );
    if scans > 1 {
        message.push_str(&format!(" and {} more scans of this query", scans - 1));
    }
    let mut finding = Finding::new(INFO.id, INFO.default_severity, "");
    match (served.cost_before, served.cost_after) {
        (Some(before), Some(after)) if s.verified => {
            let drop = if before > 0.0 {
                (before - after) / before
            } else {
                0.0
            };
            message.push_str(&format!(
                ": planner cost {before:.1} -> {after:.1} (-{:.0}%), verified with HypoPG",
                (drop * 100.0).floor()
            ));
            finding = finding
                .with("cost_before", num(before))
                .with("cost_after", num(after))
                .with("cost_drop", num(drop));
        }
        _ => {
            let why = unverified.unwrap_or("not verified");
            message.push_str(&format!(" (unverified: {why})"));
            finding = finding.with("unverified_because", why);
        }
    }
    let others: Vec<&str> = {
        let mut ids: Vec<&str> = s.served.iter().map(|x| x.query_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    if others.len() > 1 {
        message.push_str(&format!("; it serves {} queries", others.len()));
    }
    let mut suggestion = format!("{};", s.ddl);
    if let Some(w) = &s.widens {
        if w.unique {
            suggestion.push_str(&format!(
                " it extends the unique index {}, which stays.",
                w.name
            ));
        } else {
            suggestion.push_str(&format!(
                " it extends {} ({}), which it makes redundant: drop that one (DROP INDEX CONCURRENTLY) once nothing else needs it.",
                w.name, w.definition
            ));
        }
    }
    if let Some(a) = &s.alternative {
        suggestion.push_str(&format!(
            " Alternatively, smaller and cheaper to keep up, the partial index {};",
            a.ddl
        ));
        if let Some(cost) = a.cost_after {
            suggestion.push_str(&format!(" (planner cost with it: {cost:.1})"));
        }
    }
    if let Some(c) = &s.confirmed {
        message.push_str(&format!(
            "; built for real and rolled back (--confirm): {} execution {} -> {} ms, buffers {} -> {}, build {:.0} ms",
            c.query_id,
            c.before.execution_ms.map_or("?".to_owned(), |m| format!("{m:.3}")),
            c.after.execution_ms.map_or("?".to_owned(), |m| format!("{m:.3}")),
            c.before.shared_hit + c.before.shared_read,
            c.after.shared_hit + c.after.shared_read,
            c.build_ms
        ));
    }
    finding.message = message;
    finding
        .with("relation", s.relation.clone())
        .with("columns", json!(s.columns))
        .with(
            "predicate",
            s.predicate.clone().map_or(Value::Null, Value::from),
        )
        .with("ddl", s.ddl.clone())
        .with("verified", s.verified)
        .with("predicates", json!(served.predicates))
        .with("scan", served.why.clone())
        .with("scans", scans as u64)
        .with(
            "plan_after",
            served.plan_after.clone().map_or(Value::Null, Value::from),
        )
        .with("queries", json!(others))
        .with("rank", s.rank as u64)
        .with("saving", s.saving.map_or(Value::Null, num))
        .with("calls", served.calls.map_or(Value::Null, Value::from))
        .with("loops", num(served.loops))
        .with("size_bytes", s.size_bytes.map_or(Value::Null, Value::from))
        .with("rows_avoided", num(served.rows_discarded))
        .with(
            "alternative",
            s.alternative.as_ref().map_or(
                Value::Null,
                |a| json!({"ddl": a.ddl, "cost_after": a.cost_after.map(num)}),
            ),
        )
        .with(
            "widens",
            s.widens.as_ref().map_or(Value::Null, |w| json!(w.name)),
        )
        .with(
            "confirmed",
            s.confirmed.as_ref().map_or(Value::Null, |c| {
                json!({
                    "query": c.query_id,
                    "build_ms": num(c.build_ms),
                    "used": c.used,
                    "execution_ms_before": c.before.execution_ms.map(num),
                    "execution_ms_after": c.after.execution_ms.map(num),
                    "buffers_before": c.before.shared_hit + c.before.shared_read,
                    "buffers_after": c.after.shared_hit + c.after.shared_read,
                })
            }),
        )
        .suggest(suggestion)
}
