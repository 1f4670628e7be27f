//! Stage `report`: one versioned [`Report`] model, one renderer per output
//! format (`fn render(&Report, &mut dyn Write)`), and the plan-tree
//! renderer of `explain` and `diff`. Renderers do no analysis.

pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod prometheus;
pub mod sarif;
pub mod table;
pub mod tree;

pub use model::*;

/// A unified diff of two texts with three lines of context, as `git diff`
/// prints it (empty when they are equal). Used for plan shapes by
/// `snapshot --check` and the Markdown report.
pub fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}
