//! `planguard capture`: write the statements a database runs as a query
//! set, from pg_stat_statements or from a PostgreSQL log.

use anyhow::anyhow;

use super::{CaptureArgs, CaptureOrder, CaptureSource, GlobalArgs};
use crate::capture::{self, Order, Selection, Source};
use crate::conn::ConnParams;
use crate::error::{Exit, Failure};

pub async fn run(args: CaptureArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let selection = Selection {
        order: match args.order_by {
            CaptureOrder::Total => Order::Total,
            CaptureOrder::Mean => Order::Mean,
            CaptureOrder::Calls => Order::Calls,
        },
        min_calls: args.min_calls,
        limit: usize::try_from(args.limit).unwrap_or(usize::MAX),
    };
    let say = |line: &str| {
        if !global.quiet {
            eprintln!("capture: {line}");
        }
    };
    let mut hidden = None;
    let (candidates, source) = match args.from {
        CaptureSource::PgStatStatements => {
            if let Some(file) = &args.file {
                return Err(Failure::input(anyhow!(
                    "{} is not read with --from pg_stat_statements, which reads the database given with -d; use --from log to read a log file",
                    file.display()
                )));
            }
            let params = ConnParams::resolve(global.dbname.as_deref()).map_err(Failure::input)?;
            let client = params.connect().await.map_err(Failure::database)?;
            let found = capture::stat_statements::fetch(&client)
                .await
                .map_err(Failure::database)?;
            if found.hidden > 0 {
                hidden = Some((found.role.clone(), found.hidden));
            }
            (found.candidates, Source::PgStatStatements)
        }
        CaptureSource::Log => {
            let Some(file) = &args.file else {
                return Err(Failure::input(anyhow!(
                    "--from log needs the log file to read: planguard capture --from log FILE --out DIR"
                )));
            };
            let found = capture::log::read_file(file).map_err(Failure::input)?;
            if global.verbose > 0 {
                say(&format!(
                    "read {} messages from {} ({} format), {} statements",
                    found.messages,
                    file.display(),
                    found.format,
                    found.candidates.len()
                ));
            }
            if found.skipped > 0 {
                say(&format!(
                    "skipped {} unreadable lines or plans in {}",
                    found.skipped,
                    file.display()
                ));
            }
            (found.candidates, Source::Log)
        }
    };
    let (queries, left_out) = capture::select(candidates, source, &selection);
    if let Some((role, hidden)) = hidden {
        if queries.is_empty() {
            return Err(Failure::database(
                capture::stat_statements::StatStatementsError::AllHidden { role, hidden },
            ));
        }
        say(&format!(
            "{hidden} statements of other roles are hidden from role \"{role}\"; `GRANT pg_read_all_stats TO \"{role}\";` shows them"
        ));
    }
    if global.verbose > 0 {
        if let Some(line) = left_out.describe() {
            say(&line);
        }
    }
    let summary = capture::write_set(&args.out, &queries).map_err(Failure::input)?;
    if !global.quiet {
        eprintln!("{}", summary.line());
        if !summary.plans.is_empty() {
            say(&format!(
                "wrote {} auto_explain plans next to their queries",
                summary.plans.len()
            ));
        }
    }
    Ok(Exit::Success)
}
