//! Applying a statistics file to another database (CI):
//!
//! - [`prepare`] resolves the file's tables, indexes and columns in the
//!   target (missing ones are named and skipped) and decides how the
//!   statistics reach the planner. On PostgreSQL 18+ they are restored
//!   with `pg_restore_relation_stats` / `pg_restore_attribute_stats`; on
//!   13-17 only relation sizes can be given, through the planguard_stats
//!   module's per-session overrides. With the module loaded, the planner
//!   takes table and index sizes from them instead of the CI files' real
//!   sizes.
//! - [`Prepared::session`] is what a run (`--stats`) adds to its
//!   sessions: the module loaded and its settings in each session, and on
//!   18+ the restore calls inside each run's transaction, which is rolled
//!   back (the restore functions write pg_class and pg_statistic
//!   transactionally), so a run never changes the database's catalog.
//! - [`import`] is `stats import`: the restore calls committed (18+).

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use super::format::{Column, Loaded, Size};
use crate::runner::SessionSetup;
use crate::sql::quote_literal;

/// Where planguard loads the module from: `$libdir/plugins`, where LOAD
/// needs no superuser (the Makefile installs it there).
pub const MODULE: &str = "$libdir/plugins/planguard_stats";

/// The settings under which statistics files are written (`stats
/// export`) and read back (the restore functions parse the values' text
/// with the session's settings): dates and times in ISO form and UTC,
/// intervals in PostgreSQL's form, whatever the role's or database's own
/// settings are.
pub const PORTABLE_SETTINGS: &[(&str, &str)] = &[
    ("DateStyle", "ISO, MDY"),
    ("TimeZone", "UTC"),
    ("IntervalStyle", "postgres"),
];

/// `SET LOCAL` of [`PORTABLE_SETTINGS`], for inside a transaction.
fn set_local_portable() -> String {
    PORTABLE_SETTINGS
        .iter()
        .map(|(name, value)| format!("SET LOCAL {name} = {}", quote_literal(value)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `restore` (one statement) under [`PORTABLE_SETTINGS`] inside a run's
/// transaction, which then gets back the settings it had before (the
/// session's, or the run's own `SET LOCAL`s): the query explained after
/// it plans and prints under its own settings.
fn portable_in_transaction(restore: &str) -> String {
    let save = PORTABLE_SETTINGS
        .iter()
        .map(|(name, _)| {
            format!(
                "set_config('planguard.saved_{}', current_setting('{name}'), true)",
                name.to_lowercase()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let back = PORTABLE_SETTINGS
        .iter()
        .map(|(name, _)| {
            format!(
                "set_config('{name}', current_setting('planguard.saved_{}'), true)",
                name.to_lowercase()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {save}; {}; {restore}; SELECT {back}",
        set_local_portable()
    )
}

impl From<tokio_postgres::Error> for ImportError {
    fn from(error: tokio_postgres::Error) -> ImportError {
        ImportError::Query(error)
    }
}

/// The first version with `pg_restore_relation_stats`.
const RESTORE_VERSION: u32 = 180000;

/// Why statistics could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A statement failed: its message is the server's, as psql shows it
    /// (it is that error, not a cause of it, so not a `source`).
    #[error("{}", crate::conn::describe_query_error(.0))]
    Query(tokio_postgres::Error),
    #[error(
        "this role cannot restore the statistics ({0}): it must own the tables (or have MAINTAIN on them)"
    )]
    Denied(String),
    #[error("none of its {0} table(s) is in this database (is it the right database?): {1}")]
    NoTable(usize, String),
    #[error(
        "PostgreSQL {0} cannot import planner statistics (pg_restore_relation_stats and pg_restore_attribute_stats are PostgreSQL 18+); give the file to baseline, check or snapshot with --stats, which plans with its relation sizes through planguard_stats in planguard's own session"
    )]
    Unsupported(String),
}

/// A statistics file resolved against a target database.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The module could be loaded.
    pub hook: bool,
    /// Relation sizes as planguard_stats.relations takes them.
    pub overrides: String,
    /// One statement restoring everything (18+; empty before, or when the
    /// role may not restore them).
    pub restore: String,
    /// Why the restore statement is empty on 18+ when the file has
    /// statistics for tables of this database: the trial restore failed.
    pub restore_error: Option<String>,
    /// What each element of the restore statement's result array
    /// restores, for naming the ones the server refused.
    pub restore_labels: Vec<String>,
    /// Things to tell the user once (stderr), in order.
    pub notes: Vec<String>,
    /// Tables, indexes and columns of the file that the target lacks.
    pub missing: Vec<String>,
    /// The file's hash.
    pub sha256: String,
}

impl Prepared {
    /// What the run must be told about the file `path`: each table it
    /// names that this database lacks, then what cannot be used here.
    pub fn warnings(&self, path: &std::path::Path) -> Vec<String> {
        let missing = self
            .missing
            .iter()
            .map(|m| format!("{}: {m} is not in this database: skipped", path.display()));
        let notes = self
            .notes
            .iter()
            .map(|note| format!("{}: {note}", path.display()));
        missing.chain(notes).collect()
    }

    /// What a `--stats` run adds to its sessions and transactions.
    pub fn session(&self) -> SessionSetup {
        let on_open = if self.hook {
            format!(
                "LOAD {}; SET planguard_stats.relations = {}; SET planguard_stats.enabled = on",
                quote_literal(MODULE),
                quote_literal(&self.overrides)
            )
        } else {
            String::new()
        };
        SessionSetup {
            on_open,
            per_transaction: if self.restore.is_empty() {
                String::new()
            } else {
                portable_in_transaction(&self.restore)
            },
            stats_sha256: Some(self.sha256.clone()),
        }
    }
}

/// One table of the file, found in the target.
struct Found {
    oid: u32,
    columns: BTreeSet<String>,
}

/// Resolves `loaded` against the database of `client` (whose server is
/// `version_num`), loads the module in this session to see whether it is
/// installed, and on 18+ tries the restore once in a rolled-back
/// transaction.
pub async fn prepare(
    client: &Client,
    loaded: &Loaded,
    version_num: u32,
    version: &str,
) -> Result<Prepared, ImportError> {
    let file = &loaded.file;
    let mut missing = Vec::new();
    let mut notes = Vec::new();
    let (found, index_oids) = resolve(client, loaded, &mut missing).await?;
    let hook = match client
        .batch_execute(&format!("LOAD {}", quote_literal(MODULE)))
        .await
    {
        Ok(()) => true,
        Err(e) => {
            notes.push(format!(
                "planguard_stats is not installed on this server ({}): table row counts and sizes still follow the CI tables' real sizes; build it from extension/planguard_stats (`make PG_CONFIG=... install`)",
                crate::conn::describe_query_error(&e)
            ));
            false
        }
    };
    let mut overrides = Vec::new();
    let mut restore = Vec::new();
    let mut labels = Vec::new();
    let source = file.source.server_version_num;
    for rel in &file.relations {
        let Some(target) = found.get(&(rel.schema.clone(), rel.name.clone())) else {
            continue;
        };
        let qualified = format!("{}.{}", rel.schema, rel.name);
        push_override(&mut overrides, target.oid, &rel.size);
        restore.push(relation_call(
            &rel.schema,
            &rel.name,
            source,
            &rel.size,
            version_num,
        ));
        labels.push(format!("table {qualified}"));
        for index in &rel.indexes {
            if let Some(oid) = index_oids.get(&(rel.schema.clone(), index.name.clone())) {
                push_override(&mut overrides, *oid, &index.size);
                restore.push(relation_call(
                    &rel.schema,
                    &index.name,
                    source,
                    &index.size,
                    version_num,
                ));
                labels.push(format!("index {}.{}", rel.schema, index.name));
            }
        }
        for column in &rel.columns {
            if target.columns.contains(&column.name) {
                restore.push(attribute_call(&rel.schema, &rel.name, source, column));
                labels.push(format!(
                    "column {qualified}.{}{}",
                    column.name,
                    if column.inherited { " (inherited)" } else { "" }
                ));
            } else if !column.inherited {
                missing.push(format!("column {qualified}.{}", column.name));
            }
        }
    }
    let mut restore_error = None;
    let mut restore_sql = if version_num >= RESTORE_VERSION && !restore.is_empty() {
        format!("SELECT ARRAY[{}]", restore.join(",\n"))
    } else {
        String::new()
    };
    if version_num < RESTORE_VERSION {
        notes.push(format!(
            "PostgreSQL {version} cannot import column statistics (pg_restore_attribute_stats is PostgreSQL 18+): the plans use the CI database's own column statistics{}",
            if hook {
                "; table and index sizes come from the file through planguard_stats"
            } else {
                ""
            }
        ));
    } else if !restore_sql.is_empty() {
        // Once, rolled back: the role may lack the right to restore them
        // (it needs to own the tables or have MAINTAIN on them).
        client
            .batch_execute(&format!("BEGIN; {}", set_local_portable()))
            .await?;
        let tried = client.query_one(&restore_sql, &[]).await;
        client.batch_execute("ROLLBACK").await?;
        match tried {
            Ok(row) => {
                let results: Vec<Option<bool>> = row.get(0);
                for (label, ok) in labels.iter().zip(results) {
                    if ok != Some(true) {
                        notes.push(format!(
                            "{label}: the server did not take all of its statistics (its warning in the server log says why)"
                        ));
                    }
                }
            }
            Err(e) => {
                let reason = crate::conn::describe_query_error(&e);
                notes.push(format!(
                    "this role cannot restore the statistics ({reason}): the plans use the column statistics in the catalog{}",
                    if hook {
                        ", and table and index sizes from the file through planguard_stats"
                    } else {
                        ""
                    }
                ));
                for (table, analyzed) in not_imported(client, loaded).await? {
                    notes.push(format!(
                        "{table}: the catalog does not hold the file's statistics: never imported (`planguard stats import`), or replaced by an ANALYZE since{}",
                        analyzed
                            .map(|at| format!(" (last analyzed {at})"))
                            .unwrap_or_default()
                    ));
                }
                restore_sql.clear();
                restore_error = Some(reason);
            }
        }
    }
    // On 18+ the hook reads the restored sizes from pg_class; the
    // overrides are for servers (or roles) that cannot restore them.
    let overrides = if restore_sql.is_empty() {
        overrides.join(",")
    } else {
        String::new()
    };
    let extended: usize = file.relations.iter().map(|r| r.extended.len()).sum();
    if extended > 0 {
        notes.push(format!(
            "{extended} extended statistics object(s) are in the file for the record only: PostgreSQL cannot import them"
        ));
    }
    if !file.hidden_columns.is_empty() {
        notes.push(format!(
            "the file has no statistics for {} column(s) the exporting role could not read: {}",
            file.hidden_columns.len(),
            file.hidden_columns.join(", ")
        ));
    }
    missing.sort();
    Ok(Prepared {
        hook,
        overrides,
        restore: restore_sql,
        restore_error,
        restore_labels: labels,
        notes,
        missing,
        sha256: loaded.sha256.clone(),
    })
}

/// Finds the file's tables (with their columns) and indexes (those of
/// partitioned tables too) in the target; what is missing goes to
/// `missing`.
async fn resolve(
    client: &Client,
    loaded: &Loaded,
    missing: &mut Vec<String>,
) -> Result<
    (
        BTreeMap<(String, String), Found>,
        BTreeMap<(String, String), u32>,
    ),
    ImportError,
> {
    let file = &loaded.file;
    let mut schemas = Vec::new();
    let mut names = Vec::new();
    for rel in &file.relations {
        schemas.push(rel.schema.clone());
        names.push(rel.name.clone());
    }
    let rows = client
        .query(
            "SELECT t.schema, t.name, c.oid,
                    ARRAY(SELECT a.attname::text FROM pg_attribute a
                           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
               FROM unnest($1::text[], $2::text[]) AS t(schema, name)
               LEFT JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', t.schema, t.name))
                                    AND c.relkind IN ('r', 'p', 'm')",
            &[&schemas, &names],
        )
        .await?;
    let mut found = BTreeMap::new();
    for row in &rows {
        let key: (String, String) = (row.get(0), row.get(1));
        match row.get::<_, Option<u32>>(2) {
            Some(oid) => {
                let columns: Vec<String> = row.get(3);
                found.insert(
                    key,
                    Found {
                        oid,
                        columns: columns.into_iter().collect(),
                    },
                );
            }
            None => missing.push(format!("table {}.{}", key.0, key.1)),
        }
    }
    let (mut schemas, mut names) = (Vec::new(), Vec::new());
    for rel in &file.relations {
        if !found.contains_key(&(rel.schema.clone(), rel.name.clone())) {
            continue;
        }
        for index in &rel.indexes {
            schemas.push(rel.schema.clone());
            names.push(index.name.clone());
        }
    }
    let rows = client
        .query(
            "SELECT t.schema, t.name, c.oid
               FROM unnest($1::text[], $2::text[]) AS t(schema, name)
               LEFT JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', t.schema, t.name))
                                    AND c.relkind IN ('i', 'I')",
            &[&schemas, &names],
        )
        .await?;
    let mut indexes = BTreeMap::new();
    for row in &rows {
        let key: (String, String) = (row.get(0), row.get(1));
        match row.get::<_, Option<u32>>(2) {
            Some(oid) => {
                indexes.insert(key, oid);
            }
            None => missing.push(format!("index {}.{}", key.0, key.1)),
        }
    }
    Ok((found, indexes))
}

/// An entry of planguard_stats.relations; relations never analyzed in
/// the source have no size to give.
fn push_override(out: &mut Vec<String>, oid: u32, size: &Size) {
    if size.reltuples >= 0.0 {
        out.push(format!(
            "{oid}:{}:{}:{}",
            size.relpages.max(0),
            size.reltuples,
            size.relallvisible.max(0)
        ));
    }
}

fn relation_call(schema: &str, name: &str, source: u32, size: &Size, target: u32) -> String {
    let mut args = vec![
        format!("'schemaname', {}", quote_literal(schema)),
        format!("'relname', {}", quote_literal(name)),
        format!("'version', {source}::integer"),
        format!("'relpages', {}::integer", size.relpages),
        format!("'reltuples', {}::real", size.reltuples),
        format!("'relallvisible', {}::integer", size.relallvisible),
    ];
    if let Some(frozen) = size.relallfrozen.filter(|_| target >= RESTORE_VERSION) {
        args.push(format!("'relallfrozen', {frozen}::integer"));
    }
    format!("pg_catalog.pg_restore_relation_stats({})", args.join(", "))
}

fn attribute_call(schema: &str, table: &str, source: u32, column: &Column) -> String {
    let mut args = vec![
        format!("'schemaname', {}", quote_literal(schema)),
        format!("'relname', {}", quote_literal(table)),
        format!("'attname', {}", quote_literal(&column.name)),
        format!("'inherited', {}", column.inherited),
        format!("'version', {source}::integer"),
    ];
    let mut real = |name: &str, value: Option<f32>| {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            args.push(format!("'{name}', {v}::real"));
        }
    };
    real("null_frac", column.null_frac);
    real("n_distinct", column.n_distinct);
    real("correlation", column.correlation);
    real("range_empty_frac", column.range_empty_frac);
    if let Some(width) = column.avg_width {
        args.push(format!("'avg_width', {width}::integer"));
    }
    for (name, value) in [
        ("most_common_vals", &column.most_common_vals),
        ("histogram_bounds", &column.histogram_bounds),
        ("most_common_elems", &column.most_common_elems),
        ("range_length_histogram", &column.range_length_histogram),
        ("range_bounds_histogram", &column.range_bounds_histogram),
    ] {
        if let Some(text) = value {
            args.push(format!("'{name}', {}::text", quote_literal(text)));
        }
    }
    for (name, value) in [
        ("most_common_freqs", &column.most_common_freqs),
        ("most_common_elem_freqs", &column.most_common_elem_freqs),
        ("elem_count_histogram", &column.elem_count_histogram),
    ] {
        if let Some(values) = value {
            let items: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            args.push(format!("'{name}', '{{{}}}'::real[]", items.join(",")));
        }
    }
    format!("pg_catalog.pg_restore_attribute_stats({})", args.join(", "))
}

/// Tables of the file whose row count in the target's catalog is not the
/// file's: never imported, or analyzed after the import (which replaces
/// imported statistics), with when they were last analyzed (UTC).
async fn not_imported(
    client: &Client,
    loaded: &Loaded,
) -> Result<Vec<(String, Option<String>)>, ImportError> {
    let mut schemas = Vec::new();
    let mut names = Vec::new();
    let mut tuples = Vec::new();
    for rel in &loaded.file.relations {
        schemas.push(rel.schema.clone());
        names.push(rel.name.clone());
        tuples.push(rel.size.reltuples);
    }
    let rows = client
        .query(
            "SELECT t.schema || '.' || t.name,
                    to_char(greatest(s.last_analyze, s.last_autoanalyze) AT TIME ZONE 'UTC',
                            'YYYY-MM-DD HH24:MI:SS \"UTC\"')
               FROM unnest($1::text[], $2::text[], $3::float8[]) AS t(schema, name, reltuples)
               JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', t.schema, t.name))
               LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
              WHERE c.reltuples::float8 <> t.reltuples::real::float8
              ORDER BY 1",
            &[&schemas, &names, &tuples],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// What `stats import` did.
#[derive(Debug)]
pub struct Imported {
    /// Restore calls the server took.
    pub restored: usize,
    /// The ones it refused in part, by label.
    pub refused: Vec<String>,
}

/// `stats import`: restores the prepared statistics for good (18+), in
/// one transaction.
pub async fn import(
    client: &Client,
    prepared: &Prepared,
    version: &str,
    version_num: u32,
) -> Result<Imported, ImportError> {
    if version_num < RESTORE_VERSION {
        return Err(ImportError::Unsupported(version.to_owned()));
    }
    if prepared.restore.is_empty() {
        // Nothing to restore is no success: the role may not restore
        // them, or the file is about another database.
        return Err(match &prepared.restore_error {
            Some(reason) => ImportError::Denied(reason.clone()),
            None => {
                let tables: Vec<&String> = prepared
                    .missing
                    .iter()
                    .filter(|m| m.starts_with("table "))
                    .collect();
                ImportError::NoTable(
                    tables.len(),
                    tables
                        .iter()
                        .map(|t| t.trim_start_matches("table "))
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            }
        });
    }
    client
        .batch_execute(&format!("BEGIN; {}", set_local_portable()))
        .await?;
    let row = match client.query_one(&prepared.restore, &[]).await {
        Ok(row) => row,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e.into());
        }
    };
    client.batch_execute("COMMIT").await?;
    let results: Vec<Option<bool>> = row.get(0);
    let mut refused = Vec::new();
    let mut restored = 0;
    for (label, ok) in prepared.restore_labels.iter().zip(results) {
        if ok == Some(true) {
            restored += 1;
        } else {
            refused.push(label.clone());
        }
    }
    Ok(Imported { restored, refused })
}

/// Tables of the file that autovacuum may analyze in the target (it is
/// on, and `autovacuum_enabled` is not false in any of the spellings
/// PostgreSQL takes for the table), whose next ANALYZE replaces imported
/// statistics. Partitioned tables are left out: autovacuum analyzes
/// their partitions, never them.
pub async fn autovacuum_tables(
    client: &Client,
    loaded: &Loaded,
) -> Result<Vec<String>, ImportError> {
    let (schemas, names): (Vec<String>, Vec<String>) = loaded
        .file
        .relations
        .iter()
        .map(|r| (r.schema.clone(), r.name.clone()))
        .unzip();
    let rows = client
        .query(
            "SELECT t.schema || '.' || t.name
               FROM unnest($1::text[], $2::text[]) AS t(schema, name)
               JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', t.schema, t.name))
              WHERE current_setting('autovacuum')::bool
                AND c.relkind <> 'p'
                AND coalesce((SELECT bool_and(substr(o, length('autovacuum_enabled=') + 1)::bool)
                                FROM unnest(c.reloptions) AS o
                               WHERE o LIKE 'autovacuum\\_enabled=%'), true)
              ORDER BY 1",
            &[&schemas, &names],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
