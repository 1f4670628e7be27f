//! Stage `plans`: text EXPLAIN output (as psql, server logs and auto_explain
//! print it; PostgreSQL 13 to 18, and older pastes) to the typed tree.
//!
//! Promise: for the same plan this gives the same tree as `parse_json`:
//! node types, strategies and join types are split out of the text names
//! (`HashAggregate` is an Aggregate with strategy Hashed), every detail
//! line lands in the typed field or `extra` key the JSON format uses, and
//! the figures the text format leaves out because they are zero or false
//! (explain.c prints only positive buffer counters, suppresses `Rows
//! Removed by Filter: 0`, `Single Copy: false`...) are filled in the way
//! JSON would show them. Parsing never panics; a bad input is a
//! [`ParseError`] with the line and column in the input as given.
//!
//! The input goes through `frame` first (psql headers, borders, quotes,
//! log prefixes). Lines a terminal wrapped are joined back: a line that
//! cannot start anything (not a node, a subplan header or a `Key: value`
//! detail) continues the previous one.
//!
//! The tree comes from the columns: explain.c indents a node's details two
//! spaces past its name, writes its children as `->  ` at that column, and
//! its InitPlans, SubPlans and CTEs under a header line (`InitPlan 1`,
//! `SubPlan 2`, `CTE c`) at that column too.

mod detail;
mod header;

use std::borrow::Cow;

use serde_json::{Map, Value};

use self::detail::{IoForm, Seen};
use super::frame::{self, Unframed};
use super::{Format, Jit, Memory, Node, NodeType, ParseError, Plan, Serialization, Worker};

/// Deeper plans are refused: no real plan comes close, and the tree is
/// walked recursively later on.
const MAX_DEPTH: usize = 1000;

/// Parses text-format EXPLAIN output, with or without psql framing.
pub fn parse_text(input: &str) -> Result<Plan, ParseError> {
    parse_unframed(&frame::unframe(input))
}

/// Parses text EXPLAIN lines whose framing is already removed.
pub(crate) fn parse_unframed(u: &Unframed<'_>) -> Result<Plan, ParseError> {
    let mut parser = Parser::new(u);
    let mut pending: Option<Logical<'_>> = None;
    for (i, line) in u.lines.iter().enumerate() {
        if line.is_blank() {
            if let Some(logical) = pending.take() {
                parser.feed(&logical)?;
            }
            parser.blank();
            continue;
        }
        if let Some(logical) = pending.as_mut() {
            let joins = line.continues
                || ((parser.in_plan()
                    || header::starts_like_node(logical.text.trim_ascii_start()))
                    && !plausible_start(&line.text));
            if joins {
                logical.join(&line.text, i);
                continue;
            }
        }
        if let Some(logical) = pending.take() {
            parser.feed(&logical)?;
        }
        pending = Some(Logical {
            text: line.text.clone(),
            src: i,
            joins: Vec::new(),
        });
    }
    if let Some(logical) = pending.take() {
        parser.feed(&logical)?;
    }
    let mut plan = parser.finish()?;
    super::derive(&mut plan);
    Ok(plan)
}

/// One line of EXPLAIN output, rejoined if a terminal wrapped it.
struct Logical<'a> {
    text: Cow<'a, str>,
    /// Index of the first input line in the unframed lines.
    src: usize,
    /// Where each continuation starts in `text`, and its input line.
    joins: Vec<(usize, usize)>,
}

impl Logical<'_> {
    fn join(&mut self, tail: &str, src: usize) {
        self.joins.push((self.text.len(), src));
        self.text.to_mut().push_str(tail);
    }
}

/// Whether a line can start something; otherwise it is the tail of the
/// previous line.
fn plausible_start(text: &str) -> bool {
    let t = text.trim_ascii_start();
    t.starts_with("->")
        || detail::split_key(t).is_some()
        || header::starts_like_node(t)
        || subplan_header(t).is_some()
        || t.starts_with("Worker ")
        || t.starts_with("Trigger ")
}

/// `InitPlan 1 (returns $0)`, `SubPlan 2`, `CTE name` (explain.c,
/// ExplainNode prints `plan_name` on its own line): the parent
/// relationship it gives the node below it.
fn subplan_header(t: &str) -> Option<&'static str> {
    let word = |w: &str| t == w || t.strip_prefix(w).is_some_and(|r| r.starts_with(' '));
    let kind = if word("InitPlan") {
        "InitPlan"
    } else if word("SubPlan") {
        "SubPlan"
    } else if t
        .strip_prefix("CTE ")
        .is_some_and(|r| !r.trim_ascii().is_empty())
    {
        "InitPlan"
    } else {
        return None;
    };
    (!t.contains(": ") && !t.contains("(cost=")).then_some(kind)
}

/// Top-level lines (explain.c, ExplainOnePlan and ExplainPrintPlan).
const TOP_KEYS: &[&str] = &[
    "Planning Time",
    "Execution Time",
    "Total runtime",
    "Settings",
    "Query Identifier",
    "Planning",
    "JIT",
    "Serialization",
    "Query Text",
];

/// A top-level block whose lines follow, indented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Planning,
    Jit,
    Serialization,
}

/// A node being read: its children and details may still follow.
struct Open {
    node: Node,
    /// Column of the node type name.
    name_col: usize,
    /// The last subplan header (relationship, name, column).
    header: Option<(&'static str, String, usize)>,
    /// The worker block being read (index into `node.workers`, column).
    worker: Option<(usize, usize)>,
    /// The ModifyTable target being read (index into `targets`, column).
    target: Option<(usize, usize)>,
    targets: Vec<Map<String, Value>>,
    /// Aggregate key lines (kind, column, value) resolved when the node
    /// closes: one `Group Key` is a plain GROUP BY, more make grouping sets.
    keys: Vec<(&'static str, usize, String)>,
}

struct Parser<'u, 'a> {
    u: &'u Unframed<'a>,
    plan: Plan,
    stack: Vec<Open>,
    root: Option<Node>,
    /// Column of the root's name.
    base: usize,
    started: bool,
    /// A second plan started (multi-statement output): the rest is ignored.
    done: bool,
    after_blank: bool,
    block: Option<(Block, usize)>,
    query_text: Option<String>,
    seen: Seen,
}

impl<'u, 'a> Parser<'u, 'a> {
    fn new(u: &'u Unframed<'a>) -> Self {
        Parser {
            u,
            plan: Plan::default(),
            stack: Vec::new(),
            root: None,
            base: 0,
            started: false,
            done: false,
            after_blank: false,
            block: None,
            query_text: None,
            seen: Seen::default(),
        }
    }

    fn in_plan(&self) -> bool {
        self.started
    }

    fn blank(&mut self) {
        self.after_blank = true;
    }

    /// Line and column in the input of byte `at` of a logical line.
    fn error(&self, logical: &Logical<'_>, at: usize, message: impl Into<String>) -> ParseError {
        let (src, rel) = logical
            .joins
            .iter()
            .rev()
            .find(|(start, _)| *start <= at)
            .map_or((logical.src, at), |(start, src)| (*src, at - start));
        let line = self.u.lines.get(src);
        ParseError {
            format: Format::Text,
            line: line.map(|l| l.number),
            column: line.map(|l| l.column_of(rel)),
            message: message.into(),
        }
    }

    fn feed(&mut self, logical: &Logical<'_>) -> Result<(), ParseError> {
        if self.done {
            return Ok(());
        }
        let text = logical.text.trim_ascii_end();
        let content = text.trim_ascii_start();
        if content.is_empty() {
            return Ok(());
        }
        // Leading whitespace: `at` bytes, `indent` columns. Pasted plans
        // sometimes have tabs; one stands for four spaces in the ones seen.
        let at = text.len() - content.len();
        let indent = text[..at]
            .bytes()
            .map(|b| if b == b'\t' { 4 } else { 1 })
            .sum();
        let after_blank = std::mem::take(&mut self.after_blank);
        if !self.started {
            return self.preamble(logical, at, indent, content);
        }
        if content.starts_with("->") {
            return self.node_line(logical, at, indent, content);
        }
        // A second plan (a rule's extra statement, another EXPLAIN pasted
        // below): only the first is read, as with JSON's first element.
        if indent <= self.base
            && (after_blank || indent == self.base)
            && header::starts_like_node(content)
            && header::parse_header(content, true).is_ok()
        {
            self.done = true;
            return Ok(());
        }
        if let Some((block, col)) = self.block {
            if indent > col {
                self.block_line(block, content);
                return Ok(());
            }
            self.block = None;
        }
        if let Some(kind) = subplan_header(content) {
            if indent > self.base {
                return self.subplan_header(logical, at, indent, kind, content);
            }
        }
        let key = detail::split_key(content);
        let in_worker = self
            .stack
            .last()
            .and_then(|o| o.worker)
            .is_some_and(|(_, col)| indent > col);
        let top = content.starts_with("Trigger ")
            || (!in_worker && key.is_some_and(|(k, _)| TOP_KEYS.contains(&k)))
            || indent <= self.base;
        if top {
            self.top_line(indent, content, key);
            return Ok(());
        }
        self.detail_line(indent, content);
        Ok(())
    }

    /// Before the root: pasted prose, psql prompts, auto_explain's query
    /// text.
    fn preamble(
        &mut self,
        logical: &Logical<'_>,
        at: usize,
        indent: usize,
        content: &str,
    ) -> Result<(), ParseError> {
        let arrow = content.starts_with("->");
        let (name_at, name) = strip_arrow(content);
        // A line with EXPLAIN's parentheses is a node even when its type is
        // unknown; without them only known node types start the plan.
        let explicit = arrow || looks_like_node(name);
        if explicit || header::starts_like_node(content) {
            match header::parse_header(name, !explicit) {
                Ok(node) => {
                    self.base = indent + name_at;
                    self.started = true;
                    self.check_version(name);
                    self.stack.push(Open::new(node, self.base));
                    return Ok(());
                }
                Err(e) if explicit => {
                    return Err(self.error(logical, at + name_at + e.at, e.message));
                }
                Err(_) => {}
            }
        }
        if let Some(q) = content.strip_prefix("Query Text: ") {
            self.query_text = Some(q.to_owned());
        } else if let Some((key, value)) = detail::split_key(content)
            .filter(|(k, _)| matches!(*k, "Query Parameters" | "Query Identifier"))
        {
            self.top_line(0, content, Some((key, value)));
        } else if let Some(q) = self.query_text.as_mut() {
            q.push('\n');
            q.push_str(logical.text.trim_ascii_end());
        }
        Ok(())
    }

    fn check_version(&mut self, header: &str) {
        // Fractional actual rows (`rows=10.00`) are printed from 18 on.
        if let Some(actual) = header.find("(actual ") {
            let rows = header[actual..].find("rows=").map(|r| actual + r + 5);
            if let Some(rows) = rows {
                let token = header[rows..].split([' ', ')']).next().unwrap_or("");
                if token.contains('.') {
                    self.seen.version_16_or_later = true;
                }
            }
        }
    }

    /// Closes the open nodes whose name is at or right of `col`.
    fn close_to(&mut self, col: usize) {
        while self.stack.len() > 1 && self.stack.last().is_some_and(|o| o.name_col >= col) {
            self.close();
        }
    }

    fn close(&mut self) {
        let Some(open) = self.stack.pop() else {
            return;
        };
        let node = open.finish();
        match self.stack.last_mut() {
            Some(parent) => parent.node.plans.push(node),
            None => self.root = Some(node),
        }
    }

    fn node_line(
        &mut self,
        logical: &Logical<'_>,
        at: usize,
        indent: usize,
        content: &str,
    ) -> Result<(), ParseError> {
        self.block = None;
        let (name_at, name) = strip_arrow(content);
        // The parent is the nearest node whose name is left of this one's
        // (explain.c puts `->` two columns right of the parent's name; some
        // pastes squeeze the spaces, but never that far).
        let name_col = indent + name_at;
        let nowhere = "this node is not indented under any node (indentation goes nowhere)";
        if name_col <= self.base || self.stack.is_empty() {
            return Err(self.error(logical, at, nowhere));
        }
        self.close_to(name_col);
        if self.stack.last().is_none_or(|o| o.name_col >= name_col) {
            return Err(self.error(logical, at, nowhere));
        }
        if self.stack.len() >= MAX_DEPTH {
            let message = format!("plan nested deeper than {MAX_DEPTH} levels");
            return Err(self.error(logical, at, message));
        }
        let mut node = header::parse_header(name, false)
            .map_err(|e| self.error(logical, at + name_at + e.at, e.message))?;
        self.check_version(name);
        if let Some(parent) = self.stack.last_mut() {
            parent.worker = None;
            parent.target = None;
            match &parent.header {
                Some((kind, name, col)) if *col < indent => {
                    node.parent_relationship = Some((*kind).to_owned());
                    node.subplan_name = Some(name.clone());
                }
                _ => parent.header = None,
            }
        }
        self.stack.push(Open::new(node, name_col));
        Ok(())
    }

    fn subplan_header(
        &mut self,
        logical: &Logical<'_>,
        at: usize,
        indent: usize,
        kind: &'static str,
        content: &str,
    ) -> Result<(), ParseError> {
        self.close_to(indent);
        let Some(owner) = self.stack.last_mut().filter(|o| o.name_col < indent) else {
            return Err(self.error(logical, at, "subplan header not under any node"));
        };
        owner.header = Some((kind, content.to_owned(), indent));
        owner.worker = None;
        owner.target = None;
        Ok(())
    }

    fn top_line(&mut self, indent: usize, content: &str, key: Option<(&str, &str)>) {
        if let Some(rest) = content.strip_prefix("Trigger ") {
            if let Some(t) = detail::trigger(rest) {
                self.plan.triggers.push(t);
                return;
            }
        }
        let Some((key, value)) = key else {
            // Prose after the plan (a psql \timing line, a comment).
            return;
        };
        let plan = &mut self.plan;
        match key {
            "Planning Time" => plan.planning_time_ms = detail::ms(value),
            "Execution Time" => plan.execution_time_ms = detail::ms(value),
            // PostgreSQL before 9.4.
            "Total runtime" => {
                if let Some(v) = detail::ms(value) {
                    plan.extra.insert("Total Runtime".into(), Value::from(v));
                }
            }
            "Settings" => {
                if let Some(s) = detail::settings(value) {
                    plan.settings = s;
                }
            }
            "Query Identifier" => plan.query_identifier = value.parse().ok(),
            "Query Text" => plan.query_text = Some(value.to_owned()),
            "Planning" => self.block = Some((Block::Planning, indent)),
            "JIT" => {
                plan.jit.get_or_insert_with(Jit::default);
                self.block = Some((Block::Jit, indent));
            }
            "Serialization" => {
                plan.serialization = Some(serialization(value));
                self.seen.version_16_or_later = true;
                self.block = Some((Block::Serialization, indent));
            }
            _ => {
                plan.extra.insert(key.to_owned(), Value::from(value));
            }
        }
    }

    fn block_line(&mut self, block: Block, content: &str) {
        let Some((key, value)) = detail::split_key(content) else {
            return;
        };
        let plan = &mut self.plan;
        match (block, key) {
            (Block::Planning | Block::Serialization, "Buffers") => {
                if let Some(b) = detail::buffers(value) {
                    self.seen.buffers = true;
                    match block {
                        Block::Planning => plan.planning_buffers = Some(b),
                        _ => {
                            if let Some(s) = plan.serialization.as_mut() {
                                s.buffers = b;
                            }
                        }
                    }
                }
            }
            (Block::Planning, "I/O Timings") => {
                if let Some((io, form)) = detail::io_timings(value) {
                    plan.planning_io = Some(io);
                    self.seen.io_form = Some(self.seen.io_form.map_or(form, |s| s.max(form)));
                }
            }
            (Block::Planning, "Memory") => {
                // MEMORY option, 17+ (explain.c, show_memory_counters).
                let mut memory = Memory::default();
                for (k, v) in value.split_whitespace().filter_map(|w| w.split_once('=')) {
                    match k {
                        "used" => memory.used_kb = detail::kb(v),
                        "allocated" => memory.allocated_kb = detail::kb(v),
                        _ => {}
                    }
                }
                plan.planning_memory = Some(memory);
                self.seen.version_16_or_later = true;
            }
            (Block::Jit, _) => {
                if let Some(jit) = plan.jit.as_mut() {
                    detail::jit_line(jit, key, value);
                }
            }
            _ => {}
        }
    }

    fn detail_line(&mut self, indent: usize, content: &str) {
        self.close_to(indent);
        let seen = &mut self.seen;
        let Some(open) = self.stack.last_mut() else {
            return;
        };
        if let Some((w, col)) = open.worker {
            if indent > col {
                if let Some(worker) = open.node.workers.get_mut(w) {
                    worker_line(worker, content, seen);
                }
                return;
            }
            open.worker = None;
        }
        if let Some((t, col)) = open.target {
            if indent > col {
                if let (Some(target), Some((k, v))) =
                    (open.targets.get_mut(t), detail::split_key(content))
                {
                    target.insert(k.to_owned(), Value::from(v));
                }
                return;
            }
            open.target = None;
        }
        if let Some(rest) = content.strip_prefix("Worker ") {
            if let Some((number, rest)) = rest.split_once(':') {
                if let Ok(number) = number.trim_ascii().parse::<u64>() {
                    let worker = Worker {
                        worker_number: number,
                        ..Worker::default()
                    };
                    open.node.workers.push(worker);
                    let w = open.node.workers.len() - 1;
                    open.worker = Some((w, indent));
                    let rest = rest.trim_ascii();
                    if let (false, Some(worker)) = (rest.is_empty(), open.node.workers.get_mut(w)) {
                        worker_line(worker, rest, seen);
                    }
                    return;
                }
            }
        }
        if open.node.node_type == NodeType::ModifyTable {
            if let Some(target) = header::parse_target_table(content) {
                open.targets.push(target);
                open.target = Some((open.targets.len() - 1, indent));
                return;
            }
        }
        match detail::split_key(content) {
            Some((key, value)) => open.detail(key, value, indent, seen),
            None => {
                let lines = open
                    .node
                    .extra
                    .entry("Unparsed Lines".to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(lines) = lines {
                    lines.push(Value::from(content));
                }
            }
        }
    }

    fn finish(mut self) -> Result<Plan, ParseError> {
        if !self.started {
            return Err(match self.u.first_content() {
                None => ParseError {
                    format: Format::Text,
                    line: None,
                    column: None,
                    message: "empty input: no plan found".into(),
                },
                Some(line) => ParseError {
                    format: Format::Text,
                    line: Some(line.number),
                    column: Some(
                        line.column_of(line.text.len() - line.text.trim_ascii_start().len()),
                    ),
                    message:
                        "no plan node found (expected a line like `Seq Scan on t  (cost=...)`)"
                            .into(),
                },
            });
        }
        while !self.stack.is_empty() {
            self.close();
        }
        let mut plan = self.plan;
        plan.root = self.root.take().unwrap_or_default();
        if plan.query_text.is_none() {
            plan.query_text = self.query_text.map(|q| q.trim_ascii_end().to_owned());
        }
        fill_like_json(&mut plan, self.seen);
        Ok(plan)
    }
}

/// The content after `->` and its offset.
fn strip_arrow(content: &str) -> (usize, &str) {
    match content.strip_prefix("->") {
        Some(rest) => {
            let name = rest.trim_ascii_start();
            (content.len() - name.len(), name)
        }
        None => (0, content),
    }
}

/// A line that is meant as a node (it has EXPLAIN's parentheses), so a
/// problem in it is an error rather than prose to skip.
fn looks_like_node(s: &str) -> bool {
    s.contains("(cost=") || s.contains("(actual ") || s.contains("(never executed")
}

/// `Serialization: time=1.234 ms  output=12kB  format=text` (17+,
/// explain.c, ExplainPrintSerialize).
fn serialization(value: &str) -> Serialization {
    let mut s = Serialization::default();
    for item in value.split("  ") {
        let Some((k, v)) = item.trim_ascii().split_once('=') else {
            continue;
        };
        match k {
            "time" => s.time_ms = detail::ms(v),
            "output" => s.output_volume_kb = detail::kb(v),
            "format" => s.format = Some(v.to_owned()),
            _ => {}
        }
    }
    s
}

/// A line of a `Worker N:` block (explain.c, ExplainOpenWorker: the first
/// line follows `Worker N:  `, the others are indented under it).
fn worker_line(worker: &mut Worker, content: &str, seen: &mut Seen) {
    if let Some(actual) = content.strip_prefix("actual ") {
        if let Ok(a) = header::actual_figures(actual, 0) {
            worker.actual_startup_time = a.startup;
            worker.actual_total_time = a.total;
            worker.actual_rows = Some(a.rows);
            worker.actual_loops = Some(a.loops);
            return;
        }
    }
    let Some((key, value)) = detail::split_key(content) else {
        return;
    };
    if !detail::shared_line(worker, key, value, seen) {
        worker.extra.insert(key.to_owned(), Value::from(value));
    }
}

impl Open {
    fn new(node: Node, name_col: usize) -> Self {
        Open {
            node,
            name_col,
            header: None,
            worker: None,
            target: None,
            targets: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// A `Key: value` detail line of this node.
    fn detail(&mut self, key: &str, value: &str, indent: usize, seen: &mut Seen) {
        let node = &mut self.node;
        let c = &mut node.conditions;
        let text = || Some(value.to_owned());
        let known = match key {
            "Filter" => set(&mut c.filter, text()),
            "Index Cond" => set(&mut c.index_cond, text()),
            "Recheck Cond" => set(&mut c.recheck_cond, text()),
            "Hash Cond" => set(&mut c.hash_cond, text()),
            "Merge Cond" => set(&mut c.merge_cond, text()),
            "Join Filter" => set(&mut c.join_filter, text()),
            "One-Time Filter" => set(&mut c.one_time_filter, text()),
            "TID Cond" => set(&mut c.tid_cond, text()),
            "Order By" => set(&mut c.order_by, text()),
            "Rows Removed by Filter" => {
                set(&mut node.rows_removed_by_filter, header::number(value))
            }
            "Rows Removed by Join Filter" => {
                set(&mut node.rows_removed_by_join_filter, header::number(value))
            }
            "Rows Removed by Index Recheck" => set(
                &mut node.rows_removed_by_index_recheck,
                header::number(value),
            ),
            "Heap Fetches" => set(&mut node.heap_fetches, header::number(value)),
            "Index Searches" => {
                seen.version_16_or_later = true;
                set(&mut node.index_searches, header::number(value))
            }
            "Workers Planned" => set(&mut node.workers_planned, detail::int(value)),
            "Workers Launched" => set(&mut node.workers_launched, detail::int(value)),
            "Single Copy" => set(&mut node.single_copy, boolean(value)),
            "Inner Unique" => set(&mut node.inner_unique, boolean(value)),
            "Disabled" => {
                seen.version_16_or_later = true;
                set(&mut node.disabled, boolean(value))
            }
            "Output" => {
                node.output = detail::split_list(value);
                true
            }
            "Sort Key" | "Group Key" | "Hash Key" if node.node_type == NodeType::Aggregate => {
                let kind = match key {
                    "Sort Key" => "Sort Key",
                    "Group Key" => "Group Key",
                    _ => "Hash Key",
                };
                self.keys.push((kind, indent, value.to_owned()));
                true
            }
            "Sort Key" => {
                node.sort_key = detail::split_list(value);
                true
            }
            "Presorted Key" => {
                node.presorted_key = detail::split_list(value);
                true
            }
            "Group Key" => {
                node.group_key = detail::split_list(value);
                true
            }
            "Hash Key" => {
                node.hash_key = detail::split_list(value);
                true
            }
            "Buckets" => hash_buckets(node, value),
            "Subplans Removed"
            | "Tuples Inserted"
            | "Conflicting Tuples"
            | "Rows Removed by Conflict Filter" => match header::number(value) {
                Some(v) => {
                    node.extra.insert(key.to_owned(), detail::json_number(v));
                    true
                }
                None => false,
            },
            "Conflict Arbiter Indexes" => {
                let list = detail::split_list(value)
                    .into_iter()
                    .map(Value::from)
                    .collect();
                node.extra.insert(key.to_owned(), Value::Array(list));
                true
            }
            "Tuples" => merge_tuples(node, value),
            "Sampling" => sampling(node, value),
            "Storage" => {
                seen.version_16_or_later |= node.node_type == NodeType::Materialize;
                detail::shared_line(node, key, value, seen)
            }
            _ => detail::shared_line(node, key, value, seen),
        };
        if !known {
            node.extra.insert(key.to_owned(), Value::from(value));
        }
    }

    fn finish(mut self) -> Node {
        self.resolve_keys();
        if !self.targets.is_empty() {
            let targets = self.targets.into_iter().map(Value::Object).collect();
            self.node
                .extra
                .insert("Target Tables".into(), Value::Array(targets));
        }
        set_relationships(&mut self.node);
        self.node
    }

    /// Aggregate keys: one `Group Key` line is a GROUP BY; more lines, hash
    /// keys or sort keys are grouping sets (explain.c, show_grouping_sets),
    /// kept in `extra` as JSON's `"Grouping Sets"`. The text does not mark
    /// where one Agg of the chain ends and the next begins: consecutive
    /// `Group Key` lines are taken as one rollup, each `Hash Key` line as
    /// its own set, and a `Sort Key` with the keys indented under it as one
    /// sorted rollup.
    fn resolve_keys(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        if let [("Group Key", _, value)] = self.keys.as_slice() {
            if value != "()" {
                self.node.group_key = detail::split_list(value);
                return;
            }
        }
        let keys = |v: &str| -> Value {
            if v == "()" {
                Value::Array(Vec::new())
            } else {
                Value::Array(detail::split_list(v).into_iter().map(Value::from).collect())
            }
        };
        let mut sets: Vec<Map<String, Value>> = Vec::new();
        let mut sorted: Option<usize> = None;
        let mut last_kind = "";
        for (kind, col, value) in &self.keys {
            match *kind {
                "Sort Key" => {
                    let mut set = Map::new();
                    set.insert("Sort Key".into(), keys(value));
                    set.insert("Group Keys".into(), Value::Array(Vec::new()));
                    sets.push(set);
                    sorted = Some(*col);
                }
                "Group Key" if sorted.is_some_and(|s| *col > s) => {
                    push_keys(&mut sets, "Group Keys", keys(value));
                }
                "Group Key" if last_kind == "Group Key" && sorted.is_none() => {
                    push_keys(&mut sets, "Group Keys", keys(value));
                }
                _ => {
                    sorted = None;
                    let name = if *kind == "Hash Key" {
                        "Hash Keys"
                    } else {
                        "Group Keys"
                    };
                    let mut set = Map::new();
                    set.insert(name.into(), Value::Array(vec![keys(value)]));
                    sets.push(set);
                }
            }
            last_kind = kind;
        }
        let sets = sets.into_iter().map(Value::Object).collect();
        self.node
            .extra
            .insert("Grouping Sets".into(), Value::Array(sets));
    }
}

fn push_keys(sets: &mut [Map<String, Value>], name: &str, keys: Value) {
    if let Some(Value::Array(list)) = sets.last_mut().and_then(|s| s.get_mut(name)) {
        list.push(keys);
    }
}

/// Sets a field when the value parsed; false sends the line to `extra`.
fn set<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    match value {
        Some(v) => {
            *slot = Some(v);
            true
        }
        None => false,
    }
}

fn boolean(v: &str) -> Option<bool> {
    match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// `Buckets: 1024 (originally 512)  Batches: 4 (originally 1)  Memory
/// Usage: 9kB` (explain.c, show_hash_info: the originals are printed only
/// when they differ, JSON always has them).
fn hash_buckets(node: &mut Node, value: &str) -> bool {
    let figure = |v: &str| -> Option<(u64, Option<u64>)> {
        match v.split_once(" (originally ") {
            Some((now, orig)) => Some((
                detail::int(now)?,
                Some(detail::int(orig.strip_suffix(')')?)?),
            )),
            None => Some((detail::int(v)?, None)),
        }
    };
    for (k, v) in detail::segments("Buckets", value) {
        match k {
            "Buckets" => {
                let Some((now, orig)) = figure(v) else {
                    return false;
                };
                node.hash_buckets = Some(now);
                node.original_hash_buckets = Some(orig.unwrap_or(now));
            }
            "Batches" => {
                let Some((now, orig)) = figure(v) else {
                    return false;
                };
                node.hash_batches = Some(now);
                node.original_hash_batches = Some(orig.unwrap_or(now));
            }
            "Memory Usage" => node.peak_memory_usage = detail::kb(v),
            _ => return false,
        }
    }
    true
}

/// MERGE's `Tuples: inserted=1 updated=2 skipped=3` (explain.c,
/// show_modifytable_info; zero counts are not printed).
fn merge_tuples(node: &mut Node, value: &str) -> bool {
    let mut counts = [
        ("inserted", 0u64),
        ("updated", 0),
        ("deleted", 0),
        ("skipped", 0),
    ];
    for (k, v) in value.split_whitespace().filter_map(|w| w.split_once('=')) {
        let Some(slot) = counts.iter_mut().find(|(name, _)| *name == k) else {
            return false;
        };
        let Some(v) = detail::int(v) else {
            return false;
        };
        slot.1 = v;
    }
    for (name, key) in [
        ("inserted", "Tuples Inserted"),
        ("updated", "Tuples Updated"),
        ("deleted", "Tuples Deleted"),
        ("skipped", "Tuples Skipped"),
    ] {
        let v = counts
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| *v);
        node.extra.insert(key.into(), Value::from(v));
    }
    true
}

/// `Sampling: bernoulli ('10'::real) REPEATABLE ('42'::double precision)`
/// (explain.c, show_tablesample).
fn sampling(node: &mut Node, value: &str) -> bool {
    let Some((method, rest)) = value.split_once(" (") else {
        return false;
    };
    let (params, repeatable) = match rest.split_once(") REPEATABLE (") {
        Some((p, r)) => (p, r.strip_suffix(')')),
        None => (rest.strip_suffix(')').unwrap_or(rest), None),
    };
    node.extra
        .insert("Sampling Method".into(), Value::from(method));
    let params = detail::split_list(params)
        .into_iter()
        .map(Value::from)
        .collect();
    node.extra
        .insert("Sampling Parameters".into(), Value::Array(params));
    if let Some(r) = repeatable {
        node.extra.insert("Repeatable Seed".into(), Value::from(r));
    }
    true
}

/// The `"Parent Relationship"` of the children that were not under a
/// subplan header (explain.c, ExplainNode: outer then inner plan, members
/// of Append/MergeAppend/BitmapAnd/BitmapOr, a Subquery Scan's subquery, a
/// Custom Scan's children).
fn set_relationships(node: &mut Node) {
    let plain = node
        .plans
        .iter()
        .filter(|c| c.parent_relationship.is_none())
        .count();
    let plain_children = node
        .plans
        .iter_mut()
        .filter(|c| c.parent_relationship.is_none());
    for (index, child) in plain_children.enumerate() {
        let relationship = match node.node_type {
            NodeType::Append | NodeType::MergeAppend | NodeType::BitmapAnd | NodeType::BitmapOr => {
                "Member"
            }
            NodeType::SubqueryScan => "Subquery",
            NodeType::CustomScan if plain == 1 => "child",
            NodeType::CustomScan => "children",
            // Before PostgreSQL 14 a ModifyTable had one member per target.
            NodeType::ModifyTable if plain > 1 => "Member",
            _ if index == 0 => "Outer",
            _ => "Inner",
        };
        child.parent_relationship = Some(relationship.to_owned());
    }
}

/// What the whole output says about the options EXPLAIN ran with.
#[derive(Debug, Clone, Copy)]
struct Options {
    analyze: bool,
    timing: bool,
    costs: bool,
    verbose: bool,
    seen: Seen,
    io_form: Option<IoForm>,
}

/// Fills the figures text output leaves out but JSON output has, so both
/// formats give the same tree (see the module docs).
fn fill_like_json(plan: &mut Plan, seen: Seen) {
    let mut options = Options {
        analyze: false,
        timing: false,
        costs: plan.root.total_cost.is_some(),
        verbose: false,
        seen,
        io_form: seen.io_form.map(|f| {
            if f == IoForm::TempOnly && seen.version_16_or_later {
                IoForm::Split
            } else {
                f
            }
        }),
    };
    survey(&plan.root, &mut options);
    fill_node(&mut plan.root, &options);
    if options.seen.buffers {
        let zero = detail::buffers("shared hit=0").unwrap_or_default();
        plan.planning_buffers.get_or_insert(zero);
        if let Some(form) = options.io_form {
            detail::fill_io(plan.planning_io.get_or_insert_with(Default::default), form);
        }
    }
}

fn survey(node: &Node, o: &mut Options) {
    o.analyze |= node.actual_loops.is_some() || node.never_executed;
    o.timing |= node.actual_startup_time.is_some();
    o.verbose |= !node.output.is_empty();
    for child in &node.plans {
        survey(child, o);
    }
}

fn fill_node(node: &mut Node, o: &Options) {
    if node.never_executed {
        node.actual_rows = Some(0.0);
        node.actual_loops = Some(0.0);
        if o.timing {
            node.actual_startup_time = Some(0.0);
            node.actual_total_time = Some(0.0);
        }
    }
    let zero = Some(0.0);
    match node.node_type {
        NodeType::Gather => {
            node.single_copy.get_or_insert(false);
        }
        NodeType::Append | NodeType::MergeAppend => {
            node.extra
                .entry("Subplans Removed".into())
                .or_insert(Value::from(0));
        }
        NodeType::BitmapHeapScan if o.analyze => {
            node.exact_heap_blocks = node.exact_heap_blocks.or(zero);
            node.lossy_heap_blocks = node.lossy_heap_blocks.or(zero);
            if node.conditions.recheck_cond.is_some() {
                node.rows_removed_by_index_recheck = node.rows_removed_by_index_recheck.or(zero);
            }
        }
        // explain.c prints the recheck count of an Index Scan whenever it
        // has an Index Cond, of an Index Only Scan whenever it has one that
        // needs rechecking (13-14: any Index Cond; 15+: `recheckqual`, set
        // alike).
        NodeType::IndexScan | NodeType::IndexOnlyScan
            if o.analyze && node.conditions.index_cond.is_some() =>
        {
            node.rows_removed_by_index_recheck = node.rows_removed_by_index_recheck.or(zero);
        }
        NodeType::Aggregate
            if o.costs && matches!(node.strategy.as_deref(), Some("Hashed" | "Mixed")) =>
        {
            node.planned_partitions.get_or_insert(0);
        }
        NodeType::NestedLoop | NodeType::HashJoin | NodeType::MergeJoin if o.verbose => {
            node.inner_unique.get_or_insert(false);
        }
        _ => {}
    }
    if o.analyze {
        if node.conditions.filter.is_some() {
            node.rows_removed_by_filter = node.rows_removed_by_filter.or(zero);
        }
        if node.conditions.join_filter.is_some() {
            node.rows_removed_by_join_filter = node.rows_removed_by_join_filter.or(zero);
        }
        fill_usage(&mut node.buffers, &mut node.io, &mut node.wal, o);
        for worker in node.workers.iter_mut().filter(|w| w.actual_loops.is_some()) {
            fill_usage(&mut worker.buffers, &mut worker.io, &mut worker.wal, o);
        }
    }
    for child in &mut node.plans {
        fill_node(child, o);
    }
}

/// BUFFERS, WAL and `track_io_timing` figures are printed in text only
/// when positive; JSON prints them all, zeros included.
fn fill_usage(
    buffers: &mut super::Buffers,
    io: &mut super::IoTimings,
    wal: &mut Option<super::Wal>,
    o: &Options,
) {
    if o.seen.buffers && buffers.is_empty() {
        *buffers = detail::buffers("shared hit=0").unwrap_or_default();
    }
    if let Some(form) = o.io_form {
        detail::fill_io(io, form);
    }
    if o.seen.wal && wal.is_none() {
        *wal = detail::wal("records=0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Plan {
        match parse_text(input) {
            Ok(plan) => plan,
            Err(e) => panic!("{e}\n{input}"),
        }
    }

    #[test]
    fn grouping_sets() {
        let plan = parse(
            "MixedAggregate\n  Hash Key: a, b\n  Hash Key: a\n  Group Key: ()\n  ->  Seq Scan on t\n",
        );
        let sets = &plan.root.extra["Grouping Sets"];
        assert_eq!(sets[0]["Hash Keys"][0][1], "b");
        assert_eq!(sets[1]["Hash Keys"][0][0], "a");
        assert_eq!(sets[2]["Group Keys"][0], Value::Array(Vec::new()));
        assert!(plan.root.group_key.is_empty());

        let plan = parse(
            "GroupAggregate\n  Group Key: a, b\n  Group Key: a\n  Sort Key: c\n    Group Key: c\n  ->  Sort\n        Sort Key: a, b\n        ->  Seq Scan on t\n",
        );
        let sets = &plan.root.extra["Grouping Sets"];
        assert_eq!(sets[0]["Group Keys"].as_array().map(Vec::len), Some(2));
        assert_eq!(sets[1]["Sort Key"][0], "c");
        assert_eq!(sets[1]["Group Keys"][0][0], "c");
        assert_eq!(plan.root.plans[0].sort_key, ["a", "b"]);

        let plan = parse("HashAggregate\n  Group Key: (a + 1), f(b, c)\n  ->  Seq Scan on t\n");
        assert_eq!(plan.root.group_key, ["(a + 1)", "f(b, c)"]);
        assert!(!plan.root.extra.contains_key("Grouping Sets"));
    }

    #[test]
    fn old_subplan_headers_and_relationships() {
        // PostgreSQL 8.x: one unnumbered header for several subplans.
        let plan = parse(
            "Seq Scan on a  (cost=0.00..1.00 rows=1 width=4)\n  Filter: (x = (subplan))\n  SubPlan\n    ->  Limit  (cost=0.00..1.00 rows=1 width=4)\n          ->  Seq Scan on b  (cost=0.00..1.00 rows=1 width=4)\n    ->  Limit  (cost=0.00..1.00 rows=1 width=4) (never executed)\n  InitPlan\n    ->  Result  (cost=0.00..0.01 rows=1 width=0)\nTotal runtime: 1.5 ms\n",
        );
        let kids: Vec<_> = plan
            .root
            .plans
            .iter()
            .map(|c| (c.parent_relationship.as_deref(), c.subplan_name.as_deref()))
            .collect();
        assert_eq!(
            kids,
            [
                (Some("SubPlan"), Some("SubPlan")),
                (Some("SubPlan"), Some("SubPlan")),
                (Some("InitPlan"), Some("InitPlan"))
            ]
        );
        assert_eq!(
            plan.root.plans[0].plans[0].parent_relationship.as_deref(),
            Some("Outer")
        );
        assert_eq!(plan.extra["Total Runtime"], 1.5);

        let plan = parse(
            "Hash Join\n  Hash Cond: (a.x = b.x)\n  ->  Seq Scan on a\n  ->  Hash\n        ->  Subquery Scan on s\n              ->  Append\n                    ->  Seq Scan on b\n                    ->  Seq Scan on c\n",
        );
        let hash = &plan.root.plans[1];
        assert_eq!(hash.parent_relationship.as_deref(), Some("Inner"));
        assert_eq!(
            hash.plans[0].plans[0].parent_relationship.as_deref(),
            Some("Subquery")
        );
        assert_eq!(
            hash.plans[0].plans[0].plans[1]
                .parent_relationship
                .as_deref(),
            Some("Member")
        );
    }

    #[test]
    fn wrapped_and_tabbed_lines() {
        let plan = parse(
            " Nested Loop  (cost=0.00..611.27 rows=13400 width=8) (actual time=0.025..10.198 rows=34956 loops=1)\n   Join Filter: (t1.c1 >\n t2.c2)\n   ->  Seq Scan on t1  (cost=0.00..6.02 rows=402 width=4) (actual time=0.013..0.058 rows=402 loops=\n1)\n   ->  Seq Scan on t2  (cost=0.00..2.00 rows=100 width=4) (actual time=0.005..0.015 rows=100 loops=1)\n",
        );
        assert_eq!(
            plan.root.conditions.join_filter.as_deref(),
            Some("(t1.c1 > t2.c2)")
        );
        assert_eq!(plan.root.plans[0].actual_loops, Some(1.0));
        assert_eq!(plan.root.plans.len(), 2);

        let plan = parse(
            "Hash Join\n   Hash Cond: (a = b)\n \t->  Seq Scan on x\n     \t->  Seq Scan on y\n",
        );
        assert_eq!(plan.root.plans.len(), 1);
        assert_eq!(plan.root.plans[0].plans.len(), 1);
    }

    #[test]
    fn summary_blocks() {
        let plan = parse(
            "Result  (cost=0.00..0.01 rows=1 width=4) (actual time=0.001..0.001 rows=1.00 loops=1)\n  Buffers: shared hit=3\nSettings: search_path = 'public, x', work_mem = '8MB', jit = NULL\nQuery Identifier: -5424821330993577306\nPlanning:\n  Buffers: shared hit=32 read=8\n  I/O Timings: shared read=0.073\n  Memory: used=25kB  allocated=32kB\nPlanning Time: 0.292 ms\nTrigger fk for constraint c_fk on t: time=1.500 calls=3\nTrigger t_trg: calls=2\nJIT:\n  Functions: 10\n  Options: Inlining false, Optimization false, Expressions true, Deforming true\n  Timing: Generation 0.492 ms (Deform 0.134 ms), Inlining 0.000 ms, Optimization 0.266 ms, Emission 3.684 ms, Total 4.442 ms\nSerialization: time=0.010 ms  output=1kB  format=text\n  Buffers: shared hit=2\nExecution Time: 0.500 ms\n",
        );
        assert_eq!(plan.settings["search_path"], "public, x");
        assert_eq!(plan.settings["work_mem"], "8MB");
        assert_eq!(plan.settings["jit"], "NULL");
        assert_eq!(plan.query_identifier, Some(-5424821330993577306));
        let planning = plan.planning_buffers.unwrap_or_default();
        assert_eq!(
            (
                planning.shared_hit,
                planning.shared_read,
                planning.temp_read
            ),
            (Some(32), Some(8), Some(0))
        );
        let io = plan.planning_io.unwrap_or_default();
        assert_eq!(
            (io.shared_read_ms, io.local_write_ms),
            (Some(0.073), Some(0.0))
        );
        assert_eq!(plan.planning_memory.and_then(|m| m.allocated_kb), Some(32));
        assert_eq!(plan.triggers[0].trigger_name, "fk");
        assert_eq!(plan.triggers[0].constraint_name.as_deref(), Some("c_fk"));
        assert_eq!(plan.triggers[0].relation.as_deref(), Some("t"));
        assert_eq!(plan.triggers[1].calls, Some(2));
        let jit = plan.jit.clone().unwrap_or_default();
        assert_eq!(jit.functions, Some(10));
        assert!(jit.options["Expressions"]);
        assert_eq!(jit.timing_ms["Generation"], 0.492);
        assert_eq!(jit.extra["Timing"]["Generation"]["Deform"], 0.134);
        let s = plan.serialization.clone().unwrap_or_default();
        assert_eq!(
            (s.time_ms, s.output_volume_kb, s.format.as_deref()),
            (Some(0.01), Some(1), Some("text"))
        );
        assert_eq!(s.buffers.shared_hit, Some(2));
        assert_eq!(plan.execution_time_ms, Some(0.5));
        // 16+ layout: every scope's timing is filled.
        assert_eq!(plan.root.io.temp_read_ms, Some(0.0));
    }

    #[test]
    fn io_timing_layouts() {
        let io = |line: &str| {
            let plan = parse(&format!(
                "Seq Scan on t (actual rows=1 loops=1)\n  I/O Timings: {line}\n"
            ));
            plan.root.io
        };
        let old = io("read=1.5");
        assert_eq!(
            (old.shared_read_ms, old.shared_write_ms, old.temp_read_ms),
            (Some(1.5), Some(0.0), None)
        );
        let pg15 = io("shared/local read=2.0, temp write=3.0");
        assert_eq!(
            (pg15.shared_read_ms, pg15.temp_read_ms, pg15.local_read_ms),
            (Some(2.0), Some(0.0), None)
        );
        let pg16 = io("local write=4.0");
        assert_eq!(
            (pg16.shared_read_ms, pg16.local_write_ms, pg16.temp_write_ms),
            (Some(0.0), Some(4.0), Some(0.0))
        );
    }

    #[test]
    fn modify_table_targets_merge_and_sampling() {
        let plan = parse(
            "Merge on ex_mtarget t (actual rows=0.00 loops=1)\n  Tuples: updated=5 skipped=45\n  ->  Seq Scan on ex_msource s (actual rows=50.00 loops=1)\n",
        );
        assert_eq!(plan.root.operation.as_deref(), Some("Merge"));
        assert_eq!(plan.root.extra["Tuples Updated"], 5);
        assert_eq!(plan.root.extra["Tuples Inserted"], 0);

        let plan = parse(
            "Update on ab_a1\n  Update on ab_a1_b1 ab_a1_1\n  Foreign Update on public.ft f\n    Remote SQL: UPDATE ft SET x = $1\n  ->  Seq Scan on ab_a1_b1 ab_a1_1\n        Sampling: bernoulli ('10'::real) REPEATABLE ('42'::double precision)\n",
        );
        let targets = &plan.root.extra["Target Tables"];
        assert_eq!(targets[0]["Alias"], "ab_a1_1");
        assert_eq!(targets[1]["Schema"], "public");
        assert_eq!(targets[1]["Remote SQL"], "UPDATE ft SET x = $1");
        let scan = &plan.root.plans[0];
        assert_eq!(scan.extra["Sampling Method"], "bernoulli");
        assert_eq!(scan.extra["Sampling Parameters"][0], "'10'::real");
        assert_eq!(scan.extra["Repeatable Seed"], "'42'::double precision");
    }

    #[test]
    fn auto_explain_and_second_plans() {
        let plan = parse(
            "2024-05-01 10:00:00 UTC [42] LOG:  duration: 0.050 ms  plan:\n\tQuery Text: SELECT *\n\t  FROM t\n\tSeq Scan on t  (cost=0.00..1.00 rows=1 width=4)\n\t  Filter: (a = 1)\n2024-05-01 10:00:01 UTC [42] LOG:  statement: SELECT 1\n",
        );
        assert_eq!(plan.query_text.as_deref(), Some("SELECT *\n  FROM t"));
        assert_eq!(plan.root.conditions.filter.as_deref(), Some("(a = 1)"));

        let plan = parse("Insert on t\n  ->  Result\n\nSeq Scan on u\n  Filter: (x = 1)\n");
        assert_eq!(plan.root.node_type, NodeType::ModifyTable);
        assert_eq!(plan.root.count(), 2);
        assert!(plan.root.plans[0].conditions.filter.is_none());
    }

    #[test]
    fn unknown_lines_are_kept() {
        let plan = parse(
            "Custom Scan (Citus Adaptive)  (cost=0.00..0.00 rows=0 width=0)\n  Task Count: 32\n  Tasks Shown: One of 32\n  wrapped\n\n  some free text\n  ->  Frobnicate  (cost=0.00..1.00 rows=1 width=4)\n",
        );
        assert_eq!(plan.root.extra["Task Count"], "32");
        // A line that cannot start anything continues the one above...
        assert_eq!(plan.root.extra["Tasks Shown"], "One of 32  wrapped");
        // ...unless a blank line is in between.
        assert_eq!(plan.root.extra["Unparsed Lines"][0], "some free text");
        assert_eq!(
            plan.root.plans[0].node_type,
            NodeType::Other("Frobnicate".into())
        );
        assert_eq!(
            plan.root.plans[0].parent_relationship.as_deref(),
            Some("child")
        );
    }
}
