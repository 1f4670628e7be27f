//! Capture source: the pg_stat_statements view of the connected database.
//!
//! Promises: only statements of the current database are read (`dbid`),
//! only top-level ones where the server tells (`toplevel`, 14+), so
//! statements run inside functions and the statements EXPLAIN ran for
//! planguard are not taken; texts hidden from this role are counted, never
//! captured; each problem that stops the capture (the extension missing or
//! not loaded, an old server or extension, no privilege) is one sentence
//! that says how to fix it.

use tokio_postgres::Client;

use super::normalize;
use super::{Candidate, Stats};
use crate::sql::quote_ident;

/// What pg_stat_statements shows to a role that may not see a statement.
const HIDDEN: &str = "<insufficient privilege>";

/// Why pg_stat_statements could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatStatementsError {
    #[error(
        "capture from pg_stat_statements needs PostgreSQL 13 or later (the server is {version})"
    )]
    OldServer { version: String },
    #[error(
        "pg_stat_statements is not installed in database \"{database}\": run `CREATE EXTENSION pg_stat_statements;` in it (the server must also load the module: shared_preload_libraries = 'pg_stat_statements' in postgresql.conf, then a restart)"
    )]
    NotInstalled { database: String },
    #[error(
        "pg_stat_statements is installed in database \"{database}\" but the server does not load it: add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart the server"
    )]
    NotLoaded { database: String },
    #[error(
        "the pg_stat_statements extension in database \"{database}\" is at version {version}, older than the server: run `ALTER EXTENSION pg_stat_statements UPDATE;`"
    )]
    OldExtension { database: String, version: String },
    #[error(
        "role \"{role}\" may not read pg_stat_statements ({message}): ask for `GRANT pg_read_all_stats TO \"{role}\";`"
    )]
    Denied { role: String, message: String },
    /// Raised by the caller when nothing could be captured while some
    /// texts were hidden.
    #[error(
        "role \"{role}\" cannot see the texts of {hidden} statements in pg_stat_statements, as they belong to other roles, and none of its own can be captured: ask for `GRANT pg_read_all_stats TO \"{role}\";`"
    )]
    AllHidden { role: String, hidden: u64 },
    #[error("cannot read pg_stat_statements: {0}")]
    Query(String),
}

/// The statements found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// One candidate per entry (entries of several roles with the same
    /// statement are merged later).
    pub candidates: Vec<Candidate>,
    /// Entries whose text this role may not see.
    pub hidden: u64,
    /// The role that read them.
    pub role: String,
}

struct Setup {
    version_num: i32,
    version: String,
    database: String,
    role: String,
    schema: Option<String>,
    extversion: Option<String>,
}

/// Reads every statement of the current database from pg_stat_statements.
pub async fn fetch(client: &Client) -> Result<Found, StatStatementsError> {
    let setup = setup(client).await?;
    if setup.version_num < 130_000 {
        return Err(StatStatementsError::OldServer {
            version: setup.version,
        });
    }
    let Some(schema) = setup.schema.clone() else {
        return Err(StatStatementsError::NotInstalled {
            database: setup.database,
        });
    };
    let view = format!("{}.pg_stat_statements", quote_ident(&schema));
    let columns: Vec<String> = client
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped",
            &[&view],
        )
        .await
        .map_err(|e| query_error(&setup, &e))?
        .iter()
        .filter_map(|row| row.try_get::<_, String>(0).ok())
        .collect();
    if !columns.iter().any(|c| c == "total_exec_time") {
        return Err(StatStatementsError::OldExtension {
            database: setup.database,
            version: setup.extversion.unwrap_or_else(|| "?".into()),
        });
    }
    let toplevel = if columns.iter().any(|c| c == "toplevel") {
        " AND toplevel"
    } else {
        ""
    };
    let sql = format!(
        "SELECT queryid, query, calls, total_exec_time, rows FROM {view} \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()){toplevel}"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| query_error(&setup, &e))?;
    let mut found = Found {
        role: setup.role.clone(),
        ..Found::default()
    };
    for row in &rows {
        let text: Option<String> = row.try_get(1).ok().flatten();
        let Some(text) = text else { continue };
        if text == HIDDEN {
            found.hidden += 1;
            continue;
        }
        let stats = Stats {
            calls: non_negative(row.try_get::<_, Option<i64>>(2).ok().flatten()),
            total_ms: row
                .try_get::<_, Option<f64>>(3)
                .ok()
                .flatten()
                .unwrap_or(0.0),
            max_ms: None,
            rows: Some(non_negative(
                row.try_get::<_, Option<i64>>(4).ok().flatten(),
            )),
            queryids: row
                .try_get::<_, Option<i64>>(0)
                .ok()
                .flatten()
                .into_iter()
                .collect(),
        };
        for normalized in normalize::normalize_all(&text) {
            found
                .candidates
                .push(Candidate::new(normalized, stats.clone()));
        }
    }
    Ok(found)
}

async fn setup(client: &Client) -> Result<Setup, StatStatementsError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version'), \
                    current_database()::text, current_user::text, \
                    (SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
                      WHERE e.extname = 'pg_stat_statements'), \
                    (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements')",
            &[],
        )
        .await
        .map_err(|e| StatStatementsError::Query(crate::conn::describe_query_error(&e)))?;
    let text = |i: usize| row.try_get::<_, Option<String>>(i).ok().flatten();
    Ok(Setup {
        version_num: row.try_get(0).unwrap_or(0),
        version: text(1).unwrap_or_default(),
        database: text(2).unwrap_or_default(),
        role: text(3).unwrap_or_default(),
        schema: text(4),
        extversion: text(5),
    })
}

fn query_error(setup: &Setup, error: &tokio_postgres::Error) -> StatStatementsError {
    let Some(db) = error.as_db_error() else {
        return StatStatementsError::Query(error.to_string());
    };
    // "pg_stat_statements must be loaded via shared_preload_libraries"
    // (SQLSTATE 55000, object_not_in_prerequisite_state).
    if db.message().contains("shared_preload_libraries") {
        return StatStatementsError::NotLoaded {
            database: setup.database.clone(),
        };
    }
    if db.code() == &tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE {
        return StatStatementsError::Denied {
            role: setup.role.clone(),
            message: db.message().to_owned(),
        };
    }
    StatStatementsError::Query(crate::conn::describe_query_error(error))
}

fn non_negative(value: Option<i64>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}
