//! Stage after `report`: the run history. Every `check` and `baseline`
//! run is appended to a store (an SQLite file by default, or a PostgreSQL
//! database for teams), so that `planguard history` can show how a query
//! moved over time and the drift rules can see a query's past runs.
//!
//! Promises: one transaction per run (a crash or Ctrl-C leaves the
//! previous runs intact), retention pruned in that same transaction, the
//! same schema in both backends ([`schema`], docs/HISTORY.md), and every
//! failure an [`HistoryError`] naming the file or URL, which the commands
//! turn into a warning: the history never changes a report or an exit
//! code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::baseline::RunFigures;
use crate::plan::Plan;
use crate::report::Report;
use crate::rules::HistoryPoint;

mod postgres;
pub mod query;
pub(crate) mod recorder;
pub mod render;
pub mod schema;
mod sqlite;

pub use query::{QueryHistory, Regressed, regressed};

/// The history file's name, next to the baselines directory.
pub const DEFAULT_FILE: &str = "planguard-history.sqlite";

/// Where the history lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (a `postgres://` URL or a `key=value`
    /// conninfo).
    Postgres(String),
}

impl Target {
    /// `--history URL|PATH`: a `postgres://` or `postgresql://` URL, or a
    /// libpq `key=value` string (every word a `key=value`), else a file
    /// path.
    pub fn parse(text: &str) -> Target {
        let conninfo = !text.trim().is_empty()
            && text.split_whitespace().all(|word| {
                word.split_once('=').is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
            });
        if text.starts_with("postgres://") || text.starts_with("postgresql://") || conninfo {
            Target::Postgres(text.to_owned())
        } else {
            Target::Sqlite(PathBuf::from(text))
        }
    }

    /// The default: [`DEFAULT_FILE`] in the folder that holds the
    /// baselines directory.
    pub fn default_for(baselines: &Path) -> Target {
        let dir = baselines.parent().unwrap_or(Path::new(""));
        Target::Sqlite(dir.join(DEFAULT_FILE))
    }

    /// The file, or the URL without its password, for messages.
    pub fn label(&self) -> String {
        match self {
            Target::Sqlite(path) => path.display().to_string(),
            Target::Postgres(url) => match crate::conn::ConnParams::parse(url) {
                Ok(p) => format!(
                    "postgres://{}@{}:{}/{}",
                    p.effective_user(),
                    p.effective_host(),
                    p.effective_port(),
                    p.effective_dbname()
                ),
                Err(_) => "the history URL".to_owned(),
            },
        }
    }
}

/// `[history]` of planguard.toml with `--history` / `--no-history` on top.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// False with `--no-history` or `enabled = false`.
    pub disabled: bool,
    /// Where, when given (`--history`, `url`, `path`); else
    /// [`Target::default_for`] the baselines.
    pub target: Option<Target>,
    /// Runs older than this are pruned when a run is written (`keep`).
    pub keep: Option<Duration>,
}

impl Settings {
    /// The store to use, or None when the history is off.
    pub fn target(&self, baselines: &Path) -> Option<Target> {
        if self.disabled {
            return None;
        }
        Some(
            self.target
                .clone()
                .unwrap_or_else(|| Target::default_for(baselines)),
        )
    }
}

/// Why the history could not be read or written. Each names the store.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history {target}: cannot open it: {reason}")]
    Open { target: String, reason: String },
    #[error("the history URL is not a valid connection string: {reason}")]
    Url { reason: String },
    #[error("history {target}: cannot connect: {reason}")]
    Unreachable { target: String, reason: String },
    #[error("history {target}: cannot read it: {reason}")]
    Read { target: String, reason: String },
    #[error("history {target}: cannot record this run: {reason}")]
    Write { target: String, reason: String },
    #[error(
        "history {target}: schema version {found} was written by a newer planguard (this one knows version {known}); it is left as it is"
    )]
    Newer {
        target: String,
        found: i64,
        known: i64,
    },
    #[error(
        "history {target}: schema version {found} is older than this planguard's ({known}); run planguard check (or baseline) with this history once to migrate it"
    )]
    Older {
        target: String,
        found: i64,
        known: i64,
    },
    #[error(
        "history {target}: no run recorded there yet (check and baseline record one unless --no-history)"
    )]
    Empty { target: String },
}

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// The id the store gave it (0 before it is stored).
    pub id: i64,
    /// When it started, in seconds since the Unix epoch.
    pub started_at: i64,
    /// `check` or `baseline`.
    pub command: String,
    /// The database it ran on: `user@host:port/dbname`.
    pub server: String,
    /// `server_version`.
    pub server_version: Option<String>,
    /// SHA-256 of the planner settings the run applied.
    pub settings_hash: String,
    /// The planguard version that ran it.
    pub planguard_version: String,
    /// SHA-256 of the query ids and statements of the set.
    pub queryset_hash: String,
    /// SHA-256 of the `--stats` file the run planned with.
    pub stats_hash: Option<String>,
    /// Each query's outcome.
    pub queries: Vec<QueryRecord>,
}

/// One query in one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryRecord {
    pub query_id: String,
    /// `ok`, `error`, `timeout` or `skipped`.
    pub status: String,
    pub fingerprint: Option<String>,
    pub total_cost: Option<f64>,
    /// Median execution time (ms).
    pub execution_ms: Option<f64>,
    /// Slowest minus fastest counted run (ms); None with one run.
    pub execution_ms_spread: Option<f64>,
    pub planning_ms: Option<f64>,
    pub shared_blocks: Option<i64>,
    /// Rows the plan's root returned.
    pub actual_rows: Option<f64>,
    pub findings: Vec<FindingRecord>,
}

/// One finding of a query in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingRecord {
    pub rule: String,
    pub severity: String,
    pub regression: bool,
    pub message: String,
    /// The changes that explain it, as text (`; ` between them).
    pub causes: String,
}

/// What the report does not carry but the history keeps: the spread of
/// the counted runs and the rows returned.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measures {
    pub execution_ms_spread: Option<f64>,
    pub actual_rows: Option<f64>,
}

impl Measures {
    /// The measures of a query's median plan and its counted runs.
    pub fn of(plan: Option<&Plan>, runs: &[RunFigures]) -> Measures {
        let times: Vec<f64> = runs.iter().filter_map(|r| r.execution_ms).collect();
        // One run has no spread to speak of.
        let spread = match (
            times.len() > 1,
            times.iter().copied().reduce(f64::min),
            times.iter().copied().reduce(f64::max),
        ) {
            (true, Some(lo), Some(hi)) => Some(hi - lo),
            _ => None,
        };
        Measures {
            execution_ms_spread: spread.map(crate::rules::round3),
            actual_rows: plan.and_then(|p| {
                let root = &p.root;
                root.actual_rows
                    .map(|r| r * root.actual_loops.unwrap_or(1.0))
            }),
        }
    }
}

/// What a run is besides its report.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub started_at: i64,
    pub command: &'static str,
    /// `-d` as given (resolved like every command resolves it).
    pub conninfo: Option<String>,
    /// The planner settings the run applied.
    pub settings: BTreeMap<String, String>,
    /// Each query's id and statement.
    pub queryset: Vec<(String, String)>,
    /// SHA-256 of the `--stats` file, with one.
    pub stats_hash: Option<String>,
}

impl RunInfo {
    /// The series this run belongs to.
    pub fn series_key(&self) -> SeriesKey {
        SeriesKey {
            server: server_label(self.conninfo.as_deref()),
            settings_hash: settings_hash(&self.settings),
            stats_hash: self.stats_hash.clone(),
        }
    }
}

/// What makes runs of a query comparable: the same server (its
/// `user@host:port/dbname`), the same planner settings and the same
/// `--stats` file (or none). The drift rules and `history --regressed`
/// only compare runs of one series: a staging and a production server
/// sharing a history are two series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SeriesKey {
    pub server: String,
    pub settings_hash: String,
    pub stats_hash: Option<String>,
}

impl Run {
    /// The record of a finished report.
    pub fn of_report(
        report: &Report,
        info: &RunInfo,
        measures: &BTreeMap<String, Measures>,
    ) -> Run {
        let details: BTreeMap<&str, &str> = report
            .changes
            .iter()
            .map(|c| (c.id.as_str(), c.detail.as_str()))
            .collect();
        let queries = report
            .queries
            .iter()
            .map(|q| {
                let m = measures.get(&q.id).copied().unwrap_or_default();
                QueryRecord {
                    query_id: q.id.clone(),
                    status: q.status.as_str().to_owned(),
                    fingerprint: q.current.as_ref().map(|c| c.fingerprint.clone()),
                    total_cost: q.current.as_ref().map(|c| c.total_cost),
                    execution_ms: q.current.as_ref().and_then(|c| c.execution_ms),
                    execution_ms_spread: m.execution_ms_spread,
                    planning_ms: q.current.as_ref().and_then(|c| c.planning_ms),
                    shared_blocks: q
                        .current
                        .as_ref()
                        .and_then(|c| c.shared_blocks)
                        .map(|b| b as i64),
                    actual_rows: m.actual_rows,
                    findings: q
                        .findings
                        .iter()
                        .map(|f| FindingRecord {
                            rule: f.rule.clone(),
                            severity: f.severity.as_str().to_owned(),
                            regression: f.regression,
                            message: f.message.clone(),
                            causes: f
                                .causes
                                .iter()
                                .filter_map(|id| details.get(id.as_str()).copied())
                                .collect::<Vec<_>>()
                                .join("; "),
                        })
                        .collect(),
                }
            })
            .collect();
        Run {
            id: 0,
            started_at: info.started_at,
            command: info.command.to_owned(),
            server: server_label(info.conninfo.as_deref()),
            server_version: report.server.as_ref().map(|s| s.version.clone()),
            settings_hash: settings_hash(&info.settings),
            planguard_version: env!("CARGO_PKG_VERSION").to_owned(),
            queryset_hash: queryset_hash(&info.queryset),
            stats_hash: info.stats_hash.clone(),
            queries,
        }
    }
}

/// `user@host:port/dbname` of a conninfo, without its password.
pub fn server_label(conninfo: Option<&str>) -> String {
    match crate::conn::ConnParams::resolve(conninfo) {
        Ok(p) => format!(
            "{}@{}:{}/{}",
            p.effective_user(),
            p.effective_host(),
            p.effective_port(),
            p.effective_dbname()
        ),
        Err(_) => "unknown".to_owned(),
    }
}

/// SHA-256 of `name=value` lines, sorted by name.
pub fn settings_hash(settings: &BTreeMap<String, String>) -> String {
    let text: String = settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    crate::hash::sha256_hex(text.as_bytes())
}

/// SHA-256 of the query ids and statements, sorted by id.
pub fn queryset_hash(queries: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = queries.iter().collect();
    sorted.sort();
    let mut text = String::new();
    for (id, sql) in sorted {
        text.push_str(id);
        text.push('\0');
        text.push_str(sql);
        text.push('\0');
    }
    crate::hash::sha256_hex(text.as_bytes())
}

/// A run as `history` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub started_at: i64,
    pub command: String,
    pub server: String,
    pub server_version: Option<String>,
    pub planguard_version: String,
    /// Queries in the run.
    pub queries: i64,
    /// Queries that failed or timed out.
    pub failed: i64,
    /// Queries with at least one regression finding.
    pub regressions: i64,
}

/// One query in one run, as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryRow {
    pub run: i64,
    pub started_at: i64,
    pub command: String,
    /// The run's server, planner settings hash and `--stats` hash.
    #[serde(flatten)]
    pub series: SeriesKey,
    #[serde(flatten)]
    pub record: QueryRecord,
}

impl QueryRow {
    /// The point the drift rules read.
    pub fn point(&self) -> HistoryPoint {
        HistoryPoint {
            run: self.run,
            at: self.started_at,
            status: self.record.status.clone(),
            fingerprint: self.record.fingerprint.clone(),
            execution_ms: self.record.execution_ms,
            shared_blocks: self.record.shared_blocks.map(|b| b.max(0) as u64),
        }
    }
}

/// An open history.
pub struct Store {
    target: Target,
    backend: Backend,
}

enum Backend {
    Sqlite(std::sync::Mutex<sqlite::Sqlite>),
    Postgres(postgres::Postgres),
}

impl Store {
    /// Opens (creating and migrating as needed) the history at `target`.
    pub async fn open(target: &Target) -> Result<Store, HistoryError> {
        let backend = match target {
            Target::Sqlite(path) => {
                Backend::Sqlite(std::sync::Mutex::new(sqlite::Sqlite::open(path, target)?))
            }
            Target::Postgres(url) => {
                Backend::Postgres(postgres::Postgres::open(url, target).await?)
            }
        };
        Ok(Store {
            target: target.clone(),
            backend,
        })
    }

    /// Opens the history at `target` to read it only: nothing is created,
    /// migrated or written (an SQLite file is opened read-only, a
    /// PostgreSQL session is read-only). A store without planguard's
    /// tables is [`HistoryError::Empty`]; one at an older schema version
    /// is [`HistoryError::Older`] (`check` migrates it).
    pub async fn open_read_only(target: &Target) -> Result<Store, HistoryError> {
        let backend = match target {
            Target::Sqlite(path) => Backend::Sqlite(std::sync::Mutex::new(
                sqlite::Sqlite::open_read_only(path, target)?,
            )),
            Target::Postgres(url) => {
                Backend::Postgres(postgres::Postgres::open_read_only(url, target).await?)
            }
        };
        let store = Store {
            target: target.clone(),
            backend,
        };
        let found = match &store.backend {
            Backend::Sqlite(db) => lock(db).stored_version(),
            Backend::Postgres(db) => db.stored_version().await,
        }
        .map_err(|e| store.read_error(e))?;
        let target = target.label();
        match found {
            None => Err(HistoryError::Empty { target }),
            Some(found) if found > schema::VERSION => Err(HistoryError::Newer {
                target,
                found,
                known: schema::VERSION,
            }),
            Some(found) if found < schema::VERSION => Err(HistoryError::Older {
                target,
                found,
                known: schema::VERSION,
            }),
            Some(_) => Ok(store),
        }
    }

    /// Where it is.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Appends a run in one transaction, and in the same transaction
    /// removes the runs older than `keep`; returns the run's id.
    pub async fn record(&self, run: &Run, keep: Option<Duration>) -> Result<i64, HistoryError> {
        let cutoff = keep.map(|k| run.started_at - k.as_secs() as i64);
        let result = match &self.backend {
            Backend::Sqlite(db) => lock(db).record(run, cutoff),
            Backend::Postgres(db) => db.record(run, cutoff).await,
        };
        result.map_err(|e| HistoryError::Write {
            target: self.target.label(),
            reason: e.to_string(),
        })
    }

    /// The recorded runs, newest first, at most `limit`, started at or
    /// after `since` when given.
    pub async fn runs(&self, since: Option<i64>, limit: i64) -> Result<Vec<RunRow>, HistoryError> {
        let since = since.unwrap_or(i64::MIN);
        let result = match &self.backend {
            Backend::Sqlite(db) => lock(db).runs(since, limit),
            Backend::Postgres(db) => db.runs(since, limit).await,
        };
        result.map_err(|e| self.read_error(e))
    }

    /// Every query's last `per_query` recorded runs of the series `key`
    /// (one server, planner settings and statistics), oldest first, for
    /// the drift rules.
    pub async fn series(
        &self,
        per_query: i64,
        key: &SeriesKey,
    ) -> Result<BTreeMap<String, Vec<HistoryPoint>>, HistoryError> {
        let rows = match &self.backend {
            Backend::Sqlite(db) => lock(db).series(per_query, key),
            Backend::Postgres(db) => db.series(per_query, key).await,
        }
        .map_err(|e| self.read_error(e))?;
        let mut out: BTreeMap<String, Vec<HistoryPoint>> = BTreeMap::new();
        for row in rows {
            out.entry(row.record.query_id.clone())
                .or_default()
                .push(row.point());
        }
        Ok(out)
    }

    /// The runs of one query (or of every query with None) since `since`,
    /// oldest first, with their findings.
    pub async fn queries(
        &self,
        query_id: Option<&str>,
        since: Option<i64>,
    ) -> Result<Vec<QueryRow>, HistoryError> {
        let since = since.unwrap_or(i64::MIN);
        match &self.backend {
            Backend::Sqlite(db) => lock(db).queries(query_id, since),
            Backend::Postgres(db) => db.queries(query_id, since).await,
        }
        .map_err(|e| self.read_error(e))
    }

    /// The schema version of the store.
    pub async fn schema_version(&self) -> Result<i64, HistoryError> {
        match &self.backend {
            Backend::Sqlite(db) => lock(db).schema_version(),
            Backend::Postgres(db) => db.schema_version().await,
        }
        .map_err(|e| self.read_error(e))
    }

    fn read_error(&self, error: BackendError) -> HistoryError {
        HistoryError::Read {
            target: self.target.label(),
            reason: error.to_string(),
        }
    }
}

fn lock(db: &std::sync::Mutex<sqlite::Sqlite>) -> std::sync::MutexGuard<'_, sqlite::Sqlite> {
    db.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a backend's statement or row read failed with, in the words the
/// history's messages give it ([`HistoryError`]'s `reason`): SQLite's
/// message, or the server's error as psql shows it. The message is that
/// error, not a cause of it, so it is not a `source`.
#[derive(Debug, thiserror::Error)]
enum BackendError {
    #[error("{0}")]
    Sqlite(rusqlite::Error),
    #[error("{}", crate::conn::describe_query_error(.0))]
    Postgres(tokio_postgres::Error),
}

impl From<rusqlite::Error> for BackendError {
    fn from(error: rusqlite::Error) -> BackendError {
        BackendError::Sqlite(error)
    }
}

impl From<tokio_postgres::Error> for BackendError {
    fn from(error: tokio_postgres::Error) -> BackendError {
        BackendError::Postgres(error)
    }
}

/// Reads a row's columns the same way in both backends, so that the
/// mapping from columns to records is written once.
trait Columns {
    fn int(&self, i: usize) -> Result<i64, BackendError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, BackendError>;
    fn opt_float(&self, i: usize) -> Result<Option<f64>, BackendError>;
    fn text(&self, i: usize) -> Result<String, BackendError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, BackendError>;
    fn boolean(&self, i: usize) -> Result<bool, BackendError>;
}

/// The columns [`query_row`] reads, after a join of `planguard_queries q`
/// and `planguard_runs r`.
const QUERY_COLUMNS: &str = "q.run_id, r.started_at, r.command, q.query_id, q.status, q.fingerprint, \
     q.total_cost, q.execution_ms, q.execution_ms_spread, q.planning_ms, q.shared_blocks, q.actual_rows, \
     r.server, r.settings_hash, r.stats_hash";

fn query_row(row: &dyn Columns) -> Result<QueryRow, BackendError> {
    Ok(QueryRow {
        run: row.int(0)?,
        started_at: row.int(1)?,
        command: row.text(2)?,
        series: SeriesKey {
            server: row.text(12)?,
            settings_hash: row.text(13)?,
            stats_hash: Some(row.text(14)?).filter(|h| !h.is_empty()),
        },
        record: QueryRecord {
            query_id: row.text(3)?,
            status: row.text(4)?,
            fingerprint: row.opt_text(5)?,
            total_cost: row.opt_float(6)?,
            execution_ms: row.opt_float(7)?,
            execution_ms_spread: row.opt_float(8)?,
            planning_ms: row.opt_float(9)?,
            shared_blocks: row.opt_int(10)?,
            actual_rows: row.opt_float(11)?,
            findings: Vec::new(),
        },
    })
}

/// The columns [`finding_row`] reads from `planguard_findings`.
const FINDING_COLUMNS: &str = "run_id, query_id, rule, severity, regression, message, causes";

fn finding_row(row: &dyn Columns) -> Result<((i64, String), FindingRecord), BackendError> {
    Ok((
        (row.int(0)?, row.text(1)?),
        FindingRecord {
            rule: row.text(2)?,
            severity: row.text(3)?,
            regression: row.boolean(4)?,
            message: row.text(5)?,
            causes: row.text(6)?,
        },
    ))
}

const RUN_COLUMNS: &str = "r.id, r.started_at, r.command, r.server, r.server_version, r.planguard_version, \
     (SELECT count(*) FROM planguard_queries q WHERE q.run_id = r.id), \
     (SELECT count(*) FROM planguard_queries q WHERE q.run_id = r.id AND q.status IN ('error', 'timeout')), \
     (SELECT count(DISTINCT f.query_id) FROM planguard_findings f WHERE f.run_id = r.id AND f.regression)";

fn run_row(row: &dyn Columns) -> Result<RunRow, BackendError> {
    Ok(RunRow {
        id: row.int(0)?,
        started_at: row.int(1)?,
        command: row.text(2)?,
        server: row.text(3)?,
        server_version: row.opt_text(4)?,
        planguard_version: row.text(5)?,
        queries: row.int(6)?,
        failed: row.int(7)?,
        regressions: row.int(8)?,
    })
}

/// Puts the findings read separately under their query rows.
fn attach_findings(rows: &mut [QueryRow], findings: Vec<((i64, String), FindingRecord)>) {
    let mut by_key: BTreeMap<(i64, String), Vec<FindingRecord>> = BTreeMap::new();
    for (key, finding) in findings {
        by_key.entry(key).or_default().push(finding);
    }
    for row in rows {
        if let Some(found) = by_key.remove(&(row.run, row.record.query_id.clone())) {
            row.record.findings = found;
        }
    }
}

/// The SQL both backends run to read rows, in PostgreSQL's `$n`
/// placeholders (SQLite takes them as `?n`).
mod sql {
    use super::{FINDING_COLUMNS, QUERY_COLUMNS, RUN_COLUMNS};

    pub fn runs() -> String {
        format!(
            "SELECT {RUN_COLUMNS} FROM planguard_runs r WHERE r.started_at >= $1 \
             ORDER BY r.started_at DESC, r.id DESC LIMIT $2"
        )
    }

    /// `$1`: runs per query; `$2`, `$3`, `$4`: the series' server,
    /// settings hash and statistics hash ('' without).
    pub fn series() -> String {
        format!(
            "SELECT {QUERY_COLUMNS} FROM (SELECT q.*, row_number() OVER \
             (PARTITION BY q.query_id ORDER BY r.started_at DESC, q.run_id DESC) AS n \
             FROM planguard_queries q JOIN planguard_runs r ON r.id = q.run_id \
             WHERE r.server = $2 AND r.settings_hash = $3 AND r.stats_hash = $4) q \
             JOIN planguard_runs r ON r.id = q.run_id WHERE q.n <= $1 \
             ORDER BY q.query_id, r.started_at, q.run_id"
        )
    }

    /// `$1`: since; `$2`: the query id, or NULL for all.
    pub fn queries() -> String {
        format!(
            "SELECT {QUERY_COLUMNS} FROM planguard_queries q JOIN planguard_runs r ON r.id = q.run_id \
             WHERE r.started_at >= $1 AND (CAST($2 AS TEXT) IS NULL OR q.query_id = $2) \
             ORDER BY q.query_id, r.started_at, q.run_id"
        )
    }

    pub fn findings() -> String {
        format!(
            "SELECT {FINDING_COLUMNS} FROM planguard_findings \
             WHERE run_id IN (SELECT id FROM planguard_runs WHERE started_at >= $1) \
             AND (CAST($2 AS TEXT) IS NULL OR query_id = $2) ORDER BY run_id, query_id"
        )
    }

    /// Retention: the runs that started before `$1`, with their rows.
    pub const PRUNE: [&str; 3] = [
        "DELETE FROM planguard_findings WHERE run_id IN (SELECT id FROM planguard_runs WHERE started_at < $1)",
        "DELETE FROM planguard_queries WHERE run_id IN (SELECT id FROM planguard_runs WHERE started_at < $1)",
        "DELETE FROM planguard_runs WHERE started_at < $1",
    ];

    pub const INSERT_RUN: &str = "INSERT INTO planguard_runs (started_at, command, server, server_version, \
         settings_hash, planguard_version, queryset_hash, stats_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_targets() {
        let pg = |s: &str| Target::Postgres(s.to_owned());
        assert_eq!(Target::parse("postgres://u@h/db"), pg("postgres://u@h/db"));
        assert_eq!(Target::parse("postgresql://h/db"), pg("postgresql://h/db"));
        assert_eq!(Target::parse("host=db dbname=h"), pg("host=db dbname=h"));
        assert_eq!(
            Target::parse("hist.sqlite"),
            Target::Sqlite(PathBuf::from("hist.sqlite"))
        );
        assert_eq!(
            Target::parse("./a=b/h.sqlite"),
            Target::Sqlite(PathBuf::from("./a=b/h.sqlite"))
        );
        assert_eq!(
            Target::default_for(Path::new("ci/baselines")),
            Target::Sqlite(PathBuf::from("ci/planguard-history.sqlite"))
        );
        assert_eq!(
            pg("postgres://u:secret@h:6543/db").label(),
            "postgres://u@h:6543/db"
        );
    }
}
