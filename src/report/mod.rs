//! Stage `report`: one versioned [`Report`] model, one renderer per output
//! format (`fn render(&Report, &mut dyn Write)`), and the plan-tree
//! renderer of `explain` and `diff`. Renderers do no analysis.

pub mod escape;
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

/// An output format, by the name `--format` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Table,
    Json,
    Markdown,
    Junit,
    Github,
    Sarif,
    Prometheus,
    Html,
    Sql,
}

impl Format {
    /// Every format, in the order `--help` lists them: the one list the
    /// CLI checks and dispatches on, and the tests iterate.
    pub const ALL: [Format; 9] = [
        Format::Table,
        Format::Json,
        Format::Markdown,
        Format::Junit,
        Format::Github,
        Format::Sarif,
        Format::Prometheus,
        Format::Html,
        Format::Sql,
    ];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
            Format::Github => "github",
            Format::Sarif => "sarif",
            Format::Prometheus => "prometheus",
            Format::Html => "html",
            Format::Sql => "sql",
        }
    }

    /// The format of this name.
    pub fn named(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the format shows the plans themselves (trees, shape diffs):
    /// the report must then carry them, `--include-plans` or not.
    pub fn shows_plans(self) -> bool {
        matches!(self, Format::Html | Format::Markdown)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What some formats need besides the report (the renderers read no flags,
/// environment or clock).
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// The lowest severity that fails a JUnit test case (None: none does).
    pub fail_on: Option<crate::rules::Severity>,
    /// The query set's root as given (`queries`): query files are
    /// `<root>/<id>.sql` in GitHub annotations and SARIF locations.
    pub queries_root: String,
    /// When the run happened and how long it took (Prometheus).
    pub run: prometheus::RunTime,
    /// The table's colours, width and detail.
    pub table: table::Style,
    /// The Markdown report's budget in bytes.
    pub max_bytes: usize,
}

/// Writes `report` in `format`: the one dispatch from a format to its
/// renderer.
pub fn render(
    report: &Report,
    format: Format,
    options: &RenderOptions,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    match format {
        Format::Table => table::render(report, options.table, out),
        Format::Json => json::render(report, out),
        Format::Markdown => markdown::render_within(report, options.max_bytes, out),
        Format::Junit => junit::render(report, options.fail_on, out),
        Format::Github => github::render(report, &options.queries_root, out),
        Format::Sarif => sarif::render(report, &options.queries_root, out),
        Format::Prometheus => prometheus::render(report, options.run, out),
        Format::Html => html::render(report, out),
        Format::Sql => sql::render(report, out),
    }
}

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
    escape::escape(s, escape::Markup::Html)
}
