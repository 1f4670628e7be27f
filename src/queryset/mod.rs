//! Stage `query set`: the `.sql` files planguard runs and the kind of
//! statement each holds.
//!
//! Promises: every statement is classified before anything is sent to a
//! server (see [`classify`]).

mod classify;
mod lex;

pub use classify::{DmlKind, Statement, classify};
