//! Existing indexes the query set does not need (the evidence of the
//! `redundant-index` rule), of two kinds:
//!
//! - a left prefix: a btree index whose key columns lead another valid
//!   btree index's on the same table with the same properties serves
//!   nothing the wider one does not;
//! - unused: no plan of the set uses the index (neither unique nor backing
//!   a constraint, valid, on a table the plans read).
//!
//! Promises: only the tables the plans read are looked at; every query that
//! reads the table is planned again without the index, and the finding is
//! verified only when no plan's cost rises: with HypoPG 1.4+
//! (`hypopg_hide_index`), else with `--confirm` by a real `DROP INDEX`
//! inside a transaction under `lock_timeout` that is always rolled back;
//! otherwise it is reported unverified, with the reason.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use super::catalog::ExistingIndex;
use super::model::Redundant;
use super::{AdvisorError, HypoPg, Input, Options, candidate::quote};
use crate::plan::{Node, node_path};
use crate::runner::Runner;

/// The indexes no plan uses (by name, as plans show them), that could be
/// dropped: valid, neither unique nor backing a constraint.
pub fn unused(indexes: &[ExistingIndex], used: &BTreeSet<&str>) -> Vec<usize> {
    indexes
        .iter()
        .enumerate()
        .filter(|(_, x)| x.valid && !x.unique && !x.constraint && !used.contains(x.name.as_str()))
        .map(|(n, _)| n)
        .collect()
}

/// The pairs `(narrow, wide)` of indexes where `narrow` is redundant: its
/// key columns are a left prefix of `wide`'s, with the same opclasses,
/// collations, directions and predicate, neither unique nor backing a
/// constraint, both valid btree indexes on plain columns. Of two identical
/// indexes, the one with the later name is the redundant one.
pub fn left_prefixes(indexes: &[ExistingIndex]) -> Vec<(usize, usize)> {
    let plain = |x: &ExistingIndex| {
        x.method == "btree"
            && x.valid
            && !x.unique
            && !x.constraint
            && x.partial == x.predicate.is_some()
            && x.columns.iter().all(Option::is_some)
    };
    let mut out = Vec::new();
    for (n, narrow) in indexes.iter().enumerate() {
        if !plain(narrow) {
            continue;
        }
        let wide = indexes.iter().enumerate().find(|(w, wide)| {
            let k = narrow.columns.len();
            *w != n
                && plain(wide)
                && k <= wide.columns.len()
                && (k < wide.columns.len() || wide.name < narrow.name)
                && narrow.predicate == wide.predicate
                && narrow.columns[..] == wide.columns[..k]
                && same_prefix(&narrow.opclasses, &wide.opclasses, k)
                && same_prefix(&narrow.collations, &wide.collations, k)
                && same_prefix(&narrow.descending, &wide.descending, k)
                && same_prefix(&narrow.nulls_first, &wide.nulls_first, k)
                // An INCLUDE column the wide index lacks serves index-only
                // scans the wide one cannot.
                && narrow
                    .included
                    .iter()
                    .all(|c| c.is_some() && (wide.columns.contains(c) || wide.included.contains(c)))
        });
        if let Some((w, _)) = wide {
            out.push((n, w));
        }
    }
    out
}

/// The scans of one table: `(input, node path)`.
type Scans = Vec<(usize, String)>;

fn same_prefix<T: PartialEq>(a: &[T], b: &[T], k: usize) -> bool {
    a.len() >= k && b.len() >= k && a[..k] == b[..k]
}

/// Finds the redundant indexes of the tables the plans read, verified with
/// HypoPG's `hypopg_hide_index` where it exists. Errors are the database's.
pub async fn find(
    runner: &Runner,
    client: &Client,
    inputs: &[Input<'_>],
    options: &Options,
    catalog: &mut super::catalog::Cache,
) -> Result<Vec<Redundant>, AdvisorError> {
    // Each table the plans read, with its scans in query order.
    let mut read: BTreeMap<(Option<String>, String), Scans> = BTreeMap::new();
    for (i, input) in inputs.iter().enumerate() {
        input.plan.root.walk(&mut |index, node: &Node| {
            if let Some(name) = &node.relation_name {
                read.entry((node.schema.clone(), name.clone()))
                    .or_default()
                    .push((i, node_path(index)));
            }
        });
    }
    // Every index some plan uses, by name.
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for input in inputs {
        input.plan.root.walk(&mut |_, node: &Node| {
            if let Some(name) = &node.index_name {
                used.insert(name.as_str());
            }
        });
    }
    let mut found = Vec::new();
    let mut hide: Option<Result<(), String>> = None;
    let mut costs_before: BTreeMap<usize, Option<f64>> = BTreeMap::new();
    for ((schema, name), scans) in read {
        let Some(relation) = catalog
            .get(client, schema.as_deref(), &name)
            .await?
            .cloned()
        else {
            continue;
        };
        let prefixes = left_prefixes(&relation.indexes);
        let mut kinds: Vec<(usize, Option<usize>)> =
            prefixes.iter().map(|(n, w)| (*n, Some(*w))).collect();
        kinds.extend(
            unused(&relation.indexes, &used)
                .into_iter()
                .filter(|n| !prefixes.iter().any(|(p, _)| p == n))
                .map(|n| (n, None)),
        );
        for (n, wide) in kinds {
            let narrow = &relation.indexes[n];
            let wide = wide.map(|w| &relation.indexes[w]);
            let qualified =
                |x: &ExistingIndex| format!("{}.{}", quote(&relation.schema), quote(&x.name));
            let hide = match &hide {
                Some(h) => h.clone(),
                None => {
                    let h = hide_ready(client, options.hypopg).await?;
                    hide = Some(h.clone());
                    h
                }
            };
            let (reason, verified_by) = match hide {
                Ok(()) => (
                    verify(
                        runner,
                        client,
                        inputs,
                        &scans,
                        narrow.oid,
                        &mut costs_before,
                    )
                    .await?,
                    "hypopg_hide_index",
                ),
                Err(_) if options.confirm => (
                    confirm_drop(
                        runner,
                        client,
                        inputs,
                        &scans,
                        &relation.qualified(),
                        &qualified(narrow),
                        &mut costs_before,
                    )
                    .await?,
                    "rolled_back_drop",
                ),
                Err(why) => (
                    Some(format!(
                        "{why}; --confirm verifies by dropping it inside a transaction that is rolled back"
                    )),
                    "",
                ),
            };
            found.push(Redundant {
                table: relation.qualified(),
                index: qualified(narrow),
                definition: narrow.definition.clone(),
                kind: if wide.is_some() {
                    "left_prefix"
                } else {
                    "unused"
                }
                .to_owned(),
                covered_by: wide.map(qualified),
                covered_definition: wide.map(|w| w.definition.clone()),
                ddl_drop: format!("DROP INDEX CONCURRENTLY IF EXISTS {};", qualified(narrow)),
                verified: reason.is_none(),
                verified_by: reason.is_none().then(|| verified_by.to_owned()),
                reason,
                scans: scans
                    .iter()
                    .map(|(i, path)| (inputs[*i].job.id.clone(), path.clone()))
                    .collect(),
            });
        }
    }
    Ok(found)
}

/// `--confirm` without `hypopg_hide_index`: drops the index for real in a
/// transaction under `lock_timeout`, plans every query that reads the
/// table, and rolls back ([`super::confirm::plan_without_index`]). None when no
/// plan's cost rises, else why it is not verified. Only the table's owner
/// may drop its index: anyone else gets the reason before any transaction.
async fn confirm_drop(
    runner: &Runner,
    client: &Client,
    inputs: &[Input<'_>],
    scans: &[(usize, String)],
    table: &str,
    index: &str,
    costs_before: &mut BTreeMap<usize, Option<f64>>,
) -> Result<Option<String>, AdvisorError> {
    let row = client
        .query_one(
            "SELECT pg_has_role(relowner, 'USAGE'), current_user::text FROM pg_class WHERE oid = $1::text::regclass",
            &[&table],
        )
        .await
        ?;
    if !row.try_get::<_, bool>(0)? {
        return Ok(Some(format!(
            "not verified: --confirm needs ownership of the table, and role {} does not own it",
            row.try_get::<_, String>(1)?
        )));
    }
    let mut queries: Vec<usize> = scans.iter().map(|(i, _)| *i).collect();
    queries.dedup();
    let mut before = Vec::with_capacity(queries.len());
    for &i in &queries {
        let cost = match costs_before.get(&i) {
            Some(cost) => *cost,
            None => {
                let cost = plan_cost(runner, client, inputs, i).await;
                costs_before.insert(i, cost);
                cost
            }
        };
        before.push(cost);
    }
    let jobs: Vec<&crate::runner::Job> = queries.iter().map(|&i| inputs[i].job).collect();
    let after = match super::confirm::plan_without_index(
        runner,
        &jobs,
        client,
        &format!("DROP INDEX {index}"),
    )
    .await
    {
        Ok(after) => after,
        Err(e) => {
            return Ok(Some(format!(
                "not verified: the rolled-back DROP INDEX failed: {e}"
            )));
        }
    };
    for ((&i, before), after) in queries.iter().zip(before).zip(after) {
        if let Some(why) = cost_rise(&inputs[i].job.id, before, after) {
            return Ok(Some(why));
        }
    }
    Ok(None)
}

/// Why the index is not verified redundant when planning query `id`
/// without it costs `after` where it cost `before`: its cost rose, or a
/// plan failed; None when nothing rose.
fn cost_rise(id: &str, before: Option<f64>, after: Option<f64>) -> Option<String> {
    match (before, after) {
        (Some(before), Some(after)) if after > before * (1.0 + 1e-9) => Some(format!(
            "not verified: without it, the planner cost of {id} rises {before:.2} -> {after:.2}"
        )),
        (Some(_), Some(_)) => None,
        _ => Some(format!("not verified: planning {id} again failed")),
    }
}

/// Ok when HypoPG can hide an index (1.4+), else why not.
async fn hide_ready(
    client: &Client,
    mode: HypoPg,
) -> Result<Result<(), String>, tokio_postgres::Error> {
    if mode == HypoPg::Off {
        return Ok(Err(
            "not verified: verification is off (--hypopg off)".to_owned()
        ));
    }
    let row = client
        .query_one(
            "SELECT (SELECT extversion::text FROM pg_extension WHERE extname = 'hypopg'),
                    to_regproc('hypopg_hide_index') IS NOT NULL",
            &[],
        )
        .await?;
    let version: Option<String> = row.try_get(0)?;
    let hide: bool = row.try_get(1)?;
    Ok(match (version, hide) {
        (Some(_), true) => Ok(()),
        (Some(v), false) => Err(format!(
            "not verified: the installed HypoPG {v} has no hypopg_hide_index (1.4 or later has), so no query was planned without the index"
        )),
        (None, _) => Err(
            "not verified: the hypopg extension (1.4 or later) is not installed, so no query was planned without the index"
                .to_owned(),
        ),
    })
}

/// Plans every query that reads the table with the index hidden: None when
/// no plan's cost rises, else why it is not verified.
async fn verify(
    runner: &Runner,
    client: &Client,
    inputs: &[Input<'_>],
    scans: &[(usize, String)],
    oid: u32,
    costs_before: &mut BTreeMap<usize, Option<f64>>,
) -> Result<Option<String>, AdvisorError> {
    let mut queries: Vec<usize> = scans.iter().map(|(i, _)| *i).collect();
    queries.dedup();
    for i in queries {
        let before = match costs_before.get(&i) {
            Some(cost) => *cost,
            None => {
                let cost = plan_cost(runner, client, inputs, i).await;
                costs_before.insert(i, cost);
                cost
            }
        };
        client
            .query("SELECT hypopg_hide_index($1)", &[&oid])
            .await?;
        let after = plan_cost(runner, client, inputs, i).await;
        client
            .query("SELECT hypopg_unhide_index($1)", &[&oid])
            .await?;
        if let Some(why) = cost_rise(&inputs[i].job.id, before, after) {
            return Ok(Some(why));
        }
    }
    Ok(None)
}

async fn plan_cost(
    runner: &Runner,
    client: &Client,
    inputs: &[Input<'_>],
    i: usize,
) -> Option<f64> {
    runner
        .plan_only(inputs[i].job, client)
        .await
        .ok()
        .and_then(|p| p.root.total_cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str, columns: &[&str]) -> ExistingIndex {
        ExistingIndex {
            name: name.into(),
            valid: true,
            method: "btree".into(),
            columns: columns.iter().map(|c| Some(c.to_string())).collect(),
            descending: columns.iter().map(|_| false).collect(),
            nulls_first: columns.iter().map(|_| false).collect(),
            opclasses: columns.iter().map(|_| "int4_ops".to_owned()).collect(),
            collations: columns.iter().map(|_| String::new()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_left_prefix_with_the_same_properties_is_redundant() {
        let a = index("t_a", &["a"]);
        let ab = index("t_a_b", &["a", "b"]);
        assert_eq!(left_prefixes(&[a.clone(), ab.clone()]), vec![(0, 1)]);
        // Not a prefix.
        assert!(left_prefixes(&[index("t_b", &["b"]), ab.clone()]).is_empty());
        // Unique or backing a constraint.
        let unique = ExistingIndex {
            unique: true,
            ..a.clone()
        };
        assert!(left_prefixes(&[unique, ab.clone()]).is_empty());
        let pk = ExistingIndex {
            constraint: true,
            ..a.clone()
        };
        assert!(left_prefixes(&[pk, ab.clone()]).is_empty());
        // Another predicate, direction, opclass or an expression.
        let partial = ExistingIndex {
            partial: true,
            predicate: Some("(b > 0)".into()),
            ..a.clone()
        };
        assert!(left_prefixes(&[partial, ab.clone()]).is_empty());
        let desc = ExistingIndex {
            descending: vec![true],
            ..a.clone()
        };
        assert!(left_prefixes(&[desc, ab.clone()]).is_empty());
        let ops = ExistingIndex {
            opclasses: vec!["int4_minmax_ops".into()],
            ..a.clone()
        };
        assert!(left_prefixes(&[ops, ab.clone()]).is_empty());
        let expr = ExistingIndex {
            columns: vec![None],
            ..a.clone()
        };
        assert!(left_prefixes(&[expr, ab.clone()]).is_empty());
        // Of two identical indexes, one.
        assert_eq!(
            left_prefixes(&[index("x2", &["a"]), index("x1", &["a"])]),
            vec![(0, 1)]
        );
        // An INCLUDE column the wider one lacks.
        let incl = ExistingIndex {
            included: vec![Some("c".into())],
            ..a
        };
        assert!(left_prefixes(&[incl, ab]).is_empty());
    }
}
