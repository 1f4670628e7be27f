//! The whole workload's index set, chosen with HypoPG in one run.
//!
//! Every candidate is registered with a [`Planner`], which plans a query
//! with any set of hypothetical indexes and remembers the answer: a query's
//! plan depends only on the indexes of the tables it reads, so a plan is
//! cached under the query and those indexes, and a query is planned again
//! only when an index on a table it reads joins or leaves the set.
//!
//! [`select`] is greedy: each round tries every remaining candidate with
//! the indexes chosen so far, re-planning only the queries that read its
//! table, and takes the one that saves the most planner cost (weighted by
//! calls) per byte of index (`hypopg_relation_size`), among those that cut
//! some query's cost by at least `min_cost_drop`, that the planner uses,
//! and that save at least `min_cost_drop` of a whole read of their table
//! ([`Planner::floor`]). It stops when no candidate does. Sizes are
//! HypoPG's less what btree deduplication saves on repeated keys
//! (`deduplicated`), from the columns' distinct values in `pg_stats`.
//! Then every chosen index whose removal raises no query's cost (by more
//! than [`NO_RISE`]) is dropped: a wider one chosen later serves its
//! queries.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tokio_postgres::Client;

use super::{AdvisorError, Input, hypo};
use crate::plan::Node;
use crate::runner::Runner;

/// A cost at most this fraction above another counts as the same (the
/// planner's costs of two equally good indexes differ in the last digits).
pub const NO_RISE: f64 = 0.01;

/// One hypothetical index: its `CREATE INDEX` statements (one per scanned
/// relation: a partitioned table's index goes on each partition read) and
/// the relations it is on, as plans name them.
struct Hypo {
    creates: Vec<String>,
    relations: BTreeSet<String>,
    /// The table's rows, and rows per distinct key.
    rows: f64,
    duplicates: f64,
    /// The planner's cost of reading the whole table.
    read_all: f64,
    size: Option<i64>,
    /// The queries that read one of `relations`.
    readers: Vec<usize>,
}

/// A query planned with a set of hypothetical indexes.
#[derive(Debug, Clone)]
pub struct Planned {
    pub cost: f64,
    /// The registered indexes the plan uses.
    pub uses: BTreeSet<usize>,
    /// The plan's spine (one node a step down the first children).
    pub outline: String,
}

/// Counts for `-v` and docs/PERFORMANCE.md.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// EXPLAINs sent to the server.
    pub plans: usize,
    /// Plans answered from the cache.
    pub cached: usize,
    /// Rounds of the greedy selection.
    pub rounds: usize,
    /// Hypothetical indexes created.
    pub created: usize,
}

/// Plans queries with sets of hypothetical indexes, once per query and set
/// of indexes on the tables it reads.
pub struct Planner<'a> {
    runner: &'a Runner,
    client: &'a Client,
    inputs: &'a [Input<'a>],
    indexes: Vec<Hypo>,
    /// The hypothetical indexes that exist in the session now, by id: their
    /// oids and the names plans show.
    live: BTreeMap<usize, Vec<(i64, String)>>,
    /// The relations each query's plan reads, by plan name.
    reads: Vec<BTreeSet<String>>,
    cache: HashMap<(usize, Vec<usize>), Option<Planned>>,
    /// [`Planner::read_all`] by table.
    tables: HashMap<String, f64>,
    pub stats: Stats,
}

/// HypoPG's size of a btree index less what deduplication (PostgreSQL 13+)
/// saves: a key repeated over `duplicates` rows is stored once, followed
/// by a 6-byte heap pointer per row.
fn deduplicated(size: i64, index: &Hypo) -> i64 {
    if index.duplicates <= 1.0 || index.rows <= 0.0 || size <= 0 {
        return size;
    }
    let per_row = size as f64 / index.rows;
    let factor = ((6.0 + per_row / index.duplicates) / per_row).min(1.0);
    (size as f64 * factor) as i64
}

impl<'a> Planner<'a> {
    pub fn new(runner: &'a Runner, client: &'a Client, inputs: &'a [Input<'a>]) -> Self {
        let reads = inputs
            .iter()
            .map(|input| {
                let mut names = BTreeSet::new();
                input.plan.root.walk(&mut |_, node: &Node| {
                    if let Some(name) = &node.relation_name {
                        names.insert(name.clone());
                    }
                });
                names
            })
            .collect();
        Planner {
            runner,
            client,
            inputs,
            indexes: Vec::new(),
            live: BTreeMap::new(),
            reads,
            cache: HashMap::new(),
            tables: HashMap::new(),
            stats: Stats::default(),
        }
    }

    /// Registers an index (`creates`: a plain `CREATE INDEX ON rel (...)`
    /// per relation, `relations`: the plan names of those relations) and
    /// returns its id; the same statements give the same id.
    /// `rows`: the table's; `duplicates`: rows per distinct key;
    /// `read_all`: the planner's cost of reading the whole table.
    pub fn register(
        &mut self,
        creates: Vec<String>,
        relations: BTreeSet<String>,
        rows: f64,
        duplicates: f64,
        read_all: f64,
    ) -> usize {
        if let Some(id) = self.indexes.iter().position(|h| h.creates == creates) {
            return id;
        }
        let readers = (0..self.inputs.len())
            .filter(|&i| !self.reads[i].is_disjoint(&relations))
            .collect();
        self.indexes.push(Hypo {
            creates,
            relations,
            rows,
            duplicates,
            read_all,
            size: None,
            readers,
        });
        self.indexes.len() - 1
    }

    /// The estimated size of a registered index in bytes, once it has been
    /// created.
    pub fn size(&self, id: usize) -> Option<i64> {
        self.indexes[id].size
    }

    /// The queries whose plans read a table of index `id`.
    pub fn readers(&self, id: usize) -> Vec<usize> {
        self.indexes[id].readers.clone()
    }

    /// Query `i` planned with the indexes `set` (only those on tables it
    /// reads matter); None when it cannot be planned again.
    pub async fn plan(&mut self, i: usize, set: &[usize]) -> Result<Option<Planned>, AdvisorError> {
        let mut relevant: Vec<usize> = set
            .iter()
            .copied()
            .filter(|&id| !self.indexes[id].relations.is_disjoint(&self.reads[i]))
            .collect();
        relevant.sort_unstable();
        relevant.dedup();
        let key = (i, relevant);
        if let Some(found) = self.cache.get(&key) {
            self.stats.cached += 1;
            return Ok(found.clone());
        }
        // Indexes on the tables this query reads: exactly `relevant`.
        let stale: Vec<usize> = self
            .live
            .keys()
            .copied()
            .filter(|id| {
                !key.1.contains(id) && !self.indexes[*id].relations.is_disjoint(&self.reads[i])
            })
            .collect();
        for id in stale {
            for (oid, _) in self.live.remove(&id).unwrap_or_default() {
                hypo::drop(self.client, oid).await?;
            }
        }
        for &id in &key.1 {
            if self.live.contains_key(&id) {
                continue;
            }
            let mut made = Vec::new();
            let mut size = 0;
            for create in self.indexes[id].creates.clone() {
                let (oid, name, bytes) = hypo::create_sized(self.client, &create).await?;
                self.stats.created += 1;
                size += bytes;
                made.push((oid, name));
            }
            self.indexes[id].size = Some(deduplicated(size, &self.indexes[id]));
            self.live.insert(id, made);
        }
        self.stats.plans += 1;
        let planned = match self.runner.plan_only(self.inputs[i].job, self.client).await {
            Ok(plan) => plan.root.total_cost.map(|cost| {
                let uses = self
                    .live
                    .iter()
                    .filter(|(_, made)| {
                        let names: Vec<String> = made.iter().map(|(_, n)| n.clone()).collect();
                        super::uses_any(&plan.root, &names)
                    })
                    .map(|(id, _)| *id)
                    .collect();
                Planned {
                    cost,
                    uses,
                    outline: super::outline(&plan.root),
                }
            }),
            Err(_) => None,
        };
        self.cache.insert(key, planned.clone());
        Ok(planned)
    }

    /// Creates `id` alone if it was never created, for its size.
    pub async fn measure(&mut self, id: usize) -> Result<i64, AdvisorError> {
        if let Some(size) = self.indexes[id].size {
            return Ok(size);
        }
        let mut size = 0;
        for create in self.indexes[id].creates.clone() {
            let (oid, _, bytes) = hypo::create_sized(self.client, &create).await?;
            self.stats.created += 1;
            size += bytes;
            hypo::drop(self.client, oid).await?;
        }
        let size = deduplicated(size, &self.indexes[id]);
        self.indexes[id].size = Some(size);
        Ok(size)
    }

    /// The planner's cost of reading a whole table (`schema.name`, quoted):
    /// `EXPLAIN SELECT * FROM` it, once per table.
    pub async fn read_all(&mut self, table: &str) -> Result<f64, AdvisorError> {
        if let Some(cost) = self.tables.get(table) {
            return Ok(*cost);
        }
        let row = self
            .client
            .query_one(&format!("EXPLAIN (FORMAT JSON) SELECT * FROM {table}"), &[])
            .await?;
        let json: serde_json::Value = row.try_get(0)?;
        let cost = json[0]["Plan"]["Total Cost"].as_f64().unwrap_or(0.0);
        self.tables.insert(table.to_owned(), cost);
        Ok(cost)
    }

    /// The cost an index must save (calls-weighted) to be chosen:
    /// `min_cost_drop` of a whole read of its table per run of the
    /// workload; less is not worth an index's upkeep.
    pub fn floor(&self, id: usize, min_cost_drop: f64) -> f64 {
        self.indexes[id].read_all * min_cost_drop
    }

    /// Removes every hypothetical index from the session (the cache stays).
    pub async fn reset(&mut self) -> Result<(), AdvisorError> {
        if !self.live.is_empty() {
            hypo::reset(self.client).await?;
            self.live.clear();
        }
        Ok(())
    }
}

/// The chosen set: ids in the order chosen, before pruning.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The indexes kept, each with the calls-weighted planner cost the
    /// workload would lose without it (the rest of the set kept).
    pub chosen: Vec<(usize, f64)>,
    /// Indexes chosen, then dropped because the rest of the set serves
    /// their queries as well.
    pub pruned: Vec<usize>,
}

/// Chooses the set among `pool` (registered ids). `calls[i]`: query `i`'s
/// weight.
pub async fn select(
    planner: &mut Planner<'_>,
    pool: &[usize],
    calls: &[f64],
    min_cost_drop: f64,
) -> Result<Selection, AdvisorError> {
    let mut chosen: Vec<usize> = Vec::new();
    loop {
        planner.stats.rounds += 1;
        let mut best: Option<(f64, usize)> = None;
        for &id in pool.iter().filter(|id| !chosen.contains(id)) {
            let mut with = chosen.clone();
            with.push(id);
            let (mut gain, mut enough) = (0.0, false);
            for q in planner.readers(id) {
                let (Some(now), Some(next)) = (
                    planner.plan(q, &chosen).await?,
                    planner.plan(q, &with).await?,
                ) else {
                    continue;
                };
                if next.uses.contains(&id) && next.cost < now.cost {
                    gain += calls[q] * (now.cost - next.cost);
                    enough |= next.cost <= now.cost * (1.0 - min_cost_drop);
                }
            }
            if !enough || gain < planner.floor(id, min_cost_drop) {
                continue;
            }
            let size = planner.measure(id).await?.max(8192) as f64;
            let score = gain / size;
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, id));
            }
        }
        match best {
            Some((_, id)) => chosen.push(id),
            None => break,
        }
    }
    // Drop what the rest of the set makes redundant, first chosen first.
    let mut pruned = Vec::new();
    'again: loop {
        for k in 0..chosen.len() {
            let id = chosen[k];
            let without: Vec<usize> = chosen.iter().copied().filter(|&x| x != id).collect();
            let mut rises = false;
            for q in planner.readers(id) {
                let all = planner.plan(q, &chosen).await?;
                let less = planner.plan(q, &without).await?;
                rises |= match (all, less) {
                    (Some(all), Some(less)) => less.cost > all.cost * (1.0 + NO_RISE),
                    (Some(_), None) => true,
                    _ => false,
                };
                if rises {
                    break;
                }
            }
            if !rises {
                pruned.push(id);
                chosen.remove(k);
                continue 'again;
            }
        }
        break;
    }
    let mut out = Vec::new();
    for &id in &chosen {
        let without: Vec<usize> = chosen.iter().copied().filter(|&x| x != id).collect();
        let mut saving = 0.0;
        for q in planner.readers(id) {
            if let (Some(all), Some(less)) = (
                planner.plan(q, &chosen).await?,
                planner.plan(q, &without).await?,
            ) {
                saving += calls[q] * (less.cost - all.cost).max(0.0);
            }
        }
        out.push((id, saving));
    }
    Ok(Selection {
        chosen: out,
        pruned,
    })
}
