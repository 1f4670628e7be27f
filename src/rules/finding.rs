//! Findings: what a rule says about one query, as plain data.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How bad a finding is. Ordered: `Info < Warning < Error`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never fails a run at the default `--fail-on`.
    #[default]
    Info,
    /// Likely to hurt.
    Warning,
    /// Hurts, or broke.
    Error,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Error];

    /// The name used in configuration, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity name that is not `error`, `warning` or `info`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?} (expected error, warning or info)")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Severity, UnknownSeverity> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str() == s)
            .ok_or_else(|| UnknownSeverity(s.to_owned()))
    }
}

/// The plan node a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRef {
    /// Path from the root: `0` is the root, `0.1.0` the first child of the
    /// root's second child (children in EXPLAIN's order).
    pub path: String,
    /// PostgreSQL's node type, e.g. `Seq Scan`.
    pub node_type: String,
    /// The relation the node reads, when it reads one.
    pub relation: Option<String>,
}

/// One thing a rule found on one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule id (`seq-scan`, `cost-jump`, ...).
    pub rule: String,
    /// How bad it is (after `[rules.<id>]` overrides).
    pub severity: Severity,
    /// True when this is a change for the worse against the baseline.
    pub regression: bool,
    /// One sentence with the numbers behind it.
    pub message: String,
    /// The node it is about; None for findings about the whole query.
    pub node: Option<NodeRef>,
    /// The figures behind the message, by name.
    pub evidence: BTreeMap<String, Value>,
    /// What to do about it.
    pub suggestion: Option<String>,
    /// The ids of the recorded changes that explain it (the report's
    /// `changes`), most specific first.
    #[serde(default)]
    pub causes: Vec<String>,
}

impl Finding {
    /// A finding of `rule` with no node, evidence or suggestion yet.
    pub fn new(rule: &str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            rule: rule.to_owned(),
            severity,
            regression: false,
            message: message.into(),
            node: None,
            evidence: BTreeMap::new(),
            suggestion: None,
            causes: Vec::new(),
        }
    }

    /// Sets the node.
    pub fn at(mut self, node: NodeRef) -> Finding {
        self.node = Some(node);
        self
    }

    /// Marks the finding as a regression (or not).
    pub fn regression(mut self, regression: bool) -> Finding {
        self.regression = regression;
        self
    }

    /// Adds one piece of evidence.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Finding {
        self.evidence.insert(key.to_owned(), value.into());
        self
    }

    /// Sets the suggestion.
    pub fn suggest(mut self, suggestion: impl Into<String>) -> Finding {
        self.suggestion = Some(suggestion.into());
        self
    }

    /// The node path as numbers, for ordering (`0.10` after `0.9`); query
    /// level findings (no node) sort first.
    pub fn path_key(&self) -> Vec<u32> {
        self.node.as_ref().map_or_else(Vec::new, |n| {
            n.path
                .split('.')
                .map(|s| s.parse().unwrap_or(u32::MAX))
                .collect()
        })
    }
}

/// Sorts findings the way every output shows them: severity (worst first),
/// then node path, rule id and message.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.path_key().cmp(&b.path_key()))
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.message.cmp(&b.message))
    });
}

/// A number for evidence, rounded to 3 decimals so that output is stable.
pub fn num(x: f64) -> Value {
    let rounded = round3(x);
    if rounded.fract() == 0.0 && rounded.abs() < 9.0e15 {
        Value::from(rounded as i64)
    } else {
        serde_json::Number::from_f64(rounded).map_or(Value::Null, Value::Number)
    }
}

/// `x` rounded to 3 decimals.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Error > Severity::Warning && Severity::Warning > Severity::Info);
        assert_eq!("warning".parse::<Severity>().unwrap(), Severity::Warning);
        assert!("fatal".parse::<Severity>().is_err());
        assert_eq!(
            serde_json::to_string(&Severity::Error).unwrap(),
            "\"error\""
        );
    }

    #[test]
    fn findings_sort_by_severity_then_numeric_path_then_rule() {
        let node = |p: &str| NodeRef {
            path: p.into(),
            node_type: "Seq Scan".into(),
            relation: None,
        };
        let mut all = vec![
            Finding::new("b", Severity::Warning, "x").at(node("0.10")),
            Finding::new("a", Severity::Warning, "x").at(node("0.9")),
            Finding::new("z", Severity::Info, "x"),
            Finding::new("c", Severity::Error, "x").at(node("0.1")),
            Finding::new("a", Severity::Warning, "x"),
        ];
        sort_findings(&mut all);
        let order: Vec<_> = all
            .iter()
            .map(|f| format!("{}@{:?}", f.rule, f.path_key()))
            .collect();
        assert_eq!(order, ["c@[0, 1]", "a@[]", "a@[0, 9]", "b@[0, 10]", "z@[]"]);
    }

    #[test]
    fn evidence_numbers_are_rounded() {
        assert_eq!(num(1.23456), serde_json::json!(1.235));
        assert_eq!(num(10.0), serde_json::json!(10));
        assert_eq!(num(f64::INFINITY), Value::Null);
    }
}
