//! The history's schema, the same in SQLite and PostgreSQL, as numbered
//! migrations that both backends apply in order (docs/HISTORY.md).
//!
//! `{serial}` stands for the backend's auto-numbered primary key, the one
//! spelling the two databases do not share. Timestamps are seconds since
//! the Unix epoch (`BIGINT`), so that the same SQL sorts and prunes on both.

/// The schema version this planguard writes. A history with a higher
/// version was written by a newer planguard and is refused, never
/// rewritten.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs, each query's figures in a run, and its findings.
    "CREATE TABLE planguard_runs (
        id {serial},
        started_at BIGINT NOT NULL,
        command TEXT NOT NULL,
        server TEXT NOT NULL,
        server_version TEXT,
        settings_hash TEXT NOT NULL,
        planguard_version TEXT NOT NULL,
        queryset_hash TEXT NOT NULL
    );
    CREATE INDEX planguard_runs_started_at ON planguard_runs (started_at);
    CREATE TABLE planguard_queries (
        run_id BIGINT NOT NULL REFERENCES planguard_runs (id) ON DELETE CASCADE,
        query_id TEXT NOT NULL,
        status TEXT NOT NULL,
        fingerprint TEXT,
        total_cost DOUBLE PRECISION,
        execution_ms DOUBLE PRECISION,
        execution_ms_spread DOUBLE PRECISION,
        shared_blocks BIGINT,
        actual_rows DOUBLE PRECISION,
        PRIMARY KEY (run_id, query_id)
    );
    CREATE TABLE planguard_findings (
        run_id BIGINT NOT NULL,
        query_id TEXT NOT NULL,
        rule TEXT NOT NULL,
        severity TEXT NOT NULL,
        regression BOOLEAN NOT NULL,
        message TEXT NOT NULL,
        FOREIGN KEY (run_id, query_id)
            REFERENCES planguard_queries (run_id, query_id) ON DELETE CASCADE
    );",
    // 2: planning time, the findings' causes as text (version 1 had them
    // only inside the message), and the indexes that `history QUERY_ID`
    // and the drift rules read by.
    "ALTER TABLE planguard_queries ADD COLUMN planning_ms DOUBLE PRECISION;
    ALTER TABLE planguard_findings ADD COLUMN causes TEXT NOT NULL DEFAULT '';
    CREATE INDEX planguard_queries_query ON planguard_queries (query_id, run_id);
    CREATE INDEX planguard_findings_run ON planguard_findings (run_id, query_id);",
    // 3: the hash of the `--stats` file a run planned with ('' without
    // one), so that a query's series only compares runs of one server,
    // planner settings and statistics.
    "ALTER TABLE planguard_runs ADD COLUMN stats_hash TEXT NOT NULL DEFAULT '';",
];

/// The table holding the schema version (one row).
pub const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS planguard_schema (version BIGINT NOT NULL)";

/// A migration's SQL for a backend, with its primary key spelled in.
pub fn migration(index: usize, serial: &str) -> String {
    MIGRATIONS[index].replace("{serial}", serial)
}
