//! Exit codes and the one error type that reaches `main`.
//!
//! Modules return their own `thiserror` enums; the command layer wraps them
//! in a [`Failure`] that knows its exit code (DESIGN.md, exit codes).

use std::fmt;

/// The process exit codes of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Nothing at or above `--fail-on`.
    Success = 0,
    /// Findings at or above `--fail-on`.
    Findings = 1,
    /// Usage, configuration or input error.
    Usage = 2,
    /// Database unreachable, or every query failed.
    Database = 3,
    /// Stopped by Ctrl-C (128 + SIGINT, as shells report it).
    Interrupted = 130,
}

impl Exit {
    /// The numeric exit code.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error on its way to `main`, with the exit code it maps to.
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Failure {
    /// A usage, configuration or input error (exit 2).
    pub fn input(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            exit: Exit::Usage,
            error: error.into(),
        }
    }

    /// The database could not be reached or used (exit 3).
    pub fn database(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            exit: Exit::Database,
            error: error.into(),
        }
    }

    /// A subcommand whose implementation has not landed yet (exit 2).
    pub fn not_built(command: &str) -> Failure {
        Failure::input(anyhow::anyhow!(
            "`planguard {command}` is not available in this version yet"
        ))
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (exit {})", self.error, self.exit.code())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}
