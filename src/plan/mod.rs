//! Stage `plans`: EXPLAIN output (JSON or text, PostgreSQL 13 to 18) in, one
//! typed [`Plan`] tree out, with derived figures filled in.
//!
//! Promises: parsing never panics on any input; a bad input is a
//! [`ParseError`] with a line and column; keys this model does not know are
//! kept in `extra`, never fatal.

pub mod compare;
mod derive;
mod json;
mod model;
pub mod shape;
mod text;

pub use derive::derive;
pub use json::{parse_json, to_json};
pub use model::*;
pub use text::parse_text;

/// Which EXPLAIN format an input was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Text => "text",
        })
    }
}

/// Why an input is not a plan, and where. `line` and `column` are 1-based
/// positions in the input as given (before any psql framing is removed).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ParseError {
    pub format: Format,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl ParseError {
    fn describe(&self) -> String {
        match (self.line, self.column) {
            (Some(line), Some(column)) => format!(
                "invalid {} plan at line {line}, column {column}: {}",
                self.format, self.message
            ),
            (Some(line), None) => {
                format!(
                    "invalid {} plan at line {line}: {}",
                    self.format, self.message
                )
            }
            _ => format!("invalid {} plan: {}", self.format, self.message),
        }
    }
}

/// Detects the format (JSON when the first non-blank character after any
/// psql header is `[` or `{`) and parses.
pub fn parse(input: &str) -> Result<Plan, ParseError> {
    match detect(input) {
        Format::Json => parse_json(input.as_bytes()),
        Format::Text => parse_text(input),
    }
}

/// Guesses the format of an EXPLAIN output.
pub fn detect(input: &str) -> Format {
    let first = input
        .lines()
        .map(str::trim)
        .find(|l| {
            !l.is_empty()
                && *l != "QUERY PLAN"
                && !l
                    .chars()
                    .all(|c| matches!(c, '-' | '+' | '=' | '─' | '┼' | '═'))
        })
        .unwrap_or("");
    if first.starts_with('[') || first.starts_with('{') {
        Format::Json
    } else {
        Format::Text
    }
}
