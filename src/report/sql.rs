//! `--format sql`: the `missing-index` suggestions as one DDL script, each
//! index once (however many queries it serves), best first, with a comment
//! saying what it serves and saves; then the `redundant-index` findings'
//! `DROP INDEX CONCURRENTLY` statements, commented out.
//!
//! The script is meant to be read, then run with psql outside a
//! transaction block (`CREATE INDEX CONCURRENTLY` refuses to run inside
//! one); nothing in it is executed by planguard. It is safe to run again:
//! the advisor names each index as PostgreSQL would (`table_col_idx`, free
//! in its schema when the advisor ran) and creates it `IF NOT EXISTS`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::Value;

use super::Report;

/// Everything the findings say about one index.
#[derive(Default)]
struct Index {
    rank: u64,
    relation: String,
    columns: Vec<String>,
    /// A partial index's WHERE clause.
    predicate: Option<String>,
    ddl: String,
    saving: Option<f64>,
    /// Estimated bytes.
    size: Option<u64>,
    unverified: Option<String>,
    widens: Option<String>,
    alternative: Option<String>,
    suggestion: String,
    /// `query (node) cost before -> after`
    serves: Vec<String>,
}

/// Writes the script.
pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut indexes: BTreeMap<String, Index> = BTreeMap::new();
    for query in &report.queries {
        for f in query.findings.iter().filter(|f| f.rule == "missing-index") {
            let Some(ddl) = f.evidence.get("ddl").and_then(Value::as_str) else {
                continue;
            };
            let index = indexes.entry(ddl.to_owned()).or_insert_with(|| Index {
                rank: f.evidence.get("rank").and_then(Value::as_u64).unwrap_or(0),
                relation: text(f.evidence.get("relation")),
                columns: f
                    .evidence
                    .get("columns")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(|c| text(Some(c))).collect())
                    .unwrap_or_default(),
                predicate: f
                    .evidence
                    .get("predicate")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                ddl: ddl.to_owned(),
                saving: f.evidence.get("saving").and_then(Value::as_f64),
                size: f.evidence.get("size_bytes").and_then(Value::as_u64),
                unverified: f.evidence.get("unverified_because").map(|v| text(Some(v))),
                widens: f
                    .evidence
                    .get("widens")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                alternative: f
                    .evidence
                    .get("alternative")
                    .and_then(|a| a.get("ddl"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                suggestion: f.suggestion.clone().unwrap_or_default(),
                serves: Vec::new(),
            });
            let node = f.node.as_ref().map_or(String::new(), |n| {
                format!(
                    " ({}{})",
                    n.node_type,
                    n.relation
                        .as_deref()
                        .map_or(String::new(), |r| format!(" on {r}"))
                )
            });
            let cost = match (
                f.evidence.get("cost_before").and_then(Value::as_f64),
                f.evidence.get("cost_after").and_then(Value::as_f64),
            ) {
                (Some(before), Some(after)) => {
                    let drop = if before > 0.0 {
                        ((before - after) / before * 100.0).floor()
                    } else {
                        0.0
                    };
                    format!(": cost {before:.1} -> {after:.1} (-{drop:.0}%)")
                }
                _ => String::new(),
            };
            index.serves.push(format!("{}{node}{cost}", query.id));
        }
    }
    let mut ranked: Vec<Index> = indexes.into_values().collect();
    ranked.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.ddl.cmp(&b.ddl)));

    let mut s = String::new();
    if ranked.is_empty() {
        s.push_str("-- planguard: no missing index found\n");
        s.push_str(&drops(report));
        return out.write_all(s.as_bytes());
    }
    s.push_str(&format!(
        "-- planguard: {} missing, best first.\n",
        super::plural(ranked.len(), "index", "indexes")
    ));
    s.push_str(
        "-- Run with psql outside a transaction block: CREATE INDEX CONCURRENTLY cannot run inside one.\n",
    );
    s.push_str("-- Safe to run again: each index is named and created IF NOT EXISTS.\n");
    if ranked.iter().all(|i| i.size.is_some()) {
        let total: u64 = ranked.iter().filter_map(|i| i.size).sum();
        s.push_str(&format!(
            "-- Estimated size of the set: {} in all.\n",
            crate::advisor::human_bytes(total)
        ));
    }
    for index in &ranked {
        s.push('\n');
        let predicate = index
            .predicate
            .as_ref()
            .map_or(String::new(), |p| format!(" WHERE {p}"));
        s.push_str(&comment(&format!(
            "{}. {} ({}){predicate}",
            index.rank,
            index.relation,
            index.columns.join(", ")
        )));
        for served in &index.serves {
            s.push_str(&comment(&format!("   serves {served}")));
        }
        match (&index.unverified, index.saving) {
            (Some(why), _) => s.push_str(&comment(&format!("   unverified: {why}"))),
            (None, Some(saving)) => s.push_str(&comment(&format!(
                "   verified with HypoPG; saves {saving:.1} planner cost units per run of the set (weighted by calls where a capture recorded them)"
            ))),
            (None, None) => {}
        }
        if let Some(size) = index.size {
            s.push_str(&comment(&format!(
                "   estimated size {}",
                crate::advisor::human_bytes(size)
            )));
        }
        if let Some(widens) = &index.widens {
            let after =
                index
                    .suggestion
                    .split_once("; it extends")
                    .map_or(String::new(), |(_, rest)| {
                        let rest = rest.split(" Alternatively, ").next().unwrap_or(rest);
                        format!("it extends{}", rest.trim_end_matches(['.', ';']))
                    });
            s.push_str(&comment(&format!(
                "   {}",
                if after.is_empty() {
                    format!("it extends {widens}")
                } else {
                    after
                }
            )));
        }
        if let Some(alternative) = &index.alternative {
            s.push_str(&comment(&format!(
                "   or, smaller and cheaper to keep up, the partial index: {alternative};"
            )));
        }
        s.push_str(&index.ddl);
        s.push_str(";\n");
    }
    s.push_str(&drops(report));
    out.write_all(s.as_bytes())
}

/// The `redundant-index` findings' DROP statements, commented out: dropping
/// an index is for a person to decide, once nothing outside the query set
/// needs it.
fn drops(report: &Report) -> String {
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    for f in report
        .queries
        .iter()
        .flat_map(|q| &q.findings)
        .filter(|f| f.rule == "redundant-index")
    {
        let Some(drop) = f.evidence.get("ddl_drop").and_then(Value::as_str) else {
            continue;
        };
        let covered = match f.evidence.get("covered_by").and_then(Value::as_str) {
            Some(wide) => format!("covered by {wide}"),
            None => "unused by every query of the set".to_owned(),
        };
        let verified = match (
            f.evidence.get("reason").and_then(Value::as_str),
            f.evidence.get("verified_by").and_then(Value::as_str),
        ) {
            (Some(why), _) => why.to_owned(),
            (None, Some("rolled_back_drop")) => {
                "verified by a DROP INDEX rolled back (--confirm)".to_owned()
            }
            (None, _) => "verified with HypoPG".to_owned(),
        };
        seen.entry(drop.to_owned()).or_insert((covered, verified));
    }
    let mut s = String::new();
    if seen.is_empty() {
        return s;
    }
    s.push_str(&format!(
        "\n-- planguard: {} redundant (a left prefix of another, or unused); uncomment to drop, outside a transaction block.\n",
        super::plural(seen.len(), "index", "indexes")
    ));
    for (drop, (covered, verified)) in &seen {
        s.push_str(&comment(&format!("{covered}; {verified}")));
        s.push_str(&comment(drop));
    }
    s
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// One `-- ` line; line breaks in names would end the comment, so they
/// become spaces.
fn comment(text: &str) -> String {
    format!("-- {}\n", text.replace(['\n', '\r'], " "))
}
