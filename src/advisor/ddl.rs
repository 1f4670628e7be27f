//! The statements of a suggestion: PostgreSQL's own index names, the
//! partitioned table's parent, partitions and attachments; sizes in words.

use super::*;

/// `12.3 MB`, `456 kB`, `8192 bytes`.
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.0} kB", b / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

pub(super) fn column_list(columns: &[IndexColumn]) -> String {
    columns
        .iter()
        .map(column_text)
        .collect::<Vec<_>>()
        .join(", ")
}

/// For a partitioned table: the index on the parent alone (`ON ONLY`,
/// quick, invalid until every partition has one), one per partition built
/// CONCURRENTLY, and each attached; PostgreSQL cannot build an index on a
/// partitioned table concurrently. A tree with sub-partitions gets a plain
/// `CREATE INDEX` (it blocks writes while it builds).
pub(super) async fn partitioned_ddl(
    client: &Client,
    candidate: &Candidate,
    taken: &mut BTreeSet<(String, String)>,
) -> Result<String, tokio_postgres::Error> {
    let parent = format!(
        "{}.{}",
        candidate::quote(&candidate.schema),
        candidate::quote(&candidate.table)
    );
    let columns = column_list(&candidate.columns);
    let partitions = client
        .query(
            "SELECT n.nspname::text, c.relname::text, t.isleaf
               FROM pg_partition_tree(to_regclass($1)) t
               JOIN pg_class c ON c.oid = t.relid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE t.level = 1
              ORDER BY c.relname",
            &[&parent],
        )
        .await?;
    if partitions
        .iter()
        .any(|r| !r.try_get::<_, bool>(2).unwrap_or(false))
        || partitions.is_empty()
    {
        return Ok(format!("CREATE INDEX ON {parent} ({columns})"));
    }
    let parent_index = index_name(
        client,
        &candidate.schema,
        &candidate.table,
        &candidate.columns,
        taken,
    )
    .await?;
    let mut out = vec![format!(
        "CREATE INDEX IF NOT EXISTS {} ON ONLY {parent} ({columns})",
        candidate::quote(&parent_index)
    )];
    let mut attach = Vec::new();
    for row in &partitions {
        let schema: String = row.try_get(0)?;
        let table: String = row.try_get(1)?;
        let name = index_name(client, &schema, &table, &candidate.columns, taken).await?;
        out.push(format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {}.{} ({columns})",
            candidate::quote(&name),
            candidate::quote(&schema),
            candidate::quote(&table)
        ));
        attach.push(format!(
            "ALTER INDEX {}.{} ATTACH PARTITION {}.{}",
            candidate::quote(&candidate.schema),
            candidate::quote(&parent_index),
            candidate::quote(&schema),
            candidate::quote(&name)
        ));
    }
    out.extend(attach);
    Ok(out.join(";\n"))
}

/// A free index name the way PostgreSQL makes them (`ChooseIndexName` in
/// src/backend/commands/indexcmds.c): [`candidate::index_name`] with the
/// label `idx`, then `idx1`, `idx2`... until no relation of the schema
/// has it and no earlier suggestion (`taken`, per schema) took it.
pub(super) async fn index_name(
    client: &Client,
    schema: &str,
    table: &str,
    columns: &[IndexColumn],
    taken: &mut BTreeSet<(String, String)>,
) -> Result<String, tokio_postgres::Error> {
    let names: Vec<&str> = columns.iter().map(|c| c.column.as_str()).collect();
    for pass in 0.. {
        let name = candidate::index_name(table, &names, pass);
        if taken.contains(&(schema.to_owned(), name.clone())) {
            continue;
        }
        let exists: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                 WHERE n.nspname = $1 AND c.relname = $2)",
                &[&schema, &name],
            )
            .await?
            .try_get(0)?;
        if !exists {
            taken.insert((schema.to_owned(), name.clone()));
            return Ok(name);
        }
    }
    unreachable!("an unbounded range always yields a free name")
}
