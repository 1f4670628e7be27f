//! What a captured statement is: whether it may be captured at all, whether
//! it writes, which table it is mainly about, and so its query id.
//!
//! Promises: the query set's own classifier ([`crate::queryset::classify`])
//! decides, so capture never writes a statement that `check` would refuse
//! as utility or DDL (`CREATE`, `SET`, `BEGIN`, `EXPLAIN`, `COPY`, `VACUUM`,
//! `SELECT ... INTO`, ...); a statement that writes or locks rows is
//! [`Class::Dml`]. A statement sqlparser cannot parse is judged by its
//! leading keyword, and captured when that keyword is a query's: it can
//! still be checked with `--no-analyze`. Ids are a function of the
//! statement's canonical key alone, so the same statement gets the same id
//! from every capture and from either source.

use sqlparser::ast::{self, ObjectName, Query, SetExpr, TableFactor, TableWithJoins};

use super::normalize;
use crate::queryset::{Guess, Statement as QuerySetStatement};

/// Whether and how a statement is captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// A query that only reads.
    Read,
    /// INSERT, UPDATE, DELETE, MERGE, a data-modifying WITH, or a SELECT
    /// that locks rows: captured with `allow_dml = false`.
    Dml,
    /// Never captured: utility statements and DDL, with what it is.
    Never(String),
}

/// A table as the statement names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    /// A system catalog or statistics view (`pg_class`, `pg_stat_statements`,
    /// `information_schema.tables`): statements about them come from
    /// drivers, monitoring and planguard itself, not from the application.
    pub fn is_catalog(&self) -> bool {
        matches!(
            self.schema.as_deref(),
            Some("pg_catalog" | "information_schema")
        ) || self.name.starts_with("pg_")
    }

    /// The name as an id folder: `orders`, `audit.events` (the schema only
    /// when it is not `public`), with characters that do not belong in a
    /// file name replaced by `_`.
    pub fn folder(&self) -> String {
        let full = match self.schema.as_deref() {
            Some(schema) if schema != "public" => format!("{schema}.{}", self.name),
            _ => self.name.clone(),
        };
        let cleaned: String = full
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .take(63)
            .collect();
        let cleaned = cleaned.trim_start_matches('.');
        if cleaned.is_empty() {
            "_".to_owned()
        } else {
            cleaned.to_owned()
        }
    }
}

/// What [`analyze`] found out about a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub class: Class,
    /// `select`, `insert`, `update`, `delete`, `merge` or `values`.
    pub verb: &'static str,
    /// The main table: the first one read by a query (through CTEs and
    /// subqueries in FROM), the target of a write.
    pub table: Option<TableName>,
}

/// Classifies one statement (a normalized text, placeholders allowed) and
/// finds its main table.
pub fn analyze(sql: &str) -> Analysis {
    let parsed = crate::queryset::parse_sql(sql)
        .ok()
        .filter(|statements| statements.len() == 1)
        .and_then(|mut statements| statements.pop());
    let class = match crate::queryset::classify(sql) {
        QuerySetStatement::ReadOnly => Class::Read,
        QuerySetStatement::Dml { .. } => Class::Dml,
        QuerySetStatement::Refused { .. } => Class::Never(leading_words(sql)),
        QuerySetStatement::Unparsed { guess, .. } => match guess {
            Guess::Query => Class::Read,
            Guess::Dml(_) => Class::Dml,
            Guess::Other => Class::Never(leading_words(sql)),
        },
    };
    match parsed {
        Some(statement) => Analysis {
            class,
            verb: statement_verb(&statement),
            table: statement_table(&statement, &[], 0),
        },
        None => {
            let (verb, table) = from_keywords(sql);
            Analysis { class, verb, table }
        }
    }
}

fn verb_of(body: &SetExpr) -> &'static str {
    match body {
        SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => {
            statement_verb(s)
        }
        SetExpr::Values(_) => "values",
        SetExpr::Query(q) => verb_of(&q.body),
        SetExpr::SetOperation { left, .. } => verb_of(left),
        _ => "select",
    }
}

fn statement_verb(statement: &ast::Statement) -> &'static str {
    use ast::Statement as S;
    match statement {
        S::Insert(_) => "insert",
        S::Update(_) => "update",
        S::Delete(_) => "delete",
        S::Merge(_) => "merge",
        S::Query(query) => verb_of(&query.body),
        _ => "select",
    }
}

/// CTEs deeper than this are not followed (a recursive CTE names itself).
const MAX_DEPTH: usize = 16;

fn query_table<'a>(query: &'a Query, outer: &[&'a ast::Cte], depth: usize) -> Option<TableName> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut ctes: Vec<&ast::Cte> = outer.to_vec();
    if let Some(with) = &query.with {
        ctes.extend(with.cte_tables.iter());
    }
    set_expr_table(&query.body, &ctes, depth + 1)
}

fn set_expr_table<'a>(body: &'a SetExpr, ctes: &[&'a ast::Cte], depth: usize) -> Option<TableName> {
    match body {
        SetExpr::Select(select) => select
            .from
            .iter()
            .find_map(|twj| joined_table(twj, ctes, depth)),
        SetExpr::Query(q) => query_table(q, ctes, depth),
        SetExpr::SetOperation { left, right, .. } => {
            set_expr_table(left, ctes, depth).or_else(|| set_expr_table(right, ctes, depth))
        }
        SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => {
            statement_table(s, ctes, depth)
        }
        SetExpr::Table(table) => table.table_name.as_ref().map(|name| TableName {
            schema: table.schema_name.as_ref().map(folded),
            name: folded(name),
        }),
        _ => None,
    }
}

fn joined_table<'a>(
    twj: &'a TableWithJoins,
    ctes: &[&'a ast::Cte],
    depth: usize,
) -> Option<TableName> {
    factor_table(&twj.relation, ctes, depth).or_else(|| {
        twj.joins
            .iter()
            .find_map(|join| factor_table(&join.relation, ctes, depth))
    })
}

fn factor_table<'a>(
    factor: &'a TableFactor,
    ctes: &[&'a ast::Cte],
    depth: usize,
) -> Option<TableName> {
    if depth > MAX_DEPTH {
        return None;
    }
    match factor {
        TableFactor::Table {
            name, args: None, ..
        } => {
            let table = table_name(name)?;
            if table.schema.is_none() {
                if let Some(cte) = ctes.iter().find(|c| c.alias.name.value == table.name) {
                    return query_table(&cte.query, ctes, depth + 1);
                }
            }
            Some(table)
        }
        TableFactor::Derived { subquery, .. } => query_table(subquery, ctes, depth + 1),
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => joined_table(table_with_joins, ctes, depth + 1),
        _ => None,
    }
}

fn statement_table<'a>(
    statement: &'a ast::Statement,
    ctes: &[&'a ast::Cte],
    depth: usize,
) -> Option<TableName> {
    use ast::Statement as S;
    match statement {
        S::Insert(insert) => match &insert.table {
            ast::TableObject::TableName(name) => table_name(name),
            _ => None,
        },
        S::Update(update) => joined_table(&update.table, ctes, depth),
        S::Delete(delete) => {
            let (ast::FromTable::WithFromKeyword(from) | ast::FromTable::WithoutKeyword(from)) =
                &delete.from;
            from.iter().find_map(|twj| joined_table(twj, ctes, depth))
        }
        S::Merge(merge) => factor_table(&merge.table, ctes, depth),
        S::Query(q) => query_table(q, ctes, depth),
        _ => None,
    }
}

/// Unquoted names fold to lower case, as PostgreSQL folds them.
fn folded(ident: &ast::Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn table_name(name: &ObjectName) -> Option<TableName> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(folded)
        .collect();
    let (name, rest) = parts.split_last()?;
    Some(TableName {
        schema: rest.last().cloned(),
        name: name.clone(),
    })
}

/// `CREATE TABLE`, `DROP INDEX`, `SET`, `EXPLAIN`: what a statement is,
/// for people.
fn leading_words(sql: &str) -> String {
    let mut words = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_uppercase);
    let first = words.next().unwrap_or_default();
    match (first.as_str(), words.next()) {
        ("CREATE" | "ALTER" | "DROP", Some(second)) if second != "OR" && second != "UNIQUE" => {
            format!("{first} {second}")
        }
        ("CREATE", Some(_)) => "CREATE".to_owned(),
        _ => first,
    }
}

/// The fallback when sqlparser cannot parse the text (the class comes from
/// the query set's classifier): the verb from the leading keyword, and the
/// main table is the name after FROM, INTO or UPDATE.
fn from_keywords(sql: &str) -> (&'static str, Option<TableName>) {
    let tokens = normalize::significant_tokens(sql);
    let first = tokens.first().map(String::as_str).unwrap_or_default();
    let after = |word: &str| {
        let at = tokens.iter().position(|t| t == word)?;
        let start = at
            + 1
            + tokens[at + 1..]
                .iter()
                .take_while(|t| matches!(t.as_str(), "only" | "lateral" | "("))
                .count();
        let first = tokens.get(start)?;
        if !first
            .chars()
            .next()
            .is_some_and(|c| c == '"' || c == '_' || c.is_alphabetic())
        {
            return None;
        }
        let mut name = first.clone();
        let mut i = start + 1;
        while tokens.get(i).map(String::as_str) == Some(".") {
            let Some(part) = tokens.get(i + 1) else { break };
            name.push('.');
            name.push_str(part);
            i += 2;
        }
        Some(guess_name(&name))
    };
    match first {
        "insert" => ("insert", after("into")),
        "update" => ("update", after("update")),
        "delete" => ("delete", after("from")),
        "merge" => ("merge", after("into")),
        "select" | "values" | "table" | "(" | "with" => ("select", after("from")),
        _ => ("select", None),
    }
}

/// `schema.table` from tokens (quoted parts keep their case; a quoted
/// part holding a dot is rare enough to be cut there).
fn guess_name(dotted: &str) -> TableName {
    let mut parts: Vec<String> = dotted
        .split('.')
        .map(|p| p.trim_matches('"').to_owned())
        .collect();
    let name = parts.pop().unwrap_or_default();
    TableName {
        schema: parts.pop(),
        name,
    }
}

/// The first 8 hex digits of the SHA-256 of a canonical key.
pub fn key_hash(key: &str, digits: usize) -> String {
    let hex = crate::hash::sha256_hex(key.as_bytes());
    hex[..digits.min(hex.len())].to_owned()
}

/// The query id of a statement: `<table>/<verb>_<hash>`, e.g.
/// `orders/select_3f2a91c0`; `query/select_…` when it reads no table.
pub fn query_id(analysis: &Analysis, key: &str, digits: usize) -> String {
    let folder = analysis
        .table
        .as_ref()
        .map_or_else(|| "query".to_owned(), TableName::folder);
    format!("{folder}/{}_{}", analysis.verb, key_hash(key, digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(sql: &str) -> Option<String> {
        analyze(sql).table.map(|t| t.folder())
    }

    #[test]
    fn reads_writes_and_never() {
        assert_eq!(analyze("SELECT * FROM t WHERE a = $1").class, Class::Read);
        assert_eq!(analyze("UPDATE t SET a = $1").class, Class::Dml);
        assert_eq!(analyze("SELECT * FROM t FOR UPDATE").class, Class::Dml);
        assert_eq!(
            analyze("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d").class,
            Class::Dml
        );
        for sql in [
            "CREATE TABLE t (a int)",
            "SET search_path = x",
            "BEGIN",
            "ROLLBACK",
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1",
            "SELECT * INTO t2 FROM t",
            "VACUUM t",
            "COPY t FROM STDIN",
            "REINDEX TABLE t",
            "DO $$ BEGIN END $$",
        ] {
            assert!(matches!(analyze(sql).class, Class::Never(_)), "{sql}");
        }
    }

    #[test]
    fn main_table_through_ctes_subqueries_and_targets() {
        assert_eq!(
            table("SELECT * FROM Orders o JOIN items i ON true").as_deref(),
            Some("orders")
        );
        assert_eq!(
            table("WITH x AS (SELECT * FROM audit.events) SELECT * FROM x").as_deref(),
            Some("audit.events")
        );
        assert_eq!(
            table("SELECT * FROM (SELECT * FROM public.t) s").as_deref(),
            Some("t")
        );
        assert_eq!(
            table("INSERT INTO \"Weird Name\" VALUES ($1)").as_deref(),
            Some("Weird_Name")
        );
        assert_eq!(table("DELETE FROM t WHERE a = $1").as_deref(), Some("t"));
        assert_eq!(table("SELECT 1"), None);
        assert_eq!(
            table("WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT n FROM r) SELECT * FROM r"),
            None
        );
    }

    #[test]
    fn ids_are_readable_and_stable() {
        let a = analyze("SELECT * FROM orders WHERE id = $1");
        let id = query_id(&a, "select * from orders where id = $1", 8);
        assert!(id.starts_with("orders/select_"), "{id}");
        assert_eq!(id.len(), "orders/select_".len() + 8);
        assert_eq!(id, query_id(&a, "select * from orders where id = $1", 8));
    }

    #[test]
    fn unparsable_text_falls_back_to_the_leading_keyword() {
        let a = analyze("select a from only Sales.Orders where x @@@ $1");
        assert_eq!(a.class, Class::Read);
        assert_eq!(a.table.map(|t| t.folder()).as_deref(), Some("sales.orders"));
        assert!(matches!(
            analyze("cluster t using i").class,
            Class::Never(_)
        ));
        let a = analyze("update only t set a = 1 where x @@@ 2");
        assert_eq!((a.class, a.verb), (Class::Dml, "update"));
        let a = analyze("select a from t where x @@@ 1 for update");
        assert_eq!(a.class, Class::Dml);
        let a = analyze("with d as (delete from t where x @@@ 1 returning *) select * from d");
        assert_eq!(a.class, Class::Dml);
    }
}
