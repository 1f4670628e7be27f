//! Stage `plans`: EXPLAIN output (JSON or text, PostgreSQL 13 to 18) in, one
//! typed [`Plan`] tree out, with derived figures filled in.
//!
//! Promises: parsing never panics on any input; a bad input is a
//! [`ParseError`] with a line and column; keys this model does not know are
//! kept in `extra`, never fatal.

pub mod compare;
mod derive;
mod frame;
mod json;
mod model;
pub mod shape;
mod text;

pub use derive::derive;
pub use json::{parse_json, parse_json_value, to_json};
pub use model::*;
pub use text::parse_text;

/// Which EXPLAIN format an input was in. Only JSON and text are parsed;
/// XML and YAML are recognised so that they get a clear error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `EXPLAIN (FORMAT JSON)`.
    Json,
    /// `EXPLAIN` (the default text format).
    Text,
    /// `EXPLAIN (FORMAT XML)`: recognised, not parsed.
    Xml,
    /// `EXPLAIN (FORMAT YAML)`: recognised, not parsed.
    Yaml,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Text => "text",
            Format::Xml => "XML",
            Format::Yaml => "YAML",
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

/// Removes any psql, GUI or log framing, detects the format and parses:
/// JSON with [`parse_json`], text with [`parse_text`]. XML and YAML output
/// is refused with a clear error.
pub fn parse(input: &str) -> Result<Plan, ParseError> {
    let unframed = frame::unframe(input);
    let first = unframed.first_content();
    match detect_first(first.map(|l| l.text.trim())) {
        Format::Json => {
            // Clean JSON (the common case) parses as given, and its errors
            // keep their exact line and column.
            let raw = parse_json(input.as_bytes());
            if raw.is_ok() {
                return raw;
            }
            // Only now a copy without the framing (a 100 MB plan would
            // otherwise be held twice for nothing).
            let (text, lines) = unframed.to_text();
            if text.trim_end() == input.trim_end() {
                return raw;
            }
            parse_json(text.as_bytes()).map_err(|mut e| {
                // Point into the input as given, not into the unframed text.
                if let Some(&(line, start)) = e.line.and_then(|l| lines.get(l.saturating_sub(1))) {
                    e.line = Some(line);
                    e.column = e.column.map(|c| c + start - 1);
                }
                e
            })
        }
        Format::Text => text::parse_unframed(&unframed),
        format @ (Format::Xml | Format::Yaml) => Err(ParseError {
            format,
            line: first.map(|l| l.number),
            column: None,
            message: format!("{format} EXPLAIN output is not supported; use FORMAT JSON or TEXT"),
        }),
    }
}

/// Guesses the format of an EXPLAIN output from its first line of content
/// after any psql, GUI or log framing: `[`/`{` is JSON, `<` XML, `- Plan:`
/// YAML, anything else text.
pub fn detect(input: &str) -> Format {
    let unframed = frame::unframe(input);
    detect_first(unframed.first_content().map(|l| l.text.trim()))
}

fn detect_first(first: Option<&str>) -> Format {
    let first = first.unwrap_or("");
    let array = first.strip_prefix('[').map(str::trim_start);
    if first.starts_with('{')
        || array.is_some_and(|r| r.is_empty() || r.starts_with('{') || r.starts_with(']'))
    {
        Format::Json
    } else if first.starts_with('<') {
        Format::Xml
    } else if first.starts_with("- Plan:") || first == "-" || first.starts_with("Plan:") {
        Format::Yaml
    } else {
        Format::Text
    }
}
