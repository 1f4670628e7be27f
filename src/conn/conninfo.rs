//! Conninfo strings: keyword/value pairs and URIs, read as libpq reads
//! them, and written back without the password.

use std::fmt;

use percent_encoding::percent_decode_str;

use super::{ConnParams, ConninfoError, Password, SslMode};

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

pub(super) fn quote_value(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\']) {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

pub(super) fn parse_port(value: &str) -> Result<u16, ConninfoError> {
    match value.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(ConninfoError::InvalidPort(value.to_owned())),
    }
}

/// `keyword = value` pairs separated by white space; values may be
/// single-quoted, with `\'` and `\\` escapes (libpq's conninfo_parse).
pub(super) fn parse_keywords(input: &str) -> Result<ConnParams, ConninfoError> {
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

pub(super) fn decode(part: &str) -> Result<String, ConninfoError> {
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
pub(super) fn redact_token(token: &str) -> String {
    if token.len() > 3 {
        "…".to_owned()
    } else {
        token.to_owned()
    }
}

/// `postgresql://[user[:password]@][host][:port][,...][/dbname][?param=value&...]`.
pub(super) fn parse_uri(input: &str) -> Result<ConnParams, ConninfoError> {
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
