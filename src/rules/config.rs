//! `[thresholds]` and `[rules.<id>]` of planguard.toml, with per-query
//! threshold overrides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ALL_RULES, PLANNED_RULES, Severity};

/// Why a `[thresholds]` or `[rules]` table was refused. Each variant names
/// the key or rule id to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown threshold `{key}` (known: {known})")]
    UnknownThreshold { key: String, known: String },
    #[error("threshold `{key}`: {message}")]
    BadThreshold { key: String, message: String },
    #[error("unknown rule `{id}` in [rules] (known: {known})")]
    UnknownRule { id: String, known: String },
    #[error("[rules.{id}]: {message}")]
    BadRule { id: String, message: String },
}

/// The numbers rules compare against. Every key has a default; the docs
/// page of each rule says which keys it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// `seq-scan`: rows a Seq Scan must look at (all loops, rows removed by
    /// its filter included) before it counts as large.
    pub seq_scan_min_rows: u64,
    /// `seq-scan`: share of the rows looked at that the filter must remove.
    pub seq_scan_min_removed_ratio: f64,
    /// `row-misestimate`: how far actual rows may be from the estimate
    /// (either way) before it counts.
    pub misestimate_factor: f64,
    /// `row-misestimate`: share of the execution time the misestimated
    /// nodes must account for.
    pub misestimate_min_time_share: f64,
    /// `cost-jump`: total cost ratio (now / baseline) for a warning.
    pub cost_ratio: f64,
    /// `cost-jump`: and the cost must have grown by at least this much.
    pub cost_min_increase: f64,
    /// `cost-jump`: total cost ratio for an error.
    pub cost_error_ratio: f64,
    /// `time-regression`: median execution time ratio.
    pub time_ratio: f64,
    /// `time-regression`: and the time must have grown by at least this
    /// many milliseconds.
    pub time_min_increase_ms: f64,
    /// `time-regression`: the ratio used instead of `time_ratio` when either
    /// side has a single run (one run says little about the spread).
    pub time_single_run_ratio: f64,
    /// `time-regression`: median execution time ratio for an error.
    pub time_error_ratio: f64,
    /// `buffers-regression`: shared blocks ratio.
    pub buffers_ratio: f64,
    /// `buffers-regression`: and at least this many more blocks.
    pub buffers_min_increase: u64,
    /// `buffers-regression`: shared blocks ratio for an error.
    pub buffers_error_ratio: f64,
    /// `generic-plan`: how many times slower (actual time) or costlier
    /// (without ANALYZE) the generic plan must be than the custom plan at
    /// the same values.
    pub generic_plan_ratio: f64,
    /// `generic-plan`: and the generic plan must take at least this many
    /// milliseconds longer.
    pub generic_plan_min_ms: f64,
    /// `time-drift`, `buffers-drift`: the recorded runs looked at, the
    /// current one included.
    pub drift_runs: u64,
    /// `time-drift`, `buffers-drift`: no trend is fitted on fewer runs of
    /// the current plan than this.
    pub drift_min_runs: u64,
    /// `time-drift`, `buffers-drift`: the fitted growth over the window
    /// (last / first) must reach this ratio.
    pub drift_ratio: f64,
    /// `time-drift`, `buffers-drift`: the trend test's p-value must be
    /// below this (the false-alarm rate on a series of pure noise).
    pub drift_significance: f64,
    /// `time-drift`: and the fitted time must grow by at least this many
    /// milliseconds over the window.
    pub time_drift_min_increase_ms: f64,
    /// `buffers-drift`: and by at least this many blocks.
    pub buffers_drift_min_increase: u64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            seq_scan_min_rows: 10_000,
            seq_scan_min_removed_ratio: 0.9,
            misestimate_factor: 10.0,
            misestimate_min_time_share: 0.1,
            cost_ratio: 1.5,
            cost_min_increase: 100.0,
            cost_error_ratio: 10.0,
            time_ratio: 1.5,
            time_min_increase_ms: 1.0,
            time_single_run_ratio: 3.0,
            time_error_ratio: 5.0,
            buffers_ratio: 2.0,
            buffers_min_increase: 100,
            buffers_error_ratio: 10.0,
            generic_plan_ratio: 10.0,
            generic_plan_min_ms: 1.0,
            drift_runs: 14,
            drift_min_runs: 6,
            drift_ratio: 1.2,
            drift_significance: 0.01,
            time_drift_min_increase_ms: 1.0,
            buffers_drift_min_increase: 100,
        }
    }
}

impl Thresholds {
    /// The key names, in declaration order.
    pub const KEYS: &'static [&'static str] = &[
        "seq_scan_min_rows",
        "seq_scan_min_removed_ratio",
        "misestimate_factor",
        "misestimate_min_time_share",
        "cost_ratio",
        "cost_min_increase",
        "cost_error_ratio",
        "time_ratio",
        "time_min_increase_ms",
        "time_single_run_ratio",
        "time_error_ratio",
        "buffers_ratio",
        "buffers_min_increase",
        "buffers_error_ratio",
        "generic_plan_ratio",
        "generic_plan_min_ms",
        "drift_runs",
        "drift_min_runs",
        "drift_ratio",
        "drift_significance",
        "time_drift_min_increase_ms",
        "buffers_drift_min_increase",
    ];

    /// Reads a `[thresholds]` table: missing keys take their defaults,
    /// unknown keys and impossible values are errors naming the key.
    pub fn from_table(table: &toml::Table) -> Result<Thresholds, ConfigError> {
        Thresholds::default().with_overrides(table)
    }

    /// These thresholds with the keys of `table` replaced (a query's own
    /// overrides on top of the configuration's).
    pub fn with_overrides(&self, table: &toml::Table) -> Result<Thresholds, ConfigError> {
        if let Some(key) = table
            .keys()
            .find(|k| !Thresholds::KEYS.contains(&k.as_str()))
        {
            return Err(ConfigError::UnknownThreshold {
                key: key.clone(),
                known: Thresholds::KEYS.join(", "),
            });
        }
        let mut merged = toml::Table::try_from(self).map_err(|e| ConfigError::BadThreshold {
            key: String::new(),
            message: e.to_string(),
        })?;
        for (key, value) in table {
            // One key at a time, so that a bad value is named precisely.
            let mut probe = toml::Table::new();
            probe.insert(key.clone(), value.clone());
            probe
                .try_into::<Thresholds>()
                .map_err(|e| ConfigError::BadThreshold {
                    key: key.clone(),
                    message: e.message().trim().to_owned(),
                })?;
            merged.insert(key.clone(), value.clone());
        }
        let thresholds: Thresholds =
            merged
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::BadThreshold {
                    key: String::new(),
                    message: e.message().to_owned(),
                })?;
        thresholds.validate()?;
        Ok(thresholds)
    }

    /// Refuses values no rule can work with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::BadThreshold {
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        let ratios = [
            ("misestimate_factor", self.misestimate_factor),
            ("cost_ratio", self.cost_ratio),
            ("cost_error_ratio", self.cost_error_ratio),
            ("time_ratio", self.time_ratio),
            ("time_single_run_ratio", self.time_single_run_ratio),
            ("time_error_ratio", self.time_error_ratio),
            ("buffers_ratio", self.buffers_ratio),
            ("buffers_error_ratio", self.buffers_error_ratio),
            ("generic_plan_ratio", self.generic_plan_ratio),
            ("drift_ratio", self.drift_ratio),
        ];
        for (key, value) in ratios {
            if !(value.is_finite() && value > 1.0) {
                return bad(key, &format!("must be a ratio above 1, not {value}"));
            }
        }
        let shares = [
            (
                "seq_scan_min_removed_ratio",
                self.seq_scan_min_removed_ratio,
            ),
            (
                "misestimate_min_time_share",
                self.misestimate_min_time_share,
            ),
        ];
        for (key, value) in shares {
            if !(0.0..=1.0).contains(&value) {
                return bad(key, &format!("must be between 0 and 1, not {value}"));
            }
        }
        let floors = [
            ("cost_min_increase", self.cost_min_increase),
            ("time_min_increase_ms", self.time_min_increase_ms),
            ("generic_plan_min_ms", self.generic_plan_min_ms),
            (
                "time_drift_min_increase_ms",
                self.time_drift_min_increase_ms,
            ),
        ];
        for (key, value) in floors {
            if !(value.is_finite() && value >= 0.0) {
                return bad(key, &format!("must be 0 or more, not {value}"));
            }
        }
        for (key, error, warning, name) in [
            (
                "time_error_ratio",
                self.time_error_ratio,
                self.time_ratio,
                "time_ratio",
            ),
            (
                "buffers_error_ratio",
                self.buffers_error_ratio,
                self.buffers_ratio,
                "buffers_ratio",
            ),
        ] {
            if error < warning {
                return bad(
                    key,
                    &format!("must be at least {name} ({warning}), not {error}"),
                );
            }
        }
        if !(self.drift_significance > 0.0 && self.drift_significance < 1.0) {
            return bad(
                "drift_significance",
                &format!(
                    "must be between 0 and 1 (exclusive), not {}",
                    self.drift_significance
                ),
            );
        }
        if self.drift_min_runs < 3 {
            return bad(
                "drift_min_runs",
                &format!(
                    "must be at least 3 (a trend needs three points), not {}",
                    self.drift_min_runs
                ),
            );
        }
        if self.drift_runs < self.drift_min_runs {
            return bad(
                "drift_runs",
                &format!(
                    "must be at least drift_min_runs ({}), not {}",
                    self.drift_min_runs, self.drift_runs
                ),
            );
        }
        if self.cost_error_ratio < self.cost_ratio {
            return bad(
                "cost_error_ratio",
                &format!(
                    "must be at least cost_ratio ({}), not {}",
                    self.cost_ratio, self.cost_error_ratio
                ),
            );
        }
        Ok(())
    }
}

/// One rule's `[rules.<id>]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuleSetting {
    /// `enabled = false` switches the rule off.
    pub enabled: Option<bool>,
    /// `severity = "error"` re-levels the rule's findings (see
    /// [`RulesConfig::severity_for`]).
    pub severity: Option<Severity>,
}

/// `[rules.<id>]` of planguard.toml: which rules run and at what level.
/// Only known rule ids are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(
    try_from = "BTreeMap<String, RuleSetting>",
    into = "BTreeMap<String, RuleSetting>"
)]
pub struct RulesConfig {
    rules: BTreeMap<String, RuleSetting>,
}

impl TryFrom<BTreeMap<String, RuleSetting>> for RulesConfig {
    type Error = ConfigError;

    fn try_from(rules: BTreeMap<String, RuleSetting>) -> Result<RulesConfig, ConfigError> {
        for id in rules.keys() {
            if !is_known_rule(id) {
                return Err(ConfigError::UnknownRule {
                    id: id.clone(),
                    known: known_rule_ids().join(", "),
                });
            }
        }
        Ok(RulesConfig { rules })
    }
}

impl From<RulesConfig> for BTreeMap<String, RuleSetting> {
    fn from(config: RulesConfig) -> BTreeMap<String, RuleSetting> {
        config.rules
    }
}

impl RulesConfig {
    /// Reads a `[rules]` table (`[rules.seq-scan]` and so on).
    pub fn from_table(table: &toml::Table) -> Result<RulesConfig, ConfigError> {
        let mut rules = BTreeMap::new();
        for (id, value) in table {
            let setting: RuleSetting =
                value
                    .clone()
                    .try_into()
                    .map_err(|e: toml::de::Error| ConfigError::BadRule {
                        id: id.clone(),
                        message: e.message().trim().to_owned(),
                    })?;
            rules.insert(id.clone(), setting);
        }
        RulesConfig::try_from(rules)
    }

    /// Sets one rule's setting (for flags and tests); the id must be known.
    pub fn set(&mut self, id: &str, setting: RuleSetting) -> Result<(), ConfigError> {
        let mut rules = self.rules.clone();
        rules.insert(id.to_owned(), setting);
        *self = RulesConfig::try_from(rules)?;
        Ok(())
    }

    /// Whether the rule runs (every rule does unless switched off).
    pub fn enabled(&self, id: &str) -> bool {
        self.rules.get(id).and_then(|s| s.enabled).unwrap_or(true)
    }

    /// The configured severity of a rule, if re-levelled.
    pub fn severity_for(&self, id: &str) -> Option<Severity> {
        self.rules.get(id).and_then(|s| s.severity)
    }
}

fn is_known_rule(id: &str) -> bool {
    ALL_RULES.iter().any(|r| r.info().id == id) || PLANNED_RULES.contains(&id)
}

fn known_rule_ids() -> Vec<&'static str> {
    let mut ids: Vec<_> = ALL_RULES
        .iter()
        .map(|r| r.info().id)
        .chain(PLANNED_RULES.iter().copied())
        .collect();
    ids.sort_unstable();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let t = Thresholds::from_table(&toml::Table::new()).unwrap();
        assert_eq!(t, Thresholds::default());
        assert_eq!(t.seq_scan_min_rows, 10_000);
        assert_eq!(t.cost_error_ratio, 10.0);
        let keys: Vec<String> = toml::Table::try_from(&t).unwrap().keys().cloned().collect();
        let mut expected: Vec<String> = Thresholds::KEYS.iter().map(|k| k.to_string()).collect();
        expected.sort();
        assert_eq!(keys, expected, "KEYS must list every field");
    }

    #[test]
    fn integers_are_accepted_for_ratios() {
        let t = Thresholds::from_table(&table("cost_ratio = 2\nmisestimate_factor = 100")).unwrap();
        assert_eq!(t.cost_ratio, 2.0);
        assert_eq!(t.misestimate_factor, 100.0);
    }

    #[test]
    fn overrides_replace_only_their_keys() {
        let base = Thresholds::from_table(&table("cost_ratio = 2.0")).unwrap();
        let t = base.with_overrides(&table("time_ratio = 4.0")).unwrap();
        assert_eq!(t.cost_ratio, 2.0);
        assert_eq!(t.time_ratio, 4.0);
        assert_eq!(t.buffers_ratio, 2.0);
    }

    #[test]
    fn unknown_and_bad_keys_are_named() {
        let err = Thresholds::from_table(&table("cost_ration = 2.0")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unknown threshold `cost_ration`"),
            "{err}"
        );
        let err = Thresholds::from_table(&table("seq_scan_min_rows = \"many\"")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("threshold `seq_scan_min_rows`: "),
            "{err}"
        );
        let err = Thresholds::from_table(&table("cost_ratio = 0.5")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "threshold `cost_ratio`: must be a ratio above 1, not 0.5"
        );
    }

    #[test]
    fn rules_config_knows_every_rule_and_refuses_others() {
        let config = RulesConfig::from_table(&table(
            "[seq-scan]\nenabled = false\n[cost-jump]\nseverity = \"error\"\n[missing-index]\nenabled = true",
        ))
        .unwrap();
        assert!(!config.enabled("seq-scan"));
        assert!(config.enabled("index-lost"));
        assert_eq!(config.severity_for("cost-jump"), Some(Severity::Error));
        let err = RulesConfig::from_table(&table("[seq-scans]\nenabled = false")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unknown rule `seq-scans` in [rules]"),
            "{err}"
        );
        let err = RulesConfig::from_table(&table("[seq-scan]\nseverity = \"fatal\"")).unwrap_err();
        assert!(err.to_string().starts_with("[rules.seq-scan]: "), "{err}");
        let err = RulesConfig::from_table(&table("[seq-scan]\nenable = false")).unwrap_err();
        assert!(err.to_string().contains("enable"), "{err}");
    }
}
