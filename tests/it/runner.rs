//! The runner on its own: pipelined runs, medians, bound parameters, retry
//! after a terminated backend, errors with SQLSTATE.

use std::sync::Arc;
use std::time::Duration;

use planguard::conn::ConnParams;
use planguard::plan::NodeType;
use planguard::runner::{Job, Outcome, RunOptions, Runner};

use crate::support::TestDb;

fn job(id: &str, sql: &str, params: Option<Vec<Option<&str>>>) -> Job {
    Job {
        id: id.to_owned(),
        sql: sql.to_owned(),
        param_count: params.as_ref().map_or(0, Vec::len),
        params: params.map(|p| p.into_iter().map(|v| v.map(str::to_owned)).collect()),
        read_only: true,
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
                "typed",
                "SELECT * FROM t WHERE id = $1 AND day >= $2 AND label = $3",
                Some(vec![Some("42"), Some("2024-01-01"), Some("l42")]),
            ),
            job(
                "null_param",
                "SELECT * FROM t WHERE label IS NOT DISTINCT FROM $1",
                Some(vec![None]),
            ),
            job("bad", "SELECT no_such_column FROM t", None),
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

#[tokio::test]
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
    let jobs: Vec<Job> = (0..9)
        .map(|i| {
            job(
                &format!("q{i}"),
                &format!("SELECT {i} AS n, pg_sleep(0.05)"),
                None,
            )
        })
        .collect();
    let started = std::time::Instant::now();
    let outcomes = run(&r, jobs).await;
    // Nine 50 ms queries on three sessions take well under 9 x 50 ms.
    assert!(started.elapsed() < Duration::from_millis(9 * 50 + 200));
    for (i, outcome) in outcomes.iter().enumerate() {
        let Outcome::Ok(m) = outcome else {
            panic!("q{i}: {outcome:?}")
        };
        let output = &m.median_run().json[0]["Plan"]["Node Type"];
        assert_eq!(output, "Result", "q{i}");
    }
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
    let mut write = job("write", "INSERT INTO audit VALUES (2)", None);
    write.read_only = false;
    let outcomes = run(&r, vec![write, job("fn", "SELECT touch()", None)]).await;
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
