//! Plans saved in files: JSON or text EXPLAIN output, planguard's
//! baselines, and results saved with `check --format json
//! --include-plans`.

use std::io::Read;
use std::path::Path;

use crate::error::Failure;
use crate::plan::{self, Plan};

/// The largest plan planguard reads: 256 MiB. Parsing takes memory in
/// proportion to the plan (up to about 14 times its bytes for a text plan
/// of many short nodes, see docs/SECURITY.md), so the cap bounds it at a
/// few GB; PostgreSQL's own plans stay far below it.
pub const MAX_PLAN_BYTES: u64 = 256 * 1024 * 1024;

/// A plan read from a file, and the baseline it came from when the file is
/// one of planguard's baselines.
pub struct Saved {
    pub plan: Plan,
    pub record: Option<crate::baseline::Baseline>,
}

/// Reads and parses a saved plan (JSON or text EXPLAIN output; `-` is
/// stdin), or planguard's own files: a baseline (its stored plan, with its
/// record), a result saved with `check --format json --include-plans`
/// (`query` picks the query when it holds several; its current plan). A
/// file that is not a plan, or is larger than [`MAX_PLAN_BYTES`], is an
/// input error naming the file.
pub fn load(path: &Path, query: Option<&str>) -> Result<Saved, Failure> {
    let name = if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    let text = read_text(path)?;
    let fail = |message: String| Failure::input(anyhow::anyhow!("{name}: {message}"));
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        && let Ok(serde_json::Value::Object(object)) =
            serde_json::from_str::<serde_json::Value>(trimmed)
    {
        if object.contains_key("format_version") && object.contains_key("query_id") {
            let record: crate::baseline::Baseline =
                serde_json::from_value(serde_json::Value::Object(object))
                    .map_err(|e| fail(format!("not a readable baseline: {e}")))?;
            let plan = plan::parse_json_value(&record.plan)
                .map_err(|e| fail(format!("the baseline's plan: {e}")))?;
            return Ok(Saved {
                plan,
                record: Some(record),
            });
        }
        if object.contains_key("schema_version") && object.contains_key("queries") {
            let queries = object["queries"].as_array().cloned().unwrap_or_default();
            let ids: Vec<&str> = queries.iter().filter_map(|q| q["id"].as_str()).collect();
            let chosen = match query {
                Some(id) => queries.iter().find(|q| q["id"] == id).ok_or_else(|| {
                    fail(format!(
                        "no query `{id}` in this result (it has: {})",
                        ids.join(", ")
                    ))
                })?,
                None if queries.len() == 1 => &queries[0],
                None => {
                    return Err(fail(format!(
                        "a saved result of {} queries: choose one with --query ID ({})",
                        queries.len(),
                        ids.join(", ")
                    )));
                }
            };
            let plan = &chosen["current"]["plan"];
            if plan.is_null() {
                return Err(fail(format!(
                    "the result holds no plan for `{}`: save it with `check --format json --include-plans`",
                    chosen["id"].as_str().unwrap_or_default()
                )));
            }
            let plan = plan::parse_json_value(plan).map_err(|e| fail(e.to_string()))?;
            return Ok(Saved { plan, record: None });
        }
    }
    let plan = plan::parse(&text).map_err(|e| fail(e.to_string()))?;
    Ok(Saved { plan, record: None })
}

/// [`load`]'s plan alone.
pub fn load_plan(path: &Path) -> Result<Plan, Failure> {
    load(path, None).map(|l| l.plan)
}

/// The file's text, at most [`MAX_PLAN_BYTES`].
fn read_text(path: &Path) -> Result<String, Failure> {
    let (name, reader): (String, Box<dyn Read>) = if path == Path::new("-") {
        ("<stdin>".to_owned(), Box::new(std::io::stdin()))
    } else {
        let name = path.display().to_string();
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::input(anyhow::anyhow!("{name}: cannot read: {e}")))?;
        (name, Box::new(file))
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::input(anyhow::anyhow!("{name}: cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return Err(Failure::input(anyhow::anyhow!(
            "{name}: the plan is larger than {} MiB, the most planguard reads",
            MAX_PLAN_BYTES / (1024 * 1024)
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        Failure::input(anyhow::anyhow!(
            "{name}: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}
