//! Connection settings the libpq way, and connecting with them.
//!
//! Promises: a conninfo is read exactly as libpq reads it (URI or
//! keyword/value string, `PG*` environment variables for whatever it leaves
//! out, `~/.pgpass` when no password is given, `sslmode` from `disable` to
//! `verify-full`); the password never appears in any `Display`, `Debug` or
//! error text of this module.
//!
//! References: PostgreSQL docs, libpq "Connection Strings" (34.1.1),
//! "Parameter Key Words" (34.1.2), "Environment Variables" (34.15), "The
//! Password File" (34.16) and "SSL Support" (34.19); libpq's fe-connect.c.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The port libpq uses when none is given.
pub const DEFAULT_PORT: u16 = 5432;

/// Where Debian's libpq looks for the server's socket by default
/// (`DEFAULT_PGSOCKET_DIR`); upstream builds use `/tmp`.
const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

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

/// `sslmode`, as libpq defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    Allow,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, ConninfoError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(ConninfoError::InvalidValue {
                    key: "sslmode",
                    value: value.to_owned(),
                });
            }
        })
    }

    /// The libpq keyword value.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// A password that cannot be printed by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The secret itself, for the authentication exchange only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(********)")
    }
}

/// Connection settings, merged from a conninfo, the environment and libpq's
/// defaults. `Display` gives a redacted keyword/value form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnParams {
    /// Host name, IP address, or a directory holding the server's socket.
    pub host: Option<String>,
    /// Numeric address to connect to instead of resolving `host`.
    pub hostaddr: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    password: Option<Password>,
    pub dbname: Option<String>,
    pub passfile: Option<PathBuf>,
    pub sslmode: Option<SslMode>,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub application_name: Option<String>,
    pub connect_timeout: Option<Duration>,
    /// Server options for the session (`-c name=value ...`).
    pub options: Option<String>,
}

/// Keywords accepted in a conninfo that have no effect here, as libpq
/// accepts them without complaint.
const IGNORED_KEYWORDS: &[&str] = &[
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "client_encoding",
    "sslcompression",
    "sslsni",
    "sslcrl",
    "sslcrldir",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "target_session_attrs",
    "load_balance_hosts",
    "channel_binding",
    "replication",
    "require_auth",
];

impl ConnParams {
    /// Reads a conninfo as psql's `-d` does: a URI, a keyword/value string,
    /// or else a plain database name.
    pub fn parse(conninfo: &str) -> Result<ConnParams, ConninfoError> {
        let trimmed = conninfo.trim();
        if trimmed.starts_with("postgresql://") || trimmed.starts_with("postgres://") {
            parse_uri(trimmed)
        } else if trimmed.contains('=') {
            parse_keywords(trimmed)
        } else {
            let mut params = ConnParams::default();
            if !trimmed.is_empty() {
                params.dbname = Some(trimmed.to_owned());
            }
            Ok(params)
        }
    }

    /// The settings for this process: `conninfo` (from `-d`), else
    /// `PLANGUARD_DATABASE_URL`, else `DATABASE_URL`; then the `PG*`
    /// variables for what is still unset, then libpq's defaults.
    pub fn resolve(conninfo: Option<&str>) -> Result<ConnParams, ConninfoError> {
        ConnParams::resolve_with(conninfo, &|name| std::env::var(name).ok())
    }

    /// [`ConnParams::resolve`] with the environment given as a lookup.
    pub fn resolve_with(
        conninfo: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnParams, ConninfoError> {
        let source = conninfo
            .map(str::to_owned)
            .or_else(|| env("PLANGUARD_DATABASE_URL").filter(|s| !s.is_empty()))
            .or_else(|| env("DATABASE_URL").filter(|s| !s.is_empty()))
            .unwrap_or_default();
        let mut params = ConnParams::parse(&source)?;
        params.apply_env(env)?;
        Ok(params)
    }

    /// Fills unset settings from libpq's environment variables.
    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConninfoError> {
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        for (keyword, variable) in [
            ("host", "PGHOST"),
            ("hostaddr", "PGHOSTADDR"),
            ("port", "PGPORT"),
            ("user", "PGUSER"),
            ("password", "PGPASSWORD"),
            ("dbname", "PGDATABASE"),
            ("passfile", "PGPASSFILE"),
            ("sslmode", "PGSSLMODE"),
            ("sslrootcert", "PGSSLROOTCERT"),
            ("sslcert", "PGSSLCERT"),
            ("sslkey", "PGSSLKEY"),
            ("application_name", "PGAPPNAME"),
            ("connect_timeout", "PGCONNECT_TIMEOUT"),
            ("options", "PGOPTIONS"),
        ] {
            if !self.is_set(keyword) {
                if let Some(value) = get(variable) {
                    self.set(keyword, &value)?;
                }
            }
        }
        Ok(())
    }

    fn is_set(&self, keyword: &str) -> bool {
        match keyword {
            "host" => self.host.is_some(),
            "hostaddr" => self.hostaddr.is_some(),
            "port" => self.port.is_some(),
            "user" => self.user.is_some(),
            "password" => self.password.is_some(),
            "dbname" => self.dbname.is_some(),
            "passfile" => self.passfile.is_some(),
            "sslmode" => self.sslmode.is_some(),
            "sslrootcert" => self.sslrootcert.is_some(),
            "sslcert" => self.sslcert.is_some(),
            "sslkey" => self.sslkey.is_some(),
            "application_name" => self.application_name.is_some(),
            "connect_timeout" => self.connect_timeout.is_some(),
            "options" => self.options.is_some(),
            _ => false,
        }
    }

    /// Sets one keyword. An empty value unsets it, as in libpq.
    fn set(&mut self, keyword: &str, value: &str) -> Result<(), ConninfoError> {
        let text = (!value.is_empty()).then(|| value.to_owned());
        match keyword {
            "host" => {
                if value.contains(',') {
                    return Err(ConninfoError::SeveralHosts(value.to_owned()));
                }
                self.host = text;
            }
            "hostaddr" => {
                if value.contains(',') {
                    return Err(ConninfoError::SeveralHosts(value.to_owned()));
                }
                self.hostaddr = text;
            }
            "port" => {
                if value.contains(',') {
                    return Err(ConninfoError::SeveralHosts(format!("ports {value}")));
                }
                self.port = match text {
                    None => None,
                    Some(p) => Some(parse_port(&p)?),
                };
            }
            "user" => self.user = text,
            "password" => self.password = text.map(Password),
            "dbname" => self.dbname = text,
            "passfile" => self.passfile = text.map(PathBuf::from),
            "sslmode" => self.sslmode = text.as_deref().map(SslMode::parse).transpose()?,
            // libpq's old spelling: requiressl=1 means sslmode=require.
            "requiressl" => {
                if value == "1" {
                    self.sslmode = Some(SslMode::Require);
                }
            }
            "sslrootcert" => self.sslrootcert = text,
            "sslcert" => self.sslcert = text.map(PathBuf::from),
            "sslkey" => self.sslkey = text.map(PathBuf::from),
            "application_name" => self.application_name = text,
            "connect_timeout" => {
                self.connect_timeout = match text {
                    None => None,
                    Some(t) => {
                        let seconds: i64 =
                            t.trim().parse().map_err(|_| ConninfoError::InvalidValue {
                                key: "connect_timeout",
                                value: t.clone(),
                            })?;
                        // libpq: zero or negative waits forever; under 2 s
                        // is raised to 2 s.
                        (seconds > 0).then(|| Duration::from_secs(seconds.max(2) as u64))
                    }
                };
            }
            "options" => self.options = text,
            "service" | "servicefile" => {
                return Err(ConninfoError::Unsupported(keyword.to_owned()));
            }
            k if IGNORED_KEYWORDS.contains(&k) => {}
            other => return Err(ConninfoError::UnknownKeyword(other.to_owned())),
        }
        Ok(())
    }

    /// The password, when one was given (not from `.pgpass`).
    pub fn password(&self) -> Option<&Password> {
        self.password.as_ref()
    }

    /// Sets the password.
    pub fn set_password(&mut self, password: impl Into<String>) {
        self.password = Some(Password(password.into()));
    }

    /// The effective host: the `host` setting, or the default socket
    /// directory (the one holding the server's socket, else Debian's).
    pub fn effective_host(&self) -> String {
        if let Some(host) = &self.host {
            return host.clone();
        }
        if self.hostaddr.is_some() {
            return String::new();
        }
        let port = self.effective_port();
        DEFAULT_SOCKET_DIRS
            .iter()
            .find(|dir| Path::new(dir).join(format!(".s.PGSQL.{port}")).exists())
            .unwrap_or(&DEFAULT_SOCKET_DIRS[0])
            .to_string()
    }

    /// The effective port.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_PORT)
    }

    /// The effective user name: the setting, else the operating-system user.
    pub fn effective_user(&self) -> String {
        self.user.clone().unwrap_or_else(os_user_name)
    }

    /// The effective database: the setting, else the user name.
    pub fn effective_dbname(&self) -> String {
        self.dbname.clone().unwrap_or_else(|| self.effective_user())
    }

    /// Whether the connection goes through a unix-domain socket.
    pub fn is_unix_socket(&self) -> bool {
        self.hostaddr.is_none() && self.effective_host().starts_with('/')
    }

    /// Names the server as libpq's error messages do.
    pub fn target(&self) -> String {
        let port = self.effective_port();
        if self.is_unix_socket() {
            let dir = self.effective_host();
            format!(
                "server on socket \"{}/.s.PGSQL.{port}\"",
                dir.trim_end_matches('/')
            )
        } else {
            match (&self.host, &self.hostaddr) {
                (Some(host), Some(addr)) => {
                    format!("server at \"{host}\" ({addr}), port {port}")
                }
                (None, Some(addr)) => format!("server at \"{addr}\", port {port}"),
                _ => format!("server at \"{}\", port {port}", self.effective_host()),
            }
        }
    }

    /// The password to send: the one given, else the first matching
    /// `.pgpass` line.
    fn password_for_connection(&self) -> Option<String> {
        if let Some(password) = &self.password {
            return Some(password.0.clone());
        }
        let file = self.passfile.clone().or_else(default_passfile)?;
        let host = self
            .host
            .clone()
            .or_else(|| self.hostaddr.clone())
            .unwrap_or_else(|| self.effective_host());
        // libpq: a connection through the default socket directory matches
        // the host name "localhost".
        let host = if host.is_empty() || DEFAULT_SOCKET_DIRS.contains(&host.as_str()) {
            "localhost".to_owned()
        } else {
            host
        };
        pgpass_lookup(
            &file,
            &host,
            &self.effective_port().to_string(),
            &self.effective_dbname(),
            &self.effective_user(),
        )
    }

    /// The `tokio_postgres` configuration for these settings, with the
    /// password resolved (given, else `.pgpass`).
    pub fn to_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        let host = self.effective_host();
        if !host.is_empty() {
            config.host(&host);
        }
        if let Some(addr) = &self.hostaddr {
            if let Ok(ip) = addr.parse() {
                config.hostaddr(ip);
            }
            if host.is_empty() {
                config.host(addr);
            }
        }
        config.port(self.effective_port());
        config.user(self.effective_user());
        config.dbname(self.effective_dbname());
        if let Some(password) = self.password_for_connection() {
            config.password(password);
        }
        config.application_name(self.application_name.as_deref().unwrap_or("planguard"));
        if let Some(timeout) = self.connect_timeout {
            config.connect_timeout(timeout);
        }
        if let Some(options) = &self.options {
            config.options(options);
        }
        config.ssl_mode(match self.effective_sslmode() {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        config
    }

    /// `sslmode` as it applies: TLS is never used on a unix socket, as in
    /// libpq.
    fn effective_sslmode(&self) -> SslMode {
        if self.is_unix_socket() {
            SslMode::Disable
        } else {
            self.sslmode.unwrap_or_default()
        }
    }

    /// Connects, and drives the connection on a background task.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, ConnectError> {
        let config = self.to_config();
        let fail = |reason: String, sqlstate: Option<String>| ConnectError {
            target: self.target(),
            reason,
            sqlstate,
        };
        let tls = self
            .tls_config()
            .map_err(|reason| fail(reason, None))?
            .map(tokio_postgres_rustls::MakeRustlsConnect::new);
        let client = match tls {
            Some(tls) => {
                let (client, connection) = config.connect(tls).await.map_err(|e| {
                    let (reason, code) = describe_connect_error(&e, self);
                    fail(reason, code)
                })?;
                tokio::spawn(connection);
                client
            }
            None => {
                let (client, connection) =
                    config.connect(tokio_postgres::NoTls).await.map_err(|e| {
                        let (reason, code) = describe_connect_error(&e, self);
                        fail(reason, code)
                    })?;
                tokio::spawn(connection);
                client
            }
        };
        Ok(client)
    }

    /// Asks the server to cancel what a session is running (a new
    /// connection, as libpq's PQcancel).
    pub async fn cancel(&self, token: &tokio_postgres::CancelToken) {
        let _ = match self.tls_config() {
            Ok(Some(config)) => {
                token
                    .cancel_query(tokio_postgres_rustls::MakeRustlsConnect::new(config))
                    .await
            }
            _ => token.cancel_query(tokio_postgres::NoTls).await,
        };
    }

    /// The rustls configuration for the `sslmode`, or None for plain
    /// connections.
    fn tls_config(&self) -> Result<Option<rustls::ClientConfig>, String> {
        let mode = self.effective_sslmode();
        if mode == SslMode::Disable {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        // libpq: `require` verifies the chain when a root certificate file
        // exists; otherwise it (and `prefer`, `allow`) only encrypts.
        let root_file = self.root_cert_source();
        let verify = match mode {
            SslMode::VerifyFull => Verify::Full,
            SslMode::VerifyCa => Verify::CaOnly,
            SslMode::Require if root_file.is_some() => Verify::CaOnly,
            _ => Verify::Nothing,
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let builder = match verify {
            Verify::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification { algorithms })),
            Verify::Full | Verify::CaOnly => {
                let roots = load_roots(root_file.as_deref())?;
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| format!("TLS setup failed: {e}"))?;
                if verify == Verify::Full {
                    builder.with_webpki_verifier(webpki)
                } else {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(ChainOnly { inner: webpki }))
                }
            }
        };
        let config = match (&self.sslcert, &self.sslkey) {
            (Some(cert), Some(key)) => {
                let certs = CertificateDer::pem_file_iter(cert)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("could not read sslcert \"{}\": {e}", cert.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("could not read sslkey \"{}\": {e}", key.display()))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| format!("invalid client certificate: {e}"))?
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err("sslcert and sslkey must be given together".to_owned());
            }
            (None, None) => builder.with_no_client_auth(),
        };
        Ok(Some(config))
    }

    /// The root certificates to verify against: `sslrootcert` (a file, or
    /// `system`), else `~/.postgresql/root.crt` when it exists.
    fn root_cert_source(&self) -> Option<String> {
        if let Some(root) = &self.sslrootcert {
            return Some(root.clone());
        }
        let default = home_dir()?.join(".postgresql/root.crt");
        default
            .exists()
            .then(|| default.to_string_lossy().into_owned())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    Nothing,
    CaOnly,
    Full,
}

/// Root store from a PEM file, or the system's roots for `system` or when no
/// file is named.
fn load_roots(source: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match source {
        Some(path) if path != "system" => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("could not read root certificate file \"{path}\": {e}"))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "root certificate file \"{path}\" holds no usable certificate"
                ));
            }
        }
        _ => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err("no system root certificates found; set sslrootcert".to_owned());
            }
        }
    }
    Ok(roots)
}

/// `sslmode=prefer/require` without a root file: encrypt, verify nothing
/// (libpq does the same). The handshake signature is still checked.
#[derive(Debug)]
struct NoVerification {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the host
/// name is not checked.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl fmt::Display for ConnParams {
    /// A keyword/value form with the password left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let mut push = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                parts.push(format!("{key}={}", quote_value(&v)));
            }
        };
        push("host", self.host.clone());
        push("hostaddr", self.hostaddr.clone());
        push("port", self.port.map(|p| p.to_string()));
        push("user", self.user.clone());
        push("dbname", self.dbname.clone());
        push("sslmode", self.sslmode.map(|m| m.as_str().to_owned()));
        push("sslrootcert", self.sslrootcert.clone());
        push("application_name", self.application_name.clone());
        if self.password.is_some() {
            parts.push("password=********".to_owned());
        }
        f.write_str(&parts.join(" "))
    }
}

fn quote_value(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\']) {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

fn parse_port(value: &str) -> Result<u16, ConninfoError> {
    match value.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(ConninfoError::InvalidPort(value.to_owned())),
    }
}

/// `keyword = value` pairs separated by white space; values may be
/// single-quoted, with `\'` and `\\` escapes (libpq's conninfo_parse).
fn parse_keywords(input: &str) -> Result<ConnParams, ConninfoError> {
    let mut params = ConnParams::default();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut keyword = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            keyword.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(ConninfoError::MissingEquals(keyword));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(ConninfoError::UnterminatedQuote),
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(ConninfoError::UnterminatedQuote),
                    },
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        // libpq expands a dbname that is itself a conninfo.
        if keyword == "dbname"
            && (value.contains('=')
                || value.starts_with("postgres://")
                || value.starts_with("postgresql://"))
        {
            let inner = ConnParams::parse(&value)?;
            params.merge_unset_from(inner);
            continue;
        }
        params.set(&keyword, &value)?;
    }
    Ok(params)
}

impl ConnParams {
    fn merge_unset_from(&mut self, other: ConnParams) {
        macro_rules! take {
            ($($field:ident),*) => {$(
                if other.$field.is_some() { self.$field = other.$field; }
            )*};
        }
        take!(
            host,
            hostaddr,
            port,
            user,
            password,
            dbname,
            passfile,
            sslmode,
            sslrootcert,
            sslcert,
            sslkey,
            application_name,
            connect_timeout,
            options
        );
    }
}

fn decode(part: &str) -> Result<String, ConninfoError> {
    // A `%` not followed by two hex digits is an error in libpq.
    let bytes = part.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%'
            && !(i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit())
        {
            return Err(ConninfoError::InvalidPercentEncoding(redact_token(part)));
        }
    }
    percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ConninfoError::InvalidPercentEncoding(redact_token(part)))
}

/// A token quoted in an error: never more than a short prefix, since it may
/// be a password.
fn redact_token(token: &str) -> String {
    if token.len() > 3 {
        "…".to_owned()
    } else {
        token.to_owned()
    }
}

/// `postgresql://[user[:password]@][host][:port][,...][/dbname][?param=value&...]`.
fn parse_uri(input: &str) -> Result<ConnParams, ConninfoError> {
    let rest = input
        .strip_prefix("postgresql://")
        .or_else(|| input.strip_prefix("postgres://"))
        .unwrap_or(input);
    let mut params = ConnParams::default();
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match main.find('/') {
        Some(i) => (&main[..i], Some(&main[i + 1..])),
        None => (main, None),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        params.set("user", &decode(user)?)?;
        if let Some(p) = password {
            let password = decode(p)?;
            if !password.is_empty() {
                params.password = Some(Password(password));
            }
        }
    }
    if hostport.contains(',') {
        return Err(ConninfoError::SeveralHosts(hostport.to_owned()));
    }
    if !hostport.is_empty() {
        let (host, port) = if let Some(after) = hostport.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| {
                ConninfoError::InvalidUri(format!(
                    "missing \"]\" in IPv6 host address \"{hostport}\""
                ))
            })?;
            let host = &after[..end];
            let tail = &after[end + 1..];
            let port = match tail.strip_prefix(':') {
                Some(p) => Some(p),
                None if tail.is_empty() => None,
                None => {
                    return Err(ConninfoError::InvalidUri(format!(
                        "unexpected \"{tail}\" after IPv6 host address"
                    )));
                }
            };
            (host.to_owned(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (decode(h)?, Some(p)),
                None => (decode(hostport)?, None),
            }
        };
        if !host.is_empty() {
            params.set("host", &host)?;
        }
        if let Some(port) = port.filter(|p| !p.is_empty()) {
            params.set("port", port)?;
        }
    }
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        params.set("dbname", &decode(path)?)?;
    }
    if let Some(query) = query {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                ConninfoError::InvalidUri(format!(
                    "missing key/value separator \"=\" in URI query parameter: \"{}\"",
                    redact_token(pair)
                ))
            })?;
            let key = decode(key)?;
            let value = decode(value)?;
            // libpq's JDBC compatibility: ssl=true means sslmode=require.
            if key == "ssl" {
                if value == "true" {
                    params.sslmode = Some(SslMode::Require);
                    continue;
                }
                return Err(ConninfoError::InvalidValue { key: "ssl", value });
            }
            match params.set(&key, &value) {
                Err(ConninfoError::UnknownKeyword(k)) => {
                    return Err(ConninfoError::UnknownUriParameter(k));
                }
                other => other?,
            }
        }
    }
    Ok(params)
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn default_passfile() -> Option<PathBuf> {
    home_dir().map(|h| h.join(".pgpass"))
}

/// The operating-system user name, as libpq's default user.
fn os_user_name() -> String {
    if let Some(user) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        return user;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata("/proc/self") {
            let uid = meta.uid().to_string();
            if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
                for line in passwd.lines() {
                    let fields: Vec<&str> = line.split(':').collect();
                    if fields.len() > 2 && fields[2] == uid {
                        return fields[0].to_owned();
                    }
                }
            }
        }
    }
    "postgres".to_owned()
}

/// Finds the password for a connection in a `.pgpass` file: the first line
/// whose `hostname:port:database:username` fields match (`*` matches
/// anything; `\:` and `\\` are escapes). Like libpq, a file that the group
/// or others can read is ignored with a warning on stderr.
pub fn pgpass_lookup(
    file: &Path,
    host: &str,
    port: &str,
    dbname: &str,
    user: &str,
) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "WARNING: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
                file.display()
            );
            return None;
        }
    }
    let contents = std::fs::read_to_string(file).ok()?;
    for line in contents.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(&fields[0], host)
            && matches(&fields[1], port)
            && matches(&fields[2], dbname)
            && matches(&fields[3], user)
        {
            // The password is the rest of the line (it may hold colons
            // when escaped; an unescaped one ends it in libpq too).
            return Some(fields[4].clone());
        }
    }
    None
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("never empty").push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("never empty").push(c),
        }
    }
    fields
}

/// One line for a connection failure, as libpq words it, and the SQLSTATE
/// when the server sent one.
fn describe_connect_error(
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
fn strip_os_error(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env_none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn uri_with_everything() {
        let p = ConnParams::parse(
            "postgres://al%40ice:s%3Ac%20ret@db.example.com:6543/my%20db?sslmode=require&application_name=x&connect_timeout=1",
        )
        .unwrap();
        assert_eq!(p.user.as_deref(), Some("al@ice"));
        assert_eq!(p.password().unwrap().expose(), "s:c ret");
        assert_eq!(p.host.as_deref(), Some("db.example.com"));
        assert_eq!(p.port, Some(6543));
        assert_eq!(p.dbname.as_deref(), Some("my db"));
        assert_eq!(p.sslmode, Some(SslMode::Require));
        assert_eq!(p.application_name.as_deref(), Some("x"));
        assert_eq!(p.connect_timeout, Some(Duration::from_secs(2)));
    }

    #[test]
    fn uri_socket_and_ipv6() {
        let p = ConnParams::parse("postgresql://%2Fvar%2Frun%2Fpostgresql/app").unwrap();
        assert_eq!(p.host.as_deref(), Some("/var/run/postgresql"));
        assert!(p.is_unix_socket());
        let p = ConnParams::parse("postgresql://[::1]:5433/app").unwrap();
        assert_eq!(p.host.as_deref(), Some("::1"));
        assert_eq!(p.port, Some(5433));
        let p = ConnParams::parse("postgresql:///app?host=/tmp&port=5999").unwrap();
        assert_eq!(p.host.as_deref(), Some("/tmp"));
        assert_eq!(p.target(), "server on socket \"/tmp/.s.PGSQL.5999\"");
    }

    #[test]
    fn uri_errors_name_the_problem() {
        assert_eq!(
            ConnParams::parse("postgres://a,b/db").unwrap_err(),
            ConninfoError::SeveralHosts("a,b".into())
        );
        assert_eq!(
            ConnParams::parse("postgres://h/db?bogus=1").unwrap_err(),
            ConninfoError::UnknownUriParameter("bogus".into())
        );
        assert!(matches!(
            ConnParams::parse("postgres://h:99999/db").unwrap_err(),
            ConninfoError::InvalidPort(_)
        ));
        // A bad escape inside a password must not be echoed.
        let err = ConnParams::parse("postgres://u:topsecret%zz@h/db").unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
    }

    #[test]
    fn keyword_value_strings() {
        let p = ConnParams::parse(
            "host=/var/run/postgresql dbname = app user=x password='it''s' port=5433",
        );
        // libpq does not accept '' inside quotes as an escape: this ends
        // the value after `it` and then sees a stray token.
        assert!(p.is_err());
        let p = ConnParams::parse(
            r"host=/var/run/postgresql dbname = app user=x password='it\'s me' port=5433",
        )
        .unwrap();
        assert_eq!(p.host.as_deref(), Some("/var/run/postgresql"));
        assert_eq!(p.dbname.as_deref(), Some("app"));
        assert_eq!(p.password().unwrap().expose(), "it's me");
        assert_eq!(p.port, Some(5433));
        assert_eq!(
            ConnParams::parse("host=x nosuch=1").unwrap_err(),
            ConninfoError::UnknownKeyword("nosuch".into())
        );
        assert_eq!(
            ConnParams::parse("host=x dbname").unwrap_err(),
            ConninfoError::MissingEquals("dbname".into())
        );
        assert_eq!(
            ConnParams::parse("host=a,b").unwrap_err(),
            ConninfoError::SeveralHosts("a,b".into())
        );
    }

    #[test]
    fn dbname_holding_a_conninfo_is_expanded() {
        let p = ConnParams::parse("dbname='postgres://u@h:5000/real' user=other").unwrap();
        assert_eq!(p.dbname.as_deref(), Some("real"));
        assert_eq!(p.port, Some(5000));
        assert_eq!(p.user.as_deref(), Some("other"));
    }

    #[test]
    fn fallback_order() {
        let env = |name: &str| match name {
            "PLANGUARD_DATABASE_URL" => Some("postgres://pl@h1/db1".to_owned()),
            "DATABASE_URL" => Some("postgres://du@h2/db2".to_owned()),
            "PGPORT" => Some("7777".to_owned()),
            "PGUSER" => Some("pguser".to_owned()),
            "PGSSLMODE" => Some("verify-full".to_owned()),
            _ => None,
        };
        let p = ConnParams::resolve_with(Some("host=flag"), &env).unwrap();
        assert_eq!(p.host.as_deref(), Some("flag"));
        assert_eq!(p.user.as_deref(), Some("pguser"));
        assert_eq!(p.port, Some(7777));
        assert_eq!(p.sslmode, Some(SslMode::VerifyFull));
        let p = ConnParams::resolve_with(None, &env).unwrap();
        assert_eq!(p.host.as_deref(), Some("h1"));
        assert_eq!(p.user.as_deref(), Some("pl"));
        let no_pl = |name: &str| match name {
            "PLANGUARD_DATABASE_URL" => None,
            other => env(other),
        };
        let p = ConnParams::resolve_with(None, &no_pl).unwrap();
        assert_eq!(p.host.as_deref(), Some("h2"));
        let p = ConnParams::resolve_with(None, &env_none).unwrap();
        assert_eq!(p, ConnParams::default());
    }

    #[test]
    fn display_never_shows_the_password() {
        let p = ConnParams::parse("postgres://u:hunter2@h/db").unwrap();
        assert!(!p.to_string().contains("hunter2"));
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(p.to_string().contains("password=********"));
    }

    #[test]
    fn pgpass_matching_and_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:*:nope\nlocalhost:5432:app:bob:pw\\:with\\\\colon\n*:*:*:*:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            pgpass_lookup(&file, "localhost", "5432", "app", "bob").as_deref(),
            Some("pw:with\\colon")
        );
        assert_eq!(
            pgpass_lookup(&file, "somewhere", "1", "x", "y").as_deref(),
            Some("fallback")
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            pgpass_lookup(&file, "localhost", "5432", "app", "bob"),
            None
        );
    }
}
