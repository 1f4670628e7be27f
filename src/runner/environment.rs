//! The state of the database a plan depended on: statistics and indexes of
//! every relation it reads, recorded with baselines so that a later
//! regression can name its cause.

use std::collections::BTreeSet;

use tokio_postgres::Client;

use crate::baseline::{Environment, IndexInfo, RelationInfo};
use crate::plan::{Node, Plan};

/// Relation names a plan reads (`schema.name` when EXPLAIN VERBOSE gave the
/// schema, else the bare name as the planner printed it).
pub fn relations_in(plan: &Plan) -> BTreeSet<String> {
    fn walk(node: &Node, out: &mut BTreeSet<String>) {
        if let Some(rel) = &node.relation_name {
            out.insert(match &node.schema {
                Some(schema) => format!("{schema}.{rel}"),
                None => rel.clone(),
            });
        }
        for child in &node.plans {
            walk(child, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(&plan.root, &mut out);
    out
}

/// Reads statistics and indexes of the relations in `plan`. Names without
/// a schema are resolved through the session's `search_path`, as the
/// planner did. Only catalog views are read.
pub async fn capture_environment(
    client: &Client,
    plan: &Plan,
) -> Result<Environment, tokio_postgres::Error> {
    capture_environment_of(client, &relations_in(plan)).await
}

/// Reads statistics and indexes of the named relations (names as
/// [`relations_in`] gives them).
pub async fn capture_environment_of(
    client: &Client,
    names: &BTreeSet<String>,
) -> Result<Environment, tokio_postgres::Error> {
    let names: Vec<String> = names.iter().cloned().collect();
    let mut environment = Environment::default();
    if names.is_empty() {
        return Ok(environment);
    }
    let rows = client
        .query(
            "SELECT n.nspname || '.' || c.relname,
                    c.reltuples::float8,
                    c.relpages::int8,
                    to_char(s.last_analyze AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
                    to_char(s.last_autoanalyze AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
                    s.n_mod_since_analyze,
                    (pg_relation_size(c.oid) / current_setting('block_size')::int8),
                    coalesce((SELECT json_agg(json_build_object(
                                  'name', i.relname,
                                  'definition', pg_get_indexdef(x.indexrelid),
                                  'valid', x.indisvalid) ORDER BY i.relname)
                              FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                              WHERE x.indrelid = c.oid), '[]'::json)
             FROM unnest($1::text[]) AS wanted(name)
             JOIN pg_class c ON c.oid = to_regclass(wanted.name)
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid",
            &[&quoted_names(&names)],
        )
        .await?;
    for row in rows {
        let name: String = row.try_get(0)?;
        let indexes: serde_json::Value = row.try_get(7)?;
        let mut info = RelationInfo {
            reltuples: row.try_get(1)?,
            relpages: row.try_get(2)?,
            last_analyze: row.try_get(3)?,
            last_autoanalyze: row.try_get(4)?,
            n_mod_since_analyze: row.try_get(5)?,
            pages: row.try_get(6)?,
            indexes: Default::default(),
        };
        for index in indexes.as_array().into_iter().flatten() {
            if let Some(index_name) = index["name"].as_str() {
                info.indexes.insert(
                    index_name.to_owned(),
                    IndexInfo {
                        definition: index["definition"].as_str().unwrap_or_default().to_owned(),
                        valid: index["valid"].as_bool().unwrap_or(false),
                    },
                );
            }
        }
        environment.relations.insert(name, info);
    }
    Ok(environment)
}

/// EXPLAIN prints names unquoted; `to_regclass` wants them quoted where
/// they need it (mixed case, spaces, key words).
pub(crate) fn quoted_names(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|name| crate::sql::quote_qualified(name))
        .collect()
}

/// The part of `environment` that concerns the relations `plans` read
/// (names as EXPLAIN prints them, with or without a schema).
pub fn environment_subset<'p>(
    environment: &Environment,
    plans: impl IntoIterator<Item = &'p Plan>,
) -> Environment {
    let names: BTreeSet<String> = plans.into_iter().flat_map(relations_in).collect();
    let relations = environment
        .relations
        .iter()
        .filter(|(key, _)| {
            names.iter().any(|name| {
                *key == name
                    || key
                        .strip_suffix(name.as_str())
                        .is_some_and(|schema| schema.ends_with('.'))
            })
        })
        .map(|(key, info)| (key.clone(), info.clone()))
        .collect();
    Environment { relations }
}
