//! The typed plan tree every later stage works on.
//!
//! Field names follow PostgreSQL's EXPLAIN JSON keys (`"Actual Total Time"` is
//! `actual_total_time`); the key each field comes from is named in its doc.
//! Every key is optional because servers differ: PostgreSQL 13 has no
//! `"Index Searches"`, a plain EXPLAIN has no actual figures, and so on. Keys
//! this model does not know are kept in `extra` so a newer server never breaks
//! a parse and nothing is lost when a plan is written back.
//!
//! Sources: `src/backend/commands/explain.c` (ExplainNode, show_*_info) of
//! PostgreSQL 13 to 18.

use std::collections::BTreeMap;

use serde_json::Value;

/// Unknown keys, kept verbatim in the order-independent form of a `BTreeMap`.
pub type Extra = BTreeMap<String, Value>;

/// One EXPLAIN result: the root node and the top-level figures around it.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Plan {
    /// `"Plan"`.
    pub root: Node,
    /// `"Planning Time"` in milliseconds (ANALYZE or SUMMARY).
    pub planning_time_ms: Option<f64>,
    /// `"Execution Time"` in milliseconds (ANALYZE).
    pub execution_time_ms: Option<f64>,
    /// `"Planning"` buffers (BUFFERS, PostgreSQL 13+).
    pub planning_buffers: Option<Buffers>,
    /// `"Planning"` memory (MEMORY option, PostgreSQL 17+).
    pub planning_memory: Option<Memory>,
    /// `"Planning"` I/O timings (BUFFERS with `track_io_timing`, 16+).
    pub planning_io: Option<IoTimings>,
    /// Keys of the `"Planning"` object this model does not know.
    pub planning_extra: Extra,
    /// `"Triggers"` (ANALYZE of a statement that fired triggers).
    pub triggers: Vec<Trigger>,
    /// `"JIT"` (when JIT compiled the query).
    pub jit: Option<Jit>,
    /// `"Settings"`: non-default planner settings (SETTINGS option, 12+).
    pub settings: BTreeMap<String, String>,
    /// `"Serialization"` (SERIALIZE option, PostgreSQL 17+).
    pub serialization: Option<Serialization>,
    /// `"Query Text"` (auto_explain with `log_verbose` or query text logging).
    pub query_text: Option<String>,
    /// `"Query Identifier"` (VERBOSE with `compute_query_id`, 14+).
    pub query_identifier: Option<i64>,
    /// Top-level keys this model does not know.
    pub extra: Extra,
}

impl Plan {
    /// Whether the plan was executed (EXPLAIN ANALYZE, or auto_explain
    /// with timing): it has actual figures.
    pub fn analyzed(&self) -> bool {
        self.execution_time_ms.is_some() || self.root.actual_loops.is_some()
    }
}

/// A plan node. Children are in `plans`, in EXPLAIN's order: InitPlans
/// first, then the outer and inner (or member) plans, then SubPlans; the
/// kind of each child is in its `parent_relationship`.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Node {
    /// `"Node Type"`.
    pub node_type: NodeType,
    /// `"Parent Relationship"`: Outer, Inner, Member, Subquery, InitPlan,
    /// SubPlan, Child.
    pub parent_relationship: Option<String>,
    /// `"Subplan Name"`, e.g. `InitPlan 1 (returns $0)`, `SubPlan 2`, `CTE c`.
    pub subplan_name: Option<String>,
    /// `"Custom Plan Provider"` (Custom Scan).
    pub custom_plan_provider: Option<String>,
    /// `"Parallel Aware"`.
    pub parallel_aware: Option<bool>,
    /// `"Async Capable"` (14+).
    pub async_capable: Option<bool>,
    /// `"Disabled"` (18+): the planner was told not to use this node type.
    pub disabled: Option<bool>,

    /// `"Operation"` of a ModifyTable (Insert, Update, Delete, Merge) or a
    /// Foreign Scan that modifies.
    pub operation: Option<String>,
    /// `"Relation Name"`.
    pub relation_name: Option<String>,
    /// `"Schema"` (VERBOSE).
    pub schema: Option<String>,
    /// `"Alias"`.
    pub alias: Option<String>,
    /// `"Index Name"`.
    pub index_name: Option<String>,
    /// `"Scan Direction"`: Forward, Backward, NoMovement.
    pub scan_direction: Option<String>,
    /// `"CTE Name"`.
    pub cte_name: Option<String>,
    /// `"Function Name"`.
    pub function_name: Option<String>,
    /// `"Table Function Name"` (XMLTABLE, JSON_TABLE).
    pub table_function_name: Option<String>,
    /// `"Tuplestore Name"` (Named Tuplestore Scan).
    pub tuplestore_name: Option<String>,

    /// `"Join Type"`: Inner, Left, Full, Right, Semi, Anti, Right Semi (18),
    /// Right Anti.
    pub join_type: Option<String>,
    /// `"Inner Unique"` (VERBOSE).
    pub inner_unique: Option<bool>,
    /// `"Strategy"` of Aggregate and SetOp: Plain, Sorted, Hashed, Mixed.
    pub strategy: Option<String>,
    /// `"Partial Mode"` of Aggregate: Simple, Partial, Finalize.
    pub partial_mode: Option<String>,
    /// `"Command"` of SetOp: Intersect, Intersect All, Except, Except All.
    pub command: Option<String>,

    /// `"Startup Cost"`.
    pub startup_cost: Option<f64>,
    /// `"Total Cost"`.
    pub total_cost: Option<f64>,
    /// `"Plan Rows"`: estimated rows per loop.
    pub plan_rows: Option<f64>,
    /// `"Plan Width"`: estimated row width in bytes.
    pub plan_width: Option<u64>,

    /// `"Actual Startup Time"` in ms, per loop (average).
    pub actual_startup_time: Option<f64>,
    /// `"Actual Total Time"` in ms, per loop (average).
    pub actual_total_time: Option<f64>,
    /// `"Actual Rows"` per loop (average; fractional since 18).
    pub actual_rows: Option<f64>,
    /// `"Actual Loops"`.
    pub actual_loops: Option<f64>,
    /// The node was never executed (text: `(never executed)`; JSON:
    /// `"Actual Loops": 0`).
    pub never_executed: bool,

    /// Conditions, as EXPLAIN prints them.
    pub conditions: Conditions,
    /// `"Rows Removed by Filter"` (average per loop).
    pub rows_removed_by_filter: Option<f64>,
    /// `"Rows Removed by Join Filter"`.
    pub rows_removed_by_join_filter: Option<f64>,
    /// `"Rows Removed by Index Recheck"`.
    pub rows_removed_by_index_recheck: Option<f64>,
    /// `"Heap Fetches"` (Index Only Scan).
    pub heap_fetches: Option<f64>,
    /// `"Exact Heap Blocks"` (Bitmap Heap Scan).
    pub exact_heap_blocks: Option<f64>,
    /// `"Lossy Heap Blocks"` (Bitmap Heap Scan).
    pub lossy_heap_blocks: Option<f64>,
    /// `"Index Searches"` (18+).
    pub index_searches: Option<f64>,

    /// `"Workers Planned"` (Gather, Gather Merge).
    pub workers_planned: Option<u64>,
    /// `"Workers Launched"` (ANALYZE).
    pub workers_launched: Option<u64>,
    /// `"Single Copy"` (Gather).
    pub single_copy: Option<bool>,
    /// `"Workers"`: per-worker figures (VERBOSE, or sort/hash details).
    pub workers: Vec<Worker>,

    /// `"Sort Key"`.
    pub sort_key: Vec<String>,
    /// `"Presorted Key"` (Incremental Sort).
    pub presorted_key: Vec<String>,
    /// `"Sort Method"`: quicksort, top-N heapsort, external sort, external merge.
    pub sort_method: Option<String>,
    /// `"Sort Space Used"` in kB.
    pub sort_space_used: Option<u64>,
    /// `"Sort Space Type"`: Memory or Disk.
    pub sort_space_type: Option<String>,
    /// `"Group Key"`.
    pub group_key: Vec<String>,
    /// `"Hash Key"` (Grouping Sets hashed).
    pub hash_key: Vec<String>,

    /// `"Hash Buckets"` (Hash).
    pub hash_buckets: Option<u64>,
    /// `"Original Hash Buckets"`.
    pub original_hash_buckets: Option<u64>,
    /// `"Hash Batches"`: above 1 means the hash spilled to disk.
    pub hash_batches: Option<u64>,
    /// `"Original Hash Batches"`.
    pub original_hash_batches: Option<u64>,
    /// `"Peak Memory Usage"` in kB (Hash, HashAggregate, Memoize).
    pub peak_memory_usage: Option<u64>,
    /// `"Planned Partitions"` (HashAggregate, 13+).
    pub planned_partitions: Option<u64>,
    /// `"HashAgg Batches"` (13+): above 1 means the aggregate spilled.
    pub hash_agg_batches: Option<u64>,
    /// `"Disk Usage"` in kB (HashAggregate, 13+).
    pub disk_usage: Option<u64>,

    /// `"Output"` (VERBOSE).
    pub output: Vec<String>,
    /// Buffer usage (BUFFERS).
    pub buffers: Buffers,
    /// I/O timings (BUFFERS with `track_io_timing`).
    pub io: IoTimings,
    /// WAL usage (WAL option).
    pub wal: Option<Wal>,

    /// `"Plans"`: children, in EXPLAIN's order.
    pub plans: Vec<Node>,
    /// Keys this model does not know (Memoize's `"Cache Key"`, Foreign
    /// Scan's `"Remote SQL"`, and whatever a newer server adds).
    pub extra: Extra,
    /// Figures computed after parsing (not an EXPLAIN key).
    pub derived: Derived,
}

/// `"Node Type"`. Display names are exactly PostgreSQL's JSON node types;
/// the text format's variants (`HashAggregate`, `Parallel Seq Scan`,
/// `Insert on t`) map to these plus the node's strategy, parallel or
/// operation fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum NodeType {
    #[default]
    Result,
    ProjectSet,
    ModifyTable,
    Append,
    MergeAppend,
    RecursiveUnion,
    BitmapAnd,
    BitmapOr,
    NestedLoop,
    MergeJoin,
    HashJoin,
    SeqScan,
    SampleScan,
    Gather,
    GatherMerge,
    IndexScan,
    IndexOnlyScan,
    BitmapIndexScan,
    BitmapHeapScan,
    TidScan,
    TidRangeScan,
    SubqueryScan,
    FunctionScan,
    TableFunctionScan,
    ValuesScan,
    CteScan,
    NamedTuplestoreScan,
    WorkTableScan,
    ForeignScan,
    CustomScan,
    Materialize,
    Memoize,
    Sort,
    IncrementalSort,
    Group,
    Aggregate,
    WindowAgg,
    Unique,
    SetOp,
    LockRows,
    Limit,
    Hash,
    /// A node type this model does not know, kept verbatim.
    Other(String),
}

impl NodeType {
    /// Every known node type with its JSON name.
    pub const KNOWN: &'static [(NodeType, &'static str)] = &[
        (NodeType::Result, "Result"),
        (NodeType::ProjectSet, "ProjectSet"),
        (NodeType::ModifyTable, "ModifyTable"),
        (NodeType::Append, "Append"),
        (NodeType::MergeAppend, "Merge Append"),
        (NodeType::RecursiveUnion, "Recursive Union"),
        (NodeType::BitmapAnd, "BitmapAnd"),
        (NodeType::BitmapOr, "BitmapOr"),
        (NodeType::NestedLoop, "Nested Loop"),
        (NodeType::MergeJoin, "Merge Join"),
        (NodeType::HashJoin, "Hash Join"),
        (NodeType::SeqScan, "Seq Scan"),
        (NodeType::SampleScan, "Sample Scan"),
        (NodeType::Gather, "Gather"),
        (NodeType::GatherMerge, "Gather Merge"),
        (NodeType::IndexScan, "Index Scan"),
        (NodeType::IndexOnlyScan, "Index Only Scan"),
        (NodeType::BitmapIndexScan, "Bitmap Index Scan"),
        (NodeType::BitmapHeapScan, "Bitmap Heap Scan"),
        (NodeType::TidScan, "Tid Scan"),
        (NodeType::TidRangeScan, "Tid Range Scan"),
        (NodeType::SubqueryScan, "Subquery Scan"),
        (NodeType::FunctionScan, "Function Scan"),
        (NodeType::TableFunctionScan, "Table Function Scan"),
        (NodeType::ValuesScan, "Values Scan"),
        (NodeType::CteScan, "CTE Scan"),
        (NodeType::NamedTuplestoreScan, "Named Tuplestore Scan"),
        (NodeType::WorkTableScan, "WorkTable Scan"),
        (NodeType::ForeignScan, "Foreign Scan"),
        (NodeType::CustomScan, "Custom Scan"),
        (NodeType::Materialize, "Materialize"),
        (NodeType::Memoize, "Memoize"),
        (NodeType::Sort, "Sort"),
        (NodeType::IncrementalSort, "Incremental Sort"),
        (NodeType::Group, "Group"),
        (NodeType::Aggregate, "Aggregate"),
        (NodeType::WindowAgg, "WindowAgg"),
        (NodeType::Unique, "Unique"),
        (NodeType::SetOp, "SetOp"),
        (NodeType::LockRows, "LockRows"),
        (NodeType::Limit, "Limit"),
        (NodeType::Hash, "Hash"),
    ];

    /// The node type for a JSON `"Node Type"` value.
    pub fn from_name(name: &str) -> NodeType {
        NodeType::KNOWN
            .iter()
            .find(|(_, n)| *n == name)
            .map_or_else(|| NodeType::Other(name.to_owned()), |(t, _)| t.clone())
    }

    /// The JSON `"Node Type"` value.
    pub fn name(&self) -> &str {
        match self {
            NodeType::Other(name) => name,
            known => NodeType::KNOWN
                .iter()
                .find(|(t, _)| t == known)
                .map_or("", |(_, n)| n),
        }
    }

    /// Scans that read a relation's heap or index directly.
    pub fn is_relation_scan(&self) -> bool {
        matches!(
            self,
            NodeType::SeqScan
                | NodeType::SampleScan
                | NodeType::IndexScan
                | NodeType::IndexOnlyScan
                | NodeType::BitmapHeapScan
                | NodeType::TidScan
                | NodeType::TidRangeScan
        )
    }

    /// Scans that use an index (Bitmap Heap Scans use one through their
    /// Bitmap Index Scan children).
    pub fn is_index_scan(&self) -> bool {
        matches!(
            self,
            NodeType::IndexScan
                | NodeType::IndexOnlyScan
                | NodeType::BitmapIndexScan
                | NodeType::BitmapHeapScan
        )
    }
}

impl std::fmt::Display for NodeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every condition EXPLAIN prints on a node, verbatim (with PostgreSQL's
/// parentheses and casts).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Conditions {
    /// `"Filter"`.
    pub filter: Option<String>,
    /// `"Index Cond"`.
    pub index_cond: Option<String>,
    /// `"Recheck Cond"`.
    pub recheck_cond: Option<String>,
    /// `"Hash Cond"`.
    pub hash_cond: Option<String>,
    /// `"Merge Cond"`.
    pub merge_cond: Option<String>,
    /// `"Join Filter"`.
    pub join_filter: Option<String>,
    /// `"One-Time Filter"`.
    pub one_time_filter: Option<String>,
    /// `"TID Cond"`.
    pub tid_cond: Option<String>,
    /// `"Order By"` (index scans ordering by an operator, e.g. KNN).
    pub order_by: Option<String>,
}

impl Conditions {
    /// The conditions that are set, with their EXPLAIN labels, in a fixed
    /// order.
    pub fn labelled(&self) -> Vec<(&'static str, &str)> {
        [
            ("Index Cond", &self.index_cond),
            ("Order By", &self.order_by),
            ("Recheck Cond", &self.recheck_cond),
            ("TID Cond", &self.tid_cond),
            ("Merge Cond", &self.merge_cond),
            ("Hash Cond", &self.hash_cond),
            ("Join Filter", &self.join_filter),
            ("One-Time Filter", &self.one_time_filter),
            ("Filter", &self.filter),
        ]
        .into_iter()
        .filter_map(|(label, value)| value.as_deref().map(|v| (label, v)))
        .collect()
    }
}

/// Buffer usage in blocks, `"Shared Hit Blocks"` and so on. Per node these
/// are totals over all loops and include the children's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Buffers {
    pub shared_hit: Option<u64>,
    pub shared_read: Option<u64>,
    pub shared_dirtied: Option<u64>,
    pub shared_written: Option<u64>,
    pub local_hit: Option<u64>,
    pub local_read: Option<u64>,
    pub local_dirtied: Option<u64>,
    pub local_written: Option<u64>,
    pub temp_read: Option<u64>,
    pub temp_written: Option<u64>,
}

impl Buffers {
    /// Shared blocks touched: hit plus read.
    pub fn shared_touched(&self) -> u64 {
        self.shared_hit.unwrap_or(0) + self.shared_read.unwrap_or(0)
    }

    /// Whether any figure is present.
    pub fn is_empty(&self) -> bool {
        *self == Buffers::default()
    }
}

/// I/O timings in milliseconds (`track_io_timing`). PostgreSQL 13 to 14
/// print `"I/O Read Time"`/`"I/O Write Time"`; 15 adds temp; 16 splits
/// shared/local. All forms land here.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct IoTimings {
    /// `"I/O Read Time"` (13-15) or `"Shared I/O Read Time"` (16+).
    pub shared_read_ms: Option<f64>,
    /// `"I/O Write Time"` (13-15) or `"Shared I/O Write Time"` (16+).
    pub shared_write_ms: Option<f64>,
    /// `"Local I/O Read Time"` (16+).
    pub local_read_ms: Option<f64>,
    /// `"Local I/O Write Time"` (16+).
    pub local_write_ms: Option<f64>,
    /// `"Temp I/O Read Time"` (15+).
    pub temp_read_ms: Option<f64>,
    /// `"Temp I/O Write Time"` (15+).
    pub temp_write_ms: Option<f64>,
}

/// WAL usage (WAL option, 13+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Wal {
    /// `"WAL Records"`.
    pub records: Option<u64>,
    /// `"WAL FPI"`.
    pub fpi: Option<u64>,
    /// `"WAL Bytes"`.
    pub bytes: Option<u64>,
    /// `"WAL Buffers Full"` (18+).
    pub buffers_full: Option<u64>,
}

/// One parallel worker's figures under a node (`"Workers"`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Worker {
    /// `"Worker Number"`.
    pub worker_number: u64,
    pub actual_startup_time: Option<f64>,
    pub actual_total_time: Option<f64>,
    pub actual_rows: Option<f64>,
    pub actual_loops: Option<f64>,
    pub sort_method: Option<String>,
    pub sort_space_used: Option<u64>,
    pub sort_space_type: Option<String>,
    pub buffers: Buffers,
    pub io: IoTimings,
    pub wal: Option<Wal>,
    /// Other per-worker keys (JIT, hash and memoize details).
    pub extra: Extra,
}

/// Planning memory (MEMORY option, 17+), in kB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Memory {
    /// `"Memory Used"`.
    pub used_kb: Option<u64>,
    /// `"Memory Allocated"`.
    pub allocated_kb: Option<u64>,
}

/// A trigger's cost (`"Triggers"`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Trigger {
    /// `"Trigger Name"` (or `"Constraint Name"` shown as the name for
    /// constraint triggers).
    pub trigger_name: String,
    /// `"Constraint Name"`.
    pub constraint_name: Option<String>,
    /// `"Relation"`.
    pub relation: Option<String>,
    /// `"Time"` in ms.
    pub time_ms: Option<f64>,
    /// `"Calls"`.
    pub calls: Option<u64>,
    /// Other keys.
    pub extra: Extra,
}

/// JIT compilation summary (`"JIT"`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Jit {
    /// `"Worker Number"` when it is a worker's.
    pub worker_number: Option<u64>,
    /// `"Functions"`.
    pub functions: Option<u64>,
    /// `"Options"`: Inlining, Optimization, Expressions, Deforming.
    pub options: BTreeMap<String, bool>,
    /// `"Timing"`: Generation, Inlining, Optimization, Emission, Total (ms);
    /// `Generation` has its own Deform/Expressions split in 17+, kept in
    /// `extra`.
    pub timing_ms: BTreeMap<String, f64>,
    /// Other keys.
    pub extra: Extra,
}

/// Result serialization (SERIALIZE option, 17+).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Serialization {
    /// `"Time"` in ms.
    pub time_ms: Option<f64>,
    /// `"Output Volume"` in kB.
    pub output_volume_kb: Option<u64>,
    /// `"Format"`: text or binary.
    pub format: Option<String>,
    /// `"Shared Hit Blocks"` etc.
    pub buffers: Buffers,
    /// I/O timings (BUFFERS with `track_io_timing`).
    pub io: IoTimings,
    /// Other keys.
    pub extra: Extra,
}

/// Figures computed from the tree after parsing (see `plan::derive`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct Derived {
    /// Time spent in this node alone, all loops, children subtracted, in ms.
    pub exclusive_time_ms: Option<f64>,
    /// Total time of this node over all loops, in ms.
    pub inclusive_time_ms: Option<f64>,
    /// Buffers touched by this node alone (children subtracted).
    pub exclusive_buffers: Buffers,
    /// Rows this node looked at over all loops: rows returned plus rows
    /// removed by filters and rechecks.
    pub rows_scanned: Option<f64>,
    /// How far the estimate was off: `max(actual/estimated,
    /// estimated/actual)` per loop, at least 1; None without ANALYZE or for
    /// never-executed nodes.
    pub estimate_factor: Option<f64>,
}

impl IoTimings {
    /// Whether any timing is present.
    pub fn is_empty(&self) -> bool {
        *self == IoTimings::default()
    }

    /// Whether the timings use PostgreSQL 16's split shared/local form
    /// (`"Shared I/O Read Time"`, `"Local I/O Read Time"`) rather than the
    /// `"I/O Read Time"` of 13 to 15. A 16+ server prints the local timings
    /// whenever it prints the shared ones, so their presence tells.
    pub fn is_split(&self) -> bool {
        self.local_read_ms.is_some() || self.local_write_ms.is_some()
    }
}

/// The path of a node as reports print it: `0` for the root, `0.1.0` for the
/// first child of the root's second child (`index` holds the child indexes
/// below the root, as [`Node::walk`] passes them).
pub fn node_path(index: &[usize]) -> String {
    let mut path = String::from("0");
    for i in index {
        path.push('.');
        path.push_str(&i.to_string());
    }
    path
}

impl Node {
    /// Calls `f` on this node and every node below it, depth first in
    /// EXPLAIN's order, with the child indexes leading to each (empty for
    /// this node; its length is the depth).
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&[usize], &'a Node)) {
        fn go<'a>(node: &'a Node, index: &mut Vec<usize>, f: &mut dyn FnMut(&[usize], &'a Node)) {
            f(index, node);
            for (i, child) in node.plans.iter().enumerate() {
                index.push(i);
                go(child, index, f);
                index.pop();
            }
        }
        go(self, &mut Vec::new(), f);
    }

    /// The number of nodes in this subtree, this one included.
    pub fn count(&self) -> usize {
        1 + self.plans.iter().map(Node::count).sum::<usize>()
    }
}
