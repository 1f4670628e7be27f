//! `stats export`: reads the planner statistics of a database into a
//! [`StatsFile`]. Read-only: catalog views only (`pg_class`, `pg_stats`,
//! `pg_stats_ext`), nothing is written to the database.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use crate::queryset::Unparsable;

use super::format::{
    Column, Extended, FORMAT_NAME, FORMAT_VERSION, Index, Relation, Size, Source, StatsFile,
};

/// Which tables to export.
#[derive(Debug, Clone)]
pub enum Selection {
    /// The tables these statements (each with the file it comes from)
    /// read (names as written in them, resolved through the session's
    /// `search_path`), with the partitions of partitioned ones.
    Statements(Vec<(std::path::PathBuf, String)>),
    /// Every table outside the system schemas.
    All,
    /// Every table of these schemas.
    Schemas(Vec<String>),
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub selection: Selection,
    /// Columns (`table.column` or `schema.table.column`) exported without
    /// most-common values and histograms.
    pub redact: Vec<String>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The server's error is its cause ([`crate::error::chain`] shows it).
    #[error("cannot read the statistics")]
    Query(#[from] tokio_postgres::Error),
    #[error(
        "--redact {0}: no exported column has this name (give table.column or schema.table.column)"
    )]
    UnknownRedact(String),
    #[error("{0}")]
    Nothing(String),
}

/// What the export says besides the file: notes for stderr.
#[derive(Debug, Default)]
pub struct ExportNotes {
    /// Names in the statements that are no table of the database (views,
    /// CTE names, functions), by name.
    pub unresolved: Vec<String>,
    /// Files of statements whose tables could not be read (sqlparser
    /// cannot parse them), with why.
    pub unparsed: Vec<(std::path::PathBuf, Unparsable)>,
    /// Why extended statistics are missing, when their view could not be
    /// read.
    pub extended_unreadable: Option<String>,
    /// Extended statistics objects (`schema.name`) that `pg_stats_ext`
    /// hides from this role: not the table's owner (14+; on 13: it may not
    /// read all of their columns), or row security is in force.
    pub extended_hidden: Vec<String>,
    /// Columns of partitions (and inheritance children) redacted because
    /// `--redact` named their parent table's column.
    pub redacted_with_parent: Vec<String>,
}

/// The tables a statement reads, as written in it (quoted where it
/// quotes them), or why it cannot be parsed.
pub fn tables_in(sql: &str) -> Result<BTreeSet<String>, Unparsable> {
    let statements = crate::queryset::parse_sql(sql)?;
    let mut names = BTreeSet::new();
    let _ = sqlparser::ast::visit_relations(&statements, |name| {
        names.insert(name.to_string());
        std::ops::ControlFlow::<()>::Continue(())
    });
    Ok(names)
}

/// Reads the statistics of the selected tables. Sets the session's
/// DateStyle, TimeZone, IntervalStyle and extra_float_digits first
/// ([`super::import::PORTABLE_SETTINGS`]).
pub async fn export(
    client: &Client,
    options: &ExportOptions,
) -> Result<(StatsFile, ExportNotes), ExportError> {
    let mut notes = ExportNotes::default();
    // Values are written as text: in the same form whatever the role's or
    // database's DateStyle, TimeZone or IntervalStyle, and floats exact.
    let mut settings: Vec<String> = super::import::PORTABLE_SETTINGS
        .iter()
        .map(|(name, value)| format!("SET {name} = {}", crate::sql::quote_literal(value)))
        .collect();
    settings.push("SET extra_float_digits = 3".to_owned());
    client.batch_execute(&settings.join("; ")).await?;
    let row = client
        .query_one(
            "SELECT split_part(current_setting('server_version'), ' ', 1), current_setting('server_version_num')::int",
            &[],
        )
        .await?;
    let version_num = u32::try_from(row.get::<_, i32>(1)).unwrap_or(0);
    let source = Source {
        server_version: row.get(0),
        server_version_num: version_num,
    };
    let oids = select_tables(client, &options.selection, &mut notes).await?;
    if oids.is_empty() {
        return Err(ExportError::Nothing(match &options.selection {
            Selection::Statements(_) if !notes.unparsed.is_empty() => format!(
                "the query set reads no table of this database that planguard can name: cannot read which tables {} read{} ({}; give --all or --schema)",
                notes
                    .unparsed
                    .iter()
                    .map(|(path, _)| path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                if notes.unparsed.len() == 1 { "s" } else { "" },
                notes.unparsed[0].1
            ),
            Selection::Statements(_) => {
                "the query set reads no table of this database (give --all or --schema)".to_owned()
            }
            Selection::All => "the database has no tables".to_owned(),
            Selection::Schemas(s) => format!("no tables in schema {}", s.join(", ")),
        }));
    }
    let frozen = if version_num >= 180000 {
        "relallfrozen::int8"
    } else {
        "NULL::int8"
    };
    let rows = client
        .query(
            &format!(
                "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text,
                        c.relpages::int8, c.reltuples::float8, c.relallvisible::int8, {frozen}
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.oid = ANY($1)
                  ORDER BY 2, 3"
            ),
            &[&oids],
        )
        .await?;
    let mut relations = Vec::new();
    let mut by_oid = BTreeMap::new();
    for row in &rows {
        by_oid.insert(row.get::<_, u32>(0), relations.len());
        relations.push(Relation {
            schema: row.get(1),
            name: row.get(2),
            kind: row.get(3),
            size: size(row, 4),
            indexes: Vec::new(),
            columns: Vec::new(),
            extended: Vec::new(),
        });
    }
    let rows = client
        .query(
            &format!(
                "SELECT i.indrelid, c.relname::text,
                        c.relpages::int8, c.reltuples::float8, c.relallvisible::int8, {frozen}
                   FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  WHERE i.indrelid = ANY($1)
                  ORDER BY 1, 2"
            ),
            &[&oids],
        )
        .await?;
    for row in &rows {
        if let Some(&at) = by_oid.get(&row.get::<_, u32>(0)) {
            relations[at].indexes.push(Index {
                name: row.get(1),
                size: size(row, 2),
            });
        }
    }
    let hidden = read_columns(client, &oids, version_num, &mut relations, &by_oid).await?;
    // Each relation's parent in the file (partitions, inheritance
    // children), so that a redacted column is redacted in them too.
    let mut parent = vec![None; relations.len()];
    let rows = client
        .query(
            "SELECT inhrelid, inhparent FROM pg_inherits WHERE inhrelid = ANY($1)",
            &[&oids],
        )
        .await?;
    for row in &rows {
        if let (Some(&child), Some(&up)) = (
            by_oid.get(&row.get::<_, u32>(0)),
            by_oid.get(&row.get::<_, u32>(1)),
        ) {
            parent[child] = Some(up);
        }
    }
    match read_extended(client, &oids, version_num, &mut relations, &by_oid).await {
        Ok(()) => notes.extended_hidden = hidden_extended(client, &oids, version_num).await?,
        Err(e) => notes.extended_unreadable = Some(crate::conn::describe_query_error(&e)),
    }
    let mut file = StatsFile {
        format: FORMAT_NAME.to_owned(),
        format_version: FORMAT_VERSION,
        source,
        hidden_columns: hidden
            .iter()
            .map(|h| column_name(&h.0, &h.1, &h.2))
            .collect(),
        redacted_columns: Vec::new(),
        relations,
    };
    notes.redacted_with_parent = redact(&mut file, &options.redact, &parent, &hidden)?;
    Ok((file, notes))
}

fn size(row: &tokio_postgres::Row, at: usize) -> Size {
    Size {
        relpages: row.get(at),
        reltuples: row.get(at + 1),
        relallvisible: row.get(at + 2),
        relallfrozen: row.get(at + 3),
    }
}

/// The OIDs of the selected tables, partitions included.
async fn select_tables(
    client: &Client,
    selection: &Selection,
    notes: &mut ExportNotes,
) -> Result<Vec<u32>, tokio_postgres::Error> {
    let kinds = "c.relkind IN ('r', 'p', 'm')";
    let rows = match selection {
        Selection::All => {
            client
                .query(
                    &format!(
                        "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE {kinds} AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                            AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
                    ),
                    &[],
                )
                .await?
        }
        Selection::Schemas(schemas) => {
            client
                .query(
                    &format!(
                        "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE {kinds} AND n.nspname = ANY($1)"
                    ),
                    &[schemas],
                )
                .await?
        }
        Selection::Statements(statements) => {
            let mut names = BTreeSet::new();
            for (path, sql) in statements {
                match tables_in(sql) {
                    Ok(found) => names.extend(found),
                    Err(e) => notes.unparsed.push((path.clone(), e)),
                }
            }
            let names: Vec<String> = names.into_iter().collect();
            // to_regclass gives NULL for a CTE name or a missing table.
            let rows = client
                .query(
                    &format!(
                        "SELECT n.name, c.oid, pt.relid::oid
                           FROM unnest($1::text[]) AS n(name)
                           LEFT JOIN pg_class c ON c.oid = to_regclass(n.name) AND {kinds}
                           LEFT JOIN LATERAL pg_partition_tree(c.oid) pt ON c.relkind = 'p'"
                    ),
                    &[&names],
                )
                .await?;
            let mut oids = BTreeSet::new();
            for row in &rows {
                match (row.get::<_, Option<u32>>(1), row.get::<_, Option<u32>>(2)) {
                    (None, _) => notes.unresolved.push(row.get(0)),
                    (Some(oid), part) => {
                        oids.insert(oid);
                        oids.extend(part);
                    }
                }
            }
            notes.unresolved.sort();
            notes.unresolved.dedup();
            return Ok(oids.into_iter().collect());
        }
    };
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A column of the database: schema, table, column.
type ColumnName = (String, String, String);

/// `schema.table.column`, each part quoted where SQL needs it.
fn column_name(schema: &str, table: &str, column: &str) -> String {
    use crate::sql::quote_ident;
    format!(
        "{}.{}.{}",
        quote_ident(schema),
        quote_ident(table),
        quote_ident(column)
    )
}

/// Reads `pg_stats` into the relations; returns the columns `pg_stats`
/// hides from this role (no SELECT on them, or row security in force).
async fn read_columns(
    client: &Client,
    oids: &[u32],
    version_num: u32,
    relations: &mut [Relation],
    by_oid: &BTreeMap<u32, usize>,
) -> Result<Vec<ColumnName>, tokio_postgres::Error> {
    // pg_stats shows a row when the role may SELECT the column and row
    // security is not in force for it (system_views.sql).
    let rows = client
        .query(
            "SELECT c.oid, a.attname::text
               FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
              WHERE c.oid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
                AND (NOT has_column_privilege(c.oid, a.attnum, 'SELECT')
                     OR (c.relrowsecurity AND row_security_active(c.oid)))
              ORDER BY 1, a.attnum",
            &[&oids],
        )
        .await?;
    let mut hidden = Vec::new();
    for row in &rows {
        if let Some(&at) = by_oid.get(&row.get::<_, u32>(0)) {
            let rel = &relations[at];
            hidden.push((
                rel.schema.clone(),
                rel.name.clone(),
                row.get::<_, String>(1),
            ));
        }
    }
    hidden.sort_by_key(|h| column_name(&h.0, &h.1, &h.2));
    let ranges = if version_num >= 170000 {
        "s.range_length_histogram::text, s.range_empty_frac, s.range_bounds_histogram::text"
    } else {
        "NULL::text, NULL::real, NULL::text"
    };
    let rows = client
        .query(
            &format!(
                "SELECT c.oid, s.attname::text, s.inherited, s.null_frac, s.avg_width, s.n_distinct,
                        s.most_common_vals::text, s.most_common_freqs, s.histogram_bounds::text,
                        s.correlation, s.most_common_elems::text, s.most_common_elem_freqs,
                        s.elem_count_histogram, {ranges}
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
                  WHERE c.oid = ANY($1)
                  ORDER BY 1, 2, 3"
            ),
            &[&oids],
        )
        .await?;
    for row in &rows {
        if let Some(&at) = by_oid.get(&row.get::<_, u32>(0)) {
            relations[at].columns.push(Column {
                name: row.get(1),
                inherited: row.get(2),
                null_frac: row.get(3),
                avg_width: row.get(4),
                n_distinct: row.get(5),
                most_common_vals: row.get(6),
                most_common_freqs: row.get(7),
                histogram_bounds: row.get(8),
                correlation: row.get(9),
                most_common_elems: row.get(10),
                most_common_elem_freqs: row.get(11),
                elem_count_histogram: row.get(12),
                range_length_histogram: row.get(13),
                range_empty_frac: row.get(14),
                range_bounds_histogram: row.get(15),
            });
        }
    }
    Ok(hidden)
}

/// Reads `pg_stats_ext` into the relations (the rows this role may see:
/// PostgreSQL shows them for tables it may read in full).
async fn read_extended(
    client: &Client,
    oids: &[u32],
    version_num: u32,
    relations: &mut [Relation],
    by_oid: &BTreeMap<u32, usize>,
) -> Result<(), tokio_postgres::Error> {
    let inherited = if version_num >= 150000 {
        "e.inherited"
    } else {
        "false"
    };
    let rows = client
        .query(
            &format!(
                "SELECT c.oid, e.statistics_schemaname::text, e.statistics_name::text, {inherited},
                        coalesce(e.attnames::text[], '{{}}'), e.kinds::text[],
                        e.n_distinct::text, e.dependencies::text, e.most_common_vals::text,
                        e.most_common_freqs, e.most_common_base_freqs
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   JOIN pg_stats_ext e ON e.schemaname = n.nspname AND e.tablename = c.relname
                  WHERE c.oid = ANY($1)
                  ORDER BY 1, 2, 3, 4"
            ),
            &[&oids],
        )
        .await?;
    for row in &rows {
        if let Some(&at) = by_oid.get(&row.get::<_, u32>(0)) {
            relations[at].extended.push(Extended {
                schema: row.get(1),
                name: row.get(2),
                inherited: row.get(3),
                columns: row.get(4),
                kinds: row.get(5),
                n_distinct: row.get(6),
                dependencies: row.get(7),
                most_common_vals: row.get(8),
                most_common_freqs: row.get(9),
                most_common_base_freqs: row.get(10),
            });
        }
    }
    Ok(())
}

/// The parts of a `--redact` name (`table.column` or
/// `schema.table.column`), split at the dots outside double quotes; a
/// quoted part is taken as written, an unquoted one as written or folded
/// to lower case as SQL does. `None` when it is not two or three names.
fn redact_spec(spec: &str) -> Option<Vec<(String, bool)>> {
    let mut parts = vec![(String::new(), false)];
    let mut chars = spec.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        let part = parts.last_mut()?;
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                part.0.push('"');
            }
            '"' => {
                quoted = !quoted;
                part.1 = true;
            }
            '.' if !quoted => parts.push((String::new(), false)),
            c => part.0.push(c),
        }
    }
    let complete = !quoted && parts.iter().all(|p| !p.0.is_empty() || p.1);
    (complete && (2..=3).contains(&parts.len())).then_some(parts)
}

/// Whether the name `name` is what the `--redact` part `part` names.
fn names(part: &(String, bool), name: &str) -> bool {
    part.0 == name || (!part.1 && part.0.to_lowercase() == name)
}

/// Whether the `--redact` parts name the column `column` of `schema.table`.
fn spec_names(parts: &[(String, bool)], schema: &str, table: &str, column: &str) -> bool {
    let n = parts.len();
    names(&parts[n - 1], column)
        && names(&parts[n - 2], table)
        && (n == 2 || names(&parts[0], schema))
}

/// The extended statistics objects of the tables `oids` that
/// `pg_stats_ext` hides from this role, by the view's own condition
/// (system_views.sql: 14+ shows them to the table's owner, 13 to a role
/// that may read all of their columns; neither with row security in
/// force), on the catalog every role may read.
async fn hidden_extended(
    client: &Client,
    oids: &[u32],
    version_num: u32,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let shown = if version_num >= 140000 {
        "pg_has_role(c.relowner, 'USAGE')"
    } else {
        "NOT EXISTS (SELECT 1 FROM unnest(s.stxkeys::int2[]) AS k(attnum)
                      WHERE NOT has_column_privilege(c.oid, k.attnum, 'SELECT'))"
    };
    let rows = client
        .query(
            &format!(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(s.stxname)
                   FROM pg_statistic_ext s
                   JOIN pg_namespace n ON n.oid = s.stxnamespace
                   JOIN pg_class c ON c.oid = s.stxrelid
                  WHERE s.stxrelid = ANY($1)
                    AND NOT ({shown} AND NOT (c.relrowsecurity AND row_security_active(c.oid)))
                  ORDER BY 1"
            ),
            &[&oids],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Drops the values taken from the table's data (most-common values,
/// histograms, element and range statistics, and the multi-column MCVs
/// of extended statistics) of the named columns, and of the same columns
/// of the partitions (and inheritance children) of a named table, whose
/// own statistics hold the same values; `parent` gives each relation's
/// parent in the file. A named column `hidden` from the exporting role
/// has no values to drop. Returns the columns redacted through their
/// parent.
fn redact(
    file: &mut StatsFile,
    specs: &[String],
    parent: &[Option<usize>],
    hidden: &[ColumnName],
) -> Result<Vec<String>, ExportError> {
    let mut redacted = BTreeSet::new();
    let mut through_parent = BTreeSet::new();
    for spec in specs {
        let parts = redact_spec(spec).ok_or_else(|| ExportError::UnknownRedact(spec.clone()))?;
        let mut found = hidden
            .iter()
            .any(|(schema, table, column)| spec_names(&parts, schema, table, column));
        for at in 0..file.relations.len() {
            for c in 0..file.relations[at].columns.len() {
                // Named as a column of the relation itself, or of one of
                // its ancestors (whose columns its own are).
                let column = file.relations[at].columns[c].name.clone();
                let mut by = Some(at);
                while let Some(i) = by {
                    let rel = &file.relations[i];
                    if spec_names(&parts, &rel.schema, &rel.name, &column) {
                        break;
                    }
                    by = parent[i];
                }
                let Some(by) = by else {
                    continue;
                };
                found = true;
                let rel = &mut file.relations[at];
                let stats = &mut rel.columns[c];
                stats.most_common_vals = None;
                stats.most_common_freqs = None;
                stats.histogram_bounds = None;
                stats.most_common_elems = None;
                stats.most_common_elem_freqs = None;
                stats.elem_count_histogram = None;
                stats.range_length_histogram = None;
                stats.range_bounds_histogram = None;
                for ext in &mut rel.extended {
                    if ext.columns.contains(&column) {
                        ext.most_common_vals = None;
                        ext.most_common_freqs = None;
                        ext.most_common_base_freqs = None;
                    }
                }
                let name = column_name(&rel.schema, &rel.name, &column);
                if by != at {
                    through_parent.insert(name.clone());
                }
                redacted.insert(name);
            }
        }
        if !found {
            return Err(ExportError::UnknownRedact(spec.clone()));
        }
    }
    file.redacted_columns = redacted.into_iter().collect();
    Ok(through_parent.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::tables_in;

    #[test]
    fn redact_names_as_sql_writes_them() {
        use super::{redact_spec, spec_names};
        let spec = |s: &str| redact_spec(s).unwrap();
        assert!(spec_names(
            &spec("\"Customers\".tier"),
            "app",
            "Customers",
            "tier"
        ));
        assert!(spec_names(
            &spec("Customers.tier"),
            "app",
            "Customers",
            "tier"
        ));
        assert!(spec_names(
            &spec("CUSTOMERS.Tier"),
            "app",
            "customers",
            "tier"
        ));
        assert!(!spec_names(
            &spec("\"CUSTOMERS\".tier"),
            "app",
            "customers",
            "tier"
        ));
        assert!(spec_names(
            &spec("\"Sales\".\"Big Table\".\"a.b\"\"c\""),
            "Sales",
            "Big Table",
            "a.b\"c"
        ));
        assert!(spec_names(
            &spec("Sales.Big Table.k"),
            "Sales",
            "Big Table",
            "k"
        ));
        assert!(!spec_names(
            &spec("other.customers.tier"),
            "app",
            "customers",
            "tier"
        ));
        for bad in ["tier", "a.b.c.d", "\"a.b", "a..b", "a.b."] {
            assert!(redact_spec(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tables_of_a_statement_as_written() {
        let names = tables_in(
            "WITH r AS (SELECT * FROM orders WHERE id = $1) SELECT * FROM r JOIN app.\"Customers\" c ON true",
        )
        .unwrap();
        assert!(names.contains("orders"), "{names:?}");
        assert!(names.contains("app.\"Customers\""), "{names:?}");
    }
}
