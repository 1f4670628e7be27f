//! The most likely cause of a regression, found by comparing the baseline's
//! recorded environment with the one observed now.
//!
//! Checked in this order, the first hit wins: an index of a relation in the
//! plan was dropped or became invalid; a planner setting changed; a table
//! grew or shrank past 2x (`pg_class.reltuples`, else `relpages`); its
//! statistics are stale (more rows changed since the last analyze than
//! autovacuum's default trigger, 50 + 10% of the table: PostgreSQL docs,
//! "The Autovacuum Daemon") or were re-analyzed; the server version
//! changed. Relations named by the finding come first.

use std::collections::{BTreeMap, BTreeSet};

use crate::baseline::{Environment, RelationInfo};
use crate::plan::Plan;

use super::Context;
use super::context::nodes;

/// A table must have grown or shrunk by this factor to be named.
const SIZE_FACTOR: f64 = 2.0;

/// A likely cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// A short machine string: `index-dropped`, `index-invalid`,
    /// `setting-changed`, `table-grew`, `table-shrank`, `statistics-stale`,
    /// `statistics-reanalyzed`, `server-version-changed`.
    pub code: &'static str,
    /// One phrase for people, e.g. `index orders_customer_id_idx on
    /// public.orders was dropped`.
    pub detail: String,
    /// What would undo it, when that is clear.
    pub fix: Option<String>,
}

/// Names the most likely cause of a regression on `ctx`'s query, looking
/// at `focus` (the finding's relation) before the other relations of both
/// plans. None without a baseline or when nothing recorded changed.
pub fn likely_cause(ctx: &Context, focus: Option<&str>) -> Option<Cause> {
    let baseline = ctx.baseline?;
    let relations = relations_of(focus, baseline.plan, ctx.plan);
    let then = &baseline.record.environment;
    if let Some(now) = ctx.now.environment {
        let used = used_indexes(baseline.plan);
        if let Some(cause) = index_change(then, now, &relations, &used) {
            return Some(cause);
        }
    }
    if let Some(cause) = ctx
        .settings_now()
        .and_then(|now| setting_change(&baseline.record.settings, now))
    {
        return Some(cause);
    }
    if let Some(now) = ctx.now.environment {
        for check in [size_change, stale_statistics, reanalyzed] {
            for name in &relations {
                for (key, old, new) in entries(then, now, name) {
                    if let Some(cause) = check(key, old, new) {
                        return Some(cause);
                    }
                }
            }
        }
    }
    let old = baseline.record.server_version.as_str();
    match ctx.now.server_version {
        Some(new) if !old.is_empty() && new != old => Some(Cause {
            code: "server-version-changed",
            detail: format!("the server version changed from {old} to {new}"),
            fix: Some(
                "Run ANALYZE on the tables involved (statistics are not carried over by pg_upgrade) and re-record the baseline once the plan is confirmed".into(),
            ),
        }),
        _ => None,
    }
}

/// Relation names of both plans, `focus` first, without repeats.
fn relations_of(focus: Option<&str>, baseline: &Plan, current: Option<&Plan>) -> Vec<String> {
    let mut out: Vec<String> = focus.map(str::to_owned).into_iter().collect();
    let current_nodes = current.map(|p| nodes(&p.root)).unwrap_or_default();
    for (_, node) in nodes(&baseline.root).into_iter().chain(current_nodes) {
        if let Some(rel) = &node.relation_name {
            if !out.contains(rel) {
                out.push(rel.clone());
            }
        }
    }
    out
}

fn used_indexes(plan: &Plan) -> BTreeSet<String> {
    nodes(&plan.root)
        .into_iter()
        .filter_map(|(_, n)| n.index_name.clone())
        .collect()
}

/// The environment entries for a relation named as the plan names it
/// (`orders`, or `public.orders` with VERBOSE): keys are `schema.name`.
fn entries<'e>(
    then: &'e Environment,
    now: &'e Environment,
    name: &str,
) -> Vec<(&'e str, &'e RelationInfo, &'e RelationInfo)> {
    let suffix = format!(".{name}");
    then.relations
        .iter()
        .filter(|(key, _)| *key == name || key.ends_with(&suffix))
        .filter_map(|(key, old)| now.relations.get(key).map(|new| (key.as_str(), old, new)))
        .collect()
}

fn index_change(
    then: &Environment,
    now: &Environment,
    relations: &[String],
    used: &BTreeSet<String>,
) -> Option<Cause> {
    let mut dropped = Vec::new();
    let mut invalid = Vec::new();
    for name in relations {
        for (key, old, new) in entries(then, now, name) {
            for (index, info) in &old.indexes {
                match new.indexes.get(index) {
                    None => dropped.push((used.contains(index), key, index, &info.definition)),
                    Some(now_info) if info.valid && !now_info.valid => {
                        invalid.push((used.contains(index), key, index));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    // Only an index the baseline plan used can have changed it: dropping an
    // index the planner did not choose leaves the chosen plan available
    // at the same cost.
    dropped.retain(|d| d.0);
    invalid.retain(|d| d.0);
    if let Some((_, key, index, definition)) = dropped.first() {
        return Some(Cause {
            code: "index-dropped",
            detail: format!("index {index} on {key} was dropped"),
            fix: Some(format!("Recreate the index: {definition}")),
        });
    }
    invalid.first().map(|(_, key, index)| Cause {
        code: "index-invalid",
        detail: format!("index {index} on {key} is now invalid"),
        fix: Some(format!(
            "Rebuild the index: REINDEX INDEX CONCURRENTLY {index} (an invalid index is left by a failed CREATE INDEX CONCURRENTLY)"
        )),
    })
}

fn setting_change(
    then: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Option<Cause> {
    let names: BTreeSet<&String> = then.keys().chain(now.keys()).collect();
    let changed: Vec<String> = names
        .into_iter()
        .filter(|n| then.get(*n) != now.get(*n))
        .map(|n| {
            let show = |v: Option<&String>| v.map_or("the default".to_owned(), Clone::clone);
            format!(
                "{n} changed from {} to {}",
                show(then.get(n)),
                show(now.get(n))
            )
        })
        .collect();
    let first = changed.first()?;
    let detail = if changed.len() > 1 {
        format!("planner setting {first} (and {} more)", changed.len() - 1)
    } else {
        format!("planner setting {first}")
    };
    Some(Cause {
        code: "setting-changed",
        detail,
        fix: Some(
            "Restore the setting where it was changed (postgresql.conf, ALTER SYSTEM, ALTER DATABASE or ALTER ROLE ... SET)".into(),
        ),
    })
}

fn size_change(key: &str, old: &RelationInfo, new: &RelationInfo) -> Option<Cause> {
    let (unit, before, after) = if old.reltuples > 0.0 && new.reltuples > 0.0 {
        ("rows", old.reltuples, new.reltuples)
    } else if old.relpages > 0 && new.relpages > 0 {
        ("pages", old.relpages as f64, new.relpages as f64)
    } else {
        return None;
    };
    let ratio = after / before;
    let (code, verb, factor) = if ratio >= SIZE_FACTOR {
        ("table-grew", "grew", ratio)
    } else if ratio <= 1.0 / SIZE_FACTOR {
        ("table-shrank", "shrank", 1.0 / ratio)
    } else {
        return None;
    };
    Some(Cause {
        code,
        detail: format!(
            "{key} {verb} from {} to {} {unit} ({factor:.1}x)",
            before.round(),
            after.round()
        ),
        fix: None,
    })
}

fn stale_statistics(key: &str, _old: &RelationInfo, new: &RelationInfo) -> Option<Cause> {
    // The table is larger than its statistics say (a bulk load since the
    // last ANALYZE): seen at once, while n_mod_since_analyze is reported
    // by the statistics system with a delay.
    if let Some(pages) = new.pages {
        let described = new.relpages.max(0) as f64;
        if pages as f64 > described * 1.2 + 10.0 {
            return Some(Cause {
                code: "statistics-stale",
                detail: format!(
                    "statistics of {key} are stale: it has {pages} pages now, its statistics describe {described} (rows were added since the last analyze)"
                ),
                fix: Some(format!("ANALYZE {key}")),
            });
        }
    }
    let changed = new.n_mod_since_analyze? as f64;
    let never = new.last_analyze.is_none() && new.last_autoanalyze.is_none();
    let trigger = 50.0 + 0.1 * new.reltuples.max(0.0);
    if changed <= trigger && !(never && changed > 0.0) {
        return None;
    }
    let detail = if never {
        format!("statistics of {key} are missing: it was never analyzed and {changed} rows changed")
    } else {
        format!(
            "statistics of {key} are stale: {changed} rows changed since the last analyze (it had {} rows)",
            new.reltuples.max(0.0).round()
        )
    };
    Some(Cause {
        code: "statistics-stale",
        detail,
        fix: Some(format!("ANALYZE {key}")),
    })
}

fn reanalyzed(key: &str, old: &RelationInfo, new: &RelationInfo) -> Option<Cause> {
    let last = |r: &RelationInfo| {
        [&r.last_analyze, &r.last_autoanalyze]
            .into_iter()
            .flatten()
            .max()
            .cloned()
    };
    let (before, after) = (last(old), last(new));
    if after.is_none() || before == after {
        return None;
    }
    Some(Cause {
        code: "statistics-reanalyzed",
        detail: format!(
            "statistics of {key} were re-analyzed (last analyze {} then, {} now)",
            before.as_deref().unwrap_or("never"),
            after.as_deref().unwrap_or("never")
        ),
        fix: Some(format!(
            "Compare the column statistics (pg_stats) of {key}; raise the statistics target of skewed columns or add extended statistics"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::IndexInfo;

    fn rel(reltuples: f64, indexes: &[(&str, bool)]) -> RelationInfo {
        RelationInfo {
            reltuples,
            relpages: (reltuples / 100.0) as i64,
            last_analyze: Some("2024-01-01T00:00:00Z".into()),
            n_mod_since_analyze: Some(0),
            indexes: indexes
                .iter()
                .map(|(n, valid)| {
                    (
                        n.to_string(),
                        IndexInfo {
                            definition: format!("CREATE INDEX {n} ON public.orders (x)"),
                            valid: *valid,
                        },
                    )
                })
                .collect(),
            ..RelationInfo::default()
        }
    }

    fn env(info: RelationInfo) -> Environment {
        Environment {
            relations: [("public.orders".to_owned(), info)].into(),
        }
    }

    #[test]
    fn a_dropped_index_is_named_with_its_definition() {
        let then = env(rel(1000.0, &[("a_idx", true), ("b_idx", true)]));
        let now = env(rel(1000.0, &[("a_idx", true)]));
        let used = ["b_idx".to_owned()].into();
        let cause = index_change(&then, &now, &["orders".into()], &used).unwrap();
        assert_eq!(cause.code, "index-dropped");
        assert_eq!(cause.detail, "index b_idx on public.orders was dropped");
        assert_eq!(
            cause.fix.unwrap(),
            "Recreate the index: CREATE INDEX b_idx ON public.orders (x)"
        );
    }

    #[test]
    fn an_invalid_index_is_named() {
        let then = env(rel(1000.0, &[("a_idx", true)]));
        let now = env(rel(1000.0, &[("a_idx", false)]));
        let used = ["a_idx".to_owned()].into();
        let cause = index_change(&then, &now, &["orders".into()], &used).unwrap();
        assert_eq!(cause.code, "index-invalid");
    }

    #[test]
    fn an_index_the_baseline_plan_did_not_use_is_not_a_cause() {
        // Regression test: a query on orders was blamed on a dropped index
        // it never used while its real cause was a bulk load.
        let then = env(rel(1000.0, &[("a_idx", true), ("b_idx", true)]));
        let now = env(rel(1000.0, &[("a_idx", true)]));
        let used = ["a_idx".to_owned()].into();
        assert_eq!(index_change(&then, &now, &["orders".into()], &used), None);
    }

    #[test]
    fn settings_name_old_and_new_values() {
        let then = BTreeMap::new();
        let now = [("enable_indexscan".to_owned(), "off".to_owned())].into();
        let cause = setting_change(&then, &now).unwrap();
        assert_eq!(
            cause.detail,
            "planner setting enable_indexscan changed from the default to off"
        );
        assert!(setting_change(&now, &now).is_none());
    }

    #[test]
    fn sizes_past_twice_are_named_with_numbers() {
        let c = size_change("public.orders", &rel(1000.0, &[]), &rel(50_000.0, &[])).unwrap();
        assert_eq!(c.code, "table-grew");
        assert_eq!(
            c.detail,
            "public.orders grew from 1000 to 50000 rows (50.0x)"
        );
        let c = size_change("public.orders", &rel(1000.0, &[]), &rel(400.0, &[])).unwrap();
        assert_eq!(c.code, "table-shrank");
        assert!(size_change("public.orders", &rel(1000.0, &[]), &rel(1500.0, &[])).is_none());
    }

    #[test]
    fn stale_statistics_follow_autovacuums_trigger() {
        let mut now = rel(1000.0, &[]);
        now.n_mod_since_analyze = Some(140);
        assert!(stale_statistics("t", &now, &now).is_none());
        now.n_mod_since_analyze = Some(200_000);
        let c = stale_statistics("t", &now, &now).unwrap();
        assert_eq!(c.code, "statistics-stale");
        now.last_analyze = None;
        now.reltuples = -1.0;
        now.n_mod_since_analyze = Some(10);
        assert!(
            stale_statistics("t", &now, &now)
                .unwrap()
                .detail
                .contains("never analyzed")
        );
    }
}
