//! `planguard snapshot`: plan-shape snapshots for CI.

use crate::support::{TestDb, run_in, write_queries};

const SCHEMA: &str = "
    CREATE TABLE accounts (id int PRIMARY KEY, owner int NOT NULL, balance numeric NOT NULL);
    INSERT INTO accounts SELECT i, i % 5000, i FROM generate_series(1, 50000) i;
    CREATE INDEX accounts_owner_idx ON accounts (owner);";

const QUERIES: &[(&str, &str)] = &[
    (
        "accounts/of_owner",
        "-- planguard: params = [42]\nSELECT id, balance FROM accounts WHERE owner = $1",
    ),
    ("accounts/total", "SELECT sum(balance) FROM accounts"),
];

async fn setup() -> (TestDb, tempfile::TempDir) {
    crate::support::seeded(SCHEMA, QUERIES).await
}

#[tokio::test]
async fn an_unchanged_database_passes_and_the_text_is_stable() {
    let (db, dir) = setup().await;
    let (code, _, err) = run_in(dir.path(), &["snapshot", "--update", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    let path = dir.path().join("snapshots/accounts/of_owner.plan");
    let first = std::fs::read_to_string(&path).unwrap();
    assert!(
        first.starts_with("# planguard plan snapshot\n# query: accounts/of_owner\n"),
        "{first}"
    );
    assert!(first.contains("accounts_owner_idx"), "{first}");
    assert!(!first.contains("cost="), "no costs in a snapshot: {first}");
    for _ in 0..3 {
        let (code, out, err) = run_in(dir.path(), &["snapshot", "--check", "-d", &db.conninfo]);
        assert_eq!(code, 0, "{err}\n{out}");
        assert!(out.is_empty(), "{out}");
    }
    let (code, _, err) = run_in(dir.path(), &["snapshot", "--update", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0 written, 2 unchanged"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
}

#[tokio::test]
async fn a_dropped_index_shows_the_scan_change_in_the_diff() {
    let (db, dir) = setup().await;
    let (code, _, err) = run_in(dir.path(), &["snapshot", "--update", "-d", &db.conninfo]);
    assert_eq!(code, 0, "{err}");
    db.client()
        .await
        .batch_execute("DROP INDEX accounts_owner_idx")
        .await
        .unwrap();
    let (code, out, err) = run_in(dir.path(), &["snapshot", "--check", "-d", &db.conninfo]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("--- a/accounts/of_owner.plan"), "{out}");
    assert!(out.contains("+++ b/accounts/of_owner.plan"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with('-') && l.contains("accounts_owner_idx")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with('+') && l.contains("Seq Scan")),
        "{out}"
    );
    assert!(
        !out.contains("accounts/total"),
        "unchanged queries print nothing: {out}"
    );
    assert!(err.contains("1 changed"), "{err}");
}

#[tokio::test]
async fn a_query_without_a_snapshot_fails_unless_allowed() {
    let (db, dir) = setup().await;
    let (code, _, err) = run_in(dir.path(), &["snapshot", "--check", "-d", &db.conninfo]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("planguard snapshot --update"), "{err}");
    let (code, _, err) = run_in(
        dir.path(),
        &["snapshot", "--check", "--allow-new", "-d", &db.conninfo],
    );
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn the_snapshot_text_is_identical_across_a_server_restart() {
    // A cluster of its own: restarting the shared one would break the
    // tests running beside this one.
    let cluster = crate::support::own_cluster(planguard::tempdb::TempDbOptions::default());
    let conninfo = cluster.conninfo("postgres");
    let client = crate::support::connect(&conninfo).await;
    client.batch_execute(SCHEMA).await.unwrap();
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    drop(client);
    let dir = tempfile::tempdir().unwrap();
    write_queries(dir.path(), QUERIES);
    let (code, _, err) = run_in(dir.path(), &["snapshot", "--update", "-d", &conninfo]);
    assert_eq!(code, 0, "{err}");
    let read = || {
        QUERIES
            .iter()
            .map(|(id, _)| {
                std::fs::read_to_string(dir.path().join(format!("snapshots/{id}.plan"))).unwrap()
            })
            .collect::<Vec<_>>()
    };
    let before = read();
    let pid = || std::fs::read_to_string(cluster.data_dir().join("postmaster.pid")).ok();
    let old_pid = pid();
    cluster.pg_ctl(&["stop", "-m", "fast", "-w"]).unwrap();
    cluster.restart().unwrap();
    assert_ne!(pid(), old_pid, "the server restarted");

    let (code, out, err) = run_in(dir.path(), &["snapshot", "--check", "-d", &conninfo]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(out.is_empty(), "{out}");
    let (code, _, err) = run_in(dir.path(), &["snapshot", "--update", "-d", &conninfo]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0 written, 2 unchanged"), "{err}");
    assert_eq!(read(), before, "byte for byte the same after the restart");
}
