//! Stage `query set`, capture: the statements a database actually runs,
//! from pg_stat_statements or from a PostgreSQL log, written as a query set
//! (one `.sql` file per statement, with directives).
//!
//! The flow: a source ([`stat_statements`] or [`log`]) yields
//! [`Candidate`]s, one per normalized statement, with their figures;
//! [`select`] leaves out what must never be captured and what the options
//! leave out, orders what is left and gives each its id; [`write_set`]
//! writes the files.
//!
//! Promises:
//!
//! - Utility statements and DDL (`CREATE`, `SET`, `BEGIN`, `EXPLAIN`,
//!   `COPY`, `SELECT ... INTO`, ...) are never captured. INSERT, UPDATE,
//!   DELETE, MERGE, data-modifying WITHs and row-locking SELECTs are
//!   captured with `allow_dml = false`, so that nothing runs them by
//!   accident. Statements about system catalogs only (drivers' type
//!   lookups, monitoring, planguard's own queries) and statements that read
//!   no table (`SELECT 1`) are left out too.
//! - The same statement with different literals is one query: literals
//!   become `$n` placeholders, as pg_stat_statements writes them (see
//!   [`normalize`] for what stays literal).
//! - Ids are `<main table>/<verb>_<hash>`, e.g. `orders/select_3f2a91c0`:
//!   the hash is the first 8 hex digits of the SHA-256 of the statement's
//!   canonical text (tokens, lower-case keywords, no comments), so an id is
//!   the same in every capture, from either source, and across servers. Two
//!   statements whose ids would collide both get 16 digits.
//! - Capturing into a directory that already holds a query set never
//!   deletes a file and never changes a statement a person edited: see
//!   [`write_set`].
//!
//! # Files written
//!
//! ```sql
//! -- planguard: name = "SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at…"
//! -- planguard: tags = ["captured"]
//! -- planguard: params = [42]
//! -- captured: log, calls = 12, mean = 1.52 ms, total = 18.2 ms, max = 3.10 ms
//! SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20;
//! ```
//!
//! `allow_dml = false` is written for statements that write. `params` is
//! written only when every placeholder's value is known (from a log: the
//! values of the slowest occurrence, or its extended-protocol parameters);
//! it is a JSON array (`[42, null]`) when a value is NULL, since TOML has
//! no null. The `-- captured:` line is the one capture rewrites on later
//! runs. A plan that auto_explain logged for the statement is written next
//! to it as `<id>.plan.json` (JSON format) or `<id>.plan.txt` (text
//! format): the slowest occurrence's plan as the server logged it.

pub mod log;
pub mod normalize;
pub mod stat_statements;
pub mod statement;
mod write;

use std::collections::{BTreeMap, HashMap};

pub use write::{FileStatus, STATS_PREFIX, WriteError, WriteSummary, write_set};

use statement::Class;

/// Where statements came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    PgStatStatements,
    Log,
}

impl Source {
    /// The name written in the `-- captured:` line.
    pub fn name(self) -> &'static str {
        match self {
            Source::PgStatStatements => "pg_stat_statements",
            Source::Log => "log",
        }
    }
}

/// What is known about how often and how long a statement ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub calls: u64,
    /// Total execution time in milliseconds.
    pub total_ms: f64,
    /// The slowest execution (logs only).
    pub max_ms: Option<f64>,
    /// Rows returned or affected (pg_stat_statements only).
    pub rows: Option<u64>,
    /// pg_stat_statements' query ids that make up this statement (one per
    /// statement, more when roles or search paths differ).
    pub queryids: Vec<i64>,
}

impl Stats {
    /// Mean time per call in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.total_ms / self.calls as f64
        }
    }

    fn add(&mut self, other: &Stats) {
        self.calls += other.calls;
        self.total_ms += other.total_ms;
        self.max_ms = match (self.max_ms, other.max_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.rows = match (self.rows, other.rows) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        for id in &other.queryids {
            if !self.queryids.contains(id) {
                self.queryids.push(*id);
            }
        }
    }
}

/// A value for one `$n` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Null,
    /// A value in PostgreSQL's text input form.
    Text(String),
}

/// Which EXPLAIN format a logged plan is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFormat {
    Json,
    Text,
}

impl PlanFormat {
    /// The file extension after `.plan`.
    pub fn extension(self) -> &'static str {
        match self {
            PlanFormat::Json => "json",
            PlanFormat::Text => "txt",
        }
    }
}

/// A plan auto_explain logged for a statement.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedPlan {
    pub format: PlanFormat,
    /// The plan as logged: auto_explain's JSON object, or the text plan
    /// from its top node on.
    pub text: String,
    /// The execution time of the run it describes.
    pub duration_ms: f64,
}

/// One statement a source found, before classification.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The normalized statement (literals as `$n`), without a semicolon.
    pub sql: String,
    /// Its canonical key ([`normalize::key`]).
    pub key: String,
    pub stats: Stats,
    /// Values for `$1..$n` when all are known.
    pub params: Option<Vec<ParamValue>>,
    pub plan: Option<CapturedPlan>,
}

impl Candidate {
    /// A candidate from one normalized statement.
    pub fn new(normalized: normalize::Normalized, stats: Stats) -> Candidate {
        Candidate {
            sql: normalized.text,
            key: normalized.key,
            stats,
            params: None,
            plan: None,
        }
    }
}

/// A statement that will be written.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedQuery {
    /// The query id: the file's path in the output directory without `.sql`.
    pub id: String,
    pub sql: String,
    pub key: String,
    /// It writes (or locks rows): `allow_dml = false` is written.
    pub dml: bool,
    pub source: Source,
    pub stats: Stats,
    pub params: Option<Vec<ParamValue>>,
    pub plan: Option<CapturedPlan>,
}

/// How candidates are ordered before `--limit` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Total execution time, highest first.
    Total,
    /// Mean execution time, highest first.
    Mean,
    /// Calls, most first.
    Calls,
}

/// The options that choose which candidates are captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub order: Order,
    pub min_calls: u64,
    pub limit: usize,
}

/// What [`select`] left out, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// Utility and DDL statements, by leading keyword (`CREATE TABLE`,
    /// `EXPLAIN`, ...).
    pub never: BTreeMap<String, u64>,
    /// Statements whose main relation is a system catalog.
    pub catalog: u64,
    /// Statements that read no table.
    pub no_table: u64,
    /// Called fewer times than `--min-calls`.
    pub min_calls: u64,
    /// Beyond `--limit`.
    pub limit: u64,
}

impl LeftOut {
    /// One line for people, or None when nothing was left out.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        let never: u64 = self.never.values().sum();
        if never > 0 {
            let kinds: Vec<String> = self
                .never
                .iter()
                .map(|(what, n)| format!("{what} ×{n}"))
                .collect();
            parts.push(format!(
                "{never} utility or DDL statements ({})",
                kinds.join(", ")
            ));
        }
        if self.catalog > 0 {
            parts.push(format!("{} on system catalogs", self.catalog));
        }
        if self.no_table > 0 {
            parts.push(format!("{} reading no table", self.no_table));
        }
        if self.min_calls > 0 {
            parts.push(format!("{} under --min-calls", self.min_calls));
        }
        if self.limit > 0 {
            parts.push(format!("{} beyond --limit", self.limit));
        }
        (!parts.is_empty()).then(|| format!("left out {}", parts.join(", ")))
    }
}

/// Merges candidates with the same key, leaves out what must not or need
/// not be captured, orders the rest (ties by key, so the result does not
/// depend on the source's order), keeps the first `limit` and gives each
/// its id.
pub fn select(
    candidates: Vec<Candidate>,
    source: Source,
    selection: &Selection,
) -> (Vec<CapturedQuery>, LeftOut) {
    let mut left_out = LeftOut::default();
    let mut kept: Vec<(Candidate, statement::Analysis)> = Vec::new();
    for candidate in merge(candidates) {
        let analysis = statement::analyze(&candidate.sql);
        match (&analysis.class, &analysis.table) {
            (Class::Never(what), _) => *left_out.never.entry(what.clone()).or_default() += 1,
            (_, None) => left_out.no_table += 1,
            (_, Some(table)) if table.is_catalog() => left_out.catalog += 1,
            _ if candidate.stats.calls < selection.min_calls => left_out.min_calls += 1,
            _ => kept.push((candidate, analysis)),
        }
    }
    let figure = |c: &Candidate| match selection.order {
        Order::Total => c.stats.total_ms,
        Order::Mean => c.stats.mean_ms(),
        Order::Calls => c.stats.calls as f64,
    };
    kept.sort_by(|(a, _), (b, _)| {
        figure(b)
            .total_cmp(&figure(a))
            .then_with(|| a.key.cmp(&b.key))
    });
    if kept.len() > selection.limit {
        left_out.limit = (kept.len() - selection.limit) as u64;
        kept.truncate(selection.limit);
    }
    let short: Vec<String> = kept
        .iter()
        .map(|(c, a)| statement::query_id(a, &c.key, 8))
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for id in &short {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    let queries = kept
        .iter()
        .zip(&short)
        .map(|((candidate, analysis), id)| {
            let id = if seen.get(id.as_str()).copied().unwrap_or(0) > 1 {
                statement::query_id(analysis, &candidate.key, 16)
            } else {
                id.clone()
            };
            CapturedQuery {
                id,
                sql: candidate.sql.clone(),
                key: candidate.key.clone(),
                dml: analysis.class == Class::Dml,
                source,
                stats: candidate.stats.clone(),
                params: candidate.params.clone(),
                plan: candidate.plan.clone(),
            }
        })
        .collect();
    (queries, left_out)
}

/// One candidate per key: figures added up; the params and the plan of the
/// slowest one kept.
fn merge(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut by_key: BTreeMap<String, Candidate> = BTreeMap::new();
    for candidate in candidates {
        match by_key.get_mut(&candidate.key) {
            None => {
                by_key.insert(candidate.key.clone(), candidate);
            }
            Some(existing) => {
                let slower = candidate.stats.max_ms.unwrap_or(candidate.stats.mean_ms())
                    > existing.stats.max_ms.unwrap_or(existing.stats.mean_ms());
                if candidate.params.is_some() && (slower || existing.params.is_none()) {
                    existing.params = candidate.params.clone();
                }
                existing.plan = match (existing.plan.take(), candidate.plan) {
                    (Some(a), Some(b)) => Some(if b.duration_ms > a.duration_ms { b } else { a }),
                    (a, b) => a.or(b),
                };
                existing.stats.add(&candidate.stats);
            }
        }
    }
    by_key.into_values().collect()
}

/// A duration for people: `0.012 ms`, `1.52 ms`, `152.3 ms`, `1.52 s`,
/// `2.5 min`, `1.5 h`.
pub fn format_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 100.0 {
        format!("{ms:.2} ms")
    } else if ms < 1_000.0 {
        format!("{ms:.1} ms")
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1_000.0)
    } else if ms < 3_600_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else {
        format!("{:.1} h", ms / 3_600_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(sql: &str, calls: u64, total_ms: f64) -> Candidate {
        let normalized = normalize::normalize_all(sql).remove(0);
        Candidate::new(
            normalized,
            Stats {
                calls,
                total_ms,
                ..Stats::default()
            },
        )
    }

    #[test]
    fn select_merges_filters_orders_and_limits() {
        let selection = Selection {
            order: Order::Total,
            min_calls: 2,
            limit: 2,
        };
        let (queries, left_out) = select(
            vec![
                candidate("SELECT * FROM a WHERE x = 1", 1, 5.0),
                candidate("SELECT * FROM a WHERE x = 2", 1, 5.0),
                candidate("SELECT * FROM b", 5, 20.0),
                candidate("SELECT * FROM c", 5, 1.0),
                candidate("SELECT * FROM d", 1, 100.0),
                candidate("UPDATE c SET x = 1", 3, 2.0),
                candidate("CREATE TABLE e (x int)", 1, 1.0),
                candidate("SELECT * FROM pg_stat_statements", 1, 1.0),
                candidate("SELECT 1", 9, 1.0),
            ],
            Source::Log,
            &selection,
        );
        let ids: Vec<&str> = queries
            .iter()
            .map(|q| q.id.split('_').next().unwrap_or(""))
            .collect();
        assert_eq!(ids, vec!["b/select", "a/select"]);
        assert_eq!(queries[1].stats.calls, 2);
        assert_eq!(left_out.min_calls, 1);
        assert_eq!(left_out.limit, 2);
        assert_eq!(left_out.catalog, 1);
        assert_eq!(left_out.no_table, 1);
        assert_eq!(left_out.never.get("CREATE TABLE"), Some(&1));
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(format_ms(0.0123), "0.012 ms");
        assert_eq!(format_ms(12.345), "12.35 ms");
        assert_eq!(format_ms(1520.0), "1.52 s");
        assert_eq!(format_ms(150_000.0), "2.5 min");
    }
}
