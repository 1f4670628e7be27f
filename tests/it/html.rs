//! The HTML report in a real browser: a check that finds a lost index
//! writes the page, headless Chromium loads it, and the DOM after load has
//! every plan node, the changed nodes marked and no console message.
//!
//! Chromium is Debian's `chromium` (scripts/install-deps.sh and .ci/run
//! install it); `PLANGUARD_CHROMIUM` names another binary. Without one the
//! test fails: a browser test that is skipped proves nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{run_in, seeded};

fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("PLANGUARD_CHROMIUM") {
        return PathBuf::from(path);
    }
    for candidate in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/snap/bin/chromium",
    ] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "no Chromium for the HTML report test: install Debian's `chromium` \
         (scripts/install-deps.sh does) or set PLANGUARD_CHROMIUM"
    );
}

/// What headless Chromium made of a page: the DOM after its scripts ran,
/// and the page's console messages from Chromium's log.
pub struct Loaded {
    pub dom: String,
    pub console: Vec<String>,
}

/// Loads `page` in headless Chromium, offline, with a fresh profile; with
/// `screenshot`, also writes a PNG of the first screenful there.
pub fn load(page: &Path, screenshot: Option<&Path>) -> Loaded {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium());
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    // A screenshot is of the first screenful: make it a tall one.
    command.arg(if screenshot.is_some() {
        "--window-size=1400,2400"
    } else {
        "--window-size=1400,1000"
    });
    command.arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(png) => command.arg(format!("--screenshot={}", png.display())),
        None => command.arg("--dump-dom"),
    };
    command.arg(format!("file://{}", page.display()));
    let output = command.output().expect("chromium starts");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    Loaded {
        dom: String::from_utf8(output.stdout).unwrap(),
        console,
    }
}

const SCHEMA: &str = "
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO customers SELECT i, 'c' || i FROM generate_series(1, 5000) i;
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, amount numeric NOT NULL);
    INSERT INTO orders SELECT i, 1 + i % 5000, i % 1000 FROM generate_series(1, 100000) i;
    CREATE INDEX orders_customer_id_idx ON orders (customer_id);";

const QUERIES: &[(&str, &str)] = &[
    (
        "orders/by_customer",
        "SELECT o.id, o.amount, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.customer_id = 42",
    ),
    ("customers/one", "SELECT name FROM customers WHERE id = 7"),
];

/// The section of one query in the page (`<section class="query" ...>`
/// up to its end).
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let heading = format!(">{id}</a> <span class=\"status");
    let at = dom
        .find(&heading)
        .unwrap_or_else(|| panic!("no section for {id}"));
    let start = dom[..at].rfind("<section class=\"query\"").unwrap();
    let end = start + dom[start..].find("</section>").unwrap();
    &dom[start..end]
}

/// The nodes of one side's tree in a query's section.
fn nodes_of(section: &str, side: &str) -> usize {
    let start = section
        .find(&format!("<div class=\"plan {side}\""))
        .unwrap_or_else(|| panic!("no {side} plan"));
    let rest = &section[start + 1..];
    let end = rest.find("<div class=\"plan ").unwrap_or(rest.len());
    rest[..end].matches("<div class=\"node").count()
}

#[tokio::test]
async fn html_report_loads_in_chromium_with_every_node() {
    let (db, dir) = seeded(SCHEMA, QUERIES).await;
    let once = ["-d", &db.conninfo, "--runs", "1", "--warmup", "0"];
    let (code, _, err) = run_in(dir.path(), &[&["baseline"], &once[..]].concat());
    assert_eq!(code, 0, "{err}");
    db.client()
        .await
        .batch_execute("DROP INDEX orders_customer_id_idx")
        .await
        .unwrap();

    let formats = [
        "--format",
        "html:report.html",
        "--format",
        "json:report.json",
    ];
    let (code, _, err) = run_in(dir.path(), &[&["check"], &once[..], &formats].concat());
    assert_eq!(code, 1, "the lost index fails the check: {err}");
    let page = dir.path().join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert!(
        report["queries"][0]["current"].get("plan").is_none(),
        "the JSON has no plans without --include-plans"
    );

    // Self-contained: nothing in it points at another resource.
    for needle in ["http://", "https://", "src=", "<link", "@import", "url("] {
        assert!(!html.contains(needle), "the page references {needle:?}");
    }

    let loaded = load(&page, None);
    assert!(
        loaded.console.is_empty(),
        "console messages: {:#?}",
        loaded.console
    );
    assert!(
        loaded.dom.contains("<body data-ready=\"true\">"),
        "the page's script ran to its end"
    );

    for q in report["queries"].as_array().unwrap() {
        let id = q["id"].as_str().unwrap();
        let s = section(&loaded.dom, id);
        let now = q["current"]["nodes"].as_u64().unwrap() as usize;
        let then = q["baseline"]["nodes"].as_u64().unwrap() as usize;
        assert_eq!(nodes_of(s, "now"), now, "{id}: nodes now");
        assert_eq!(nodes_of(s, "baseline"), then, "{id}: nodes in the baseline");
    }

    // The lost index: its findings link to the node, the scan is marked
    // as changed on both sides; the unchanged query has no mark.
    let lost = section(&loaded.dom, "orders/by_customer");
    let finding = report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == "orders/by_customer")
        .unwrap()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "index-lost")
        .expect("index-lost is found")
        .clone();
    let path = finding["node"]["path"].as_str().unwrap();
    let anchor = format!("href=\"#q1-now-{path}\"");
    assert!(lost.contains(&anchor), "the finding links to its node");
    let node_start = lost.find(&format!("id=\"q1-now-{path}\"")).unwrap();
    let node_tag = &lost[lost[..node_start].rfind('<').unwrap()..node_start];
    assert!(
        node_tag.contains("changed") && node_tag.contains("flagged"),
        "the seq scan is marked changed and flagged: {node_tag}"
    );
    assert!(lost.contains("Seq Scan"), "{lost}");
    assert!(
        lost.matches("class=\"node changed").count() >= 2,
        "changed nodes on both sides"
    );
    let unchanged = section(&loaded.dom, "customers/one");
    assert!(!unchanged.contains("node changed"));

    // A picture to look at, when asked for (PLANGUARD_HTML_SCREENSHOT=FILE).
    if let Some(png) = std::env::var_os("PLANGUARD_HTML_SCREENSHOT") {
        let png = PathBuf::from(png);
        load(&page, Some(&png));
        assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
    }
}

#[test]
fn html_report_of_a_saved_result_says_when_plans_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mut json = Vec::new();
    planguard::report::json::render(&crate::report::sample_report(), &mut json).unwrap();
    std::fs::write(dir.path().join("result.json"), json).unwrap();
    let (code, out, err) = run_in(dir.path(), &["report", "result.json", "--format", "html"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("<!DOCTYPE html>"));
    assert!(
        out.contains("The plans are not in this result"),
        "a query without its plan says how to include them"
    );
    // The one query saved with its plan shows its tree.
    assert!(out.contains("<div class=\"plan now\""));
}
