//! `new-query`: the query has no baseline yet.

use super::{Context, Finding, QueryStatus, Rule, RuleInfo, Severity};

pub struct NewQuery;

static INFO: RuleInfo = RuleInfo {
    id: "new-query",
    summary: "no baseline for this query",
    default_severity: Severity::Info,
    needs_baseline: false,
    needs_analyze: false,
    single_plan: false,
    docs: include_str!("../../docs/rules/new-query.md"),
};

impl Rule for NewQuery {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        if ctx.baseline.is_some() || ctx.status == QueryStatus::Skipped {
            return;
        }
        findings.push(
            Finding::new(
                INFO.id,
                INFO.default_severity,
                format!(
                    "no baseline for {}: it is only checked on its own plan",
                    ctx.query_id
                ),
            )
            .suggest(
                "Record one with `planguard baseline` once the plan looks right, and commit the file so that later checks compare against it",
            ),
        );
    }
}
