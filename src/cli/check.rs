//! `planguard check`: run the query set (or read saved plans), apply the
//! rules, compare with the baselines, report, and exit by `--fail-on`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::execute::{self, QueryRun};
use super::{CheckArgs, ColorChoice, FailOn, GlobalArgs, OutputArgs, output_width, use_color};
use crate::advisor::{self, Advice};
use crate::baseline::store::write_atomically;
use crate::baseline::{Baseline, Store};
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::plan::{self, Plan};
use crate::queryset::ParamValues;
use crate::report::{self, QueryReport, QueryResult, Report};
use crate::rules::{
    self, BaselineCtx, Context, GenericCtx, Observed, QueryError, QueryStatus, RulesConfig,
    Severity, Thresholds,
};
use crate::runner::{self, Job, Outcome};

use crate::report::FORMATS;

/// The formats that show the plans themselves (trees, shape diffs): for
/// them the report always carries the plans; the other formats get them
/// only with `--include-plans`.
const FORMATS_WITH_PLANS: &[&str] = &["html", "markdown"];

/// Whether any of these targets shows the plans (see
/// [`FORMATS_WITH_PLANS`]): the report must then be built with them.
pub fn needs_plans(targets: &[(String, Option<PathBuf>)]) -> bool {
    targets
        .iter()
        .any(|(format, _)| FORMATS_WITH_PLANS.contains(&format.as_str()))
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
    /// `--include-plans`: the formats other than [`FORMATS_WITH_PLANS`]
    /// show the report's plans too.
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
pub fn output_targets(output: &OutputArgs) -> Result<Vec<(String, Option<PathBuf>)>, Failure> {
    let specs = if output.format.is_empty() {
        vec!["table".to_owned()]
    } else {
        output.format.clone()
    };
    let mut targets = Vec::new();
    for spec in specs {
        let (format, file) = match spec.split_once(':') {
            Some((f, path)) if !path.is_empty() => (f.to_owned(), Some(PathBuf::from(path))),
            _ => (spec.clone(), None),
        };
        if !FORMATS.contains(&format.as_str()) {
            return Err(Failure::input(anyhow::anyhow!(
                "--format: unknown format `{format}`; one of: {}",
                FORMATS.join(", ")
            )));
        }
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
    targets: &[(String, Option<PathBuf>)],
    context: &RenderContext,
) -> Result<(), Failure> {
    let root = context.queries_root.to_string_lossy();
    let without_plans =
        (!context.include_plans && report.has_plans()).then(|| report.without_plans());
    for (format, file) in targets {
        let report = match &without_plans {
            Some(stripped) if !FORMATS_WITH_PLANS.contains(&format.as_str()) => stripped,
            _ => report,
        };
        let mut bytes = Vec::new();
        match format.as_str() {
            "json" => report::json::render(report, &mut bytes),
            "markdown" => report::markdown::render_within(report, context.max_bytes, &mut bytes),
            "html" => report::html::render(report, &mut bytes),
            "sql" => report::sql::render(report, &mut bytes),
            "junit" => report::junit::render(report, threshold(context.fail_on), &mut bytes),
            "github" => {
                append_step_summary(report)?;
                report::github::render(report, &root, &mut bytes)
            }
            "sarif" => report::sarif::render(report, &root, &mut bytes),
            "prometheus" => {
                let run = report::prometheus::RunTime {
                    timestamp: context.timestamp,
                    duration: context.duration,
                };
                report::prometheus::render(report, run, &mut bytes)
            }
            _ => {
                // Colours and a fitted width on stdout only: files get
                // plain text as wide as its content.
                let style = if file.is_none() {
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
                report::table::render(report, style, &mut bytes)
            }
        }
        .map_err(Failure::input)?;
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

fn rules_settings(config: &Config) -> Result<(Thresholds, RulesConfig), Failure> {
    let name = config
        .file
        .as_deref()
        .map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
    let thresholds = Thresholds::from_table(&config.thresholds)
        .map_err(|e| Failure::input(anyhow::anyhow!("{name}: [thresholds]: {e}")))?;
    let rules = RulesConfig::from_table(&config.rules)
        .map_err(|e| Failure::input(anyhow::anyhow!("{name}: {e}")))?;
    Ok((thresholds, rules))
}

/// A stored baseline with its plan parsed.
struct Loaded {
    record: Baseline,
    plan: Plan,
}

fn load_baseline(store: &Store, id: &str) -> Result<Option<Loaded>, Failure> {
    let Some(record) = store.load(id).map_err(Failure::input)? else {
        return Ok(None);
    };
    let plan = plan::parse_json_value(&record.plan).map_err(|e| {
        let path = store.path_for(id).unwrap_or_default();
        Failure::input(anyhow::anyhow!(
            "{}: the stored plan is not valid: {e}",
            path.display()
        ))
    })?;
    Ok(Some(Loaded { record, plan }))
}

pub async fn run(args: CheckArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let mut config = Config::load(global, &args.run).map_err(Failure::input)?;
    if let Some(dir) = &args.baselines {
        config.baselines = dir.clone();
    }
    let (thresholds, rules_config) = rules_settings(&config)?;
    let targets = output_targets(&args.output)?;
    let store = Store::new(&config.baselines);
    let include_plans = args.output.include_plans || needs_plans(&targets);

    if let Some(dir) = &args.plans {
        let context = RenderContext {
            fail_on: args.fail_on,
            queries_root: config.queries.clone(),
            timestamp: unix_seconds(SystemTime::now()),
            duration: None,
            include_plans: args.output.include_plans,
            color: global.color,
            verbose: global.verbose > 0,
            max_bytes: args.output.max_bytes,
        };
        let report = check_saved_plans(dir, &store, &thresholds, &rules_config, include_plans)?;
        write_outputs(&report, &targets, &context)?;
        return Ok(exit_for(&report, args.fail_on, args.strict));
    }

    let queries = execute::load_queries(&config)?;
    // Read every baseline before running anything: a broken one is an
    // input error (exit 2) naming the file, and nothing runs.
    let mut baselines = BTreeMap::new();
    for query in &queries {
        if let Some(loaded) = load_baseline(&store, &query.id)? {
            baselines.insert(query.id.clone(), loaded);
        }
    }
    let started = (SystemTime::now(), Instant::now());
    // A baseline's sampled values are bound again, so that the check
    // compares like with like (unless the statement changed since).
    let stored: BTreeMap<String, ParamValues> = queries
        .iter()
        .filter_map(|q| {
            let loaded = baselines.get(&q.id)?;
            let params = loaded.record.params.clone()?;
            (loaded.record.sql_sha256 == super::baseline::sha256_hex(&q.sql))
                .then(|| (q.id.clone(), params))
        })
        .collect();
    let set = execute::run_set(queries, &config, global, &stored).await?;
    let context = RenderContext {
        fail_on: args.fail_on,
        queries_root: config.queries.clone(),
        timestamp: unix_seconds(started.0),
        duration: Some(started.1.elapsed()),
        include_plans: args.output.include_plans,
        color: global.color,
        verbose: global.verbose > 0,
        max_bytes: args.output.max_bytes,
    };
    let server = report::Server {
        version: set.server.version.clone(),
        version_num: set.server.version_num,
    };
    // Today's statistics and indexes of every relation of every plan, the
    // baselines' too (a relation whose index was dropped still matters), in
    // one catalog query.
    let mut plans: Vec<&Plan> = baselines.values().map(|b| &b.plan).collect();
    plans.extend(set.runs.iter().filter_map(|r| match &r.outcome {
        Outcome::Ok(m) => Some(&m.median_run().plan),
        _ => None,
    }));
    let environment_all = super::baseline::environment_for(&set.runner, &plans).await;
    let (advice, planned) = if (rules_config.enabled("missing-index")
        || rules_config.enabled("redundant-index"))
        && !set.interrupted
        && set.runner.lost().is_none()
    {
        advise(&set, &config, &args, &thresholds, global).await
    } else {
        (Advice::default(), BTreeMap::new())
    };
    let mut reports = Vec::new();
    let mut ran = 0;
    let mut failed = 0;
    for QueryRun { query, outcome } in &set.runs {
        let thresholds = thresholds.with_overrides(&query.thresholds).map_err(|e| {
            Failure::input(anyhow::anyhow!("{}: thresholds: {e}", query.path.display()))
        })?;
        let baseline = baselines.get(&query.id);
        let (status, error, skip_reason, measured) = match outcome {
            Outcome::Ok(m) => (QueryStatus::Ok, None, None, Some(m)),
            Outcome::Error { message, sqlstate } => (
                QueryStatus::Error,
                Some(QueryError {
                    message: message.clone(),
                    sqlstate: sqlstate.clone(),
                }),
                None,
                None,
            ),
            Outcome::Timeout { message } => (
                QueryStatus::Timeout,
                Some(QueryError {
                    message: message.clone(),
                    sqlstate: Some("57014".to_owned()),
                }),
                None,
                None,
            ),
            Outcome::Skipped { reason } => {
                (QueryStatus::Skipped, None, Some(reason.as_str()), None)
            }
        };
        if status != QueryStatus::Skipped {
            ran += 1;
        }
        if error.is_some() {
            failed += 1;
        }
        let plan = measured.map(|m| &m.median_run().plan);
        let runs: Vec<_> = measured
            .map(|m| m.runs.iter().map(|r| r.figures.clone()).collect())
            .unwrap_or_default();
        if let Some(Some(Err(reason))) = measured.map(|m| &m.generic)
            && !global.quiet
        {
            eprintln!("note: {}: no generic plan: {reason}", query.id);
        }
        let environment = plan.map(|plan| {
            runner::environment_subset(
                &environment_all,
                std::iter::once(plan).chain(baseline.map(|b| &b.plan)),
            )
        });
        let ctx = Context {
            query_id: &query.id,
            status,
            error: error.as_ref(),
            plan,
            runs: &runs,
            baseline: baseline.map(|b| BaselineCtx {
                record: &b.record,
                plan: &b.plan,
            }),
            now: Observed {
                environment: environment.as_ref(),
                settings: plan.map(|p| &p.settings),
                server_version: Some(&set.server.version),
                advice: Some(&advice),
                generic: measured.and_then(|m| match &m.generic {
                    Some(Ok(g)) => Some(GenericCtx {
                        plan: &g.run.plan,
                        values: m.params.as_ref(),
                        common: g.common.as_ref().map(|c| (&c.plan, &c.values)),
                    }),
                    _ => None,
                }),
                planned: planned.get(&query.id),
            },
            thresholds: &thresholds,
        };
        let findings = rules::analyze(&ctx, &rules_config);
        let changes = rules::changes::changes(&ctx);
        reports.push(QueryReport::build(
            &QueryResult {
                id: &query.id,
                status,
                error: error.as_ref(),
                skip_reason,
                plan,
                runs: &runs,
                baseline: baseline.map(|b| &b.record),
                findings: &findings,
                params: measured.and_then(|m| m.params.as_ref()),
                changes: &changes,
            },
            include_plans,
        ));
    }
    let report = Report::new(Some(server), reports);
    write_outputs(&report, &targets, &context)?;
    if !global.quiet {
        let s = &report.summary;
        eprintln!(
            "check: {} queries, {} ok, {} failed, {} skipped, {} with regressions; findings: {} error, {} warning, {} info",
            s.queries,
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
    let lost = set.runner.lost();
    if let Some(reason) = &lost {
        eprintln!("error: {reason}");
    }
    Ok(if set.interrupted {
        Exit::Interrupted
    } else if lost.is_some() || (ran > 0 && failed == ran) {
        Exit::Database
    } else {
        exit_for(&report, args.fail_on, args.strict)
    })
}

/// Runs the index advisor over the plans of the queries that ran. Its
/// failure (a lost session) is a warning: the report goes on without
/// suggestions.
/// Runs the index advisor over the plans of the queries that ran, and of
/// those that timed out, planned again with plain EXPLAIN (they need advice
/// most); returns the advice and those plain plans by query id.
async fn advise(
    set: &execute::SetRun,
    config: &Config,
    args: &CheckArgs,
    thresholds: &Thresholds,
    global: &GlobalArgs,
) -> (Advice, BTreeMap<String, Plan>) {
    let mut planned: BTreeMap<String, Plan> = BTreeMap::new();
    let timed_out: Vec<&execute::QueryRun> = set
        .runs
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Timeout { .. }))
        .collect();
    if !timed_out.is_empty()
        && let Ok(client) = set.runner.session().await
    {
        for run in timed_out {
            let Ok(job) = execute::admit(&run.query, config) else {
                continue;
            };
            match set.runner.plan_only(&job, &client).await {
                Ok(plan) => {
                    planned.insert(run.query.id.clone(), plan);
                }
                Err(e) if !global.quiet => {
                    eprintln!(
                        "note: {}: timed out and could not be planned for index advice: {e}",
                        run.query.id
                    );
                }
                Err(_) => {}
            }
        }
        set.runner.give_back(client).await;
    }
    let mut jobs: Vec<(Job, &Plan, Option<u64>)> = set
        .runs
        .iter()
        .filter_map(|run| match &run.outcome {
            Outcome::Ok(m) => Some((
                // The values the run bound, so the advisor plans the same.
                Job {
                    params: m
                        .params
                        .as_ref()
                        .filter(|p| p.source != "generic")
                        .map(|p| p.values.clone()),
                    ..execute::admit(&run.query, config).ok()?
                },
                &m.median_run().plan,
                run.query.calls,
            )),
            _ => None,
        })
        .collect();
    for run in &set.runs {
        if let (Some(plan), Ok(job)) = (
            planned.get(&run.query.id),
            execute::admit(&run.query, config),
        ) {
            jobs.push((job, plan, run.query.calls));
        }
    }
    let inputs: Vec<advisor::Input> = jobs
        .iter()
        .map(|(job, plan, calls)| advisor::Input {
            job,
            plan,
            calls: *calls,
        })
        .collect();
    let options = advisor::Options {
        min_cost_drop: config.min_cost_drop,
        min_rows: thresholds.seq_scan_min_rows as f64,
        hypopg: args.hypopg.unwrap_or(config.hypopg),
        confirm: args.confirm,
    };
    let advice = match advisor::advise(&set.runner, &inputs, &options).await {
        Ok(advice) => advice,
        Err(e) => {
            eprintln!("warning: index advisor: {e}; the report has no index suggestions");
            return (Advice::default(), planned);
        }
    };
    if !global.quiet {
        for note in &advice.notes {
            eprintln!("note: {note}");
        }
    }
    if global.verbose > 0 && !global.quiet {
        for line in &advice.verbose {
            eprintln!("note: index advisor: {line}");
        }
        for u in &advice.unadvised {
            eprintln!(
                "note: index advisor: {} {} on {} (node {}): no index: {}: {}",
                u.query_id,
                u.node_type,
                u.relation,
                u.path,
                u.reason.describe(),
                u.detail
            );
        }
    }
    (advice, planned)
}

/// `check --plans DIR`: every `<id>.json` / `<id>.txt` (also
/// `<id>.plan.json` as capture writes them) checked offline against the
/// baselines, with no database.
fn check_saved_plans(
    dir: &Path,
    store: &Store,
    thresholds: &Thresholds,
    rules_config: &RulesConfig,
    include_plans: bool,
) -> Result<Report, Failure> {
    let mut files = Vec::new();
    collect_plan_files(dir, dir, &mut files).map_err(|e| {
        Failure::input(anyhow::anyhow!(
            "{}: cannot read the plans: {e}",
            dir.display()
        ))
    })?;
    if files.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "{}: no saved plans (*.json, *.txt) found",
            dir.display()
        )));
    }
    files.sort();
    let mut reports = Vec::new();
    for (id, path) in files {
        let plan = super::explain::load_plan(&path)?;
        let baseline = load_baseline(store, &id)?;
        let ctx = Context {
            query_id: &id,
            status: QueryStatus::Ok,
            error: None,
            plan: Some(&plan),
            runs: &[],
            baseline: baseline.as_ref().map(|b| BaselineCtx {
                record: &b.record,
                plan: &b.plan,
            }),
            now: Observed {
                environment: None,
                settings: Some(&plan.settings),
                server_version: None,
                advice: None,
                generic: None,
                planned: None,
            },
            thresholds,
        };
        let findings = rules::analyze(&ctx, rules_config);
        let changes = rules::changes::changes(&ctx);
        reports.push(QueryReport::build(
            &QueryResult {
                id: &id,
                status: QueryStatus::Ok,
                error: None,
                skip_reason: None,
                plan: Some(&plan),
                runs: &[],
                baseline: baseline.as_ref().map(|b| &b.record),
                findings: &findings,
                params: None,
                changes: &changes,
            },
            include_plans,
        ));
    }
    Ok(Report::new(None, reports))
}

fn collect_plan_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_plan_files(root, &path, out)?;
            continue;
        }
        let Some(stem) = [".plan.json", ".plan.txt", ".json", ".txt"]
            .iter()
            .find_map(|ext| name.strip_suffix(ext))
        else {
            continue;
        };
        let relative = path
            .parent()
            .and_then(|p| p.strip_prefix(root).ok())
            .map(|p| p.join(stem))
            .unwrap_or_else(|| PathBuf::from(stem));
        out.push((relative.to_string_lossy().into_owned(), path));
    }
    Ok(())
}
