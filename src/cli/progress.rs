//! What a run command shows on stderr while the pipeline works: progress,
//! then the pipeline's notes; and the pipeline's options for it.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::GlobalArgs;
use crate::config::Config;
use crate::conn::ConnParams;
use crate::error::Failure;
use crate::pipeline::{Level, Note, Options};
use crate::runner::{Event, Outcome};

/// Progress on stderr: a bar on a terminal, a line per query with -v,
/// nothing otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
    verbose: bool,
}

impl Progress {
    pub fn new(global: &GlobalArgs) -> Progress {
        let bar =
            (!global.quiet && global.verbose == 0 && std::io::stderr().is_terminal()).then(|| {
                let bar = ProgressBar::new(0);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] query {pos}/{len} {wide_msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            });
        Progress {
            bar,
            verbose: !global.quiet && global.verbose > 0,
        }
    }

    pub fn event(&self, event: &Event<'_>) {
        match event {
            Event::Started { id, total, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(*total as u64);
                    bar.set_message(id.to_string());
                }
            }
            Event::Finished {
                index,
                total,
                id,
                outcome,
                elapsed,
            } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                    if bar.position() >= bar.length().unwrap_or(0) {
                        bar.finish_and_clear();
                    }
                }
                if self.verbose {
                    let status = match outcome {
                        Outcome::Ok(m) if m.retried => {
                            "ok (retried after a lost connection)".to_owned()
                        }
                        Outcome::Ok(_) => "ok".to_owned(),
                        Outcome::Error { message, .. } => format!("error: {message}"),
                        Outcome::Timeout { message } => format!("timeout: {message}"),
                        Outcome::Skipped { reason } => format!("skipped: {reason}"),
                    };
                    eprintln!(
                        "[{}/{total}] {id}: {status} ({:.1} s)",
                        index + 1,
                        elapsed.as_secs_f64()
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The pipeline's options for a run command: the database from `-d` (or
/// the environment), progress on stderr, Ctrl-C stops the run.
pub fn pipeline_options(config: Config, global: &GlobalArgs) -> Result<Options, Failure> {
    let conn = ConnParams::resolve(global.dbname.as_deref()).map_err(Failure::input)?;
    let progress = Progress::new(global);
    Ok(Options {
        conn,
        config,
        on_event: Some(std::sync::Arc::new(move |event| progress.event(&event))),
        stop_on_ctrl_c: true,
        allow_stats_mismatch: false,
    })
}

/// Prints the pipeline's notes on stderr, as loud as `-q` / `-v` allow.
pub fn say_notes(notes: &[Note], global: &GlobalArgs) {
    for note in notes {
        match note.level {
            Level::Warning => eprintln!("warning: {}", note.text),
            Level::Note if !global.quiet => eprintln!("note: {}", note.text),
            Level::Detail if !global.quiet && global.verbose > 0 => {
                eprintln!("note: {}", note.text)
            }
            _ => {}
        }
    }
}
