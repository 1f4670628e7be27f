//! The runner's sessions: connecting with planguard's settings, the pool
//! of idle sessions, cancelling, and reconnecting after a lost connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio_postgres::Client;

use super::{RunOptions, Runner, ServerInfo};
use crate::conn::{ConnParams, ConnectError};

impl Runner {
    /// Connects once to learn the server version (that session is reused).
    pub async fn connect(params: ConnParams, options: RunOptions) -> Result<Runner, ConnectError> {
        let client = open_session(&params, &options).await?;
        let server = server_info(&client).await.map_err(|e| ConnectError {
            target: params.target(),
            reason: format!(
                "cannot read the server version: {}",
                crate::conn::describe_query_error(&e)
            ),
            sqlstate: None,
        })?;
        Ok(Runner {
            params,
            options,
            server,
            cancelled: Arc::new(AtomicBool::new(false)),
            tokens: std::sync::Mutex::new(vec![client.cancel_token()]),
            sessions: Mutex::new(vec![client]),
            lost: std::sync::Mutex::new(None),
        })
    }

    /// A session for other work (environment capture), returned with
    /// [`Runner::give_back`].
    pub async fn session(&self) -> Result<Client, ConnectError> {
        let reused = self.sessions.lock().await.pop();
        match reused {
            Some(client) if !client.is_closed() => Ok(client),
            _ => {
                let client = open_session(&self.params, &self.options).await?;
                if let Ok(mut tokens) = self.tokens.lock() {
                    tokens.push(client.cancel_token());
                }
                Ok(client)
            }
        }
    }

    /// Stops the run: no new query starts, and what runs now is cancelled
    /// on the server (its transaction then rolls back).
    pub async fn cancel_running(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let tokens = self.tokens.lock().map(|t| t.clone()).unwrap_or_default();
        for token in &tokens {
            self.params.cancel(token).await;
        }
    }

    /// Why the server was lost during the run (a dropped connection that
    /// could not be reopened within [`RECONNECT_WINDOW`]), if it was.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// A new session after a lost one, tried again while the server is
    /// restarting (refused connections, `57P03` "the database system is
    /// starting up" or "shutting down") for up to [`RECONNECT_WINDOW`].
    /// Authentication and configuration errors are not retried.
    pub(super) async fn reopen(&self) -> Result<Client, ConnectError> {
        // Sessions waiting for reuse went down with the lost one, though
        // they may not know it yet: open a new one.
        self.sessions.lock().await.clear();
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            match self.session().await {
                Ok(client) => return Ok(client),
                Err(e) => {
                    if !is_transient(&e)
                        || self.cancelled.load(Ordering::SeqCst)
                        || started.elapsed() + pause > RECONNECT_WINDOW
                    {
                        return Err(e);
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// Returns a session for reuse.
    pub async fn give_back(&self, client: Client) {
        if !client.is_closed() {
            self.sessions.lock().await.push(client);
        }
    }
}

/// How long a lost connection is tried again (a server restarting with
/// `pg_ctl restart` is back well within it).
pub const RECONNECT_WINDOW: Duration = Duration::from_secs(10);

/// Whether a failed connection may work when tried again: refused or
/// broken connections (no SQLSTATE), `57P03` (the server is starting up or
/// shutting down) and `57P01` (terminated by an administrator).
pub(super) fn is_transient(error: &ConnectError) -> bool {
    matches!(error.sqlstate.as_deref(), None | Some("57P01" | "57P03"))
}

/// Opens a session with planguard's settings.
pub(super) async fn open_session(
    params: &ConnParams,
    options: &RunOptions,
) -> Result<Client, ConnectError> {
    let client = params.connect().await?;
    let setup = format!(
        "SET statement_timeout = {}; SET lock_timeout = {}; SET idle_in_transaction_session_timeout = {}; SET application_name = 'planguard'; SET standard_conforming_strings = on",
        options.timeout.as_millis().max(1),
        options.lock_timeout.as_millis().max(1),
        // Long enough for our own pauses between statements, short enough
        // that a stuck planguard never holds locks for long.
        (options.timeout.as_millis() * 2).max(60_000),
    );
    let setup = if options.session.on_open.is_empty() {
        setup
    } else {
        format!("{setup}; {}", options.session.on_open)
    };
    client
        .batch_execute(&setup)
        .await
        .map_err(|e| ConnectError {
            target: params.target(),
            reason: crate::conn::describe_query_error(&e),
            sqlstate: e.code().map(|c| c.code().to_owned()),
        })?;
    Ok(client)
}

pub(super) async fn server_info(client: &Client) -> Result<ServerInfo, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
            &[],
        )
        .await?;
    let version: String = row.try_get(0)?;
    let num: i32 = row.try_get(1)?;
    Ok(ServerInfo {
        version: version
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
        version_num: u32::try_from(num).unwrap_or(0),
    })
}
