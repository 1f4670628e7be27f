//! Parameter values for `$1`, `$2`, … from the `params` directive, and their
//! PostgreSQL text input form.

use serde::{Deserialize, Serialize};

/// How a parameterized query without values gets them (`params =
/// "sample"`, `params = "generic"`, or the `--params` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamMode {
    /// Sample when every parameter can be sampled, else the generic plan
    /// on PostgreSQL 16+, else skip with the reason.
    #[default]
    Auto,
    /// Representative values from `pg_stats` (falling back like `Auto`
    /// when a parameter cannot be sampled).
    Sample,
    /// `EXPLAIN (GENERIC_PLAN)`: no values, no ANALYZE (PostgreSQL 16+).
    Generic,
}

impl ParamMode {
    /// `auto`, `sample` or `generic`.
    pub fn parse(text: &str) -> Option<ParamMode> {
        match text {
            "auto" => Some(ParamMode::Auto),
            "sample" => Some(ParamMode::Sample),
            "generic" => Some(ParamMode::Generic),
            _ => None,
        }
    }

    /// The name as the directive and the flag spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamMode::Auto => "auto",
            ParamMode::Sample => "sample",
            ParamMode::Generic => "generic",
        }
    }
}

/// The values a run bound to `$1..$n`, and where each came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamValues {
    /// `given` (the `params` directive), `sampled` (from `pg_stats` now),
    /// `baseline` (the values the baseline recorded, reused so that runs
    /// compare like with like) or `generic` (no values: the generic plan).
    pub source: String,
    /// In PostgreSQL's text input form; None is NULL.
    pub values: Vec<Option<String>>,
    /// The type the server gave each parameter (empty when not asked).
    #[serde(default)]
    pub types: Vec<String>,
    /// Where each value came from, one line per parameter.
    #[serde(default)]
    pub origins: Vec<String>,
    /// Why values were not sampled, for a generic plan or a skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ParamValues {
    /// Values given by the `params` directive.
    pub fn given(values: Vec<Option<String>>) -> ParamValues {
        let origins = vec!["given by the params directive".to_owned(); values.len()];
        ParamValues {
            source: "given".to_owned(),
            values,
            types: Vec::new(),
            origins,
            note: None,
        }
    }
}

/// One value for a `$n` placeholder, as the `params` directive gave it.
///
/// TOML has no null, so `params` also accepts a JSON array, which can hold
/// `null`. TOML dates and times are kept as their text (`2024-01-01`),
/// which is also PostgreSQL's input form for them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Param {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// For `= ANY($1)` and other array parameters; may nest.
    Array(Vec<Param>),
}

impl Param {
    /// PostgreSQL's text input form of the value, as sent for an untyped
    /// parameter: `true`, `42`, `2.5`, `2024-01-01`, `{1,2,3}`; `None` for
    /// null.
    pub fn as_text(&self) -> Option<String> {
        Some(match self {
            Param::Null => return None,
            Param::Bool(b) => b.to_string(),
            Param::Int(n) => n.to_string(),
            Param::Float(f) => float_text(*f),
            Param::Text(s) => s.clone(),
            Param::Array(items) => {
                let mut out = String::new();
                write_array(items, &mut out);
                out
            }
        })
    }

    /// The value as JSON (how reports show it).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Param::Null => serde_json::Value::Null,
            Param::Bool(b) => serde_json::Value::Bool(*b),
            Param::Int(n) => serde_json::Value::from(*n),
            // JSON has no NaN or infinity: those become their text.
            Param::Float(f) => serde_json::Number::from_f64(*f)
                .map_or_else(|| serde_json::Value::String(float_text(*f)), Into::into),
            Param::Text(s) => serde_json::Value::String(s.clone()),
            Param::Array(items) => items.iter().map(Param::to_json).collect(),
        }
    }

    /// What kind of value this is, for messages ("an integer").
    pub fn describe(&self) -> &'static str {
        match self {
            Param::Null => "null",
            Param::Bool(_) => "a boolean",
            Param::Int(_) => "an integer",
            Param::Float(_) => "a float",
            Param::Text(_) => "a string",
            Param::Array(_) => "an array",
        }
    }
}

/// Converts one TOML value; `Err` names what is not allowed.
pub(crate) fn from_toml(value: &toml::Value) -> Result<Param, &'static str> {
    Ok(match value {
        toml::Value::String(s) => Param::Text(s.clone()),
        toml::Value::Integer(n) => Param::Int(*n),
        toml::Value::Float(f) => Param::Float(*f),
        toml::Value::Boolean(b) => Param::Bool(*b),
        toml::Value::Datetime(d) => Param::Text(d.to_string()),
        toml::Value::Array(items) => {
            Param::Array(items.iter().map(from_toml).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(_) => return Err("a table"),
    })
}

/// Converts one JSON value; `Err` names what is not allowed.
pub(crate) fn from_json(value: &serde_json::Value) -> Result<Param, &'static str> {
    Ok(match value {
        serde_json::Value::Null => Param::Null,
        serde_json::Value::Bool(b) => Param::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Param::Int(i),
            // Past i64 (a large bigint or numeric): keep the exact digits.
            (None, _) if n.is_u64() => Param::Text(n.to_string()),
            (None, Some(f)) => Param::Float(f),
            (None, None) => Param::Text(n.to_string()),
        },
        serde_json::Value::String(s) => Param::Text(s.clone()),
        serde_json::Value::Array(items) => {
            Param::Array(items.iter().map(from_json).collect::<Result<_, _>>()?)
        }
        serde_json::Value::Object(_) => return Err("an object"),
    })
}

// float8in accepts NaN, Infinity and -Infinity spelled this way; Rust's
// Display gives plain digits for the rest (no exponent), which both float8
// and numeric accept.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        f.to_string()
    }
}

/// An array literal as array_in reads it: `{1,2,"a b",NULL,{3,4}}`.
fn write_array(items: &[Param], out: &mut String) {
    out.push('{');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        match item {
            Param::Null => out.push_str("NULL"),
            Param::Array(inner) => write_array(inner, out),
            scalar => write_element(&scalar.as_text().unwrap_or_default(), out),
        }
    }
    out.push('}');
}

// array_in: an element must be double-quoted when it is empty, is NULL in
// any case, or holds braces, quotes, a backslash, a comma or white space;
// inside quotes, `"` and `\` are escaped with a backslash.
fn write_element(text: &str, out: &mut String) {
    let needs_quotes = text.is_empty()
        || text.eq_ignore_ascii_case("null")
        || text
            .chars()
            .any(|c| matches!(c, '{' | '}' | '"' | '\\' | ',') || c.is_ascii_whitespace());
    if !needs_quotes {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(p: Param) -> Option<String> {
        p.as_text()
    }

    #[test]
    fn scalars_in_postgres_text_form() {
        assert_eq!(text(Param::Bool(true)), Some("true".into()));
        assert_eq!(text(Param::Int(42)), Some("42".into()));
        assert_eq!(text(Param::Int(-7)), Some("-7".into()));
        assert_eq!(text(Param::Float(2.5)), Some("2.5".into()));
        assert_eq!(text(Param::Float(2.0)), Some("2".into()));
        assert_eq!(text(Param::Float(1e-7)), Some("0.0000001".into()));
        assert_eq!(text(Param::Float(f64::NAN)), Some("NaN".into()));
        assert_eq!(
            text(Param::Float(f64::NEG_INFINITY)),
            Some("-Infinity".into())
        );
        assert_eq!(
            text(Param::Text("2024-01-01".into())),
            Some("2024-01-01".into())
        );
        assert_eq!(text(Param::Null), None);
    }

    #[test]
    fn arrays_in_array_literal_form() {
        let ints = Param::Array(vec![Param::Int(1), Param::Int(2), Param::Int(3)]);
        assert_eq!(text(ints), Some("{1,2,3}".into()));
        assert_eq!(text(Param::Array(vec![])), Some("{}".into()));
        let awkward = Param::Array(vec![
            Param::Text("a b".into()),
            Param::Text("".into()),
            Param::Text("null".into()),
            Param::Text(r#"say "hi"\"#.into()),
            Param::Text("x,y".into()),
            Param::Text("{z}".into()),
            Param::Null,
            Param::Text("plain".into()),
        ]);
        assert_eq!(
            text(awkward),
            Some(r#"{"a b","","null","say \"hi\"\\","x,y","{z}",NULL,plain}"#.into())
        );
        let nested = Param::Array(vec![
            Param::Array(vec![Param::Int(1), Param::Int(2)]),
            Param::Array(vec![Param::Int(3), Param::Null]),
        ]);
        assert_eq!(text(nested), Some("{{1,2},{3,NULL}}".into()));
        let bools = Param::Array(vec![Param::Bool(true), Param::Float(0.5)]);
        assert_eq!(text(bools), Some("{true,0.5}".into()));
    }

    #[test]
    fn toml_values_convert() {
        let table: toml::Table =
            toml::from_str(r#"v = [1, 2.5, "x", true, 2024-01-01, 1979-05-27T07:32:00Z, [1, 2]]"#)
                .unwrap();
        let param = from_toml(&table["v"]).unwrap();
        assert_eq!(
            param,
            Param::Array(vec![
                Param::Int(1),
                Param::Float(2.5),
                Param::Text("x".into()),
                Param::Bool(true),
                Param::Text("2024-01-01".into()),
                Param::Text("1979-05-27T07:32:00Z".into()),
                Param::Array(vec![Param::Int(1), Param::Int(2)]),
            ])
        );
        let table: toml::Table = toml::from_str("v = { a = 1 }").unwrap();
        assert_eq!(from_toml(&table["v"]), Err("a table"));
    }

    #[test]
    fn json_values_convert() {
        let value: serde_json::Value =
            serde_json::from_str(r#"[null, 1, 2.5, 18446744073709551615, "x", false, {"a": 1}]"#)
                .unwrap();
        let items = value.as_array().unwrap();
        assert_eq!(from_json(&items[0]), Ok(Param::Null));
        assert_eq!(from_json(&items[1]), Ok(Param::Int(1)));
        assert_eq!(from_json(&items[2]), Ok(Param::Float(2.5)));
        assert_eq!(
            from_json(&items[3]),
            Ok(Param::Text("18446744073709551615".into()))
        );
        assert_eq!(from_json(&items[4]), Ok(Param::Text("x".into())));
        assert_eq!(from_json(&items[5]), Ok(Param::Bool(false)));
        assert_eq!(from_json(&items[6]), Err("an object"));
    }

    #[test]
    fn serializes_as_plain_json() {
        let p = Param::Array(vec![Param::Null, Param::Int(1), Param::Text("a".into())]);
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"[null,1,"a"]"#);
        assert_eq!(p.to_json(), serde_json::json!([null, 1, "a"]));
        assert_eq!(
            Param::Float(f64::INFINITY).to_json(),
            serde_json::json!("Infinity")
        );
    }
}
