//! Configuration: planguard.toml, flags and environment merged into one
//! validated [`Config`] before any work starts.
//!
//! Precedence: flags, then the file, then the defaults. Paths in the file
//! are relative to the file. An unknown key, a bad value or an unreadable
//! file is an error naming the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rules::{RulesConfig, Thresholds};
use crate::runner::{RunOptions, valid_setting_name};

/// The file read when `-c` is not given and it exists.
pub const DEFAULT_FILE: &str = "planguard.toml";

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{0}")]
    Flag(String),
}

/// Why a timeout ([`parse_duration`]) or a retention ([`parse_keep`]) is
/// not one. humantime's reason is part of the message, in parentheses, not
/// a cause.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    #[error("{text:?} is not a duration like 500ms, 30s or 2m ({reason})")]
    NotATimeout {
        text: String,
        reason: humantime::DurationError,
    },
    #[error("a timeout of zero would wait forever; give a duration")]
    ZeroTimeout,
    #[error("{text:?} is not a duration like 180d or 12w ({reason})")]
    NotARetention {
        text: String,
        reason: humantime::DurationError,
    },
    #[error("a retention of zero would remove every run; give a duration")]
    ZeroRetention,
}

/// planguard.toml as written. Every key is optional.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The query set directory or file.
    pub queries: Option<PathBuf>,
    /// The baselines directory.
    pub baselines: Option<PathBuf>,
    /// The snapshots directory.
    pub snapshots: Option<PathBuf>,
    /// How queries run.
    #[serde(default)]
    pub run: RunSection,
    /// Planner settings applied with `SET LOCAL` around every query.
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    /// Rule thresholds (validated by the rules).
    #[serde(default)]
    pub thresholds: toml::Table,
    /// Per-rule switches: `[rules.seq-scan] enabled = false`.
    #[serde(default)]
    pub rules: toml::Table,
    /// The index advisor (`missing-index`).
    #[serde(default)]
    pub advisor: AdvisorSection,
    /// The run history (`check`, `baseline`, `history`).
    #[serde(default)]
    pub history: HistorySection,
}

/// `[history]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySection {
    /// `false` records nothing (`--no-history`).
    pub enabled: Option<bool>,
    /// The SQLite file [default: planguard-history.sqlite next to the
    /// baselines directory].
    pub path: Option<PathBuf>,
    /// A PostgreSQL database instead: `postgres://...` (empty: none).
    pub url: Option<String>,
    /// Runs older than this are removed when a run is recorded (`180d`).
    pub keep: Option<String>,
}

/// `[advisor]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdvisorSection {
    /// The fraction by which a suggestion must cut a query's planner cost
    /// (0.5 by default).
    pub min_cost_drop: Option<f64>,
    /// `auto`, `create` or `off` (`--hypopg`).
    pub hypopg: Option<crate::advisor::HypoPg>,
}

/// `[run]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub runs: Option<u32>,
    pub warmup: Option<u32>,
    pub jobs: Option<u32>,
    pub timeout: Option<String>,
    pub lock_timeout: Option<String>,
    pub analyze: Option<bool>,
    pub allow_dml: Option<bool>,
    pub verbose: Option<bool>,
    pub wal: Option<bool>,
    /// `auto`, `sample` or `generic` (`--params`).
    pub params: Option<String>,
}

/// The flags of a run command that the configuration merges (the
/// command line's `RunArgs`, as plain values): unset ones come from the
/// file, then from the defaults.
#[derive(Debug, Clone, Default)]
pub struct RunFlags {
    /// `--queries`.
    pub queries: Option<PathBuf>,
    /// `--query GLOB`, repeatable.
    pub query: Vec<String>,
    /// `--tag`, repeatable.
    pub tag: Vec<String>,
    /// `--runs`.
    pub runs: Option<u32>,
    /// `--warmup`.
    pub warmup: Option<u32>,
    /// `--analyze`.
    pub analyze: bool,
    /// `--no-analyze`.
    pub no_analyze: bool,
    /// `--jobs`.
    pub jobs: Option<u32>,
    /// `--timeout`.
    pub timeout: Option<String>,
    /// `--allow-dml`.
    pub allow_dml: bool,
    /// `--params`.
    pub params: Option<String>,
    /// `--stats`.
    pub stats: Option<PathBuf>,
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file read, if any.
    pub file: Option<PathBuf>,
    pub queries: PathBuf,
    pub baselines: PathBuf,
    pub snapshots: PathBuf,
    pub run: RunOptions,
    pub allow_dml: bool,
    pub query_globs: Vec<String>,
    pub tags: Vec<String>,
    /// `[thresholds]`, validated (a query's own overrides are validated
    /// when the query set loads).
    pub thresholds: Thresholds,
    /// `[rules]`, validated.
    pub rules: RulesConfig,
    /// `[advisor] min_cost_drop`.
    pub min_cost_drop: f64,
    /// `[advisor] hypopg`.
    pub hypopg: crate::advisor::HypoPg,
    /// `--params` / `[run] params`: the mode for queries whose file does
    /// not say.
    pub params: Option<crate::queryset::ParamMode>,
    /// `--stats`: planner statistics to plan with (see `stats::import`).
    pub stats: Option<PathBuf>,
    /// `[history]`, before `--history` / `--no-history`.
    pub history: crate::history::Settings,
}

impl Config {
    /// Reads the file (`file`, else ./planguard.toml when present) and
    /// merges the flags of a run command.
    pub fn load(file: Option<&Path>, flags: &RunFlags) -> Result<Config, ConfigError> {
        let (file, path) = read_file(file)?;
        Config::merge(file, path, flags)
    }

    /// Merges a parsed file (read from `path`) with the flags.
    pub fn merge(
        file: FileConfig,
        path: Option<PathBuf>,
        args: &RunFlags,
    ) -> Result<Config, ConfigError> {
        let base = path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let invalid = |message: String| match &path {
            Some(p) => ConfigError::Invalid {
                path: p.clone(),
                message,
            },
            None => ConfigError::Flag(message),
        };
        let relative = |p: Option<PathBuf>, default: &str| -> PathBuf {
            match p {
                Some(p) if p.is_absolute() => p,
                Some(p) => base.join(p),
                None => PathBuf::from(default),
            }
        };
        let defaults = RunOptions::default();
        let timeout = match (&args.timeout, &file.run.timeout) {
            (Some(flag), _) => {
                parse_duration(flag).map_err(|m| ConfigError::Flag(format!("--timeout: {m}")))?
            }
            (None, Some(value)) => {
                parse_duration(value).map_err(|m| invalid(format!("run.timeout: {m}")))?
            }
            (None, None) => defaults.timeout,
        };
        let lock_timeout = match &file.run.lock_timeout {
            Some(value) => {
                parse_duration(value).map_err(|m| invalid(format!("run.lock_timeout: {m}")))?
            }
            None => defaults.lock_timeout.min(timeout),
        };
        let mut settings = BTreeMap::new();
        for (name, value) in &file.settings {
            if !valid_setting_name(name) {
                return Err(invalid(format!("settings: {name:?} is not a setting name")));
            }
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => if *b { "on" } else { "off" }.to_owned(),
                _ => {
                    return Err(invalid(format!(
                        "settings.{name}: use a string, number or boolean"
                    )));
                }
            };
            settings.insert(name.to_lowercase(), text);
        }
        let analyze = if args.no_analyze {
            false
        } else if args.analyze {
            true
        } else {
            file.run.analyze.unwrap_or(defaults.analyze)
        };
        let runs = args.runs.or(file.run.runs).unwrap_or(defaults.runs);
        if runs == 0 {
            return Err(ConfigError::Flag("--runs must be at least 1".to_owned()));
        }
        let jobs = args.jobs.or(file.run.jobs).unwrap_or(defaults.jobs);
        let params = match (&args.params, &file.run.params) {
            (Some(flag), _) => crate::queryset::ParamMode::parse(flag),
            (None, Some(key)) => Some(crate::queryset::ParamMode::parse(key).ok_or_else(|| {
                ConfigError::Invalid {
                    path: path.clone().unwrap_or_default(),
                    message: format!(
                        "[run] params must be \"auto\", \"sample\" or \"generic\", found {key:?}"
                    ),
                }
            })?),
            (None, None) => None,
        };
        if jobs == 0 {
            return Err(ConfigError::Flag("--jobs must be at least 1".to_owned()));
        }
        let min_cost_drop = file.advisor.min_cost_drop.unwrap_or(0.5);
        if !(min_cost_drop > 0.0 && min_cost_drop < 1.0) {
            return Err(invalid(format!(
                "advisor.min_cost_drop: {min_cost_drop} is not a fraction between 0 and 1 (0.5: the cost must at least halve)"
            )));
        }
        let thresholds = Thresholds::from_table(&file.thresholds)
            .map_err(|e| invalid(format!("[thresholds]: {e}")))?;
        let rules = RulesConfig::from_table(&file.rules).map_err(|e| invalid(e.to_string()))?;
        let history = history_settings(&file.history, &relative, &invalid)?;
        Ok(Config {
            history,
            min_cost_drop,
            hypopg: file.advisor.hypopg.unwrap_or_default(),
            queries: args
                .queries
                .clone()
                .unwrap_or_else(|| relative(file.queries, "queries")),
            baselines: relative(file.baselines, "baselines"),
            snapshots: relative(file.snapshots, "snapshots"),
            run: RunOptions {
                analyze,
                runs,
                warmup: args.warmup.or(file.run.warmup).unwrap_or(defaults.warmup),
                jobs,
                timeout,
                lock_timeout,
                settings,
                verbose: file.run.verbose.unwrap_or(false),
                wal: file.run.wal.unwrap_or(false),
                session: crate::runner::SessionSetup::default(),
            },
            allow_dml: args.allow_dml || file.run.allow_dml.unwrap_or(false),
            params,
            query_globs: args.query.clone(),
            stats: args.stats.clone(),
            tags: args.tag.clone(),
            thresholds,
            rules,
            file: path,
        })
    }
}

/// `[history]` validated: `path` relative to the file, `url` a
/// PostgreSQL URL, `keep` a duration.
fn history_settings(
    section: &HistorySection,
    relative: &dyn Fn(Option<PathBuf>, &str) -> PathBuf,
    invalid: &dyn Fn(String) -> ConfigError,
) -> Result<crate::history::Settings, ConfigError> {
    use crate::history::Target;
    // An empty url is no url: the README's example shows the key empty.
    let url = section.url.as_ref().filter(|u| !u.trim().is_empty());
    let target = match (&section.path, url) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "history: give either path (an SQLite file) or url (a PostgreSQL database), not both"
                    .to_owned(),
            ));
        }
        (Some(path), None) => Some(Target::Sqlite(relative(Some(path.clone()), ""))),
        (None, Some(url)) => match Target::parse(url) {
            target @ Target::Postgres(_) => Some(target),
            Target::Sqlite(_) => {
                return Err(invalid(
                    "history.url: not a postgres:// or postgresql:// URL (an SQLite file goes in history.path)"
                        .to_owned(),
                ));
            }
        },
        (None, None) => None,
    };
    let keep = match &section.keep {
        Some(text) => Some(parse_keep(text).map_err(|m| invalid(format!("history.keep: {m}")))?),
        None => None,
    };
    Ok(crate::history::Settings {
        disabled: section.enabled == Some(false),
        target,
        keep,
    })
}

/// A retention like `180d`, `12w` or `720h`.
pub fn parse_keep(text: &str) -> Result<Duration, DurationError> {
    match humantime::parse_duration(text.trim()) {
        Err(reason) => Err(DurationError::NotARetention {
            text: text.to_owned(),
            reason,
        }),
        Ok(d) if d.is_zero() => Err(DurationError::ZeroRetention),
        Ok(d) => Ok(d),
    }
}

/// Reads `explicit`, else ./planguard.toml when it exists.
pub fn read_file(explicit: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>), ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
        None => return Ok((FileConfig::default(), None)),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
        path: path.clone(),
        message: one_line(&e.to_string()),
    })?;
    Ok((file, Some(path)))
}

/// `500ms`, `30s`, `2m`, `1h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    match humantime::parse_duration(text) {
        Err(reason) => Err(DurationError::NotATimeout {
            text: text.to_owned(),
            reason,
        }),
        Ok(d) if d.is_zero() => Err(DurationError::ZeroTimeout),
        Ok(d) => Ok(d),
    }
}

/// toml's messages span several lines with a source excerpt; keep the
/// first line and the position.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or_default().trim().to_owned();
    let last = message
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('|') && !l.contains('^'))
        .unwrap_or_default()
        .trim()
        .to_owned();
    if last.is_empty() || last == first {
        first
    } else {
        format!("{first}: {last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(toml_text: &str, args: RunFlags) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(toml_text).map_err(|e| ConfigError::Invalid {
            path: "planguard.toml".into(),
            message: one_line(&e.to_string()),
        })?;
        Config::merge(file, Some(PathBuf::from("conf/planguard.toml")), &args)
    }

    #[test]
    fn flags_override_file_override_defaults() {
        let config = merge(
            "queries = \"q\"\n[run]\nruns = 5\ntimeout = \"2m\"\n[settings]\nwork_mem = \"64kB\"\nenable_seqscan = false\n",
            RunFlags {
                runs: Some(7),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(config.queries, PathBuf::from("conf/q"));
        assert_eq!(config.baselines, PathBuf::from("baselines"));
        assert_eq!(config.run.runs, 7);
        assert_eq!(config.run.warmup, 1);
        assert_eq!(config.run.timeout, Duration::from_secs(120));
        assert_eq!(config.run.settings["work_mem"], "64kB");
        assert_eq!(config.run.settings["enable_seqscan"], "off");
        assert!(config.run.analyze);
        let config = merge(
            "[run]\nanalyze = false\n",
            RunFlags {
                analyze: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(config.run.analyze);
    }

    /// The ```toml block of the README's Configuration section.
    fn readme_config() -> toml::Table {
        let readme = include_str!("../README.md");
        let section = &readme[readme.find("## Configuration").expect("section")..];
        let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + section[start..].find("```").expect("block end");
        toml::from_str(&section[start..end]).expect("the README's TOML parses")
    }

    /// Keys of a serialized value, as `a.b` paths (tables only).
    fn keys(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                let path = format!("{prefix}{k}");
                out.push(path.clone());
                keys(v, &format!("{path}."), out);
            }
        }
    }

    #[test]
    fn the_readme_documents_every_configuration_key_and_no_other() {
        let table = readme_config();
        // README -> types: every key it shows is accepted.
        let file: FileConfig = toml::Value::Table(table.clone())
            .try_into()
            .expect("every README key exists in FileConfig");
        crate::rules::Thresholds::from_table(&file.thresholds).expect("README thresholds");
        crate::rules::RulesConfig::from_table(&file.rules).expect("README rules");
        // Types -> README: every key of the types is shown.
        let mut wanted = Vec::new();
        keys(
            &serde_json::to_value(FileConfig::default()).unwrap(),
            "",
            &mut wanted,
        );
        keys(
            &serde_json::to_value(crate::rules::Thresholds::default()).unwrap(),
            "thresholds.",
            &mut wanted,
        );
        let mut shown = Vec::new();
        keys(&serde_json::to_value(&table).unwrap(), "", &mut shown);
        let missing: Vec<&String> = wanted.iter().filter(|k| !shown.contains(k)).collect();
        assert!(
            missing.is_empty(),
            "keys missing from the README: {missing:?}"
        );
        // The documented defaults are the real ones.
        let defaults = crate::rules::Thresholds::default();
        let documented = crate::rules::Thresholds::from_table(&file.thresholds).unwrap();
        assert_eq!(documented, defaults);
        let merged = Config::merge(file, None, &RunFlags::default()).unwrap();
        let run = RunOptions::default();
        assert_eq!(
            (merged.run.runs, merged.run.warmup, merged.run.jobs),
            (run.runs, run.warmup, run.jobs)
        );
        assert_eq!(
            (merged.run.timeout, merged.run.lock_timeout),
            (run.timeout, run.lock_timeout)
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = merge("[run]\ntimeout = \"soon\"\n", RunFlags::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("conf/planguard.toml: run.timeout: \"soon\""),
            "{err}"
        );
        let err = merge("[run]\nrunz = 1\n", RunFlags::default()).unwrap_err();
        assert!(err.to_string().contains("unknown field `runz`"), "{err}");
        let err = merge("[settings]\n\"work mem; DROP\" = 1\n", RunFlags::default()).unwrap_err();
        assert!(err.to_string().contains("is not a setting name"), "{err}");
        assert_eq!(
            parse_duration("0s").unwrap_err().to_string(),
            "a timeout of zero would wait forever; give a duration"
        );
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
    }

    #[test]
    fn a_duration_that_is_none_says_why_in_parentheses() {
        let err = parse_duration(" soon ").unwrap_err();
        let DurationError::NotATimeout { reason, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(
            err.to_string(),
            format!("\"soon\" is not a duration like 500ms, 30s or 2m ({reason})")
        );
        let err = parse_keep("forever").unwrap_err();
        let DurationError::NotARetention { reason, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(
            err.to_string(),
            format!("\"forever\" is not a duration like 180d or 12w ({reason})")
        );
        assert_eq!(parse_keep("0d").unwrap_err(), DurationError::ZeroRetention);
        assert_eq!(
            parse_keep("12w").unwrap(),
            Duration::from_secs(12 * 7 * 86400)
        );
    }
}
