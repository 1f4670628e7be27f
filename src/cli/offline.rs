//! The report of the offline commands (DESIGN.md, JSON report): `explain
//! FILE --format F` is a report with one query whose `current` comes from
//! the file; `diff OLD NEW --format F` also fills `baseline` from OLD and
//! runs the baseline rules, exactly as `check` would.

use std::path::{Path, PathBuf};

use super::check::{RenderContext, output_targets, unix_seconds, write_outputs};
use super::{ColorChoice, FailOn, OutputArgs};
use crate::baseline::{Baseline, Environment, FORMAT_VERSION, Summary};
use crate::error::Failure;
use crate::plan::{self, Plan};
use crate::report::{QueryReport, QueryResult, Report};
use crate::rules::{self, BaselineCtx, Context, Observed, QueryStatus, RulesConfig, Thresholds};
use crate::runner::figures;

/// The query id of a saved plan: its file name without `.plan.json`,
/// `.json`, `.txt` and the like.
pub fn id_of(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("stdin");
    [".plan.json", ".plan.txt", ".json", ".txt", ".plan"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name)
        .to_owned()
}

/// A baseline record made from a saved plan, as `baseline` would have
/// stored it from one run (no environment: nothing was read from a
/// database). The plan's JSON is written back only `with_plan` (reports
/// that show it): for a huge plan it costs several times the plan.
pub fn baseline_of(id: &str, plan: &Plan, with_plan: bool) -> Baseline {
    let run = figures(plan);
    Baseline {
        format_version: FORMAT_VERSION,
        query_id: id.to_owned(),
        sql_sha256: String::new(),
        server_version: String::new(),
        server_version_num: 0,
        recorded_at: String::new(),
        analyze: plan.execution_time_ms.is_some(),
        settings: plan.settings.clone(),
        summary: Summary {
            total_cost: plan.root.total_cost.unwrap_or(0.0),
            execution_ms_median: run.execution_ms,
            execution_ms_max: run.execution_ms,
            planning_ms_median: run.planning_ms,
            shared_blocks_median: run.shared_hit + run.shared_read,
            nodes: plan.root.count(),
            fingerprint: plan::shape::fingerprint(plan),
        },
        runs: vec![run],
        environment: Environment::default(),
        params: None,
        generic: None,
        stats_sha256: None,
        plan: if with_plan {
            plan::to_json(plan)
        } else {
            serde_json::Value::Null
        },
    }
}

/// What was observed on the server when the new plan was made live
/// (`diff BASELINE -d`): its counted runs, today's environment of its
/// relations, the server version and the values bound.
pub struct Live<'a> {
    pub runs: &'a [crate::baseline::RunFigures],
    pub environment: &'a Environment,
    pub server_version: &'a str,
    pub params: Option<&'a crate::queryset::ParamValues>,
}

/// The report of one plan, compared with `old` when given; `recorded` is
/// `old`'s baseline when it came from one (its figures, settings and
/// environment then), else a record is made from the plan alone.
pub fn report_of(
    id: &str,
    plan: &Plan,
    old: Option<&Plan>,
    recorded: Option<&Baseline>,
    include_plans: bool,
) -> Report {
    report_live(id, plan, old, recorded, None, include_plans)
}

/// [`report_of`] with what was observed live, when the plan was made now.
pub fn report_live(
    id: &str,
    plan: &Plan,
    old: Option<&Plan>,
    recorded: Option<&Baseline>,
    live: Option<&Live>,
    include_plans: bool,
) -> Report {
    let thresholds = Thresholds::default();
    let record = old.map(|o| match recorded {
        Some(r) => {
            let mut r = r.clone();
            if !include_plans {
                r.plan = serde_json::Value::Null;
            }
            r
        }
        None => baseline_of(id, o, include_plans),
    });
    let runs = match live {
        Some(live) => live.runs.to_vec(),
        None => vec![figures(plan)],
    };
    let ctx = Context {
        query_id: id,
        status: QueryStatus::Ok,
        error: None,
        plan: Some(plan),
        runs: &runs,
        baseline: record
            .as_ref()
            .zip(old)
            .map(|(record, plan)| BaselineCtx { record, plan }),
        now: Observed {
            environment: live.map(|l| l.environment),
            settings: Some(&plan.settings),
            server_version: live.map(|l| l.server_version),
            advice: None,
            generic: None,
            planned: None,
            history: None,
        },
        thresholds: &thresholds,
    };
    let mut findings = rules::analyze(&ctx, &RulesConfig::default());
    let changes = rules::changes::changes(&ctx);
    if old.is_none() {
        // One plan on its own has no baseline to miss.
        findings.retain(|f| f.rule != "new-query");
    }
    let query = QueryReport::build(
        &QueryResult {
            id,
            status: QueryStatus::Ok,
            error: None,
            skip_reason: None,
            plan: Some(plan),
            runs: &runs,
            baseline: record.as_ref(),
            findings: &findings,
            params: live.and_then(|l| l.params),
            changes: &changes,
        },
        include_plans,
    );
    Report::new(None, vec![query])
}

/// Splits the output targets of an offline command: `table` targets get
/// the command's own rendering (the plan tree), the others the report.
pub fn write_report_targets(
    output: &OutputArgs,
    report: impl FnOnce(bool) -> Report,
    mut table: impl FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let targets = output_targets(output)?;
    let with_plans = output.include_plans || super::check::needs_plans(&targets);
    let (tables, others): (Vec<_>, Vec<_>) = targets
        .into_iter()
        .partition(|(f, _)| *f == crate::report::Format::Table);
    for (_, file) in tables {
        let mut bytes = Vec::new();
        table(&mut bytes).map_err(Failure::input)?;
        match file {
            Some(path) => crate::files::write_atomically(&path, &bytes).map_err(|e| {
                Failure::input(anyhow::anyhow!("{}: cannot write: {e}", path.display()))
            })?,
            None => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes).map_err(Failure::input)?;
                out.flush().map_err(Failure::input)?;
            }
        }
    }
    if !others.is_empty() {
        let context = RenderContext {
            fail_on: FailOn::Warning,
            queries_root: PathBuf::from("queries"),
            timestamp: unix_seconds(std::time::SystemTime::now()),
            duration: None,
            include_plans: output.include_plans,
            color: ColorChoice::Never,
            verbose: false,
            max_bytes: output.max_bytes,
        };
        write_outputs(&report(with_plans), &others, &context)?;
    }
    Ok(())
}
