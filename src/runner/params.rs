//! Values for a parameterized query that came without them: representative
//! values from `pg_stats` of the columns the placeholders are compared
//! with, or PostgreSQL 16's generic plan, or a skip that names the
//! parameter that could not be given a value.
//!
//! For each `$n`: its type from the server (Describe of the statement,
//! which also has the server refuse a second statement hidden in the
//! text), the column it is compared with ([`crate::queryset::placeholders`]),
//! and a value of that column: the most common values for an equality or an
//! `IN` list, a histogram bound for a range (the 90% bound for `col > $n`,
//! so that about a tenth of the rows qualify, as a "recent rows" query
//! would), a prefix of a common value for `LIKE`, 10 for `LIMIT` and 0 for
//! `OFFSET`. They are bound as real parameters like given ones.

use tokio_postgres::Client;

use crate::queryset::ParamValues;
use crate::queryset::placeholders::{self, Comparison, PlaceholderUse, Relation};

use super::measure::MeasureError;
use super::{Job, Runner};
use crate::queryset::ParamMode;

/// One column's statistics.
struct ColumnStats {
    /// `schema.table.column`, quoted where needed.
    name: String,
    common: Vec<String>,
    frequencies: Vec<f64>,
    histogram: Vec<String>,
}

/// Why a query's parameters could not all be sampled: the reason its
/// `params` note (or its skip) gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum NotSampled {
    #[error("the statement could not be read to find what its parameters are compared with")]
    Unreadable,
    /// The first parameter that got no value, and why.
    #[error("${n} could not be sampled: {reason}")]
    Parameter { n: usize, reason: NoValue },
}

/// Why one parameter got no representative value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum NoValue {
    #[error("no table of the statement has a column \"{0}\"")]
    NoColumn(String),
    /// The catalog read failed (the server's error, as psql shows it).
    #[error("its statistics could not be read: {0}")]
    Catalog(String),
    #[error("it is not compared with a column (an expression or a function argument)")]
    NotCompared,
    /// `schema.table.column`: `pg_stats` has nothing for it.
    #[error("no statistics for {0} (run ANALYZE on its table)")]
    NoStatistics(String),
    #[error("no usable statistics for {0}")]
    NoUsable(String),
}

/// Representative values for every parameter of `job`, or the reason the
/// first one that has none could not get one (naming it).
pub(super) async fn sample(
    job: &Job,
    client: &Client,
) -> Result<Result<ParamValues, NotSampled>, tokio_postgres::Error> {
    // Parse and Describe: the server's own types, and its refusal of a
    // second statement.
    let statement = client.prepare(&job.sql).await?;
    let types: Vec<String> = statement
        .params()
        .iter()
        .map(|t| t.name().to_owned())
        .collect();
    let Some(found) = placeholders::analyze(&job.sql) else {
        return Ok(Err(NotSampled::Unreadable));
    };
    let mut values = Vec::with_capacity(job.param_count);
    let mut origins = Vec::with_capacity(job.param_count);
    for n in 1..=job.param_count {
        let picked = match found.uses.get(&n) {
            Some(PlaceholderUse::Limit) => {
                Ok(("10".to_owned(), "LIMIT: a small constant".to_owned()))
            }
            Some(PlaceholderUse::Offset) => Ok(("0".to_owned(), "OFFSET: none".to_owned())),
            Some(PlaceholderUse::Column {
                qualifier,
                column,
                comparison,
            }) => {
                // A catalog read that fails is a reason not to sample, never
                // the query's error.
                match column_stats(client, &found.candidates(qualifier.as_deref()), column).await {
                    Ok(Some(stats)) => pick(&stats, *comparison),
                    Ok(None) => Err(NoValue::NoColumn(column.clone())),
                    Err(e) => Err(NoValue::Catalog(crate::conn::describe_query_error(&e))),
                }
            }
            None => Err(NoValue::NotCompared),
        };
        match picked {
            Ok((value, origin)) => {
                values.push(Some(value));
                origins.push(origin);
            }
            Err(reason) => return Ok(Err(NotSampled::Parameter { n, reason })),
        }
    }
    Ok(Ok(ParamValues {
        source: "sampled".to_owned(),
        values,
        types,
        origins,
        note: None,
    }))
}

/// The statistics of `column` in the first of `tables` that has it.
async fn column_stats(
    client: &Client,
    tables: &[&Relation],
    column: &str,
) -> Result<Option<ColumnStats>, tokio_postgres::Error> {
    // anyarray has no binary input: read it through its text form.
    const SQL: &str = "SELECT format('%I.%I.%I', n.nspname, c.relname, a.attname), \
            s.most_common_vals::text::text[], s.most_common_freqs::float8[], \
            s.histogram_bounds::text::text[] \
        FROM pg_catalog.pg_class c \
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 \
            AND a.attnum > 0 AND NOT a.attisdropped \
        LEFT JOIN pg_catalog.pg_stats s ON s.schemaname = n.nspname \
            AND s.tablename = c.relname AND s.attname = a.attname \
        WHERE c.oid = pg_catalog.to_regclass(CASE WHEN $3::text IS NULL \
            THEN pg_catalog.format('%I', $1::text) \
            ELSE pg_catalog.format('%I.%I', $3::text, $1::text) END) \
        ORDER BY s.inherited DESC NULLS LAST LIMIT 1";
    for table in tables {
        let rows = client
            .query(SQL, &[&table.name, &column, &table.schema])
            .await?;
        if let Some(row) = rows.first() {
            return Ok(Some(ColumnStats {
                name: row.try_get(0)?,
                common: row
                    .try_get::<_, Option<Vec<String>>>(1)?
                    .unwrap_or_default(),
                frequencies: row.try_get::<_, Option<Vec<f64>>>(2)?.unwrap_or_default(),
                histogram: row
                    .try_get::<_, Option<Vec<String>>>(3)?
                    .unwrap_or_default(),
            }));
        }
    }
    Ok(None)
}

/// The value for one comparison, and where it came from.
fn pick(stats: &ColumnStats, comparison: Comparison) -> Result<(String, String), NoValue> {
    let name = &stats.name;
    if stats.common.is_empty() && stats.histogram.is_empty() {
        return Err(NoValue::NoStatistics(name.clone()));
    }
    let common = |i: usize| -> Option<(String, String)> {
        let value = stats.common.get(i % stats.common.len().max(1))?;
        let share = stats
            .frequencies
            .get(i % stats.common.len())
            .map(|f| format!(", {:.1}% of rows", f * 100.0))
            .unwrap_or_default();
        Some((
            value.clone(),
            format!(
                "{name}: {} (pg_stats{share})",
                ordinal(i % stats.common.len() + 1)
            ),
        ))
    };
    let bound = |percent: usize| -> Option<(String, String)> {
        let last = stats.histogram.len().checked_sub(1)?;
        let value = &stats.histogram[last * percent / 100];
        Some((
            value.clone(),
            format!("{name}: the histogram bound at {percent}% (pg_stats)"),
        ))
    };
    let either = |first: Option<(String, String)>, second: Option<(String, String)>| {
        first
            .or(second)
            .ok_or_else(|| NoValue::NoUsable(name.clone()))
    };
    match comparison {
        Comparison::Equal => either(common(0), bound(50)),
        Comparison::InList(i) => either(common(i), bound((50 + 10 * i) % 100)),
        Comparison::AnyArray => {
            if stats.common.is_empty() {
                let (value, origin) = either(None, bound(50))?;
                return Ok((array_literal(&[value]), origin));
            }
            let items: Vec<String> = stats.common.iter().take(3).cloned().collect();
            Ok((
                array_literal(&items),
                format!("{name}: the {} most common values (pg_stats)", items.len()),
            ))
        }
        // A range keeps a realistic selectivity: about a tenth of the rows.
        Comparison::Above => either(bound(90), common(0)),
        Comparison::Below => either(bound(10), common(0)),
        Comparison::BetweenLow => either(bound(45), common(0)),
        Comparison::BetweenHigh => either(bound(55), common(0)),
        Comparison::Like => {
            let (value, origin) = either(common(0), bound(50))?;
            let prefix: String = value
                .chars()
                .take(3)
                .flat_map(|c| match c {
                    '%' | '_' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            Ok((
                format!("{prefix}%"),
                format!("{origin}, its first characters"),
            ))
        }
    }
}

fn array_literal(items: &[String]) -> String {
    crate::queryset::Param::Array(
        items
            .iter()
            .map(|i| crate::queryset::Param::Text(i.clone()))
            .collect(),
    )
    .as_text()
    .unwrap_or_default()
}

fn ordinal(n: usize) -> String {
    match n {
        1 => "the most common value".to_owned(),
        2 => "the 2nd most common value".to_owned(),
        3 => "the 3rd most common value".to_owned(),
        n => format!("the {n}th most common value"),
    }
}

impl Runner {
    /// The values a parameterized job runs with: given, recorded by the
    /// baseline, or sampled; else the generic plan on PostgreSQL 16+; else
    /// a skip naming the parameter that got no value. Returns the job with
    /// its values bound (None: run `job` as it is) and what was used.
    pub(super) async fn resolve_params(
        &self,
        job: &Job,
        client: &Client,
    ) -> Result<(Option<Job>, Option<ParamValues>), MeasureError> {
        if job.param_count == 0 {
            return Ok((None, None));
        }
        if let Some(values) = &job.params {
            return Ok((None, Some(ParamValues::given(values.clone()))));
        }
        let with_values = |values: &ParamValues| Job {
            params: Some(values.values.clone()),
            ..job.clone()
        };
        let reason = if job.param_mode == ParamMode::Generic {
            "params = \"generic\"".to_owned()
        } else {
            if let Some(stored) = job
                .stored
                .as_ref()
                .filter(|s| s.source != "generic" && s.values.len() == job.param_count)
            {
                let used = ParamValues {
                    source: "baseline".to_owned(),
                    ..stored.clone()
                };
                return Ok((Some(with_values(&used)), Some(used)));
            }
            match sample(job, client).await? {
                Ok(sampled) => return Ok((Some(with_values(&sampled)), Some(sampled))),
                Err(reason) => reason.to_string(),
            }
        };
        if self.generic_plan_available() {
            return Ok((
                None,
                Some(ParamValues {
                    source: "generic".to_owned(),
                    values: Vec::new(),
                    types: Vec::new(),
                    origins: Vec::new(),
                    note: Some(reason),
                }),
            ));
        }
        Err(MeasureError::Skip(
            if job.param_mode == ParamMode::Generic {
                format!(
                    "params = \"generic\" needs PostgreSQL 16+ for EXPLAIN (GENERIC_PLAN); this server is {}",
                    self.server.version
                )
            } else {
                format!(
                    "{reason}; give values with `-- planguard: params = [...]`, or use PostgreSQL 16+ where the generic plan needs none (this server is {})",
                    self.server.version
                )
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(common: &[&str], histogram: &[&str]) -> ColumnStats {
        ColumnStats {
            name: "public.t.c".to_owned(),
            common: common.iter().map(|s| s.to_string()).collect(),
            frequencies: common.iter().map(|_| 0.25).collect(),
            histogram: histogram.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn each_comparison_gets_a_representative_value() {
        let bounds: Vec<String> = (0..=100).map(|n| n.to_string()).collect();
        let bounds: Vec<&str> = bounds.iter().map(String::as_str).collect();
        let s = stats(&["done", "pending", "50%_x"], &bounds);
        let value = |c| pick(&s, c).unwrap().0;
        assert_eq!(value(Comparison::Equal), "done");
        assert_eq!(value(Comparison::InList(1)), "pending");
        assert_eq!(value(Comparison::InList(4)), "pending");
        assert_eq!(value(Comparison::AnyArray), "{done,pending,50%_x}");
        // Ranges keep about a tenth of the rows.
        assert_eq!(value(Comparison::Above), "90");
        assert_eq!(value(Comparison::Below), "10");
        assert_eq!(value(Comparison::BetweenLow), "45");
        assert_eq!(value(Comparison::BetweenHigh), "55");
        assert_eq!(value(Comparison::Like), "don%");
        let origin = pick(&s, Comparison::Equal).unwrap().1;
        assert_eq!(
            origin,
            "public.t.c: the most common value (pg_stats, 25.0% of rows)"
        );
        assert!(
            pick(&s, Comparison::Above)
                .unwrap()
                .1
                .contains("histogram bound at 90%")
        );
        // LIKE escapes the pattern characters of the value it starts from.
        let s = stats(&["5%_off"], &[]);
        assert_eq!(pick(&s, Comparison::Like).unwrap().0, "5\\%\\_%");
    }

    #[test]
    fn missing_statistics_fall_back_or_say_why() {
        // A unique column: no common values, a histogram.
        let s = stats(&[], &["a", "b", "c", "d", "e"]);
        assert_eq!(pick(&s, Comparison::Equal).unwrap().0, "c");
        assert_eq!(pick(&s, Comparison::AnyArray).unwrap().0, "{c}");
        // All values common: no histogram, ranges take a common value.
        let s = stats(&["x", "y"], &[]);
        assert_eq!(pick(&s, Comparison::Above).unwrap().0, "x");
        let s = stats(&[], &[]);
        assert_eq!(
            pick(&s, Comparison::Equal).unwrap_err().to_string(),
            "no statistics for public.t.c (run ANALYZE on its table)"
        );
    }
}
