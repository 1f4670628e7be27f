//! Column order of a candidate index for one relation (pure).
//!
//! Equality columns first, most selective first; then IN-list columns; then
//! one range (or LIKE prefix) column; then the ORDER BY columns in their
//! direction, only when everything before them is an equality, so that the
//! index order removes the sort. Columns whose equality keeps more than
//! [`LOW_SELECTIVITY`] of the rows are left out.

use super::predicates::{ColumnUse, UseKind};

/// An equality that keeps more than this fraction of the rows does not earn
/// a place in an index.
pub const LOW_SELECTIVITY: f64 = 0.2;

/// One column of a candidate index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexColumn {
    pub column: String,
    pub descending: bool,
    /// `text_pattern_ops` for a LIKE prefix outside the C collation.
    pub opclass: Option<&'static str>,
}

/// Build the column list from the uses of one relation, its ORDER BY keys
/// (`(column, descending)`) and `selectivity(column)`: the estimated fraction
/// of rows one equality keeps (from pg_stats), `None` when unknown; and
/// `pattern_ops(column)`: the operator class a LIKE prefix on the column
/// needs (`text_pattern_ops`), None in the C collation. Returns `None` when
/// no column would help.
pub fn columns(
    uses: &[ColumnUse],
    order_by: &[(String, bool)],
    selectivity: impl Fn(&str) -> Option<f64>,
    pattern_ops: impl Fn(&str) -> Option<&'static str>,
) -> Option<Vec<IndexColumn>> {
    let plain = |c: &str| IndexColumn {
        column: c.to_string(),
        descending: false,
        opclass: None,
    };
    let mut out: Vec<IndexColumn> = Vec::new();
    let has = |out: &[IndexColumn], c: &str| out.iter().any(|i| i.column == c);

    let mut eq: Vec<(&str, f64)> = uses
        .iter()
        .filter(|u| {
            matches!(
                u.kind,
                UseKind::Equality | UseKind::IsNull | UseKind::JoinKey(_)
            )
        })
        .map(|u| (u.column.as_str(), selectivity(&u.column).unwrap_or(0.01)))
        .filter(|(_, s)| *s <= LOW_SELECTIVITY)
        .collect();
    eq.sort_by(|a, b| a.1.total_cmp(&b.1));
    for (c, _) in eq {
        if !has(&out, c) {
            out.push(plain(c));
        }
    }
    let mut ordered_prefix = true;
    for u in uses {
        if let UseKind::InList(n) = u.kind {
            let keep = selectivity(&u.column).unwrap_or(0.01) * n.unwrap_or(1) as f64;
            if keep <= LOW_SELECTIVITY && !has(&out, &u.column) {
                out.push(plain(&u.column));
                ordered_prefix = false;
            }
        }
    }
    if let Some(u) = uses.iter().find(|u| {
        matches!(u.kind, UseKind::Range | UseKind::LikePrefix(_)) && !has(&out, &u.column)
    }) {
        let mut col = plain(&u.column);
        if matches!(u.kind, UseKind::LikePrefix(_)) {
            col.opclass = pattern_ops(&u.column);
        }
        // A range column first in ORDER BY still gives the order.
        if let Some((c, desc)) = order_by.first()
            && *c == u.column
        {
            col.descending = *desc;
        } else if !order_by.is_empty() {
            ordered_prefix = false;
        }
        out.push(col);
    }
    if ordered_prefix {
        for (c, desc) in order_by {
            if !has(&out, c) {
                out.push(IndexColumn {
                    column: c.clone(),
                    descending: *desc,
                    opclass: None,
                });
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `CREATE INDEX CONCURRENTLY IF NOT EXISTS name ON schema.table (a, b
/// DESC)`: safe to run again (the name is taken the second time).
pub fn named_ddl(name: &str, schema: &str, table: &str, cols: &[IndexColumn]) -> String {
    create_index(Some(name), schema, table, cols)
}

/// PostgreSQL's longest identifier in bytes (NAMEDATALEN - 1).
const MAX_IDENTIFIER: usize = 63;

/// The name PostgreSQL gives `CREATE INDEX ON table (columns)` on its
/// `pass`-th try (`ChooseRelationName` in src/backend/commands/indexcmds.c):
/// `table_col1_col2_idx`, then `..._idx1`, `..._idx2`; the table part and
/// the columns part are cut, the longer one first, to fit 63 bytes
/// (`makeObjectName`), never inside a character.
pub fn index_name(table: &str, columns: &[&str], pass: usize) -> String {
    let label = if pass == 0 {
        "idx".to_owned()
    } else {
        format!("idx{pass}")
    };
    // ChooseIndexNameAddition: the column names joined, at most a name long.
    let joined = columns.join("_");
    let columns = clip(&joined, MAX_IDENTIFIER);
    let available = MAX_IDENTIFIER - 1 - (label.len() + 1);
    let (mut n1, mut n2) = (table.len(), columns.len());
    while n1 + n2 > available {
        if n1 > n2 {
            n1 -= 1;
        } else {
            n2 -= 1;
        }
    }
    format!("{}_{}_{label}", clip(table, n1), clip(columns, n2))
}

/// The longest prefix of `s` of at most `bytes` bytes that ends on a
/// character boundary (`pg_mbcliplen`).
fn clip(s: &str, bytes: usize) -> &str {
    let mut end = bytes.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `CREATE INDEX CONCURRENTLY ON schema.table (a, b DESC)`: unnamed, for
/// HypoPG (which names its own) and the tests.
pub fn ddl(schema: &str, table: &str, cols: &[IndexColumn]) -> String {
    create_index(None, schema, table, cols)
}

fn create_index(name: Option<&str>, schema: &str, table: &str, cols: &[IndexColumn]) -> String {
    let name = name.map_or(String::new(), |n| format!("IF NOT EXISTS {} ", quote(n)));
    let list: Vec<String> = cols.iter().map(column_text).collect();
    format!(
        "CREATE INDEX CONCURRENTLY {name}ON {}.{} ({})",
        quote(schema),
        quote(table),
        list.join(", ")
    )
}

/// One column as the DDL writes it: `created_at DESC`, `email
/// text_pattern_ops`.
pub(crate) fn column_text(c: &IndexColumn) -> String {
    let mut s = quote(&c.column);
    if let Some(op) = c.opclass {
        s.push(' ');
        s.push_str(op);
    }
    if c.descending {
        s.push_str(" DESC");
    }
    s
}

pub(crate) use crate::sql::quote_ident as quote;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::parse_condition;

    fn names(cols: &Option<Vec<IndexColumn>>) -> String {
        ddl("public", "t", cols.as_deref().unwrap_or(&[]))
    }

    #[test]
    fn table_of_candidates() {
        let sel = |c: &str| match c {
            "customer_id" => Some(0.0001),
            "status" => Some(0.05),
            "flag" => Some(0.5),
            _ => None,
        };
        type Case<'a> = (&'a str, &'a [(&'a str, bool)], &'a str);
        let cases: &[Case] = &[
            ("(customer_id = 42)", &[], "(customer_id)"),
            // more selective first, whatever the order in the condition
            (
                "((status = 'x'::text) AND (customer_id = 1))",
                &[],
                "(customer_id, status)",
            ),
            (
                "((created_at > now()) AND (customer_id = 1))",
                &[],
                "(customer_id, created_at)",
            ),
            (
                "((created_at > id) AND (customer_id = 1))",
                &[],
                "(customer_id)",
            ),
            (
                "((created_at > '2024-01-01'::date) AND (customer_id = 1))",
                &[],
                "(customer_id, created_at)",
            ),
            (
                "(customer_id = 1)",
                &[("created_at", true)],
                "(customer_id, created_at DESC)",
            ),
            ("(flag = true)", &[], ""),
            (
                "((flag = true) AND (customer_id = 2))",
                &[],
                "(customer_id)",
            ),
            (
                "((email)::text ~~ 'ann%'::text)",
                &[],
                "(email text_pattern_ops)",
            ),
            (
                "(status = ANY ('{a,b}'::text[]))",
                &[("created_at", false)],
                "(status)",
            ),
        ];
        for (cond, order, want) in cases {
            let order: Vec<(String, bool)> =
                order.iter().map(|(c, d)| (c.to_string(), *d)).collect();
            let got = columns(&parse_condition(cond), &order, sel, |_| {
                Some("text_pattern_ops")
            });
            let text = names(&got);
            if want.is_empty() {
                assert!(got.is_none(), "{cond}: {text}");
            } else {
                assert!(
                    text.ends_with(&format!("public.t {want}")),
                    "{cond}: {text}"
                );
            }
        }
    }

    #[test]
    fn index_names_follow_postgres() {
        assert_eq!(index_name("t", &["a", "b"], 0), "t_a_b_idx");
        assert_eq!(index_name("t", &["a"], 2), "t_a_idx2");
        assert_eq!(index_name("Foo", &["Id"], 0), "Foo_Id_idx");
        // What PostgreSQL 15 names CREATE INDEX ON the same table and
        // columns: the longer part is cut first.
        let table = "a".repeat(40);
        let column = "b".repeat(40);
        let name = index_name(&table, &[&column], 0);
        assert_eq!(name, format!("{}_{}_idx", "a".repeat(29), "b".repeat(29)));
        assert_eq!(name.len(), 63);
        let name = index_name(&table, &[&column], 1);
        assert_eq!(name, format!("{}_{}_idx1", "a".repeat(29), "b".repeat(28)));
        // Never inside a character.
        let name = index_name(&"é".repeat(40), &["x"], 0);
        assert!(name.len() <= 63 && name.ends_with("_x_idx"), "{name}");
        assert_eq!(
            named_ddl(
                "Foo_Id_idx",
                "Bar",
                "Foo",
                &[IndexColumn {
                    column: "Id".into(),
                    descending: false,
                    opclass: None,
                }]
            ),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"Foo_Id_idx\" ON \"Bar\".\"Foo\" (\"Id\")"
        );
    }

    #[test]
    fn identifiers_are_quoted_when_needed() {
        let c = |n: &str| IndexColumn {
            column: n.into(),
            descending: false,
            opclass: None,
        };
        assert_eq!(
            ddl("Sales", "order", &[c("CustomerId"), c("x")]),
            "CREATE INDEX CONCURRENTLY ON \"Sales\".\"order\" (\"CustomerId\", x)"
        );
    }
}
