//! The runner on its own: pipelined runs, medians, bound parameters, retry
//! after a terminated backend, errors with SQLSTATE.

use std::sync::Arc;
use std::time::Duration;

use planguard::conn::ConnParams;
use planguard::plan::NodeType;
use std::path::Path;

use planguard::queryset::Query;
use planguard::runner::{Job, Outcome, Policy, RunOptions, Runner, SequenceAdvance};

use crate::support::TestDb;

/// A job admitted by the runner as a query set's would be (writes
/// allowed), with these values bound.
fn job(runner: &Runner, id: &str, sql: &str, params: Option<Vec<Option<&str>>>) -> Job {
    let query = Query::parse(id, Path::new("test.sql"), sql).unwrap();
    let policy = Policy {
        allow_dml: true,
        params: None,
    };
    let job = runner.admit(&query, &policy).unwrap();
    match params {
        Some(p) => job.with_values(p.into_iter().map(|v| v.map(str::to_owned)).collect()),
        None => job,
    }
}

async fn runner(db: &TestDb, options: RunOptions) -> Arc<Runner> {
    let params = ConnParams::parse(&db.conninfo).unwrap();
    Arc::new(Runner::connect(params, options).await.unwrap())
}

async fn run(runner: &Arc<Runner>, jobs: Vec<Job>) -> Vec<Outcome> {
    runner.run_all(Arc::new(jobs), Arc::new(|_| {})).await
}

#[tokio::test]
async fn counted_runs_median_and_typed_parameters() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, day date, label text);
             INSERT INTO t SELECT i, date '2024-01-01' + i % 366, 'l' || i FROM generate_series(1, 5000) i;
             ANALYZE t;",
        )
        .await
        .unwrap();
    let r = runner(
        &db,
        RunOptions {
            runs: 3,
            warmup: 1,
            ..RunOptions::default()
        },
    )
    .await;
    assert!(r.server().version_num >= 130000);
    let outcomes = run(
        &r,
        vec![
            job(
                &r,
                "typed",
                "SELECT * FROM t WHERE id = $1 AND day >= $2 AND label = $3",
                Some(vec![Some("42"), Some("2024-01-01"), Some("l42")]),
            ),
            job(
                &r,
                "null_param",
                "SELECT * FROM t WHERE label IS NOT DISTINCT FROM $1",
                Some(vec![None]),
            ),
            job(&r, "bad", "SELECT no_such_column FROM t", None),
        ],
    )
    .await;
    let Outcome::Ok(typed) = &outcomes[0] else {
        panic!("{:?}", outcomes[0])
    };
    assert_eq!(typed.runs.len(), 3, "warm-up runs are not counted");
    let median = typed.median_run();
    assert_eq!(median.plan.root.node_type, NodeType::IndexScan);
    assert_eq!(median.plan.root.actual_rows, Some(1.0));
    // The median is the middle execution time of the three.
    let mut times: Vec<f64> = typed
        .runs
        .iter()
        .map(|r| r.figures.execution_ms.unwrap())
        .collect();
    times.sort_by(f64::total_cmp);
    assert_eq!(median.figures.execution_ms, Some(times[1]));
    assert!(
        matches!(&outcomes[1], Outcome::Ok(m) if m.median_run().plan.root.actual_rows == Some(0.0))
    );
    match &outcomes[2] {
        Outcome::Error { message, sqlstate } => {
            assert_eq!(sqlstate.as_deref(), Some("42703"));
            assert!(message.contains("no_such_column"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_concurrently_and_keep_their_order() {
    let db = TestDb::new().await;
    let r = runner(
        &db,
        RunOptions {
            runs: 1,
            warmup: 0,
            jobs: 3,
            ..RunOptions::default()
        },
    )
    .await;
    // Job i returns i + 1 rows, so each outcome shows which job it is.
    let jobs: Vec<Job> = (0..9)
        .map(|i| {
            job(
                &r,
                &format!("q{i}"),
                &format!(
                    "SELECT n FROM generate_series(1, {}) n WHERE (SELECT pg_sleep(0.2)) IS NOT NULL",
                    i + 1
                ),
                None,
            )
        })
        .collect();
    // Concurrency is seen on the server, not on a clock: another session
    // watches pg_stat_activity for planguard's sessions running at once.
    let watcher = db.client().await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let active: i64 = watcher
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity
                         WHERE datname = current_database() AND application_name = 'planguard'
                           AND state = 'active' AND query LIKE 'EXPLAIN%pg_sleep%'",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get(0);
                most = most.max(active);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            most
        })
    };
    let outcomes = run(&r, jobs).await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let most = watch.await.unwrap();
    assert!(
        most >= 2,
        "at most {most} planguard session(s) seen running at once"
    );
    let rows: Vec<Option<f64>> = outcomes
        .iter()
        .map(|outcome| {
            let Outcome::Ok(m) = outcome else {
                panic!("{outcome:?}")
            };
            m.median_run().plan.root.actual_rows
        })
        .collect();
    let expected: Vec<Option<f64>> = (1..=9).map(|n| Some(f64::from(n))).collect();
    assert_eq!(rows, expected, "outcomes in job order");
}

#[tokio::test]
async fn plain_explain_executes_nothing() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute("CREATE TABLE audit (n int); CREATE FUNCTION touch() RETURNS int LANGUAGE sql AS 'INSERT INTO audit VALUES (1) RETURNING 1';")
        .await
        .unwrap();
    let r = runner(
        &db,
        RunOptions {
            analyze: false,
            ..RunOptions::default()
        },
    )
    .await;
    let write = job(&r, "write", "INSERT INTO audit VALUES (2)", None);
    let outcomes = run(&r, vec![write, job(&r, "fn", "SELECT touch()", None)]).await;
    for outcome in &outcomes {
        let Outcome::Ok(m) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(m.runs.len(), 1);
        assert!(m.median_run().plan.execution_time_ms.is_none());
    }
    let count: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM audit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_dml_job_names_the_sequences_it_advanced() {
    let db = TestDb::new().await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE TABLE events (id int GENERATED ALWAYS AS IDENTITY, kind int);
             CREATE TABLE untouched (id serial);
             INSERT INTO events (kind) VALUES (1);",
        )
        .await
        .unwrap();
    let r = runner(
        &db,
        RunOptions {
            runs: 2,
            warmup: 1,
            ..RunOptions::default()
        },
    )
    .await;
    let insert = job(
        &r,
        "insert",
        "INSERT INTO events (kind) SELECT 2 FROM generate_series(1, 5)",
        None,
    );
    let update = job(&r, "update", "UPDATE events SET kind = 3", None);
    let outcomes = run(
        &r,
        vec![
            insert,
            update,
            job(&r, "read", "SELECT count(*) FROM events", None),
        ],
    )
    .await;
    let measured: Vec<&planguard::runner::Measured> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Ok(m) => m,
            other => panic!("{other:?}"),
        })
        .collect();
    // Three executions (one warm-up, two counted) of five rows each.
    assert_eq!(
        measured[0].sequences,
        [SequenceAdvance {
            name: "public.events_id_seq".to_owned(),
            before: Some(1),
            after: 16,
        }]
    );
    assert_eq!(
        measured[0].sequence_note().as_deref(),
        Some(
            "advanced sequence public.events_id_seq (1 to 16): the rows were rolled back, sequence values are not"
        )
    );
    for m in &measured[1..] {
        assert_eq!(m.sequences, [], "no nextval, nothing to say");
        assert_eq!(m.sequence_note(), None);
    }
    // The rows are gone, the numbers are not.
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM events), (SELECT last_value FROM pg_sequences WHERE sequencename = 'events_id_seq')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    assert_eq!(row.get::<_, i64>(1), 16);
}
