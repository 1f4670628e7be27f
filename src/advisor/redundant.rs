//! Existing indexes the query set does not need (the evidence of the
//! `redundant-index` rule), of two kinds:
//!
//! - a left prefix: a btree index whose key columns lead another valid
//!   btree index's on the same table with the same properties serves
//!   nothing the wider one does not;
//! - unused: no plan of the set uses the index (neither unique nor backing
//!   a constraint, valid, on a table the plans read).
//!
//! A partitioned table's indexes are looked at on it, with the scans of
//! all its partitions: plans show its partitions' indexes, which go only
//! with it (PostgreSQL refuses to drop one alone); a partition's own
//! indexes are looked at on the partition.
//!
//! Promises: only the tables the plans read are looked at; every query that
//! reads the table is planned again without the index, and the finding is
//! verified only when no plan's cost rises: with HypoPG 1.4+
//! (`hypopg_hide_index`), else with `--confirm` by a real `DROP INDEX`
//! inside a transaction under `lock_timeout` that is always rolled back;
//! otherwise it is reported unverified, with the reason. The indexes of a
//! table already verified stay out while the next one is verified, so that
//! all the verified indexes of a table can be dropped together: of two
//! identical indexes, or a narrow one and a wide one that can stand in for
//! each other, one is verified, never both.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use super::catalog::ExistingIndex;
use super::model::Redundant;
use super::{AdvisorError, HypoPg, Input, Options, candidate::quote};
use crate::plan::{Node, node_path};
use crate::runner::Runner;

/// The indexes no plan uses (by name, as plans show them: a partitioned
/// index by its partitions' indexes), that could be dropped: valid,
/// neither unique nor backing a constraint nor attached to a partitioned
/// index.
pub fn unused(indexes: &[ExistingIndex], used: &BTreeSet<&str>) -> Vec<usize> {
    let is_used = |x: &ExistingIndex| {
        used.contains(x.name.as_str()) || x.leaves.iter().any(|(_, n)| used.contains(n.as_str()))
    };
    indexes
        .iter()
        .enumerate()
        .filter(|(_, x)| x.valid && !x.unique && !x.constraint && !x.attached && !is_used(x))
        .map(|(n, _)| n)
        .collect()
}

/// The pairs `(narrow, wide)` of indexes where `narrow` is redundant: its
/// key columns are a left prefix of `wide`'s, with the same opclasses,
/// collations, directions and predicate, neither unique nor backing a
/// constraint, both valid btree indexes on plain columns, and `narrow` not
/// attached to a partitioned index. Of two identical indexes, the one with
/// the later name is the redundant one.
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
        if !plain(narrow) || narrow.attached {
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

/// An index as it is left out: the oids HypoPG hides (a partitioned
/// index's are its partitions'), and `schema.name`.
type Out = (Vec<u32>, String);

/// The indexes a query set is planned without: the one being verified and
/// those of its table (with its partitions) verified before it.
struct Without<'a> {
    index: Out,
    verified: &'a [Out],
}

impl Without<'_> {
    fn all(&self) -> impl Iterator<Item = &Out> {
        self.verified.iter().chain(std::iter::once(&self.index))
    }

    fn oids(&self) -> Vec<u32> {
        self.all()
            .flat_map(|(oids, _)| oids.iter().copied())
            .collect()
    }

    /// `DROP INDEX` of them all.
    fn drop_statement(&self) -> String {
        let names: Vec<&str> = self.all().map(|(_, name)| name.as_str()).collect();
        format!("DROP INDEX {}", names.join(", "))
    }

    /// Why the index is not verified redundant when planning query `id`
    /// without them costs `after` where it cost `before`: its cost rose,
    /// or a plan failed; None when nothing rose.
    fn cost_rise(&self, id: &str, before: Option<f64>, after: Option<f64>) -> Option<String> {
        let without = if self.verified.is_empty() {
            "without it".to_owned()
        } else {
            let others: Vec<&str> = self.verified.iter().map(|(_, n)| n.as_str()).collect();
            format!(
                "without it and {} (verified redundant before it)",
                others.join(", ")
            )
        };
        match (before, after) {
            (Some(before), Some(after)) if after > before * (1.0 + 1e-9) => Some(format!(
                "not verified: {without}, the planner cost of {id} rises {before:.2} -> {after:.2}"
            )),
            (Some(_), Some(_)) => None,
            _ => Some(format!("not verified: planning {id} again failed")),
        }
    }
}

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
    // A partition's scans are its partitioned table's too, where the
    // partitioned indexes are.
    let mut roots: BTreeMap<(Option<String>, String), Scans> = BTreeMap::new();
    for ((schema, name), scans) in &read {
        if let Some(relation) = catalog.get(client, schema.as_deref(), name).await?
            && let Some((root_schema, root)) = &relation.partition_root
        {
            roots
                .entry((Some(root_schema.clone()), root.clone()))
                .or_default()
                .extend(scans.iter().cloned());
        }
    }
    for (root, mut scans) in roots {
        scans.sort_by_key(|(i, _)| *i);
        read.entry(root).or_default().extend(scans);
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
    // The indexes verified so far, left out with the next one of their
    // table, by table (a partitioned one with its partitions).
    let mut verified: BTreeMap<(String, String), Vec<Out>> = BTreeMap::new();
    for ((schema, name), scans) in read {
        let Some(relation) = catalog
            .get(client, schema.as_deref(), &name)
            .await?
            .cloned()
        else {
            continue;
        };
        let verified = verified
            .entry(
                relation
                    .partition_root
                    .clone()
                    .unwrap_or_else(|| (relation.schema.clone(), relation.name.clone())),
            )
            .or_default();
        let prefixes = left_prefixes(&relation.indexes);
        let mut kinds: Vec<(usize, Option<usize>)> =
            prefixes.iter().map(|(n, w)| (*n, Some(*w))).collect();
        // An index that covers a left prefix stays: dropping both would
        // leave the prefix's queries (beyond the set too) without either,
        // the opposite of what "covered by" says. A later run finds it
        // unused, if it still is, once the prefix is gone.
        kinds.extend(
            unused(&relation.indexes, &used)
                .into_iter()
                .filter(|n| !prefixes.iter().any(|(p, w)| p == n || w == n))
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
            let oids = if narrow.leaves.is_empty() {
                vec![narrow.oid]
            } else {
                narrow.leaves.iter().map(|(oid, _)| *oid).collect()
            };
            let without = Without {
                index: (oids, qualified(narrow)),
                verified,
            };
            let (reason, verified_by) = match hide {
                Ok(()) => (
                    verify(runner, client, inputs, &scans, &without, &mut costs_before).await?,
                    "hypopg_hide_index",
                ),
                Err(_) if options.confirm => (
                    confirm_drop(
                        runner,
                        client,
                        inputs,
                        &scans,
                        &relation.qualified(),
                        &without,
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
            if reason.is_none() {
                verified.push(without.index);
            }
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
                // PostgreSQL cannot drop a partitioned index concurrently.
                ddl_drop: if narrow.leaves.is_empty() {
                    format!("DROP INDEX CONCURRENTLY IF EXISTS {};", qualified(narrow))
                } else {
                    format!("DROP INDEX IF EXISTS {};", qualified(narrow))
                },
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

/// `--confirm` without `hypopg_hide_index`: drops the index (and those of
/// its table verified before it) for real in a transaction under
/// `lock_timeout`, plans every query that reads the table, and rolls back
/// ([`super::confirm::plan_without_index`]). None when no plan's cost
/// rises, else why it is not verified. Only the table's owner may drop its
/// index: anyone else gets the reason before any transaction.
async fn confirm_drop(
    runner: &Runner,
    client: &Client,
    inputs: &[Input<'_>],
    scans: &[(usize, String)],
    table: &str,
    without: &Without<'_>,
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
    let after =
        match super::confirm::plan_without_index(runner, &jobs, client, &without.drop_statement())
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
        if let Some(why) = without.cost_rise(&inputs[i].job.id, before, after) {
            return Ok(Some(why));
        }
    }
    Ok(None)
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
        .query_opt(
            "SELECT e.extversion::text, n.nspname::text,
                    to_regproc('hypopg_hide_index') IS NOT NULL,
                    EXISTS (SELECT 1 FROM pg_proc p
                             WHERE p.pronamespace = e.extnamespace AND p.proname = 'hypopg_hide_index'),
                    (SELECT a.default_version::text FROM pg_available_extensions a
                      WHERE a.name = 'hypopg')
               FROM pg_extension e
               JOIN pg_namespace n ON n.oid = e.extnamespace
              WHERE e.extname = 'hypopg'",
            &[],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Err(
            "not verified: the hypopg extension (1.4 or later) is not installed, so no query was planned without the index"
                .to_owned(),
        ));
    };
    Ok(hide_verdict(&Installed {
        version: row.try_get(0)?,
        schema: row.try_get(1)?,
        visible: row.try_get(2)?,
        in_schema: row.try_get(3)?,
        available: row.try_get(4)?,
    }))
}

/// The installed hypopg extension, as [`hide_ready`] finds it.
struct Installed {
    version: String,
    schema: String,
    /// `hypopg_hide_index` is found on the session's search_path.
    visible: bool,
    /// `hypopg_hide_index` is in the extension's schema.
    in_schema: bool,
    /// The version `CREATE EXTENSION` would install on this server.
    available: Option<String>,
}

/// Ok when the installed HypoPG can hide an index, else why not, with what
/// would make it able to.
fn hide_verdict(x: &Installed) -> Result<(), String> {
    let v = &x.version;
    if x.visible {
        Ok(())
    } else if x.in_schema {
        Err(format!(
            "not verified: HypoPG {v} is installed in schema {}, which is not on the session's search_path, so no query was planned without the index",
            x.schema
        ))
    } else {
        let update = match &x.available {
            Some(a) if at_least_1_4(a) => {
                format!("; this server has {a}: ALTER EXTENSION hypopg UPDATE adds it")
            }
            _ => String::new(),
        };
        Err(format!(
            "not verified: the installed HypoPG {v} has no hypopg_hide_index (1.4 or later has){update}, so no query was planned without the index"
        ))
    }
}

/// A HypoPG version (`1.4.0`, `2.0.0beta`) is 1.4 or later.
fn at_least_1_4(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    });
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (1, 4)
}

/// Plans every query that reads the table with the index (and those of
/// its table verified before it) hidden: None when no plan's cost rises,
/// else why it is not verified.
async fn verify(
    runner: &Runner,
    client: &Client,
    inputs: &[Input<'_>],
    scans: &[(usize, String)],
    without: &Without<'_>,
    costs_before: &mut BTreeMap<usize, Option<f64>>,
) -> Result<Option<String>, AdvisorError> {
    let oids = without.oids();
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
            .query(
                "SELECT hypopg_hide_index(o) FROM unnest($1::oid[]) o",
                &[&oids],
            )
            .await?;
        let after = plan_cost(runner, client, inputs, i).await;
        client
            .query(
                "SELECT hypopg_unhide_index(o) FROM unnest($1::oid[]) o",
                &[&oids],
            )
            .await?;
        if let Some(why) = without.cost_rise(&inputs[i].job.id, before, after) {
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
    fn an_index_is_planned_without_with_those_verified_before_it() {
        let before = [(vec![1], "public.t_a_2".to_owned())];
        let alone = Without {
            index: (vec![2], "public.t_b".into()),
            verified: &[],
        };
        // A partitioned index: its partitions' indexes are hidden.
        let with = Without {
            index: (vec![3, 4], "public.t_a_1".into()),
            verified: &before,
        };
        assert_eq!(alone.oids(), vec![2]);
        assert_eq!(with.oids(), vec![1, 3, 4]);
        assert_eq!(alone.drop_statement(), "DROP INDEX public.t_b");
        assert_eq!(
            with.drop_statement(),
            "DROP INDEX public.t_a_2, public.t_a_1"
        );
        assert_eq!(alone.cost_rise("q", Some(10.0), Some(10.0)), None);
        assert_eq!(with.cost_rise("q", Some(10.0), Some(9.0)), None);
        assert_eq!(
            alone.cost_rise("q", Some(10.0), Some(12.5)).as_deref(),
            Some("not verified: without it, the planner cost of q rises 10.00 -> 12.50")
        );
        assert_eq!(
            with.cost_rise("q", Some(10.0), Some(12.5)).as_deref(),
            Some(
                "not verified: without it and public.t_a_2 (verified redundant before it), the planner cost of q rises 10.00 -> 12.50"
            )
        );
        assert_eq!(
            with.cost_rise("q", Some(10.0), None).as_deref(),
            Some("not verified: planning q again failed")
        );
    }

    #[test]
    fn hypopg_hides_from_1_4_and_the_reason_says_what_would_help() {
        let installed = |version: &str, visible, in_schema, available: Option<&str>| Installed {
            version: version.into(),
            schema: "ext".into(),
            visible,
            in_schema,
            available: available.map(Into::into),
        };
        assert_eq!(
            hide_verdict(&installed("1.4.0", true, true, Some("1.4.0"))),
            Ok(())
        );
        assert_eq!(
            hide_verdict(&installed("1.4.0", false, true, Some("1.4.0"))),
            Err("not verified: HypoPG 1.4.0 is installed in schema ext, which is not on the session's search_path, so no query was planned without the index".into())
        );
        assert_eq!(
            hide_verdict(&installed("1.3.1", false, false, Some("1.4.0"))),
            Err("not verified: the installed HypoPG 1.3.1 has no hypopg_hide_index (1.4 or later has); this server has 1.4.0: ALTER EXTENSION hypopg UPDATE adds it, so no query was planned without the index".into())
        );
        assert_eq!(
            hide_verdict(&installed("1.3.1", false, false, Some("1.3.1"))),
            Err("not verified: the installed HypoPG 1.3.1 has no hypopg_hide_index (1.4 or later has), so no query was planned without the index".into())
        );
        assert!(at_least_1_4("1.4.0") && at_least_1_4("1.4") && at_least_1_4("2.0.0beta"));
        assert!(at_least_1_4("1.10.0"));
        assert!(!at_least_1_4("1.3.1") && !at_least_1_4("0.9") && !at_least_1_4(""));
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
        // A partition's index attached to a partitioned index goes only
        // with its parent.
        let attached = ExistingIndex {
            attached: true,
            ..a.clone()
        };
        assert!(left_prefixes(&[attached, ab.clone()]).is_empty());
        // An INCLUDE column the wider one lacks.
        let incl = ExistingIndex {
            included: vec![Some("c".into())],
            ..a
        };
        assert!(left_prefixes(&[incl, ab]).is_empty());
    }

    #[test]
    fn an_index_no_plan_uses_is_unused_and_a_partitioned_one_by_its_partitions() {
        let used: BTreeSet<&str> = ["t_a", "t_1_b_idx"].into();
        let partitioned = |name: &str, leaves: &[&str]| ExistingIndex {
            leaves: leaves
                .iter()
                .enumerate()
                .map(|(n, l)| (n as u32 + 100, l.to_string()))
                .collect(),
            ..index(name, &["b"])
        };
        let indexes = [
            index("t_a", &["a"]),
            index("t_c", &["c"]),
            ExistingIndex {
                unique: true,
                ..index("t_d", &["d"])
            },
            ExistingIndex {
                attached: true,
                ..index("t_1_e_idx", &["e"])
            },
            partitioned("t_b", &["t_1_b_idx", "t_2_b_idx"]),
            partitioned("t_f", &["t_1_f_idx", "t_2_f_idx"]),
        ];
        assert_eq!(unused(&indexes, &used), vec![1, 5]);
    }
}
