//! Text EXPLAIN output (as psql, logs and auto_explain print it) to the typed tree.

use super::{Format, ParseError, Plan};

/// Parses text-format EXPLAIN output.
pub fn parse_text(_input: &str) -> Result<Plan, ParseError> {
    Err(ParseError {
        format: Format::Text,
        line: None,
        column: None,
        message: "the text parser is not built yet".into(),
    })
}
