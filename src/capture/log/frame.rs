//! Framing: a log's bytes to messages (severity, text, detail, application),
//! in the stderr, csvlog or jsonlog format. What a message means is
//! [`super`]'s business.

use std::io::BufRead;
use std::path::Path;

use super::{LogError, LogFormat};

/// One log message, whatever the format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub severity: String,
    pub message: String,
    pub detail: Option<String>,
    pub application: Option<String>,
}

pub(super) const SEVERITIES: &[&str] = &[
    "LOG",
    "ERROR",
    "WARNING",
    "NOTICE",
    "INFO",
    "DEBUG",
    "DEBUG1",
    "DEBUG2",
    "DEBUG3",
    "DEBUG4",
    "DEBUG5",
    "FATAL",
    "PANIC",
    "STATEMENT",
    "DETAIL",
    "HINT",
    "CONTEXT",
    "QUERY",
    "LOCATION",
];

/// Guesses the format from the start of the log.
pub fn detect(start: &[u8]) -> LogFormat {
    let text = String::from_utf8_lossy(start);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first.trim_start().starts_with('{') {
        return LogFormat::Json;
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(first.as_bytes());
    let mut record = csv::StringRecord::new();
    if reader.read_record(&mut record).unwrap_or(false)
        && record.len() >= 14
        && record.get(11).is_some_and(|s| SEVERITIES.contains(&s))
    {
        return LogFormat::Csv;
    }
    LogFormat::Stderr
}

/// The severity marker in a stderr line: where the prefix ends, the
/// severity, and where the message starts.
pub(super) fn marker(line: &str) -> Option<(&str, &str, &str)> {
    let mut best: Option<(usize, &'static str)> = None;
    for &severity in SEVERITIES {
        let mut from = 0;
        while let Some(found) = line[from..].find(severity) {
            let at = from + found;
            let boundary = at == 0 || !line.as_bytes()[at - 1].is_ascii_alphanumeric();
            if boundary && line[at + severity.len()..].starts_with(":  ") {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, severity));
                }
                break;
            }
            from = at + severity.len();
        }
    }
    best.map(|(at, severity)| (&line[..at], severity, &line[at + severity.len() + 3..]))
}

/// `app=NAME` in a log_line_prefix, ended by `,` or a space.
pub(super) fn prefix_application(prefix: &str) -> Option<String> {
    let at = prefix.find("app=")?;
    let rest = &prefix[at + 4..];
    let end = rest.find([',', ' ']).unwrap_or(rest.len());
    Some(rest[..end].to_owned()).filter(|a| !a.is_empty() && a != "[unknown]")
}

pub(super) fn read_stderr(
    mut reader: impl BufRead,
    emit: &mut dyn FnMut(Message),
) -> std::io::Result<()> {
    let mut current: Option<Message> = None;
    // Which field continuation lines belong to: 0 message, 1 detail, 2 none.
    let mut field = 2;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some(rest) = line.strip_prefix('\t') {
            if let Some(m) = current.as_mut() {
                match field {
                    0 => {
                        m.message.push('\n');
                        m.message.push_str(rest);
                    }
                    1 => {
                        if let Some(d) = m.detail.as_mut() {
                            d.push('\n');
                            d.push_str(rest);
                        }
                    }
                    _ => {}
                }
            }
            continue;
        }
        let Some((prefix, severity, text)) = marker(line) else {
            field = 2;
            continue;
        };
        match severity {
            "DETAIL" => {
                if let Some(m) = current.as_mut() {
                    m.detail = Some(text.to_owned());
                    field = 1;
                }
            }
            "STATEMENT" | "HINT" | "CONTEXT" | "QUERY" | "LOCATION" => field = 2,
            _ => {
                if let Some(done) = current.take() {
                    emit(done);
                }
                current = Some(Message {
                    severity: severity.to_owned(),
                    message: text.to_owned(),
                    detail: None,
                    application: prefix_application(prefix),
                });
                field = 0;
            }
        }
    }
    if let Some(done) = current {
        emit(done);
    }
    Ok(())
}

pub(super) fn read_json(
    mut reader: impl BufRead,
    emit: &mut dyn FnMut(Message),
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&buf) else {
            if !buf.iter().all(u8::is_ascii_whitespace) {
                emit(Message::default());
            }
            continue;
        };
        let field = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        emit(Message {
            severity: field("error_severity").unwrap_or_default(),
            message: field("message").unwrap_or_default(),
            detail: field("detail"),
            application: field("application_name"),
        });
    }
    Ok(())
}

pub(super) fn read_csv(
    reader: impl BufRead,
    path: &Path,
    emit: &mut dyn FnMut(Message),
) -> Result<(), LogError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(LogError::Csv {
                    path: path.to_owned(),
                    line: e.position().map_or(0, csv::Position::line),
                    message: e.to_string(),
                });
            }
        }
        let field = |i: usize| {
            record
                .get(i)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .filter(|s| !s.is_empty())
        };
        emit(Message {
            severity: field(11).unwrap_or_default(),
            message: field(13).unwrap_or_default(),
            detail: field(14),
            application: field(22),
        });
    }
    Ok(())
}
