//! `query-error`: the query failed or timed out.

use super::{Context, Finding, QueryStatus, Rule, RuleInfo, Severity};

pub struct QueryErrorRule;

static INFO: RuleInfo = RuleInfo {
    id: "query-error",
    summary: "the query failed or timed out (error when the baseline had succeeded)",
    default_severity: Severity::Error,
    needs_baseline: false,
    needs_analyze: false,
    single_plan: false,
    docs: include_str!("../../docs/rules/query-error.md"),
};

impl Rule for QueryErrorRule {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context, findings: &mut Vec<Finding>) {
        let what = match ctx.status {
            QueryStatus::Error => "failed",
            QueryStatus::Timeout => "timed out",
            QueryStatus::Ok | QueryStatus::Skipped => return,
        };
        // A baseline is only recorded from a successful run.
        let had_succeeded = ctx.baseline.is_some();
        let severity = if had_succeeded {
            INFO.default_severity
        } else {
            Severity::Warning
        };
        let message_text = ctx.error.map(|e| e.message.as_str()).unwrap_or("");
        let sqlstate = ctx.error.and_then(|e| e.sqlstate.as_deref());
        let mut message = format!("query {what}");
        match (sqlstate, message_text.is_empty()) {
            (Some(code), false) => message.push_str(&format!(": {message_text} (SQLSTATE {code})")),
            (Some(code), true) => message.push_str(&format!(" (SQLSTATE {code})")),
            (None, false) => message.push_str(&format!(": {message_text}")),
            (None, true) => {}
        }
        if had_succeeded {
            message.push_str("; it succeeded when the baseline was recorded");
        }
        let mut finding = Finding::new(INFO.id, severity, message)
            .regression(had_succeeded)
            .with("status", ctx.status.as_str())
            .with("baseline_succeeded", had_succeeded);
        if !message_text.is_empty() {
            finding = finding.with("error", message_text);
        }
        if let Some(code) = sqlstate {
            finding = finding.with("sqlstate", code);
        }
        findings.push(finding.suggest(suggestion(ctx.status, sqlstate)));
    }
}

/// What to look at, by SQLSTATE class (PostgreSQL docs, Appendix A).
fn suggestion(status: QueryStatus, sqlstate: Option<&str>) -> String {
    if status == QueryStatus::Timeout {
        return "Look at the plan without executing it (planguard check --no-analyze, or EXPLAIN) to see why it got slow, or raise --timeout if the query is expected to run this long".into();
    }
    match sqlstate {
        Some("57014") => "The statement was cancelled (statement_timeout or a cancel request): look at the plan without executing it, or raise --timeout".into(),
        Some("42P01" | "42703" | "42883" | "42704" | "3F000") => "The schema no longer matches the query (a missing table, column, function, type or schema): fix the query or the migration, then re-record the baseline".into(),
        Some("42501") => "The role lacks a privilege the query needs: check the GRANTs for the role planguard connects as".into(),
        Some("55P03" | "40P01") => "The query waited on a lock (lock_timeout or a deadlock): run the check when the database is quieter".into(),
        Some(code) if code.starts_with("53") => "The server ran out of a resource (disk, memory, connections): check its logs".into(),
        Some(code) if code.starts_with("22") => "The data or a parameter is invalid for the query (a cast, a division by zero, an out-of-range value): check the params directive".into(),
        _ => "Run the query by hand to see the full error, fix it, then re-record the baseline".into(),
    }
}
