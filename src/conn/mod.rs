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
use std::time::Duration;

mod conninfo;
mod errors;
mod pgpass;
mod tls;

pub use errors::{ConnectError, ConninfoError, TlsError, describe_query_error};
pub use pgpass::pgpass_lookup;

use conninfo::{parse_keywords, parse_port, parse_uri};
use errors::describe_connect_error;
use pgpass::{default_passfile, os_user_name};

/// The port libpq uses when none is given.
pub const DEFAULT_PORT: u16 = 5432;

/// Where Debian's libpq looks for the server's socket by default
/// (`DEFAULT_PGSOCKET_DIR`); upstream builds use `/tmp`.
const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

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
            .map_err(|e| fail(crate::error::chain(&e).to_string(), None))?
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
