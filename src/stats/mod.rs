//! Planner statistics of one database (production) carried to another
//! (CI), so that CI plans the way production does: [`export`] reads them
//! into the versioned file of [`format`] (docs/stats.schema.json), and
//! [`import`] applies them, for good (`stats import`, PostgreSQL 18+) or
//! for one run's sessions only (`--stats`), with the planguard_stats
//! planner module (extension/planguard_stats) giving the planner the
//! file's table sizes.

pub mod export;
pub mod format;
pub mod import;

pub use export::{ExportOptions, Selection, export};
pub use format::{Loaded, StatsFile, read, write};
pub use import::{Prepared, prepare};
