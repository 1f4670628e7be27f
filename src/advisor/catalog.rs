//! What the advisor reads from the catalog about a scanned relation: its
//! real name, the partitioned table it belongs to, its indexes with their
//! key columns, and its columns with type, collation and statistics. Only
//! catalog views are read.

use tokio_postgres::Client;

/// A relation as the catalog knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    /// The partitioned table at the root of this partition's tree, when the
    /// relation is a partition: `(schema, name)`.
    pub partition_root: Option<(String, String)>,
    /// `pg_class.reltuples`.
    pub reltuples: f64,
    pub indexes: Vec<ExistingIndex>,
    pub columns: Vec<Column>,
}

/// An index that exists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExistingIndex {
    pub name: String,
    /// `pg_get_indexdef`.
    pub definition: String,
    pub valid: bool,
    pub unique: bool,
    /// Access method (`btree`, `hash`, `gin`...).
    pub method: String,
    /// It has a WHERE clause.
    pub partial: bool,
    /// Key columns in order; None for an expression.
    pub columns: Vec<Option<String>>,
    /// DESC per key column.
    pub descending: Vec<bool>,
    /// Operator class per key column.
    pub opclasses: Vec<String>,
    /// `pg_index.indexrelid` (what `hypopg_hide_index` takes).
    pub oid: u32,
    /// It backs a primary key, unique or exclusion constraint.
    pub constraint: bool,
    /// Its WHERE clause as `pg_get_expr` prints it.
    pub predicate: Option<String>,
    /// Collation per key column (empty where the column has none).
    pub collations: Vec<String>,
    /// NULLS FIRST per key column.
    pub nulls_first: Vec<bool>,
    /// Its INCLUDE columns (None for an expression).
    pub included: Vec<Option<String>>,
    /// A partition's index attached to a partitioned index: it goes only
    /// with its parent.
    pub attached: bool,
    /// A partitioned index: the partitions' indexes under it, which plans
    /// show and HypoPG hides, as `(oid, name)`; empty for any other index.
    pub leaves: Vec<(u32, String)>,
}

/// A column with what the advisor needs to know of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// `format_type` of its type.
    pub type_name: String,
    /// The pattern operator class a LIKE prefix needs on this column
    /// outside the C collation (`text_pattern_ops`...), None when the type
    /// has none.
    pub pattern_opclass: Option<&'static str>,
    /// Its collation is C or POSIX (a plain index serves LIKE 'x%').
    pub c_collation: bool,
    /// `pg_stats`, when the relation was analyzed.
    pub stats: Option<Stats>,
    /// Bytes a value takes in an index tuple: `pg_stats.avg_width`, else
    /// the type's fixed length; None when neither is known. For a value
    /// kept out of line in the table's TOAST relation, `avg_width` counts
    /// only its pointer (18 bytes) where an index stores the value: the
    /// average of a sample's stored sizes (`pg_column_size`) then.
    pub width: Option<f64>,
    /// The largest stored value of such a sample, in bytes: an index entry
    /// cannot hold more than a third of a page.
    pub widest: Option<f64>,
    /// The type's alignment in bytes (`pg_type.typalign`); 1 for a
    /// variable-length type, whose short values are stored unaligned.
    pub align: u8,
    /// A btree index on it can deduplicate (PostgreSQL 13+): its default
    /// operator class has an `equalimage` support function and the
    /// collation is deterministic. `char(n)` is taken as not: Debian's
    /// 15.20 builds its indexes with `allequalimage` false (`bt_metap`),
    /// though upstream builds of 13-18 deduplicate them; sized without,
    /// such an index is overestimated there, never underestimated.
    pub dedup: bool,
}

/// `pg_stats` figures of one column.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub null_frac: f64,
    /// Distinct values (a negative `n_distinct` already multiplied out).
    pub n_distinct: f64,
    /// Most common values (text form) with their frequencies.
    pub most_common: Vec<(String, f64)>,
    /// The column is `char(n)` (bpchar): pg_stats shows its values padded
    /// with blanks to n (`BUILDING  `), and trailing blanks do not count
    /// in a comparison (PostgreSQL docs, 8.3 Character Types), so a value
    /// from the plan (`'BUILDING'::bpchar`) is compared without them.
    pub blank_padded: bool,
}

impl Stats {
    /// The fraction of rows an equality with an unknown value keeps: the
    /// most common value's frequency, else 1 / n_distinct.
    pub fn equality(&self) -> Option<f64> {
        if let Some(top) = self.most_common.iter().map(|(_, f)| *f).reduce(f64::max) {
            return Some(top);
        }
        (self.n_distinct > 0.0).then(|| 1.0 / self.n_distinct)
    }

    /// The fraction of rows `column = value` keeps (value in its text
    /// form): its own frequency when it is a common value, else an equal
    /// share of what the common values leave, as the planner estimates.
    pub fn equality_to(&self, value: &str) -> Option<f64> {
        let trim = |v: &'_ str| -> String {
            if self.blank_padded {
                v.trim_end_matches(' ').to_owned()
            } else {
                v.to_owned()
            }
        };
        let value = trim(value);
        if let Some((_, f)) = self.most_common.iter().find(|(v, _)| trim(v) == value) {
            return Some(*f);
        }
        let common: f64 = self.most_common.iter().map(|(_, f)| f).sum();
        let others = self.n_distinct - self.most_common.len() as f64;
        if others >= 1.0 {
            Some(((1.0 - common - self.null_frac) / others).max(0.0))
        } else if !self.most_common.is_empty() {
            // Every value is a common value, and this one is not among
            // them: the planner assumes it is rare.
            Some(0.0)
        } else {
            None
        }
    }
}

impl Relation {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// `schema.name`, quoted where needed.
    pub fn qualified(&self) -> String {
        format!(
            "{}.{}",
            super::candidate::quote(&self.schema),
            super::candidate::quote(&self.name)
        )
    }
}

/// The relations read during one advisor run, each read from the catalog
/// once however many stages ask (sizes of unexecuted scans, candidates,
/// redundant indexes).
#[derive(Debug, Default)]
pub struct Cache {
    read: std::collections::BTreeMap<(Option<String>, String), Option<Relation>>,
}

impl Cache {
    /// [`relation`], read once per `(schema, name)`.
    pub async fn get(
        &mut self,
        client: &Client,
        schema: Option<&str>,
        name: &str,
    ) -> Result<Option<&Relation>, tokio_postgres::Error> {
        let key = (schema.map(str::to_owned), name.to_owned());
        if !self.read.contains_key(&key) {
            let relation = relation(client, schema, name).await?;
            self.read.insert(key.clone(), relation);
        }
        Ok(self.read.get(&key).and_then(Option::as_ref))
    }
}

/// Reads the relation `name` in `schema` (as the catalog spells both),
/// or without a schema resolved through the session's search_path as the
/// planner did. None when it cannot be found (dropped since, or not a
/// table).
pub async fn relation(
    client: &Client,
    schema: Option<&str>,
    name: &str,
) -> Result<Option<Relation>, tokio_postgres::Error> {
    let quote = super::candidate::quote;
    let quoted = match schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(name)),
        None => quote(name),
    };
    let Some(row) = client
        .query_opt(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.reltuples::float8,
                    rn.nspname::text, r.relname::text
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               LEFT JOIN pg_class r ON c.relispartition AND r.oid = pg_partition_root(c.oid)
               LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
              WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'm')",
            &[&quoted],
        )
        .await?
    else {
        return Ok(None);
    };
    let oid: u32 = row.try_get(0)?;
    let schema: String = row.try_get(1)?;
    let table: String = row.try_get(2)?;
    let root = match (row.get::<_, Option<String>>(4), row.try_get(5)?) {
        (Some(s), Some(r)) => Some((s, r)),
        _ => None,
    };
    let indexes = client
        .query(
            "SELECT i.relname::text, pg_get_indexdef(x.indexrelid), x.indisvalid, x.indisunique,
                    am.amname::text, x.indpred IS NOT NULL,
                    ARRAY(SELECT a.attname::text
                            FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                            LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum AND k.attnum <> 0
                           WHERE k.ord <= x.indnkeyatts ORDER BY k.ord),
                    ARRAY(SELECT (o.opt & 1) = 1
                            FROM unnest(x.indoption::int2[]) WITH ORDINALITY o(opt, ord)
                           WHERE o.ord <= x.indnkeyatts ORDER BY o.ord),
                    ARRAY(SELECT oc.opcname::text
                            FROM unnest(x.indclass::oid[]) WITH ORDINALITY k(cls, ord)
                            JOIN pg_opclass oc ON oc.oid = k.cls
                           WHERE k.ord <= x.indnkeyatts ORDER BY k.ord),
                    x.indexrelid,
                    x.indisprimary OR x.indisexclusion
                      OR EXISTS (SELECT 1 FROM pg_constraint c
                                  WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid
                                    AND c.contype IN ('p', 'u', 'x')),
                    pg_get_expr(x.indpred, x.indrelid),
                    ARRAY(SELECT coalesce(co.collname::text, '')
                            FROM unnest(x.indcollation::oid[]) WITH ORDINALITY k(coll, ord)
                            LEFT JOIN pg_collation co ON co.oid = k.coll
                           WHERE k.ord <= x.indnkeyatts ORDER BY k.ord),
                    ARRAY(SELECT (o.opt & 2) = 2
                            FROM unnest(x.indoption::int2[]) WITH ORDINALITY o(opt, ord)
                           WHERE o.ord <= x.indnkeyatts ORDER BY o.ord),
                    ARRAY(SELECT a.attname::text
                            FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                            LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum AND k.attnum <> 0
                           WHERE k.ord > x.indnkeyatts ORDER BY k.ord),
                    EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = x.indexrelid),
                    CASE WHEN i.relkind = 'I' THEN
                      ARRAY(SELECT t.relid::oid FROM pg_partition_tree(x.indexrelid) t
                             WHERE t.isleaf ORDER BY t.relid::oid) END,
                    CASE WHEN i.relkind = 'I' THEN
                      ARRAY(SELECT l.relname::text FROM pg_partition_tree(x.indexrelid) t
                              JOIN pg_class l ON l.oid = t.relid
                             WHERE t.isleaf ORDER BY t.relid::oid) END
               FROM pg_index x
               JOIN pg_class i ON i.oid = x.indexrelid
               JOIN pg_am am ON am.oid = i.relam
              WHERE x.indrelid = $1
              ORDER BY i.relname",
            &[&oid],
        )
        .await?
        .into_iter()
        .map(|r| {
            Ok(ExistingIndex {
            name: r.try_get(0)?,
            definition: r.try_get(1)?,
            valid: r.try_get(2)?,
            unique: r.try_get(3)?,
            method: r.try_get(4)?,
            partial: r.try_get(5)?,
            columns: r.try_get(6)?,
            descending: r.try_get(7)?,
            opclasses: r.try_get(8)?,
            oid: r.try_get(9)?,
            constraint: r.try_get(10)?,
            predicate: r.try_get(11)?,
            collations: r.try_get(12)?,
            nulls_first: r.try_get(13)?,
            included: r.try_get(14)?,
            attached: r.try_get(15)?,
            leaves: {
                let oids: Option<Vec<u32>> = r.try_get(16)?;
                let names: Option<Vec<String>> = r.try_get(17)?;
                oids.unwrap_or_default()
                    .into_iter()
                    .zip(names.unwrap_or_default())
                    .collect()
            },
        })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    let columns = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod),
                    t.typname::text,
                    coalesce(co.collname IN ('C', 'POSIX')
                             OR (co.collname = 'default'
                                 AND (SELECT datcollate IN ('C', 'POSIX') FROM pg_database
                                       WHERE datname = current_database())), false),
                    s.null_frac::float8, s.n_distinct::float8,
                    s.most_common_vals::text::text[], s.most_common_freqs::float8[],
                    coalesce(s.avg_width, nullif(t.typlen, -1)::int4)::float8,
                    CASE WHEN t.typlen = -1 THEN 'c' ELSE t.typalign END::text,
                    t.typlen = -1,
                    t.typname <> 'bpchar'
                    AND coalesce(co.collisdeterministic, true)
                    AND EXISTS (
                        SELECT 1 FROM pg_opclass oc
                          JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'btree'
                          JOIN pg_amproc ap ON ap.amprocfamily = oc.opcfamily
                               AND ap.amproclefttype = oc.opcintype AND ap.amprocnum = 4
                         WHERE oc.opcdefault
                           AND oc.opcintype = CASE WHEN a.atttypid = 'varchar'::regtype
                                                   THEN 'text'::regtype
                                                   ELSE a.atttypid END)
               FROM pg_attribute a
               JOIN pg_type t ON t.oid = a.atttypid
               LEFT JOIN pg_collation co ON co.oid = a.attcollation
               LEFT JOIN pg_stats s ON s.schemaname = $2 AND s.tablename = $3
                    AND s.attname = a.attname
                    AND s.inherited = (SELECT relkind = 'p' FROM pg_class WHERE oid = $1)
              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum",
            &[&oid, &schema, &table],
        )
        .await?;
    let reltuples: f64 = row.try_get(3)?;
    let varlena: Vec<bool> = columns
        .iter()
        .map(|r| r.try_get(10))
        .collect::<Result<_, _>>()?;
    let mut columns: Vec<Column> = columns
        .into_iter()
        .map(|r| -> Result<Column, tokio_postgres::Error> {
            let type_base: String = r.try_get(2)?;
            let null_frac: Option<f64> = r.try_get(4)?;
            let stats = null_frac.map(|null_frac| {
                let n_distinct: f64 = r.try_get::<_, Option<f64>>(5).ok().flatten().unwrap_or(0.0);
                let values: Vec<String> = r
                    .try_get::<_, Option<Vec<String>>>(6)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let freqs: Vec<f64> = r
                    .try_get::<_, Option<Vec<f64>>>(7)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                Stats {
                    null_frac,
                    n_distinct: if n_distinct < 0.0 {
                        -n_distinct * reltuples.max(1.0)
                    } else {
                        n_distinct
                    },
                    most_common: values.into_iter().zip(freqs).collect(),
                    blank_padded: type_base == "bpchar",
                }
            });
            Ok(Column {
                name: r.try_get(0)?,
                type_name: r.try_get(1)?,
                pattern_opclass: match type_base.as_str() {
                    "text" => Some("text_pattern_ops"),
                    "varchar" => Some("varchar_pattern_ops"),
                    "bpchar" => Some("bpchar_pattern_ops"),
                    _ => None,
                },
                c_collation: r.try_get(3)?,
                stats,
                width: r.try_get(8)?,
                align: match r.try_get::<_, String>(9)?.as_str() {
                    "c" => 1,
                    "s" => 2,
                    "i" => 4,
                    _ => 8,
                },
                widest: None,
                dedup: r.try_get(11)?,
            })
        })
        .collect::<Result<_, _>>()?;
    let long: Vec<usize> = (0..columns.len()).filter(|&k| varlena[k]).collect();
    if !long.is_empty() && stores_out_of_line(client, oid).await? {
        sample_widths(client, &quoted, &mut columns, &long).await?;
    }
    Ok(Some(Relation {
        schema,
        name: table,
        partition_root: root,
        reltuples,
        indexes,
        columns,
    }))
}

/// The table has values in its TOAST relation, and the role may read it.
async fn stores_out_of_line(client: &Client, oid: u32) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT coalesce(c.reltoastrelid <> 0
                             AND pg_relation_size(c.reltoastrelid) > 0
                             AND has_table_privilege(c.oid, 'SELECT'), false)
               FROM pg_class c WHERE c.oid = $1",
            &[&oid],
        )
        .await?;
    row.try_get(0)
}

/// The stored sizes of the variable-length columns `long` in the table's
/// first 1,000 rows (`pg_column_size`: an out-of-line value's own size,
/// compressed or not, read without fetching it), which an index entry
/// holds: their average, when larger than `avg_width`, and their largest.
async fn sample_widths(
    client: &Client,
    table: &str,
    columns: &mut [Column],
    long: &[usize],
) -> Result<(), tokio_postgres::Error> {
    let quote = super::candidate::quote;
    let figures: Vec<String> = long
        .iter()
        .map(|&k| {
            let c = quote(&columns[k].name);
            format!("avg(pg_column_size({c}))::float8, max(pg_column_size({c}))::float8")
        })
        .collect();
    let names: Vec<String> = long.iter().map(|&k| quote(&columns[k].name)).collect();
    let row = client
        .query_one(
            &format!(
                "SELECT {} FROM (SELECT {} FROM {table} LIMIT 1000) s",
                figures.join(", "),
                names.join(", ")
            ),
            &[],
        )
        .await?;
    for (n, &k) in long.iter().enumerate() {
        let average: Option<f64> = row.try_get(2 * n)?;
        let largest: Option<f64> = row.try_get(2 * n + 1)?;
        let column = &mut columns[k];
        if let Some(average) = average {
            column.width = Some(column.width.map_or(average, |w| w.max(average)));
        }
        column.widest = largest;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_estimates_follow_the_planner() {
        let s = Stats {
            null_frac: 0.0,
            n_distinct: 4.0,
            most_common: vec![("done".into(), 0.97), ("new".into(), 0.02)],
            blank_padded: false,
        };
        assert_eq!(s.equality(), Some(0.97));
        assert_eq!(s.equality_to("new"), Some(0.02));
        // Two other values share what is left.
        let other = s.equality_to("failed").unwrap();
        assert!((other - 0.005).abs() < 1e-9, "{other}");
        let unique = Stats {
            null_frac: 0.0,
            n_distinct: 20000.0,
            most_common: vec![],
            blank_padded: false,
        };
        assert_eq!(unique.equality(), Some(1.0 / 20000.0));
        // char(n): pg_stats pads, the plan's literal does not.
        let segment = Stats {
            null_frac: 0.0,
            n_distinct: 4.0,
            most_common: ["BUILDING  ", "AUTOMOBILE", "MACHINERY ", "HOUSEHOLD "]
                .map(|v| (v.to_owned(), 0.25))
                .to_vec(),
            blank_padded: true,
        };
        assert_eq!(segment.equality_to("BUILDING"), Some(0.25));
        assert_eq!(segment.equality_to("MACHINERY   "), Some(0.25));
        assert_eq!(segment.equality_to("FURNITURE"), Some(0.0));
    }
}
