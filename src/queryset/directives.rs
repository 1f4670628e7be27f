//! The `-- planguard: key = value` comments that lead a query file.

use std::collections::BTreeMap;

use super::DirectiveError;
use super::lex::{self, Token};
use super::param::{self, Param, ParamMode};

/// The directives of one file, checked for type.
#[derive(Debug, Default)]
pub(crate) struct Directives {
    pub name: Option<String>,
    /// The values and the line of the `params` directive.
    pub params: Option<(Vec<Param>, usize)>,
    /// `params = "sample"` or `"generic"`.
    pub param_mode: Option<ParamMode>,
    pub tags: Vec<String>,
    pub allow_dml: bool,
    pub skip: Option<String>,
    pub thresholds: toml::Table,
}

/// A directive comment found in the header: its token and where its
/// `key = value` body starts.
pub(crate) struct Found {
    pub token: Token,
    body_start: usize,
}

/// The directive comments among the tokens before the first SQL token.
/// Comments after that are ordinary comments, whatever they say.
pub(crate) fn find(text: &str, tokens: &[Token]) -> Vec<Found> {
    tokens
        .iter()
        .take_while(|t| !t.is_significant())
        .filter(|t| t.kind == lex::Kind::LineComment)
        .filter_map(|t| {
            let comment = &text[t.start + 2..t.end];
            let rest = comment.trim_start().strip_prefix("planguard:")?;
            Some(Found {
                token: *t,
                body_start: t.end - rest.len(),
            })
        })
        .collect()
}

/// Parses and checks every directive; an error comes with its 1-based line.
pub(crate) fn parse(text: &str, found: &[Found]) -> Result<Directives, (usize, DirectiveError)> {
    let mut out = Directives::default();
    let mut first_lines: BTreeMap<String, usize> = BTreeMap::new();
    // Threshold leaves by dotted path, for duplicates across lines.
    let mut threshold_lines: BTreeMap<String, usize> = BTreeMap::new();
    for directive in found {
        let (line, _) = lex::line_col(text, directive.token.start);
        let body = text[directive.body_start..directive.token.end].trim_end();
        let fail = |error| (line, error);
        let parsed = parse_body(body).map_err(|e| match e {
            BodyError::Empty => fail(DirectiveError::Empty),
            BodyError::Toml { offset, message } => {
                let (_, column) = lex::line_col(text, directive.body_start + offset);
                fail(DirectiveError::BadValue { column, message })
            }
        })?;
        let (key, value) = match parsed {
            Parsed::Toml(key, value) => (key, Some(value)),
            Parsed::JsonParams(json) => {
                let params = json_params(&json).map_err(fail)?;
                out.params = Some((params, line));
                ("params".to_owned(), None)
            }
        };
        // Only known keys are recorded, so an unknown one is reported as
        // unknown below, never as a duplicate.
        if let Some(&first_line) = first_lines.get(&key) {
            if key != "thresholds" {
                return Err(fail(DirectiveError::Duplicate { key, first_line }));
            }
        }
        if let Some(value) = value {
            apply(&mut out, &key, value, line, &mut threshold_lines).map_err(fail)?;
        }
        first_lines.entry(key).or_insert(line);
    }
    Ok(out)
}

/// Checks one `key = value` and stores it.
fn apply(
    out: &mut Directives,
    key: &str,
    value: toml::Value,
    line: usize,
    threshold_lines: &mut BTreeMap<String, usize>,
) -> Result<(), DirectiveError> {
    match key {
        "params" => match value {
            toml::Value::String(mode) => {
                out.param_mode = Some(ParamMode::parse(&mode).ok_or_else(|| {
                    wrong(
                        key,
                        "\"sample\", \"generic\" or an array of values",
                        format!("{mode:?}"),
                    )
                })?);
            }
            value => out.params = Some((toml_params(&value)?, line)),
        },
        "name" => out.name = Some(string(key, value, "a string")?),
        "skip" => out.skip = Some(string(key, value, "a string (the reason)")?),
        "allow_dml" => match value {
            toml::Value::Boolean(b) => out.allow_dml = b,
            other => return Err(wrong(key, "true or false", describe(&other))),
        },
        "tags" => out.tags = tags(key, value)?,
        "thresholds" => {
            let toml::Value::Table(table) = value else {
                return Err(wrong(
                    key,
                    "a table (`thresholds.cost_ratio = 2.0` or `thresholds = { cost_ratio = 2.0 }`)",
                    describe(&value),
                ));
            };
            merge(&mut out.thresholds, table, key, line, threshold_lines)
                .map_err(|(key, first_line)| DirectiveError::Duplicate { key, first_line })?;
        }
        _ => {
            return Err(DirectiveError::Unknown {
                key: key.to_owned(),
            });
        }
    }
    Ok(())
}

enum Parsed {
    Toml(String, toml::Value),
    /// `params` given as a JSON array, the only way to write null.
    JsonParams(serde_json::Value),
}

enum BodyError {
    Empty,
    /// `offset` is a byte offset into the body.
    Toml {
        offset: usize,
        message: String,
    },
}

/// `key = value` in TOML syntax; a trailing `-- comment` is allowed (TOML
/// would read `#`), and `params` may also be a JSON array.
fn parse_body(body: &str) -> Result<Parsed, BodyError> {
    let table = match toml_prefix(body) {
        Ok(table) => table,
        Err(error) => {
            if let Some(json) = json_params_body(body) {
                return Ok(Parsed::JsonParams(json));
            }
            let offset = error.span().map_or(0, |span| span.start);
            // toml's messages may span lines; one line reads better here.
            let message = error
                .message()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(BodyError::Toml { offset, message });
        }
    };
    // One TOML line defines exactly one key (or none).
    match table.into_iter().next() {
        Some((key, value)) => Ok(Parsed::Toml(key, value)),
        None => Err(BodyError::Empty),
    }
}

/// The whole body as TOML, or else the longest-standing prefix before a
/// `--` (leftmost first, so `"a -- b"` inside a string survives).
fn toml_prefix(body: &str) -> Result<toml::Table, toml::de::Error> {
    let full = toml::from_str::<toml::Table>(body);
    if full.is_ok() {
        return full;
    }
    body.match_indices("--")
        .filter_map(|(at, _)| toml::from_str::<toml::Table>(&body[..at]).ok())
        .find(|table| !table.is_empty())
        .map_or(full, Ok)
}

fn json_params_body(body: &str) -> Option<serde_json::Value> {
    let (key, value) = body.split_once('=')?;
    if key.trim() != "params" {
        return None;
    }
    std::iter::once(value.len())
        .chain(value.match_indices("--").map(|(at, _)| at))
        .find_map(|end| serde_json::from_str(&value[..end]).ok())
}

const PARAMS_EXPECTED: &str =
    "an array of integers, floats, strings, booleans, dates, null or arrays of those";

fn toml_params(value: &toml::Value) -> Result<Vec<Param>, DirectiveError> {
    let toml::Value::Array(items) = value else {
        return Err(wrong("params", PARAMS_EXPECTED, describe(value)));
    };
    items
        .iter()
        .map(|item| {
            param::from_toml(item)
                .map_err(|found| wrong("params", PARAMS_EXPECTED, format!("{found} in it")))
        })
        .collect()
}

fn json_params(value: &serde_json::Value) -> Result<Vec<Param>, DirectiveError> {
    let serde_json::Value::Array(items) = value else {
        let found = match param::from_json(value) {
            Ok(p) => p.describe(),
            Err(found) => found,
        };
        return Err(wrong("params", PARAMS_EXPECTED, found.into()));
    };
    items
        .iter()
        .map(|item| {
            param::from_json(item)
                .map_err(|found| wrong("params", PARAMS_EXPECTED, format!("{found} in it")))
        })
        .collect()
}

fn string(key: &str, value: toml::Value, expected: &'static str) -> Result<String, DirectiveError> {
    match value {
        toml::Value::String(s) => Ok(s),
        other => Err(wrong(key, expected, describe(&other))),
    }
}

fn tags(key: &str, value: toml::Value) -> Result<Vec<String>, DirectiveError> {
    let toml::Value::Array(items) = value else {
        return Err(wrong(key, "an array of strings", describe(&value)));
    };
    items
        .into_iter()
        .map(|item| match item {
            toml::Value::String(s) => Ok(s),
            other => Err(wrong(
                key,
                "an array of strings",
                format!("{} in it", describe(&other)),
            )),
        })
        .collect()
}

/// Adds one line's thresholds to the ones before, refusing a value given
/// twice. `Err` is the dotted path and the line that first gave it.
fn merge(
    into: &mut toml::Table,
    from: toml::Table,
    prefix: &str,
    line: usize,
    lines: &mut BTreeMap<String, usize>,
) -> Result<(), (String, usize)> {
    for (key, value) in from {
        let path = format!("{prefix}.{key}");
        match (into.get_mut(&key), value) {
            (None, value) => {
                record(&path, &value, line, lines);
                into.insert(key, value);
            }
            (Some(toml::Value::Table(existing)), toml::Value::Table(more)) => {
                merge(existing, more, &path, line, lines)?;
            }
            (Some(_), _) => {
                let first = lines
                    .iter()
                    .find(|(p, _)| {
                        **p == path
                            || p.starts_with(&format!("{path}."))
                            || path.starts_with(&format!("{p}."))
                    })
                    .map_or(line, |(_, l)| *l);
                return Err((path, first));
            }
        }
    }
    Ok(())
}

fn record(path: &str, value: &toml::Value, line: usize, lines: &mut BTreeMap<String, usize>) {
    match value {
        toml::Value::Table(table) if !table.is_empty() => {
            for (key, value) in table {
                record(&format!("{path}.{key}"), value, line, lines);
            }
        }
        _ => {
            lines.insert(path.to_owned(), line);
        }
    }
}

fn wrong(key: &str, expected: &'static str, found: String) -> DirectiveError {
    DirectiveError::WrongType {
        key: key.to_owned(),
        expected,
        found,
    }
}

fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directives(text: &str) -> Result<Directives, (usize, String)> {
        let (tokens, _) = lex::lex(text, lex::Strings::Standard);
        parse(text, &find(text, &tokens)).map_err(|(line, e)| (line, e.to_string()))
    }

    fn error(text: &str) -> (usize, String) {
        directives(text).map(|_| ()).unwrap_err()
    }

    #[test]
    fn every_key() {
        let d = directives(
            "-- a plain comment\n\
             -- planguard: name = \"orders -- by customer\"\n\
             --planguard: params = [42, \"2024-01-01\", 2024-01-01, 2.5, true, [1, 2]]   -- values for $1..$6\n\
             -- planguard: tags = [\"checkout\", \"hot\"] # TOML comment\n\
             -- planguard: allow_dml = true\n\
             -- planguard: skip = \"flaky on CI\"\n\
             -- planguard: thresholds.cost_ratio = 2.0\n\
             -- planguard: thresholds = { time_ratio = 3, rules = { seq-scan = 1 } }\n\
             -- planguard: thresholds.rules.index-lost = 2\n\
             SELECT 1\n\
             -- planguard: tagz = 1\n",
        )
        .unwrap();
        assert_eq!(d.name.as_deref(), Some("orders -- by customer"));
        let (params, line) = d.params.unwrap();
        assert_eq!(line, 3);
        assert_eq!(
            params,
            vec![
                Param::Int(42),
                Param::Text("2024-01-01".into()),
                Param::Text("2024-01-01".into()),
                Param::Float(2.5),
                Param::Bool(true),
                Param::Array(vec![Param::Int(1), Param::Int(2)]),
            ]
        );
        assert_eq!(d.tags, ["checkout", "hot"]);
        assert!(d.allow_dml);
        assert_eq!(d.skip.as_deref(), Some("flaky on CI"));
        let expected: toml::Table = toml::from_str(
            "cost_ratio = 2.0\ntime_ratio = 3\nrules = { seq-scan = 1, index-lost = 2 }",
        )
        .unwrap();
        assert_eq!(d.thresholds, expected);
    }

    #[test]
    fn json_params_can_hold_null() {
        let d = directives("-- planguard: params = [null, 1, \"a\", [null]] -- JSON\nSELECT $1")
            .unwrap();
        assert_eq!(
            d.params.unwrap().0,
            vec![
                Param::Null,
                Param::Int(1),
                Param::Text("a".into()),
                Param::Array(vec![Param::Null])
            ]
        );
    }

    #[test]
    fn params_may_name_a_mode() {
        let d = directives("-- planguard: params = \"sample\"\nSELECT $1").unwrap();
        assert_eq!(d.param_mode, Some(ParamMode::Sample));
        assert!(d.params.is_none());
        let d = directives("-- planguard: params = \"generic\"\nSELECT $1").unwrap();
        assert_eq!(d.param_mode, Some(ParamMode::Generic));
        assert_eq!(
            error("-- planguard: params = \"sampled\""),
            (
                1,
                r#"directive "params" must be "sample", "generic" or an array of values, found "sampled""#
                    .to_owned()
            )
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "-- planguard: tagz = [\"x\"]",
                1,
                r#"unknown directive "tagz" (known: name, params, tags, allow_dml, skip, thresholds)"#,
            ),
            (
                "-- x\n-- planguard: tags = \"x\"",
                2,
                r#"directive "tags" must be an array of strings, found a string"#,
            ),
            (
                "-- planguard: tags = [\"x\", 1]",
                1,
                r#"directive "tags" must be an array of strings, found an integer in it"#,
            ),
            (
                "-- planguard: name = 1",
                1,
                r#"directive "name" must be a string, found an integer"#,
            ),
            (
                "-- planguard: skip = true",
                1,
                r#"directive "skip" must be a string (the reason), found a boolean"#,
            ),
            (
                "-- planguard: allow_dml = \"yes\"",
                1,
                r#"directive "allow_dml" must be true or false, found a string"#,
            ),
            (
                "-- planguard: thresholds = 2",
                1,
                r#"directive "thresholds" must be a table (`thresholds.cost_ratio = 2.0` or `thresholds = { cost_ratio = 2.0 }`), found an integer"#,
            ),
            (
                "-- planguard: params = 42",
                1,
                r#"directive "params" must be an array of integers, floats, strings, booleans, dates, null or arrays of those, found an integer"#,
            ),
            (
                "-- planguard: params = [{ a = 1 }]",
                1,
                r#"directive "params" must be an array of integers, floats, strings, booleans, dates, null or arrays of those, found a table in it"#,
            ),
            (
                "-- planguard: params = [{\"a\": null}]",
                1,
                r#"directive "params" must be an array of integers, floats, strings, booleans, dates, null or arrays of those, found an object in it"#,
            ),
            (
                "-- planguard: tags = []\n\n-- planguard: tags = [\"b\"]",
                3,
                r#"directive "tags" is given twice (first on line 1)"#,
            ),
            (
                "-- planguard: thresholds.cost_ratio = 2\n-- planguard: thresholds = { cost_ratio = 3 }",
                2,
                r#"directive "thresholds.cost_ratio" is given twice (first on line 1)"#,
            ),
            (
                "-- planguard:",
                1,
                "empty directive: expected `key = value` after `planguard:`",
            ),
            (
                "-- planguard:   # nothing",
                1,
                "empty directive: expected `key = value` after `planguard:`",
            ),
        ];
        for (text, line, message) in cases {
            assert_eq!(error(text), (line, message.to_owned()), "{text}");
        }
    }

    #[test]
    fn bad_toml_says_where() {
        let cases = [
            (
                "-- planguard: name = orders",
                "invalid TOML value at column 22: invalid string; expected `\"`, `'`",
            ),
            (
                "-- planguard: tags = [\"a\",",
                "invalid TOML value at column 27: invalid array; expected `]`",
            ),
            (
                "-- planguard: params = [1, 2 -- $1, $2",
                "invalid TOML value at column 30: invalid array; expected `]`",
            ),
            (
                "-- planguard: = 1",
                "invalid TOML value at column 15: invalid key",
            ),
            (
                "-- planguard: name",
                "invalid TOML value at column 19: expected `.`, `=`",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(error(text), (1, message.to_owned()), "{text}");
        }
    }

    #[test]
    fn only_leading_comments_are_directives() {
        let d = directives("/* block */ -- planguard: tags = [\"a\"]\nSELECT 1 -- planguard: tags = 1\n-- planguard: bogus = 1").unwrap();
        assert_eq!(d.tags, ["a"]);
        let d = directives("-- Planguard: tags = 1\n-- planguard tags = 1\nSELECT 1").unwrap();
        assert!(d.tags.is_empty());
    }
}
