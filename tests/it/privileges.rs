//! The privileges each command needs (docs/SECURITY.md): a role that may
//! only read (SELECT on the tables, every transaction read-only, no
//! superuser, nothing else) runs `baseline`, `check`, `snapshot` and
//! `explain --sql`, with `--no-analyze` and with ANALYZE for queries that
//! only read; a DML query fails on the server (its transactions are
//! read-only) and changes nothing. Capture's need for
//! pg_read_all_stats is tested in capture.rs
//! (`pg_stat_statements_of_other_roles_need_pg_read_all_stats`).

use serde_json::Value;

use crate::support::{self, run_in, write_queries};

const SCHEMA: &str = "
    CREATE TABLE items (id int PRIMARY KEY, kind int NOT NULL);
    INSERT INTO items SELECT i, i % 50 FROM generate_series(1, 10000) i;
    CREATE INDEX items_kind ON items (kind);";

#[tokio::test]
async fn a_read_only_role_runs_every_command() {
    let (db, dir) = support::seeded(SCHEMA, &[]).await;
    // Role names are cluster-wide: one per test database.
    let dbname = db
        .conninfo
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("dbname="))
        .unwrap();
    let role = format!("reader_{dbname}");
    db.client()
        .await
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
             ALTER ROLE {role} SET default_transaction_read_only = on;
             REVOKE CREATE ON SCHEMA public FROM PUBLIC;
             GRANT SELECT ON items TO {role};"
        ))
        .await
        .unwrap();
    let reader = format!("{} user={role}", db.conninfo);
    write_queries(
        dir.path(),
        &[
            (
                "by_kind",
                "-- planguard: params = [3]\nSELECT * FROM items WHERE kind = $1",
            ),
            ("count", "SELECT count(*) FROM items"),
        ],
    );
    for analyze in ["--no-analyze", "--analyze"] {
        let (code, _, err) = run_in(
            dir.path(),
            &["baseline", "-d", &reader, analyze, "--runs", "1"],
        );
        assert_eq!(code, 0, "{analyze}: {err}");
        let (code, out, err) = run_in(
            dir.path(),
            &[
                "check", "-d", &reader, analyze, "--runs", "1", "--format", "json",
            ],
        );
        assert_eq!(code, 0, "{analyze}: {err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["summary"]["ok"], 2, "{report}");
        let (code, _, err) = run_in(
            dir.path(),
            &["snapshot", "--update", "-d", &reader, analyze],
        );
        assert_eq!(code, 0, "{analyze}: {err}");
    }
    let baseline: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("baselines/by_kind.json")).unwrap(),
    )
    .unwrap();
    // The environment (statistics, indexes) is readable too.
    assert!(
        baseline["environment"]["relations"]["public.items"]["indexes"]["items_kind"].is_object(),
        "{}",
        baseline["environment"]
    );
    let (code, out, err) = run_in(
        dir.path(),
        &[
            "explain",
            "-d",
            &reader,
            "--sql",
            "SELECT max(id) FROM items",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("items"), "{out}");

    // DML it may not run: the server refuses, nothing changes.
    write_queries(
        dir.path(),
        &[(
            "wipe",
            "-- planguard: allow_dml = true\nDELETE FROM items WHERE kind = 3",
        )],
    );
    let (code, _, err) = run_in(
        dir.path(),
        &["baseline", "-d", &reader, "--query", "wipe", "--runs", "1"],
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("wipe: failed") && err.contains("read-only transaction"),
        "{err}"
    );
    let count: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 10000);
}

#[tokio::test]
async fn every_statement_runs_read_only_with_the_session_limits_and_is_named() {
    // Each probe divides by zero (and so fails) unless its setting has the
    // value planguard promises; current_setting() is evaluated when the
    // statement executes, inside planguard's transaction.
    let (db, dir) = support::seeded(SCHEMA, &[]).await;
    let probe = |setting: &str, value: &str| {
        format!("SELECT 1 / (current_setting('{setting}') = '{value}')::int AS probe")
    };
    // Without --timeout the defaults hold (statement_timeout 30 s, the
    // idle limit twice that but at least 1 min); a longer --timeout moves
    // the idle limit with it.
    let cases: [(&[&str], &str, &str); 3] = [
        (&["--timeout", "7s"], "7s", "1min"),
        (&[], "30s", "1min"),
        (&["--timeout", "45s"], "45s", "90s"),
    ];
    for (extra, statement_timeout, idle_timeout) in cases {
        let probes = [
            ("read_only", probe("transaction_read_only", "on")),
            (
                "statement_timeout",
                probe("statement_timeout", statement_timeout),
            ),
            ("lock_timeout", probe("lock_timeout", "5s")),
            (
                "idle_timeout",
                probe("idle_in_transaction_session_timeout", idle_timeout),
            ),
            ("application_name", probe("application_name", "planguard")),
        ];
        let files: Vec<(&str, &str)> = probes.iter().map(|(id, sql)| (*id, sql.as_str())).collect();
        write_queries(dir.path(), &files);
        // The probes themselves fail when a value is wrong: prove it once.
        write_queries(
            dir.path(),
            &[("wrong_on_purpose", &probe("transaction_read_only", "off"))],
        );
        let mut args = vec![
            "check",
            "-d",
            &db.conninfo,
            "--runs",
            "1",
            "--format",
            "json",
            "--fail-on",
            "never",
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = run_in(dir.path(), &args);
        assert_eq!(code, 0, "{extra:?}: {err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        for query in report["queries"].as_array().unwrap() {
            let expected = if query["id"] == "wrong_on_purpose" {
                "error"
            } else {
                "ok"
            };
            assert_eq!(query["status"], expected, "{extra:?}: {query}");
        }
    }
    // DML allowed by --allow-dml runs in a read-write transaction, rolled
    // back (baseline::dml_with_allow_dml_runs_and_rolls_back).
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_sql_plans_read_only_rolled_back_and_with_the_session_limits() {
    let (db, dir) = support::seeded(
        &format!(
            "{SCHEMA}
             CREATE SEQUENCE audit;
             CREATE FUNCTION sneaky() RETURNS int IMMUTABLE LANGUAGE plpgsql
                 AS $$ BEGIN PERFORM nextval('audit'); RETURN 1; END $$;"
        ),
        &[],
    )
    .await;
    let explain = |sql: &str| run_in(dir.path(), &["explain", "-d", &db.conninfo, "--sql", sql]);
    // The planner folds an immutable function on constants, running it:
    // inside planguard's read-only transaction its write fails (a
    // sequence, which no rollback would restore).
    let (code, _, err) = explain("SELECT sneaky()");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot execute nextval() in a read-only transaction"),
        "{err}"
    );
    let audit = db.client().await;
    let called: bool = audit
        .query_one("SELECT is_called FROM audit", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!called, "the sequence moved");
    // What the query set would refuse, --sql refuses too; DML is planned,
    // not run.
    for sql in ["DROP TABLE items", "SELECT 1; DROP TABLE items"] {
        let (code, _, err) = explain(sql);
        assert_eq!(code, 2, "{err}");
        assert!(err.starts_with("error: --sql: refused: "), "{err}");
    }
    let (code, out, err) = explain("DELETE FROM items WHERE kind = 3");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ModifyTable (Delete) on items"), "{out}");
    // A lock held elsewhere: lock_timeout, not a wait without end.
    let holder = db.client().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let (code, _, err) = explain("SELECT count(*) FROM items");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("lock timeout"), "{err}");
    holder.batch_execute("ROLLBACK").await.unwrap();
    let count: i64 = audit
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 10000);
}
