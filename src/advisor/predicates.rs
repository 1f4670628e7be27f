//! Predicates from plan condition strings (`Filter`, `Index Cond`,
//! `Recheck Cond`, `Join Filter`, `Hash Cond`, `Merge Cond`).
//!
//! The strings are parsed as expressions with sqlparser's PostgreSQL dialect.
//! Casts PostgreSQL adds (`(status)::text = 'paid'::text`) and parentheses
//! are looked through, so the column is found under them.

pub(crate) use crate::queryset::placeholders::{column, name_of as name, strip};
use sqlparser::ast::{BinaryOperator, Expr, InTarget, UnaryOperator, Value};

/// How a column is used by a predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseKind {
    /// `col = constant`
    Equality,
    /// `col IN (...)` or `col = ANY ('{...}')`; the number of values when known
    InList(Option<usize>),
    /// `<`, `<=`, `>`, `>=`, `BETWEEN`
    Range,
    /// `col IS NULL`
    IsNull,
    /// `col LIKE 'prefix%'` (the prefix)
    LikePrefix(String),
    /// `a.x = b.y`: a join key; the other side's column
    JoinKey(String),
    /// An ORDER BY key (query text)
    SortKey { descending: bool },
    /// A GROUP BY key (query text)
    GroupKey,
}

impl UseKind {
    /// In words, for evidence: `equality`, `IN list`, `range`...
    pub fn describe(&self) -> String {
        match self {
            UseKind::Equality => "equality".to_owned(),
            UseKind::InList(Some(n)) => format!("IN list of {n}"),
            UseKind::InList(None) => "IN list".to_owned(),
            UseKind::Range => "range".to_owned(),
            UseKind::IsNull => "IS NULL".to_owned(),
            UseKind::LikePrefix(p) => format!("LIKE '{p}%'"),
            UseKind::JoinKey(other) => format!("join key with {other}"),
            UseKind::SortKey { descending: true } => "ORDER BY DESC".to_owned(),
            UseKind::SortKey { descending: false } => "ORDER BY".to_owned(),
            UseKind::GroupKey => "GROUP BY".to_owned(),
        }
    }
}

/// One column use: an optional qualifier (alias or relation), the column and
/// how it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnUse {
    pub qualifier: Option<String>,
    pub column: String,
    pub kind: UseKind,
}

/// Parse one condition string from a plan into column uses. Conjuncts (`AND`)
/// are split; anything that is not an indexable use of a plain column (an
/// `OR`, a function of a column, a negation) is left out. A string sqlparser
/// cannot read gives no uses rather than an error: the advisor then has
/// nothing to suggest for it.
///
/// References to subplans are not SQL: `(SubPlan 1)` and `(hashed SubPlan
/// 1)` (a value computed per row, so nothing an index could look up) and
/// `(InitPlan 1).col1` (computed once, a constant for the scan, as `$n` is)
/// are rewritten before parsing; a condition that still does not parse as
/// a whole is read conjunct by conjunct, so that one odd term does not
/// hide the others (`(l_partkey = part.p_partkey) AND (l_quantity <
/// (SubPlan 1))` keeps its outer reference).
pub fn parse_condition(text: &str) -> Vec<ColumnUse> {
    let text = plan_refs(text);
    let mut out = Vec::new();
    match parse_expr(&text) {
        Some(expr) => collect(&expr, &mut out),
        None => {
            for conjunct in conjuncts(&text) {
                if let Some(expr) = parse_expr(conjunct) {
                    collect(&expr, &mut out);
                }
            }
        }
    }
    out
}

/// The condition with its subplan references made SQL: `(SubPlan N)`,
/// `(hashed SubPlan N)` and `(SubPlan N).colM` become `subplan(N)` (a
/// function of something: not a constant), `(InitPlan N)` and
/// `(InitPlan N).colM` become `$N` (a parameter: a constant).
pub(crate) fn plan_refs(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("SubPlan ") && !text.contains("InitPlan ") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('(') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let (kind, body) = if let Some(b) = after.strip_prefix("hashed SubPlan ") {
            ("subplan", b)
        } else if let Some(b) = after.strip_prefix("SubPlan ") {
            ("subplan", b)
        } else if let Some(b) = after.strip_prefix("InitPlan ") {
            ("initplan", b)
        } else {
            out.push('(');
            rest = after;
            continue;
        };
        let digits = body.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || !body[digits..].starts_with(')') {
            out.push('(');
            rest = after;
            continue;
        }
        let n = &body[..digits];
        let mut tail = &body[digits + 1..];
        // `.col1`: the subplan's output column.
        if let Some(col) = tail.strip_prefix(".col") {
            let d = col.bytes().take_while(u8::is_ascii_digit).count();
            if d > 0 {
                tail = &col[d..];
            }
        }
        if kind == "subplan" {
            out.push_str(&format!("subplan({n})"));
        } else {
            out.push_str(&format!("${n}"));
        }
        rest = tail;
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The top-level `AND` terms of a condition, without its outer
/// parentheses (quotes respected).
fn conjuncts(text: &str) -> Vec<&str> {
    let mut text = text.trim();
    while text.starts_with('(') && text.ends_with(')') && closes_at_end(text) {
        text = text[1..text.len() - 1].trim();
    }
    let bytes = text.as_bytes();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b' ' if !quoted && depth == 0 && text[i..].starts_with(" AND ") => {
                out.push(text[start..i].trim());
                start = i + 5;
                i += 4;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(text[start..].trim());
    out
}

/// The first `(` of `text` is closed by its last character.
fn closes_at_end(text: &str) -> bool {
    let (mut depth, mut quoted) = (0i32, false);
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return i == text.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

/// One expression in PostgreSQL's dialect, or None.
pub(crate) fn parse_expr(text: &str) -> Option<Expr> {
    crate::queryset::parse_expr(text)
}

pub(crate) fn collect(expr: &Expr, out: &mut Vec<ColumnUse>) {
    match strip(expr) {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            collect(left, out);
            collect(right, out);
        }
        Expr::BinaryOp { left, op, right } => comparison(left, op, right, out),
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated: false,
            ..
        } => {
            if let Some((q, c)) = column(expr)
                && list.iter().all(is_constant)
            {
                out.push(use_of(q, c, UseKind::InList(Some(list.len()))));
            }
        }
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } => {
            if let Some((q, c)) = column(left)
                && is_constant(right)
            {
                out.push(use_of(q, c, UseKind::InList(array_len(right))));
            }
        }
        Expr::Between {
            expr,
            negated: false,
            low,
            high,
        } => {
            if let Some((q, c)) = column(expr)
                && is_constant(low)
                && is_constant(high)
            {
                out.push(use_of(q, c, UseKind::Range));
            }
        }
        Expr::IsNull(inner) => {
            if let Some((q, c)) = column(inner) {
                out.push(use_of(q, c, UseKind::IsNull));
            }
        }
        // A boolean column alone (`c_vip`, `NOT c_vip`): an equality with
        // true or false, which is how PostgreSQL prints `c_vip = true`.
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            if let Some((q, c)) = column(expr) {
                out.push(use_of(q, c, UseKind::Equality));
            }
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: inner,
        } => {
            if let Some((q, c)) = column(inner) {
                out.push(use_of(q, c, UseKind::Equality));
            }
        }
        // `flag IS TRUE`, `flag IS FALSE`: an equality that NULL fails too.
        Expr::IsTrue(inner) | Expr::IsFalse(inner) => {
            if let Some((q, c)) = column(inner) {
                out.push(use_of(q, c, UseKind::Equality));
            }
        }
        Expr::Like {
            negated: false,
            any: false,
            expr,
            pattern,
            ..
        } => {
            if let Some((q, c)) = column(expr)
                && let Some(prefix) = like_prefix(pattern)
            {
                out.push(use_of(q, c, UseKind::LikePrefix(prefix)));
            }
        }
        _ => {}
    }
}

fn comparison(left: &Expr, op: &BinaryOperator, right: &Expr, out: &mut Vec<ColumnUse>) {
    // PostgreSQL prints LIKE as `~~` in plans.
    if matches!(op, BinaryOperator::PGLikeMatch) {
        if let Some((q, c)) = column(left)
            && let Some(prefix) = like_prefix(right)
        {
            out.push(use_of(q, c, UseKind::LikePrefix(prefix)));
        }
        return;
    }
    let (l, r) = (column(left), column(right));
    match (l, r) {
        (Some((lq, lc)), Some((rq, rc))) if matches!(op, BinaryOperator::Eq) => {
            let other = match &rq {
                Some(q) => format!("{q}.{rc}"),
                None => rc.clone(),
            };
            out.push(use_of(lq.clone(), lc.clone(), UseKind::JoinKey(other)));
            let other = match &lq {
                Some(q) => format!("{q}.{lc}"),
                None => lc,
            };
            out.push(use_of(rq, rc, UseKind::JoinKey(other)));
        }
        (Some((q, c)), None) if is_constant(right) => {
            if let Some(kind) = kind_of(op) {
                out.push(use_of(q, c, kind));
            }
        }
        (None, Some((q, c))) if is_constant(left) => {
            if let Some(kind) = kind_of(op) {
                out.push(use_of(q, c, kind));
            }
        }
        _ => {}
    }
}

fn kind_of(op: &BinaryOperator) -> Option<UseKind> {
    match op {
        BinaryOperator::Eq => Some(UseKind::Equality),
        BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq => {
            Some(UseKind::Range)
        }
        _ => None,
    }
}

fn use_of(qualifier: Option<String>, column: String, kind: UseKind) -> ColumnUse {
    ColumnUse {
        qualifier,
        column,
        kind,
    }
}

/// A literal, a parameter (`$1`), an array of them, an interval, a call
/// without arguments (`now()`) or arithmetic on those, under casts.
fn is_constant(expr: &Expr) -> bool {
    match strip(expr) {
        Expr::Value(_) => true,
        Expr::UnaryOp { expr, .. } => is_constant(expr),
        Expr::Array(arr) => arr.elem.iter().all(is_constant),
        // now() - interval '1 hour': constant during one scan.
        Expr::BinaryOp { left, right, .. } => is_constant(left) && is_constant(right),
        Expr::Interval(_) | Expr::TypedString(_) => true,
        Expr::Function(f) => f.args.to_string().is_empty() || f.args.to_string() == "()",
        _ => false,
    }
}

fn string_value(expr: &Expr) -> Option<String> {
    match strip(expr) {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The number of elements of `'{a,b,c}'::text[]` or `ARRAY[...]`.
fn array_len(expr: &Expr) -> Option<usize> {
    match strip(expr) {
        Expr::Array(arr) => Some(arr.elem.len()),
        other => {
            let s = string_value(other)?;
            let inner = s.strip_prefix('{')?.strip_suffix('}')?;
            Some(if inner.is_empty() {
                0
            } else {
                inner.split(',').count()
            })
        }
    }
}

/// `'abc%'` gives `abc`; a pattern starting with a wildcard gives nothing.
fn like_prefix(pattern: &Expr) -> Option<String> {
    let s = string_value(pattern)?;
    let end = s.find(['%', '_']).unwrap_or(s.len());
    let prefix = &s[..end];
    (!prefix.is_empty()).then(|| prefix.to_string())
}

/// `column = literal` conjuncts of a condition: the qualifier, the column,
/// the literal as SQL (`'open'`, `42`; `IS TRUE` or `IS FALSE` for such a
/// test of a boolean column) and its value in text form as
/// `pg_stats` shows it (`open`), for a partial index's WHERE clause and the
/// frequency of that value. Parameters and expressions are left out.
pub fn equality_literals(text: &str) -> Vec<(Option<String>, String, String, String)> {
    let text = plan_refs(text);
    let exprs: Vec<Expr> = match parse_expr(&text) {
        Some(expr) => vec![expr],
        None => conjuncts(&text)
            .into_iter()
            .filter_map(parse_expr)
            .collect(),
    };
    let mut out = Vec::new();
    let mut stack: Vec<&Expr> = exprs.iter().rev().collect();
    while let Some(e) = stack.pop() {
        match strip(e) {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                stack.push(right);
                stack.push(left);
            }
            // A boolean column alone is `column = true`; under NOT, false.
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                if let Some((qualifier, col)) = column(e) {
                    out.push((qualifier, col, "true".to_owned(), "t".to_owned()));
                }
            }
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr: inner,
            } => {
                if let Some((qualifier, col)) = column(inner) {
                    out.push((qualifier, col, "false".to_owned(), "f".to_owned()));
                }
            }
            // `flag IS TRUE` keeps its form: PostgreSQL uses a partial
            // index for it only when the index's WHERE says the same.
            Expr::IsTrue(inner) | Expr::IsFalse(inner) => {
                if let Some((qualifier, col)) = column(inner) {
                    let (test, value) = match strip(e) {
                        Expr::IsTrue(_) => ("IS TRUE", "t"),
                        _ => ("IS FALSE", "f"),
                    };
                    out.push((qualifier, col, test.to_owned(), value.to_owned()));
                }
            }
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                let ((qualifier, col), constant) = match (column(left), column(right)) {
                    (Some(c), None) => (c, right),
                    (None, Some(c)) => (c, left),
                    _ => continue,
                };
                let Expr::Value(v) = strip(constant) else {
                    continue;
                };
                let (sql, value) = match &v.value {
                    Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => {
                        (format!("'{}'", s.replace('\'', "''")), s.clone())
                    }
                    Value::Number(n, _) => (n.to_string(), n.to_string()),
                    Value::Boolean(b) => (b.to_string(), if *b { "t" } else { "f" }.to_owned()),
                    _ => continue,
                };
                out.push((qualifier, col, sql, value));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(qualifier: Option<&str>, column: &str, kind: UseKind) -> ColumnUse {
        ColumnUse {
            qualifier: qualifier.map(str::to_string),
            column: column.to_string(),
            kind,
        }
    }

    #[test]
    fn table_of_plan_conditions() {
        let cases: &[(&str, Vec<ColumnUse>)] = &[
            (
                "(customer_id = 42)",
                vec![u(None, "customer_id", UseKind::Equality)],
            ),
            (
                "((status)::text = 'paid'::text)",
                vec![u(None, "status", UseKind::Equality)],
            ),
            // A boolean column alone is `= true`, under NOT `= false`.
            (
                "(c_vip AND (NOT p.p_discontinued) AND (c_country = 'FR'::bpchar))",
                vec![
                    u(None, "c_vip", UseKind::Equality),
                    u(Some("p"), "p_discontinued", UseKind::Equality),
                    u(None, "c_country", UseKind::Equality),
                ],
            ),
            (
                "((customer_id = 42) AND (created_at > '2024-01-01 00:00:00'::timestamp without time zone))",
                vec![
                    u(None, "customer_id", UseKind::Equality),
                    u(None, "created_at", UseKind::Range),
                ],
            ),
            (
                "(status = ANY ('{new,paid,shipped}'::text[]))",
                vec![u(None, "status", UseKind::InList(Some(3)))],
            ),
            (
                "(deleted_at IS NULL)",
                vec![u(None, "deleted_at", UseKind::IsNull)],
            ),
            (
                "((email)::text ~~ 'ann%'::text)",
                vec![u(None, "email", UseKind::LikePrefix("ann".into()))],
            ),
            ("((email)::text ~~ '%ann'::text)", vec![]),
            (
                "(o.customer_id = c.id)",
                vec![
                    u(Some("o"), "customer_id", UseKind::JoinKey("c.id".into())),
                    u(Some("c"), "id", UseKind::JoinKey("o.customer_id".into())),
                ],
            ),
            ("(42 < amount)", vec![u(None, "amount", UseKind::Range)]),
            ("((a = 1) OR (b = 2))", vec![]),
            ("(lower(email) = 'x'::text)", vec![]),
            (
                "(customer_id = $1)",
                vec![u(None, "customer_id", UseKind::Equality)],
            ),
            ("this is not ) an expression", vec![]),
            // Subplan references: a per-row SubPlan value is no constant,
            // an InitPlan's is; the outer reference stays a join key.
            (
                "((l_partkey = part.p_partkey) AND (l_quantity < (SubPlan 1)))",
                vec![
                    u(None, "l_partkey", UseKind::JoinKey("part.p_partkey".into())),
                    u(
                        Some("part"),
                        "p_partkey",
                        UseKind::JoinKey("l_partkey".into()),
                    ),
                ],
            ),
            (
                "((NOT (hashed SubPlan 2)) AND (k = 7))",
                vec![u(None, "k", UseKind::Equality)],
            ),
            (
                "((a > (InitPlan 1).col1) AND (b = (InitPlan 2)))",
                vec![
                    u(None, "a", UseKind::Range),
                    u(None, "b", UseKind::Equality),
                ],
            ),
            (
                "((l_suppkey = $0) AND (ANY (x = (hashed SubPlan 1).col1)))",
                vec![u(None, "l_suppkey", UseKind::Equality)],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_condition(text), want, "condition {text}");
        }
    }

    #[test]
    fn equality_literals_keep_the_value() {
        assert_eq!(
            equality_literals(
                "(((status)::text = 'o''pen'::text) AND (o.n = 42) AND (x > 1) AND (y = z))"
            ),
            [
                (None, "status".into(), "'o''pen'".into(), "o'pen".into()),
                (Some("o".into()), "n".into(), "42".into(), "42".into()),
            ]
        );
        assert!(equality_literals("(customer_id = $1)").is_empty());
        assert_eq!(
            equality_literals("((c_vip IS TRUE) AND (p_gone IS FALSE))"),
            [
                (None, "c_vip".into(), "IS TRUE".into(), "t".into()),
                (None, "p_gone".into(), "IS FALSE".into(), "f".into()),
            ]
        );
        assert_eq!(
            equality_literals("(c_vip AND (NOT p.p_discontinued))"),
            [
                (None, "c_vip".into(), "true".into(), "t".into()),
                (
                    Some("p".into()),
                    "p_discontinued".into(),
                    "false".into(),
                    "f".into()
                ),
            ]
        );
        // Casts PostgreSQL prints on either side are looked through; the
        // value keeps its text form (char(n) blanks are dealt with by
        // catalog::Stats, which knows the column's type).
        assert_eq!(
            equality_literals(
                "((c_mktsegment = 'BUILDING'::bpchar) AND ((c_name)::text = 'x'::text) \
                 AND (l_discount = 0.06) AND (d = '1998-09-02'::date))"
            ),
            [
                (
                    None,
                    "c_mktsegment".into(),
                    "'BUILDING'".into(),
                    "BUILDING".into()
                ),
                (None, "c_name".into(), "'x'".into(), "x".into()),
                (None, "l_discount".into(), "0.06".into(), "0.06".into()),
                (None, "d".into(), "'1998-09-02'".into(), "1998-09-02".into()),
            ]
        );
    }
}
