//! `planguard demo` end to end: it must catch the regression it injects.

use crate::support::planguard;

#[test]
fn the_demo_catches_the_regression_it_injects() {
    let output = planguard().arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}\n{stdout}");
    assert!(
        stderr.contains("planguard caught the regression"),
        "{stderr}"
    );
    assert!(stderr.contains("baseline: 10 recorded"), "{stderr}");
    // The dropped index is found on the query that used it, with its cause.
    assert!(stdout.contains("orders/by_customer"), "{stdout}");
    assert!(stdout.contains("index-lost"), "{stdout}");
    assert!(
        stdout.contains("index orders_customer_id_idx on public.orders was dropped"),
        "{stdout}"
    );
    // The tighter work_mem makes sorts spill, and the cause says so.
    assert!(stdout.contains("disk-spill"), "{stdout}");
    assert!(stdout.contains("work_mem changed"), "{stdout}");
    // The report file it names exists and is a JSON report.
    let path = stderr
        .lines()
        .find_map(|l| l.strip_prefix("The JSON report: "))
        .expect("the report path is printed");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.trim()).unwrap()).unwrap();
    assert_eq!(report["summary"]["queries"], 10);
    assert!(report["summary"]["regressions"].as_u64().unwrap() >= 3);
    // So does the HTML report, with the plan trees of every query.
    let html = stderr
        .lines()
        .find_map(|l| l.split_once(": file://").map(|(_, p)| p))
        .expect("the HTML report path is printed");
    let page = std::fs::read_to_string(html.trim()).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        page.matches("<div class=\"plan now\"").count(),
        10,
        "a current plan tree per query"
    );
    let dir = std::path::Path::new(path.trim()).parent().unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
