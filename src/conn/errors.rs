//! Connection and query errors in one line that names the server and
//! never the password.

use super::ConnParams;

/// A conninfo that could not be read. Never quotes a password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConninfoError {
    #[error("invalid connection option \"{0}\"")]
    UnknownKeyword(String),
    #[error("invalid URI query parameter: \"{0}\"")]
    UnknownUriParameter(String),
    #[error("missing \"=\" after \"{0}\" in connection info string")]
    MissingEquals(String),
    #[error("unterminated quoted string in connection info string")]
    UnterminatedQuote,
    #[error("invalid URI: {0}")]
    InvalidUri(String),
    #[error("invalid percent-encoded token in URI: {0}")]
    InvalidPercentEncoding(String),
    #[error("invalid port number: \"{0}\"")]
    InvalidPort(String),
    #[error("invalid {key} value: \"{value}\"")]
    InvalidValue { key: &'static str, value: String },
    #[error("several hosts are given ({0}); planguard connects to exactly one server, so name one")]
    SeveralHosts(String),
    #[error("connection option \"{0}\" is not supported by planguard")]
    Unsupported(String),
}

/// Why the TLS configuration for the `sslmode` could not be built (before
/// anything is sent): the reason of a [`ConnectError`].
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS setup failed")]
    Setup(#[source] rustls::Error),
    #[error("TLS setup failed")]
    Verifier(#[source] rustls::client::VerifierBuilderError),
    #[error("could not read sslcert \"{}\"", path.display())]
    ReadCert {
        path: std::path::PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("could not read sslkey \"{}\"", path.display())]
    ReadKey {
        path: std::path::PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("invalid client certificate")]
    ClientCert(#[source] rustls::Error),
    #[error("sslcert and sslkey must be given together")]
    CertWithoutKey,
    #[error("could not read root certificate file \"{path}\"")]
    ReadRoots {
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("root certificate file \"{path}\" holds no usable certificate")]
    NoRoots { path: String },
    #[error("no system root certificates found; set sslrootcert")]
    NoSystemRoots,
}

/// Why a connection failed: one line naming the server, never the password.
#[derive(Debug, thiserror::Error)]
#[error("connection to {target} failed: {reason}")]
pub struct ConnectError {
    /// `server at "host", port N` or `server on socket "/dir/.s.PGSQL.N"`.
    pub target: String,
    pub reason: String,
    /// The SQLSTATE when the server answered with an error.
    pub sqlstate: Option<String>,
}

/// One line for a connection failure, as libpq words it, and the SQLSTATE
/// when the server sent one.
pub(super) fn describe_connect_error(
    error: &tokio_postgres::Error,
    params: &ConnParams,
) -> (String, Option<String>) {
    if let Some(db) = error.as_db_error() {
        return (
            format!("{}:  {}", db.severity(), db.message()),
            Some(db.code().code().to_owned()),
        );
    }
    // tokio-postgres wraps the cause in a generic context ("error
    // connecting to server"); libpq prints only the cause.
    let top = error.to_string();
    let mut causes: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(error);
    let mut refused = false;
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused
                || (io.kind() == std::io::ErrorKind::NotFound && params.is_unix_socket());
        }
        let text = strip_os_error(&e.to_string());
        if !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        source = e.source();
    }
    if causes.is_empty() {
        causes.push(top.clone());
    } else if top.contains("TLS") {
        causes.insert(0, "TLS handshake failed".to_owned());
    }
    let mut reason = causes.join(": ");
    if reason.contains("password missing") {
        reason = "fe_sendauth: no password supplied".to_owned();
    }
    if refused {
        reason.push_str(if params.is_unix_socket() {
            "; is the server running locally and accepting connections on that socket?"
        } else {
            "; is the server running on that host and accepting TCP/IP connections?"
        });
    }
    if reason.to_lowercase().contains("certificate") {
        let root = params
            .root_cert_source()
            .unwrap_or_else(|| "the system's roots".to_owned());
        reason.push_str(&format!(
            " (sslmode={}, root certificates: {root})",
            params.effective_sslmode().as_str()
        ));
    }
    (reason, None)
}

/// `Connection refused (os error 111)` reads `Connection refused`, as in libpq.
pub(super) fn strip_os_error(text: &str) -> String {
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text.to_owned(),
    }
}

/// One line for a failed query: the server's severity, message and SQLSTATE,
/// or the client-side error.
pub fn describe_query_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        ),
        None => error.to_string(),
    }
}
