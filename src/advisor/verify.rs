//! Verification with HypoPG: whether it can verify, each candidate planned
//! with its hypothetical index through the [`super::select::Planner`], the
//! partial alternative, and what a plan uses.

use super::*;

/// Whether HypoPG can verify, creating the extension when asked: None when
/// it can, else why not.
pub(super) async fn hypopg_ready(
    client: &Client,
    mode: HypoPg,
    notes: &mut Vec<String>,
) -> Result<Option<String>, AdvisorError> {
    if mode == HypoPg::Off {
        return Ok(Some("verification is off (--hypopg off)".to_owned()));
    }
    if hypo::available(client).await? {
        return Ok(hypo::unreachable_schema(client).await?.map(|schema| {
            let schema = crate::sql::quote_ident(&schema);
            format!(
                "the hypopg extension is installed in schema {schema}, which this session's search_path does not include: add it to the role's search_path (ALTER ROLE ... SET search_path), or move the extension (ALTER EXTENSION hypopg SET SCHEMA public), to have the planner verify suggestions"
            )
        }));
    }
    if mode == HypoPg::Create {
        return match client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS hypopg")
            .await
        {
            Ok(()) => {
                let database: String = client
                    .query_one("SELECT current_database()", &[])
                    .await?
                    .try_get(0)?;
                notes.push(format!(
                    "created the hypopg extension in database {database} (--hypopg create)"
                ));
                Ok(None)
            }
            Err(e) => Ok(Some(format!(
                "CREATE EXTENSION hypopg failed ({}): install the server package (Debian: postgresql-NN-hypopg) as an administrator",
                crate::conn::describe_query_error(&e)
            ))),
        };
    }
    Ok(Some(
        "the hypopg extension is not installed in this database: install its package (Debian: postgresql-NN-hypopg) and run CREATE EXTENSION hypopg, or pass --hypopg create, to have the planner verify suggestions"
            .to_owned(),
    ))
}

/// A query the hypothetical index did not serve, and why.
pub(super) type Rejected = (usize, NoIndex, String);

/// Plans every query the candidate serves with the hypothetical index (on
/// each scanned partition for a partitioned table) and keeps the scans of
/// the queries where the planner uses it and the cost drops enough; the
/// other queries with the reason.
pub(super) async fn verify_candidate(
    planner: &mut select::Planner<'_>,
    inputs: &[Input<'_>],
    options: &Options,
    candidate: &Candidate,
) -> Result<(Vec<Served>, Vec<Rejected>), AdvisorError> {
    let id = candidate.id.expect("a verified candidate is registered");
    let queries: BTreeSet<usize> = candidate.served.iter().map(|(i, _, _)| *i).collect();
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    let index = format!(
        "{}.{} ({})",
        candidate::quote(&candidate.schema),
        candidate::quote(&candidate.table),
        column_list(&candidate.columns)
    );
    for i in queries {
        let Some(before) = planner.plan(i, &[]).await? else {
            rejected.push((
                i,
                NoIndex::NotReplanned,
                "planning it again failed".to_owned(),
            ));
            continue;
        };
        let Some(after) = planner.plan(i, &[id]).await? else {
            rejected.push((
                i,
                NoIndex::NotReplanned,
                format!("planning it again with {index} failed"),
            ));
            continue;
        };
        let (before, cost_after) = (before.cost, after.cost);
        if !after.uses.contains(&id) {
            rejected.push((
                i,
                NoIndex::PlannerIgnored,
                format!("with {index} the plan is {}", after.outline),
            ));
        } else if cost_after > before * (1.0 - options.min_cost_drop) {
            rejected.push((
                i,
                NoIndex::SmallCostDrop,
                format!(
                    "{index}: planner cost {before:.1} -> {cost_after:.1}, less than the {:.0}% drop min_cost_drop asks",
                    options.min_cost_drop * 100.0
                ),
            ));
        } else {
            for (_, t, _) in candidate.served.iter().filter(|(j, _, _)| *j == i) {
                let mut served = served_entry(inputs, i, t, Some(before), Some(cost_after));
                served.plan_after = Some(after.outline.clone());
                out.push(served);
            }
        }
    }
    Ok((out, rejected))
}

/// Registers a candidate with the planner: one hypothetical index per
/// relation its scans read, with what the selection weighs it by: the
/// rows per distinct key (btree deduplication stores a repeated key once)
/// and the planner's cost of reading the whole table.
pub(super) async fn register(
    planner: &mut select::Planner<'_>,
    client: &Client,
    catalog: &mut catalog::Cache,
    candidate: &Candidate,
) -> Result<usize, AdvisorError> {
    let scanned: BTreeSet<&str> = candidate
        .served
        .iter()
        .map(|(_, _, scanned)| scanned.as_str())
        .collect();
    let predicate = candidate
        .predicate
        .as_ref()
        .map_or(String::new(), |p| format!(" WHERE {}", p.sql));
    let creates = scanned
        .iter()
        .map(|relation| {
            format!(
                "CREATE INDEX ON {relation} ({}){predicate}",
                column_list(&candidate.columns)
            )
        })
        .collect();
    let relations = candidate
        .served
        .iter()
        .map(|(_, t, _)| t.relation.clone())
        .collect();
    let table = format!(
        "{}.{}",
        candidate::quote(&candidate.schema),
        candidate::quote(&candidate.table)
    );
    let relation = catalog
        .get(client, Some(&candidate.schema), &candidate.table)
        .await?;
    // A partial index holds only the rows its WHERE keeps.
    let share = candidate.predicate.as_ref().map_or(1.0, |p| p.share);
    // A table never analyzed (reltuples -1, or 0 before PostgreSQL 14)
    // has the rows the planner sees in its pages.
    let reltuples = relation.map_or(-1.0, |r| r.reltuples);
    let rows = if reltuples > 0.0 {
        reltuples
    } else {
        planner.table_rows(&table).await?
    } * share;
    let columns: Vec<Option<&catalog::Column>> = candidate
        .columns
        .iter()
        .map(|c| relation.and_then(|r| r.column(&c.column)))
        .collect();
    // Distinct keys: the product of the columns' distinct values, at most
    // one a row.
    let keys = columns
        .iter()
        .map(|c| {
            c.and_then(|c| c.stats.as_ref())
                .map_or(rows, |s| s.n_distinct.max(1.0))
        })
        .product::<f64>()
        .min(rows)
        .max(1.0);
    // The key's bytes, each column aligned as its type is.
    let key_width = columns.iter().try_fold(0.0, |offset: f64, c| {
        let c = (*c)?;
        let align = f64::from(c.align);
        Some((offset / align).ceil() * align + c.width?)
    });
    let shape = select::Shape {
        rows,
        duplicates: rows / keys,
        key_width,
        dedup: columns.iter().all(|c| c.is_some_and(|c| c.dedup)),
    };
    let read_all = planner.read_all(&table).await?;
    Ok(planner.register(creates, relations, shape, read_all))
}

/// The plan's spine: each node with its relation and index, down the first
/// children (`Limit -> Index Scan using <13725>btree_t_customer_id on t`).
pub(super) fn outline(root: &Node) -> String {
    let mut parts = Vec::new();
    let mut node = Some(root);
    while let Some(n) = node {
        let mut part = n.node_type.name().to_owned();
        if let Some(index) = &n.index_name {
            part.push_str(&format!(" using {index}"));
        }
        if let Some(relation) = &n.relation_name {
            part.push_str(&format!(" on {relation}"));
        }
        parts.push(part);
        node = n.plans.first();
    }
    parts.join(" -> ")
}

/// Plans each served query with the partial index instead; its worst cost
/// when the planner uses it for every one and the cost drops enough, else
/// None.
pub(super) async fn verify_partial(
    runner: &Runner,
    client: &Client,
    inputs: &[Input<'_>],
    options: &Options,
    candidate: &Candidate,
    served: &[Served],
    ddl: &str,
) -> Result<Option<f64>, AdvisorError> {
    let plain = ddl.replacen(" CONCURRENTLY", "", 1);
    let mut worst: Option<f64> = None;
    for s in served {
        let Some(before) = s.cost_before else {
            return Ok(None);
        };
        let Some((i, _, _)) = candidate
            .served
            .iter()
            .find(|(i, t, _)| inputs[*i].job.id == s.query_id && t.path == s.path)
        else {
            return Ok(None);
        };
        let name = hypo::create(client, &plain).await?;
        let after = runner.plan_only(inputs[*i].job, client).await;
        hypo::reset(client).await?;
        let Ok(after) = after else {
            return Ok(None);
        };
        let cost = after.root.total_cost.unwrap_or(f64::INFINITY);
        if !uses_any(&after.root, &[name]) || cost > before * (1.0 - options.min_cost_drop) {
            return Ok(None);
        }
        worst = Some(worst.map_or(cost, |w: f64| w.max(cost)));
    }
    Ok(worst)
}

/// A node of the plan uses one of these indexes.
pub(super) fn uses_any(node: &Node, names: &[String]) -> bool {
    node.index_name
        .as_ref()
        .is_some_and(|n| names.iter().any(|x| x == n))
        || node.plans.iter().any(|c| uses_any(c, names))
}
