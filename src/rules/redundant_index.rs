//! `redundant-index`: an existing index no query of the set needs: one
//! whose key columns are a left prefix of another index's with the same
//! properties, or one no plan of the set uses.
//!
//! The evidence comes from the advisor stage ([`crate::advisor::redundant`]),
//! which reads the indexes of the tables the plans read and, with HypoPG
//! 1.4+ (or `--confirm`'s rolled-back DROP INDEX), plans the queries
//! without the index. The rule puts one finding
//! per redundant index on the first query that reads its table, at that
//! query's scan of it. Without the advisor (offline commands) it stays
//! quiet.

use serde_json::Value;

use super::{Context, Finding, Rule, RuleInfo, Severity, node_ref, nodes, path_string};

pub struct RedundantIndex;

static INFO: RuleInfo = RuleInfo {
    id: "redundant-index",
    summary: "an existing index no query of the set needs: a left prefix of another, or unused, verified by planning without it",
    default_severity: Severity::Info,
    needs_baseline: false,
    needs_analyze: false,
    single_plan: false,
    docs: include_str!("../../docs/rules/redundant-index.md"),
};

impl Rule for RedundantIndex {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let (Some(plan), Some(advice)) = (ctx.plan.or(ctx.now.planned), ctx.now.advice) else {
            return;
        };
        let all = nodes(&plan.root);
        for r in &advice.redundant {
            let Some((_, path)) = r.scans.first().filter(|(q, _)| q == ctx.query_id) else {
                continue;
            };
            let mut message = match (&r.covered_by, &r.covered_definition) {
                (Some(wide), Some(wide_definition)) => format!(
                    "{} is redundant: its key columns lead {wide} with the same properties ({} -> {wide_definition})",
                    r.index, r.definition
                ),
                _ => format!(
                    "{} is unused: no plan of the set uses it ({})",
                    r.index, r.definition
                ),
            };
            match (&r.reason, r.verified_by.as_deref()) {
                (None, Some("rolled_back_drop")) => message.push_str(
                    "; verified by dropping it in a transaction that was rolled back (--confirm): no query of the set that reads the table costs more without it",
                ),
                (None, _) => message.push_str(
                    "; verified with HypoPG: no query of the set that reads the table costs more without it",
                ),
                (Some(why), _) => message.push_str(&format!(" ({why})")),
            }
            let mut finding = Finding::new(INFO.id, INFO.default_severity, message)
                .with("index", r.index.clone())
                .with("kind", r.kind.clone())
                .with(
                    "covered_by",
                    r.covered_by.clone().map_or(Value::Null, Value::from),
                )
                .with(
                    "verified_by",
                    r.verified_by.clone().map_or(Value::Null, Value::from),
                )
                .with("table", r.table.clone())
                .with("ddl_drop", r.ddl_drop.clone())
                .with("verified", r.verified)
                .with("reason", r.reason.clone().map_or(Value::Null, Value::from))
                .suggest(format!(
                    "-- {} (drop it once nothing outside this query set needs it)",
                    r.ddl_drop
                ));
            if let Some((index, node)) = all.iter().find(|(i, _)| path_string(i) == *path) {
                finding = finding.at(node_ref(index, node));
            }
            findings.push(finding);
        }
    }
}
