//! Part of stage `runner`: the sequences a DML statement advanced.
//!
//! `nextval()` is never rolled back ("to avoid blocking concurrent
//! transactions that obtain numbers from the same sequence, the value
//! obtained by nextval is not reclaimed for re-use if the calling
//! transaction later aborts", PostgreSQL docs, Sequence Manipulation
//! Functions), so an `INSERT` into a table with a `serial` or identity
//! column run under `--allow-dml` moves the sequence although the row is
//! rolled back. The runner reads `pg_sequences.last_value` before and after
//! such a job, on the job's own session, and reports what moved. Another
//! session drawing from the same sequence meanwhile is counted too: on a
//! busy server the list may name more than the statement advanced.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::Measured;

/// A sequence that moved while a job ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceAdvance {
    /// `schema.name`, quoted where it needs to be.
    pub name: String,
    /// `last_value` before the job (None: never used yet).
    pub before: Option<i64>,
    /// `last_value` after it.
    pub after: i64,
}

/// The sequences' state before a job that may write; [`Watch::advanced`]
/// compares it with their state after.
pub(super) struct Watch(Option<BTreeMap<String, Option<i64>>>);

impl Watch {
    /// Reads the sequences when `writes` (a job that executes and is not
    /// read-only); otherwise does nothing.
    pub(super) async fn start(client: &Client, writes: bool) -> Watch {
        Watch(if writes {
            last_values(client).await
        } else {
            None
        })
    }

    /// The sequences whose `last_value` moved since [`Watch::start`].
    pub(super) async fn advanced(self, client: &Client) -> Vec<SequenceAdvance> {
        let Some(before) = self.0 else {
            return Vec::new();
        };
        let Some(after) = last_values(client).await else {
            return Vec::new();
        };
        after
            .into_iter()
            .filter_map(|(name, after)| {
                let after = after?;
                let before = before.get(&name).copied().flatten();
                (before != Some(after)).then_some(SequenceAdvance {
                    name,
                    before,
                    after,
                })
            })
            .collect()
    }
}

/// `last_value` of every sequence the role may read (NULL for one never
/// used or not readable), by quoted name; None when the view cannot be read.
async fn last_values(client: &Client) -> Option<BTreeMap<String, Option<i64>>> {
    let rows = client
        .query(
            "SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_sequences",
            &[],
        )
        .await
        .ok()?;
    rows.iter()
        .map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
        .collect()
}

impl Measured {
    /// One line naming the sequences the job advanced (they are not rolled
    /// back), for a `note:` on stderr; None when none moved.
    pub fn sequence_note(&self) -> Option<String> {
        if self.sequences.is_empty() {
            return None;
        }
        let moved: Vec<String> = self
            .sequences
            .iter()
            .map(|s| match s.before {
                Some(before) => format!("{} ({before} to {})", s.name, s.after),
                None => format!("{} (unused to {})", s.name, s.after),
            })
            .collect();
        Some(format!(
            "advanced sequence{} {}: the rows were rolled back, sequence values are not",
            if moved.len() == 1 { "" } else { "s" },
            moved.join(", ")
        ))
    }
}
