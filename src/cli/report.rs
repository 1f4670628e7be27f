//! `planguard report RESULT.json --format F [--output FILE]`: re-render a
//! result saved with `check --format json`, offline, in any format.
//!
//! A missing or unreadable file, a file that is not a JSON report, and a
//! report of another `schema_version` are input errors (exit 2) naming the
//! file. Otherwise it exits 0 (the exit code of the run was the check's),
//! or with `--fail-on` by the same rule as `check`: 1 when a finding is at
//! or above it.
//!
//! The query files that `github` and `sarif` point at are under the query
//! set of planguard.toml (`queries/` without one); the Prometheus
//! timestamp is the result file's modification time, when the run wrote it.

use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;

use super::check::{RenderContext, exit_for, output_targets, unix_seconds, write_outputs};
use super::{FailOn, GlobalArgs, ReportArgs};
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::report::{self, Report, SCHEMA_VERSION};

pub fn run(args: ReportArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let targets = output_targets(&args.output)?;
    let report = read(&args.result)?;
    let config =
        Config::load(global.config.as_deref(), &Default::default()).map_err(Failure::input)?;
    let written = std::fs::metadata(&args.result)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| SystemTime::now());
    let context = RenderContext {
        fail_on: args.fail_on.unwrap_or(FailOn::Warning),
        queries_root: config.queries,
        timestamp: unix_seconds(written),
        duration: None,
        // A saved result shows whatever plans it holds.
        include_plans: true,
        color: global.color,
        verbose: global.verbose > 0,
        max_bytes: args.output.max_bytes,
    };
    write_outputs(&report, &targets, &context)?;
    Ok(args.fail_on.map_or(Exit::Success, |fail_on| {
        exit_for(&report, fail_on, args.strict)
    }))
}

/// Reads a saved JSON report, checking its `schema_version` first so that a
/// report of another version says so rather than failing on some key.
pub fn read(path: &Path) -> Result<Report, Failure> {
    let fail = |message: String| Failure::input(anyhow::anyhow!("{}: {message}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read the report: {e}")))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| fail(format!("not a JSON report (check --format json): {e}")))?;
    match value.get("schema_version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(fail(format!(
                "schema_version {v} is not supported: this planguard reads schema_version {SCHEMA_VERSION}"
            )));
        }
        None => {
            return Err(fail(
                "not a planguard report: no schema_version (write one with check --format json)"
                    .to_owned(),
            ));
        }
    }
    report::json::parse(&bytes).map_err(|e| fail(format!("not a valid planguard report: {e}")))
}
