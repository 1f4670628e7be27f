//! The key tables of JSON EXPLAIN output: every typed key of each struct
//! once, with the field it fills and how its value converts, read and
//! written by the same entries. The serde visitors ([`super`]) look keys up
//! here.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::super::model::{
    Buffers, Extra, IoTimings, Jit, Memory, Node, Plan, Serialization, Trigger, Wal, Worker,
};

// ---------------------------------------------------------------------------
// Value kinds: how one JSON value converts to a typed field and back.

/// A conversion between a JSON value and a field's type. `take` hands the
/// value back when it has another type, so the caller can keep it in `extra`.
pub(super) trait Kind {
    type T;
    fn take(value: Value) -> Result<Self::T, Value>;
    fn put(value: &Self::T) -> Value;
}

/// A string.
pub(super) struct Text;
/// Any number, written back as a float (times, costs).
pub(super) struct Float;
/// Any number, written back as an integer when whole (rows, loops: floats
/// only in PostgreSQL 18, and only when fractional).
pub(super) struct Count;
/// A non-negative whole number (blocks, kB, widths).
pub(super) struct UInt;
/// A whole number.
pub(super) struct Int;
/// A boolean.
pub(super) struct Flag;

/// Floats above this are not exact integers.
pub(super) const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

impl Kind for Text {
    type T = String;
    fn take(value: Value) -> Result<String, Value> {
        match value {
            Value::String(s) => Ok(s),
            other => Err(other),
        }
    }
    fn put(value: &String) -> Value {
        Value::String(value.clone())
    }
}

impl Kind for Float {
    type T = f64;
    fn take(value: Value) -> Result<f64, Value> {
        match value.as_f64() {
            Some(f) => Ok(f),
            None => Err(value),
        }
    }
    fn put(value: &f64) -> Value {
        Value::from(*value)
    }
}

impl Kind for Count {
    type T = f64;
    fn take(value: Value) -> Result<f64, Value> {
        Float::take(value)
    }
    fn put(value: &f64) -> Value {
        if value.fract() == 0.0 && value.abs() <= MAX_EXACT {
            if *value >= 0.0 {
                return Value::from(*value as u64);
            }
            return Value::from(*value as i64);
        }
        Value::from(*value)
    }
}

impl Kind for UInt {
    type T = u64;
    fn take(value: Value) -> Result<u64, Value> {
        let Value::Number(n) = &value else {
            return Err(value);
        };
        if let Some(u) = n.as_u64() {
            return Ok(u);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..=MAX_EXACT).contains(&f) => Ok(f as u64),
            _ => Err(value),
        }
    }
    fn put(value: &u64) -> Value {
        Value::from(*value)
    }
}

impl Kind for Int {
    type T = i64;
    fn take(value: Value) -> Result<i64, Value> {
        let Value::Number(n) = &value else {
            return Err(value);
        };
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() <= MAX_EXACT => Ok(f as i64),
            _ => Err(value),
        }
    }
    fn put(value: &i64) -> Value {
        Value::from(*value)
    }
}

impl Kind for Flag {
    type T = bool;
    fn take(value: Value) -> Result<bool, Value> {
        match value {
            Value::Bool(b) => Ok(b),
            other => Err(other),
        }
    }
    fn put(value: &bool) -> Value {
        Value::Bool(*value)
    }
}

/// A JSON array of strings (`"Output"`, `"Sort Key"`).
pub(super) fn take_list(value: Value) -> Result<Vec<String>, Value> {
    match value {
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect()),
        other => Err(other),
    }
}

// ---------------------------------------------------------------------------
// Key tables

/// One typed key of a struct `T`: where its value goes and how it comes back.
pub(super) struct Field<T> {
    pub(super) key: &'static str,
    /// Stores the value; hands it back when its type does not fit.
    pub(super) set: fn(&mut T, Value) -> Result<(), Value>,
    /// The value to write back, if the field is set.
    pub(super) get: fn(&T) -> Option<Value>,
}

/// One entry of a key table of struct `T`, in three forms:
///
/// - `T: "Key" => Kind path.to.field` for an `Option` field,
/// - `T: "Key" => Kind in make / read . field` for a field of an optional or
///   shared group, reached through the `make` (`&mut`, creating it) and
///   `read` (`Option<&>`) methods,
/// - `T: "Key" => list path.to.field` for a `Vec<String>` (written back only
///   when not empty).
macro_rules! field {
    ($t:ty: $key:literal => list $($path:ident).+) => {
        Field::<$t> {
            key: $key,
            set: |t: &mut $t, v| {
                t.$($path).+ = take_list(v)?;
                Ok(())
            },
            get: |t: &$t| (!t.$($path).+.is_empty()).then(|| Value::from(t.$($path).+.clone())),
        }
    };
    ($t:ty: $key:literal => $kind:ident in $make:ident / $read:ident . $name:ident) => {
        Field::<$t> {
            key: $key,
            set: |t: &mut $t, v| {
                t.$make().$name = Some($kind::take(v)?);
                Ok(())
            },
            get: |t: &$t| t.$read().and_then(|g| g.$name.as_ref().map($kind::put)),
        }
    };
    ($t:ty: $key:literal => $kind:ident $($path:ident).+) => {
        Field::<$t> {
            key: $key,
            set: |t: &mut $t, v| {
                t.$($path).+ = Some($kind::take(v)?);
                Ok(())
            },
            get: |t: &$t| t.$($path).+.as_ref().map($kind::put),
        }
    };
}

/// A struct's key table: its fields in EXPLAIN's order (for writing) and an
/// open-addressing hash index (for reading: one hash and usually one string
/// comparison per key, where a sorted list took seven).
pub(super) struct Table<T: 'static> {
    pub(super) fields: Vec<Field<T>>,
    /// Field indexes by `hash(key) & (len - 1)`, linear probing; `EMPTY`
    /// marks a free slot. At most a quarter full.
    slots: Vec<u16>,
}

pub(super) const EMPTY: u16 = u16::MAX;

/// FNV-1a: short keys, no need for DoS resistance (the keys looked up are
/// compared in full before use).
pub(super) fn hash(key: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as usize
}

impl<T> Table<T> {
    fn new(fields: Vec<Field<T>>) -> Table<T> {
        let size = (fields.len() * 4).next_power_of_two().max(16);
        let mut slots = vec![EMPTY; size];
        for (i, field) in fields.iter().enumerate() {
            let mut at = hash(field.key) & (size - 1);
            while slots[at] != EMPTY {
                debug_assert!(
                    fields[usize::from(slots[at])].key != field.key,
                    "{} is listed twice",
                    field.key
                );
                at = (at + 1) & (size - 1);
            }
            slots[at] = u16::try_from(i).unwrap_or(EMPTY);
        }
        Table { fields, slots }
    }

    pub(super) fn get(&self, key: &str) -> Option<&Field<T>> {
        let mask = self.slots.len() - 1;
        let mut at = hash(key) & mask;
        loop {
            let field = self.fields.get(usize::from(self.slots[at]))?;
            if field.key == key {
                return Some(field);
            }
            at = (at + 1) & mask;
        }
    }
}

/// A struct filled from a JSON object through its key table.
pub(super) trait Record: Sized + Default + 'static {
    fn table() -> &'static Table<Self>;
    fn extra(&self) -> &Extra;
    fn extra_mut(&mut self) -> &mut Extra;
}

/// Stores one key of a record: typed when the table knows it and the type
/// fits, in `extra` otherwise.
pub(super) fn put<T: Record>(record: &mut T, key: Cow<'_, str>, value: Value) {
    let value = match T::table().get(&key) {
        Some(field) => match (field.set)(record, value) {
            Ok(()) => return,
            Err(value) => value,
        },
        None => value,
    };
    record.extra_mut().insert(key.into_owned(), value);
}

pub(super) fn read_record<T: Record>(map: Map<String, Value>) -> T {
    let mut record = T::default();
    for (key, value) in map {
        put(&mut record, Cow::Owned(key), value);
    }
    record
}

pub(super) fn write_record<T: Record>(record: &T) -> Map<String, Value> {
    let mut map = Map::new();
    for field in &T::table().fields {
        if let Some(value) = (field.get)(record) {
            map.insert(field.key.to_owned(), value);
        }
    }
    for (key, value) in record.extra() {
        map.entry(key.clone()).or_insert_with(|| value.clone());
    }
    map
}

/// The buffer and I/O timing keys (`show_buffer_usage` in explain.c), shared
/// by nodes, workers, `"Planning"` and `"Serialization"`.
pub(super) trait Usage {
    fn buffers_mut(&mut self) -> &mut Buffers;
    fn buffers_ref(&self) -> Option<&Buffers>;
    fn io_mut(&mut self) -> &mut IoTimings;
    fn io_ref(&self) -> Option<&IoTimings>;
}

/// The WAL keys (`show_wal_usage`), on nodes and workers.
pub(super) trait WalUsage {
    fn wal_mut(&mut self) -> &mut Wal;
    fn wal_ref(&self) -> Option<&Wal>;
}

pub(super) fn usage_fields<T: Usage>() -> Vec<Field<T>> {
    vec![
        field!(T: "Shared Hit Blocks" => UInt in buffers_mut / buffers_ref . shared_hit),
        field!(T: "Shared Read Blocks" => UInt in buffers_mut / buffers_ref . shared_read),
        field!(T: "Shared Dirtied Blocks" => UInt in buffers_mut / buffers_ref . shared_dirtied),
        field!(T: "Shared Written Blocks" => UInt in buffers_mut / buffers_ref . shared_written),
        field!(T: "Local Hit Blocks" => UInt in buffers_mut / buffers_ref . local_hit),
        field!(T: "Local Read Blocks" => UInt in buffers_mut / buffers_ref . local_read),
        field!(T: "Local Dirtied Blocks" => UInt in buffers_mut / buffers_ref . local_dirtied),
        field!(T: "Local Written Blocks" => UInt in buffers_mut / buffers_ref . local_written),
        field!(T: "Temp Read Blocks" => UInt in buffers_mut / buffers_ref . temp_read),
        field!(T: "Temp Written Blocks" => UInt in buffers_mut / buffers_ref . temp_written),
        // PostgreSQL 13 to 15 print the shared timings without "Shared";
        // write back whichever form the server would have printed.
        Field {
            key: "I/O Read Time",
            set: |t: &mut T, v| {
                t.io_mut().shared_read_ms = Some(Float::take(v)?);
                Ok(())
            },
            get: |t| {
                let io = t.io_ref().filter(|io| !io.is_split())?;
                io.shared_read_ms.as_ref().map(Float::put)
            },
        },
        Field {
            key: "I/O Write Time",
            set: |t: &mut T, v| {
                t.io_mut().shared_write_ms = Some(Float::take(v)?);
                Ok(())
            },
            get: |t| {
                let io = t.io_ref().filter(|io| !io.is_split())?;
                io.shared_write_ms.as_ref().map(Float::put)
            },
        },
        Field {
            key: "Shared I/O Read Time",
            set: |t: &mut T, v| {
                t.io_mut().shared_read_ms = Some(Float::take(v)?);
                Ok(())
            },
            get: |t| {
                let io = t.io_ref().filter(|io| io.is_split())?;
                io.shared_read_ms.as_ref().map(Float::put)
            },
        },
        Field {
            key: "Shared I/O Write Time",
            set: |t: &mut T, v| {
                t.io_mut().shared_write_ms = Some(Float::take(v)?);
                Ok(())
            },
            get: |t| {
                let io = t.io_ref().filter(|io| io.is_split())?;
                io.shared_write_ms.as_ref().map(Float::put)
            },
        },
        field!(T: "Local I/O Read Time" => Float in io_mut / io_ref . local_read_ms),
        field!(T: "Local I/O Write Time" => Float in io_mut / io_ref . local_write_ms),
        field!(T: "Temp I/O Read Time" => Float in io_mut / io_ref . temp_read_ms),
        field!(T: "Temp I/O Write Time" => Float in io_mut / io_ref . temp_write_ms),
    ]
}

pub(super) fn wal_fields<T: WalUsage>() -> Vec<Field<T>> {
    vec![
        field!(T: "WAL Records" => UInt in wal_mut / wal_ref . records),
        field!(T: "WAL FPI" => UInt in wal_mut / wal_ref . fpi),
        field!(T: "WAL Bytes" => UInt in wal_mut / wal_ref . bytes),
        field!(T: "WAL Buffers Full" => UInt in wal_mut / wal_ref . buffers_full),
    ]
}

/// Node keys, in the order `ExplainNode` prints them. `"Node Type"`,
/// `"Plans"` and `"Workers"` carry the tree and are read by [`NodeVisitor`].
pub(super) fn node_fields() -> Vec<Field<Node>> {
    let mut fields = vec![
        field!(Node: "Strategy" => Text strategy),
        field!(Node: "Partial Mode" => Text partial_mode),
        field!(Node: "Operation" => Text operation),
        field!(Node: "Command" => Text command),
        field!(Node: "Parent Relationship" => Text parent_relationship),
        field!(Node: "Subplan Name" => Text subplan_name),
        field!(Node: "Custom Plan Provider" => Text custom_plan_provider),
        field!(Node: "Parallel Aware" => Flag parallel_aware),
        field!(Node: "Async Capable" => Flag async_capable),
        field!(Node: "Scan Direction" => Text scan_direction),
        field!(Node: "Index Name" => Text index_name),
        field!(Node: "Relation Name" => Text relation_name),
        field!(Node: "Function Name" => Text function_name),
        field!(Node: "Table Function Name" => Text table_function_name),
        field!(Node: "CTE Name" => Text cte_name),
        field!(Node: "Tuplestore Name" => Text tuplestore_name),
        field!(Node: "Schema" => Text schema),
        field!(Node: "Alias" => Text alias),
        field!(Node: "Join Type" => Text join_type),
        field!(Node: "Startup Cost" => Float startup_cost),
        field!(Node: "Total Cost" => Float total_cost),
        field!(Node: "Plan Rows" => Count plan_rows),
        field!(Node: "Plan Width" => UInt plan_width),
        field!(Node: "Actual Startup Time" => Float actual_startup_time),
        field!(Node: "Actual Total Time" => Float actual_total_time),
        field!(Node: "Actual Rows" => Count actual_rows),
        field!(Node: "Actual Loops" => Count actual_loops),
        field!(Node: "Disabled" => Flag disabled),
        field!(Node: "Output" => list output),
        field!(Node: "Inner Unique" => Flag inner_unique),
        field!(Node: "Sort Key" => list sort_key),
        field!(Node: "Presorted Key" => list presorted_key),
        field!(Node: "Group Key" => list group_key),
        field!(Node: "Hash Key" => list hash_key),
        field!(Node: "Index Cond" => Text conditions.index_cond),
        field!(Node: "Order By" => Text conditions.order_by),
        field!(Node: "Recheck Cond" => Text conditions.recheck_cond),
        field!(Node: "TID Cond" => Text conditions.tid_cond),
        field!(Node: "Merge Cond" => Text conditions.merge_cond),
        field!(Node: "Hash Cond" => Text conditions.hash_cond),
        field!(Node: "Join Filter" => Text conditions.join_filter),
        field!(Node: "One-Time Filter" => Text conditions.one_time_filter),
        field!(Node: "Filter" => Text conditions.filter),
        field!(Node: "Rows Removed by Index Recheck" => Count rows_removed_by_index_recheck),
        field!(Node: "Rows Removed by Join Filter" => Count rows_removed_by_join_filter),
        field!(Node: "Rows Removed by Filter" => Count rows_removed_by_filter),
        field!(Node: "Index Searches" => Count index_searches),
        field!(Node: "Heap Fetches" => Count heap_fetches),
        field!(Node: "Exact Heap Blocks" => Count exact_heap_blocks),
        field!(Node: "Lossy Heap Blocks" => Count lossy_heap_blocks),
        field!(Node: "Workers Planned" => UInt workers_planned),
        field!(Node: "Workers Launched" => UInt workers_launched),
        field!(Node: "Single Copy" => Flag single_copy),
        field!(Node: "Sort Method" => Text sort_method),
        field!(Node: "Sort Space Used" => UInt sort_space_used),
        field!(Node: "Sort Space Type" => Text sort_space_type),
        field!(Node: "Hash Buckets" => UInt hash_buckets),
        field!(Node: "Original Hash Buckets" => UInt original_hash_buckets),
        field!(Node: "Hash Batches" => UInt hash_batches),
        field!(Node: "Original Hash Batches" => UInt original_hash_batches),
        field!(Node: "Peak Memory Usage" => UInt peak_memory_usage),
        field!(Node: "Planned Partitions" => UInt planned_partitions),
        field!(Node: "HashAgg Batches" => UInt hash_agg_batches),
        field!(Node: "Disk Usage" => UInt disk_usage),
    ];
    fields.extend(usage_fields());
    fields.extend(wal_fields());
    fields
}

pub(super) fn worker_fields() -> Vec<Field<Worker>> {
    let mut fields = vec![
        Field {
            key: "Worker Number",
            set: |t: &mut Worker, v| {
                t.worker_number = UInt::take(v)?;
                Ok(())
            },
            get: |t: &Worker| Some(Value::from(t.worker_number)),
        },
        field!(Worker: "Actual Startup Time" => Float actual_startup_time),
        field!(Worker: "Actual Total Time" => Float actual_total_time),
        field!(Worker: "Actual Rows" => Count actual_rows),
        field!(Worker: "Actual Loops" => Count actual_loops),
        field!(Worker: "Sort Method" => Text sort_method),
        field!(Worker: "Sort Space Used" => UInt sort_space_used),
        field!(Worker: "Sort Space Type" => Text sort_space_type),
    ];
    fields.extend(usage_fields());
    fields.extend(wal_fields());
    fields
}

/// The scalar top-level keys; `"Plan"` and the groups are read by
/// [`ResultVisitor`] and [`put_top`].
pub(super) fn plan_fields() -> Vec<Field<Plan>> {
    vec![
        field!(Plan: "Query Text" => Text query_text),
        field!(Plan: "Query Identifier" => Int query_identifier),
        field!(Plan: "Planning Time" => Float planning_time_ms),
        field!(Plan: "Execution Time" => Float execution_time_ms),
    ]
}

/// `"Planning"`: buffers, I/O timings (16+) and memory (17+) of planning.
#[derive(Default)]
pub(super) struct Planning {
    pub(super) buffers: Buffers,
    pub(super) io: IoTimings,
    pub(super) memory: Memory,
    pub(super) extra: Extra,
}

pub(super) fn planning_fields() -> Vec<Field<Planning>> {
    let mut fields = usage_fields();
    fields.push(field!(Planning: "Memory Used" => UInt memory.used_kb));
    fields.push(field!(Planning: "Memory Allocated" => UInt memory.allocated_kb));
    fields
}

pub(super) fn trigger_fields() -> Vec<Field<Trigger>> {
    vec![
        Field {
            key: "Trigger Name",
            set: |t: &mut Trigger, v| {
                t.trigger_name = Text::take(v)?;
                Ok(())
            },
            get: |t: &Trigger| Some(Value::String(t.trigger_name.clone())),
        },
        field!(Trigger: "Constraint Name" => Text constraint_name),
        field!(Trigger: "Relation" => Text relation),
        field!(Trigger: "Time" => Float time_ms),
        field!(Trigger: "Calls" => UInt calls),
    ]
}

pub(super) fn serialization_fields() -> Vec<Field<Serialization>> {
    let mut fields = vec![
        field!(Serialization: "Time" => Float time_ms),
        field!(Serialization: "Output Volume" => UInt output_volume_kb),
        field!(Serialization: "Format" => Text format),
    ];
    fields.extend(usage_fields());
    fields
}

pub(super) fn jit_fields() -> Vec<Field<Jit>> {
    vec![
        field!(Jit: "Worker Number" => UInt worker_number),
        field!(Jit: "Functions" => UInt functions),
    ]
}

macro_rules! record {
    ($t:ty, $table:ident, $fields:ident) => {
        static $table: LazyLock<Table<$t>> = LazyLock::new(|| Table::new($fields()));
        impl Record for $t {
            fn table() -> &'static Table<$t> {
                &$table
            }
            fn extra(&self) -> &Extra {
                &self.extra
            }
            fn extra_mut(&mut self) -> &mut Extra {
                &mut self.extra
            }
        }
    };
}

record!(Node, NODE, node_fields);
record!(Worker, WORKER, worker_fields);
record!(Plan, PLAN, plan_fields);
record!(Planning, PLANNING, planning_fields);
record!(Trigger, TRIGGER, trigger_fields);
record!(Serialization, SERIALIZATION, serialization_fields);
record!(Jit, JIT, jit_fields);

macro_rules! usage {
    ($t:ty, buffers: $b:ident, io: $io:ident) => {
        impl Usage for $t {
            fn buffers_mut(&mut self) -> &mut Buffers {
                &mut self.$b
            }
            fn buffers_ref(&self) -> Option<&Buffers> {
                Some(&self.$b)
            }
            fn io_mut(&mut self) -> &mut IoTimings {
                &mut self.$io
            }
            fn io_ref(&self) -> Option<&IoTimings> {
                Some(&self.$io)
            }
        }
    };
}

usage!(Node, buffers: buffers, io: io);
usage!(Worker, buffers: buffers, io: io);
usage!(Planning, buffers: buffers, io: io);
usage!(Serialization, buffers: buffers, io: io);

impl WalUsage for Node {
    fn wal_mut(&mut self) -> &mut Wal {
        self.wal.get_or_insert_with(Wal::default)
    }
    fn wal_ref(&self) -> Option<&Wal> {
        self.wal.as_ref()
    }
}

impl WalUsage for Worker {
    fn wal_mut(&mut self) -> &mut Wal {
        self.wal.get_or_insert_with(Wal::default)
    }
    fn wal_ref(&self) -> Option<&Wal> {
        self.wal.as_ref()
    }
}
