//! Connecting the libpq way, against real servers: URI, keyword/value, PG*
//! variables, unix sockets, .pgpass, SCRAM passwords, TLS from `require` to
//! `verify-full`, and the one-line errors with exit code 3.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;

use planguard::conn::ConnParams;
use planguard::tempdb::{TempDb, TempDbOptions};

use crate::support::{self, planguard};

const PASSWORD: &str = "Sc0pe-d0g:hidden";

/// A cluster with TLS on (a certificate for 127.0.0.1 and localhost signed
/// by a CA made here), a SCRAM role `pwuser` and a role `tlsonly` that may
/// only connect over TLS.
struct AuthCluster {
    db: TempDb,
    dir: tempfile::TempDir,
}

impl AuthCluster {
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }
    fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other-ca.crt")
    }
}

fn ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().unwrap();
    (params.self_signed(&key).unwrap(), key)
}

fn auth_cluster() -> &'static AuthCluster {
    static CLUSTER: OnceLock<AuthCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (ca_cert, ca_key) = ca("planguard test CA");
        let (other_cert, _) = ca("some other CA");
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_cert = params.signed_by(&server_key, &ca_cert, &ca_key).unwrap();
        std::fs::write(dir.path().join("ca.crt"), ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("other-ca.crt"), other_cert.pem()).unwrap();
        let options = TempDbOptions {
            settings: vec![
                ("ssl".into(), "on".into()),
                ("ssl_cert_file".into(), "server.crt".into()),
                ("ssl_key_file".into(), "server.key".into()),
                ("password_encryption".into(), "scram-sha-256".into()),
            ],
            hba: vec![
                "host all pwuser 127.0.0.1/32 scram-sha-256".into(),
                "local all pwuser scram-sha-256".into(),
                "hostnossl all tlsonly 127.0.0.1/32 reject".into(),
            ],
            files: vec![
                ("server.crt".into(), server_cert.pem().into_bytes()),
                ("server.key".into(), server_key.serialize_pem().into_bytes()),
            ],
            ..Default::default()
        };
        let db = support::own_cluster(options);
        // Whichever test gets here first, inside a runtime or not.
        support::block_on(async {
            let client = support::connect(&db.conninfo("postgres")).await;
            client
                .batch_execute(&format!(
                    "CREATE ROLE pwuser LOGIN PASSWORD '{PASSWORD}'; CREATE ROLE tlsonly LOGIN;"
                ))
                .await
                .unwrap();
        });
        AuthCluster { db, dir }
    })
}

/// `planguard explain --sql "SELECT 1"` with the given conninfo and
/// environment.
fn explain_select_1(conninfo: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut command = planguard();
    command.args(["explain", "--sql", "SELECT 1"]);
    if let Some(conninfo) = conninfo {
        command.args(["-d", conninfo]);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_connected(output: &Output) {
    assert!(
        output.status.success(),
        "expected success, got {:?}: {}",
        output.status.code(),
        stderr(output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Result"), "top node printed: {stdout}");
}

fn assert_one_line_exit_3(output: &Output) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(3), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains(PASSWORD), "password leaked: {err}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(PASSWORD));
    err
}

#[test]
fn by_uri() {
    let db = support::cluster();
    assert_connected(&explain_select_1(Some(&db.uri("postgres")), &[]));
}

#[test]
fn by_keyword_value_string() {
    let db = support::cluster();
    assert_connected(&explain_select_1(Some(&db.conninfo("postgres")), &[]));
}

#[test]
fn by_pg_environment_variables() {
    let db = support::cluster();
    let port = db.port().to_string();
    assert_connected(&explain_select_1(
        None,
        &[
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", &port),
            ("PGUSER", "postgres"),
            ("PGDATABASE", "postgres"),
            ("PGSSLMODE", "disable"),
        ],
    ));
}

#[test]
fn planguard_database_url_wins_over_database_url() {
    let db = support::cluster();
    // DATABASE_URL points nowhere: only PLANGUARD_DATABASE_URL can work.
    assert_connected(&explain_select_1(
        None,
        &[
            ("PLANGUARD_DATABASE_URL", &db.uri("postgres")),
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing"),
        ],
    ));
}

#[tokio::test]
async fn by_unix_socket() {
    let db = support::cluster();
    let socket = db.socket_dir().display().to_string();
    let conninfo = format!(
        "host={socket} port={} user=postgres dbname=postgres",
        db.port()
    );
    let params = ConnParams::parse(&conninfo).unwrap();
    assert!(params.is_unix_socket());
    let client = params.connect().await.unwrap();
    // A unix-socket backend has no client address.
    let row = client
        .query_one("SELECT inet_client_addr() IS NULL", &[])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    // The same through a URI with a percent-encoded socket directory.
    let uri = format!(
        "postgresql://postgres@{}:{}/postgres",
        socket.replace('/', "%2F"),
        db.port()
    );
    assert_connected(&explain_select_1(Some(&uri), &[]));
}

#[test]
fn password_from_pgpass_file() {
    let cluster = auth_cluster();
    let dir = tempfile::tempdir().unwrap();
    let pgpass = dir.path().join("pgpass");
    let mut file = std::fs::File::create(&pgpass).unwrap();
    // The password holds a colon: escaped as libpq requires.
    writeln!(
        file,
        "127.0.0.1:{}:*:pwuser:{}",
        cluster.db.port(),
        PASSWORD.replace(':', "\\:")
    )
    .unwrap();
    drop(file);
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let conninfo = format!(
        "host=127.0.0.1 port={} user=pwuser dbname=postgres sslmode=disable",
        cluster.db.port()
    );
    let pgpass_str = pgpass.display().to_string();
    assert_connected(&explain_select_1(
        Some(&conninfo),
        &[("PGPASSFILE", &pgpass_str)],
    ));

    // libpq ignores a password file others can read, and says so.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = explain_select_1(Some(&conninfo), &[("PGPASSFILE", &pgpass_str)]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("has group or world access"), "{err}");
    assert!(err.contains("no password supplied"), "{err}");
    assert!(!err.contains(PASSWORD));
}

#[test]
fn scram_password_in_uri_and_pgpassword() {
    let cluster = auth_cluster();
    let port = cluster.db.port();
    let encoded = PASSWORD.replace(':', "%3A");
    let uri = format!("postgresql://pwuser:{encoded}@127.0.0.1:{port}/postgres?sslmode=disable");
    assert_connected(&explain_select_1(Some(&uri), &[]));
    let conninfo = format!("host=127.0.0.1 port={port} user=pwuser dbname=postgres");
    assert_connected(&explain_select_1(
        Some(&conninfo),
        &[("PGPASSWORD", PASSWORD)],
    ));
}

#[test]
fn wrong_password_is_one_clear_line_without_the_password() {
    let cluster = auth_cluster();
    let port = cluster.db.port();
    let uri = format!("postgresql://pwuser:not-{PASSWORD}@127.0.0.1:{port}/postgres");
    let output = explain_select_1(Some(&uri), &[]);
    let err = assert_one_line_exit_3(&output);
    assert!(!err.contains("not-Sc0pe"), "password leaked: {err}");
    assert_eq!(
        err.trim(),
        format!(
            "error: connection to server at \"127.0.0.1\", port {port} failed: FATAL:  password authentication failed for user \"pwuser\""
        )
    );
}

#[test]
fn unreachable_server_names_host_and_port() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conninfo = format!("host=127.0.0.1 port={port} user=x password={PASSWORD} dbname=y");
    let output = explain_select_1(Some(&conninfo), &[]);
    let err = assert_one_line_exit_3(&output);
    assert!(
        err.starts_with(&format!(
            "error: connection to server at \"127.0.0.1\", port {port} failed: "
        )),
        "{err}"
    );
    assert!(err.contains("refused"), "{err}");

    // A socket directory with no server in it.
    let empty = tempfile::tempdir().unwrap();
    let conninfo = format!("host={} port=5999 user=x", empty.path().display());
    let err = assert_one_line_exit_3(&explain_select_1(Some(&conninfo), &[]));
    assert!(
        err.contains(&format!(
            "server on socket \"{}/.s.PGSQL.5999\"",
            empty.path().display()
        )),
        "{err}"
    );
}

#[test]
fn bad_conninfo_is_a_usage_error() {
    let output = explain_select_1(Some("host=x bogus=1"), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim(),
        "error: invalid connection option \"bogus\""
    );
    let output = explain_select_1(Some("postgres://a,b/db"), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("several hosts"));
}

async fn ssl_in_use(conninfo: &str) -> Result<bool, String> {
    let client = ConnParams::parse(conninfo)
        .unwrap()
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn tls_require_encrypts_without_verifying() {
    let cluster = auth_cluster();
    let port = cluster.db.port();
    // `require` without a root certificate: encrypted, not verified (the
    // server's CA is unknown here).
    let base = format!("host=127.0.0.1 port={port} user=tlsonly dbname=postgres");
    assert_eq!(
        ssl_in_use(&format!("{base} sslmode=require")).await,
        Ok(true)
    );
    // `prefer` (the default) also ends up encrypted.
    assert_eq!(ssl_in_use(&base).await, Ok(true));
    // `disable` is refused by the hostnossl reject line.
    let err = ssl_in_use(&format!("{base} sslmode=disable"))
        .await
        .unwrap_err();
    assert!(err.contains("pg_hba.conf rejects connection"), "{err}");
}

#[tokio::test]
async fn tls_verify_full_with_the_right_root() {
    let cluster = auth_cluster();
    let port = cluster.db.port();
    let ca = cluster.ca().display().to_string();
    for host in ["127.0.0.1", "localhost"] {
        let conninfo = format!(
            "host={host} port={port} user=tlsonly dbname=postgres sslmode=verify-full sslrootcert={ca}"
        );
        assert_eq!(ssl_in_use(&conninfo).await, Ok(true), "{host}");
    }
    // verify-ca checks the chain but not the name: connecting by an address
    // the certificate does not name works with verify-ca only.
    let by_hostaddr = format!(
        "host=db.invalid hostaddr=127.0.0.1 port={port} user=tlsonly dbname=postgres sslrootcert={ca}"
    );
    assert_eq!(
        ssl_in_use(&format!("{by_hostaddr} sslmode=verify-ca")).await,
        Ok(true)
    );
    let err = ssl_in_use(&format!("{by_hostaddr} sslmode=verify-full"))
        .await
        .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn tls_verify_full_with_a_wrong_root_fails_clearly() {
    let cluster = auth_cluster();
    let port = cluster.db.port();
    let other = cluster.other_ca().display().to_string();
    let conninfo = format!(
        "host=127.0.0.1 port={port} user=tlsonly dbname=postgres sslmode=verify-full sslrootcert={other}"
    );
    let err = assert_one_line_exit_3(&explain_select_1(Some(&conninfo), &[]));
    assert!(
        err.starts_with(&format!(
            "error: connection to server at \"127.0.0.1\", port {port} failed: "
        )),
        "{err}"
    );
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(
        err.contains(&format!("root certificates: {other}")),
        "{err}"
    );
}
