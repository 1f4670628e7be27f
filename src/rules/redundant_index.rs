//! `redundant-index`: an existing index no query of the set needs, for now
//! one whose key columns are a left prefix of another index's with the
//! same properties.
//!
//! The evidence comes from the advisor stage ([`crate::advisor::redundant`]),
//! which reads the indexes of the tables the plans read and, with HypoPG
//! 1.4+, plans the queries with the index hidden. The rule puts one finding
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
            let mut message = format!(
                "{} is redundant: its key columns lead {} with the same properties ({} -> {})",
                r.index, r.covered_by, r.definition, r.covered_definition
            );
            match &r.reason {
                None => message.push_str(
                    "; verified with HypoPG: no query of the set that reads the table costs more without it",
                ),
                Some(why) => message.push_str(&format!(" ({why})")),
            }
            let mut finding = Finding::new(INFO.id, INFO.default_severity, message)
                .with("index", r.index.clone())
                .with("covered_by", r.covered_by.clone())
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
