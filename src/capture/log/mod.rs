//! Capture source: a PostgreSQL server log.
//!
//! # Formats
//!
//! The format is detected from the first line: `{` starts a jsonlog line
//! (PostgreSQL 15+, `log_destination = 'jsonlog'`); a CSV record whose
//! twelfth field is a severity is csvlog; anything else is the stderr
//! format. In the stderr format a message starts at a line holding a
//! severity marker (`LOG:  `, `DETAIL:  `, `ERROR:  `, ... with PostgreSQL's
//! two spaces) and its continuation lines start with a tab. Whatever
//! `log_line_prefix` puts before the marker is skipped, so every prefix
//! works, among them the default `%m [%p] ` and the common
//! `%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h `; when the prefix
//! holds `app=%a`, the application name is read from it. Messages must be
//! in English (`lc_messages = 'C'` or `en_*`). Compressed logs are not read:
//! decompress them first.
//!
//! # What is read
//!
//! - `log_min_duration_statement` lines: `duration: 1.234 ms  statement:
//!   SELECT ...` (the simple protocol; a text of several statements gives
//!   each of them the whole duration) and `duration: ... ms  execute
//!   <name>: SELECT ...` (the extended protocol), whose `DETAIL:
//!   parameters: $1 = '42', $2 = NULL` gives the bound values. `bind` and
//!   `parse` lines count only for statements never seen executing.
//! - `log_statement` lines without a duration (`statement: ...`,
//!   `execute <name>: ...`) count only for statements never seen with one.
//! - auto_explain plans in text and JSON format (`duration: ... ms
//!   plan:` with the `Query Text`, and on 16+ `Query Parameters`); they
//!   count as calls only for statements no other line shows.
//!
//! Lines of planguard's own sessions (application_name `planguard`) and
//! every other message are skipped. Occurrences are grouped by normalized
//! statement; a statement's `params` are the values of its slowest
//! occurrence whose values are all known, and its plan the slowest plan.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::normalize::{self, Normalized};

mod frame;

use super::{Candidate, CapturedPlan, ParamValue, PlanFormat, Stats};
pub use frame::{Message, detect};
use frame::{read_csv, read_json, read_stderr};

/// The log formats PostgreSQL writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Stderr,
    Csv,
    Json,
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogFormat::Stderr => "stderr",
            LogFormat::Csv => "csvlog",
            LogFormat::Json => "jsonlog",
        })
    }
}

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: cannot read the log")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid csvlog file (line {line}): {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// What a log held.
#[derive(Debug, Clone)]
pub struct LogCapture {
    pub format: LogFormat,
    /// One candidate per normalized statement.
    pub candidates: Vec<Candidate>,
    /// Log messages read.
    pub messages: u64,
    /// jsonlog lines that were not JSON, and auto_explain plans that could
    /// not be read: skipped.
    pub skipped: u64,
}

/// Reads a log file.
pub fn read_file(path: &Path) -> Result<LogCapture, LogError> {
    let file = std::fs::File::open(path).map_err(|source| LogError::Read {
        path: path.to_owned(),
        source,
    })?;
    read(std::io::BufReader::with_capacity(1 << 16, file), path)
}

/// Reads a log from any reader; `path` names it in errors.
pub fn read(mut reader: impl BufRead, path: &Path) -> Result<LogCapture, LogError> {
    let io = |source| LogError::Read {
        path: path.to_owned(),
        source,
    };
    let format = detect(reader.fill_buf().map_err(io)?);
    let mut collector = Collector::default();
    match format {
        LogFormat::Stderr => read_stderr(reader, &mut |m| collector.add(m)).map_err(io)?,
        LogFormat::Json => read_json(reader, &mut |m| collector.add(m)).map_err(io)?,
        LogFormat::Csv => read_csv(reader, path, &mut |m| collector.add(m))?,
    }
    Ok(collector.finish(format))
}

/// Reads a log held in memory (tests, fixtures).
pub fn read_str(text: &str) -> Result<LogCapture, LogError> {
    read(text.as_bytes(), Path::new("<log>"))
}

/// How an occurrence was logged; a statement's figures come from the best
/// (lowest) kind it was seen with, so one execution logged several ways is
/// counted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// `duration: ... statement:` and `duration: ... execute`.
    Timed = 0,
    Bind = 1,
    Parse = 2,
    /// An auto_explain plan.
    Plan = 3,
    /// `log_statement`: no duration.
    Untimed = 4,
}

#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    calls: u64,
    total_ms: f64,
    max_ms: f64,
}

#[derive(Debug)]
struct Group {
    normalized: Normalized,
    figures: [Figures; 5],
    /// The values of the slowest occurrence whose values are all known.
    params: Option<(f64, Vec<ParamValue>)>,
    plan: Option<CapturedPlan>,
}

#[derive(Debug, Default)]
struct Collector {
    groups: HashMap<String, Group>,
    /// Keys in the order first seen, for a stable result.
    order: Vec<String>,
    messages: u64,
    skipped: u64,
}

/// A statement in a message.
struct Occurrence<'a> {
    kind: Kind,
    duration_ms: f64,
    text: Cow<'a, str>,
    /// Bound values by placeholder number.
    bound: Option<HashMap<usize, ParamValue>>,
    plan: Option<CapturedPlan>,
}

impl Collector {
    fn add(&mut self, message: Message) {
        self.messages += 1;
        if message.severity.is_empty() && message.message.is_empty() {
            self.skipped += 1;
            return;
        }
        if message.severity != "LOG" || message.application.as_deref() == Some("planguard") {
            return;
        }
        let Some(occurrence) = interpret(&message, &mut self.skipped) else {
            return;
        };
        let statements = normalize::normalize_all(&occurrence.text);
        // A plan names its whole query string; with several statements in
        // it, there is no telling which one the plan is for.
        if occurrence.kind == Kind::Plan && statements.len() != 1 {
            return;
        }
        for normalized in statements {
            self.record(normalized, &occurrence);
        }
    }

    fn record(&mut self, normalized: Normalized, occurrence: &Occurrence<'_>) {
        let values = values_of(&normalized, occurrence.bound.as_ref());
        let key = normalized.key.clone();
        let group = match self.groups.get_mut(&key) {
            Some(group) => group,
            None => {
                self.order.push(key.clone());
                self.groups.entry(key).or_insert(Group {
                    normalized,
                    figures: [Figures::default(); 5],
                    params: None,
                    plan: None,
                })
            }
        };
        let figures = &mut group.figures[occurrence.kind as usize];
        figures.calls += 1;
        figures.total_ms += occurrence.duration_ms;
        figures.max_ms = figures.max_ms.max(occurrence.duration_ms);
        if let Some(values) = values {
            if group
                .params
                .as_ref()
                .is_none_or(|(slowest, _)| occurrence.duration_ms > *slowest)
            {
                group.params = Some((occurrence.duration_ms, values));
            }
        }
        if let Some(plan) = &occurrence.plan {
            if group
                .plan
                .as_ref()
                .is_none_or(|p| plan.duration_ms > p.duration_ms)
            {
                group.plan = Some(plan.clone());
            }
        }
    }

    fn finish(mut self, format: LogFormat) -> LogCapture {
        let candidates = self
            .order
            .iter()
            .filter_map(|key| self.groups.remove(key))
            .map(|group| {
                let best = group
                    .figures
                    .iter()
                    .find(|f| f.calls > 0)
                    .copied()
                    .unwrap_or_default();
                let timed = best.total_ms > 0.0 || best.max_ms > 0.0;
                let stats = Stats {
                    calls: best.calls,
                    total_ms: best.total_ms,
                    max_ms: timed.then_some(best.max_ms),
                    rows: None,
                    queryids: Vec::new(),
                };
                let mut candidate = Candidate::new(group.normalized, stats);
                candidate.params = group.params.map(|(_, v)| v).filter(|v| !v.is_empty());
                candidate.plan = group.plan;
                candidate
            })
            .collect();
        LogCapture {
            format,
            candidates,
            messages: self.messages,
            skipped: self.skipped,
        }
    }
}

/// Values for `$1..$n` of a normalized statement: bound values for its own
/// placeholders, the replaced literals for the rest; None when one is
/// unknown.
fn values_of(
    normalized: &Normalized,
    bound: Option<&HashMap<usize, ParamValue>>,
) -> Option<Vec<ParamValue>> {
    let mut values = Vec::new();
    for n in 1..=normalized.own_params {
        values.push(bound?.get(&n)?.clone());
    }
    for (n, literal) in &normalized.literals {
        if *n != values.len() + 1 {
            return None;
        }
        values.push(ParamValue::Text(literal.as_text().to_owned()));
    }
    Some(values)
}

/// The statement a LOG message is about, if any.
fn interpret<'a>(message: &'a Message, skipped: &mut u64) -> Option<Occurrence<'a>> {
    let text = message.message.as_str();
    let (duration_ms, rest) = match text.strip_prefix("duration: ") {
        Some(after) => {
            let (number, rest) = after.split_once(" ms")?;
            (
                number.trim().parse::<f64>().ok()?,
                rest.trim_start_matches(' '),
            )
        }
        None => (0.0, text),
    };
    let timed = text.starts_with("duration: ");
    let bound = || message.detail.as_deref().and_then(detail_parameters);
    if let Some(statement) = rest.strip_prefix("statement: ") {
        return Some(Occurrence {
            kind: if timed { Kind::Timed } else { Kind::Untimed },
            duration_ms,
            text: Cow::Borrowed(statement),
            bound: None,
            plan: None,
        });
    }
    for (word, kind) in [
        ("execute ", if timed { Kind::Timed } else { Kind::Untimed }),
        ("bind ", Kind::Bind),
        ("parse ", Kind::Parse),
    ] {
        if let Some(after) = rest.strip_prefix(word) {
            // `execute <unnamed>: ...`, `execute S_1/C_2: ...`
            let (_, statement) = after.split_once(": ")?;
            return Some(Occurrence {
                kind,
                duration_ms,
                text: Cow::Borrowed(statement),
                bound: bound(),
                plan: None,
            });
        }
    }
    if timed {
        if let Some(plan) = rest.strip_prefix("plan:") {
            let occurrence = plan_occurrence(plan.trim_start_matches([' ', '\n']), duration_ms);
            if occurrence.is_none() {
                *skipped += 1;
            }
            return occurrence;
        }
    }
    None
}

/// An auto_explain plan, JSON or text, with its query text.
fn plan_occurrence(plan: &str, duration_ms: f64) -> Option<Occurrence<'_>> {
    if plan.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(plan).ok()?;
        crate::plan::parse_json(plan.as_bytes()).ok()?;
        let text = value.get("Query Text")?.as_str()?.to_owned();
        let bound = value
            .get("Query Parameters")
            .and_then(|p| p.as_str())
            .and_then(parameter_list);
        return Some(Occurrence {
            kind: Kind::Plan,
            duration_ms,
            text: Cow::Owned(text),
            bound,
            plan: Some(CapturedPlan {
                format: PlanFormat::Json,
                text: plan.trim_end().to_owned(),
                duration_ms,
            }),
        });
    }
    let after = plan.strip_prefix("Query Text: ")?;
    let lines: Vec<&str> = after.split('\n').collect();
    let top = lines.iter().position(|l| is_node_line(l))?;
    let mut query_lines = &lines[..top];
    let mut bound = None;
    if let Some((last, head)) = query_lines.split_last() {
        if let Some(list) = last.strip_prefix("Query Parameters: ") {
            bound = parameter_list(list);
            query_lines = head;
        }
    }
    let query_len = query_lines.iter().map(|l| l.len() + 1).sum::<usize>();
    let text = after.get(..query_len.saturating_sub(1))?;
    Some(Occurrence {
        kind: Kind::Plan,
        duration_ms,
        text: Cow::Borrowed(text),
        bound,
        plan: Some(CapturedPlan {
            format: PlanFormat::Text,
            text: lines[top..].join("\n").trim_end().to_owned(),
            duration_ms,
        }),
    })
}

/// The first line of a text plan: `Node  (cost=...`.
fn is_node_line(line: &str) -> bool {
    line.contains("  (cost=") && !line.starts_with(' ')
}

/// `parameters: $1 = '42', $2 = NULL`.
fn detail_parameters(detail: &str) -> Option<HashMap<usize, ParamValue>> {
    let list = detail
        .lines()
        .find_map(|l| l.strip_prefix("parameters: "))?;
    parameter_list(list)
}

/// `$1 = '42', $2 = NULL, $3 = 'it''s'`.
fn parameter_list(list: &str) -> Option<HashMap<usize, ParamValue>> {
    let mut values = HashMap::new();
    let mut rest = list.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix('$')?;
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: usize = rest[..digits].parse().ok()?;
        rest = rest[digits..].strip_prefix(" = ")?;
        let value = if let Some(after) = rest.strip_prefix("NULL") {
            rest = after;
            ParamValue::Null
        } else {
            let body = rest.strip_prefix('\'')?;
            let mut value = String::new();
            let mut chars = body.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                if c == '\'' {
                    if body[i + 1..].starts_with('\'') {
                        value.push('\'');
                        chars.next();
                    } else {
                        break i + 1;
                    }
                } else {
                    value.push(c);
                }
            };
            rest = &body[end..];
            ParamValue::Text(value)
        };
        values.insert(n, value);
        rest = rest.strip_prefix(", ").unwrap_or(rest).trim_start();
    }
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::frame::{marker, prefix_application};
    use super::*;

    #[test]
    fn parameter_lists_with_quotes_and_nulls() {
        let p = parameter_list("$1 = '42', $2 = NULL, $3 = 'it''s, ok'").unwrap();
        assert_eq!(p[&1], ParamValue::Text("42".into()));
        assert_eq!(p[&2], ParamValue::Null);
        assert_eq!(p[&3], ParamValue::Text("it's, ok".into()));
        assert!(parameter_list("$1 = 'open").is_none());
    }

    #[test]
    fn markers_after_any_prefix() {
        let (prefix, severity, text) =
            marker("2024-05-01 10:00:00 UTC [42]: [3-1] user=app,db=shop,app=psql,client=::1 LOG:  duration: 1 ms")
                .unwrap();
        assert_eq!(severity, "LOG");
        assert_eq!(text, "duration: 1 ms");
        assert_eq!(prefix_application(prefix).as_deref(), Some("psql"));
        assert!(marker("waiting for server to start").is_none());
    }

    #[test]
    fn stderr_statements_parameters_and_continuations() {
        let log = "\
2024-05-01 10:00:00.001 UTC [7] LOG:  duration: 2.000 ms  statement: SELECT *
\tFROM orders WHERE id = 1
2024-05-01 10:00:00.002 UTC [7] LOG:  duration: 5.000 ms  statement: select * from orders where id = 7
2024-05-01 10:00:00.003 UTC [8] LOG:  duration: 1.000 ms  execute <unnamed>: SELECT * FROM items WHERE order_id = $1 AND sku = 'x'
2024-05-01 10:00:00.003 UTC [8] DETAIL:  parameters: $1 = '42'
2024-05-01 10:00:00.004 UTC [8] LOG:  duration: 0.500 ms  bind <unnamed>: SELECT * FROM items WHERE order_id = $1 AND sku = 'x'
2024-05-01 10:00:00.004 UTC [8] DETAIL:  parameters: $1 = '43'
2024-05-01 10:00:00.005 UTC [9] ERROR:  relation \"nope\" does not exist at character 15
2024-05-01 10:00:00.005 UTC [9] STATEMENT:  SELECT * FROM nope
";
        let capture = read_str(log).unwrap();
        assert_eq!(capture.format, LogFormat::Stderr);
        assert_eq!(capture.candidates.len(), 2);
        let orders = &capture.candidates[0];
        assert_eq!(orders.sql, "SELECT *\nFROM orders WHERE id = $1");
        assert_eq!(orders.stats.calls, 2);
        assert_eq!(orders.stats.total_ms, 7.0);
        assert_eq!(orders.params, Some(vec![ParamValue::Text("7".into())]));
        let items = &capture.candidates[1];
        assert_eq!(
            items.sql,
            "SELECT * FROM items WHERE order_id = $1 AND sku = $2"
        );
        assert_eq!(
            items.stats.calls, 1,
            "bind lines do not count when execute lines do"
        );
        assert_eq!(
            items.params,
            Some(vec![
                ParamValue::Text("42".into()),
                ParamValue::Text("x".into())
            ])
        );
    }

    #[test]
    fn text_plans_with_multi_line_query_text() {
        let log = "\
2024-05-01 10:00:00.001 UTC [7] LOG:  duration: 0.050 ms  plan:
\tQuery Text: SELECT *
\t  FROM orders
\t WHERE id = $1
\tIndex Scan using orders_pkey on orders  (cost=0.29..8.31 rows=1 width=40) (actual time=0.010..0.011 rows=1 loops=1)
\t  Index Cond: (id = 42)
";
        let capture = read_str(log).unwrap();
        let c = &capture.candidates[0];
        assert_eq!(c.sql, "SELECT *\n  FROM orders\n WHERE id = $1");
        assert_eq!(c.stats.calls, 1);
        let plan = c.plan.as_ref().unwrap();
        assert_eq!(plan.format, PlanFormat::Text);
        assert!(plan.text.starts_with("Index Scan using orders_pkey"));
        assert!(plan.text.ends_with("Index Cond: (id = 42)"));
        assert_eq!(c.params, None, "$1 has no known value");
    }

    #[test]
    fn planguard_sessions_are_skipped() {
        let line = |app: &str| {
            format!(
                "2024-05-01 10:00:00 UTC [1]: [1-1] user=u,db=d,app={app},client=x LOG:  duration: 1.000 ms  statement: SELECT * FROM t\n"
            )
        };
        assert!(read_str(&line("planguard")).unwrap().candidates.is_empty());
        // The control: the same line from another application is a query.
        let both = format!("{}{}", line("planguard"), line("psql"));
        let candidates = read_str(&both).unwrap().candidates;
        assert_eq!(candidates.len(), 1, "{candidates:?}");
    }

    #[test]
    fn detection() {
        assert_eq!(detect(b"{\"timestamp\":\"x\"}\n"), LogFormat::Json);
        assert_eq!(
            detect(b"2024-05-01 10:00:00.001 UTC,\"postgres\",\"db\",7,\"[local]\",663,1,\"SELECT\",2024-05-01 10:00:00 UTC,3/4,0,LOG,00000,\"duration: 1 ms\",,,,,,,,,\"psql\",\"client backend\",,0\n"),
            LogFormat::Csv
        );
        assert_eq!(
            detect(b"2024-05-01 10:00:00.001 UTC [7] LOG:  x\n"),
            LogFormat::Stderr
        );
        assert_eq!(detect(b""), LogFormat::Stderr);
        // A first record whose message spans lines.
        assert_eq!(
            detect(b"2024-05-01 10:00:00.001 UTC,\"u\",\"db\",7,\"[local]\",663,1,\"SELECT\",2024-05-01 10:00:00 UTC,3/4,0,LOG,00000,\"duration: 1 ms  plan:\n{\n"),
            LogFormat::Csv
        );
    }

    /// The same session logged in the three formats (fixtures/logs).
    #[test]
    fn fixture_logs_agree_across_formats() {
        let mut keys = Vec::new();
        for (name, text, format) in [
            (
                "stderr",
                include_str!("../../../fixtures/logs/pg15.log"),
                LogFormat::Stderr,
            ),
            (
                "csvlog",
                include_str!("../../../fixtures/logs/pg15.csv"),
                LogFormat::Csv,
            ),
            (
                "jsonlog",
                include_str!("../../../fixtures/logs/pg15.json"),
                LogFormat::Json,
            ),
        ] {
            let capture = read_str(text).unwrap();
            assert_eq!(capture.format, format, "{name}");
            assert_eq!(capture.skipped, 0, "{name}");
            let by_sql = |needle: &str| {
                capture
                    .candidates
                    .iter()
                    .find(|c| c.sql.contains(needle))
                    .unwrap_or_else(|| panic!("{name}: no {needle:?} in {:#?}", capture.candidates))
            };
            let select = by_sql("WHERE customer_id = $1 AND status = $2");
            assert_eq!(
                select.stats.calls, 2,
                "{name}: parse and bind lines are not calls"
            );
            assert_eq!(
                select.params,
                Some(vec![
                    ParamValue::Text("7".into()),
                    ParamValue::Text("it's open".into())
                ]),
                "{name}: the slowest execution's bound values"
            );
            let plan = select.plan.as_ref().unwrap();
            assert_eq!(plan.format, PlanFormat::Json, "{name}");
            assert!(
                plan.text.contains("\"Rows Removed by Filter\": 1000"),
                "{name}: the slowest plan"
            );

            let multi = by_sql("SELECT id,\n       status\n  FROM orders\n WHERE id = $1");
            assert_eq!(
                multi.params,
                Some(vec![ParamValue::Text("17".into())]),
                "{name}"
            );
            assert_eq!(
                multi.stats.calls, 1,
                "{name}: the plan does not count twice"
            );
            let plan = multi.plan.as_ref().unwrap();
            assert_eq!(plan.format, PlanFormat::Text, "{name}");
            assert_eq!(
                plan.text,
                "Index Scan using orders_pkey on orders  (cost=0.28..8.29 rows=1 width=10) (actual time=0.008..0.009 rows=1 loops=1)\n  Index Cond: (id = 17)",
                "{name}"
            );
            let count = by_sql("SELECT count(*) FROM orders WHERE status = $1");
            assert!(
                count
                    .plan
                    .as_ref()
                    .is_some_and(|p| p.text.starts_with("Aggregate")),
                "{name}"
            );

            let update = by_sql("UPDATE orders SET status = $1 WHERE id = $2");
            assert_eq!(
                update.params,
                Some(vec![
                    ParamValue::Text("closed".into()),
                    ParamValue::Text("9".into())
                ]),
                "{name}"
            );
            let mut all: Vec<String> = capture.candidates.iter().map(|c| c.key.clone()).collect();
            all.sort();
            keys.push(all);
        }
        assert_eq!(keys[0], keys[1]);
        assert_eq!(keys[0], keys[2]);
    }
}
