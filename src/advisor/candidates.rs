//! From targets to candidates, with the catalog: the relation a scan reads,
//! the query text's extra predicates, the selectivity rules (a scan that
//! keeps most rows, a unique index that finds the one row) and a partial
//! alternative for a rare value. The column order itself is
//! [`super::candidate`] (pure).

use super::*;
use crate::queryset::placeholders::PlaceholderUse;

/// A candidate before verification.
pub(super) struct Candidate {
    /// The relation the DDL creates the index on.
    pub(super) schema: String,
    pub(super) table: String,
    pub(super) columns: Vec<IndexColumn>,
    /// The scanned partitions, for a partitioned table.
    pub(super) partitioned: bool,
    pub(super) widens: Option<WidenedIndex>,
    /// Its WHERE clause, when it is a partial index itself.
    pub(super) predicate: Option<Predicate>,
    /// A partial index that would serve as well.
    pub(super) partial: Option<Partial>,
    /// The partial indexes that would serve some of its scans as well (the
    /// rare value, or the form of a flag's test, differs between them).
    pub(super) partials: Vec<Partial>,
    /// Per scan served: the input, the target, and the relation scanned
    /// (`schema.name`, where the hypothetical index goes).
    pub(super) served: Vec<(usize, Target, String)>,
    /// Its id in the [`select::Planner`], when verifying.
    pub(super) id: Option<usize>,
}

/// A partial index's WHERE clause (`state = 'failed'`, `c_vip`) and the
/// share of the table's rows it keeps.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Predicate {
    pub(super) sql: String,
    pub(super) share: f64,
}

/// A partial index: its key columns and its WHERE clause.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Partial {
    pub(super) columns: Vec<IndexColumn>,
    pub(super) predicate: Predicate,
}

/// Why [`candidate::columns`] found no column: nothing indexable, or
/// every condition keeps too many rows. (A column without statistics is
/// not a reason: it is taken as keeping 1%.)
pub(super) fn why_no_columns(
    target: &Target,
    selectivity: impl Fn(&str) -> Option<f64>,
) -> (NoIndex, String) {
    let filters: Vec<&ColumnUse> = target
        .uses
        .iter()
        .filter(|u| !matches!(u.kind, UseKind::SortKey { .. } | UseKind::GroupKey))
        .collect();
    if filters.is_empty() {
        return (
            NoIndex::NothingIndexable,
            format!(
                "no condition an index could use in {}",
                target.conditions.join("; ")
            ),
        );
    }
    let kept: Vec<String> = filters
        .iter()
        .map(|u| match selectivity(&u.column) {
            Some(s) => format!(
                "{} ({}) keeps {:.0}%",
                u.column,
                u.kind.describe(),
                s * 100.0
            ),
            None => format!("{} ({})", u.column, u.kind.describe()),
        })
        .collect();
    (
        NoIndex::LowSelectivity,
        format!(
            "every condition keeps more than {:.0}% of the rows: {}",
            candidate::LOW_SELECTIVITY * 100.0,
            kept.join(", ")
        ),
    )
}

/// Adds to a target the filter uses the query text has for its table
/// (found by name, or by its partitioned table's name) on columns the
/// plan's conditions do not use: an unqualified column of a query over
/// several tables is this table's when the table has that column (a valid
/// query names no column two of its tables have without a qualifier).
pub(super) fn add_text_uses(
    target: &mut Target,
    text: &query_text::QueryUses,
    relation: &catalog::Relation,
) {
    let mut names = vec![(relation.schema.as_str(), relation.name.as_str())];
    if let Some((schema, table)) = &relation.partition_root {
        names.push((schema.as_str(), table.as_str()));
    }
    // A table the query reads twice (a self-join) has the uses of both
    // readings under one entry: the text cannot tell which scan is which.
    let mut found: Vec<ColumnUse> = names
        .iter()
        .filter_map(|(schema, table)| text.of(Some(schema), table))
        .filter(|t| t.aliases.len() == 1)
        .flat_map(|t| t.uses.iter().cloned())
        .collect();
    found.extend(
        text.unresolved
            .iter()
            .filter(|u| relation.column(&u.column).is_some())
            .cloned(),
    );
    for u in found {
        let filter = matches!(
            u.kind,
            UseKind::Equality
                | UseKind::InList(_)
                | UseKind::Range
                | UseKind::IsNull
                | UseKind::LikePrefix(_)
        );
        if filter
            && relation.column(&u.column).is_some()
            && !target.uses.iter().any(|p| p.column == u.column)
        {
            target
                .conditions
                .push(format!("Query text: {} ({})", u.column, u.kind.describe()));
            target.uses.push(u);
        }
    }
}

/// A relation's schema (when known) and name, as the catalog spells them.
pub(super) type ScannedName = (Option<String>, String);

/// The relation of a target as the catalog is asked for it. Without
/// VERBOSE the plan names no schema: the query text's, when it names the
/// table in one schema only (`"Bar"."Foo"`, which the search_path may
/// not reach), else the search_path's, as the planner resolved it.
pub(super) fn scanned_name(t: &Target, text: Option<&query_text::QueryUses>) -> ScannedName {
    if let Some(schema) = &t.schema {
        return (Some(schema.clone()), t.relation.clone());
    }
    let schemas: BTreeSet<Option<&str>> = text
        .into_iter()
        .flat_map(|text| &text.tables)
        .filter(|table| table.table == t.relation)
        .map(|table| table.schema.as_deref())
        .collect();
    match schemas.into_iter().collect::<Vec<_>>()[..] {
        [Some(schema)] => (Some(schema.to_owned()), t.relation.clone()),
        _ => (None, t.relation.clone()),
    }
}

/// The scan's own conditions keep more than [`candidate::LOW_SELECTIVITY`]
/// of the relation's rows by the planner's estimate: reading that much
/// through an index costs more than a sequential scan, whatever the
/// columns. A scan also looked up by a join key or read for the order a
/// Limit wants is not judged by its filter alone.
pub(super) fn keeps_most_rows(target: &Target, relation: &catalog::Relation) -> Option<f64> {
    let rows = target.plan_rows?;
    let joined = target
        .uses
        .iter()
        .any(|u| matches!(u.kind, UseKind::JoinKey(_)));
    // reltuples is -1 for a table never vacuumed nor analyzed (PG 14+).
    let kept = rows / relation.reltuples;
    (relation.reltuples > 0.0
        && !joined
        && target.order_by.is_empty()
        && kept > candidate::LOW_SELECTIVITY)
        .then_some(kept)
}

/// The share of rows below which a value counts as rare.
pub(super) const RARE: f64 = 0.05;

/// The most an index entry's key may take: a btree tuple (8-byte header
/// and key, 8-byte aligned) holds at most 2,704 bytes (`BTMaxItemSize`,
/// a third of a page).
const MAX_KEY: f64 = 2704.0 - 8.0;

/// Why an index on `columns` could not be built, when a sample of the
/// table has values too large for one entry: `CREATE INDEX` fails with
/// "index row size ... exceeds btree version 4 maximum 2704".
fn too_wide(relation: &catalog::Relation, columns: &[IndexColumn]) -> Option<String> {
    let widest: Vec<(&str, f64)> = columns
        .iter()
        .filter_map(|c| {
            let widest = relation.column(&c.column)?.widest?;
            Some((c.column.as_str(), widest))
        })
        .collect();
    let key: f64 = widest.iter().map(|(_, w)| w).sum();
    (key > MAX_KEY).then(|| {
        let values: Vec<String> = widest
            .iter()
            .map(|(c, w)| format!("{} up to {w:.0} bytes", candidate::quote(c)))
            .collect();
        format!(
            "the sampled values ({}) exceed the {MAX_KEY:.0} bytes a btree index entry holds: CREATE INDEX would fail",
            values.join(", ")
        )
    })
}

/// A partial index for a scan whose equality on a column is selective only
/// because the value is rare (the column as a whole keeps too many rows
/// per value): the candidate's other columns with `WHERE column = value`
/// (`WHERE flag`, `WHERE NOT flag` for a boolean column alone, `WHERE flag
/// IS TRUE` for such a test, which a partial index serves only in the same
/// words).
/// `fixed(column)`: the literal compared with the column is the query's own
/// (not a value bound to a placeholder for this run).
pub(super) fn rare_value(
    relation: &catalog::Relation,
    target: &Target,
    columns: &[IndexColumn],
    fixed: impl Fn(&str) -> bool,
) -> Option<Partial> {
    target.literals.iter().find_map(|(column, sql, value)| {
        if !fixed(column) {
            return None;
        }
        let stats = relation.column(column)?.stats.as_ref()?;
        // A value the statistics say no row has would make an empty
        // index: nothing to gain over the plain one.
        let share = stats.equality_to(value)?;
        let rare = stats.equality()? > candidate::LOW_SELECTIVITY
            && share > 0.0
            && share <= RARE
            && columns.iter().any(|c| &c.column == column);
        if !rare {
            return None;
        }
        let rest: Vec<IndexColumn> = columns
            .iter()
            .filter(|c| &c.column != column)
            .cloned()
            .collect();
        // `(c) WHERE c = 'x'` would have every key equal: the other
        // columns are the keys, or there is no partial index to offer.
        if rest.is_empty() {
            return None;
        }
        let sql = match sql.as_str() {
            "true" => candidate::quote(column),
            "false" => format!("NOT {}", candidate::quote(column)),
            "IS TRUE" | "IS FALSE" => format!("{} {sql}", candidate::quote(column)),
            _ => format!("{} = {sql}", candidate::quote(column)),
        };
        Some(Partial {
            columns: rest,
            predicate: Predicate { sql, share },
        })
    })
}

/// One candidate per relation and column list from the targets, keyed by
/// `(schema, table, columns)`; the targets that get none, and why.
pub(super) async fn build(
    client: &Client,
    inputs: &[Input<'_>],
    found: Vec<(usize, Target)>,
    catalog: &mut catalog::Cache,
) -> Result<(Candidates, Vec<Unadvised>), AdvisorError> {
    // The query texts' predicates, to add what the plans do not show.
    let texts: Vec<Option<query_text::QueryUses>> = inputs
        .iter()
        .map(|input| query_text::from_query(&input.job.sql))
        .collect();

    // The catalog entry of every scanned relation.
    let mut relations: BTreeMap<ScannedName, Option<catalog::Relation>> = BTreeMap::new();
    for (i, t) in &found {
        let name = scanned_name(t, texts[*i].as_ref());
        if let std::collections::btree_map::Entry::Vacant(entry) = relations.entry(name) {
            let (schema, table) = entry.key();
            let relation = catalog
                .get(client, schema.as_deref(), table)
                .await?
                .cloned();
            entry.insert(relation);
        }
    }

    // One candidate per relation and column list.
    let mut candidates: Candidates = BTreeMap::new();
    let mut unadvised = Vec::new();
    for (i, mut target) in found {
        let name = scanned_name(&target, texts[i].as_ref());
        let Some(Some(relation)) = relations.get(&name) else {
            let shown = match &name {
                (Some(schema), table) => {
                    format!("{}.{}", candidate::quote(schema), candidate::quote(table))
                }
                (None, table) => format!("{} (through the search_path)", candidate::quote(table)),
            };
            unadvised.push(Unadvised::new(
                inputs,
                i,
                &target,
                NoIndex::Unresolved,
                format!("no table {shown} in the catalog"),
            ));
            continue;
        };
        if let Some(text) = &texts[i] {
            add_text_uses(&mut target, text, relation);
        }
        if let Some(kept) = keeps_most_rows(&target, relation) {
            let detail = format!(
                "its conditions keep {:.0}% of the rows by the planner's estimate (more than {:.0}%)",
                kept * 100.0,
                candidate::LOW_SELECTIVITY * 100.0
            );
            unadvised.push(Unadvised::new(
                inputs,
                i,
                &target,
                NoIndex::LowSelectivity,
                detail,
            ));
            continue;
        }
        if let Some(index) = identified_by_unique(&target, &relation.indexes) {
            let detail = format!("the unique index {} finds the one row", index.name);
            unadvised.push(Unadvised::new(inputs, i, &target, NoIndex::Covered, detail));
            continue;
        }
        // The frequency of the very value when the plan shows a literal.
        let selectivity = |c: &str| {
            let stats = relation.column(c)?.stats.as_ref()?;
            match target.literals.iter().find(|(column, ..)| column == c) {
                Some((_, _, value)) => stats.equality_to(value),
                None => stats.equality(),
            }
        };
        let pattern_ops = |c: &str| {
            let column = relation.column(c)?;
            if column.c_collation {
                None
            } else {
                column.pattern_opclass
            }
        };
        let Some(columns) =
            candidate::columns(&target.uses, &target.order_by, selectivity, pattern_ops)
        else {
            let (reason, detail) = why_no_columns(&target, selectivity);
            unadvised.push(Unadvised::new(inputs, i, &target, reason, detail));
            continue;
        };
        let columns = extend_existing(columns, &target.uses, &relation.indexes);
        if let Some(detail) = too_wide(relation, &columns) {
            unadvised.push(Unadvised::new(inputs, i, &target, NoIndex::TooWide, detail));
            continue;
        }
        if let Some(index) = relation
            .indexes
            .iter()
            .find(|index| covers(index, &columns, &target.uses))
        {
            let detail = format!("{} ({})", index.name, index.definition);
            unadvised.push(Unadvised::new(inputs, i, &target, NoIndex::Covered, detail));
            continue;
        }
        let widens = relation
            .indexes
            .iter()
            .find(|index| extends(&columns, index))
            .map(|index| WidenedIndex {
                name: index.name.clone(),
                definition: index.definition.clone(),
                unique: index.unique,
            });
        let (schema, table, partitioned) = match &relation.partition_root {
            Some((schema, table)) => (schema.clone(), table.clone(), true),
            None => (relation.schema.clone(), relation.name.clone(), false),
        };
        // A parameterized query's literals may be the values bound for
        // this run (a custom plan shows them): an index for one of them
        // would not serve the query's other values. A literal of the text
        // (`WHERE vip AND country = $1`) is the same in every run.
        let bound = bound_columns(&inputs[i].job.sql, inputs[i].job.param_count);
        let fixed = |column: &str| match &bound {
            Some(bound) => !bound.contains(column),
            None => false,
        };
        let partial = (!partitioned)
            .then(|| rare_value(relation, &target, &columns, fixed))
            .flatten();
        let key = (schema.clone(), table.clone(), column_list(&columns));
        let scanned = relation.qualified();
        let entry = candidates.entry(key).or_insert_with(|| Candidate {
            schema,
            table,
            columns,
            partitioned,
            widens,
            predicate: None,
            partial: partial.clone(),
            partials: Vec::new(),
            served: Vec::new(),
            id: None,
        });
        // A partial index serves only the queries with that very value.
        if entry.partial != partial {
            entry.partial = None;
        }
        if let Some(partial) = partial
            && !entry.partials.contains(&partial)
        {
            entry.partials.push(partial);
        }
        entry.served.push((i, target, scanned));
    }
    Ok((candidates, unadvised))
}

/// The columns the statement's placeholders are compared with (none for a
/// statement without any); None when a placeholder's use is not a plain
/// comparison with a column (`status = lower($1)`), so that any literal of
/// the plan may be a bound value.
fn bound_columns(sql: &str, param_count: usize) -> Option<BTreeSet<String>> {
    if param_count == 0 {
        return Some(BTreeSet::new());
    }
    let placeholders = crate::queryset::placeholders::analyze(sql)?;
    if placeholders.uses.len() < param_count {
        return None;
    }
    let columns = placeholders.uses.values().filter_map(|u| match u {
        PlaceholderUse::Column { column, .. } => Some(column.clone()),
        PlaceholderUse::Limit | PlaceholderUse::Offset => None,
    });
    Some(columns.collect())
}

/// Candidates by `(schema, table, columns)`.
pub(super) type Candidates = BTreeMap<(String, String, String), Candidate>;
