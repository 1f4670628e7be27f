//! Stage `report`: one versioned [`Report`] model, one renderer per output
//! format (`fn render(&Report, &mut dyn Write)`), and the plan-tree
//! renderer of `explain` and `diff`. Renderers do no analysis.

pub mod github;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod prometheus;
pub mod sarif;
pub mod table;
pub mod tree;

pub use model::*;
