//! `planguard stats export` and `planguard stats import`: flag parsing and
//! messages around the `stats` library module.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::conn::ConnParams;
use crate::error::{Exit, Failure};
use crate::stats::{ExportOptions, Selection};

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Write the planner statistics of a database (production, or a
    /// replica) to a JSON file: table and index sizes from pg_class, every
    /// column's pg_stats row, extended statistics where readable. Reads
    /// catalog views only. Most-common values and histograms are real data
    /// from the tables: see --redact.
    Export(ExportArgs),
    /// Restore a statistics file into a database (PostgreSQL 18+, with
    /// pg_restore_relation_stats and pg_restore_attribute_stats), for good:
    /// this writes the database's catalog. `--stats FILE` on baseline,
    /// check and snapshot uses the file without writing anything.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file to write (atomically).
    #[arg(long, value_name = "FILE", default_value = "stats.json")]
    pub out: PathBuf,
    /// Every table of the database, not only those the query set reads.
    #[arg(long, conflicts_with = "schema")]
    pub all: bool,
    /// Every table of this schema (repeatable), not only those the query
    /// set reads.
    #[arg(long, value_name = "SCHEMA")]
    pub schema: Vec<String>,
    /// The query set whose tables are exported [default: queries].
    #[arg(long, value_name = "PATH", conflicts_with_all = ["all", "schema"])]
    pub queries: Option<PathBuf>,
    /// Leave out the most-common values and histograms of these columns
    /// (table.column or schema.table.column, quoted as in SQL where
    /// needed), and of the same columns of a table's partitions; their
    /// other statistics stay.
    #[arg(long, value_name = "COLUMN", num_args = 1..)]
    pub redact: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A file written by `planguard stats export`.
    pub file: PathBuf,
}

pub async fn run(command: StatsCommand, global: &GlobalArgs) -> Result<Exit, Failure> {
    match command {
        StatsCommand::Export(args) => export(args, global).await,
        StatsCommand::Import(args) => import(args, global).await,
    }
}

async fn connect(global: &GlobalArgs) -> Result<tokio_postgres::Client, Failure> {
    let params = ConnParams::resolve(global.dbname.as_deref()).map_err(Failure::input)?;
    params.connect().await.map_err(Failure::database)
}

/// The server's `server_version` and `server_version_num` (exit 3 when
/// they cannot be read).
async fn server_version(client: &tokio_postgres::Client) -> Result<(String, u32), Failure> {
    crate::stats::server_version(client).await.map_err(|e| {
        Failure::database(anyhow::anyhow!(
            "cannot read the server version: {}",
            crate::conn::describe_query_error(&e)
        ))
    })
}

async fn export(args: ExportArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let selection = if args.all {
        Selection::All
    } else if !args.schema.is_empty() {
        Selection::Schemas(args.schema.clone())
    } else {
        let config = crate::config::Config::load(
            global.config.as_deref(),
            &crate::config::RunFlags {
                queries: args.queries.clone(),
                ..Default::default()
            },
        )
        .map_err(Failure::input)?;
        let set = crate::queryset::load(&config.queries).map_err(|e| {
            Failure::input(anyhow::anyhow!(
                "{} (export the tables of a query set, or give --all or --schema)",
                crate::error::chain(&e)
            ))
        })?;
        Selection::Statements(
            set.queries()
                .iter()
                .map(|q| (q.path.clone(), q.sql.clone()))
                .collect(),
        )
    };
    let client = connect(global).await?;
    let options = ExportOptions {
        selection,
        redact: args.redact.clone(),
    };
    let (file, notes) = crate::stats::export(&client, &options)
        .await
        .map_err(|e| match e {
            crate::stats::export::ExportError::Query(_) => Failure::database(e),
            _ => Failure::input(e),
        })?;
    crate::stats::write(&args.out, &file).map_err(Failure::input)?;
    if !global.quiet {
        for (path, reason) in &notes.unparsed {
            eprintln!(
                "warning: {}: cannot read which tables it reads ({reason}): its tables are exported only if another query reads them (or give --all or --schema)",
                path.display()
            );
        }
        for name in &notes.unresolved {
            eprintln!(
                "note: {name}: not a table of this database (a view, a CTE or missing): not exported"
            );
        }
        if !notes.redacted_with_parent.is_empty() {
            eprintln!(
                "note: redacted with their parent table's column (a partition holds the same values): {}",
                notes.redacted_with_parent.join(", ")
            );
        }
        if !notes.extended_hidden.is_empty() {
            eprintln!(
                "warning: pg_stats_ext hides {} extended statistics object(s) from this role, not exported (PostgreSQL 14+ shows them to the table's owner only, 13 to a role that may read all of their columns): {}",
                notes.extended_hidden.len(),
                notes.extended_hidden.join(", ")
            );
        }
        if let Some(reason) = &notes.extended_unreadable {
            eprintln!("note: extended statistics not exported: {reason}");
        }
        if !file.hidden_columns.is_empty() {
            eprintln!(
                "warning: pg_stats hides {} column(s) from this role, exported without statistics (GRANT SELECT on them to export them): {}",
                file.hidden_columns.len(),
                file.hidden_columns.join(", ")
            );
        }
        let columns: usize = file.relations.iter().map(|r| r.columns.len()).sum();
        eprintln!(
            "stats: {} table(s), {} column statistics from PostgreSQL {} written to {}{}",
            file.relations.len(),
            columns,
            file.source.server_version,
            args.out.display(),
            if file.redacted_columns.is_empty() {
                " (most-common values and histograms are real data from the tables: review before committing, or --redact)".to_owned()
            } else {
                format!(", {} column(s) redacted", file.redacted_columns.len())
            }
        );
    }
    Ok(Exit::Success)
}

async fn import(args: ImportArgs, global: &GlobalArgs) -> Result<Exit, Failure> {
    let loaded = crate::stats::read(&args.file).map_err(Failure::input)?;
    let client = connect(global).await?;
    let (version, version_num) = server_version(&client).await?;
    if version_num < 180000 {
        return Err(Failure::input(
            crate::stats::import::ImportError::Unsupported(version),
        ));
    }
    let prepared = crate::stats::prepare(&client, &loaded, version_num, &version)
        .await
        .map_err(|e| Failure::database(anyhow::anyhow!("{}: {e}", args.file.display())))?;
    let imported = crate::stats::import::import(&client, &prepared, &version, version_num)
        .await
        .map_err(|e| {
            let error = anyhow::anyhow!("{}: nothing imported: {e}", args.file.display());
            match e {
                crate::stats::import::ImportError::NoTable(..) => Failure::input(error),
                _ => Failure::database(error),
            }
        })?;
    if !global.quiet {
        say_prepared(&args.file, &prepared);
    }
    if !global.quiet {
        eprintln!(
            "stats: {} relation and column statistics imported from {}",
            imported.restored,
            args.file.display()
        );
        let analyzed = crate::stats::import::autovacuum_tables(&client, &loaded)
            .await
            .map_err(Failure::database)?;
        if !analyzed.is_empty() {
            eprintln!(
                "warning: autovacuum is on for {}: its next ANALYZE of a table replaces the imported statistics; keep it off in CI (autovacuum = off, or ALTER TABLE ... SET (autovacuum_enabled = off))",
                analyzed.join(", ")
            );
        }
    }
    Ok(if imported.refused.is_empty() {
        Exit::Success
    } else {
        Exit::Findings
    })
}

/// The notes of a prepared import, once, on stderr.
pub fn say_prepared(path: &Path, prepared: &crate::stats::Prepared) {
    for warning in prepared.warnings(path) {
        eprintln!("warning: {warning}");
    }
}
