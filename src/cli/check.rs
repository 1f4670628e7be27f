//! `planguard check`: run the query set (or read saved plans), apply the
//! rules, compare with the baselines, report, and exit by `--fail-on`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{CheckArgs, ColorChoice, FailOn, GlobalArgs, OutputArgs, output_width, use_color};
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::files::write_atomically;
use crate::pipeline::{self, CheckOptions, Checked};
use crate::report::{self, Format, RenderOptions, Report};
use crate::rules::Severity;

/// Whether any of these targets shows the plans
/// ([`Format::shows_plans`]): the report must then be built with them.
pub fn needs_plans(targets: &[(Format, Option<PathBuf>)]) -> bool {
    targets.iter().any(|(format, _)| format.shows_plans())
}

/// What some formats need besides the report, gathered by the command (the
/// renderers read no flags, environment or clock).
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// `--fail-on`: the findings that fail a JUnit test case.
    pub fail_on: FailOn,
    /// The query set's root as given (`queries`): query files are
    /// `<root>/<id>.sql`.
    pub queries_root: PathBuf,
    /// When the run happened, in seconds since the Unix epoch.
    pub timestamp: u64,
    /// How long the run took, when known.
    pub duration: Option<Duration>,
    /// `--include-plans`: the formats that do not show plans
    /// ([`Format::shows_plans`]) get the report's plans too.
    pub include_plans: bool,
    /// `--color`, for the table on stdout.
    pub color: ColorChoice,
    /// `-v`: the table shows every finding in full.
    pub verbose: bool,
    /// `--max-bytes`: the Markdown report's budget.
    pub max_bytes: usize,
}

/// Seconds since the Unix epoch (0 for a time before it).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Where each format goes: stdout (None) or a file.
pub fn output_targets(output: &OutputArgs) -> Result<Vec<(Format, Option<PathBuf>)>, Failure> {
    let specs = if output.format.is_empty() {
        vec!["table".to_owned()]
    } else {
        output.format.clone()
    };
    let mut targets = Vec::new();
    for spec in specs {
        let (name, file) = match spec.split_once(':') {
            Some((f, path)) if !path.is_empty() => (f.to_owned(), Some(PathBuf::from(path))),
            _ => (spec.clone(), None),
        };
        let Some(format) = Format::named(&name) else {
            return Err(Failure::input(anyhow::anyhow!(
                "--format: unknown format `{name}`; one of: {}",
                Format::ALL.map(Format::name).join(", ")
            )));
        };
        targets.push((format, file.or_else(|| output.output.clone())));
    }
    let to_stdout = targets.iter().filter(|(_, f)| f.is_none()).count();
    if to_stdout > 1 {
        return Err(Failure::input(anyhow::anyhow!(
            "several formats would go to stdout: give each but one a file (--format json:report.json)"
        )));
    }
    Ok(targets)
}

/// Renders the report in each format to its target (files atomically).
pub fn write_outputs(
    report: &Report,
    targets: &[(Format, Option<PathBuf>)],
    context: &RenderContext,
) -> Result<(), Failure> {
    let without_plans =
        (!context.include_plans && report.has_plans()).then(|| report.without_plans());
    for (format, file) in targets {
        let report = match &without_plans {
            Some(stripped) if !format.shows_plans() => stripped,
            _ => report,
        };
        if *format == Format::Github {
            append_step_summary(report)?;
        }
        // Colours and a fitted width on stdout only: files get plain text
        // as wide as its content.
        let table = if file.is_none() {
            report::table::Style {
                color: use_color(context.color),
                width: output_width(),
                verbose: context.verbose,
            }
        } else {
            report::table::Style {
                verbose: context.verbose,
                ..report::table::Style::default()
            }
        };
        let options = RenderOptions {
            fail_on: threshold(context.fail_on),
            queries_root: context.queries_root.to_string_lossy().into_owned(),
            run: report::prometheus::RunTime {
                timestamp: context.timestamp,
                duration: context.duration,
            },
            table,
            max_bytes: context.max_bytes,
        };
        let mut bytes = Vec::new();
        report::render(report, *format, &options, &mut bytes).map_err(Failure::input)?;
        match file {
            Some(path) => write_atomically(path, &bytes).map_err(|e| {
                Failure::input(anyhow::anyhow!(
                    "{}: cannot write the report: {e}",
                    path.display()
                ))
            })?,
            None => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&bytes).map_err(Failure::input)?;
                stdout.flush().map_err(Failure::input)?;
            }
        }
    }
    Ok(())
}

/// In GitHub Actions (`GITHUB_STEP_SUMMARY` set), `--format github` also
/// appends the Markdown report to the job's step summary.
fn append_step_summary(report: &Report) -> Result<(), Failure> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let path = PathBuf::from(path);
    let mut markdown = Vec::new();
    report::markdown::render(report, &mut markdown).map_err(Failure::input)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(&markdown))
        .map_err(|e| {
            Failure::input(anyhow::anyhow!(
                "{} (GITHUB_STEP_SUMMARY): cannot append the step summary: {e}",
                path.display()
            ))
        })
}

/// The lowest severity `--fail-on` fails on (None for `never`).
pub fn threshold(fail_on: FailOn) -> Option<Severity> {
    match fail_on {
        FailOn::Never => None,
        FailOn::Error => Some(Severity::Error),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Info => Some(Severity::Info),
    }
}

/// The exit code for a report under `--fail-on`. A finding at or above it
/// counts when it is new: a regression against the baseline, or any
/// finding of a query without a baseline (nothing says it was there
/// before). A standing finding, one the baseline plan had too, counts only
/// with `strict`: an unchanged database passes.
pub fn exit_for(report: &Report, fail_on: FailOn, strict: bool) -> Exit {
    let Some(threshold) = threshold(fail_on) else {
        return Exit::Success;
    };
    let hit = report.queries.iter().any(|q| {
        q.findings
            .iter()
            .any(|f| f.severity >= threshold && (strict || f.regression || q.baseline.is_none()))
    });
    if hit { Exit::Findings } else { Exit::Success }
}

pub async fn run(args: CheckArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let mut config =
        Config::load(global.config.as_deref(), &args.run.flags()).map_err(Failure::input)?;
    if let Some(dir) = &args.baselines {
        config.baselines = dir.clone();
    }
    super::history::apply_flags(&mut config, &args.history);
    let targets = output_targets(&args.output)?;
    let include_plans = args.output.include_plans || needs_plans(&targets);
    let render = |timestamp, duration| RenderContext {
        fail_on: args.fail_on,
        queries_root: config.queries.clone(),
        timestamp,
        duration,
        include_plans: args.output.include_plans,
        color: global.color,
        verbose: global.verbose > 0,
        max_bytes: args.output.max_bytes,
    };

    if let Some(dir) = &args.plans {
        let report = pipeline::check_saved_plans(
            dir,
            &config.baselines,
            &config.thresholds,
            &config.rules,
            include_plans,
        )?;
        write_outputs(
            &report,
            &targets,
            &render(unix_seconds(SystemTime::now()), None),
        )?;
        return Ok(exit_for(&report, args.fail_on, args.strict));
    }
    let check = CheckOptions {
        hypopg: args.hypopg,
        confirm: args.confirm,
        include_plans,
    };
    let context = render(0, None);
    let mut options = super::progress::pipeline_options(config, global)?;
    options.allow_stats_mismatch = args.allow_stats_mismatch;
    let checked = pipeline::check(&options, &check).await?;
    finish(checked, &targets, context, args.strict, global)
}

/// Reports a finished check: the notes, the report in each format, the
/// summary line, then the exit code (`context` gets the run's time).
pub fn finish(
    checked: Checked,
    targets: &[(Format, Option<PathBuf>)],
    context: RenderContext,
    strict: bool,
    global: &GlobalArgs,
) -> Result<Exit, Failure> {
    super::progress::say_notes(&checked.notes, global);
    let context = RenderContext {
        timestamp: unix_seconds(checked.started),
        duration: Some(checked.duration),
        ..context
    };
    let report = &checked.report;
    write_outputs(report, targets, &context)?;
    if !global.quiet {
        let s = &report.summary;
        eprintln!(
            "check: {}, {} ok, {} failed, {} skipped, {} with regressions; findings: {} error, {} warning, {} info",
            crate::report::plural(s.queries, "query", "queries"),
            s.ok,
            s.failed,
            s.skipped,
            s.regressions,
            s.findings.error,
            s.findings.warning,
            s.findings.info
        );
    }
    // The server went away mid-run: the report above holds what finished.
    if let Some(reason) = &checked.lost {
        eprintln!("error: {reason}");
    } else if !checked.interrupted && checked.ran > 0 && checked.failed == checked.ran {
        // Exit 3 says why on stderr, with the first query's cause (the
        // report has every one).
        let first = report
            .queries
            .iter()
            .find_map(|q| Some((&q.id, q.error.as_deref()?)));
        match first {
            Some((id, cause)) => eprintln!(
                "error: every query failed ({} of {}); the first, {id}: {cause}",
                checked.failed, checked.ran
            ),
            None => eprintln!("error: every query failed ({})", checked.ran),
        }
    }
    Ok(if checked.interrupted {
        Exit::Interrupted
    } else if checked.lost.is_some() || (checked.ran > 0 && checked.failed == checked.ran) {
        Exit::Database
    } else {
        exit_for(report, context.fail_on, strict)
    })
}
