//! planguard: a PostgreSQL query-plan regression analyzer.
//!
//! The stages run one way (DESIGN.md): query set, runner, plans, analysis,
//! findings, report. [`pipeline`] strings them together for the command
//! line and for Rust programs alike; the `planguard` binary only parses
//! flags, calls it, renders and maps the outcome to an exit code.
//!
//! # Snapshot a saved plan's shape
//!
//! A plan from a file (JSON or text `EXPLAIN` output) parsed into the
//! typed tree, and its normalized shape (what `planguard snapshot`
//! stores) kept as an [insta](https://insta.rs) snapshot:
//!
//! ```
//! let text = "\
//! Hash Join  (cost=1.09..2.21 rows=4 width=68)
//!   Hash Cond: (o.customer_id = c.id)
//!   ->  Seq Scan on orders o  (cost=0.00..1.04 rows=4 width=36)
//!   ->  Hash  (cost=1.04..1.04 rows=4 width=36)
//!         ->  Index Scan using customers_pkey on customers c  (cost=0.00..1.04 rows=4 width=36)
//! ";
//! let plan = planguard::plan::parse(text)?;
//! assert_eq!(plan.root.count(), 4);
//! insta::assert_snapshot!(planguard::plan::shape::shape(&plan), @r"
//! Hash Join (Inner) [Hash Cond: (o.customer_id = c.id)]
//!   Seq Scan on orders o
//!   Hash
//!     Index Scan using customers_pkey on customers c
//! ");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Check a query set from a test
//!
//! Record baselines, then check the same queries against them and assert
//! that nothing regressed, as `planguard baseline` and `planguard check`
//! do (here on a throwaway cluster; give your test database's URL
//! instead):
//!
//! ```
//! use planguard::config::{Config, RunFlags};
//! use planguard::conn::ConnParams;
//! use planguard::pipeline::{self, CheckOptions, Options};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let db = planguard::tempdb::TempDb::start()?;
//! # let url = db.conninfo("postgres");
//! let dir = tempfile::tempdir()?;
//! std::fs::write(
//!     dir.path().join("types_by_name.sql"),
//!     "SELECT oid, typlen FROM pg_type WHERE typname = 'int4'",
//! )?;
//! let flags = RunFlags {
//!     queries: Some(dir.path().to_path_buf()),
//!     ..RunFlags::default()
//! };
//! let mut config = Config::load(None, &flags)?;
//! config.baselines = dir.path().join("baselines");
//! let options = Options::new(ConnParams::parse(&url)?, config);
//!
//! let recorded = pipeline::baseline(&options).await?;
//! assert_eq!(recorded.written.len(), 1);
//! let checked = pipeline::check(&options, &CheckOptions::default()).await?;
//! assert_eq!(checked.report.summary.ok, 1);
//! assert_eq!(checked.report.summary.regressions, 0);
//! # Ok(())
//! # }
//! ```

pub mod advisor;
pub mod baseline;
pub mod capture;
mod cli;
pub mod config;
pub mod conn;
pub mod error;
pub mod files;
pub mod hash;
pub mod history;
pub mod pipeline;
pub mod plan;
pub mod queryset;
pub mod report;
pub mod rules;
pub mod runner;
pub mod sql;
pub mod stats;
// Throwaway clusters: `planguard demo` and planguard's own tests.
#[cfg(feature = "testing")]
pub mod tempdb;
#[cfg(not(feature = "testing"))]
#[allow(dead_code)]
mod tempdb;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub use cli::Cli;
#[doc(hidden)]
pub use cli::main as command_line;
pub use error::{Exit, Failure};
