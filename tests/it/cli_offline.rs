//! `planguard explain FILE` and `planguard diff OLD NEW`, run as the real
//! binary on the fixtures: exit code, stdout and stderr snapshotted. Also
//! `explain --sql`, which prints the same table for a plan made on a server.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs planguard in the crate root with `stdin` as its input and returns
/// the exit code, stdout and stderr as one text.
fn planguard(args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_planguard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PLANGUARD_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("planguard runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin is written");
    let output = child.wait_with_output().expect("planguard finishes");
    format!(
        "exit code: {}\n--- stdout\n{}--- stderr\n{}",
        output
            .status
            .code()
            .map_or("none".into(), |c| c.to_string()),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn explain_a_nested_loop_with_memoize() {
    insta::assert_snapshot!(planguard(
        &["explain", "fixtures/plans/pg17/memoize.json"],
        ""
    ));
}

#[test]
fn explain_parallel_workers_triggers_and_ctes() {
    insta::assert_snapshot!(planguard(
        &["explain", "fixtures/plans/pg18/parallel_hash_join.json"],
        ""
    ));
    insta::assert_snapshot!(planguard(
        &[
            "explain",
            "fixtures/plans/pg16/insert_returning_trigger.json"
        ],
        ""
    ));
    insta::assert_snapshot!(planguard(
        &["explain", "fixtures/plans/pg13/cte_materialized.json"],
        ""
    ));
}

#[test]
fn explain_reads_stdin_and_plans_without_analyze() {
    let plan = r#"[{"Plan": {"Node Type": "Limit", "Startup Cost": 0.29, "Total Cost": 1.01,
        "Plan Rows": 20, "Plan Width": 14, "Plans": [{"Node Type": "Index Scan",
        "Parent Relationship": "Outer", "Scan Direction": "Backward",
        "Index Name": "orders_order_date_idx", "Relation Name": "orders", "Alias": "orders",
        "Startup Cost": 0.29, "Total Cost": 7214.29, "Plan Rows": 200000, "Plan Width": 14}]}}]"#;
    insta::assert_snapshot!(planguard(&["explain", "-"], plan));
}

#[test]
fn diff_of_two_runs_of_one_plan() {
    insta::assert_snapshot!(planguard(
        &[
            "diff",
            "fixtures/plans/pg13/hash_join.json",
            "fixtures/reruns/pg13/hash_join.json"
        ],
        ""
    ));
}

#[test]
fn diff_of_a_plan_that_changed() {
    insta::assert_snapshot!(planguard(
        &[
            "diff",
            "fixtures/plans/pg17/partition_prune_plan_time.json",
            "fixtures/plans/pg17/partition_prune_run_time.json"
        ],
        ""
    ));
    // The same query, a different plan in the second capture.
    insta::assert_snapshot!(planguard(
        &[
            "diff",
            "fixtures/plans/pg17/partition_prune_exec_param.json",
            "fixtures/reruns/pg17/partition_prune_exec_param.json"
        ],
        ""
    ));
}

#[test]
fn a_file_that_is_not_a_plan_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-a-plan.json");
    std::fs::write(&bad, "{\"a\": 1}\n").unwrap();
    let truncated = dir.path().join("truncated.json");
    std::fs::write(
        &truncated,
        "[\n  {\n    \"Plan\": {\n      \"Node Type\": \"Seq",
    )
    .unwrap();
    let dir_name = dir.path().display().to_string();
    insta::with_settings!({filters => vec![(dir_name.as_str(), "[TMP]")]}, {
        insta::assert_snapshot!(planguard(&["explain", bad.to_str().unwrap()], ""));
        insta::assert_snapshot!(planguard(&["explain", truncated.to_str().unwrap()], ""));
        insta::assert_snapshot!(planguard(
            &["diff", "fixtures/plans/pg17/memoize.json", bad.to_str().unwrap()],
            ""
        ));
    });
    insta::assert_snapshot!(planguard(&["explain", "-"], "[]"));
    insta::assert_snapshot!(planguard(
        &["explain", "fixtures/plans/no-such-plan.json"],
        ""
    ));
}

/// The one case that needs a server: the plan comes from EXPLAIN (FORMAT
/// JSON) through parse_json into the same table. Costs drift between
/// servers, so this asserts the shape of the output, not a snapshot.
#[tokio::test]
async fn explain_sql_prints_the_same_table() {
    let db = crate::support::TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT g, 'x' FROM generate_series(1, 1000) g;
             ANALYZE t;",
        )
        .await
        .expect("test table");
    let output = crate::support::planguard()
        .args(["-d", &db.conninfo, "explain", "--sql"])
        .arg("SELECT * FROM t WHERE id = 42")
        .output()
        .expect("planguard runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Index Scan using t_pkey on t"), "{stdout}");
    assert!(stdout.contains("Est. rows"), "{stdout}");
    assert!(
        stdout.contains("Estimates only: the plan was not executed"),
        "{stdout}"
    );
}

/// Runs the binary and parses its stdout as a JSON report.
fn json_report(args: &[&str]) -> serde_json::Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_planguard"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn explain_and_diff_speak_the_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/plans/rules/index-lost");
    let baseline: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("fires_index_dropped.baseline.json")).unwrap(),
    )
    .unwrap();
    let old = dir.path().join("before.json");
    std::fs::write(&old, baseline["plan"].to_string()).unwrap();
    let new = fixtures.join("fires_index_dropped.json");

    // explain: one query named after the file, current filled, no baseline.
    let report = json_report(&["explain", new.to_str().unwrap(), "--format", "json"]);
    assert_eq!(report["schema_version"], 1);
    let query = &report["queries"][0];
    assert_eq!(query["id"], "fires_index_dropped");
    assert!(query["current"]["total_cost"].as_f64().unwrap() > 0.0);
    assert!(query["baseline"].is_null());
    assert!(
        query["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] != "new-query")
    );

    // diff: the baseline comes from OLD and the baseline rules run.
    let report = json_report(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let query = &report["queries"][0];
    assert!(query["baseline"]["total_cost"].as_f64().unwrap() > 0.0);
    let rules: Vec<&str> = query["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"index-lost"), "{rules:?}");
    assert!(rules.contains(&"cost-jump"), "{rules:?}");
}

#[test]
fn completions_and_man_page_come_from_the_same_definitions() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_planguard"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8(output.stdout).unwrap()
    };
    // clap's command tree: every subcommand, and the long flags of each.
    let tree = <planguard::Cli as clap::CommandFactory>::command();
    let longs = |command: &clap::Command| -> Vec<String> {
        command
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect()
    };
    let subcommands: Vec<&clap::Command> = tree.get_subcommands().collect();
    assert!(subcommands.len() >= 10, "{subcommands:?}");
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        // How each shell's script spells a long flag.
        let spelled = |long: &str| match shell {
            "fish" => format!("-l {long}"),
            _ => format!("--{long}"),
        };
        for long in longs(&tree) {
            assert!(script.contains(&spelled(&long)), "{shell}: --{long}");
        }
        for sub in &subcommands {
            let name = sub.get_name();
            assert!(script.contains(name), "{shell} completes {name}");
            for long in longs(sub) {
                assert!(script.contains(&spelled(&long)), "{shell}: {name} --{long}");
            }
        }
    }
    // roff escapes the dashes.
    let man = run(&["man"]);
    assert!(man.contains(".TH planguard 1"), "{man}");
    let roff = |text: &str| text.replace('-', "\\-");
    for long in longs(&tree) {
        assert!(
            man.contains(&format!("\\fB{}\\fR", roff(&format!("--{long}")))),
            "--{long}"
        );
    }
    for sub in &subcommands {
        let name = sub.get_name();
        assert!(
            man.contains(&format!("planguard\\-{}", roff(name))),
            "man: {name}"
        );
        for long in longs(sub) {
            assert!(
                man.contains(&format!("\\fB{}\\fR", roff(&format!("--{long}")))),
                "man: {name} --{long}"
            );
        }
    }
}

/// The first ten minutes are in `--help` as in the README, line for line.
#[test]
fn help_and_readme_show_the_same_first_ten_minutes() {
    let output = crate::support::planguard().arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let start = readme.find("### The first ten minutes").unwrap();
    let block: Vec<&str> = readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with("```sh"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect();
    assert_eq!(block.len(), 5, "{block:?}");
    for line in block {
        assert!(
            help.contains(&format!("  {line}")),
            "{line:?} missing from --help:\n{help}"
        );
    }
}

/// An unknown format names the valid ones, not "not available".
#[test]
fn an_unknown_format_lists_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("p.json");
    std::fs::write(
        &plan,
        r#"[{"Plan": {"Node Type": "Result", "Total Cost": 0.01}}]"#,
    )
    .unwrap();
    let (code, _, stderr) = crate::support::run_in(
        dir.path(),
        &["explain", plan.to_str().unwrap(), "--format", "nope"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("unknown format `nope`; one of: table, json,"),
        "{stderr}"
    );
}

fn fixture(path: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/plans/rules")
        .join(path)
        .display()
        .to_string()
}

/// `explain` prints what is wrong after the plan, as `check` would, and
/// `--fail-on` sets its exit code.
#[test]
fn explain_prints_the_findings_after_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fixture("seq-scan/fires_selective_filter.json");
    let (code, stdout, stderr) = crate::support::run_in(dir.path(), &["explain", &plan]);
    assert_eq!(code, 0, "{stderr}");
    let tree = stdout.find("Seq Scan on orders").expect("the plan table");
    let finding = stdout
        .find("warning [seq-scan] at 0 Seq Scan on orders: Seq Scan on orders read 200000 rows to return 100")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(tree < finding);
    assert!(
        stdout.contains("An index on orders covering the filtered columns"),
        "{stdout}"
    );
    let (code, _, _) =
        crate::support::run_in(dir.path(), &["explain", &plan, "--fail-on", "warning"]);
    assert_eq!(code, 1);
    let (code, _, _) =
        crate::support::run_in(dir.path(), &["explain", &plan, "--fail-on", "error"]);
    assert_eq!(code, 0);
}

/// planguard reads its own files where a plan is expected: a baseline
/// (its plan, and for `diff` its recorded runs and settings), and a
/// result saved with --include-plans (`--query` picks the query).
#[test]
fn explain_and_diff_read_baselines_and_saved_results() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = fixture("index-lost/fires_index_dropped.baseline.json");
    let now = fixture("index-lost/fires_index_dropped.json");
    let (code, stdout, stderr) = crate::support::run_in(dir.path(), &["explain", &baseline]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Bitmap Index Scan using orders_customer_id_idx"),
        "{stdout}"
    );
    let (code, stdout, stderr) = crate::support::run_in(
        dir.path(),
        &[
            "diff",
            &baseline,
            &now,
            "--format",
            "json",
            "--fail-on",
            "error",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let q = &report["queries"][0];
    // The baseline's id and its recorded figures: three runs, the slowest
    // of which the time rule compares with.
    assert_eq!(q["id"], "index-lost/fires_index_dropped");
    let time = q["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "time-regression")
        .unwrap_or_else(|| panic!("{q}"));
    assert_eq!(time["evidence"]["baseline_runs"], 3, "{time}");
    assert!(
        q["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "index-lost"),
        "{q}"
    );

    // A saved result: its current plan, chosen with --query.
    let saved = dir.path().join("result.json");
    let (_, stdout, _) = crate::support::run_in(
        dir.path(),
        &[
            "diff",
            &baseline,
            &now,
            "--format",
            "json",
            "--include-plans",
        ],
    );
    std::fs::write(&saved, &stdout).unwrap();
    let (code, stdout, stderr) = crate::support::run_in(
        dir.path(),
        &[
            "explain",
            saved.to_str().unwrap(),
            "--query",
            "index-lost/fires_index_dropped",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Seq Scan on orders"), "{stdout}");
    let (code, _, stderr) = crate::support::run_in(
        dir.path(),
        &["explain", saved.to_str().unwrap(), "--query", "nope"],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no query `nope` in this result (it has: index-lost/fires_index_dropped)"),
        "{stderr}"
    );
    // Saved without plans: says how to save one that has them.
    let (_, stdout, _) =
        crate::support::run_in(dir.path(), &["diff", &baseline, &now, "--format", "json"]);
    std::fs::write(&saved, &stdout).unwrap();
    let (code, _, stderr) =
        crate::support::run_in(dir.path(), &["explain", saved.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--include-plans"), "{stderr}");
}
