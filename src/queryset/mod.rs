//! Stage `query set`: the `.sql` files planguard runs, with their
//! directives, their parameters and the kind of statement each holds.
//!
//! Promises: [`load`] reads files and nothing else (no database); queries
//! come sorted by id, so every run and every report lists them in the same
//! order; a malformed directive is a [`QuerySetError`] naming the file and
//! the 1-based line; every query carries its [`Statement`] classification,
//! made before anything is sent to a server.
//!
//! # Layout
//!
//! A directory of `.sql` files, read recursively: the id of
//! `reports/top_customers.sql` is `reports/top_customers` (always with `/`).
//! Hidden files and directories (a name starting with `.`) and files not
//! ending in `.sql` are ignored. Symbolic links are followed when their
//! target lies inside the directory; a link that leads outside it is an
//! error, so a query set never reads files it does not contain. A query
//! reached through a link gets the link's id (so it may appear under two
//! ids); a link back to a directory above it is skipped, so links cannot
//! loop. A single `.sql` file is a query set of one query, whose id is the
//! file stem.
//!
//! # Directives
//!
//! Comment lines before the first SQL token, in TOML syntax:
//!
//! ```sql
//! -- planguard: name = "orders for one customer"
//! -- planguard: params = [42, "2024-01-01"]      -- values for $1, $2
//!                                               -- (or "sample", "generic")
//! -- planguard: tags = ["checkout", "hot"]
//! -- planguard: allow_dml = true
//! -- planguard: skip = "reason"
//! -- planguard: thresholds.cost_ratio = 2.0
//! SELECT * FROM orders WHERE customer_id = $1 AND created_at > $2;
//! ```
//!
//! A trailing `-- comment` after the value is allowed. TOML has no null, so
//! `params` may also be a JSON array: `params = [42, null]`. `thresholds`
//! may be given as dotted keys over several lines or as one inline table;
//! its keys are checked by the rules, not here. Other comments, and
//! `planguard:` comments after the SQL has started, are ordinary comments.

mod classify;
mod directives;
pub(crate) mod lex;
mod param;
pub mod placeholders;
mod walk;

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSetBuilder};

pub use classify::{DmlKind, Guess, Statement, Unparsable, classify};
pub(crate) use classify::{parse as parse_sql, parse_expr};
pub use param::{Param, ParamMode, ParamValues};

/// The directive keys, in the order messages list them.
pub const KNOWN_DIRECTIVES: &[&str] =
    &["name", "params", "tags", "allow_dml", "skip", "thresholds"];

/// One query file.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The path relative to the query directory, without `.sql`, with `/`
    /// between folders: `reports/top_customers`.
    pub id: String,
    /// The file, as reached from the path given to [`load`].
    pub path: PathBuf,
    /// The statement as it is sent: directive lines removed, trimmed, with
    /// no trailing semicolon (nor comments after the last token). Other
    /// comments stay.
    pub sql: String,
    /// `name`: a readable title for reports.
    pub name: Option<String>,
    /// `params`: values for `$1`, `$2`, …; empty when not given, else
    /// exactly [`Query::param_count`] values.
    pub params: Vec<Param>,
    /// `params = "sample"` or `"generic"`: how values are found when none
    /// are given (None: the `--params` flag, else `auto`).
    pub param_mode: Option<ParamMode>,
    /// `tags`, for `--tag`.
    pub tags: Vec<String>,
    /// `allow_dml`: this query may modify data (still rolled back).
    pub allow_dml: bool,
    /// `skip`: the reason not to run this query.
    pub skip: Option<String>,
    /// `thresholds`: per-query overrides of `[thresholds]`, unchecked.
    pub thresholds: toml::Table,
    /// What the statement is, and so whether it may run.
    pub statement: Statement,
    /// The highest `$n` in the statement (0 without placeholders).
    pub param_count: usize,
    /// How often the query ran, from the `-- captured: ..., calls = N`
    /// line `planguard capture` writes (the index advisor weighs its
    /// savings by it).
    pub calls: Option<u64>,
}

impl Query {
    /// Parses the text of one query file. `path` is only used in messages
    /// and kept in [`Query::path`]; nothing is read from disk.
    pub fn parse(id: &str, path: &Path, text: &str) -> Result<Query, QuerySetError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let (tokens, lex_error) = lex::lex(text, lex::Strings::Standard);
        let found = directives::find(text, &tokens);
        let directive = |(line, problem)| QuerySetError::Directive {
            path: path.to_owned(),
            line,
            problem,
        };
        let parsed = directives::parse(text, &found).map_err(directive)?;
        let last = tokens
            .iter()
            .rfind(|t| t.is_significant() && t.kind != lex::Kind::Semicolon);
        if last.is_none() && lex_error.is_none() {
            return Err(QuerySetError::NoStatement {
                path: path.to_owned(),
            });
        }
        let param_count = lex::highest_param(&tokens) as usize;
        if let Some((params, line)) = &parsed.params {
            if params.len() != param_count {
                return Err(directive((
                    *line,
                    DirectiveError::ParamCount {
                        given: params.len(),
                        used: param_count,
                    },
                )));
            }
        }
        // After an unterminated string or comment, keep everything: the
        // statement is unparsed anyway and the server will say the same.
        let end = match (lex_error, last) {
            (None, Some(last)) => last.end,
            _ => text.len(),
        };
        Ok(Query {
            id: id.to_owned(),
            path: path.to_owned(),
            sql: without_directives(text, end, &found),
            name: parsed.name,
            params: parsed.params.map(|(params, _)| params).unwrap_or_default(),
            param_mode: parsed.param_mode,
            tags: parsed.tags,
            allow_dml: parsed.allow_dml,
            skip: parsed.skip,
            thresholds: parsed.thresholds,
            // Classify the whole text so sqlparser's line numbers are the
            // file's; directives are comments, so the verdict is the same.
            statement: classify(text),
            param_count,
            calls: captured_calls(text, &tokens),
        })
    }

    /// The name for people: `name`, or else the id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// Why the runner must not run this query, or `None` when it may:
    /// [`Statement::refusal`] with this query's `allow_dml` directive added
    /// to the `--allow-dml` flag.
    pub fn refusal(&self, allow_dml: bool, analyze: bool) -> Option<String> {
        self.statement.refusal(allow_dml || self.allow_dml, analyze)
    }
}

/// The comment line `planguard capture` owns in each query file (where
/// the statement came from, its calls and times); the query set reads its
/// `calls`.
pub const STATS_PREFIX: &str = "-- captured:";

/// `calls = N` from a `-- captured:` comment before the statement.
fn captured_calls(text: &str, tokens: &[lex::Token]) -> Option<u64> {
    tokens
        .iter()
        .take_while(|t| !t.is_significant())
        .filter(|t| t.kind == lex::Kind::LineComment)
        .filter_map(|t| text[t.start..t.end].strip_prefix(STATS_PREFIX))
        .flat_map(|line| line.split(','))
        .find_map(|part| part.trim().strip_prefix("calls = ")?.trim().parse().ok())
}

/// `text[..end]` without the directive comments; a directive alone on its
/// line takes the line with it.
fn without_directives(text: &str, end: usize, found: &[directives::Found]) -> String {
    let mut sql = String::with_capacity(end);
    let mut at = 0;
    for directive in found {
        let token = directive.token;
        let line_start = text[..token.start].rfind('\n').map_or(0, |n| n + 1);
        let alone = text[line_start..token.start].trim().is_empty();
        let (cut_start, cut_end) = if alone {
            let next_line = text[token.end..]
                .find('\n')
                .map_or(text.len(), |n| token.end + n + 1);
            (line_start.max(at), next_line)
        } else {
            (token.start, token.end)
        };
        sql.push_str(&text[at..cut_start]);
        at = cut_end;
    }
    if at < end {
        sql.push_str(&text[at..end]);
    }
    sql.trim().to_owned()
}

/// The queries of a directory (or of one file), sorted by id.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySet {
    root: PathBuf,
    queries: Vec<Query>,
}

impl QuerySet {
    /// A set from queries made elsewhere (`explain --sql`, tests); they are
    /// sorted by id.
    pub fn from_queries(root: impl Into<PathBuf>, mut queries: Vec<Query>) -> QuerySet {
        queries.sort_by(|a, b| a.id.cmp(&b.id));
        QuerySet {
            root: root.into(),
            queries,
        }
    }

    /// The path the set was loaded from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every query, sorted by id.
    pub fn queries(&self) -> &[Query] {
        &self.queries
    }

    /// The query with this id.
    pub fn get(&self, id: &str) -> Option<&Query> {
        self.queries
            .binary_search_by(|q| q.id.as_str().cmp(id))
            .ok()
            .map(|n| &self.queries[n])
    }

    /// How many queries there are.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether there are none (never true for a set from [`load`]).
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// The queries chosen by `--query GLOB` and `--tag TAG`: a query is
    /// chosen when its id matches any of the globs (all ids when there is
    /// none) and it has any of the tags (all queries when there is none).
    /// In a glob, `*` stays within one folder and `**` crosses folders:
    /// `reports/*` matches `reports/top` but not `reports/2024/top`.
    pub fn select(&self, globs: &[String], tags: &[String]) -> Result<Vec<&Query>, QuerySetError> {
        let mut builder = GlobSetBuilder::new();
        for glob in globs {
            let glob = GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map_err(|e| QuerySetError::BadGlob {
                    glob: glob.clone(),
                    message: e.kind().to_string(),
                })?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| QuerySetError::BadGlob {
            glob: globs.join(" "),
            message: e.kind().to_string(),
        })?;
        Ok(self
            .queries
            .iter()
            .filter(|q| globs.is_empty() || set.is_match(&q.id))
            .filter(|q| tags.is_empty() || q.tags.iter().any(|t| tags.contains(t)))
            .collect())
    }
}

/// Loads a query set: a directory of `.sql` files (recursively) or one
/// `.sql` file.
pub fn load(path: &Path) -> Result<QuerySet, QuerySetError> {
    let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => QuerySetError::NotFound {
            path: path.to_owned(),
        },
        _ => QuerySetError::Read {
            path: path.to_owned(),
            source,
        },
    })?;
    let files = if meta.is_dir() {
        let files = walk::sql_files(path)?;
        if files.is_empty() {
            return Err(QuerySetError::Empty {
                path: path.to_owned(),
            });
        }
        files
    } else {
        let stem = match (path.extension(), path.file_stem()) {
            (Some(ext), Some(stem)) if ext == "sql" => stem,
            _ => {
                return Err(QuerySetError::NotSql {
                    path: path.to_owned(),
                });
            }
        };
        let id = stem.to_str().ok_or_else(|| QuerySetError::NotUtf8 {
            path: path.to_owned(),
        })?;
        vec![(id.to_owned(), path.to_owned())]
    };
    let queries = files
        .into_iter()
        .map(|(id, file)| read_query(&id, &file))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(QuerySet::from_queries(path, queries))
}

fn read_query(id: &str, path: &Path) -> Result<Query, QuerySetError> {
    let bytes = std::fs::read(path).map_err(|source| QuerySetError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| QuerySetError::NotUtf8 {
        path: path.to_owned(),
    })?;
    Query::parse(id, path, &text)
}

/// Why a query set could not be loaded or selected from. Every variant
/// names the path (or the glob) at fault.
#[derive(Debug, thiserror::Error)]
pub enum QuerySetError {
    #[error("{path}: no such file or directory")]
    NotFound { path: PathBuf },
    #[error("{path}: cannot read it")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the directory holds no .sql files")]
    Empty { path: PathBuf },
    #[error("{path}: not a directory or a .sql file")]
    NotSql { path: PathBuf },
    #[error("{path}: not valid UTF-8")]
    NotUtf8 { path: PathBuf },
    #[error(
        "{path}: symbolic link to {target} leaves the query directory; planguard reads only files inside it"
    )]
    LinkOutside { path: PathBuf, target: PathBuf },
    #[error("{path}: there is no SQL statement in the file")]
    NoStatement { path: PathBuf },
    #[error("{path}:{line}: {problem}")]
    Directive {
        path: PathBuf,
        /// 1-based.
        line: usize,
        problem: DirectiveError,
    },
    #[error("invalid query glob {glob:?}: {message}")]
    BadGlob { glob: String, message: String },
}

/// What is wrong with one directive line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveError {
    #[error("unknown directive {key:?} (known: name, params, tags, allow_dml, skip, thresholds)")]
    Unknown { key: String },
    #[error("directive {key:?} is given twice (first on line {first_line})")]
    Duplicate { key: String, first_line: usize },
    #[error("invalid TOML value at column {column}: {message}")]
    BadValue { column: usize, message: String },
    #[error("directive {key:?} must be {expected}, found {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: String,
    },
    #[error("empty directive: expected `key = value` after `planguard:`")]
    Empty,
    #[error("{}", param_count_message(*given, *used))]
    ParamCount { given: usize, used: usize },
}

fn param_count_message(given: usize, used: usize) -> String {
    let values = if given == 1 { "value" } else { "values" };
    match used {
        0 => format!("params has {given} {values} but the statement has no $n placeholder"),
        1 => format!("params has {given} {values} but the statement uses $1"),
        n => format!("params has {given} {values} but the statement uses $1 to ${n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_directive_lists_the_known_ones() {
        let message = DirectiveError::Unknown { key: "x".into() }.to_string();
        let known = format!("(known: {})", KNOWN_DIRECTIVES.join(", "));
        assert!(message.ends_with(&known), "{message}");
    }

    #[test]
    fn sql_keeps_comments_but_not_directives() {
        let q = Query::parse(
            "q",
            Path::new("q.sql"),
            "-- title\n  -- planguard: tags = [\"a\"]\n/* x */ -- planguard: name = \"n\"\nSELECT 1 ;; -- end\n",
        )
        .unwrap();
        assert_eq!(q.sql, "-- title\n/* x */ \nSELECT 1");
        assert_eq!(
            (q.tags.as_slice(), q.name.as_deref()),
            (&["a".to_owned()][..], Some("n"))
        );
    }

    #[test]
    fn calls_come_from_the_captured_line() {
        let parse = |text: &str| Query::parse("q", Path::new("q.sql"), text).unwrap().calls;
        assert_eq!(
            parse(
                "-- captured: pg_stat_statements, calls = 1234, mean = 1.50 ms, total = 3.00 ms\nSELECT 1"
            ),
            Some(1234)
        );
        assert_eq!(parse("-- calls = 5\nSELECT 1"), None);
        assert_eq!(parse("SELECT 1 -- captured: x, calls = 5"), None);
    }
}
