//! Stage `report`: one versioned [`Report`] model, one renderer per output
//! format (`fn render(&Report, &mut dyn Write)`), no analysis.

pub mod json;
pub mod model;
pub mod table;

pub use model::*;
