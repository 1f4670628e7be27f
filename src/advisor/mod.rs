//! Index advisor stage (the `missing-index` rule's evidence).
//!
//! Rules are pure; the advisor reads the plans and, later, the catalog and
//! HypoPG, so it lives in its own stage. This first part is pure: it reads the
//! conditions PostgreSQL prints in a plan and classifies each column use.

pub mod candidate;
pub mod hypo;
pub mod predicates;

pub use predicates::{ColumnUse, UseKind, parse_condition};
