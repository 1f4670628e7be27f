//! One set of suggestions for the whole query set: without the planner,
//! wider candidates take narrower ones' scans over; with it, the
//! workload's set ([`super::select`]) and what each chosen index serves.

use super::*;

/// What the selection says of a chosen index.
#[derive(Debug, Clone, Copy)]
pub(super) struct Chosen {
    /// Calls-weighted planner cost the workload loses without it.
    pub(super) saving: f64,
    pub(super) size: u64,
}

/// A candidate with the scans it serves, and what the selection said.
pub(super) type Kept = (Candidate, Vec<Served>, Option<Chosen>);

/// Without the planner: a wider index on the same relation whose leading
/// columns are a narrower candidate's (or the same columns in another
/// order among the equalities both lead with) takes that candidate's
/// scans over.
pub(super) fn merge(mut verified: Vec<(Candidate, Vec<Served>)>) -> Vec<Kept> {
    verified.sort_by_key(|(c, _)| std::cmp::Reverse(c.columns.len()));
    let mut kept: Vec<Kept> = Vec::new();
    'next: for (narrow, served) in verified {
        for (wide, wide_served, _) in kept.iter_mut() {
            let prefix = leads(&narrow.columns, &wide.columns) || reorders(&narrow, wide);
            if wide.schema == narrow.schema && wide.table == narrow.table && prefix {
                wide_served.extend(served);
                continue 'next;
            }
        }
        kept.push((narrow, served, None));
    }
    kept
}

/// With the planner: the whole workload's set ([`select::select`]). Each
/// chosen index serves the scans, on its table, of the queries whose plan
/// with the whole set uses it; a verified candidate's scans that no chosen
/// index serves say why.
pub(super) async fn choose(
    planner: &mut select::Planner<'_>,
    inputs: &[Input<'_>],
    options: &Options,
    verified: Vec<(Candidate, Vec<Served>)>,
    unadvised: &mut Vec<Unadvised>,
    advice: &mut Advice,
) -> Result<Vec<Kept>, AdvisorError> {
    let started = std::time::Instant::now();
    let pool: Vec<usize> = verified.iter().filter_map(|(c, _)| c.id).collect();
    let calls: Vec<f64> = inputs
        .iter()
        .map(|i| i.calls.unwrap_or(1).max(1) as f64)
        .collect();
    let selection = select::select(planner, &pool, &calls, options.min_cost_drop).await?;
    let set: Vec<usize> = selection.chosen.iter().map(|(id, _)| *id).collect();
    // Every target of every candidate, by query and scan.
    let mut targets: BTreeMap<(usize, String), (Target, String)> = BTreeMap::new();
    for (candidate, _) in &verified {
        for (i, t, scanned) in &candidate.served {
            targets
                .entry((*i, t.path.clone()))
                .or_insert_with(|| (t.clone(), scanned.clone()));
        }
    }
    // The scans some candidate was verified for on its own.
    let accepted: BTreeSet<(&str, &str)> = verified
        .iter()
        .flat_map(|(_, served)| served)
        .map(|s| (s.query_id.as_str(), s.path.as_str()))
        .collect();
    let accepted: BTreeSet<(usize, String)> = targets
        .keys()
        .filter(|(i, path)| accepted.contains(&(inputs[*i].job.id.as_str(), path.as_str())))
        .cloned()
        .collect();
    let mut served_paths: BTreeSet<(usize, String)> = BTreeSet::new();
    let mut by_id: BTreeMap<usize, Candidate> = verified
        .into_iter()
        .filter_map(|(c, _)| Some((c.id?, c)))
        .collect();
    let mut kept = Vec::new();
    for (id, saving) in &selection.chosen {
        let Some(candidate) = by_id.remove(id) else {
            continue;
        };
        let relations: BTreeSet<&str> = candidate
            .served
            .iter()
            .map(|(_, t, _)| t.relation.as_str())
            .collect();
        let mut served = Vec::new();
        for q in planner.readers(*id) {
            let (Some(before), Some(after)) =
                (planner.plan(q, &[]).await?, planner.plan(q, &set).await?)
            else {
                continue;
            };
            // Credited only where it cuts the cost as much as one index
            // alone must.
            if !after.uses.contains(id) || after.cost > before.cost * (1.0 - options.min_cost_drop)
            {
                continue;
            }
            for ((_, path), (t, _)) in targets.range((q, String::new())..(q + 1, String::new())) {
                if relations.contains(t.relation.as_str()) {
                    let mut s = served_entry(inputs, q, t, Some(before.cost), Some(after.cost));
                    s.plan_after = Some(after.outline.clone());
                    served.push(s);
                    served_paths.insert((q, path.clone()));
                }
            }
        }
        if served.is_empty() {
            continue;
        }
        let size = planner.size(*id).unwrap_or(0).max(0) as u64;
        kept.push((
            candidate,
            served,
            Some(Chosen {
                saving: *saving,
                size,
            }),
        ));
    }
    // Verified alone, but not in the set: the set serves the query
    // otherwise, or this index saved too little with the others in place.
    for ((i, path), (t, _)) in &targets {
        let key = (*i, path.clone());
        if served_paths.contains(&key) || !accepted.contains(&key) {
            continue;
        }
        let detail = match planner.plan(*i, &set).await? {
            Some(with_set) => format!(
                "not in the workload's index set: with the {} chosen, its plan is {} (cost {:.1}), and no other index cuts that by min_cost_drop",
                set.len(),
                with_set.outline,
                with_set.cost
            ),
            None => "not in the workload's index set".to_owned(),
        };
        unadvised.push(Unadvised::new(inputs, *i, t, NoIndex::NotSelected, detail));
    }
    let total: u64 = kept.iter().filter_map(|(_, _, c)| c.map(|c| c.size)).sum();
    advice.total_size_bytes = Some(total);
    let stats = planner.stats;
    advice.verbose.push(format!(
        "index set: {} of {} candidates in {} rounds ({} dropped as redundant in the set), {} in all; {} plans, {} from the cache, {} hypothetical indexes created, {:.1} s",
        kept.len(),
        pool.len(),
        stats.rounds,
        selection.pruned.len(),
        human_bytes(total),
        stats.plans,
        stats.cached,
        stats.created,
        started.elapsed().as_secs_f64()
    ));
    Ok(kept)
}

/// How many of the candidate's first columns are equalities in every scan
/// it serves.
pub(super) fn served_equalities(candidate: &Candidate) -> usize {
    candidate
        .served
        .iter()
        .map(|(_, t, _)| equality_prefix(&candidate.columns, &t.uses))
        .min()
        .unwrap_or(0)
}

/// `a` and `b` have the same columns, and differ only in the order of
/// leading columns that are equalities in every scan either serves (the
/// order among equalities does not change what a btree serves).
pub(super) fn reorders(a: &Candidate, b: &Candidate) -> bool {
    if a.columns.len() != b.columns.len() {
        return false;
    }
    let Some(last) = (0..a.columns.len())
        .rev()
        .find(|&k| a.columns[k] != b.columns[k])
    else {
        return false;
    };
    if last >= served_equalities(a).min(served_equalities(b)) {
        return false;
    }
    let sorted = |columns: &[IndexColumn]| {
        let mut names: Vec<String> = columns.iter().map(column_text).collect();
        names.sort_unstable();
        names
    };
    sorted(&a.columns[..=last]) == sorted(&b.columns[..=last])
}

/// Smaller candidates beside the verified ones, registered with the
/// planner (those it already has are left out).
pub(super) async fn variants(
    planner: &mut select::Planner<'_>,
    client: &Client,
    catalog: &mut catalog::Cache,
    verified: &[(Candidate, Vec<Served>)],
) -> Result<Vec<(Candidate, Vec<Served>)>, AdvisorError> {
    // A smaller index may save nearly as much per byte: a candidate's
    // leading equalities alone, or the range (or LIKE prefix) after
    // them alone (more selective than equalities that keep a fifth of
    // the rows); the selection weighs them all.
    let mut variants = Vec::new();
    // And the partial index for a rare value (or a rare boolean flag),
    // which serves the queries with that value at a fraction of the size:
    // one for each value (or form of a flag's test) among its scans.
    let shapes: Vec<(usize, Vec<IndexColumn>, Option<Predicate>)> = verified
        .iter()
        .enumerate()
        .flat_map(|(k, (c, _))| {
            let equalities = served_equalities(c);
            let mut out = Vec::new();
            for partial in &c.partials {
                out.push((k, partial.columns.clone(), Some(partial.predicate.clone())));
            }
            if equalities > 0 && equalities < c.columns.len() {
                out.push((k, c.columns[..equalities].to_vec(), None));
                let next = &c.columns[equalities];
                let range = c.served.iter().any(|(_, t, _)| {
                    t.uses.iter().any(|u| {
                        u.column == next.column
                            && matches!(u.kind, UseKind::Range | UseKind::LikePrefix(_))
                    })
                });
                if range {
                    out.push((k, vec![next.clone()], None));
                }
            }
            out
        })
        .collect();
    for (k, columns, predicate) in shapes {
        let c = &verified[k].0;
        let relation = catalog.get(client, Some(&c.schema), &c.table).await?;
        // A partial index replaces no full one.
        let widens = c.widens.clone().filter(|w| {
            predicate.is_none()
                && relation.is_some_and(|r| {
                    r.indexes
                        .iter()
                        .any(|index| index.name == w.name && extends(&columns, index))
                })
        });
        let mut variant = Candidate {
            schema: c.schema.clone(),
            table: c.table.clone(),
            columns,
            partitioned: c.partitioned,
            widens,
            predicate,
            partial: None,
            partials: Vec::new(),
            served: c.served.clone(),
            id: None,
        };
        let id = register(planner, client, catalog, &variant).await?;
        let known = verified.iter().any(|(c, _)| c.id == Some(id))
            || variants
                .iter()
                .any(|(c, _): &(Candidate, Vec<Served>)| c.id == Some(id));
        if !known {
            variant.id = Some(id);
            variants.push((variant, Vec::new()));
        }
    }
    Ok(variants)
}
