//! `--format json`: the report model as pretty JSON, exactly as
//! [`super::model`] documents it, followed by a newline.

use std::io::{self, Write};

use super::Report;

/// Writes the report as JSON.
pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// Reads a report written by [`render`] (for `planguard report`).
pub fn parse(input: &[u8]) -> Result<Report, serde_json::Error> {
    serde_json::from_slice(input)
}
