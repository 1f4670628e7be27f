//! Query sets built in temporary directories: layout, directives, errors,
//! selection and statement classification. No database.

use std::path::{Path, PathBuf};

use planguard::queryset::{self, DmlKind, Guess, Param, Query, QuerySet, Statement};
use tempfile::TempDir;

/// A query directory holding `files` (relative path, contents).
fn dir(files: &[(&str, &str)]) -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = tmp.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    tmp
}

fn load(root: &Path) -> QuerySet {
    queryset::load(root).unwrap_or_else(|e| panic!("{}", planguard::error::chain(&e)))
}

/// The error as `planguard` prints it, with its causes.
fn load_error(root: &Path) -> String {
    planguard::error::chain(&queryset::load(root).unwrap_err()).to_string()
}

/// The only query of a one-file set.
fn one(text: &str) -> Query {
    let tmp = dir(&[("q.sql", text)]);
    let set = load(tmp.path());
    set.queries()[0].clone()
}

/// The error for one file, with the temporary path replaced by `<dir>`.
fn one_error(text: &str) -> String {
    let tmp = dir(&[("orders/by_customer.sql", text)]);
    load_error(tmp.path()).replace(&tmp.path().display().to_string(), "<dir>")
}

fn ids(queries: &[&Query]) -> Vec<String> {
    queries.iter().map(|q| q.id.clone()).collect()
}

#[test]
fn nested_folders_give_slash_ids_in_order() {
    let tmp = dir(&[
        ("reports/top_customers.sql", "SELECT 1"),
        ("reports/2024/q1.sql", "SELECT 2"),
        ("orders/by_customer.sql", "SELECT 3"),
        ("a.sql", "SELECT 4"),
        ("notes.txt", "not a query"),
        ("README.md", "# queries"),
        ("reports/draft.sql.bak", "SELECT 5"),
        (".hidden.sql", "SELECT 6"),
        (".git/config.sql", "SELECT 7"),
    ]);
    let set = load(tmp.path());
    let all: Vec<&Query> = set.queries().iter().collect();
    assert_eq!(
        ids(&all),
        [
            "a",
            "orders/by_customer",
            "reports/2024/q1",
            "reports/top_customers"
        ]
    );
    let q1 = set.get("reports/2024/q1").unwrap();
    assert_eq!(q1.path, tmp.path().join("reports/2024/q1.sql"));
    assert_eq!(q1.sql, "SELECT 2");
    assert_eq!(set.root(), tmp.path());
    assert_eq!(set.len(), 4);
    assert!(set.get("reports").is_none());
}

#[test]
fn a_single_file_is_a_set_of_one() {
    let tmp = dir(&[("orders/by_customer.sql", "SELECT 1;\n")]);
    let file = tmp.path().join("orders/by_customer.sql");
    let set = load(&file);
    assert_eq!(set.len(), 1);
    assert_eq!(set.queries()[0].id, "by_customer");
    assert_eq!(set.queries()[0].path, file);
}

#[test]
fn missing_empty_and_wrong_paths_are_errors_naming_them() {
    let tmp = dir(&[("notes.txt", "x"), ("empty/.keep.sql", "SELECT 1")]);
    let root = tmp.path().display().to_string();
    assert_eq!(
        load_error(&tmp.path().join("nope")),
        format!("{root}/nope: no such file or directory")
    );
    assert_eq!(
        load_error(&tmp.path().join("empty")),
        format!("{root}/empty: the directory holds no .sql files")
    );
    assert_eq!(
        load_error(&tmp.path().join("notes.txt")),
        format!("{root}/notes.txt: not a directory or a .sql file")
    );
    let only_comments = dir(&[("q.sql", "-- planguard: tags = [\"a\"]\n-- nothing else;\n;")]);
    assert_eq!(
        load_error(only_comments.path()),
        format!(
            "{}/q.sql: there is no SQL statement in the file",
            only_comments.path().display()
        )
    );
    let latin1 = tempfile::tempdir().unwrap();
    std::fs::write(latin1.path().join("q.sql"), b"SELECT '\xe9'").unwrap();
    assert_eq!(
        load_error(latin1.path()),
        format!("{}/q.sql: not valid UTF-8", latin1.path().display())
    );
}

#[test]
fn every_directive_is_read() {
    let q = one("-- Orders of one customer, newest first.\n\
         -- planguard: name = \"orders for one customer\"\n\
         -- planguard: params = [42, \"2024-01-01\"]      -- values for $1, $2\n\
         -- planguard: tags = [\"checkout\", \"hot\"]\n\
         -- planguard: allow_dml = true\n\
         -- planguard: skip = \"reason\"\n\
         -- planguard: thresholds.cost_ratio = 2.0\n\
         SELECT * FROM orders WHERE customer_id = $1 AND created_at > $2\n\
         ORDER BY created_at DESC LIMIT 20; -- newest\n");
    assert_eq!(q.id, "q");
    assert_eq!(q.name.as_deref(), Some("orders for one customer"));
    assert_eq!(q.display_name(), "orders for one customer");
    assert_eq!(q.params, [Param::Int(42), Param::Text("2024-01-01".into())]);
    assert_eq!(q.params[1].as_text().as_deref(), Some("2024-01-01"));
    assert_eq!(q.tags, ["checkout", "hot"]);
    assert!(q.allow_dml);
    assert_eq!(q.skip.as_deref(), Some("reason"));
    assert_eq!(q.thresholds["cost_ratio"].as_float(), Some(2.0));
    assert_eq!(q.param_count, 2);
    assert_eq!(q.statement, Statement::ReadOnly);
    // Directive lines go, other comments stay; no trailing semicolon.
    assert_eq!(
        q.sql,
        "-- Orders of one customer, newest first.\n\
         SELECT * FROM orders WHERE customer_id = $1 AND created_at > $2\n\
         ORDER BY created_at DESC LIMIT 20"
    );
}

#[test]
fn thresholds_as_an_inline_table_and_params_with_null() {
    let q = one(
        "-- planguard: thresholds = { cost_ratio = 2.0, time_ratio = 3 }\n\
         -- planguard: params = [[1, 2, 3], null, true]\n\
         SELECT * FROM t WHERE id = ANY($1) AND (x = $2 OR $3)",
    );
    let expected: toml::Table = toml::from_str("cost_ratio = 2.0\ntime_ratio = 3").unwrap();
    assert_eq!(q.thresholds, expected);
    let texts: Vec<Option<String>> = q.params.iter().map(Param::as_text).collect();
    assert_eq!(
        texts,
        [Some("{1,2,3}".to_owned()), None, Some("true".to_owned())]
    );
}

#[test]
fn without_directives_nothing_is_set() {
    let q = one("SELECT 1");
    assert_eq!(q.name, None);
    assert_eq!(q.display_name(), "q");
    assert!(q.params.is_empty() && q.tags.is_empty() && !q.allow_dml);
    assert_eq!(q.skip, None);
    assert!(q.thresholds.is_empty());
    assert_eq!(q.param_count, 0);
}

#[test]
fn directives_after_the_sql_are_ordinary_comments() {
    let q = one(
        "/* header */\n-- planguard: tags = [\"a\"]\nSELECT 1\n-- planguard: tagz = 1\n-- planguard: tags = [\"b\"]\n",
    );
    assert_eq!(q.tags, ["a"]);
    assert_eq!(q.sql, "/* header */\nSELECT 1");
}

#[test]
fn crlf_and_a_byte_order_mark_are_fine() {
    let q =
        one("\u{feff}-- planguard: tags = [\"a\"]\r\n-- planguard: params = [1]\r\nSELECT $1;\r\n");
    assert_eq!(q.tags, ["a"]);
    assert_eq!(q.params, [Param::Int(1)]);
    assert_eq!(q.sql, "SELECT $1");
    assert_eq!(q.statement, Statement::ReadOnly);
}

#[test]
fn directive_errors_name_the_file_and_line() {
    let cases = [
        (
            "-- Orders of one customer.\n-- planguard: name = \"x\"\n-- planguard: tagz = [\"checkout\"]\nSELECT 1",
            r#"<dir>/orders/by_customer.sql:3: unknown directive "tagz" (known: name, params, tags, allow_dml, skip, thresholds)"#,
        ),
        (
            "-- planguard: name = orders for one customer\nSELECT 1",
            "<dir>/orders/by_customer.sql:1: invalid TOML value at column 22: invalid string; expected `\"`, `'`",
        ),
        (
            "-- planguard: tags = \"x\"\nSELECT 1",
            r#"<dir>/orders/by_customer.sql:1: directive "tags" must be an array of strings, found a string"#,
        ),
        (
            "-- planguard: allow_dml = 1\nSELECT 1",
            r#"<dir>/orders/by_customer.sql:1: directive "allow_dml" must be true or false, found an integer"#,
        ),
        (
            "-- planguard: skip = false\nSELECT 1",
            r#"<dir>/orders/by_customer.sql:1: directive "skip" must be a string (the reason), found a boolean"#,
        ),
        (
            "-- planguard: name = [\"a\"]\nSELECT 1",
            r#"<dir>/orders/by_customer.sql:1: directive "name" must be a string, found an array"#,
        ),
        (
            "-- planguard: thresholds = \"strict\"\nSELECT 1",
            r#"<dir>/orders/by_customer.sql:1: directive "thresholds" must be a table (`thresholds.cost_ratio = 2.0` or `thresholds = { cost_ratio = 2.0 }`), found a string"#,
        ),
        (
            "-- planguard: params = { a = 1 }\nSELECT 1",
            r#"<dir>/orders/by_customer.sql:1: directive "params" must be an array of integers, floats, strings, booleans, dates, null or arrays of those, found a table"#,
        ),
        (
            "-- planguard: skip = \"a\"\n--\n-- planguard: skip = \"b\"\nSELECT 1",
            r#"<dir>/orders/by_customer.sql:3: directive "skip" is given twice (first on line 1)"#,
        ),
        (
            "-- planguard: thresholds = { cost_ratio = 2 }\n-- planguard: thresholds.cost_ratio = 3\nSELECT 1",
            r#"<dir>/orders/by_customer.sql:2: directive "thresholds.cost_ratio" is given twice (first on line 1)"#,
        ),
        (
            "\n\n-- planguard:\nSELECT 1",
            "<dir>/orders/by_customer.sql:3: empty directive: expected `key = value` after `planguard:`",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(one_error(text), expected, "{text}");
    }
}

#[test]
fn params_must_match_the_placeholders() {
    assert_eq!(
        one_error(
            "-- planguard: tags = []\n-- planguard: params = [42]\nSELECT * FROM orders WHERE customer_id = $1 AND created_at > $2"
        ),
        "<dir>/orders/by_customer.sql:2: params has 1 value but the statement uses $1 to $2"
    );
    assert_eq!(
        one_error("-- planguard: params = [1, 2]\nSELECT * FROM t WHERE id = $1"),
        "<dir>/orders/by_customer.sql:1: params has 2 values but the statement uses $1"
    );
    assert_eq!(
        one_error("-- planguard: params = [1]\nSELECT '$1', $$ $1 $$ -- $1\n/* $1 */"),
        "<dir>/orders/by_customer.sql:1: params has 1 value but the statement has no $n placeholder"
    );
    // The highest $n counts, as in PostgreSQL; without params the runner
    // samples values (or falls back to a generic plan).
    let q = one("SELECT * FROM t WHERE a = $1 OR b = $3 OR c = $1");
    assert_eq!(q.param_count, 3);
    assert!(q.params.is_empty());
    let q = one("-- planguard: params = []\nSELECT 1");
    assert!(q.params.is_empty());
}

#[test]
fn selection_by_glob_and_tag() {
    let tmp = dir(&[
        (
            "orders/by_customer.sql",
            "-- planguard: tags = [\"checkout\", \"hot\"]\nSELECT 1",
        ),
        (
            "orders/recent.sql",
            "-- planguard: tags = [\"hot\"]\nSELECT 2",
        ),
        (
            "orders/archive/2023.sql",
            "-- planguard: tags = [\"slow\"]\nSELECT 3",
        ),
        (
            "reports/top_customers.sql",
            "-- planguard: tags = [\"slow\", \"checkout\"]\nSELECT 4",
        ),
    ]);
    let set = load(tmp.path());
    let select = |globs: &[&str], tags: &[&str]| {
        let globs: Vec<String> = globs.iter().map(|s| s.to_string()).collect();
        let tags: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
        ids(&set.select(&globs, &tags).unwrap())
    };
    assert_eq!(select(&[], &[]).len(), 4);
    // `*` stays within one folder, `**` crosses folders.
    assert_eq!(
        select(&["orders/*"], &[]),
        ["orders/by_customer", "orders/recent"]
    );
    assert_eq!(
        select(&["orders/**"], &[]),
        ["orders/archive/2023", "orders/by_customer", "orders/recent"]
    );
    assert_eq!(select(&["*"], &[]), Vec::<String>::new());
    assert_eq!(select(&["**/top_*"], &[]), ["reports/top_customers"]);
    assert_eq!(select(&["orders/recent"], &[]), ["orders/recent"]);
    // Globs: any of them; tags: any of them; both: both must match.
    assert_eq!(
        select(&["orders/recent", "reports/*"], &[]),
        ["orders/recent", "reports/top_customers"]
    );
    assert_eq!(
        select(&[], &["checkout", "slow"]),
        [
            "orders/archive/2023",
            "orders/by_customer",
            "reports/top_customers"
        ]
    );
    assert_eq!(
        select(&["orders/**"], &["checkout"]),
        ["orders/by_customer"]
    );
    assert_eq!(select(&["reports/*"], &["hot"]), Vec::<String>::new());
    assert_eq!(
        set.select(&["orders/[".to_owned()], &[])
            .unwrap_err()
            .to_string(),
        r#"invalid query glob "orders/[": unclosed character class; missing ']'"#
    );
}

#[cfg(unix)]
#[test]
fn symlinks_inside_are_followed_and_outside_refused() {
    use std::os::unix::fs::symlink;
    let tmp = dir(&[
        ("queries/shared/common.sql", "SELECT 1"),
        ("queries/a.sql", "SELECT 2"),
        ("outside/secret.sql", "SELECT 3"),
    ]);
    let root = tmp.path().join("queries");
    symlink(root.join("a.sql"), root.join("alias.sql")).unwrap();
    symlink(root.join("shared"), root.join("linked")).unwrap();
    // A link back to a directory above is skipped, so the walk ends.
    symlink(&root, root.join("shared/loop")).unwrap();
    // A dangling link that is not a query is ignored.
    symlink(root.join("gone"), root.join("notes")).unwrap();
    let set = load(&root);
    let all: Vec<&Query> = set.queries().iter().collect();
    assert_eq!(ids(&all), ["a", "alias", "linked/common", "shared/common"]);

    symlink(
        tmp.path().join("outside/secret.sql"),
        root.join("secret.sql"),
    )
    .unwrap();
    let canonical: PathBuf = std::fs::canonicalize(tmp.path().join("outside/secret.sql")).unwrap();
    assert_eq!(
        load_error(&root),
        format!(
            "{}: symbolic link to {} leaves the query directory; planguard reads only files inside it",
            root.join("secret.sql").display(),
            canonical.display()
        )
    );
    std::fs::remove_file(root.join("secret.sql")).unwrap();
    symlink(tmp.path().join("outside"), root.join("more")).unwrap();
    assert!(load_error(&root).contains("leaves the query directory"));
}

fn classify_file(text: &str) -> Statement {
    one(text).statement
}

fn refused(text: &str) -> String {
    match classify_file(text) {
        Statement::Refused { reason } => reason,
        other => panic!("{text:?} must be refused, is {other:?}"),
    }
}

#[test]
fn two_statements_in_one_file_are_refused() {
    assert_eq!(
        refused("-- planguard: tags = [\"a\"]\nSELECT 1; DROP TABLE x"),
        "2 statements in one file (SELECT; DROP TABLE): planguard runs exactly one statement per file and refuses the whole file"
    );
    assert_eq!(
        refused("SELECT 1;\nDELETE FROM orders;\n"),
        "2 statements in one file (SELECT; DELETE): planguard runs exactly one statement per file and refuses the whole file"
    );
}

#[test]
fn statements_hidden_in_comments_are_not_statements() {
    for text in [
        "SELECT 1 /* ; DROP TABLE x */",
        "SELECT 1 -- ; DROP",
        "SELECT 1 /* nested /* ; */ DROP TABLE x; */;",
        "-- DROP TABLE x;\nSELECT 1",
    ] {
        assert_eq!(classify_file(text), Statement::ReadOnly, "{text}");
    }
}

#[test]
fn dollar_quoted_bodies_and_strings_hold_semicolons() {
    for text in [
        "SELECT $$; DROP TABLE x;$$ AS body",
        "SELECT $fn$ $$ ; $$ ; $fn$",
        "SELECT ';' AS semi, 'it''s; fine', E'\\'; DROP TABLE x'",
        "SELECT \"odd;column\" FROM t",
    ] {
        assert_eq!(classify_file(text), Statement::ReadOnly, "{text}");
    }
    // An unterminated body hides nothing: it is unparsed, and says where.
    assert_eq!(
        classify_file("-- planguard: tags = []\nSELECT $$ ; DROP TABLE x"),
        Statement::Unparsed {
            reason: "unterminated dollar-quoted string starting at line 2, column 8".into(),
            guess: Guess::Query,
        }
    );
}

#[test]
fn ddl_and_utility_commands_are_refused() {
    let cases = [
        (
            "CREATE INDEX orders_customer ON orders (customer_id);",
            "DDL (CREATE INDEX) is never run: planguard only plans and runs queries inside a rolled-back transaction",
        ),
        (
            "COPY orders TO STDOUT",
            "COPY is never run: planguard only plans and runs queries inside a rolled-back transaction",
        ),
        (
            "VACUUM (ANALYZE) orders",
            "maintenance command (VACUUM) is never run: planguard only plans and runs queries inside a rolled-back transaction",
        ),
        (
            "SET enable_seqscan = off",
            "session command (SET) is never run: a query file holds one query, and planguard sets up its sessions itself",
        ),
        (
            "DO $$ BEGIN DELETE FROM orders; END $$;",
            "procedural code (DO) is never run: EXPLAIN cannot plan it and what it does cannot be checked beforehand",
        ),
        (
            "SELECT * INTO orders_copy FROM orders",
            "SELECT ... INTO is never run: it creates a table (remove INTO to check the query)",
        ),
    ];
    for (text, reason) in cases {
        assert_eq!(refused(text), reason, "{text}");
    }
}

#[test]
fn dml_is_classified_by_kind() {
    let cases = [
        (
            "WITH gone AS (DELETE FROM orders WHERE id = $1 RETURNING *) SELECT count(*) FROM gone",
            DmlKind::ModifyingWith,
        ),
        (
            "SELECT * FROM orders WHERE id = $1 FOR UPDATE",
            DmlKind::LockingSelect,
        ),
        (
            "SELECT * FROM jobs FOR NO KEY UPDATE SKIP LOCKED LIMIT 1",
            DmlKind::LockingSelect,
        ),
        (
            "MERGE INTO stock s USING deliveries d ON s.item = d.item WHEN MATCHED THEN UPDATE SET qty = s.qty + d.qty WHEN NOT MATCHED THEN INSERT VALUES (d.item, d.qty)",
            DmlKind::Merge,
        ),
        (
            "INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v RETURNING id",
            DmlKind::Insert,
        ),
        (
            "UPDATE orders SET status = 'x' WHERE id = 1",
            DmlKind::Update,
        ),
        ("DELETE FROM orders WHERE id = 1", DmlKind::Delete),
    ];
    for (text, kind) in cases {
        assert_eq!(classify_file(text), Statement::Dml { kind }, "{text}");
    }
}

#[test]
fn refusal_honours_the_allow_dml_directive() {
    let plain = one("DELETE FROM orders WHERE id = 1");
    assert!(plain.refusal(false, true).is_some());
    assert_eq!(plain.refusal(true, true), None);
    let allowed = one("-- planguard: allow_dml = true\nDELETE FROM orders WHERE id = 1");
    assert_eq!(allowed.refusal(false, true), None);
    let ddl = one("-- planguard: allow_dml = true\nDROP TABLE orders");
    assert!(ddl.refusal(true, false).is_some());
}

#[test]
fn unparsed_positions_are_the_files() {
    // sqlparser's line and column point into the file, directives included.
    assert_eq!(
        classify_file("-- planguard: tags = [\"a\"]\n-- planguard: name = \"b\"\nSELECT *\nFROM t WHERE x = = 1"),
        Statement::Unparsed {
            reason: "sqlparser cannot parse it: Expected: an expression, found: = at Line: 4, Column: 18".into(),
            guess: Guess::Query,
        }
    );
}
