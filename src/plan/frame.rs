//! Stage `plans`: removes the framing people paste around EXPLAIN output,
//! for both the JSON and the text parser.
//!
//! Handled: psql's `QUERY PLAN` header (also a helper function's name as
//! header, and a header wrapped by the terminal), the `----`/`════` rule
//! under it, the `(N rows)` footer (in any language), table borders of every
//! psql linestyle and border setting (`│ … │`, `| … |`, `+---+`, `┌─┐`), the
//! newline markers of aligned output (`+`, `↵`) and the wrap marker (`…`),
//! the leading margin space of aligned output (a row that lacks it was
//! wrapped by a terminal and continues the previous one), lines quoted by a
//! GUI or a CSV export (`"…"`, `'…'`), and auto_explain log entries
//! (`LOG:  duration: 1.2 ms  plan:` then tab-indented lines).
//!
//! Promises: never panics; every line it returns remembers where it came
//! from, so errors point into the input as the user gave it.

use std::borrow::Cow;

/// One line of the plan with its framing removed.
#[derive(Debug, Clone)]
pub(crate) struct Line<'a> {
    /// The content, without borders, markers, quotes or log prefix. It may
    /// keep trailing spaces (they matter when a terminal wrapped the line).
    pub text: Cow<'a, str>,
    /// 1-based line number in the input.
    pub number: usize,
    /// The physical line of the input this one came from.
    pub raw: &'a str,
    /// Byte offset in `raw` where `text` starts (when `text` is borrowed).
    pub offset: usize,
    /// The framing says this line is the tail of the previous one (a psql
    /// wrap marker, or a missing margin in aligned output).
    pub continues: bool,
}

impl Line<'_> {
    /// 1-based column in the input line of byte `at` of `text`.
    pub fn column_of(&self, at: usize) -> usize {
        let end = self.offset.saturating_add(at);
        let prefix = self.raw.get(..end).unwrap_or(self.raw);
        prefix.chars().count() + 1
    }

    /// Whether the content is only whitespace.
    pub fn is_blank(&self) -> bool {
        self.text.trim_ascii().is_empty()
    }
}

/// The plan lines of an input, framing removed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unframed<'a> {
    pub lines: Vec<Line<'a>>,
}

impl<'a> Unframed<'a> {
    /// The first line with content.
    pub fn first_content(&self) -> Option<&Line<'a>> {
        self.lines.iter().find(|l| !l.is_blank())
    }

    /// The content as one string (for the JSON parser), with a map from
    /// each of its lines (0-based) to the input line it came from and the
    /// column (1-based) its text starts at there.
    pub fn to_text(&self) -> (String, Vec<(usize, usize)>) {
        let mut out = String::with_capacity(self.lines.iter().map(|l| l.text.len() + 1).sum());
        let mut map = Vec::with_capacity(self.lines.len());
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 && !line.continues {
                out.push('\n');
            }
            if i == 0 || !line.continues {
                map.push((line.number, line.column_of(0)));
            }
            out.push_str(&line.text);
        }
        (out, map)
    }
}

/// Removes the framing around an EXPLAIN output.
pub(crate) fn unframe(input: &str) -> Unframed<'_> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let physical = split_lines(input);
    let mut lines = select_log_entry(&physical).unwrap_or(physical);
    let aligned = drop_header(&mut lines);
    drop_footer(&mut lines);
    lines.retain(|l| !is_rule(&l.text));
    strip_borders(&mut lines);
    strip_markers(&mut lines);
    strip_quotes(&mut lines);
    if aligned {
        mark_unmargined(&mut lines);
    }
    while lines.last().is_some_and(Line::is_blank) {
        lines.pop();
    }
    Unframed { lines }
}

fn split_lines(input: &str) -> Vec<Line<'_>> {
    input
        .split('\n')
        .enumerate()
        .map(|(i, raw)| {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            // Web pages and some GUIs indent with no-break spaces.
            let text = if raw.contains('\u{a0}') {
                Cow::Owned(raw.replace('\u{a0}', " "))
            } else {
                Cow::Borrowed(raw)
            };
            Line {
                text,
                number: i + 1,
                raw,
                offset: 0,
                continues: false,
            }
        })
        .collect()
}

/// Narrows `line` to the sub-slice `[from, to)` of its current text.
fn narrow(line: &mut Line<'_>, from: usize, to: usize) {
    if from == 0 && to == line.text.len() {
        return;
    }
    match &mut line.text {
        Cow::Borrowed(s) => {
            if let Some(sub) = s.get(from..to) {
                *s = sub;
                line.offset += from;
            }
        }
        Cow::Owned(s) => {
            if let Some(sub) = s.get(from..to) {
                *s = sub.to_owned();
            }
        }
    }
}

/// auto_explain writes `duration: 1.234 ms  plan:` and the plan on the
/// following lines; the server log indents the continuation lines of a
/// message with a tab (elog.c, `append_with_tabs`), and the next log entry
/// starts at column 0.
fn select_log_entry<'a>(lines: &[Line<'a>]) -> Option<Vec<Line<'a>>> {
    let start = lines.iter().position(|l| {
        let t = l.text.trim_ascii_end();
        t.ends_with("plan:") && t.contains("duration: ")
    })?;
    let body = lines.get(start + 1..)?;
    let tabbed = body.first().is_some_and(|l| l.text.starts_with('\t'));
    let mut out = Vec::new();
    for line in body {
        let mut line = line.clone();
        if tabbed {
            if !line.text.starts_with('\t') {
                break;
            }
            let len = line.text.len();
            narrow(&mut line, 1, len);
        }
        out.push(line);
    }
    Some(out)
}

/// Vertical table borders of psql's linestyles.
const BORDERS: [char; 3] = ['│', '|', '║'];

/// The content of a table cell: borders and surrounding blanks removed.
fn cell(text: &str) -> &str {
    let t = text.trim_ascii();
    let t = t.strip_prefix(BORDERS).unwrap_or(t);
    let t = t.strip_suffix(BORDERS).unwrap_or(t);
    t.trim_ascii()
}

/// A horizontal rule of a psql table: a header underline or a border
/// (ascii `-`, `+`, `|`; unicode box drawing, single or double).
fn is_rule(text: &str) -> bool {
    let t = text.trim_ascii();
    let mut dashes = 0;
    for c in t.chars() {
        match c {
            '-' | '─' | '═' | '━' => dashes += 1,
            '+' | '|' | '\u{2500}'..='\u{257f}' => {}
            _ => return false,
        }
    }
    dashes >= 3
}

/// A line that can be a column header: one short name.
fn is_header_like(text: &str) -> bool {
    let c = cell(text);
    !c.is_empty()
        && c.len() <= 64
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b' ')
}

/// Drops everything up to and including psql's column header and the rule
/// under it. Returns whether a header was found (the output is aligned).
fn drop_header(lines: &mut Vec<Line<'_>>) -> bool {
    let mut start = None;
    if let Some(h) = lines.iter().position(|l| cell(&l.text) == "QUERY PLAN") {
        start = Some(h + 1);
    } else {
        let mut previous: Option<&str> = None;
        for (i, line) in lines.iter().enumerate() {
            if line.is_blank() {
                continue;
            }
            if is_rule(&line.text) {
                if previous.is_none_or(is_header_like) {
                    start = Some(i);
                }
                break;
            }
            previous = Some(&line.text);
        }
    }
    let Some(mut start) = start else {
        return false;
    };
    while lines
        .get(start)
        .is_some_and(|l| l.is_blank() || is_rule(&l.text))
    {
        start += 1;
    }
    lines.drain(..start.min(lines.len()));
    true
}

/// psql's `(N rows)` footer, in any language: `(1 row)`, `(23 lignes)`.
fn is_footer(text: &str) -> bool {
    let t = text.trim_ascii();
    let Some(inner) = t.strip_prefix('(').and_then(|t| t.strip_suffix(')')) else {
        return false;
    };
    let digits = inner.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && inner[digits..].starts_with(' ')
        && inner[digits + 1..]
            .chars()
            .all(|c| c.is_alphabetic() || c == ' ')
}

fn drop_footer(lines: &mut Vec<Line<'_>>) {
    if let Some(f) = lines.iter().position(|l| is_footer(&l.text)) {
        lines.truncate(f);
    }
}

/// Left and right table borders (`│ … │`, `| … |`), present on every row.
fn strip_borders(lines: &mut [Line<'_>]) {
    let content = || lines.iter().filter(|l| !l.is_blank());
    let left =
        content().count() > 0 && content().all(|l| l.text.trim_ascii_start().starts_with(BORDERS));
    let right =
        content().count() > 0 && content().all(|l| l.text.trim_ascii_end().ends_with(BORDERS));
    if !left && !right {
        return;
    }
    for line in lines.iter_mut().filter(|l| !l.is_blank()) {
        let t: &str = &line.text;
        let mut from = 0;
        let mut to = t.trim_ascii_end().len();
        if left {
            let lead = t.len() - t.trim_ascii_start().len();
            let border = t[lead..].chars().next().map_or(0, char::len_utf8);
            from = lead + border;
            if t[from..].starts_with(' ') {
                from += 1;
            }
        }
        if right {
            let body = &t[..to];
            let border = body.chars().next_back().map_or(0, char::len_utf8);
            to -= border;
            to = from.max(t[..to].trim_ascii_end().len());
        }
        if from > to {
            from = to;
        }
        narrow(line, from, to);
    }
}

/// Newline markers at the end of an aligned cell (`+` in ascii, `↵` in
/// unicode linestyle) and the wrap marker (`…`): the next line continues
/// this one. A `+` is a marker only when most lines end with one (JSON
/// output is one cell of many lines); text EXPLAIN lines never end with it.
fn strip_markers(lines: &mut [Line<'_>]) {
    let content = lines.iter().filter(|l| !l.is_blank()).count();
    let plus = lines
        .iter()
        .filter(|l| l.text.trim_ascii_end().ends_with('+'))
        .count();
    let plus_markers = plus > 0 && plus * 2 >= content;
    let mut wrapped = false;
    for line in lines.iter_mut() {
        if wrapped {
            line.continues = true;
        }
        wrapped = false;
        let trimmed = line.text.trim_ascii_end();
        let to = if let Some(rest) = trimmed.strip_suffix('↵') {
            Some(rest.trim_ascii_end().len())
        } else if let Some(rest) = trimmed.strip_suffix('…') {
            wrapped = true;
            Some(rest.len())
        } else {
            trimmed
                .strip_suffix('+')
                .filter(|_| plus_markers)
                .map(|rest| rest.trim_ascii_end().len())
        };
        if let Some(to) = to {
            narrow(line, 0, to);
        }
    }
}

/// Lines a GUI or a CSV export put in quotes.
fn strip_quotes(lines: &mut [Line<'_>]) {
    let content: Vec<&str> = lines
        .iter()
        .filter(|l| !l.is_blank())
        .map(|l| l.text.trim_ascii())
        .collect();
    if content.is_empty() {
        return;
    }
    let all = |f: &dyn Fn(&str) -> bool| content.iter().all(|t| f(t));
    let (lead, trail, unescape) =
        if all(&|t| t.len() >= 2 && t.starts_with('"') && t.ends_with('"')) {
            (true, true, true)
        } else if all(&|t| t.len() >= 2 && t.starts_with('\'') && t.ends_with('\'')) {
            (true, true, false)
        } else if all(&|t| t.ends_with('"') && !t.starts_with('"')) {
            (false, true, false)
        } else {
            return;
        };
    for line in lines.iter_mut().filter(|l| !l.is_blank()) {
        let t: &str = &line.text;
        let start = t.len() - t.trim_ascii_start().len();
        let end = t.trim_ascii_end().len();
        let from = if lead { start + 1 } else { 0 };
        let to = if trail { end - 1 } else { end };
        if from > to {
            continue;
        }
        narrow(line, from, to);
        if unescape && line.text.contains("\"\"") {
            line.text = Cow::Owned(line.text.replace("\"\"", "\""));
        }
    }
}

/// In aligned output with a border, every row starts with a margin space;
/// a line without it is the tail of a row a terminal wrapped.
fn mark_unmargined(lines: &mut [Line<'_>]) {
    let margin = lines
        .iter()
        .find(|l| !l.is_blank())
        .is_some_and(|l| l.text.starts_with(' '));
    if !margin {
        return;
    }
    let mut previous_blank = true;
    for line in lines.iter_mut() {
        let blank = line.is_blank();
        if !blank && !previous_blank && !line.text.starts_with(' ') {
            line.continues = true;
        }
        previous_blank = blank;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &str) -> Vec<String> {
        unframe(input)
            .lines
            .iter()
            .map(|l| format!("{}{}", if l.continues { "+" } else { "" }, l.text))
            .collect()
    }

    #[test]
    fn psql_aligned_header_and_footer() {
        let input = "                QUERY PLAN\n------------------------------------------\n Result  (cost=0.00..0.01 rows=1 width=0)\n(1 row)\n";
        assert_eq!(texts(input), [" Result  (cost=0.00..0.01 rows=1 width=0)"]);
    }

    #[test]
    fn unicode_border_two() {
        let input = "┌────────────┐\n│ QUERY PLAN │\n├────────────┤\n│ Result     │\n│   Filter   │\n└────────────┘\n(2 rows)\n";
        assert_eq!(texts(input), ["Result", "  Filter"]);
    }

    #[test]
    fn json_newline_markers() {
        let input = "   QUERY PLAN\n--------------\n [          +\n   {        +\n   }        +\n ]\n(1 row)\n";
        assert_eq!(texts(input), [" [", "   {", "   }", " ]"]);
        let input = " QUERY PLAN \n════════\n[      ↵\n  {    ↵\n]\n";
        assert_eq!(texts(input), ["[", "  {", "]"]);
    }

    #[test]
    fn wrapped_rows_continue() {
        let input = "   QUERY PLAN\n-------------\n Sort  (cos\nt=1.00..2.00 rows=1 width=4)\n   Sort Key: a\n";
        assert_eq!(
            texts(input),
            [
                " Sort  (cos",
                "+t=1.00..2.00 rows=1 width=4)",
                "   Sort Key: a"
            ]
        );
    }

    #[test]
    fn quoted_gui_lines() {
        let input =
            "\"Limit  (cost=0.00..0.08 rows=2 width=190)\"\n\"  Filter: (a = \"\"x\"\")\"\n";
        assert_eq!(
            texts(input),
            [
                "Limit  (cost=0.00..0.08 rows=2 width=190)",
                "  Filter: (a = \"x\")"
            ]
        );
        let input = "Unique  (cost=1.00..2.00 rows=1 width=8)\"\n  ->  Sort\"\n";
        assert_eq!(
            texts(input),
            ["Unique  (cost=1.00..2.00 rows=1 width=8)", "  ->  Sort"]
        );
    }

    #[test]
    fn auto_explain_log_entry() {
        let input = "2024-01-01 00:00:00 UTC [1] LOG:  duration: 0.030 ms  plan:\n\tQuery Text: select 1\n\tResult  (cost=0.00..0.01 rows=1 width=4)\n2024-01-01 00:00:01 UTC [1] LOG:  other\n";
        assert_eq!(
            texts(input),
            [
                "Query Text: select 1",
                "Result  (cost=0.00..0.01 rows=1 width=4)"
            ]
        );
    }

    #[test]
    fn columns_point_into_the_input() {
        let u = unframe("│ QUERY PLAN │\n├──────┤\n│ Result │\n");
        let line = &u.lines[0];
        assert_eq!(line.number, 3);
        assert_eq!(line.column_of(0), 3);
    }

    #[test]
    fn footer_in_other_languages() {
        assert!(is_footer("(23 lignes)"));
        assert!(is_footer("(1 row)"));
        assert!(!is_footer("(never executed)"));
        assert!(!is_footer("(cost=1..2)"));
    }
}
