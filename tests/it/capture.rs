//! `planguard capture` against real servers: pg_stat_statements of a live
//! workload, and the stderr, csvlog and jsonlog files a cluster wrote with
//! `log_min_duration_statement` and auto_explain.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use planguard::tempdb::{TempDb, TempDbOptions};

use crate::support;

/// Every `.sql` file under `dir`, by id, with its text.
fn query_files(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "sql") {
                let id = path
                    .strip_prefix(dir)
                    .unwrap()
                    .with_extension("")
                    .to_string_lossy()
                    .into_owned();
                files.insert(id, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    files
}

/// The SQL after the leading comment lines.
fn body(text: &str) -> String {
    text.lines()
        .skip_while(|l| l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The file whose body contains `needle`.
fn find<'a>(files: &'a BTreeMap<String, String>, needle: &str) -> (&'a str, &'a str) {
    files
        .iter()
        .find(|(_, text)| body(text).contains(needle))
        .map(|(id, text)| (id.as_str(), text.as_str()))
        .unwrap_or_else(|| panic!("no captured file holds {needle:?}: {files:#?}"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn capture(args: &[&str], out: &Path) -> Output {
    support::planguard()
        .arg("capture")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn assert_ids_readable(files: &BTreeMap<String, String>) {
    for id in files.keys() {
        let (table, rest) = id.split_once('/').unwrap_or_else(|| panic!("{id}"));
        let (verb, hash) = rest.rsplit_once('_').unwrap_or_else(|| panic!("{id}"));
        assert!(!table.is_empty(), "{id}");
        assert!(
            ["select", "insert", "update", "delete", "merge", "values"].contains(&verb),
            "{id}"
        );
        assert!(
            hash.len() == 8 && hash.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
    }
}

fn assert_never_captured(files: &BTreeMap<String, String>) {
    for (id, text) in files {
        let sql = body(text).to_uppercase();
        let first = sql.split_whitespace().next().unwrap_or_default();
        assert!(
            ![
                "CREATE", "EXPLAIN", "SET", "BEGIN", "ROLLBACK", "COMMIT", "ALTER"
            ]
            .contains(&first),
            "{id} is a utility statement: {text}"
        );
        assert!(
            !sql.contains("PG_STAT_STATEMENTS") && !sql.contains("PG_CATALOG"),
            "{id}: {text}"
        );
        assert!(
            text.contains("-- planguard: tags = [\"captured\"]\n"),
            "{id}: {text}"
        );
        assert!(text.starts_with("-- planguard: name = \""), "{id}: {text}");
        let writes = ["INSERT", "UPDATE", "DELETE", "MERGE"].contains(&first);
        assert_eq!(
            text.contains("-- planguard: allow_dml = false\n"),
            writes,
            "{id}: {text}"
        );
    }
}

/// The query set loader reads what capture wrote: every file, with its
/// directives, and no statement it would refuse as utility or DDL.
fn assert_loads(dir: &Path) {
    let set = planguard::queryset::load(dir).unwrap_or_else(|e| {
        panic!(
            "the captured query set does not load: {}",
            planguard::error::chain(&e)
        )
    });
    assert_eq!(set.len(), query_files(dir).len());
    for query in set.queries() {
        assert_eq!(query.tags, vec!["captured".to_owned()], "{}", query.id);
        assert!(query.name.is_some(), "{}", query.id);
        assert!(!query.allow_dml, "{}", query.id);
        assert!(
            query.params.is_empty() || query.params.len() == query.param_count,
            "{}: {} params for {} placeholders",
            query.id,
            query.params.len(),
            query.param_count
        );
        assert!(
            !matches!(
                query.statement,
                planguard::queryset::Statement::Refused { .. }
            ),
            "{}: {:?}",
            query.id,
            query.statement
        );
    }
}

/// A database whose server loads pg_stat_statements: on the shared test
/// cluster when it preloads the module, else on a cluster of its own.
enum StatDb {
    Shared(support::TestDb),
    Own(TempDb),
}

impl StatDb {
    async fn new() -> StatDb {
        let shared = support::TestDb::new().await;
        let client = shared.client().await;
        let loaded = client
            .query_one("SHOW shared_preload_libraries", &[])
            .await
            .map(|row| row.get::<_, String>(0).contains("pg_stat_statements"))
            .unwrap_or(false);
        if loaded {
            return StatDb::Shared(shared);
        }
        let own = support::own_cluster(
            TempDbOptions::default().setting("shared_preload_libraries", "pg_stat_statements"),
        );
        support::connect(&own.conninfo("postgres"))
            .await
            .batch_execute("CREATE DATABASE capture")
            .await
            .unwrap();
        StatDb::Own(own)
    }

    fn conninfo(&self) -> String {
        match self {
            StatDb::Shared(db) => db.conninfo.clone(),
            StatDb::Own(cluster) => cluster.conninfo("capture"),
        }
    }
}

const SCHEMA: &str = "
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, created_at date NOT NULL);
    INSERT INTO orders SELECT g, g % 100, CASE WHEN g % 3 = 0 THEN 'open' ELSE 'closed' END, DATE '2024-01-01' + g % 365
      FROM generate_series(1, 2000) g;
    ANALYZE orders;
";

#[tokio::test]
async fn pg_stat_statements_top_statements_become_a_query_set_and_recapture_is_idempotent() {
    let db = StatDb::new().await;
    let conninfo = db.conninfo();
    let client = support::connect(&conninfo).await;
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .unwrap();
    client.batch_execute(SCHEMA).await.unwrap();
    // The extended protocol, as applications use it.
    for customer in [1i32, 2, 3] {
        client
            .query("SELECT * FROM orders WHERE customer_id = $1", &[&customer])
            .await
            .unwrap();
    }
    // The simple protocol with literals: one statement in pg_stat_statements.
    for status in ["open", "closed"] {
        client
            .batch_execute(&format!(
                "SELECT count(*) FROM orders WHERE status = '{status}' AND created_at > DATE '2024-03-01'"
            ))
            .await
            .unwrap();
    }
    client
        .execute(
            "UPDATE orders SET status = $1 WHERE id = $2",
            &[&"open", &5i32],
        )
        .await
        .unwrap();
    client
        .batch_execute(
            "CREATE INDEX orders_customer ON orders (customer_id);
             EXPLAIN SELECT * FROM orders WHERE id = 1;
             SET work_mem = '8MB';
             BEGIN; SELECT 1; ROLLBACK;",
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("queries");
    let output = capture(&["--from", "pg_stat_statements", "-d", &conninfo], &out);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let files = query_files(&out);
    assert_ids_readable(&files);
    assert_never_captured(&files);
    assert_loads(&out);
    assert!(
        files.keys().all(|id| id.starts_with("orders/")),
        "{files:#?}"
    );

    let (by_customer, text) = find(&files, "WHERE customer_id = $1");
    assert!(by_customer.starts_with("orders/select_"));
    assert!(
        text.contains("-- captured: pg_stat_statements, calls = 3,"),
        "{text}"
    );
    assert!(text.contains("queryid = "), "{text}");
    let (_, text) = find(&files, "count(*) FROM orders WHERE status = $1");
    assert!(text.contains("calls = 2,"), "{text}");
    assert!(
        text.contains("created_at > $2::date"),
        "typed literals become casts that parse: {text}"
    );
    let (update, text) = find(&files, "UPDATE orders SET status = $1 WHERE id = $2");
    assert!(update.starts_with("orders/update_"));
    assert!(text.contains("-- planguard: allow_dml = false\n"), "{text}");
    assert!(
        stderr(&output).contains(&format!(
            "capture: {} new, 0 updated, 0 unchanged",
            files.len()
        )),
        "{}",
        stderr(&output)
    );

    // More calls, and a person edits the UPDATE's statement.
    for customer in [4i32, 5] {
        client
            .query("SELECT * FROM orders WHERE customer_id = $1", &[&customer])
            .await
            .unwrap();
    }
    let update_path = out.join(format!("{update}.sql"));
    let edited = files[update].replace("WHERE id = $2", "WHERE id = $2 AND status <> $1");
    std::fs::write(&update_path, &edited).unwrap();

    let output = capture(&["--from", "pg_stat_statements", "-d", &conninfo], &out);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let again = query_files(&out);
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        files.keys().collect::<Vec<_>>(),
        "no new or duplicate files"
    );
    assert!(
        again[by_customer].contains("calls = 5,"),
        "{}",
        again[by_customer]
    );
    assert_eq!(again[update], edited, "a hand-edited file is kept as it is");
    let err = stderr(&output);
    assert!(err.contains("0 new, "), "{err}");
    assert!(
        err.contains(&format!("1 kept (edited by hand): {update}")),
        "{err}"
    );
    // Nothing left but files capture wrote: no temporary files.
    let stray: Vec<_> = walk(&out)
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "sql"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");

    // --order-by calls --limit 1 takes the most called statement.
    let top = dir.path().join("top");
    let output = capture(
        &[
            "--from",
            "pg_stat_statements",
            "-d",
            &conninfo,
            "--order-by",
            "calls",
            "--limit",
            "1",
            "--min-calls",
            "2",
        ],
        &top,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        query_files(&top).keys().collect::<Vec<_>>(),
        vec![by_customer]
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                all.push(path);
            }
        }
    }
    all
}

#[tokio::test]
async fn pg_stat_statements_missing_is_one_line_that_says_how_to_enable_it() {
    let db = support::TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let output = capture(
        &["--from", "pg_stat_statements", "-d", &db.conninfo],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("CREATE EXTENSION pg_stat_statements")
            && err.contains("shared_preload_libraries"),
        "{err}"
    );
}

#[tokio::test]
async fn pg_stat_statements_not_preloaded_says_so() {
    // A server without shared_preload_libraries = 'pg_stat_statements',
    // where CREATE EXTENSION still works.
    let shared = support::TestDb::new().await;
    let preloaded = shared
        .client()
        .await
        .query_one("SHOW shared_preload_libraries", &[])
        .await
        .map(|row| row.get::<_, String>(0).contains("pg_stat_statements"))
        .unwrap_or(true);
    let own;
    let conninfo = if preloaded {
        own = support::own_cluster(TempDbOptions::default());
        own.conninfo("postgres")
    } else {
        shared.conninfo.clone()
    };
    support::connect(&conninfo)
        .await
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = capture(
        &["--from", "pg_stat_statements", "-d", &conninfo],
        dir.path(),
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("the server does not load it") && err.contains("shared_preload_libraries"),
        "{err}"
    );
}

#[tokio::test]
async fn pg_stat_statements_of_other_roles_need_pg_read_all_stats() {
    let db = StatDb::new().await;
    let conninfo = db.conninfo();
    let client = support::connect(&conninfo).await;
    client
        .batch_execute(&format!(
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; {SCHEMA}
             DROP ROLE IF EXISTS capture_reader; CREATE ROLE capture_reader LOGIN;"
        ))
        .await
        .unwrap();
    client
        .query("SELECT * FROM orders WHERE id = $1", &[&1i32])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reader = format!("{conninfo} user=capture_reader");
    let output = capture(&["--from", "pg_stat_statements", "-d", &reader], dir.path());
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("GRANT pg_read_all_stats TO \"capture_reader\""),
        "{err}"
    );
    client
        .batch_execute("GRANT pg_read_all_stats TO capture_reader")
        .await
        .unwrap();
    let output = capture(&["--from", "pg_stat_statements", "-d", &reader], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    find(&query_files(dir.path()), "FROM orders WHERE id = $1");
}

const LOG_PREFIX: &str = "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ";

/// A cluster that logs every statement and its auto_explain plan in all
/// three formats, into `log/pg.{log,csv,json}` in its data directory.
fn logging_cluster() -> TempDb {
    support::own_cluster(
        TempDbOptions::default()
            .setting(
                "shared_preload_libraries",
                "auto_explain,pg_stat_statements",
            )
            .setting("auto_explain.log_min_duration", "0")
            .setting("auto_explain.log_analyze", "on")
            .setting("auto_explain.log_format", "json")
            .setting("log_min_duration_statement", "0")
            .setting("logging_collector", "on")
            .setting("log_destination", "stderr,csvlog,jsonlog")
            .setting("log_directory", "log")
            .setting("log_filename", "pg.log")
            .setting("log_line_prefix", LOG_PREFIX)
            .setting("lc_messages", "C"),
    )
}

#[tokio::test]
async fn logs_in_every_format_give_the_same_query_set_with_parameters_and_plans() {
    let cluster = logging_cluster();
    let admin = support::connect(&cluster.conninfo("postgres")).await;
    admin.batch_execute("CREATE DATABASE shop").await.unwrap();
    // support::connect goes through planguard's own connection code, whose
    // application_name is planguard: name the workload's sessions.
    let client = support::connect(&format!(
        "{} application_name=shop",
        cluster.conninfo("shop")
    ))
    .await;
    client
        .batch_execute("CREATE EXTENSION pg_stat_statements")
        .await
        .unwrap();
    client.batch_execute(SCHEMA).await.unwrap();
    // Extended protocol: `execute <name>` with DETAIL parameters.
    for (customer, status) in [(1i32, "open"), (2, "closed"), (3, "open")] {
        client
            .query(
                "SELECT * FROM orders WHERE customer_id = $1 AND status = $2",
                &[&customer, &status],
            )
            .await
            .unwrap();
    }
    // Simple protocol with literals, twice: one query.
    for (day, status) in [("2024-03-01", "open"), ("2024-06-01", "closed")] {
        client
            .batch_execute(&format!(
                "SELECT count(*) FROM orders WHERE created_at > DATE '{day}' AND status = '{status}'"
            ))
            .await
            .unwrap();
    }
    // A multi-line statement with a text auto_explain plan.
    client
        .batch_execute("SET auto_explain.log_format = text")
        .await
        .unwrap();
    client
        .batch_execute("SELECT id,\n       status\n  FROM orders\n WHERE id = 17")
        .await
        .unwrap();
    client
        .batch_execute("SET auto_explain.log_format = json")
        .await
        .unwrap();
    client
        .execute(
            "UPDATE orders SET status = $1 WHERE id = $2",
            &[&"closed", &9i32],
        )
        .await
        .unwrap();
    client
        .batch_execute(
            "CREATE INDEX orders_status ON orders (status); EXPLAIN SELECT * FROM orders WHERE id = 1",
        )
        .await
        .unwrap();
    // planguard's own sessions are not captured.
    let own = support::connect(&format!(
        "{} application_name=planguard",
        cluster.conninfo("shop")
    ))
    .await;
    own.batch_execute("SELECT * FROM orders WHERE customer_id > 99")
        .await
        .unwrap();
    drop((client, own, admin));
    let dir = tempfile::tempdir().unwrap();
    let from_stats = dir.path().join("pg_stat_statements");
    let output = capture(
        &[
            "--from",
            "pg_stat_statements",
            "-d",
            &cluster.conninfo("shop"),
        ],
        &from_stats,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stats_ids: Vec<String> = query_files(&from_stats).into_keys().collect();
    // Stop the server so that every line is on disk.
    cluster.pg_ctl(&["stop", "-m", "fast", "-w", "-s"]).unwrap();

    let logs = cluster.data_dir().join("log");
    let dir = tempfile::tempdir().unwrap();
    let mut sets = Vec::new();
    for file in ["pg.log", "pg.csv", "pg.json"] {
        let out = dir.path().join(file);
        let output = capture(&["--from", "log", logs.join(file).to_str().unwrap()], &out);
        assert_eq!(output.status.code(), Some(0), "{file}: {}", stderr(&output));
        let files = query_files(&out);
        assert_ids_readable(&files);
        assert_never_captured(&files);
        assert_loads(&out);

        let (id, text) = find(
            &files,
            "SELECT * FROM orders WHERE customer_id = $1 AND status = $2",
        );
        assert!(
            text.contains("-- captured: log, calls = 3,"),
            "{file}: {text}"
        );
        assert!(
            text.contains("-- planguard: params = [1, \"open\"]")
                || text.contains("-- planguard: params = [2, \"closed\"]")
                || text.contains("-- planguard: params = [3, \"open\"]"),
            "{file}: bound values of an execution: {text}"
        );
        assert!(
            out.join(format!("{id}.plan.json")).is_file(),
            "{file}: the JSON plan is written next to the query"
        );
        let plan = std::fs::read_to_string(out.join(format!("{id}.plan.json"))).unwrap();
        planguard::plan::parse_json(plan.as_bytes()).unwrap();

        let (_, text) = find(
            &files,
            "SELECT count(*) FROM orders WHERE created_at > $1::date AND status = $2",
        );
        assert!(text.contains("calls = 2,"), "{file}: {text}");
        assert!(
            text.contains("-- planguard: params = [\""),
            "{file}: {text}"
        );

        let (id, text) = find(
            &files,
            "SELECT id,\n       status\n  FROM orders\n WHERE id = $1",
        );
        assert!(
            text.contains("-- planguard: params = [17]"),
            "{file}: {text}"
        );
        let plan = std::fs::read_to_string(out.join(format!("{id}.plan.txt"))).unwrap();
        assert!(
            plan.starts_with("Index Scan using orders_pkey on orders"),
            "{file}: {plan}"
        );

        let (_, text) = find(&files, "UPDATE orders SET status = $1 WHERE id = $2");
        assert!(
            text.contains("-- planguard: allow_dml = false\n"),
            "{file}: {text}"
        );
        assert!(
            text.contains("-- planguard: params = [\"closed\", 9]"),
            "{file}: {text}"
        );

        assert!(
            !files.values().any(|t| body(t).contains("customer_id > ")),
            "{file}: planguard's own statement was captured"
        );
        sets.push(files.keys().cloned().collect::<Vec<_>>());

        // A second capture of the same log changes nothing.
        let output = capture(&["--from", "log", logs.join(file).to_str().unwrap()], &out);
        assert!(
            stderr(&output).contains(&format!(
                "capture: 0 new, 0 updated, {} unchanged",
                files.len()
            )),
            "{file}: {}",
            stderr(&output)
        );
    }
    assert_eq!(sets[0], sets[1], "stderr and csvlog give the same ids");
    assert_eq!(sets[0], sets[2], "stderr and jsonlog give the same ids");
    // pg_stat_statements also holds planguard's own SELECT, which it cannot
    // tell from the application's.
    for id in &sets[0] {
        assert!(
            stats_ids.contains(id),
            "{id} from the log has another id from pg_stat_statements: {stats_ids:?}"
        );
    }
}

#[test]
fn log_file_missing_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = capture(&["--from", "log", "/nonexistent/pg.log"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("/nonexistent/pg.log"));
    let output = capture(&["--from", "log"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("needs the log file"));
}
