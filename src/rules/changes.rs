//! What changed between the baseline's recorded environment and today's,
//! as data ([`Change`]), and which of those changes explain a finding
//! ([`causes_of`]), by mechanism.
//!
//! A change is blamed only when it touches the finding's node or subtree,
//! or a setting that kind of node depends on:
//!
//! - `disk-spill` ← `work_mem`, `hash_mem_multiplier`,
//!   `maintenance_work_mem`; more rows reaching the node (a table in its
//!   subtree grew, or its statistics are stale: a misestimate below it);
//! - `row-misestimate` ← stale, re-analyzed, grown or shrunk statistics of a
//!   table in its subtree;
//! - `index-lost` and a new `seq-scan` ← the index the baseline used was
//!   dropped or is invalid, a scan setting (`enable_*`, `*_cost`,
//!   `effective_cache_size`) changed, the table's size or statistics
//!   changed;
//! - `cost-jump`, `time-regression`, `buffers-regression`, `plan-changed` ←
//!   the changes that touch the relations of the nodes that changed (or,
//!   with the same shape, of every node), and planner settings.
//!
//! A server upgrade is named last, and only for findings about the plan's
//! shape or cost. Causes are listed most specific first.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::baseline::{Environment, RelationInfo};
use crate::plan::{Node, Plan};

use super::context::nodes;
use super::{Context, Finding};

/// A table must have grown or shrunk by this factor to be named.
const SIZE_FACTOR: f64 = 2.0;

/// One recorded difference between the baseline's environment and now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Stable across runs: `<kind>:<object>`, e.g.
    /// `index-dropped:public.orders_customer_id_idx`.
    pub id: String,
    /// `index-dropped`, `index-invalid`, `index-added`, `setting-changed`,
    /// `table-grew`, `table-shrank`, `table-bloated`, `stats-stale`,
    /// `stats-reanalyzed`, `server-version`.
    pub kind: String,
    /// What changed, schema-qualified: an index, a table, a setting name,
    /// `server`.
    pub object: String,
    /// The value before (an index definition, a setting, a row count...).
    pub before: Option<String>,
    /// The value now.
    pub after: Option<String>,
    /// One phrase for people.
    pub detail: String,
    /// What would undo it, when that is clear.
    pub fix: Option<String>,
    /// The table it is about (`schema.name`), for attribution.
    #[serde(skip)]
    pub relation: Option<String>,
}

impl Change {
    fn new(kind: &str, object: &str, detail: String) -> Change {
        Change {
            id: format!("{kind}:{object}"),
            kind: kind.to_owned(),
            object: object.to_owned(),
            before: None,
            after: None,
            detail,
            fix: None,
            relation: None,
        }
    }

    fn values(mut self, before: Option<String>, after: Option<String>) -> Change {
        self.before = before;
        self.after = after;
        self
    }

    fn on(mut self, relation: &str) -> Change {
        self.relation = Some(relation.to_owned());
        self
    }

    fn fix(mut self, fix: impl Into<String>) -> Change {
        self.fix = Some(fix.into());
        self
    }

    /// How specific a cause of this kind is: lower first.
    fn rank(&self) -> u8 {
        match self.kind.as_str() {
            "index-dropped" | "index-invalid" => 0,
            "setting-changed" => 1,
            "stats-stale" => 2,
            "table-bloated" => 3,
            "table-grew" | "table-shrank" => 4,
            "stats-reanalyzed" => 5,
            "index-added" => 6,
            _ => 7,
        }
    }
}

/// Every recorded change of the query's relations, settings and server
/// since its baseline; empty without a baseline or without today's
/// environment (settings and version are still compared).
pub fn changes(ctx: &Context) -> Vec<Change> {
    let Some(baseline) = ctx.baseline else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let relations = relations_of(&baseline.plan.root, ctx.plan.map(|p| &p.root));
    if let Some(now) = ctx.now.environment {
        let then = &baseline.record.environment;
        for name in &relations {
            for (key, old, new) in entries(then, now, name) {
                index_changes(key, old, new, &mut out);
                if let Some(c) = size_change(key, old, new) {
                    out.push(c);
                }
                if let Some(c) = bloat(key, old, new) {
                    out.push(c);
                }
                if let Some(c) = stale_statistics(key, old, new, &baseline.record.recorded_at) {
                    out.push(c);
                } else if let Some(c) = reanalyzed(key, old, new) {
                    out.push(c);
                }
            }
        }
    }
    if let Some(now) = ctx.settings_now() {
        setting_changes(&baseline.record.settings, now, &mut out);
    }
    let old = baseline.record.server_version.as_str();
    if let Some(new) = ctx.now.server_version
        && !old.is_empty()
        && new != old
    {
        out.push(
            Change::new(
                "server-version",
                "server",
                format!("the server version changed from {old} to {new}"),
            )
            .values(Some(old.to_owned()), Some(new.to_owned()))
            .fix("Run ANALYZE on the tables involved (statistics are not carried over by pg_upgrade) and re-record the baseline once the plan is confirmed"),
        );
    }
    let mut seen = BTreeSet::new();
    out.retain(|c| seen.insert(c.id.clone()));
    out
}

/// The changes among `all` that explain `finding`, most specific first.
///
/// `spilled`: a node of the query spilled to disk, so a memory setting can
/// explain its cost and time, not only its `disk-spill` findings.
pub fn causes_of<'c>(
    finding: &Finding,
    ctx: &Context,
    all: &'c [Change],
    spilled: bool,
) -> Vec<&'c Change> {
    let Some(baseline) = ctx.baseline else {
        return Vec::new();
    };
    let current = ctx.plan;
    let at: Option<&Node> = finding
        .node
        .as_ref()
        .and_then(|n| current.and_then(|p| node_at(&p.root, &n.path)));
    // The relations the finding's node reads, itself and below; for a
    // node that names none (a Bitmap Index Scan), its nearest ancestor's.
    let subtree: BTreeSet<String> = match (at, &finding.node, current) {
        (Some(node), Some(at), Some(plan)) => {
            let mut rels = relations_of(node, None);
            let mut path = at.path.as_str();
            while rels.is_empty() {
                let Some((up, _)) = path.rsplit_once('.') else {
                    break;
                };
                path = up;
                if let Some(ancestor) = node_at(&plan.root, path) {
                    rels = relations_of(ancestor, None);
                }
            }
            rels
        }
        _ => changed_relations(baseline.plan, current),
    };
    let used = used_indexes(baseline.plan);
    let touches = |c: &Change| {
        c.relation
            .as_deref()
            .is_some_and(|r| subtree.iter().any(|name| same_relation(r, name)))
    };
    let scan_setting = |name: &str| {
        name.starts_with("enable_")
            || name.ends_with("_cost")
            || name == "effective_cache_size"
            || name == "default_statistics_target"
    };
    let memory_setting = |name: &str| {
        matches!(
            name,
            "work_mem" | "hash_mem_multiplier" | "maintenance_work_mem"
        )
    };
    let index_used = |c: &Change| {
        let name = c.object.rsplit('.').next().unwrap_or(&c.object);
        used.contains(name)
    };
    let mut causes: Vec<&Change> = all
        .iter()
        .filter(|c| {
            let kind = c.kind.as_str();
            match finding.rule.as_str() {
                "disk-spill" => {
                    (kind == "setting-changed" && memory_setting(&c.object))
                        || (matches!(kind, "table-grew" | "stats-stale") && touches(c))
                }
                "row-misestimate" => {
                    matches!(
                        kind,
                        "stats-stale" | "stats-reanalyzed" | "table-grew" | "table-shrank"
                    ) && touches(c)
                }
                "index-lost" | "seq-scan" => match kind {
                    "index-dropped" | "index-invalid" => touches(c) && index_used(c),
                    "setting-changed" => scan_setting(&c.object),
                    "table-grew" | "table-shrank" | "table-bloated" | "stats-stale"
                    | "stats-reanalyzed" => touches(c),
                    _ => false,
                },
                // A plan that reads more each run: the tables under it
                // grew, bloated or have statistics that lag behind.
                "time-drift" | "buffers-drift" => {
                    matches!(
                        kind,
                        "table-grew" | "table-bloated" | "stats-stale" | "stats-reanalyzed"
                    ) && touches(c)
                }
                "cost-jump" | "time-regression" | "buffers-regression" | "plan-changed" => {
                    match kind {
                        "index-dropped" | "index-invalid" => touches(c) && index_used(c),
                        "setting-changed" => spilled || !memory_setting(&c.object),
                        "server-version" => false,
                        _ => touches(c),
                    }
                }
                _ => false,
            }
        })
        .collect();
    let shape_rule = matches!(
        finding.rule.as_str(),
        "index-lost" | "plan-changed" | "cost-jump" | "seq-scan"
    );
    if causes.is_empty() && shape_rule {
        causes.extend(all.iter().filter(|c| c.kind == "server-version"));
    }
    causes.sort_by_key(|c| c.rank());
    causes
}

/// The node at a `0.1.0` path.
pub(super) fn node_at<'p>(root: &'p Node, path: &str) -> Option<&'p Node> {
    let mut node = root;
    for step in path.split('.').skip(1) {
        node = node.plans.get(step.parse::<usize>().ok()?)?;
    }
    Some(node)
}

/// Relations read by the nodes whose shape changed between the plans
/// (unmatched, or another node type or index); every relation of both
/// plans when the shape is the same.
fn changed_relations(baseline: &Plan, current: Option<&Plan>) -> BTreeSet<String> {
    let all = relations_of(&baseline.root, current.map(|p| &p.root));
    let Some(current) = current else {
        return all;
    };
    let matching = crate::plan::compare::match_nodes(baseline, current);
    let mut changed = BTreeSet::new();
    for pair in &matching.pairs {
        let (old, new) = (pair.old.node, pair.new.node);
        if old.node_type != new.node_type || old.index_name != new.index_name {
            changed.extend(relations_of(new, Some(old)));
        }
    }
    if changed.is_empty() { all } else { changed }
}

/// Relation names read at or below `a` (and `b`).
fn relations_of(a: &Node, b: Option<&Node>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for root in std::iter::once(a).chain(b) {
        for (_, node) in nodes(root) {
            if let Some(rel) = &node.relation_name {
                out.insert(match &node.schema {
                    Some(schema) => format!("{schema}.{rel}"),
                    None => rel.clone(),
                });
            }
        }
    }
    out
}

/// `public.orders` (an environment key) is the plan's `orders` or
/// `public.orders`.
fn same_relation(key: &str, name: &str) -> bool {
    key == name || key.ends_with(&format!(".{name}")) || name.ends_with(&format!(".{key}"))
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
    then.relations
        .iter()
        .filter(|(key, _)| same_relation(key, name))
        .filter_map(|(key, old)| now.relations.get(key).map(|new| (key.as_str(), old, new)))
        .collect()
}

/// `public.orders` and `orders_idx` give `public.orders_idx`.
fn qualified_index(table: &str, index: &str) -> String {
    match table.rsplit_once('.') {
        Some((schema, _)) => format!("{schema}.{index}"),
        None => index.to_owned(),
    }
}

fn index_changes(key: &str, old: &RelationInfo, new: &RelationInfo, out: &mut Vec<Change>) {
    for (index, info) in &old.indexes {
        let object = qualified_index(key, index);
        match new.indexes.get(index) {
            None => out.push(
                Change::new(
                    "index-dropped",
                    &object,
                    format!("index {index} on {key} was dropped"),
                )
                .values(Some(info.definition.clone()), None)
                .on(key)
                .fix(format!("Recreate the index: {}", info.definition)),
            ),
            Some(now) if info.valid && !now.valid => out.push(
                Change::new(
                    "index-invalid",
                    &object,
                    format!("index {index} on {key} is now invalid"),
                )
                .values(Some("valid".into()), Some("invalid".into()))
                .on(key)
                .fix(format!(
                    "Rebuild the index: REINDEX INDEX CONCURRENTLY {index} (an invalid index is left by a failed CREATE INDEX CONCURRENTLY)"
                )),
            ),
            Some(_) => {}
        }
    }
    for (index, info) in &new.indexes {
        if !old.indexes.contains_key(index) {
            out.push(
                Change::new(
                    "index-added",
                    &qualified_index(key, index),
                    format!("index {index} on {key} was added"),
                )
                .values(None, Some(info.definition.clone()))
                .on(key),
            );
        }
    }
}

fn setting_changes(
    then: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
    out: &mut Vec<Change>,
) {
    let names: BTreeSet<&String> = then.keys().chain(now.keys()).collect();
    for name in names {
        let (before, after) = (then.get(name), now.get(name));
        if before == after {
            continue;
        }
        let show = |v: Option<&String>| v.map_or("the default".to_owned(), Clone::clone);
        out.push(
            Change::new(
                "setting-changed",
                name,
                format!(
                    "planner setting {name} changed from {} to {}",
                    show(before),
                    show(after)
                ),
            )
            .values(before.cloned(), after.cloned())
            .fix("Restore the setting where it was changed (postgresql.conf, ALTER SYSTEM, ALTER DATABASE or ALTER ROLE ... SET)"),
        );
    }
}

fn size_change(key: &str, old: &RelationInfo, new: &RelationInfo) -> Option<Change> {
    let (unit, before, after) = if old.reltuples > 0.0 && new.reltuples > 0.0 {
        ("rows", old.reltuples, new.reltuples)
    } else if old.relpages > 0 && new.relpages > 0 {
        ("pages", old.relpages as f64, new.relpages as f64)
    } else {
        return None;
    };
    let ratio = after / before;
    let (kind, verb, factor) = if ratio >= SIZE_FACTOR {
        ("table-grew", "grew", ratio)
    } else if ratio <= 1.0 / SIZE_FACTOR {
        ("table-shrank", "shrank", 1.0 / ratio)
    } else {
        return None;
    };
    Some(
        Change::new(
            kind,
            key,
            format!(
                "{key} {verb} from {} to {} {unit} ({factor:.1}x)",
                before.round(),
                after.round()
            ),
        )
        .values(
            Some(format!("{} {unit}", before.round())),
            Some(format!("{} {unit}", after.round())),
        )
        .on(key),
    )
}

/// Pages grew while the rows did not (or rows went while the pages
/// stayed): fewer live rows per page, so every scan reads more.
fn bloat(key: &str, old: &RelationInfo, new: &RelationInfo) -> Option<Change> {
    let pages_now = new.pages.unwrap_or(new.relpages).max(new.relpages);
    if old.relpages <= 0 || old.reltuples <= 0.0 || new.reltuples < 0.0 || pages_now <= 0 {
        return None;
    }
    let density_then = old.reltuples / old.relpages as f64;
    let density_now = new.reltuples / pages_now as f64;
    // At most half as many live rows per page, no fewer pages, no more
    // rows: the pages hold dead space.
    let emptier = density_now * SIZE_FACTOR <= density_then;
    let rows_not_grown = new.reltuples <= old.reltuples * 1.2;
    if !(emptier && pages_now >= old.relpages && rows_not_grown) {
        return None;
    }
    Some(
        Change::new(
            "table-bloated",
            key,
            format!(
                "{key} is bloated: {pages_now} pages for {} rows, where the baseline had {} pages for {} rows",
                new.reltuples.round(),
                old.relpages,
                old.reltuples.round()
            ),
        )
        .values(
            Some(format!("{density_then:.1} rows per page")),
            Some(format!("{density_now:.1} rows per page")),
        )
        .on(key)
        .fix(format!(
            "Compact {key}: VACUUM FULL {key} (takes an exclusive lock) or pg_repack"
        )),
    )
}

/// Statistics that went stale since the baseline: what was already stale
/// then (the same pages, the same rows changed since the same analyze) is
/// no change.
fn stale_statistics(
    key: &str,
    old: &RelationInfo,
    new: &RelationInfo,
    recorded_at: &str,
) -> Option<Change> {
    // The table is larger than its statistics say (a bulk load since the
    // last ANALYZE): seen at once, while n_mod_since_analyze is reported
    // by the statistics system with a delay.
    let grew_since = |now: i64| match old.pages {
        Some(then) => now as f64 > then as f64 * 1.2 + 10.0,
        None => true,
    };
    if let Some(pages) = new.pages {
        let described = new.relpages.max(0);
        if pages as f64 > described as f64 * 1.2 + 10.0 && grew_since(pages) {
            return Some(
                Change::new(
                    "stats-stale",
                    key,
                    format!(
                        "statistics of {key} are stale: it has {pages} pages now, its statistics describe {described} (rows were added since the last analyze)"
                    ),
                )
                .values(
                    Some(format!("{described} pages described")),
                    Some(format!("{pages} pages")),
                )
                .on(key)
                .fix(format!("ANALYZE {key}")),
            );
        }
    }
    let same_analyze =
        old.last_analyze == new.last_analyze && old.last_autoanalyze == new.last_autoanalyze;
    if same_analyze && counts_may_lag(old, recorded_at) {
        return None;
    }
    // Rows changed since the baseline when no ANALYZE ran in between (the
    // counter may hold changes reported after that ANALYZE already).
    let then = if same_analyze {
        old.n_mod_since_analyze.unwrap_or(0)
    } else {
        0
    };
    let changed = (new.n_mod_since_analyze? - then).max(0) as f64;
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
    Some(
        Change::new("stats-stale", key, detail)
            .values(None, Some(format!("{changed} rows changed")))
            .on(key)
            .fix(format!("ANALYZE {key}")),
    )
}

/// A backend reports its row counts up to ten seconds late
/// (PGSTAT_IDLE_INTERVAL in pgstat.c): a baseline recorded within that
/// time of the last ANALYZE may lack rows changed before it, which then
/// arrive as if changed since. Its counter says nothing then.
fn counts_may_lag(old: &RelationInfo, recorded_at: &str) -> bool {
    let parse = |t: &str| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok();
    let last = [&old.last_analyze, &old.last_autoanalyze]
        .into_iter()
        .flatten()
        .filter_map(|t| parse(t))
        .max();
    match (last, parse(recorded_at)) {
        // recorded_at has whole seconds: it may read before the ANALYZE.
        (Some(analyzed), Some(recorded)) => recorded
            .duration_since(analyzed)
            .map_or(true, |gap| gap < std::time::Duration::from_secs(15)),
        _ => false,
    }
}

fn reanalyzed(key: &str, old: &RelationInfo, new: &RelationInfo) -> Option<Change> {
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
    Some(
        Change::new(
            "stats-reanalyzed",
            key,
            format!(
                "statistics of {key} were re-analyzed (last analyze {} then, {} now)",
                before.as_deref().unwrap_or("never"),
                after.as_deref().unwrap_or("never")
            ),
        )
        .values(before, after)
        .on(key)
        .fix(format!(
            "Compare the column statistics (pg_stats) of {key}; raise the statistics target of skewed columns or add extended statistics"
        )),
    )
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

    fn kinds(changes: &[Change]) -> Vec<(&str, &str)> {
        changes
            .iter()
            .map(|c| (c.kind.as_str(), c.object.as_str()))
            .collect()
    }

    #[test]
    fn indexes_dropped_invalid_and_added_are_changes_with_definitions() {
        let mut out = Vec::new();
        let then = rel(1000.0, &[("a_idx", true), ("b_idx", true)]);
        let now = rel(1000.0, &[("a_idx", false), ("c_idx", true)]);
        index_changes("public.orders", &then, &now, &mut out);
        assert_eq!(
            kinds(&out),
            vec![
                ("index-invalid", "public.a_idx"),
                ("index-dropped", "public.b_idx"),
                ("index-added", "public.c_idx"),
            ]
        );
        assert_eq!(out[1].id, "index-dropped:public.b_idx");
        assert_eq!(
            out[1].before.as_deref(),
            Some("CREATE INDEX b_idx ON public.orders (x)")
        );
        assert_eq!(
            out[1].fix.as_deref(),
            Some("Recreate the index: CREATE INDEX b_idx ON public.orders (x)")
        );
        assert_eq!(
            out[2].after.as_deref(),
            Some("CREATE INDEX c_idx ON public.orders (x)")
        );
    }

    #[test]
    fn each_setting_is_a_change_of_its_own() {
        let then = [("work_mem".to_owned(), "4MB".to_owned())].into();
        let now = [
            ("work_mem".to_owned(), "64kB".to_owned()),
            ("enable_indexscan".to_owned(), "off".to_owned()),
        ]
        .into();
        let mut out = Vec::new();
        setting_changes(&then, &now, &mut out);
        assert_eq!(
            kinds(&out),
            vec![
                ("setting-changed", "enable_indexscan"),
                ("setting-changed", "work_mem")
            ]
        );
        assert_eq!(
            out[0].detail,
            "planner setting enable_indexscan changed from the default to off"
        );
        assert_eq!(out[1].before.as_deref(), Some("4MB"));
    }

    #[test]
    fn sizes_past_twice_are_named_with_numbers() {
        let c = size_change("public.orders", &rel(1000.0, &[]), &rel(50_000.0, &[])).unwrap();
        assert_eq!(c.kind, "table-grew");
        assert_eq!(
            c.detail,
            "public.orders grew from 1000 to 50000 rows (50.0x)"
        );
        let c = size_change("public.orders", &rel(1000.0, &[]), &rel(400.0, &[])).unwrap();
        assert_eq!(c.kind, "table-shrank");
        assert!(size_change("public.orders", &rel(1000.0, &[]), &rel(1500.0, &[])).is_none());
    }

    #[test]
    fn bloat_is_pages_without_rows() {
        // A mass DELETE then VACUUM: rows gone, pages kept.
        let then = rel(100_000.0, &[]);
        let mut now = rel(20_000.0, &[]);
        now.relpages = then.relpages;
        let c = bloat("public.orders", &then, &now).unwrap();
        assert_eq!(c.kind, "table-bloated");
        // Updates that doubled the pages with the same rows.
        let mut now = rel(100_000.0, &[]);
        now.relpages = then.relpages * 3;
        assert!(bloat("public.orders", &then, &now).is_some());
        // Growth with the rows is not bloat.
        assert!(bloat("public.orders", &then, &rel(300_000.0, &[])).is_none());
        assert!(bloat("public.orders", &then, &then).is_none());
    }

    #[test]
    fn stale_statistics_follow_autovacuums_trigger() {
        let then = rel(1000.0, &[]);
        let mut now = rel(1000.0, &[]);
        now.n_mod_since_analyze = Some(140);
        assert!(stale_statistics("t", &then, &now, "").is_none());
        now.n_mod_since_analyze = Some(200_000);
        let c = stale_statistics("t", &then, &now, "").unwrap();
        assert_eq!(c.kind, "stats-stale");
        // Regression test: rows counted after the ANALYZE that preceded the
        // baseline were there then too: no change since.
        assert!(stale_statistics("t", &now, &now, "").is_none());
        // Regression test: a baseline recorded right after its ANALYZE may
        // miss counts reported late; they are no change since.
        let mut fresh = then.clone();
        fresh.last_analyze = Some("2024-01-01T00:00:00.000000Z".into());
        let mut later = now.clone();
        later.last_analyze = fresh.last_analyze.clone();
        assert!(stale_statistics("t", &fresh, &later, "2024-01-01T00:00:05Z").is_none());
        // recorded_at is truncated to the second, before the ANALYZE's.
        fresh.last_analyze = Some("2024-01-01T00:00:00.400000Z".into());
        later.last_analyze = fresh.last_analyze.clone();
        assert!(stale_statistics("t", &fresh, &later, "2024-01-01T00:00:00Z").is_none());
        assert!(stale_statistics("t", &fresh, &later, "2024-01-01T00:01:00Z").is_some());
        now.last_analyze = None;
        now.reltuples = -1.0;
        now.n_mod_since_analyze = Some(10);
        assert!(
            stale_statistics("t", &then, &now, "")
                .unwrap()
                .detail
                .contains("never analyzed")
        );
    }
}
