//! The stages of a run, below the command line: load and validate the
//! query set, select, admit, run, read the environment, advise, analyze,
//! and build the report model.
//!
//! `baseline`, `check`, `snapshot`, `explain --sql` and `demo` call these
//! with typed options, and so can a Rust program (its own tests, say):
//! nothing here parses flags, prints, or decides an exit code. What a
//! command would say on stderr comes back as [`Note`]s.
//!
//! Promise: every statement sent to a server was admitted by
//! [`Runner::admit`](crate::runner::Runner::admit) from a classified
//! query of the set; every file written is written atomically.

use std::sync::Arc;

use crate::config::Config;
use crate::conn::ConnParams;
use crate::runner::Event;

pub mod baseline;
pub mod check;
mod run;
pub mod saved;
pub mod snapshot;

pub use baseline::{Recorded, baseline};
pub use check::{CheckOptions, Checked, Rerun, check, check_saved_plans, run_again};
pub use run::{QueryRun, SetRun, load_queries, plan_query};
pub use snapshot::{SnapshotMode, Snapshots, snapshot};

/// Called with each query's start and end, as they happen (a progress bar).
pub type OnEvent = Arc<dyn Fn(Event<'_>) + Send + Sync>;

/// Where a pipeline runs and with what: the database, the validated
/// configuration, and who listens.
#[derive(Clone)]
pub struct Options {
    /// The database.
    pub conn: ConnParams,
    /// The configuration, validated ([`Config::load`]).
    pub config: Config,
    /// Progress, as queries start and finish.
    pub on_event: Option<OnEvent>,
    /// Stop at Ctrl-C: cancel the running statement and return what
    /// finished, marked interrupted. A command line wants this; a library
    /// caller usually handles signals itself.
    pub stop_on_ctrl_c: bool,
    /// Compare with baselines and snapshots recorded under another `--stats`
    /// file (a warning) instead of refusing to (an input error).
    pub allow_stats_mismatch: bool,
}

impl Options {
    /// Options for `config` on the database `conn`, with no listener.
    pub fn new(conn: ConnParams, config: Config) -> Options {
        Options {
            conn,
            config,
            on_event: None,
            stop_on_ctrl_c: false,
            allow_stats_mismatch: false,
        }
    }
}

/// Something a command would tell its user on stderr, by how much they
/// asked to hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub level: Level,
    /// One line, without a `note:` or `warning:` prefix.
    pub text: String,
}

/// How loud a [`Note`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only when asked for detail (`-v`).
    Detail,
    /// Unless quiet (`note:`).
    Note,
    /// Always (`warning:`): something did not happen that should have.
    Warning,
}

impl Note {
    pub(crate) fn say(text: String) -> Note {
        Note {
            level: Level::Note,
            text,
        }
    }

    pub(crate) fn detail(text: String) -> Note {
        Note {
            level: Level::Detail,
            text,
        }
    }

    pub(crate) fn warn(text: String) -> Note {
        Note {
            level: Level::Warning,
            text,
        }
    }
}
