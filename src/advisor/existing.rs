//! A candidate against the indexes the table already has: covered by one,
//! extending one, identified by a unique one (pure).

use super::*;

/// A valid unique btree index whose key columns all have an equality (or
/// a join key) in the scan's conditions finds at most one row per lookup
/// already: no index serves the scan better, and one that extends it
/// would only grow. `IS NULL` does not count: NULLs are not equal to each
/// other in a unique index.
pub(super) fn identified_by_unique<'i>(
    target: &Target,
    indexes: &'i [catalog::ExistingIndex],
) -> Option<&'i catalog::ExistingIndex> {
    let equal = |column: &str| {
        target.uses.iter().any(|u| {
            u.column == column && matches!(u.kind, UseKind::Equality | UseKind::JoinKey(_))
        })
    };
    indexes.iter().find(|index| {
        index.valid
            && index.unique
            && !index.partial
            && index.method == "btree"
            && !index.columns.is_empty()
            && index
                .columns
                .iter()
                .all(|c| c.as_deref().is_some_and(equal))
    })
}

/// The candidate's leading equality columns in the order of an existing
/// index made of some of them, so that the new index can replace that one
/// (the order among equalities does not change what a btree serves).
pub(super) fn extend_existing(
    mut columns: Vec<IndexColumn>,
    uses: &[ColumnUse],
    indexes: &[catalog::ExistingIndex],
) -> Vec<IndexColumn> {
    let leading = equality_prefix(&columns, uses);
    for index in indexes {
        if !index.valid || index.partial || index.method != "btree" {
            continue;
        }
        let Some(names) = index
            .columns
            .iter()
            .cloned()
            .collect::<Option<Vec<String>>>()
        else {
            continue;
        };
        if names.is_empty()
            || names.len() >= columns.len()
            || !names
                .iter()
                .all(|n| columns[..leading].iter().any(|c| &c.column == n))
        {
            continue;
        }
        let mut ordered: Vec<IndexColumn> = names
            .iter()
            .filter_map(|n| columns.iter().find(|c| &c.column == n).cloned())
            .collect();
        ordered.extend(
            columns
                .iter()
                .filter(|c| !names.contains(&c.column))
                .cloned(),
        );
        columns = ordered;
        break;
    }
    columns
}

/// How many of the candidate's first columns are equalities (`=`,
/// `IS NULL`, join keys): their order among themselves does not change
/// what a btree serves.
pub(super) fn equality_prefix(columns: &[IndexColumn], uses: &[ColumnUse]) -> usize {
    let equality = |c: &IndexColumn| {
        uses.iter().any(|u| {
            u.column == c.column
                && matches!(
                    u.kind,
                    UseKind::Equality | UseKind::IsNull | UseKind::JoinKey(_)
                )
        })
    };
    columns.iter().take_while(|c| equality(c)).count()
}

/// An existing index serves the candidate already: a valid btree, not
/// partial, whose first key columns are the candidate's leading
/// equalities in any order and direction, then its other columns in order
/// ([`leads`]: the same directions, or all reversed).
pub(super) fn covers(
    index: &catalog::ExistingIndex,
    columns: &[IndexColumn],
    uses: &[ColumnUse],
) -> bool {
    if !index.valid || index.partial || index.method != "btree" {
        return false;
    }
    let existing: Vec<IndexColumn> = index
        .columns
        .iter()
        .zip(&index.descending)
        .zip(&index.opclasses)
        .map_while(|((c, desc), opclass)| {
            Some(IndexColumn {
                column: c.clone()?,
                descending: *desc,
                opclass: opclass.ends_with("_pattern_ops").then_some("pattern"),
            })
        })
        .collect();
    let equalities = equality_prefix(columns, uses);
    if existing.len() < columns.len() {
        return false;
    }
    let mut wanted: Vec<&str> = columns[..equalities]
        .iter()
        .map(|c| c.column.as_str())
        .collect();
    let mut have: Vec<&str> = existing[..equalities]
        .iter()
        .map(|c| c.column.as_str())
        .collect();
    wanted.sort_unstable();
    have.sort_unstable();
    wanted == have
        && columns[..equalities].iter().all(|c| {
            c.opclass.is_none()
                || existing[..equalities]
                    .iter()
                    .any(|e| e.column == c.column && e.opclass.is_some())
        })
        && leads(&columns[equalities..], &existing[equalities..])
}

/// An existing index whose columns lead the candidate's (and are fewer):
/// the candidate can replace it.
pub(super) fn extends(columns: &[IndexColumn], index: &catalog::ExistingIndex) -> bool {
    if !index.valid || index.partial || index.method != "btree" {
        return false;
    }
    let existing: Option<Vec<IndexColumn>> = index
        .columns
        .iter()
        .zip(&index.descending)
        .map(|(c, desc)| {
            Some(IndexColumn {
                column: c.clone()?,
                descending: *desc,
                opclass: None,
            })
        })
        .collect();
    existing.is_some_and(|e| !e.is_empty() && e.len() < columns.len() && leads(&e, columns))
}

/// `narrow`'s columns are the first columns of `wide`: the same names in
/// the same order, the same directions (or all reversed: a backward scan),
/// and a pattern operator class where `narrow` needs one.
pub(super) fn leads(narrow: &[IndexColumn], wide: &[IndexColumn]) -> bool {
    if narrow.len() > wide.len() {
        return false;
    }
    let pairs = narrow.iter().zip(wide);
    let names = pairs
        .clone()
        .all(|(n, w)| n.column == w.column && (n.opclass.is_none() || w.opclass.is_some()));
    let same = pairs.clone().all(|(n, w)| n.descending == w.descending);
    let reversed = pairs.clone().all(|(n, w)| n.descending != w.descending);
    names && (same || reversed)
}
