//! The fuzzers' inputs replayed in the normal test run: every file of the
//! minimized corpora (`fuzz/corpus/<target>/`) and every input that once
//! crashed, hung or exhausted memory (`fuzz/regressions/<target>/`) goes
//! through the same calls as its fuzz target (`fuzz/fuzz_targets/`) and
//! must give a value or a clean one-line error, never a panic.
//!
//! The corpora were minimized with `cargo fuzz cmin`; docs/SECURITY.md
//! says how long each target ran.

use std::fs;
use std::path::{Path, PathBuf};

use planguard::plan;
use planguard::queryset::Query;

/// The files of `fuzz/corpus/<target>` and `fuzz/regressions/<target>`.
fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        files.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    files
}

/// Runs `check` on every input of `target`, naming the file on a panic.
fn replay(target: &str, check: impl Fn(&[u8])) {
    let files = inputs(target);
    assert!(
        files.len() >= 10,
        "fuzz/corpus/{target} holds {} files: the corpus is missing",
        files.len()
    );
    for file in &files {
        let data = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
        if outcome.is_err() {
            panic!("{} panicked in the {target} parser", file.display());
        }
    }
}

/// An error for people: one line, saying something.
fn assert_clean(error: &dyn std::fmt::Display) {
    let text = error.to_string();
    assert!(!text.trim().is_empty(), "an empty error message");
    assert!(!text.contains('\n'), "a multi-line error message: {text:?}");
}

#[test]
fn plan_json_corpus() {
    // As fuzz/fuzz_targets/plan_json.rs.
    replay("plan_json", |data| match plan::parse_json(data) {
        Ok(parsed) => {
            let _ = plan::shape::fingerprint(&parsed);
            let _ = plan::to_json(&parsed);
        }
        Err(e) => assert_clean(&e),
    });
}

#[test]
fn plan_text_corpus() {
    // As fuzz/fuzz_targets/plan_text.rs.
    replay("plan_text", |data| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        match plan::parse_text(text) {
            Ok(parsed) => {
                let _ = plan::shape::fingerprint(&parsed);
            }
            Err(e) => assert_clean(&e),
        }
        if let Err(e) = plan::parse(text) {
            assert_clean(&e);
        }
    });
}

#[test]
fn query_file_corpus() {
    // As fuzz/fuzz_targets/query_file.rs.
    replay("query_file", |data| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        match Query::parse("fuzz", Path::new("fuzz.sql"), text) {
            Ok(query) => {
                let _ = query.refusal(false, true);
            }
            Err(e) => assert_clean(&e),
        }
    });
}

#[test]
fn server_log_corpus() {
    // As fuzz/fuzz_targets/server_log.rs.
    replay("server_log", |data| {
        if let Err(e) = planguard::capture::log::read(data, Path::new("fuzz.log")) {
            assert_clean(&e);
        }
    });
}
