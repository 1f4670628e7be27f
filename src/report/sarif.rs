//! `--format sarif`: SARIF 2.1.0, for code-scanning dashboards (GitHub code
//! scanning, GitLab, Azure DevOps).
//!
//! One run whose `tool.driver` lists every rule of [`ALL_RULES`] (id, name,
//! `shortDescription` from its summary, `help` from its docs page, the
//! default level), and one result per finding: `ruleId`, `ruleIndex`,
//! `level` (`error`, `warning`, `note` for info), the message (with the
//! suggestion), and a location on the query file `<queries root>/<id>.sql`
//! with the plan node as a logical location. `properties` carry the query
//! id, `regression` and the evidence. Keys are sorted; nothing depends on
//! the clock.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::github::query_file;
use super::{FindingReport, QueryReport, Report};
use crate::rules::{ALL_RULES, Severity};

/// The SARIF version written.
pub const VERSION: &str = "2.1.0";
/// The schema of that version.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Writes the report as a SARIF log; `queries_root` as for
/// [`super::github::render`].
pub fn render(report: &Report, queries_root: &str, out: &mut dyn Write) -> io::Result<()> {
    let log = to_value(report, queries_root);
    serde_json::to_writer_pretty(&mut *out, &log).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// The SARIF log as JSON.
pub fn to_value(report: &Report, queries_root: &str) -> Value {
    let rules: Vec<Value> = ALL_RULES
        .iter()
        .map(|r| {
            let info = r.info();
            json!({
                "id": info.id,
                "name": info.id,
                "shortDescription": {"text": info.summary},
                "help": {"text": info.docs, "markdown": info.docs},
                "defaultConfiguration": {"level": level(info.default_severity)},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .queries
        .iter()
        .flat_map(|q| q.findings.iter().map(move |f| result(q, f, queries_root)))
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": report.tool.name,
                "version": report.tool.version,
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

fn result(q: &QueryReport, f: &FindingReport, queries_root: &str) -> Value {
    let index = ALL_RULES.iter().position(|r| r.info().id == f.rule);
    let mut text = f.message.clone();
    if let Some(s) = &f.suggestion {
        text.push_str("\nSuggestion: ");
        text.push_str(s);
    }
    let mut location = json!({
        "physicalLocation": {
            "artifactLocation": {"uri": query_file(queries_root, &q.id)},
            "region": {"startLine": 1},
        },
    });
    if let Some(n) = &f.node {
        let name = match &n.relation {
            Some(r) => format!("{} on {r}", n.node_type),
            None => n.node_type.clone(),
        };
        location["logicalLocations"] = json!([{
            "name": name,
            "fullyQualifiedName": format!("{}:{}", q.id, n.path),
            "kind": "plan-node",
        }]);
    }
    let mut result = json!({
        "ruleId": f.rule,
        "level": level(f.severity),
        "message": {"text": text},
        "locations": [location],
        "properties": {
            "query": q.id,
            "regression": f.regression,
            "evidence": f.evidence,
        },
    });
    if let Some(index) = index {
        result["ruleIndex"] = index.into();
    }
    result
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}
