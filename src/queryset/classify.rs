//! Stage `query set`: what kind of statement a query file holds, decided
//! before anything is sent to a server (DESIGN.md, Safety model).
//!
//! Promises: [`classify`] never panics and never touches a database. A text
//! that is several statements is always [`Statement::Refused`], whatever
//! they are, because PostgreSQL's simple query protocol would run them all.
//! Only queries EXPLAIN can plan are ever [`Statement::ReadOnly`] or
//! [`Statement::Dml`]; everything else is refused by its leading keyword,
//! so DDL and utility commands are refused even where sqlparser cannot
//! parse them (`CLUSTER`, `REINDEX`, `DO`, ...).
//!
//! What no classifier can see: a function with side effects called from a
//! read-only-looking SELECT (`SELECT pg_terminate_backend(...)`,
//! `SELECT dblink_exec(...)`, `SELECT pg_advisory_lock(...)`). The real guard
//! for SELECTs is the `READ ONLY` transaction the runner opens and rolls
//! back, which stops every write to the database; the few functions whose
//! effects escape a transaction are the price of running queries at all.

use std::fmt;

use sqlparser::ast::{self, SetExpr};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::lex::{self, Kind, Strings, Token};

/// What a query file holds, and so whether and how it may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// A query that reads only: SELECT, VALUES, TABLE, WITH ... SELECT. It
    /// runs in a `READ ONLY` transaction that is rolled back.
    ReadOnly,
    /// A statement that writes or locks rows: it needs `--allow-dml` (or the
    /// `allow_dml` directive) and runs in a read-write transaction that is
    /// rolled back.
    Dml { kind: DmlKind },
    /// Never run, whatever the flags; `reason` is one sentence for people.
    Refused { reason: String },
    /// sqlparser could not parse it; `reason` carries sqlparser's message
    /// with the line and column. It runs only without ANALYZE, where
    /// nothing executes (plain EXPLAIN rejects anything that is not a
    /// query). `guess` is what its key words say it is.
    Unparsed { reason: String, guess: Guess },
}

/// What the key words of a statement sqlparser cannot parse say it is
/// (capture sorts such statements by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guess {
    /// It starts as a query does (SELECT, WITH, VALUES, TABLE or a
    /// parenthesis) and neither writes nor locks rows.
    Query,
    /// It writes or locks rows.
    Dml(DmlKind),
    /// Anything else.
    Other,
}

/// The kind of a data-modifying (or row-locking) statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmlKind {
    Insert,
    Update,
    Delete,
    Merge,
    /// A query whose `WITH` holds an INSERT, UPDATE, DELETE or MERGE.
    ModifyingWith,
    /// `SELECT ... FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE` or
    /// `FOR KEY SHARE`: it locks rows, which a `READ ONLY` transaction
    /// refuses.
    LockingSelect,
}

impl fmt::Display for DmlKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DmlKind::Insert => "INSERT",
            DmlKind::Update => "UPDATE",
            DmlKind::Delete => "DELETE",
            DmlKind::Merge => "MERGE",
            DmlKind::ModifyingWith => "a data-modifying WITH",
            DmlKind::LockingSelect => "SELECT ... FOR UPDATE/SHARE",
        })
    }
}

impl Statement {
    /// Whether it may run in a `READ ONLY` transaction.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Statement::ReadOnly)
    }

    /// Why the runner must not run it under these flags, or `None` when it
    /// may. `allow_dml` is `--allow-dml` or the `allow_dml` directive;
    /// `analyze` is whether EXPLAIN would execute the statement.
    pub fn refusal(&self, allow_dml: bool, analyze: bool) -> Option<String> {
        match self {
            Statement::ReadOnly => None,
            Statement::Dml { .. } if allow_dml => None,
            Statement::Dml { kind } => Some(format!(
                "{kind} runs only with --allow-dml or `-- planguard: allow_dml = true` (and is rolled back even then)"
            )),
            Statement::Refused { reason } => Some(reason.clone()),
            Statement::Unparsed { reason, .. } if analyze => Some(format!(
                "{reason}; a statement planguard cannot parse runs only with --no-analyze"
            )),
            Statement::Unparsed { .. } => None,
        }
    }
}

/// Classifies the text of one query file (comments and directives may stay
/// in it; a trailing semicolon is fine).
pub fn classify(sql: &str) -> Statement {
    let (tokens, error) = lex::lex(sql, Strings::Standard);
    let statements = lex::statements(&tokens);
    if statements.len() > 1 {
        return several(sql, &statements);
    }
    if let Some(error) = error {
        return Statement::Unparsed {
            reason: error.describe(sql),
            guess: statements.first().map_or(Guess::Other, |t| guess(sql, t)),
        };
    }
    // With standard_conforming_strings off, `'\'` does not end a string:
    // refuse a text that would then split into several statements.
    let (legacy, _) = lex::lex(sql, Strings::Legacy);
    if lex::statements(&legacy).len() > 1 {
        return Statement::Refused {
            reason: "a backslash before a quote makes this several statements when standard_conforming_strings is off, so it is refused (write a quote in a string as '')".into(),
        };
    }
    match statements.first() {
        Some(statement) => classify_one(sql, statement),
        None => Statement::Refused {
            reason: "there is no SQL statement, only comments".into(),
        },
    }
}

fn several(sql: &str, statements: &[Vec<Token>]) -> Statement {
    let names: Vec<String> = statements.iter().map(|s| name_of(sql, s)).collect();
    Statement::Refused {
        reason: format!(
            "{} statements in one file ({}): planguard runs exactly one statement per file and refuses the whole file",
            names.len(),
            names.join("; ")
        ),
    }
}

const NEVER_RUN: &str = "planguard only plans and runs queries inside a rolled-back transaction";

/// Sorts by the leading keyword; only queries EXPLAIN can plan go on to
/// sqlparser.
fn classify_one(sql: &str, tokens: &[Token]) -> Statement {
    let first = tokens[0];
    let word = if first.kind == Kind::Word {
        sql[first.start..first.end].to_ascii_uppercase()
    } else {
        sql[first.start..first.end].to_owned()
    };
    let name = name_of(sql, tokens);
    let refused = |reason: String| Statement::Refused { reason };
    match word.as_str() {
        "SELECT" | "WITH" | "VALUES" | "TABLE" | "(" | "INSERT" | "UPDATE" | "DELETE"
        | "MERGE" => parse_query(sql, tokens),
        "CREATE" | "ALTER" | "DROP" | "COMMENT" | "SECURITY" | "IMPORT" | "REASSIGN" => {
            refused(format!("DDL ({name}) is never run: {NEVER_RUN}"))
        }
        "GRANT" | "REVOKE" => refused(format!("privilege change ({name}) is never run: {NEVER_RUN}")),
        "VACUUM" | "ANALYZE" | "ANALYSE" | "CLUSTER" | "REINDEX" | "CHECKPOINT" | "REFRESH" => {
            refused(format!("maintenance command ({name}) is never run: {NEVER_RUN}"))
        }
        "COPY" => refused(format!("COPY is never run: {NEVER_RUN}")),
        "TRUNCATE" => refused(
            "TRUNCATE is never run: it locks the whole table (ACCESS EXCLUSIVE) even in a transaction that is rolled back".into(),
        ),
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE" => {
            refused(format!(
                "transaction control ({name}) is never run: planguard opens and rolls back the transaction itself"
            ))
        }
        "PREPARE" if name == "PREPARE TRANSACTION" => refused(format!(
            "transaction control ({name}) is never run: planguard opens and rolls back the transaction itself"
        )),
        "SET" | "RESET" | "DISCARD" | "LOAD" => refused(format!(
            "session command ({name}) is never run: a query file holds one query, and planguard sets up its sessions itself"
        )),
        "DO" | "CALL" => refused(format!(
            "procedural code ({name}) is never run: EXPLAIN cannot plan it and what it does cannot be checked beforehand"
        )),
        "LISTEN" | "NOTIFY" | "UNLISTEN" => {
            refused(format!("notification command ({name}) is never run: {NEVER_RUN}"))
        }
        "PREPARE" | "EXECUTE" | "DEALLOCATE" => refused(format!(
            "prepared-statement command ({name}) is never run: put the query itself in the file, with a params directive for its placeholders"
        )),
        "EXPLAIN" => refused(
            "EXPLAIN is never run from a query file: put the bare query in the file and planguard adds EXPLAIN itself".into(),
        ),
        "LOCK" => refused(format!("LOCK is never run: {NEVER_RUN}")),
        "DECLARE" | "FETCH" | "MOVE" | "CLOSE" => {
            refused(format!("cursor command ({name}) is never run: {NEVER_RUN}"))
        }
        // Anything else is either a typo (sqlparser says where) or a
        // command no query file needs.
        _ => match parse(sql) {
            Err(reason) => Statement::Unparsed {
                reason: reason.to_string(),
                guess: Guess::Other,
            },
            Ok(_) => refused(format!(
                "{name} is not a query planguard can explain, so it is never run"
            )),
        },
    }
}

/// Parses a query or DML statement and reads its kind off the syntax tree.
fn parse_query(sql: &str, tokens: &[Token]) -> Statement {
    let parsed = match parse(&blank_unsupported(sql, tokens)) {
        Ok(parsed) => parsed,
        Err(reason) => {
            return Statement::Unparsed {
                reason: reason.to_string(),
                guess: guess(sql, tokens),
            };
        }
    };
    let [statement] = parsed.as_slice() else {
        // The lexer saw one statement; sqlparser disagreeing is a bug in
        // one of them, and refusing is the safe way to find out.
        return Statement::Refused {
            reason: format!(
                "sqlparser reads {} statements here, so it is refused",
                parsed.len()
            ),
        };
    };
    let dml = |kind| Statement::Dml { kind };
    match statement {
        ast::Statement::Insert(_) => dml(DmlKind::Insert),
        ast::Statement::Update(_) => dml(DmlKind::Update),
        ast::Statement::Delete(_) => dml(DmlKind::Delete),
        ast::Statement::Merge(_) => dml(DmlKind::Merge),
        ast::Statement::Query(query) => {
            if select_into(&query.body) {
                return Statement::Refused {
                    reason: "SELECT ... INTO is never run: it creates a table (remove INTO to check the query)".into(),
                };
            }
            if let Some(kind) = body_dml(&query.body) {
                dml(kind)
            } else if modifying_with(query) {
                dml(DmlKind::ModifyingWith)
            } else if locks_rows(sql, tokens) {
                dml(DmlKind::LockingSelect)
            } else {
                Statement::ReadOnly
            }
        }
        _ => Statement::Refused {
            reason: format!(
                "{} is not a query planguard can explain, so it is never run",
                name_of(sql, tokens)
            ),
        },
    }
}

/// Why sqlparser could not read a statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unparsable {
    /// sqlparser's message, with line and column.
    #[error("sqlparser cannot parse it: {0}")]
    Syntax(String),
    /// sqlparser panicked (a bug in it).
    #[error("sqlparser failed on this statement (a bug in sqlparser)")]
    Panicked,
}

/// sqlparser's verdict: the statements, or why not. sqlparser guards its
/// recursion depth itself; the panic guard is for bugs, so that one odd
/// file cannot stop a whole run. Every module parses SQL through here (or
/// [`parse_expr`]).
pub(crate) fn parse(sql: &str) -> Result<Vec<ast::Statement>, Unparsable> {
    let result = std::panic::catch_unwind(|| Parser::parse_sql(&PostgreSqlDialect {}, sql));
    match result {
        Ok(Ok(statements)) => Ok(statements),
        Ok(Err(e)) => {
            let message = e.to_string();
            let message = message
                .strip_prefix("sql parser error: ")
                .unwrap_or(&message);
            Err(Unparsable::Syntax(message.to_owned()))
        }
        Err(_) => Err(Unparsable::Panicked),
    }
}

/// One expression in PostgreSQL's dialect (a plan's condition), or None;
/// guarded as [`parse`] is.
pub(crate) fn parse_expr(text: &str) -> Option<ast::Expr> {
    std::panic::catch_unwind(|| {
        Parser::new(&PostgreSqlDialect {})
            .try_with_sql(text)
            .ok()?
            .parse_expr()
            .ok()
    })
    .ok()
    .flatten()
}

/// Blanks out words sqlparser does not know but whose absence changes
/// nothing about the statement's kind, keeping every offset in place so
/// that sqlparser's line and column still point into the file:
/// `FOR NO KEY UPDATE` reads as `FOR UPDATE`, `FOR KEY SHARE` as
/// `FOR SHARE`, `BETWEEN SYMMETRIC` as `BETWEEN`. The text sent to the
/// server is never rewritten.
fn blank_unsupported(sql: &str, tokens: &[Token]) -> String {
    let mut text = sql.to_owned();
    let mut blank = |t: &Token| {
        text.replace_range(t.start..t.end, &" ".repeat(t.end - t.start));
    };
    for (i, t) in tokens.iter().enumerate() {
        let at = |n: usize, word: &str| tokens.get(i + n).is_some_and(|t| t.is_word(sql, word));
        let for_key_share = t.is_word(sql, "FOR") && at(1, "KEY") && at(2, "SHARE");
        let symmetric = t.is_word(sql, "BETWEEN") && (at(1, "SYMMETRIC") || at(1, "ASYMMETRIC"));
        if t.is_word(sql, "FOR") && at(1, "NO") && at(2, "KEY") && at(3, "UPDATE") {
            blank(&tokens[i + 1]);
            blank(&tokens[i + 2]);
        } else if for_key_share || symmetric {
            blank(&tokens[i + 1]);
        }
    }
    text
}

/// `SELECT ... INTO new_table`: PostgreSQL allows INTO only in the first
/// SELECT of the outermost query (gram.y), so the leftmost branch is enough.
fn select_into(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.into.is_some(),
        SetExpr::Query(query) => select_into(&query.body),
        SetExpr::SetOperation { left, right, .. } => select_into(left) || select_into(right),
        _ => false,
    }
}

/// `WITH ... INSERT/UPDATE/DELETE/MERGE`: sqlparser puts the statement in
/// the query body.
fn body_dml(body: &SetExpr) -> Option<DmlKind> {
    match body {
        SetExpr::Insert(_) => Some(DmlKind::Insert),
        SetExpr::Update(_) => Some(DmlKind::Update),
        SetExpr::Delete(_) => Some(DmlKind::Delete),
        SetExpr::Merge(_) => Some(DmlKind::Merge),
        SetExpr::Query(query) => body_dml(&query.body),
        _ => None,
    }
}

/// A CTE that modifies data, at any depth of WITH (PostgreSQL accepts them
/// only at the top level, but looking deeper costs nothing).
fn modifying_with(query: &ast::Query) -> bool {
    query.with.as_ref().is_some_and(|with| {
        with.cte_tables
            .iter()
            .any(|cte| body_dml(&cte.query.body).is_some() || modifying_with(&cte.query))
    })
}

/// A locking clause anywhere in the statement (a subquery, a CTE), read off
/// the tokens rather than the tree so that no nesting can hide it: after
/// What the key words of a statement say it is (see [`Guess`]): the first
/// word, a data-modifying statement anywhere in a WITH, a locking clause.
fn guess(sql: &str, tokens: &[Token]) -> Guess {
    let Some(first) = tokens.first() else {
        return Guess::Other;
    };
    let is = |word: &str| first.is_word(sql, word);
    let writes = |word: &str| tokens.iter().any(|t| t.is_word(sql, word));
    if is("INSERT") {
        Guess::Dml(DmlKind::Insert)
    } else if is("UPDATE") {
        Guess::Dml(DmlKind::Update)
    } else if is("DELETE") {
        Guess::Dml(DmlKind::Delete)
    } else if is("MERGE") {
        Guess::Dml(DmlKind::Merge)
    } else if is("WITH")
        && !locks_rows(sql, tokens)
        && ["INSERT", "UPDATE", "DELETE", "MERGE"]
            .iter()
            .any(|w| writes(w))
    {
        Guess::Dml(DmlKind::ModifyingWith)
    } else if ["SELECT", "WITH", "VALUES", "TABLE"].iter().any(|w| is(w))
        || &sql[first.start..first.end] == "("
    {
        if locks_rows(sql, tokens) {
            Guess::Dml(DmlKind::LockingSelect)
        } else {
            Guess::Query
        }
    } else {
        Guess::Other
    }
}

/// `FOR`, the words `UPDATE`, `SHARE`, `NO KEY UPDATE` and `KEY SHARE` mean
/// nothing else in a query.
fn locks_rows(sql: &str, tokens: &[Token]) -> bool {
    tokens.windows(2).any(|pair| {
        pair[0].is_word(sql, "FOR")
            && ["UPDATE", "SHARE", "NO", "KEY"]
                .iter()
                .any(|w| pair[1].is_word(sql, w))
    })
}

/// A short name for a statement, from its leading keywords: `SELECT`,
/// `CREATE INDEX`, `DROP TABLE`, `START TRANSACTION`.
fn name_of(sql: &str, tokens: &[Token]) -> String {
    let words: Vec<String> = tokens
        .iter()
        .take_while(|t| t.kind == Kind::Word)
        .take(8)
        .map(|t| sql[t.start..t.end].to_ascii_uppercase())
        .collect();
    let Some(first) = words.first() else {
        // A parenthesized query, or something that is not SQL.
        return match tokens.first() {
            Some(t) if &sql[t.start..t.end] == "(" => "SELECT".into(),
            Some(t) => sql[t.start..t.end].chars().take(20).collect(),
            None => String::new(),
        };
    };
    let second = words.get(1).map(String::as_str);
    match (first.as_str(), second) {
        ("CREATE" | "ALTER" | "DROP", _) => {
            const MODIFIERS: &[&str] = &[
                "OR",
                "REPLACE",
                "UNIQUE",
                "TEMP",
                "TEMPORARY",
                "UNLOGGED",
                "GLOBAL",
                "LOCAL",
                "TRUSTED",
                "PROCEDURAL",
                "RECURSIVE",
                "CONSTRAINT",
            ];
            const TWO_WORDS: &[&str] = &[
                "MATERIALIZED",
                "FOREIGN",
                "EVENT",
                "ACCESS",
                "USER",
                "TEXT",
                "OPERATOR",
            ];
            let mut rest = words[1..]
                .iter()
                .skip_while(|w| MODIFIERS.contains(&w.as_str()));
            let mut name = first.clone();
            if let Some(object) = rest.next() {
                name = format!("{name} {object}");
                if TWO_WORDS.contains(&object.as_str()) {
                    if let Some(more) = rest.next() {
                        name = format!("{name} {more}");
                    }
                }
            }
            name
        }
        ("COMMENT", Some("ON")) => "COMMENT ON".into(),
        ("SECURITY", Some("LABEL")) => "SECURITY LABEL".into(),
        ("IMPORT", Some("FOREIGN")) => "IMPORT FOREIGN SCHEMA".into(),
        ("REFRESH", Some("MATERIALIZED")) => "REFRESH MATERIALIZED VIEW".into(),
        ("REASSIGN", Some("OWNED")) => "REASSIGN OWNED".into(),
        ("START", Some("TRANSACTION")) => "START TRANSACTION".into(),
        ("PREPARE" | "COMMIT" | "ROLLBACK", Some(w @ ("TRANSACTION" | "PREPARED"))) => {
            format!("{first} {w}")
        }
        _ => first.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dml(kind: DmlKind) -> Statement {
        Statement::Dml { kind }
    }

    fn reason(sql: &str) -> String {
        match classify(sql) {
            Statement::Refused { reason } | Statement::Unparsed { reason, .. } => reason,
            other => panic!("{sql:?} is {other:?}"),
        }
    }

    fn assert_refused(sql: &str) {
        assert!(
            matches!(classify(sql), Statement::Refused { .. }),
            "{sql:?} must be refused, is {:?}",
            classify(sql)
        );
    }

    /// PostgreSQL syntax people put in query files; sqlparser 0.64 parses
    /// all of it.
    const READ_ONLY: &[&str] = &[
        "SELECT * FROM orders WHERE customer_id = $1 AND created_at > $2 ORDER BY created_at DESC LIMIT 20",
        "SELECT id::text, '2024-01-01'::date, x::numeric(10,2) FROM t",
        "SELECT * FROM t WHERE name ILIKE '%a%' AND name NOT ILIKE 'b%'",
        "SELECT DISTINCT ON (customer_id) customer_id, created_at FROM orders ORDER BY customer_id, created_at DESC",
        "SELECT c.id, o.* FROM customers c CROSS JOIN LATERAL (SELECT * FROM orders o WHERE o.customer_id = c.id LIMIT 3) o",
        "SELECT c.id FROM customers c LEFT JOIN LATERAL (SELECT 1) x ON true",
        "SELECT count(*) FILTER (WHERE status = 'paid') AS paid FROM orders",
        "SELECT id, row_number() OVER (PARTITION BY customer_id ORDER BY created_at DESC), sum(total) OVER w FROM orders WINDOW w AS (PARTITION BY customer_id)",
        "SELECT lag(x, 1) OVER (ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
        "SELECT data->>'name', data->'a'->'b', data #>> '{a,b}', data #- '{a}' FROM t WHERE data @> '{\"a\":1}'::jsonb",
        "SELECT * FROM t WHERE data ? 'key' AND data ?| array['a','b'] AND data ?& array['c']",
        "SELECT * FROM t WHERE id = ANY($1)",
        "SELECT * FROM t WHERE id = ANY($1::int[]) AND x <> ALL ($2)",
        "SELECT ARRAY[1,2,3], '{1,2,3}'::int[], (ARRAY[1,2])[1], ARRAY(SELECT 1)",
        "SELECT * FROM t WHERE arr && ARRAY[1] AND arr @> ARRAY[1] AND arr <@ ARRAY[1,2]",
        "SELECT now() - INTERVAL '1 day', now() - interval '2 hours', '1 day'::interval",
        "SELECT g FROM GENERATE_SERIES(1, 10) AS g",
        "SELECT * FROM generate_series('2024-01-01'::date, '2024-02-01', interval '1 day') AS d(day)",
        "WITH x AS MATERIALIZED (SELECT 1 AS a), y AS NOT MATERIALIZED (SELECT 2) SELECT * FROM x, y",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r",
        "SELECT * FROM unnest($1::int[]) WITH ORDINALITY AS u(x, n)",
        "SELECT * FROM json_to_recordset($1) AS x(a int, b text)",
        "SELECT string_agg(name, ',' ORDER BY name), percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t",
        "SELECT * FROM t GROUP BY GROUPING SETS ((a), (b), ()), ROLLUP (a, b)",
        "SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3 INTERSECT SELECT 4",
        "SELECT * FROM t OFFSET 5 ROWS FETCH FIRST 10 ROWS WITH TIES",
        "SELECT * FROM t TABLESAMPLE SYSTEM (10)",
        "SELECT x IS DISTINCT FROM y, x ~ '^a', y !~* 'b', v SIMILAR TO 'a%' FROM t",
        "SELECT extract(epoch from now()), date_trunc('day', now()), ts AT TIME ZONE 'UTC' FROM t",
        "SELECT CAST(x AS bigint), x::regclass, (data->>'n')::int FROM t",
        "SELECT * FROM t WHERE tsv @@ to_tsquery('a & b')",
        "SELECT * FROM ONLY t",
        "SELECT $$a;b$$, $tag$ c ; d $tag$",
        "SELECT E'a\\'b', U&'d\\0061t'",
        "SELECT COALESCE(a, b), NULLIF(a, 0), GREATEST(a, b) FROM t ORDER BY a NULLS LAST",
        "SELECT * FROM t WHERE lower(email) = lower($1) AND x ILIKE ANY (ARRAY['a%', 'b%'])",
        "VALUES (1), (2)",
        "(SELECT 1)",
        "SELECT pg_sleep(1)",
    ];

    #[test]
    fn postgres_queries_are_read_only() {
        for sql in READ_ONLY {
            assert_eq!(classify(sql), Statement::ReadOnly, "{sql}");
        }
    }

    #[test]
    fn dml_kinds() {
        let cases = [
            (
                "INSERT INTO t (id, v) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v",
                DmlKind::Insert,
            ),
            (
                "INSERT INTO t (id) VALUES (1) ON CONFLICT DO NOTHING RETURNING id",
                DmlKind::Insert,
            ),
            (
                "UPDATE t SET v = v + 1 WHERE id = $1 RETURNING *",
                DmlKind::Update,
            ),
            (
                "DELETE FROM t USING s WHERE t.id = s.id RETURNING t.id",
                DmlKind::Delete,
            ),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)",
                DmlKind::Merge,
            ),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING *",
                DmlKind::Merge,
            ),
            (
                "WITH moved AS (DELETE FROM a WHERE x < 5 RETURNING *) INSERT INTO b SELECT * FROM moved",
                DmlKind::Insert,
            ),
            ("WITH s AS (SELECT 1) UPDATE t SET a = 1", DmlKind::Update),
            (
                "WITH d AS (DELETE FROM a RETURNING *) SELECT * FROM d",
                DmlKind::ModifyingWith,
            ),
            (
                "WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM u",
                DmlKind::ModifyingWith,
            ),
            (
                "WITH x AS (SELECT 1), i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i",
                DmlKind::ModifyingWith,
            ),
            ("SELECT * FROM t FOR UPDATE", DmlKind::LockingSelect),
            ("SELECT * FROM t FOR SHARE", DmlKind::LockingSelect),
            (
                "select * from t for update skip locked",
                DmlKind::LockingSelect,
            ),
            (
                "SELECT * FROM (SELECT * FROM t FOR UPDATE) s",
                DmlKind::LockingSelect,
            ),
            (
                "SELECT * FROM t WHERE id IN (SELECT id FROM s FOR UPDATE)",
                DmlKind::LockingSelect,
            ),
            (
                "WITH l AS (SELECT * FROM t FOR UPDATE SKIP LOCKED) SELECT * FROM l",
                DmlKind::LockingSelect,
            ),
            // sqlparser 0.64 knows only FOR UPDATE and FOR SHARE; the two
            // weaker PostgreSQL lock strengths are read as those.
            (
                "SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED",
                DmlKind::LockingSelect,
            ),
            (
                "SELECT * FROM t FOR KEY SHARE OF t NOWAIT",
                DmlKind::LockingSelect,
            ),
        ];
        for (sql, kind) in cases {
            assert_eq!(classify(sql), dml(kind), "{sql}");
        }
    }

    #[test]
    fn syntax_sqlparser_lacks_is_blanked_or_unparsed() {
        // sqlparser 0.64 rejects BETWEEN SYMMETRIC; it is read as BETWEEN.
        assert_eq!(
            classify("SELECT x FROM t WHERE ts BETWEEN SYMMETRIC 1 AND 2"),
            Statement::ReadOnly
        );
        // sqlparser 0.64 rejects `TABLE name` (short for SELECT * FROM
        // name): it is Unparsed, which still runs with --no-analyze.
        assert_eq!(
            classify("TABLE t"),
            Statement::Unparsed {
                reason: "sqlparser cannot parse it: Expected: an SQL statement, found: TABLE at Line: 1, Column: 1".into(),
                guess: Guess::Query,
            }
        );
    }

    #[test]
    fn unparsed_keeps_sqlparsers_position() {
        assert_eq!(
            reason("SELECT *\nFROM t WHERE x = = 1"),
            "sqlparser cannot parse it: Expected: an expression, found: = at Line: 2, Column: 18"
        );
        assert_eq!(
            reason("SELEC 1"),
            "sqlparser cannot parse it: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1"
        );
        assert_eq!(
            reason("SELECT 'open"),
            "unterminated string constant starting at line 1, column 8"
        );
    }

    #[test]
    fn several_statements_are_refused_whatever_they_are() {
        assert_eq!(
            reason("SELECT 1; DROP TABLE x"),
            "2 statements in one file (SELECT; DROP TABLE): planguard runs exactly one statement per file and refuses the whole file"
        );
        assert_refused("SELECT 1;SELECT 2;");
        assert_refused("SELECT 1; CLUSTER t");
        // Even when the first one is unterminated or unparsable.
        assert_refused("SELECT * FROM t FOR NO KEY UPDATE; DROP TABLE x");
        assert_refused("SELECT 1 ==; DROP TABLE x");
        // Parentheses do not protect a semicolon.
        assert_refused("SELECT (1; DROP TABLE x)");
    }

    #[test]
    fn semicolons_that_do_not_separate() {
        for sql in [
            "SELECT 1;",
            "SELECT 1 ;; ;",
            "SELECT 1; -- done",
            "SELECT 1 /* ; DROP TABLE x */",
            "SELECT 1 /* outer /* nested ; */ still comment ; */",
            "SELECT 1 -- ; DROP\n",
            "SELECT ';' AS semi, 'it''s; fine', E'\\'; still', \"odd;name\" FROM t",
            "SELECT $$a; DROP TABLE x$$, $fn$ ; $$ ; $fn$",
            "SELECT U&'\\0041;' , B'0101', X'1F'",
        ] {
            assert_eq!(classify(sql), Statement::ReadOnly, "{sql}");
        }
    }

    #[test]
    fn backslash_quote_that_splits_without_standard_strings() {
        // With standard_conforming_strings off, `\'` does not end the
        // string, and the DROP would be a statement of its own.
        assert_eq!(
            reason(r"SELECT 'a\''; DROP TABLE x; --'"),
            "a backslash before a quote makes this several statements when standard_conforming_strings is off, so it is refused (write a quote in a string as '')"
        );
        // A backslash alone is fine either way.
        assert_eq!(classify(r"SELECT 'C:\dir'"), Statement::ReadOnly);
    }

    #[test]
    fn refused_with_a_reason() {
        let cases = [
            (
                "CREATE INDEX CONCURRENTLY i ON t (a)",
                "DDL (CREATE INDEX) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "create unique index i on t (a)",
                "DDL (CREATE INDEX) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "CREATE OR REPLACE MATERIALIZED VIEW v AS SELECT 1",
                "DDL (CREATE MATERIALIZED VIEW) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "DROP TABLE IF EXISTS t",
                "DDL (DROP TABLE) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "ALTER TABLE t ADD COLUMN c int",
                "DDL (ALTER TABLE) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "CREATE TABLE t AS SELECT 1",
                "DDL (CREATE TABLE) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "COMMENT ON TABLE t IS 'x'",
                "DDL (COMMENT ON) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "GRANT SELECT ON t TO u",
                "privilege change (GRANT) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "COPY t TO STDOUT",
                "COPY is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "COPY (SELECT 1) TO '/tmp/x'",
                "COPY is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "VACUUM ANALYZE t",
                "maintenance command (VACUUM) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "ANALYZE",
                "maintenance command (ANALYZE) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "TRUNCATE t",
                "TRUNCATE is never run: it locks the whole table (ACCESS EXCLUSIVE) even in a transaction that is rolled back",
            ),
            (
                "BEGIN",
                "transaction control (BEGIN) is never run: planguard opens and rolls back the transaction itself",
            ),
            (
                "START TRANSACTION READ ONLY",
                "transaction control (START TRANSACTION) is never run: planguard opens and rolls back the transaction itself",
            ),
            (
                "PREPARE TRANSACTION 'x'",
                "transaction control (PREPARE TRANSACTION) is never run: planguard opens and rolls back the transaction itself",
            ),
            (
                "SET work_mem = '1GB'",
                "session command (SET) is never run: a query file holds one query, and planguard sets up its sessions itself",
            ),
            (
                "DO $$ BEGIN PERFORM 1; END $$",
                "procedural code (DO) is never run: EXPLAIN cannot plan it and what it does cannot be checked beforehand",
            ),
            (
                "CALL p(1)",
                "procedural code (CALL) is never run: EXPLAIN cannot plan it and what it does cannot be checked beforehand",
            ),
            (
                "NOTIFY ch, 'x'",
                "notification command (NOTIFY) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "EXECUTE p",
                "prepared-statement command (EXECUTE) is never run: put the query itself in the file, with a params directive for its placeholders",
            ),
            (
                "EXPLAIN (ANALYZE, BUFFERS) SELECT 1",
                "EXPLAIN is never run from a query file: put the bare query in the file and planguard adds EXPLAIN itself",
            ),
            (
                "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
                "LOCK is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "DECLARE c CURSOR FOR SELECT 1",
                "cursor command (DECLARE) is never run: planguard only plans and runs queries inside a rolled-back transaction",
            ),
            (
                "SELECT * INTO newt FROM t",
                "SELECT ... INTO is never run: it creates a table (remove INTO to check the query)",
            ),
            (
                "SHOW work_mem",
                "SHOW is not a query planguard can explain, so it is never run",
            ),
            ("", "there is no SQL statement, only comments"),
            (
                "-- only a comment\n/* and another */",
                "there is no SQL statement, only comments",
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(reason(sql), expected, "{sql}");
        }
    }

    /// Every utility command is refused by its keyword, including those
    /// sqlparser 0.64 cannot parse (CLUSTER, REINDEX, CHECKPOINT, DO,
    /// SECURITY LABEL, ALTER SYSTEM, IMPORT FOREIGN SCHEMA, COMMIT PREPARED).
    #[test]
    fn utility_commands_are_refused() {
        for sql in [
            "CLUSTER t USING i",
            "REINDEX TABLE t",
            "CHECKPOINT",
            "VACUUM",
            "ANALYSE t",
            "REFRESH MATERIALIZED VIEW mv",
            "RESET ALL",
            "RESET work_mem",
            "SET ROLE admin",
            "SET SESSION AUTHORIZATION admin",
            "SET LOCAL statement_timeout = 0",
            "DISCARD ALL",
            "LOAD 'auto_explain'",
            "DO LANGUAGE plpgsql $$ BEGIN END $$",
            "LISTEN ch",
            "UNLISTEN *",
            "PREPARE p AS SELECT 1",
            "DEALLOCATE ALL",
            "EXPLAIN SELECT 1",
            "REVOKE SELECT ON t FROM u",
            "LOCK t",
            "COMMIT",
            "END",
            "ROLLBACK",
            "ABORT",
            "SAVEPOINT a",
            "RELEASE SAVEPOINT a",
            "COMMIT PREPARED 'x'",
            "FETCH 10 FROM c",
            "CLOSE c",
            "MOVE NEXT IN c",
            "SECURITY LABEL ON TABLE t IS 'x'",
            "ALTER SYSTEM SET work_mem = '1GB'",
            "IMPORT FOREIGN SCHEMA s FROM SERVER x INTO y",
            "CREATE EXTENSION hypopg",
            "CREATE TEMP TABLE t (a int)",
            "REASSIGN OWNED BY a TO b",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END",
            "WITH x AS (SELECT 1) SELECT * INTO t FROM x",
            "SELECT 1 INTO t UNION SELECT 2",
        ] {
            assert_refused(sql);
        }
    }

    #[test]
    fn refusal_depends_on_flags() {
        let read_only = Statement::ReadOnly;
        assert_eq!(read_only.refusal(false, true), None);
        let insert = dml(DmlKind::Insert);
        assert_eq!(
            insert.refusal(false, true).as_deref(),
            Some(
                "INSERT runs only with --allow-dml or `-- planguard: allow_dml = true` (and is rolled back even then)"
            )
        );
        assert_eq!(insert.refusal(true, true), None);
        let unparsed = classify("TABLE t");
        assert!(
            unparsed
                .refusal(true, true)
                .unwrap()
                .ends_with("; a statement planguard cannot parse runs only with --no-analyze")
        );
        assert_eq!(unparsed.refusal(false, false), None);
        assert!(classify("VACUUM").refusal(true, false).is_some());
    }

    /// Every prefix of every statement above: whatever the text, the
    /// answer is a value, never a panic.
    #[test]
    fn never_panics_on_truncated_statements() {
        let more = [
            "SELECT 'a\\'' /* x */ $$ $a$ \"q\" U&\"x\" E'\\\\' $1 -- c",
            "WITH d AS (DELETE FROM a RETURNING *) SELECT * FROM t FOR NO KEY UPDATE",
            "SELECT ünïcødé, 'ß' FROM «t»",
        ];
        for sql in READ_ONLY.iter().chain(more.iter()) {
            for (n, _) in sql.char_indices() {
                let _ = classify(&sql[..n]);
            }
        }
    }

    #[test]
    fn deep_nesting_is_unparsed_not_a_crash() {
        let sql = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(matches!(classify(&sql), Statement::Unparsed { .. }));
    }
}
