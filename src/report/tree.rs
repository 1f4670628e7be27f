//! A plan as a table with its tree (`planguard explain FILE`), and two plans
//! side by side (`planguard diff OLD NEW`).
//!
//! Renders only: every figure comes from the parsed plans, their derived
//! figures ([`crate::plan::derive`]) and the node matching
//! ([`crate::plan::compare`]). Output is deterministic: fixed precision, no
//! terminal-width dependence, no colours.

use std::io::{self, Write};

use comfy_table::{CellAlignment, Table, presets};

use crate::plan::compare::{MatchedBy, Matching};
use crate::plan::shape::{fingerprint, label, shape};
use crate::plan::{Node, Plan};

/// A plan-wide figure of `diff`: its name, where it is, how it prints.
type Figure = (&'static str, fn(&Plan) -> Option<f64>, fn(f64) -> String);

/// How many of the heaviest nodes (by self time) `explain` marks.
const HEAVIEST: usize = 3;

/// Writes the plan as a table: one row per node with its tree position,
/// cost, estimated and actual rows, loops, self and total time, shared
/// blocks, and the heaviest nodes by self time marked with their share of
/// the total; then the plan-wide figures.
pub fn render_plan(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    let mut nodes: Vec<(usize, &Node)> = Vec::new();
    plan.root
        .walk(&mut |index, node| nodes.push((index.len(), node)));

    let analyzed = plan.root.actual_loops.is_some() || plan.root.never_executed;
    let total = plan.root.derived.inclusive_time_ms.unwrap_or(0.0);
    let mut ranked: Vec<(usize, f64)> = nodes
        .iter()
        .enumerate()
        .filter_map(|(i, (_, n))| n.derived.exclusive_time_ms.map(|t| (i, t)))
        .filter(|(_, t)| *t > 0.0)
        .collect();
    // Ties keep EXPLAIN's order, so the ranking is deterministic.
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(HEAVIEST);

    let mut table = new_table();
    table.set_header([
        "Node",
        "Cost",
        "Est. rows",
        "Rows",
        "Loops",
        "Self time",
        "Total time",
        "Shared blocks",
        "Heaviest",
    ]);
    for (i, (depth, node)) in nodes.iter().enumerate() {
        let heaviest = ranked
            .iter()
            .position(|(n, _)| *n == i)
            .map(|rank| {
                let share = node
                    .derived
                    .exclusive_time_ms
                    .filter(|_| total > 0.0)
                    .map(|t| format!(" {:.1}%", t / total * 100.0))
                    .unwrap_or_default();
                format!("#{}{share}", rank + 1)
            })
            .unwrap_or_default();
        let rows = if node.never_executed {
            "never executed".to_owned()
        } else {
            opt(node.actual_rows, count)
        };
        table.add_row([
            tree_label(*depth, node),
            opt(node.total_cost, cost),
            opt(node.plan_rows, count),
            rows,
            opt(node.actual_loops.filter(|_| !node.never_executed), count),
            opt(node.derived.exclusive_time_ms, ms),
            opt(node.derived.inclusive_time_ms, ms),
            shared_blocks(node),
            heaviest,
        ]);
    }
    align_numbers(&mut table, 1..8);
    write_table(&table, out)?;

    if !analyzed {
        writeln!(
            out,
            "Estimates only: the plan was not executed (EXPLAIN without ANALYZE)."
        )?;
    }
    let mut timing = Vec::new();
    if let Some(t) = plan.planning_time_ms {
        timing.push(format!("Planning time: {}", ms(t)));
    }
    if let Some(t) = plan.execution_time_ms {
        timing.push(format!("Execution time: {}", ms(t)));
    }
    if !timing.is_empty() {
        writeln!(out, "{}", timing.join("   "))?;
    }
    for trigger in &plan.triggers {
        let mut line = format!("Trigger {}", trigger.trigger_name);
        if let Some(relation) = &trigger.relation {
            line.push_str(&format!(" on {relation}"));
        }
        if let Some(t) = trigger.time_ms {
            line.push_str(&format!(": {}", ms(t)));
        }
        if let Some(calls) = trigger.calls {
            line.push_str(&format!(", {calls} calls"));
        }
        writeln!(out, "{line}")?;
    }
    if let Some(jit) = &plan.jit {
        let functions = jit
            .functions
            .map_or(String::new(), |f| format!("{f} functions"));
        let time = jit
            .timing_ms
            .get("Total")
            .map_or(String::new(), |t| format!(", {}", ms(*t)));
        writeln!(out, "JIT: {functions}{time}")?;
    }
    Ok(())
}

/// Writes how two plans of one query differ: the unified diff of their
/// shapes (or that the shape is unchanged), the plan-wide figures side by
/// side, and each matched node's cost, rows, time and shared blocks.
pub fn render_diff(
    old_name: &str,
    old: &Plan,
    new_name: &str,
    new: &Plan,
    matching: &Matching<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    if shape(old) == shape(new) {
        let print = fingerprint(new);
        writeln!(out, "Plan shape unchanged (fingerprint {}).", &print[..12])?;
    } else {
        writeln!(out, "Plan shape changed:")?;
        let (old_shape, new_shape) = (shape(old), shape(new));
        let diff = similar::TextDiff::from_lines(&old_shape, &new_shape);
        write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .header(old_name, new_name)
        )?;
    }
    writeln!(out)?;

    let mut summary = new_table();
    summary.set_header(["", "Old", "New", "Change"]);
    let figures: [Figure; 5] = [
        ("Total cost", |p| p.root.total_cost, cost),
        ("Execution time", |p| p.execution_time_ms, ms),
        ("Planning time", |p| p.planning_time_ms, ms),
        ("Shared blocks", |p| shared(&p.root), count),
        ("Nodes", |p| Some(p.root.count() as f64), count),
    ];
    for (name, get, format) in figures {
        let (a, b) = (get(old), get(new));
        if a.is_none() && b.is_none() {
            continue;
        }
        summary.add_row([
            name.to_owned(),
            opt(a, format),
            opt(b, format),
            change(a, b),
        ]);
    }
    align_numbers(&mut summary, 1..4);
    write_table(&summary, out)?;

    if matching.pairs.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        if matching.by == MatchedBy::Position {
            "Nodes, matched by position:"
        } else {
            "Nodes reading the same relation, and the roots:"
        }
    )?;
    let mut nodes = new_table();
    nodes.set_header([
        "Path",
        "Node",
        "Cost",
        "Rows",
        "Total time",
        "Shared blocks",
    ]);
    for pair in &matching.pairs {
        let (a, b) = (pair.old.node, pair.new.node);
        let (old_path, new_path) = (pair.old.path(), pair.new.path());
        let path = if old_path == new_path {
            new_path
        } else {
            format!("{old_path} -> {new_path}")
        };
        let (old_label, new_label) = (label(a), label(b));
        let node = if old_label == new_label {
            new_label
        } else {
            format!("{old_label}\n-> {new_label}")
        };
        let rows = |n: &Node| n.actual_rows.or(n.plan_rows);
        nodes.add_row([
            path,
            node,
            side_by_side(a.total_cost, b.total_cost, cost),
            side_by_side(rows(a), rows(b), count),
            side_by_side(a.derived.inclusive_time_ms, b.derived.inclusive_time_ms, ms),
            side_by_side(shared(a), shared(b), count),
        ]);
    }
    align_numbers(&mut nodes, 2..6);
    write_table(&nodes, out)
}

fn new_table() -> Table {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table
}

fn align_numbers(table: &mut Table, columns: std::ops::Range<usize>) {
    for i in columns {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

fn write_table(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The node's label indented like EXPLAIN's tree, with its subplan name.
fn tree_label(depth: usize, node: &Node) -> String {
    let mut text = String::new();
    if depth > 0 {
        text.push_str(&"   ".repeat(depth - 1));
        text.push_str("-> ");
    }
    if let Some(name) = &node.subplan_name {
        text.push_str(name);
        text.push_str(": ");
    }
    text.push_str(&label(node));
    text
}

/// Shared blocks hit plus read, over all loops, children included (as
/// EXPLAIN counts them).
fn shared(node: &Node) -> Option<f64> {
    let b = &node.buffers;
    (b.shared_hit.is_some() || b.shared_read.is_some()).then(|| b.shared_touched() as f64)
}

fn shared_blocks(node: &Node) -> String {
    opt(shared(node), count)
}

fn opt(value: Option<f64>, format: fn(f64) -> String) -> String {
    value.map_or_else(|| "-".to_owned(), format)
}

fn side_by_side(a: Option<f64>, b: Option<f64>, format: fn(f64) -> String) -> String {
    match (a, b) {
        (None, None) => "-".to_owned(),
        (a, b) if a == b => opt(a, format),
        (a, b) => format!(
            "{} -> {} ({})",
            opt(a, format),
            opt(b, format),
            change(a, b)
        ),
    }
}

/// How `new` compares with `old`: a percentage, or a factor from ten times.
fn change(old: Option<f64>, new: Option<f64>) -> String {
    match (old, new) {
        (Some(a), Some(b)) if a == b => "=".to_owned(),
        (Some(0.0), Some(b)) => format!("+{}", trim(b)),
        (Some(a), Some(b)) if b / a >= 10.0 => format!("x{:.1}", b / a),
        (Some(a), Some(b)) => format!("{:+.1}%", (b - a) / a * 100.0),
        _ => "-".to_owned(),
    }
}

fn trim(value: f64) -> String {
    if value.fract() == 0.0 {
        count(value)
    } else {
        format!("{value:.2}")
    }
}

/// A duration in milliseconds, in the unit people read it in.
pub fn ms(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.2} s", value / 1000.0)
    } else if value >= 100.0 {
        format!("{value:.0} ms")
    } else if value >= 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.3} ms")
    }
}

fn cost(value: f64) -> String {
    format!("{value:.2}")
}

/// Rows, loops and blocks: whole numbers with thousands separators,
/// PostgreSQL 18's fractional averages with two decimals.
fn count(value: f64) -> String {
    let text = format!("{:.2}", value.abs());
    let (digits, decimals) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if decimals != "00" {
        grouped.push('.');
        grouped.push_str(decimals);
    }
    if value < 0.0 {
        grouped.insert(0, '-');
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_units_people_read() {
        assert_eq!(ms(0.0123), "0.012 ms");
        assert_eq!(ms(12.34), "12.3 ms");
        assert_eq!(ms(456.7), "457 ms");
        assert_eq!(ms(1234.5), "1.23 s");
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(12.5), "12.50");
        assert_eq!(count(133333.67), "133,333.67");
        assert_eq!(count(-1500.0), "-1,500");
        assert_eq!(change(Some(10.0), Some(15.0)), "+50.0%");
        assert_eq!(change(Some(10.0), Some(5.0)), "-50.0%");
        assert_eq!(change(Some(8.0), Some(1234.0)), "x154.2");
        assert_eq!(change(Some(0.0), Some(3.0)), "+3");
        assert_eq!(change(Some(3.0), Some(3.0)), "=");
        assert_eq!(change(None, Some(3.0)), "-");
    }
}
