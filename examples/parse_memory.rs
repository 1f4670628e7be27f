//! Peak memory of parsing one plan, for docs/PERFORMANCE.md.
//!
//! ```sh
//! cargo run --release --example parse_memory -- target/bench-data/large.json
//! cargo run --release --example parse_memory -- target/bench-data/large.json value
//! ```
//!
//! Reads the file, notes the process's peak resident set size (`VmHWM` in
//! /proc/self/status, Linux), parses (with `parse_json`, `parse_text` for a
//! `.txt` file, or into a `serde_json::Value` with `value`), and prints the
//! growth of the peak against the input size. The input stays in memory
//! throughout, so the growth is what parsing took.

use std::process::ExitCode;

fn peak_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Objects with a "Node Type" anywhere in the value.
fn count_nodes(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => {
            usize::from(map.contains_key("Node Type"))
                + map.values().map(count_nodes).sum::<usize>()
        }
        serde_json::Value::Array(items) => items.iter().map(count_nodes).sum(),
        _ => 0,
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: parse_memory FILE [value]");
        return ExitCode::from(2);
    };
    let as_value = args.next().as_deref() == Some("value");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(before) = peak_kb() else {
        eprintln!("error: no VmHWM in /proc/self/status (Linux only)");
        return ExitCode::from(2);
    };
    let (what, nodes) = if as_value {
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            Err(e) => {
                eprintln!("error: {path}: {e}");
                return ExitCode::from(2);
            }
        };
        let nodes = count_nodes(&value);
        std::hint::black_box(&value);
        ("serde_json::Value", nodes)
    } else {
        let parsed = if path.ends_with(".txt") {
            std::str::from_utf8(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|t| planguard::plan::parse_text(t).map_err(|e| e.to_string()))
        } else {
            planguard::plan::parse_json(&bytes).map_err(|e| e.to_string())
        };
        match parsed {
            Ok(plan) => {
                let nodes = plan.root.count();
                std::hint::black_box(&plan);
                ("planguard::plan", nodes)
            }
            Err(e) => {
                eprintln!("error: {path}: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let after = peak_kb().unwrap_or(before);
    let input_kb = bytes.len() as f64 / 1024.0;
    let grown = after.saturating_sub(before) as f64;
    println!(
        "{what}: {nodes} nodes, input {:.1} MB, peak RSS {:.1} MB before parsing, {:.1} MB after: \
         +{:.1} MB = {:.2}x the input",
        input_kb / 1024.0,
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        grown / 1024.0,
        grown / input_kb
    );
    ExitCode::SUCCESS
}
