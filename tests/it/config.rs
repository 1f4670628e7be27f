//! The configuration and every query's directives are validated when the
//! query set loads, before the first connection: a typo costs no run.

use crate::support::{run_in, write_queries};

/// A bad `thresholds` directive is exit 2 naming the file and the key in
/// every command that runs queries, and nothing is sent to the server: the
/// connection string points at a port where nothing listens, which would
/// be exit 3 had planguard tried to connect.
#[test]
fn a_bad_directive_stops_every_command_before_it_connects() {
    let dir = tempfile::tempdir().unwrap();
    write_queries(
        dir.path(),
        &[
            ("good", "SELECT 1"),
            (
                "orders/typo",
                "-- planguard: thresholds.cost_ration = 2.0\nSELECT 2",
            ),
        ],
    );
    let nowhere = "host=127.0.0.1 port=1 user=nobody dbname=nothing connect_timeout=2";
    for command in [
        &["baseline", "-d", nowhere][..],
        &["check", "-d", nowhere],
        &["snapshot", "--update", "-d", nowhere],
        &["snapshot", "--check", "-d", nowhere],
    ] {
        let (code, stdout, stderr) = run_in(dir.path(), command);
        assert_eq!(code, 2, "{command:?}: {stderr}");
        assert!(stdout.is_empty(), "{command:?}: no report: {stdout}");
        assert!(
            stderr.contains("queries/orders/typo.sql: thresholds:")
                && stderr.contains("cost_ration"),
            "{command:?}: {stderr}"
        );
        assert!(
            !stderr.contains("connect"),
            "{command:?}: it tried to connect: {stderr}"
        );
    }
    // The same set without the typo gets as far as the connection.
    std::fs::write(
        dir.path().join("queries/orders/typo.sql"),
        "-- planguard: thresholds.cost_ratio = 2.0\nSELECT 2",
    )
    .unwrap();
    let (code, _, stderr) = run_in(dir.path(), &["check", "-d", nowhere]);
    assert_eq!(code, 3, "{stderr}");
}
