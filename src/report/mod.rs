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
pub mod sql;
pub mod table;
pub mod tree;
pub mod verdict;

pub use model::*;

/// Every output format, by the name `--format` takes: the one list the
/// CLI checks and dispatches on, and the tests iterate.
pub const FORMATS: &[&str] = &[
    "table",
    "json",
    "markdown",
    "junit",
    "github",
    "sarif",
    "prometheus",
    "html",
    "sql",
];

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

/// `1 query`, `2 queries`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `1 error, 3 warnings, 4 info`.
pub(crate) fn severity_words(c: &SeverityCounts) -> String {
    format!(
        "{}, {}, {} info",
        plural(c.error, "error", "errors"),
        plural(c.warning, "warning", "warnings"),
        c.info
    )
}

/// Text for HTML element content and attribute values (quoted with `"`).
pub(crate) fn html_escape(s: &str) -> String {
    let mut escaped = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}
