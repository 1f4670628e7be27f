//! What each `$n` placeholder of a statement stands for (pure): the column
//! it is compared with (`col = $1`, `col > $2`, `col IN ($3, $4)`,
//! `col = ANY($5)`, `col BETWEEN $6 AND $7`, `col LIKE $8`), or a `LIMIT` /
//! `OFFSET` count, read with sqlparser's PostgreSQL dialect; and the tables
//! the statement names, with their aliases, so that the runner can find the
//! column in the catalog and a representative value in `pg_stats`.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, InTarget, LimitClause, ObjectName, Query, TableFactor, Value, Visit,
    Visitor,
};

/// How a placeholder is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceholderUse {
    /// Compared with a column.
    Column {
        /// The table name or alias before the column, when written.
        qualifier: Option<String>,
        /// The column, folded as PostgreSQL folds names.
        column: String,
        comparison: Comparison,
    },
    /// `LIMIT $n` (or `FETCH FIRST $n ROWS`).
    Limit,
    /// `OFFSET $n`.
    Offset,
}

/// The comparison a placeholder takes part in, seen from the column
/// (`$1 < col` is `col > $1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `=`, or `<>` (any common value serves both).
    Equal,
    /// The n-th (0-based) placeholder of an `IN (...)` list.
    InList(usize),
    /// `= ANY($n)`: an array of values.
    AnyArray,
    /// `>` or `>=`: the column above the value.
    Above,
    /// `<` or `<=`.
    Below,
    /// The low end of a `BETWEEN`.
    BetweenLow,
    /// The high end of a `BETWEEN`.
    BetweenHigh,
    /// `LIKE` / `ILIKE` pattern.
    Like,
}

/// A table the statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub schema: Option<String>,
    pub name: String,
    pub alias: Option<String>,
}

/// The placeholders of one statement.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placeholders {
    /// By placeholder number (1-based); a placeholder used in several
    /// places keeps its first column use.
    pub uses: BTreeMap<usize, PlaceholderUse>,
    /// Every table in FROM, JOIN, UPDATE, DELETE and INSERT of any scope.
    pub relations: Vec<Relation>,
}

impl Placeholders {
    /// The tables a column reference may belong to: the one its qualifier
    /// names (alias first), else every table of the statement.
    pub fn candidates(&self, qualifier: Option<&str>) -> Vec<&Relation> {
        match qualifier {
            Some(q) => {
                let by_alias: Vec<&Relation> = self
                    .relations
                    .iter()
                    .filter(|r| r.alias.as_deref() == Some(q))
                    .collect();
                if by_alias.is_empty() {
                    self.relations
                        .iter()
                        .filter(|r| r.alias.is_none() && r.name == q)
                        .collect()
                } else {
                    by_alias
                }
            }
            None => self.relations.iter().collect(),
        }
    }
}

/// Reads the statement; None when sqlparser cannot parse it.
pub fn analyze(sql: &str) -> Option<Placeholders> {
    let statements = super::parse_sql(sql).ok()?;
    let mut walker = Walker::default();
    let _ = statements.visit(&mut walker);
    Some(walker.found)
}

#[derive(Default)]
struct Walker {
    found: Placeholders,
}

impl Walker {
    fn record(&mut self, expr: &Expr, usage: PlaceholderUse) {
        if let Some(n) = placeholder(expr) {
            self.found.uses.entry(n).or_insert(usage);
        }
    }

    fn compared(&mut self, col: &Expr, value: &Expr, comparison: Comparison) {
        if let Some((qualifier, column)) = column(col) {
            self.record(
                value,
                PlaceholderUse::Column {
                    qualifier,
                    column,
                    comparison,
                },
            );
        }
    }
}

impl Visitor for Walker {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        match &query.limit_clause {
            Some(LimitClause::LimitOffset { limit, offset, .. }) => {
                if let Some(limit) = limit {
                    self.record(limit, PlaceholderUse::Limit);
                }
                if let Some(offset) = offset {
                    self.record(&offset.value, PlaceholderUse::Offset);
                }
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                self.record(limit, PlaceholderUse::Limit);
                self.record(offset, PlaceholderUse::Offset);
            }
            None => {}
        }
        if let Some(quantity) = query.fetch.as_ref().and_then(|f| f.quantity.as_ref()) {
            self.record(quantity, PlaceholderUse::Limit);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name: object,
            alias,
            args: None,
            ..
        } = factor
        {
            let (schema, name) = split(object);
            self.found.relations.push(Relation {
                schema,
                name,
                alias: alias.as_ref().map(|a| name_of(&a.name)),
            });
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::BinaryOp { left, op, right } => {
                let (toward, flipped) = match op {
                    BinaryOperator::Eq | BinaryOperator::NotEq => {
                        (Comparison::Equal, Comparison::Equal)
                    }
                    BinaryOperator::Gt | BinaryOperator::GtEq => {
                        (Comparison::Above, Comparison::Below)
                    }
                    BinaryOperator::Lt | BinaryOperator::LtEq => {
                        (Comparison::Below, Comparison::Above)
                    }
                    _ => return ControlFlow::Continue(()),
                };
                self.compared(left, right, toward);
                self.compared(right, left, flipped);
            }
            Expr::In {
                expr,
                target: InTarget::List(list),
                ..
            } => {
                for (i, item) in list.iter().enumerate() {
                    self.compared(expr, item, Comparison::InList(i));
                }
            }
            Expr::AnyOp {
                left,
                compare_op: BinaryOperator::Eq,
                right,
                ..
            } => self.compared(left, right, Comparison::AnyArray),
            Expr::Between {
                expr, low, high, ..
            } => {
                self.compared(expr, low, Comparison::BetweenLow);
                self.compared(expr, high, Comparison::BetweenHigh);
            }
            Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
                self.compared(expr, pattern, Comparison::Like);
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// `$n` under casts and parentheses.
fn placeholder(expr: &Expr) -> Option<usize> {
    match strip(expr) {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => p.strip_prefix('$')?.parse().ok().filter(|&n| n > 0),
            _ => None,
        },
        _ => None,
    }
}

/// Look through parentheses and casts.
pub(crate) fn strip(expr: &Expr) -> &Expr {
    match expr {
        Expr::Nested(inner) => strip(inner),
        Expr::Cast { expr, .. } => strip(expr),
        other => other,
    }
}

/// A plain column reference, with its qualifier when there is one, both
/// folded the way PostgreSQL folds names.
pub(crate) fn column(expr: &Expr) -> Option<(Option<String>, String)> {
    match strip(expr) {
        Expr::Identifier(ident) => Some((None, name_of(ident))),
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let col = name_of(parts.last()?);
            let qual = name_of(&parts[parts.len() - 2]);
            Some((Some(qual), col))
        }
        _ => None,
    }
}

/// An identifier as PostgreSQL stores it: unquoted ones in lower case,
/// quoted ones exactly.
pub(crate) fn name_of(ident: &sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// `schema.table` or `table`, folded.
pub(crate) fn split(object: &ObjectName) -> (Option<String>, String) {
    let parts: Vec<String> = object
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(name_of))
        .collect();
    let table = parts.last().cloned().unwrap_or_default();
    let schema = (parts.len() >= 2).then(|| parts[parts.len() - 2].clone());
    (schema, table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(q: Option<&str>, c: &str, comparison: Comparison) -> PlaceholderUse {
        PlaceholderUse::Column {
            qualifier: q.map(str::to_owned),
            column: c.to_owned(),
            comparison,
        }
    }

    #[test]
    fn placeholders_map_to_columns_and_counts() {
        let p = analyze(
            "SELECT * FROM public.orders o JOIN \"Cust\" c ON c.id = o.customer_id \
             WHERE o.status = $1 AND $2::timestamptz < o.created_at AND c.\"Tier\" IN ($3, $4) \
             AND o.total BETWEEN $5 AND $6 AND o.code LIKE $7 AND o.id = ANY($8) \
             AND lower(o.note) = $9 ORDER BY o.created_at DESC LIMIT $10 OFFSET $11",
        )
        .unwrap();
        assert_eq!(p.uses[&1], col(Some("o"), "status", Comparison::Equal));
        assert_eq!(p.uses[&2], col(Some("o"), "created_at", Comparison::Above));
        assert_eq!(p.uses[&3], col(Some("c"), "Tier", Comparison::InList(0)));
        assert_eq!(p.uses[&4], col(Some("c"), "Tier", Comparison::InList(1)));
        assert_eq!(p.uses[&5], col(Some("o"), "total", Comparison::BetweenLow));
        assert_eq!(p.uses[&6], col(Some("o"), "total", Comparison::BetweenHigh));
        assert_eq!(p.uses[&7], col(Some("o"), "code", Comparison::Like));
        assert_eq!(p.uses[&8], col(Some("o"), "id", Comparison::AnyArray));
        // An expression, not a column: nothing to sample from.
        assert!(!p.uses.contains_key(&9));
        assert_eq!(p.uses[&10], PlaceholderUse::Limit);
        assert_eq!(p.uses[&11], PlaceholderUse::Offset);
        assert_eq!(
            p.relations,
            vec![
                Relation {
                    schema: Some("public".into()),
                    name: "orders".into(),
                    alias: Some("o".into())
                },
                Relation {
                    schema: None,
                    name: "Cust".into(),
                    alias: Some("c".into())
                },
            ]
        );
        assert_eq!(p.candidates(Some("c"))[0].name, "Cust");
        assert_eq!(p.candidates(None).len(), 2);
    }

    #[test]
    fn correlated_subqueries_and_dml_are_read() {
        let p = analyze(
            "SELECT * FROM part WHERE p_size > (SELECT avg(l_quantity) FROM lineitem \
             WHERE l_partkey = p_partkey AND l_shipdate < $1)",
        )
        .unwrap();
        assert_eq!(p.uses[&1], col(None, "l_shipdate", Comparison::Below));
        assert_eq!(p.relations.len(), 2);
        let p = analyze("UPDATE accounts SET balance = balance - $1 WHERE id = $2").unwrap();
        assert_eq!(p.uses[&2], col(None, "id", Comparison::Equal));
        assert!(!p.uses.contains_key(&1));
        assert_eq!(p.relations[0].name, "accounts");
        assert!(analyze("SELEC nonsense $1").is_none());
    }
}
