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
//! calls) per byte of index, among those that cut some query's cost by at
//! least `min_cost_drop`, that the planner uses, and that save at least
//! `min_cost_drop` of a whole read of their table ([`Planner::floor`]). It
//! stops when no candidate does. Sizes are [`btree_size`]'s, from the key
//! columns' widths and distinct values in `pg_stats` (HypoPG's
//! `hypopg_relation_size` counts a tuple header and a line pointer per key
//! column, about twice the real size of a two-column index), else
//! HypoPG's less what deduplication saves ([`deduplicated`]).
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

/// What a btree index's size follows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// The rows it holds (the table's, or those a partial index keeps).
    pub rows: f64,
    /// Rows per distinct key.
    pub duplicates: f64,
    /// The key's bytes in an index tuple, aligned column by column; None
    /// when a column's width is unknown (no statistics).
    pub key_width: Option<f64>,
    /// Repeated keys are deduplicated (PostgreSQL 13+, every column's
    /// type allows it).
    pub dedup: bool,
}

/// One hypothetical index: its `CREATE INDEX` statements (one per scanned
/// relation: a partitioned table's index goes on each partition read) and
/// the relations it is on, as plans name them.
struct Hypo {
    creates: Vec<String>,
    relations: BTreeSet<String>,
    shape: Shape,
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
    /// [`Planner::read_all`] and [`Planner::table_rows`] by table.
    tables: HashMap<String, (f64, f64)>,
    pub stats: Stats,
}

/// HypoPG's size of a btree index less what deduplication (PostgreSQL 13+)
/// saves: a key repeated over `duplicates` rows is stored once, followed
/// by a 6-byte heap pointer per row.
fn deduplicated(size: i64, shape: &Shape) -> i64 {
    if !shape.dedup || shape.duplicates <= 1.0 || shape.rows <= 0.0 || size <= 0 {
        return size;
    }
    let per_row = size as f64 / shape.rows;
    let factor = ((6.0 + per_row / shape.duplicates) / per_row).min(1.0);
    (size as f64 * factor) as i64
}

/// The size of an index: [`btree_size`] when the key's width is known,
/// else HypoPG's estimate `hypopg` less deduplication.
fn estimated(hypopg: i64, shape: &Shape) -> i64 {
    match shape.key_width {
        Some(width) => btree_size(shape.rows, width, shape.dedup, shape.duplicates),
        None => deduplicated(hypopg, shape),
    }
}

const BLOCK: f64 = 8192.0;
/// A page's room for tuples: less the page header (24 bytes) and btree's
/// special space (16).
const USABLE: f64 = BLOCK - 24.0 - 16.0;
/// The largest tuple (a posting list's) a leaf page takes: a third of a
/// page (`BTMaxItemSize`).
const MAX_ITEM: f64 = 2704.0;

fn maxalign(bytes: f64) -> f64 {
    (bytes / 8.0).ceil() * 8.0
}

/// The size in bytes of a btree index as `CREATE INDEX` builds it:
/// `rows` tuples of an 8-byte header and a `key_width`-byte key, aligned to
/// 8 bytes, each with a 4-byte line pointer, on leaf pages filled to 90%
/// (the default fillfactor); with deduplication, a key repeated over
/// `duplicates` rows is one posting-list tuple of the key and a 6-byte heap
/// pointer per row (at most a third of a page each); internal pages above,
/// filled to 70%, one downlink per page below; and the metapage.
///
/// Pages hold whole tuples: a page takes tuples while the room left is at
/// least the fillfactor's reserve, and its last one moves to the next page
/// (a copy stays as the page's high key); an internal page starts with a
/// key-less "minus infinity" downlink. With large keys (a few to a page)
/// that is what decides the size.
pub fn btree_size(rows: f64, key_width: f64, dedup: bool, duplicates: f64) -> i64 {
    let tuple = maxalign(8.0 + key_width) + 4.0;
    let leaves = if dedup && duplicates >= 2.0 {
        let most = ((MAX_ITEM - maxalign(8.0 + key_width)) / 6.0)
            .floor()
            .max(1.0);
        let group = duplicates.min(most);
        let per_row = (maxalign(8.0 + key_width + 6.0 * group) + 4.0) / group;
        rows.max(0.0) * per_row / (USABLE * 0.9)
    } else {
        rows.max(0.0) / (taken(USABLE, tuple, BLOCK * 0.1) - 1.0).max(1.0)
    }
    .ceil()
    .max(1.0);
    // The minus-infinity item: a bare 8-byte header and its line pointer.
    let fanout = taken(USABLE - 12.0, tuple, BLOCK * 0.3).max(2.0);
    let mut pages = leaves;
    let mut level = leaves;
    while level > 1.0 {
        level = (level / fanout).ceil();
        pages += level;
    }
    ((pages + 1.0) * BLOCK) as i64
}

/// How many `tuple`-byte tuples `CREATE INDEX` puts on a page with `room`
/// bytes: the next one goes on while it fits and the room left is at
/// least `reserve` (the fillfactor's free space), the first always.
fn taken(room: f64, tuple: f64, reserve: f64) -> f64 {
    if tuple <= 0.0 || room < tuple {
        return 1.0;
    }
    // The k-th tuple goes on while room - (k - 1) * tuple >= max(tuple, reserve).
    let least = tuple.max(reserve);
    if room < least {
        1.0
    } else {
        ((room - least) / tuple).floor() + 1.0
    }
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
    /// `shape`: what its size follows; `read_all`: the planner's cost of
    /// reading the whole table.
    pub fn register(
        &mut self,
        creates: Vec<String>,
        relations: BTreeSet<String>,
        shape: Shape,
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
            shape,
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
            self.indexes[id].size = Some(estimated(size, &self.indexes[id].shape));
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
        let size = estimated(size, &self.indexes[id].shape);
        self.indexes[id].size = Some(size);
        Ok(size)
    }

    /// The planner's cost of reading a whole table (`schema.name`, quoted):
    /// `EXPLAIN SELECT * FROM` it, once per table.
    pub async fn read_all(&mut self, table: &str) -> Result<f64, AdvisorError> {
        Ok(self.whole(table).await?.0)
    }

    /// The rows the planner expects in the whole table: what it makes of
    /// `reltuples`, or of the table's pages when it was never analyzed.
    pub async fn table_rows(&mut self, table: &str) -> Result<f64, AdvisorError> {
        Ok(self.whole(table).await?.1)
    }

    /// The planner's cost and rows of reading the whole table.
    async fn whole(&mut self, table: &str) -> Result<(f64, f64), AdvisorError> {
        if let Some(whole) = self.tables.get(table) {
            return Ok(*whole);
        }
        let row = self
            .client
            .query_one(&format!("EXPLAIN (FORMAT JSON) SELECT * FROM {table}"), &[])
            .await?;
        let json: serde_json::Value = row.try_get(0)?;
        let plan = &json[0]["Plan"];
        let whole = (
            plan["Total Cost"].as_f64().unwrap_or(0.0),
            plan["Plan Rows"].as_f64().unwrap_or(0.0),
        );
        self.tables.insert(table.to_owned(), whole);
        Ok(whole)
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
