//! The SQLite backend: one file, WAL mode, a busy timeout so that two
//! runs writing at once wait for each other, and each run written in one
//! `BEGIN IMMEDIATE` transaction.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};

use super::{
    BackendError, Columns, HistoryError, QueryRow, Run, RunRow, SeriesKey, Target, attach_findings,
    finding_row, query_row, run_row, schema, sql,
};

/// How long a writer waits for another one (a concurrent `check`) before
/// the history write fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Sqlite {
    conn: Connection,
}

/// `$n` placeholders as SQLite spells them.
fn q(sql: &str) -> String {
    sql.replace('$', "?")
}

/// Switches the file to WAL (once: the mode stays with the file). The
/// switch needs the file to itself, and SQLite answers "database is
/// locked" at once, without its busy handler, while another planguard
/// opens the same new file: try again until the busy timeout.
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        let mode: rusqlite::Result<String> =
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0));
        match mode {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

impl Sqlite {
    pub fn open(path: &Path, target: &Target) -> Result<Sqlite, HistoryError> {
        let open_error = |e: &dyn std::fmt::Display| HistoryError::Open {
            target: target.label(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_error(&e))?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(&e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| open_error(&e))?;
        // WAL: readers never block the writer and a crash mid-write rolls
        // back to the last committed run. The first statement that reads
        // the file is also where a file that is not a database says so.
        set_wal(&conn).map_err(|e| open_error(&e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| open_error(&e))?;
        let mut db = Sqlite { conn };
        db.migrate(target)?;
        Ok(db)
    }

    /// Opens the file read-only: no schema created or migrated, no WAL
    /// switch. In a directory it cannot write to, where SQLite cannot
    /// create the WAL's shared-memory file, it reads the file as
    /// immutable (no other writer can change it there either).
    pub fn open_read_only(path: &Path, target: &Target) -> Result<Sqlite, HistoryError> {
        let open_error = |e: &dyn std::fmt::Display| HistoryError::Open {
            target: target.label(),
            reason: e.to_string(),
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let plain = Connection::open_with_flags(path, flags).and_then(|conn| {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            // The first read: where a WAL file that cannot get its
            // shared memory, or a file that is not a database, says so.
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
            Ok(conn)
        });
        let conn = match plain {
            Ok(conn) => conn,
            Err(e) if cannot_open(&e) => {
                let absolute = std::path::absolute(path).map_err(|e| open_error(&e))?;
                let uri = format!("file:{}?immutable=1", uri_path(&absolute));
                let conn = Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
                    .map_err(|e| open_error(&e))?;
                conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
                    .map_err(|e| open_error(&e))?;
                conn
            }
            Err(e) => return Err(open_error(&e)),
        };
        Ok(Sqlite { conn })
    }

    /// The stored schema version; None when the file has no planguard
    /// tables.
    pub fn stored_version(&self) -> Result<Option<i64>, BackendError> {
        let exists: i64 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'planguard_schema'",
            [],
            |r| r.get(0),
        )?;
        if exists == 0 {
            return Ok(None);
        }
        self.schema_version().map(Some)
    }

    /// Brings the schema to [`schema::VERSION`] in one transaction.
    fn migrate(&mut self, target: &Target) -> Result<(), HistoryError> {
        let fail = |e: rusqlite::Error| HistoryError::Open {
            target: target.label(),
            reason: e.to_string(),
        };
        // Up to date (the usual case): no write lock taken.
        if self.schema_version().ok() == Some(schema::VERSION) {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        tx.execute_batch(schema::VERSION_TABLE).map_err(fail)?;
        let found: Option<i64> = tx
            .query_row("SELECT max(version) FROM planguard_schema", [], |r| {
                r.get(0)
            })
            .map_err(fail)?;
        let found = found.unwrap_or(0);
        if found > schema::VERSION {
            return Err(HistoryError::Newer {
                target: target.label(),
                found,
                known: schema::VERSION,
            });
        }
        if found == schema::VERSION {
            return Ok(());
        }
        for index in found as usize..schema::MIGRATIONS.len() {
            tx.execute_batch(&schema::migration(
                index,
                "INTEGER PRIMARY KEY AUTOINCREMENT",
            ))
            .map_err(fail)?;
        }
        tx.execute("DELETE FROM planguard_schema", [])
            .map_err(fail)?;
        tx.execute(
            "INSERT INTO planguard_schema (version) VALUES (?1)",
            [schema::VERSION],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)
    }

    pub fn schema_version(&self) -> Result<i64, BackendError> {
        self.conn
            .query_row("SELECT max(version) FROM planguard_schema", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|v| v.unwrap_or(0))
            .map_err(BackendError::from)
    }

    pub fn record(&mut self, run: &Run, cutoff: Option<i64>) -> Result<i64, BackendError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id = insert(&tx, run)?;
        if let Some(cutoff) = cutoff {
            for statement in sql::PRUNE {
                tx.execute(&q(statement), [cutoff])?;
            }
        }
        tx.commit()?;
        Ok(id)
    }

    pub fn runs(&self, since: i64, limit: i64) -> Result<Vec<RunRow>, BackendError> {
        self.select(&sql::runs(), params![since, limit], run_row)
    }

    pub fn series(&self, per_query: i64, key: &SeriesKey) -> Result<Vec<QueryRow>, BackendError> {
        self.select(
            &sql::series(),
            params![
                per_query,
                key.server,
                key.settings_hash,
                key.stats_hash.as_deref().unwrap_or("")
            ],
            query_row,
        )
    }

    pub fn queries(
        &self,
        query_id: Option<&str>,
        since: i64,
    ) -> Result<Vec<QueryRow>, BackendError> {
        let mut rows = self.select(&sql::queries(), params![since, query_id], query_row)?;
        let findings = self.select(&sql::findings(), params![since, query_id], finding_row)?;
        attach_findings(&mut rows, findings);
        Ok(rows)
    }

    fn select<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: fn(&dyn Columns) -> Result<T, BackendError>,
    ) -> Result<Vec<T>, BackendError> {
        let mut statement = self.conn.prepare(&q(sql))?;
        let mut rows = statement.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(map(row)?);
        }
        Ok(out)
    }
}

/// A path for an SQLite `file:` URI: every byte but letters, digits and
/// `/-._~` percent-encoded.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for &b in path.to_string_lossy().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SQLite could not open the file or its WAL's shared memory read-only.
fn cannot_open(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
    )
}

fn insert(tx: &rusqlite::Transaction, run: &Run) -> rusqlite::Result<i64> {
    let id: i64 = tx.query_row(
        &q(sql::INSERT_RUN),
        params![
            run.started_at,
            run.command,
            run.server,
            run.server_version,
            run.settings_hash,
            run.planguard_version,
            run.queryset_hash,
            run.stats_hash.as_deref().unwrap_or("")
        ],
        |r| r.get(0),
    )?;
    let mut query = tx.prepare(
        "INSERT INTO planguard_queries (run_id, query_id, status, fingerprint, total_cost, \
         execution_ms, execution_ms_spread, planning_ms, shared_blocks, actual_rows) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut finding = tx.prepare(
        "INSERT INTO planguard_findings (run_id, query_id, rule, severity, regression, message, causes) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for r in &run.queries {
        query.execute(params![
            id,
            r.query_id,
            r.status,
            r.fingerprint,
            r.total_cost,
            r.execution_ms,
            r.execution_ms_spread,
            r.planning_ms,
            r.shared_blocks,
            r.actual_rows
        ])?;
        for f in &r.findings {
            finding.execute(params![
                id,
                r.query_id,
                f.rule,
                f.severity,
                f.regression,
                f.message,
                f.causes
            ])?;
        }
    }
    Ok(id)
}

impl Columns for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<i64, BackendError> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, BackendError> {
        Ok(self.get(i)?)
    }
    fn opt_float(&self, i: usize) -> Result<Option<f64>, BackendError> {
        Ok(self.get(i)?)
    }
    fn text(&self, i: usize) -> Result<String, BackendError> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, BackendError> {
        Ok(self.get(i)?)
    }
    fn boolean(&self, i: usize) -> Result<bool, BackendError> {
        Ok(self.get(i)?)
    }
}
