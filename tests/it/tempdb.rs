//! The throwaway cluster itself.

use planguard::tempdb::{TempDb, TempDbOptions};

use crate::support;

#[tokio::test]
async fn starts_serves_and_cleans_up() {
    let db = TempDb::start_with(TempDbOptions::default().setting("work_mem", "7MB")).unwrap();
    let data = db.data_dir().to_path_buf();
    eprintln!(
        "tempdb PostgreSQL {} started in {:.2?}",
        db.version(),
        db.startup_time()
    );
    let client = support::connect(&db.conninfo("postgres")).await;
    let row = client.query_one("SHOW work_mem", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "7MB");
    let row = client
        .query_one("SHOW listen_addresses", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "127.0.0.1");
    drop(client);
    assert!(data.exists());
    drop(db);
    assert!(!data.exists(), "the data directory must be removed on drop");
}

#[tokio::test]
async fn each_test_gets_its_own_database() {
    let a = support::TestDb::new().await;
    let b = support::TestDb::new().await;
    a.client()
        .await
        .batch_execute("CREATE TABLE only_in_a (x int)")
        .await
        .unwrap();
    let rows = b
        .client()
        .await
        .query("SELECT 1 FROM pg_class WHERE relname = 'only_in_a'", &[])
        .await
        .unwrap();
    assert!(rows.is_empty());
}

/// Regression: the shared clusters of connect.rs and secrets.rs ran their
/// setup with `Runtime::block_on` inside a `OnceLock`, which panics
/// ("Cannot start a runtime from within a runtime") when the first test to
/// reach it is a `#[tokio::test]`, as in `cargo test --test it tls`. Their
/// setup now goes through `support::block_on`.
#[tokio::test]
async fn shared_setup_may_be_reached_first_from_inside_a_runtime() {
    let db = support::cluster();
    let answer = support::block_on(async {
        let client = support::connect(&db.conninfo("postgres")).await;
        client
            .query_one("SELECT 42", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
    });
    assert_eq!(answer, 42);
}
