//! Exit codes, the one error type that reaches `main`, and how an error
//! is put into words.
//!
//! Modules return their own `thiserror` enums; the command layer wraps them
//! in a [`Failure`] that knows its exit code (DESIGN.md, exit codes). An
//! error's message does not repeat its cause (its `source()`): whoever
//! shows an error to a person shows its whole [`chain`].

use std::fmt;

/// An error and its causes on one line, joined with ": ", as libpq and
/// psql print theirs (`psql: error: connection to server ... failed: ...`):
/// `queries/a.sql: cannot read it: Is a directory (os error 21)`.
///
/// A `tokio_postgres::Error` ends the chain: its own message already
/// includes its cause, so it is shown once, as psql shows it
/// ([`crate::conn::describe_query_error`]).
pub fn chain<'a>(error: &'a (dyn std::error::Error + 'static)) -> Chain<'a> {
    Chain(error)
}

/// The [`Display`](fmt::Display) of [`chain`].
pub struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut next = Some(self.0);
        let mut first = true;
        while let Some(error) = next {
            if !first {
                f.write_str(": ")?;
            }
            first = false;
            if let Some(query) = error.downcast_ref::<tokio_postgres::Error>() {
                return f.write_str(&crate::conn::describe_query_error(query));
            }
            write!(f, "{error}")?;
            next = error.source();
        }
        Ok(())
    }
}

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

#[cfg(test)]
mod tests {
    use super::chain;

    #[test]
    fn a_chain_says_each_cause_once_on_one_line() {
        let io = std::io::Error::from(std::io::ErrorKind::IsADirectory);
        let error = crate::baseline::BaselineError::Read {
            path: "baselines/q.json".into(),
            source: io,
        };
        assert_eq!(
            error.to_string(),
            "baselines/q.json: cannot read the baseline"
        );
        assert_eq!(
            chain(&error).to_string(),
            "baselines/q.json: cannot read the baseline: is a directory"
        );
        let outer = anyhow::Error::new(error).context("check");
        assert_eq!(
            chain(&*outer).to_string(),
            "check: baselines/q.json: cannot read the baseline: is a directory"
        );
    }
}
