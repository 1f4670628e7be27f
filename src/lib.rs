//! planguard: a PostgreSQL query-plan regression analyzer.
//!
//! The pipeline runs one way (DESIGN.md): query set, runner, plans,
//! analysis, findings, report. `main.rs` only parses arguments and maps the
//! result of [`run`] to an exit code.

pub mod advisor;
pub mod baseline;
pub mod capture;
pub mod cli;
pub mod config;
pub mod conn;
pub mod error;
pub mod hash;
pub mod history;
pub mod plan;
pub mod queryset;
pub mod report;
pub mod rules;
pub mod runner;
pub mod tempdb;

pub use cli::{Cli, run};
pub use error::{Exit, Failure};
