//! Hostile input: query files that try to smuggle a second statement past
//! the classifier, parameters and settings that try SQL injection,
//! hand-broken baselines and snapshots, query ids and links that try to
//! write outside the baselines and snapshots directories.
//!
//! What reached the server is proven with pg_stat_statements (it records
//! every statement, utility commands too, even when rolled back) and by
//! the target table still being there with all its rows. The classifier
//! itself is tested in queryset.rs (`two_statements_in_one_file_are_refused`,
//! `statements_hidden_in_comments_are_not_statements`,
//! `dollar_quoted_bodies_and_strings_hold_semicolons`) and
//! baseline.rs (`refused_statements_never_reach_the_server`).

use std::path::Path;
use std::sync::Arc;

use planguard::conn::ConnParams;
use planguard::runner::{Job, Outcome, RunOptions, Runner};
use serde_json::Value;

use crate::support::{self, TestDb, run_in, write_queries};

const SCHEMA: &str = "
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
    CREATE TABLE victims (id int PRIMARY KEY, note text NOT NULL);
    INSERT INTO victims SELECT i, 'n' || i FROM generate_series(1, 2000) i;";

async fn victims() -> (TestDb, tempfile::TempDir) {
    support::seeded(SCHEMA, &[]).await
}

/// The statements of this database pg_stat_statements saw that are not
/// planguard's EXPLAINs, its session setup or transaction control, nor
/// this test's own bookkeeping: anything else came from a hostile file.
async fn foreign_statements(db: &TestDb) -> Vec<String> {
    db.client()
        .await
        .query(
            "SELECT query FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND query !~* '^\\s*(EXPLAIN|SET|BEGIN|ROLLBACK|SELECT current_setting|VACUUM|ANALYZE|CREATE EXTENSION|CREATE TABLE victims|INSERT INTO victims SELECT)'
               AND query NOT ILIKE '%pg_stat_statements%'
               AND query NOT ILIKE '%pg_class%'
               AND query NOT ILIKE '%count(*) FROM victims%'
               -- planguard's own look at the sequences around a DML job.
               AND query <> 'SELECT format($1, schemaname, sequencename), last_value FROM pg_sequences'
               -- planguard's own hand-over of bound values to the generic
               -- plan's EXECUTE (runner/generic.rs).
               AND query NOT LIKE 'SELECT pg_catalog.set_config($2 || t.n, t.v, $3) FROM pg_catalog.unnest($1::text[])%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// All 2000 rows of `victims` are still there.
async fn assert_victims_intact(db: &TestDb) {
    let count: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM victims", &[])
        .await
        .unwrap_or_else(|e| panic!("the table is gone: {e}"))
        .get(0);
    assert_eq!(count, 2000);
}

#[tokio::test]
async fn statements_hidden_in_a_query_file_never_reach_the_server() {
    let (db, dir) = victims().await;
    write_queries(
        dir.path(),
        &[
            ("two", "SELECT 1 AS two_marker; DROP TABLE victims"),
            (
                "two_lines",
                "-- planguard: allow_dml = true\nSELECT 1;\nDELETE FROM victims;\n",
            ),
            (
                "block_comment",
                "SELECT count(*) AS block_marker FROM victims /* ; DROP TABLE victims; */",
            ),
            (
                "nested_comment",
                "SELECT 1 AS nested_marker /* a /* ; */ DROP TABLE victims; */",
            ),
            (
                "line_comment",
                "SELECT 1 AS line_marker -- ; DROP TABLE victims\n",
            ),
            (
                "after_the_end",
                "SELECT 1 AS end_marker;\n-- DROP TABLE victims;\n",
            ),
            (
                "dollar",
                "SELECT $$; DROP TABLE victims;$$ AS dollar_marker",
            ),
            (
                "tagged_dollar",
                "SELECT $x$ $$ ; DROP TABLE victims; $$ $x$ AS tagged_marker",
            ),
            (
                "strings",
                "SELECT ';' AS semi_marker, 'it''s; DROP TABLE victims', E'\\'; DROP TABLE victims; --'",
            ),
            (
                "quoted_identifier",
                "SELECT 1 AS \"; DROP TABLE victims; --\"",
            ),
        ],
    );
    let (code, _, err) = run_in(
        dir.path(),
        &[
            "baseline",
            "-d",
            &db.conninfo,
            "--runs",
            "1",
            "--warmup",
            "0",
            "--allow-dml",
        ],
    );
    assert_eq!(code, 0, "{err}");
    for id in ["two", "two_lines"] {
        assert!(
            err.contains(&format!("{id}: skipped: refused: 2 statements in one file")),
            "{id}: {err}"
        );
        assert!(!dir.path().join(format!("baselines/{id}.json")).exists());
    }
    for id in [
        "block_comment",
        "nested_comment",
        "line_comment",
        "after_the_end",
        "dollar",
        "tagged_dollar",
        "strings",
        "quoted_identifier",
    ] {
        assert!(
            dir.path().join(format!("baselines/{id}.json")).exists(),
            "{id} is one statement and runs: {err}"
        );
    }
    assert_eq!(foreign_statements(&db).await, Vec::<String>::new());
    assert_victims_intact(&db).await;

    // Without ANALYZE an unparsed text is sent as it is (nothing
    // executes); the server parses it as one statement and fails.
    write_queries(
        dir.path(),
        &[("unterminated", "SELECT $$ ; DROP TABLE victims")],
    );
    let (code, _, err) = run_in(
        dir.path(),
        &[
            "baseline",
            "-d",
            &db.conninfo,
            "--no-analyze",
            "--query",
            "unterminated",
        ],
    );
    assert_eq!(code, 3, "the only query failed: {err}");
    assert!(err.contains("unterminated: failed"), "{err}");
    assert!(err.contains("unterminated dollar-quoted string"), "{err}");
    assert_eq!(foreign_statements(&db).await, Vec::<String>::new());
    assert_victims_intact(&db).await;
}

#[tokio::test]
async fn the_server_refuses_a_second_statement_the_classifier_let_through() {
    // Defence in depth: were the classifier ever wrong, the EXPLAIN goes
    // through the extended protocol, which takes exactly one statement.
    let (db, _dir) = victims().await;
    let runner = Arc::new(
        Runner::connect(
            ConnParams::parse(&db.conninfo).unwrap(),
            RunOptions::default(),
        )
        .await
        .unwrap(),
    );
    let job = Job::unclassified(
        "smuggled",
        "SELECT 1; DROP TABLE victims",
        0,
        Default::default(),
    );
    let outcomes = runner.run_all(Arc::new(vec![job]), Arc::new(|_| {})).await;
    match &outcomes[0] {
        Outcome::Error { message, sqlstate } => {
            assert!(
                message.contains("cannot insert multiple commands into a prepared statement"),
                "{message}"
            );
            assert_eq!(sqlstate.as_deref(), Some("42601"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(foreign_statements(&db).await, Vec::<String>::new());
    assert_victims_intact(&db).await;
}

/// Every node's `Filter` and `Index Cond` in an EXPLAIN JSON plan.
fn conditions(plan: &Value, out: &mut Vec<String>) {
    match plan {
        Value::Object(map) => {
            for (key, value) in map {
                if matches!(key.as_str(), "Filter" | "Index Cond" | "Recheck Cond") {
                    out.push(value.as_str().unwrap_or_default().to_owned());
                }
                conditions(value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| conditions(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn injection_in_parameters_and_settings_arrives_as_a_value() {
    let (db, dir) = victims().await;
    write_queries(
        dir.path(),
        &[
            (
                "text_param",
                "-- planguard: params = [\"x'; DROP TABLE victims; --\"]\nSELECT * FROM victims WHERE note = $1",
            ),
            (
                "int_param",
                "-- planguard: params = [\"1; DROP TABLE victims\"]\nSELECT * FROM victims WHERE id = $1",
            ),
        ],
    );
    let (code, out, err) = run_in(
        dir.path(),
        &[
            "check",
            "-d",
            &db.conninfo,
            "--runs",
            "1",
            "--warmup",
            "0",
            "--format",
            "json",
            "--include-plans",
            "--fail-on",
            "never",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let query = |id: &str| -> &Value {
        report["queries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not in the report: {report}"))
    };
    // The whole string is the compared value, quotes doubled as a literal.
    let text = query("text_param");
    assert_eq!(text["status"], "ok", "{text}");
    let mut found = Vec::new();
    conditions(&text["current"]["plan"], &mut found);
    assert!(
        found
            .iter()
            .any(|c| c == "(note = 'x''; DROP TABLE victims; --'::text)"),
        "{found:?}"
    );
    // Not a number: the server's input function says so, nothing more.
    let int = query("int_param");
    assert_eq!(int["status"], "error", "{int}");
    assert!(
        int["error"]
            .as_str()
            .unwrap()
            .contains("invalid input syntax for type integer: \"1; DROP TABLE victims\""),
        "{int}"
    );

    // A setting's value is a quoted literal; its name must be a name.
    write_queries(dir.path(), &[("plain", "SELECT count(*) FROM victims")]);
    std::fs::write(
        dir.path().join("planguard.toml"),
        "[settings]\nwork_mem = \"64kB'; DROP TABLE victims; --\"\n",
    )
    .unwrap();
    let (code, _, err) = run_in(
        dir.path(),
        &["baseline", "-d", &db.conninfo, "--query", "plain"],
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("invalid value for parameter \"work_mem\": \"64kB'; DROP TABLE victims; --\""),
        "{err}"
    );
    std::fs::write(
        dir.path().join("planguard.toml"),
        "[settings]\n\"work_mem = '1MB'; DROP TABLE victims; --\" = \"1\"\n",
    )
    .unwrap();
    let (code, _, err) = run_in(
        dir.path(),
        &["baseline", "-d", &db.conninfo, "--query", "plain"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a setting name"), "{err}");
    assert_eq!(foreign_statements(&db).await, Vec::<String>::new());
    assert_victims_intact(&db).await;
}

/// A conninfo nothing listens on: the broken files must stop planguard
/// before it connects.
const NOWHERE: &str = "host=127.0.0.1 port=1 connect_timeout=2";

fn assert_one_line_exit_2(code: i32, out: &str, err: &str, prefix: &str) {
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with(prefix), "expected {prefix:?}: {err}");
}

#[test]
fn hand_broken_baselines_exit_2_naming_the_file_and_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    write_queries(dir.path(), &[("q", "SELECT 1")]);
    let path = dir.path().join("baselines/q.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "truncated",
            b"{\"format_version\": 1, \"que",
            "not a valid baseline (line 1",
        ),
        ("empty", b"", "not a valid baseline (line 1"),
        (
            "binary",
            b"\xff\xfe\x00garbage\x00",
            "not a valid baseline (line 1",
        ),
        ("not an object", b"[1, 2, 3]\n", "not a valid baseline"),
        (
            "newer format",
            b"{\"format_version\": 2}\n",
            "baseline format_version 2 is not supported",
        ),
        (
            "version as a string",
            b"{\"format_version\": \"1\"}\n",
            "baseline format_version \"1\" is not supported",
        ),
        (
            "no version",
            b"{\"query_id\": \"q\"}\n",
            "not a valid baseline",
        ),
        (
            "wrong types",
            b"{\"format_version\": 1, \"query_id\": 7, \"summary\": \"fast\"}\n",
            "not a valid baseline",
        ),
    ];
    for (what, bytes, message) in cases {
        std::fs::write(&path, bytes).unwrap();
        let (code, out, err) = run_in(dir.path(), &["check", "-d", NOWHERE]);
        assert_one_line_exit_2(
            code,
            &out,
            &err,
            &format!("error: baselines/q.json: {message}"),
        );
        assert_eq!(&std::fs::read(&path).unwrap(), bytes, "{what}: untouched");
        // The position of a syntax error is said once, not again by
        // serde_json's message; a file that parses has none.
        assert!(!err.contains(" at line "), "{what}: {err}");
        assert!(!err.contains("line 0"), "{what}: {err}");
    }
    // A valid record whose stored plan is not a plan.
    let mut record: Value = serde_json::from_str(include_str!(
        "../../fixtures/plans/rules/buffers-regression/clean_same_plan.baseline.json"
    ))
    .unwrap();
    record["query_id"] = "q".into();
    record["plan"] = serde_json::json!([{"Plan": {"Plans": 5}}]);
    std::fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    let (code, out, err) = run_in(dir.path(), &["check", "-d", NOWHERE]);
    assert_one_line_exit_2(
        code,
        &out,
        &err,
        "error: baselines/q.json: the stored plan is not valid",
    );
    // A directory where the file should be.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let (code, out, err) = run_in(dir.path(), &["check", "-d", NOWHERE]);
    assert_one_line_exit_2(
        code,
        &out,
        &err,
        "error: baselines/q.json: cannot read the baseline",
    );
}

#[test]
fn hand_broken_snapshots_exit_2_naming_the_file_and_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    write_queries(dir.path(), &[("q", "SELECT 1")]);
    let path = dir.path().join("snapshots/q.plan");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let cases: &[(&[u8], &str)] = &[
        (b"Seq Scan on t\n", "not a planguard snapshot (no header)"),
        (b"", "not a planguard snapshot (no header)"),
        (
            b"# planguard plan snapshot\n\xff\xfe\n",
            "not a snapshot (not UTF-8 text)",
        ),
    ];
    for (bytes, message) in cases {
        std::fs::write(&path, bytes).unwrap();
        for mode in ["--check", "--update"] {
            let (code, out, err) = run_in(dir.path(), &["snapshot", mode, "-d", NOWHERE]);
            assert_one_line_exit_2(
                code,
                &out,
                &err,
                &format!("error: snapshots/q.plan: {message}"),
            );
            assert_eq!(&std::fs::read(&path).unwrap(), bytes, "untouched");
        }
    }
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let (code, out, err) = run_in(dir.path(), &["snapshot", "--check", "-d", NOWHERE]);
    assert_one_line_exit_2(code, &out, &err, "error: snapshots/q.plan: cannot read");
}

/// An input that cannot be read is one `error:` line naming it, with the
/// cause said once (`path: cannot read ...: cause`), as psql prints its
/// errors: a directory where a file is expected, a file that is not JSON.
#[test]
fn an_unreadable_input_is_one_error_line_with_its_cause_once() {
    const IS_A_DIRECTORY: &str = "Is a directory (os error 21)";
    let dir = tempfile::tempdir().unwrap();
    write_queries(dir.path(), &[("q", "SELECT 1")]);
    std::fs::create_dir(dir.path().join("planguard-dir.toml")).unwrap();
    std::fs::create_dir(dir.path().join("stats-dir.json")).unwrap();
    std::fs::write(dir.path().join("broken.json"), b"\xff\xfe{").unwrap();
    let cases: &[(&[&str], String)] = &[
        (
            &["check", "-d", NOWHERE, "--config", "planguard-dir.toml"],
            format!("error: planguard-dir.toml: cannot read the configuration: {IS_A_DIRECTORY}"),
        ),
        (
            &["check", "-d", NOWHERE, "--stats", "stats-dir.json"],
            format!("error: stats-dir.json: cannot read: {IS_A_DIRECTORY}"),
        ),
        (
            &["stats", "import", "stats-dir.json", "-d", NOWHERE],
            format!("error: stats-dir.json: cannot read: {IS_A_DIRECTORY}"),
        ),
        (
            &["explain", "stats-dir.json"],
            format!("error: stats-dir.json: cannot read: {IS_A_DIRECTORY}"),
        ),
        (
            &["diff", "stats-dir.json", "broken.json"],
            format!("error: stats-dir.json: cannot read: {IS_A_DIRECTORY}"),
        ),
        (
            &["capture", "--from", "log", "stats-dir.json", "--out", "captured"],
            format!("error: stats-dir.json: cannot read the log: {IS_A_DIRECTORY}"),
        ),
        (
            &["check", "-d", NOWHERE, "--stats", "broken.json"],
            "error: broken.json: not a planguard statistics file: broken JSON: expected value at line 1 column 1".to_owned(),
        ),
    ];
    for (args, expected) in cases {
        let (code, out, err) = run_in(dir.path(), args);
        assert_one_line_exit_2(code, &out, &err, expected);
        assert_eq!(err.trim_end(), expected, "{args:?}");
    }
    // The baseline is read before the statistics file.
    std::fs::create_dir_all(dir.path().join("baselines/q.json")).unwrap();
    let (code, out, err) = run_in(dir.path(), &["check", "-d", NOWHERE]);
    let expected = format!("error: baselines/q.json: cannot read the baseline: {IS_A_DIRECTORY}");
    assert_one_line_exit_2(code, &out, &err, &expected);
    assert_eq!(err.trim_end(), expected);
    assert_eq!(err.matches("os error 21").count(), 1, "{err}");
}

/// Every file below `dir`, relative to it.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn ids_and_links_never_write_outside_the_baselines_and_snapshots() {
    let (db, dir) = victims().await;
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("q.json"), "keep me").unwrap();
    std::fs::write(
        outside.join("q.plan"),
        "# planguard plan snapshot\n# query: q\nkeep me\n",
    )
    .unwrap();
    write_queries(
        dir.path(),
        &[
            ("sub/q", "SELECT 1 AS sub_marker"),
            ("q", "SELECT 2 AS top_marker"),
        ],
    );
    for kind in ["baselines", "snapshots"] {
        std::fs::create_dir(dir.path().join(kind)).unwrap();
        // A directory link leading out, and a file link in place of q's
        // file.
        std::os::unix::fs::symlink(&outside, dir.path().join(kind).join("sub")).unwrap();
        let extension = if kind == "baselines" { "json" } else { "plan" };
        std::os::unix::fs::symlink(
            outside.join(format!("q.{extension}")),
            dir.path().join(kind).join(format!("q.{extension}")),
        )
        .unwrap();
    }
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo, "--runs", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "baselines/sub/q.json: cannot write the baseline: baselines/sub is a symbolic link leading outside baselines; planguard does not write through it"
        ),
        "{err}"
    );
    let (code, _, err) = run_in(dir.path(), &["snapshot", "--update", "-d", &db.conninfo]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("snapshots/sub/q.plan: cannot write: snapshots/sub is a symbolic link leading outside snapshots"),
        "{err}"
    );
    // Outside: exactly what was there. Inside: q's link replaced by a file.
    assert_eq!(files_below(&outside), ["q.json", "q.plan"]);
    assert_eq!(
        std::fs::read_to_string(outside.join("q.json")).unwrap(),
        "keep me"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("q.plan")).unwrap(),
        "# planguard plan snapshot\n# query: q\nkeep me\n"
    );
    for (kind, file) in [("baselines", "q.json"), ("snapshots", "q.plan")] {
        let path = dir.path().join(kind).join(file);
        assert!(!path.is_symlink(), "{kind}/{file} is a file now");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"query_id\": \"q\"") || text.contains("# query: q\n"),
            "{text}"
        );
    }

    // A file named `...sql` would have the id `..`: hidden files are not
    // queries, so there is none (and `Store::path_for` refuses such ids:
    // baseline::store::tests::ids_cannot_escape_the_directory).
    std::fs::remove_dir_all(dir.path().join("queries")).unwrap();
    write_queries(dir.path(), &[("..", "SELECT 3")]);
    let before = files_below(dir.path());
    let (code, _, err) = run_in(dir.path(), &["baseline", "-d", &db.conninfo, "--runs", "1"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err, "error: queries: the directory holds no .sql files\n");
    assert_eq!(files_below(dir.path()), before);
}

#[test]
fn a_plan_of_fifty_thousand_nodes_is_read_in_both_formats() {
    // The memory it takes is measured by scripts/huge-plan-memory.sh
    // (docs/SECURITY.md); here, only that it is read whole.
    let n = 50_000;
    let mut json = String::from(
        "[{\"Plan\": {\"Node Type\": \"Append\", \"Startup Cost\": 0.00, \"Total Cost\": 2000000.00, \"Plan Rows\": 300000, \"Plan Width\": 8, \"Plans\": [\n",
    );
    let mut text = String::from("Append  (cost=0.00..2000000.00 rows=300000 width=8)\n");
    for i in 1..=n {
        json.push_str(&format!(
            "{{\"Node Type\": \"Seq Scan\", \"Parent Relationship\": \"Member\", \"Relation Name\": \"p{i}\", \"Alias\": \"p{i}\", \"Startup Cost\": 0.00, \"Total Cost\": 40.00, \"Plan Rows\": 6, \"Plan Width\": 8, \"Filter\": \"(kind = 3)\"}}{}\n",
            if i < n { "," } else { "" }
        ));
        text.push_str(&format!(
            "  ->  Seq Scan on p{i}  (cost=0.00..40.00 rows=6 width=8)\n        Filter: (kind = 3)\n"
        ));
    }
    json.push_str("]}}]\n");
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [("wide.json", json), ("wide.txt", text)] {
        std::fs::write(dir.path().join(name), body).unwrap();
        let (code, out, err) = run_in(dir.path(), &["explain", name, "--format", "json"]);
        assert_eq!(code, 0, "{name}: {err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["queries"][0]["current"]["nodes"], n + 1, "{name}");
    }
}

/// A plan file past the size planguard reads (256 MiB) is refused in one
/// line naming it, before it is parsed: memory stays bounded. The file is
/// sparse, so the test writes nothing to disk.
#[test]
fn a_plan_past_the_size_cap_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("huge.json")).unwrap();
    file.set_len(257 * 1024 * 1024).unwrap();
    for args in [
        &["explain", "huge.json"][..],
        &["diff", "huge.json", "huge.json"][..],
    ] {
        let (code, out, err) = run_in(dir.path(), args);
        assert_one_line_exit_2(
            code,
            &out,
            &err,
            "error: huge.json: the plan is larger than 256 MiB",
        );
    }
}

/// Every query failing (here a role that may read none of the tables) is
/// exit 3 with one `error:` line giving the first query's cause once, in
/// `check` (whose report has every cause) and `baseline` (whose lines above
/// have them); it used to be exit 3 with no error line at all.
#[tokio::test]
async fn every_query_failing_is_exit_3_with_one_error_line() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let role = format!("unprivileged_{}", std::process::id());
    client
        .batch_execute(&format!(
            "CREATE TABLE secret (id int); INSERT INTO secret VALUES (1);
             CREATE ROLE {role} LOGIN; REVOKE ALL ON secret FROM PUBLIC;"
        ))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_queries(
        dir.path(),
        &[
            ("a", "SELECT * FROM secret"),
            ("b", "SELECT id FROM secret"),
        ],
    );
    let conninfo = format!("{} user={role}", db.conninfo);
    let (code, _, err) = run_in(
        dir.path(),
        &[
            "-q",
            "check",
            "-d",
            &conninfo,
            "--no-history",
            "--runs",
            "1",
        ],
    );
    assert_eq!(code, 3, "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors,
        [
            "error: every query failed (2 of 2); the first, a: ERROR: permission denied for table secret"
        ],
        "{err}"
    );
    let (code, _, err) = run_in(
        dir.path(),
        &["baseline", "-d", &conninfo, "--no-history", "--runs", "1"],
    );
    assert_eq!(code, 3, "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors,
        ["error: every query failed (2): no baseline recorded"],
        "{err}"
    );
    assert_eq!(err.matches("permission denied").count(), 2, "{err}");
    client
        .batch_execute(&format!("DROP TABLE secret; DROP ROLE {role}"))
        .await
        .unwrap();
}
