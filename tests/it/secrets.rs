//! Passwords never appear in any output (DESIGN.md, safety model): every
//! command that connects, with the password in a URI, in a keyword/value
//! string and in PGPASSWORD, into every output format, and on every error
//! path (wrong password, unreachable server, bad conninfo, a failing
//! query), with `-v`; stdout, stderr and every file written are searched
//! for the password.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use planguard::tempdb::{TempDb, TempDbOptions};

use crate::support::{self, planguard};

/// Quotes, a backslash and URI delimiters, so that every form needs its
/// own escaping; `7ultra` is searched for, so a password cut in half or
/// escaped differently is still found.
const PASSWORD: &str = "Pw-7ultra'se\\cret:@/?#%&= x";
const TOKEN: &str = "7ultra";
/// The password given on the error paths, also never to be shown.
const WRONG: &str = "Wr0ng-4gamma'pass";
const WRONG_TOKEN: &str = "4gamma";

struct Server {
    db: TempDb,
}

/// A cluster with pg_stat_statements, a SCRAM role `keeper` (password
/// above, pg_read_all_stats) and a database `vault` it can read.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let options = TempDbOptions {
            settings: vec![
                ("password_encryption".into(), "scram-sha-256".into()),
                (
                    "shared_preload_libraries".into(),
                    "pg_stat_statements".into(),
                ),
            ],
            hba: vec!["host all keeper 127.0.0.1/32 scram-sha-256".into()],
            ..Default::default()
        };
        let db = support::own_cluster(options);
        // Whichever test gets here first, inside a runtime or not.
        support::block_on(async {
            let admin = support::connect(&db.conninfo("postgres")).await;
            let literal = PASSWORD.replace('\'', "''");
            admin
                .batch_execute(&format!(
                    "CREATE ROLE keeper LOGIN PASSWORD '{literal}';
                     GRANT pg_read_all_stats TO keeper;"
                ))
                .await
                .unwrap();
            // Not in the implicit transaction of a batch.
            admin.batch_execute("CREATE DATABASE vault").await.unwrap();
            let vault = support::connect(&db.conninfo("vault")).await;
            vault
                .batch_execute(
                    "CREATE EXTENSION pg_stat_statements;
                     CREATE TABLE accounts (id int PRIMARY KEY, owner int NOT NULL);
                     INSERT INTO accounts SELECT i, i % 100 FROM generate_series(1, 5000) i;
                     CREATE INDEX accounts_owner ON accounts (owner);
                     ANALYZE accounts;
                     GRANT SELECT ON accounts TO keeper;",
                )
                .await
                .unwrap();
        });
        Server { db }
    })
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn uri_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A keyword/value string value: quoted, `'` and `\` escaped.
fn keyword_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// How the password is given: the `-d` value and the environment.
struct Form {
    name: &'static str,
    dbname: String,
    env: Vec<(&'static str, String)>,
}

fn forms(port: u16, password: &str) -> Vec<Form> {
    vec![
        Form {
            name: "uri",
            dbname: format!(
                "postgresql://keeper:{}@127.0.0.1:{port}/vault?sslmode=disable",
                uri_encode(password)
            ),
            env: vec![],
        },
        Form {
            name: "keyword",
            dbname: format!(
                "host=127.0.0.1 port={port} user=keeper dbname=vault sslmode=disable password={}",
                keyword_quote(password)
            ),
            env: vec![],
        },
        Form {
            name: "PGPASSWORD",
            dbname: format!("host=127.0.0.1 port={port} user=keeper dbname=vault sslmode=disable"),
            env: vec![("PGPASSWORD", password.to_owned())],
        },
    ]
}

/// Runs planguard in `dir` and checks stdout and stderr; returns the exit
/// code and stderr.
fn run(dir: &Path, form: &Form, args: &[&str], extra_env: &[(&str, &Path)]) -> (i32, String) {
    let mut command = planguard();
    command
        .current_dir(dir)
        .args(args)
        .args(["-d", &form.dbname]);
    for (key, value) in &form.env {
        command.env(key, value);
    }
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    for token in [TOKEN, WRONG_TOKEN] {
        assert!(
            !out.contains(token) && !err.contains(token),
            "{} {args:?}: the password is shown:\n{out}\n{err}",
            form.name
        );
    }
    (output.status.code().unwrap_or(-1), err)
}

/// Every file below `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every format the CLI has (the `sql` one was missing from a hand-kept
/// copy of this list).
const FORMATS: [planguard::report::Format; 9] = planguard::report::Format::ALL;

#[test]
fn no_command_shows_the_password_in_any_form_format_or_error() {
    let server = server();
    let port = server.db.port();
    let mut runs = 0;
    for form in forms(port, PASSWORD) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        support::write_queries(
            d,
            &[
                (
                    "owner",
                    "-- planguard: params = [7]\nSELECT * FROM accounts WHERE owner = $1",
                ),
                ("all", "SELECT count(*) FROM accounts"),
                ("broken", "SELECT * FROM no_such_table"),
            ],
        );
        let summary = d.join("step-summary.md");
        let mut expect = |args: &[&str], codes: &[i32]| {
            let (code, err) = run(
                d,
                &form,
                &[&["-v"], args].concat(),
                &[("GITHUB_STEP_SUMMARY", &summary)],
            );
            assert!(
                codes.contains(&code),
                "{} {args:?}: exit {code}: {err}",
                form.name
            );
            runs += 1;
        };
        // A failing query (no_such_table) on every run: exit 1.
        expect(&["baseline", "--runs", "1", "--warmup", "0"], &[1]);
        for format in FORMATS {
            let spec = format!("{format}:report.{format}");
            expect(&["check", "--runs", "1", "--format", format.name()], &[1]);
            expect(
                &["check", "--runs", "1", "--include-plans", "--format", &spec],
                &[1],
            );
        }
        expect(&["snapshot", "--update"], &[1]);
        expect(&["snapshot", "--check"], &[1]);
        expect(&["explain", "--sql", "SELECT count(*) FROM accounts"], &[0]);
        expect(
            &[
                "explain",
                "--sql",
                "SELECT count(*) FROM accounts",
                "--format",
                "json",
            ],
            &[0],
        );
        expect(
            &["explain", "--sql", "SELECT * FROM no_such_table"],
            &[2, 3],
        );
        expect(
            &[
                "capture",
                "--from",
                "pg_stat_statements",
                "--out",
                "captured",
            ],
            &[0],
        );
        assert!(d.join("captured").is_dir(), "{}: capture wrote", form.name);
        assert!(d.join("report.html").is_file());
        assert!(summary.is_file());
        let written = files(d);
        // Baselines, snapshots, reports in every format, the step summary
        // and the captured set.
        assert!(written.len() >= 15, "{written:?}");
        for file in written {
            let bytes = std::fs::read(&file).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(TOKEN),
                "{}: the password is in {}",
                form.name,
                file.display()
            );
        }
    }
    assert!(runs >= 3 * 23);
}

#[test]
fn error_paths_never_show_the_password() {
    let server = server();
    let port = server.db.port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    support::write_queries(d, &[("all", "SELECT count(*) FROM accounts")]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let commands: &[&[&str]] = &[
        &["baseline"],
        &["check", "--format", "json"],
        &["snapshot", "--check"],
        &["explain", "--sql", "SELECT 1"],
        &[
            "capture",
            "--from",
            "pg_stat_statements",
            "--out",
            "captured",
        ],
    ];
    // A wrong password, and the right one to a port nobody listens on.
    for (what, forms, code) in [
        ("wrong password", forms(port, WRONG), 3),
        ("unreachable", forms(closed, PASSWORD), 3),
    ] {
        for form in &forms {
            for args in commands {
                let (got, err) = run(d, form, &[&["-v"], *args].concat(), &[]);
                assert_eq!(got, code, "{what} {} {args:?}: {err}", form.name);
                assert!(err.starts_with("error: connection to server at"), "{err}");
            }
        }
    }
    // Broken connection strings that hold a password.
    let broken = [
        format!(
            "postgresql://keeper:{}@127.0.0.1:{port}/vault?bogus=1",
            uri_encode(PASSWORD)
        ),
        format!("postgresql://keeper:{TOKEN}%zz@127.0.0.1:{port}/vault"),
        format!("postgresql://keeper:{TOKEN}@127.0.0.1:notaport/vault"),
        format!(
            "host=127.0.0.1 password={} bogus=1",
            keyword_quote(PASSWORD)
        ),
        format!("host=127.0.0.1 password='{TOKEN}"),
        format!("host=127.0.0.1 password {TOKEN}"),
        format!("host=127.0.0.1 port=notaport password={TOKEN}"),
        format!("password={TOKEN} sslmode=sometimes host=127.0.0.1"),
    ];
    for dbname in broken {
        let form = Form {
            name: "broken",
            dbname,
            env: vec![],
        };
        for args in commands {
            let (code, err) = run(d, &form, &[&["-v"], *args].concat(), &[]);
            assert_eq!(code, 2, "{} {args:?}: {err}", form.dbname);
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
    for file in files(d) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            !text.contains(TOKEN) && !text.contains(WRONG_TOKEN),
            "the password is in {}",
            file.display()
        );
    }
}
