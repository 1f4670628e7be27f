//! Values of text EXPLAIN detail lines (`Key: value`), as explain.c prints
//! them, turned into the typed fields or into `extra` under the key and
//! with the value type PostgreSQL's JSON format uses.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::header::number;
use crate::plan::{Buffers, Extra, IoTimings, Jit, Node, Trigger, Wal, Worker};

/// Whether `k` can be the label of a detail line: explain.c's labels are
/// capitalized words (`Rows Removed by Filter`, `I/O Timings`, `One-Time
/// Filter`, `Worker 0`).
pub(super) fn is_key(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && b.len() <= 60
        && b[0].is_ascii_uppercase()
        && !k.contains("  ")
        && b.iter().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b' ' | b'-' | b'/' | b'(' | b')' | b'_' | b'.')
        })
}

/// `Key: value` (or `Key:` alone, opening a block).
pub(super) fn split_key(t: &str) -> Option<(&str, &str)> {
    // Labels are at most 60 bytes (`is_key`), so only the start is searched.
    let b = t.as_bytes();
    if let Some(i) = (0..b.len().min(62)).find(|&i| b[i] == b':' && b.get(i + 1) == Some(&b' ')) {
        let key = &t[..i];
        if is_key(key) {
            return Some((key, t[i + 2..].trim_ascii()));
        }
    }
    let key = t.strip_suffix(':')?;
    (is_key(key) && !key.contains(':')).then_some((key, ""))
}

/// Several `Key: value` items on one line, separated by two spaces (as in
/// `Buckets: 1024  Batches: 1  Memory Usage: 9kB`). `first` is the first
/// item's value.
pub(super) fn segments<'s>(first_key: &'s str, first: &'s str) -> Vec<(&'s str, &'s str)> {
    let mut out = Vec::with_capacity(4);
    let mut key = first_key;
    let mut rest = first;
    loop {
        let mut split = None;
        let mut from = 0;
        while let Some(i) = rest[from..].find("  ") {
            let at = from + i;
            let after = rest[at..].trim_ascii_start();
            let next_at = rest.len() - after.len();
            if let Some((k, v)) = split_key(after) {
                if !v.is_empty() || after.ends_with(':') {
                    split = Some((at, next_at, k));
                    break;
                }
            }
            from = next_at.max(at + 2);
        }
        match split {
            Some((at, next_at, next_key)) => {
                out.push((key, rest[..at].trim_ascii()));
                let after = &rest[next_at..];
                rest = after[next_key.len()..]
                    .strip_prefix(':')
                    .unwrap_or("")
                    .trim_ascii_start();
                key = next_key;
            }
            None => {
                out.push((key, rest.trim_ascii()));
                return out;
            }
        }
    }
}

/// A comma-separated list as `ExplainPropertyList` prints it, split at the
/// commas outside parentheses, brackets and quotes.
pub(super) fn split_list(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut start = 0;
    let b = v.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                b',' if depth == 0 && b.get(i + 1) == Some(&b' ') => {
                    out.push(v[start..i].trim_ascii().to_owned());
                    start = i + 2;
                }
                _ => {}
            },
        }
    }
    let last = v.get(start..).unwrap_or("").trim_ascii();
    if !last.is_empty() || !out.is_empty() {
        out.push(last.to_owned());
    }
    out
}

/// A size printed as `25kB`.
pub(super) fn kb(v: &str) -> Option<u64> {
    v.trim_ascii().strip_suffix("kB")?.trim_ascii().parse().ok()
}

/// A duration printed as `1.234 ms`.
pub(super) fn ms(v: &str) -> Option<f64> {
    number(v.trim_ascii().strip_suffix("ms")?.trim_ascii())
}

/// An integer figure.
pub(super) fn int(v: &str) -> Option<u64> {
    v.trim_ascii().parse().ok()
}

/// A JSON number the way PostgreSQL writes the figure: integral values as
/// integers.
pub(super) fn json_number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        if v >= 0.0 {
            Value::from(v as u64)
        } else {
            Value::from(v as i64)
        }
    } else {
        Value::from(v)
    }
}

/// `key=value` words.
fn assignments(v: &str) -> impl Iterator<Item = (&str, &str)> {
    v.split_whitespace().filter_map(|w| w.split_once('='))
}

/// `Buffers: shared hit=1 read=2 dirtied=3 written=4, local ..., temp
/// read=5 written=6` (explain.c, show_buffer_usage: only positive counters
/// are printed, so the others are zero).
pub(super) fn buffers(v: &str) -> Option<Buffers> {
    let zero = Some(0);
    let mut b = Buffers {
        shared_hit: zero,
        shared_read: zero,
        shared_dirtied: zero,
        shared_written: zero,
        local_hit: zero,
        local_read: zero,
        local_dirtied: zero,
        local_written: zero,
        temp_read: zero,
        temp_written: zero,
    };
    let mut any = false;
    for group in v.split(',') {
        let group = group.trim_ascii();
        let (scope, figures) = group.split_once(' ').unwrap_or((group, ""));
        for (key, value) in assignments(figures) {
            let value = int(value)?;
            let slot = match (scope, key) {
                ("shared", "hit") => &mut b.shared_hit,
                ("shared", "read") => &mut b.shared_read,
                ("shared", "dirtied") => &mut b.shared_dirtied,
                ("shared", "written") => &mut b.shared_written,
                ("local", "hit") => &mut b.local_hit,
                ("local", "read") => &mut b.local_read,
                ("local", "dirtied") => &mut b.local_dirtied,
                ("local", "written") => &mut b.local_written,
                ("temp", "read") => &mut b.temp_read,
                ("temp", "written") => &mut b.temp_written,
                _ => return None,
            };
            *slot = Some(value);
            any = true;
        }
    }
    any.then_some(b)
}

/// Which `I/O Timings` layout a line has: it tells which JSON keys the
/// server would have written (13-14 `"I/O Read Time"`, 15 adds `"Temp I/O
/// Read Time"`, 16 splits shared and local).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum IoForm {
    /// `I/O Timings: read=1.0 write=2.0` (13, 14).
    Bare,
    /// Only `temp ...`: 15 or later.
    TempOnly,
    /// `shared/local read=...` (15).
    SharedLocal,
    /// `shared read=..., local ...` (16+).
    Split,
}

/// `I/O Timings: ...` in any of its layouts. Zero timings are not printed,
/// so the figures of the layout's scopes default to zero.
pub(super) fn io_timings(v: &str) -> Option<(IoTimings, IoForm)> {
    let mut io = IoTimings::default();
    let mut form = None::<IoForm>;
    for group in v.split(',') {
        let group = group.trim_ascii();
        let (scope, figures) = match group.split_once(' ') {
            Some((s, f)) if !s.contains('=') => (s, f),
            _ => ("", group),
        };
        let this = match scope {
            "" => IoForm::Bare,
            "shared/local" => IoForm::SharedLocal,
            "shared" | "local" => IoForm::Split,
            "temp" => IoForm::TempOnly,
            _ => return None,
        };
        form = Some(form.map_or(this, |f| f.max(this)));
        for (key, value) in assignments(figures) {
            let value = number(value)?;
            let slot = match (scope, key) {
                ("" | "shared/local" | "shared", "read") => &mut io.shared_read_ms,
                ("" | "shared/local" | "shared", "write") => &mut io.shared_write_ms,
                ("local", "read") => &mut io.local_read_ms,
                ("local", "write") => &mut io.local_write_ms,
                ("temp", "read") => &mut io.temp_read_ms,
                ("temp", "write") => &mut io.temp_write_ms,
                _ => return None,
            };
            *slot = Some(value);
        }
    }
    form.map(|f| (io, f))
}

/// Fills the zero timings of a layout (JSON prints every key of its
/// version when `track_io_timing` is on).
pub(super) fn fill_io(io: &mut IoTimings, form: IoForm) {
    let zero = |slot: &mut Option<f64>| {
        slot.get_or_insert(0.0);
    };
    zero(&mut io.shared_read_ms);
    zero(&mut io.shared_write_ms);
    if form >= IoForm::TempOnly {
        zero(&mut io.temp_read_ms);
        zero(&mut io.temp_write_ms);
    }
    if form == IoForm::Split {
        zero(&mut io.local_read_ms);
        zero(&mut io.local_write_ms);
    }
}

/// `WAL: records=1 fpi=0 bytes=100 buffers full=3` (explain.c,
/// show_wal_usage).
pub(super) fn wal(v: &str) -> Option<Wal> {
    let mut w = Wal {
        records: Some(0),
        fpi: Some(0),
        bytes: Some(0),
        buffers_full: None,
    };
    let v = v.replace("buffers full=", "buffers_full=");
    for (key, value) in assignments(&v) {
        let value = int(value)?;
        match key {
            "records" => w.records = Some(value),
            "fpi" => w.fpi = Some(value),
            "bytes" => w.bytes = Some(value),
            "buffers_full" => w.buffers_full = Some(value),
            _ => return None,
        }
    }
    Some(w)
}

/// `Settings: a = 'b', c = 'd'` (explain.c, ExplainPrintSettings).
pub(super) fn settings(v: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut rest = v.trim_ascii();
    while !rest.is_empty() {
        let (name, after) = rest.split_once(" = ")?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('\'') {
            let mut end = None;
            let mut from = 0;
            while let Some(i) = quoted[from..].find('\'') {
                let at = from + i;
                let tail = &quoted[at + 1..];
                if tail.is_empty() || tail.starts_with(", ") {
                    end = Some(at);
                    break;
                }
                from = at + 1;
            }
            let end = end?;
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else {
            let end = after.find(", ").unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        out.insert(name.trim_ascii().to_owned(), value);
        rest = next.strip_prefix(", ").unwrap_or(next).trim_ascii_start();
    }
    Some(out)
}

/// A trigger line after `Trigger ` (explain.c, report_triggers): `name[
/// for constraint c][ on rel]: time=1.2 calls=3`.
pub(super) fn trigger(v: &str) -> Option<Trigger> {
    let (who, figures) = v.rsplit_once(": ")?;
    let mut t = Trigger::default();
    for (key, value) in assignments(figures) {
        match key {
            "time" => t.time_ms = number(value),
            "calls" => t.calls = int(value),
            _ => return None,
        }
    }
    let (name, constraint) = match who.strip_prefix("for constraint ") {
        Some(c) => (None, Some(c)),
        None => match who.split_once(" for constraint ") {
            Some((n, c)) => (Some(n), Some(c)),
            None => (Some(who), None),
        },
    };
    let split_relation = |s: &str| -> (String, Option<String>) {
        match s.rsplit_once(" on ") {
            Some((a, r)) => (a.to_owned(), Some(r.to_owned())),
            None => (s.to_owned(), None),
        }
    };
    match (name, constraint) {
        (name, Some(c)) => {
            let (c, relation) = split_relation(c);
            t.trigger_name = name.map_or_else(|| c.clone(), str::to_owned);
            t.constraint_name = Some(c);
            t.relation = relation;
        }
        (Some(n), None) => {
            let (n, relation) = split_relation(n);
            t.trigger_name = n;
            t.relation = relation;
        }
        (None, None) => return None,
    }
    Some(t)
}

/// A JIT block line (explain.c, ExplainPrintJIT).
pub(super) fn jit_line(jit: &mut Jit, key: &str, v: &str) -> bool {
    match key {
        "Functions" => jit.functions = int(v),
        "Options" => {
            for item in v.split(", ") {
                let Some((name, flag)) = item.trim_ascii().rsplit_once(' ') else {
                    return false;
                };
                jit.options.insert(name.to_owned(), flag == "true");
            }
        }
        "Timing" => {
            for item in split_list(v) {
                // `Generation 0.492 ms (Deform 0.134 ms)` on 17+, where JSON
                // has `"Generation": {"Deform": 0.134, "Total": 0.492}`: the
                // total goes to `timing_ms`, the object to `extra["Timing"]`
                // (as `parse_json` keeps it).
                let (main, inner) = match item.split_once(" (") {
                    Some((m, i)) => (m, i.strip_suffix(')')),
                    None => (item.as_str(), None),
                };
                let Some((name, total)) = timing(main) else {
                    return false;
                };
                jit.timing_ms.insert(name.to_owned(), total);
                if let Some(inner) = inner {
                    let mut parts = Map::new();
                    for part in inner.split(", ") {
                        let Some((k, v)) = timing(part) else {
                            return false;
                        };
                        parts.insert(k.to_owned(), Value::from(v));
                    }
                    parts.insert("Total".into(), Value::from(total));
                    let odd = jit
                        .extra
                        .entry("Timing".to_owned())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(odd) = odd {
                        odd.insert(name.to_owned(), Value::Object(parts));
                    }
                }
            }
        }
        _ => {
            jit.extra.insert(key.to_owned(), Value::from(v));
        }
    }
    true
}

/// `Generation 0.340 ms` into its name and milliseconds.
fn timing(s: &str) -> Option<(&str, f64)> {
    let (name, value) = s.trim_ascii().split_once(' ')?;
    Some((name, ms(value)?))
}

/// `Full-sort Groups: 4  Sort Method: quicksort  Average Memory: 28kB  Peak
/// Memory: 28kB` (explain.c, show_incremental_sort_group_info) as the JSON
/// group `{"Group Count", "Sort Methods Used", "Sort Space Memory": {...}}`.
pub(super) fn sort_groups(items: &[(&str, &str)]) -> Value {
    let mut group = Map::new();
    let mut memory = Map::new();
    let mut disk = Map::new();
    for (key, value) in items {
        let size = || kb(value).map_or_else(|| Value::from(*value), Value::from);
        match *key {
            "Full-sort Groups" | "Pre-sorted Groups" => {
                let count = int(value).map_or_else(|| Value::from(*value), Value::from);
                group.insert("Group Count".into(), count);
            }
            "Sort Method" | "Sort Methods" => {
                let methods = value
                    .split(", ")
                    .map(|m| Value::from(m.trim_ascii()))
                    .collect();
                group.insert("Sort Methods Used".into(), Value::Array(methods));
            }
            "Average Memory" => {
                memory.insert("Average Sort Space Used".into(), size());
            }
            "Peak Memory" => {
                memory.insert("Peak Sort Space Used".into(), size());
            }
            "Average Disk" => {
                disk.insert("Average Sort Space Used".into(), size());
            }
            "Peak Disk" => {
                disk.insert("Peak Sort Space Used".into(), size());
            }
            other => {
                group.insert((*other).to_owned(), Value::from(*value));
            }
        }
    }
    if !memory.is_empty() {
        group.insert("Sort Space Memory".into(), Value::Object(memory));
    }
    if !disk.is_empty() {
        group.insert("Sort Space Disk".into(), Value::Object(disk));
    }
    Value::Object(group)
}

/// `Sort Method: quicksort  Memory: 25kB` into (method, space type, kB).
pub(super) fn sort_method(items: &[(&str, &str)]) -> (String, Option<String>, Option<u64>) {
    let method = items.first().map_or("", |(_, v)| v).to_owned();
    match items.get(1) {
        Some((space, used)) => (method, Some((*space).to_owned()), kb(used)),
        None => (method, None, None),
    }
}

/// Where a detail line's figures go: a node or one of its workers share
/// most detail lines (sort, hash, memoize, buffers...).
pub(super) trait Figures {
    fn sort_method(&mut self) -> (&mut Option<String>, &mut Option<String>, &mut Option<u64>);
    fn buffers(&mut self) -> &mut Buffers;
    fn io(&mut self) -> &mut IoTimings;
    fn wal(&mut self) -> &mut Option<Wal>;
    fn extra(&mut self) -> &mut Extra;
    /// `"Peak Memory Usage"` (a typed field on nodes, an extra key on workers).
    fn set_peak_memory(&mut self, kb: Option<u64>);
    /// `"Exact Heap Blocks"` and `"Lossy Heap Blocks"`.
    fn set_heap_blocks(&mut self, exact: u64, lossy: u64);
    /// `"Planned Partitions"`, `"HashAgg Batches"`, `"Peak Memory Usage"`,
    /// `"Disk Usage"` (printed only past one batch, so zero otherwise).
    fn set_hash_agg(&mut self, agg: HashAgg);
}

impl Figures for Node {
    fn sort_method(&mut self) -> (&mut Option<String>, &mut Option<String>, &mut Option<u64>) {
        (
            &mut self.sort_method,
            &mut self.sort_space_type,
            &mut self.sort_space_used,
        )
    }
    fn buffers(&mut self) -> &mut Buffers {
        &mut self.buffers
    }
    fn io(&mut self) -> &mut IoTimings {
        &mut self.io
    }
    fn wal(&mut self) -> &mut Option<Wal> {
        &mut self.wal
    }
    fn extra(&mut self) -> &mut Extra {
        &mut self.extra
    }
    fn set_peak_memory(&mut self, kb: Option<u64>) {
        self.peak_memory_usage = kb;
    }
    fn set_heap_blocks(&mut self, exact: u64, lossy: u64) {
        self.exact_heap_blocks = Some(exact as f64);
        self.lossy_heap_blocks = Some(lossy as f64);
    }
    fn set_hash_agg(&mut self, agg: HashAgg) {
        if agg.planned_partitions.is_some() {
            self.planned_partitions = agg.planned_partitions;
        }
        if agg.batches.is_some() {
            self.hash_agg_batches = agg.batches;
            self.peak_memory_usage = agg.memory;
            self.disk_usage = Some(agg.disk.unwrap_or(0));
        }
    }
}

impl Figures for Worker {
    fn sort_method(&mut self) -> (&mut Option<String>, &mut Option<String>, &mut Option<u64>) {
        (
            &mut self.sort_method,
            &mut self.sort_space_type,
            &mut self.sort_space_used,
        )
    }
    fn buffers(&mut self) -> &mut Buffers {
        &mut self.buffers
    }
    fn io(&mut self) -> &mut IoTimings {
        &mut self.io
    }
    fn wal(&mut self) -> &mut Option<Wal> {
        &mut self.wal
    }
    fn extra(&mut self) -> &mut Extra {
        &mut self.extra
    }
    fn set_peak_memory(&mut self, kb: Option<u64>) {
        if let Some(kb) = kb {
            self.extra
                .insert("Peak Memory Usage".into(), Value::from(kb));
        }
    }
    fn set_heap_blocks(&mut self, exact: u64, lossy: u64) {
        self.extra
            .insert("Exact Heap Blocks".into(), Value::from(exact));
        self.extra
            .insert("Lossy Heap Blocks".into(), Value::from(lossy));
    }
    fn set_hash_agg(&mut self, agg: HashAgg) {
        if let Some(batches) = agg.batches {
            self.extra
                .insert("HashAgg Batches".into(), Value::from(batches));
            self.set_peak_memory(agg.memory);
            let disk = agg.disk.unwrap_or(0);
            self.extra.insert("Disk Usage".into(), Value::from(disk));
        }
    }
}

/// What one detail line said about the shape of the output, for the fixes
/// applied once the whole plan is read.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Seen {
    pub io_form: Option<IoForm>,
    pub buffers: bool,
    pub wal: bool,
    pub version_16_or_later: bool,
}

/// Applies a detail line shared by nodes and workers; false when the key
/// is not one of them.
pub(super) fn shared_line(f: &mut dyn Figures, key: &str, value: &str, seen: &mut Seen) -> bool {
    match key {
        "Sort Method" => {
            let items = segments(key, value);
            let (method, space, used) = sort_method(&items);
            let (m, s, u) = f.sort_method();
            *m = Some(method);
            *s = space;
            *u = used;
        }
        "Buffers" => match buffers(value) {
            Some(b) => {
                *f.buffers() = b;
                seen.buffers = true;
            }
            None => return false,
        },
        "I/O Timings" => match io_timings(value) {
            Some((io, form)) => {
                *f.io() = io;
                seen.io_form = Some(seen.io_form.map_or(form, |s| s.max(form)));
            }
            None => return false,
        },
        "WAL" => match wal(value) {
            Some(w) => {
                *f.wal() = Some(w);
                seen.wal = true;
            }
            None => return false,
        },
        "Full-sort Groups" | "Pre-sorted Groups" => {
            let items = segments(key, value);
            f.extra().insert(key.to_owned(), sort_groups(&items));
        }
        "Hits" => {
            // Memoize (explain.c, show_memoize_info).
            for (k, v) in segments(key, value) {
                let name = match k {
                    "Hits" => "Cache Hits",
                    "Misses" => "Cache Misses",
                    "Evictions" => "Cache Evictions",
                    "Overflows" => "Cache Overflows",
                    "Memory Usage" => {
                        f.set_peak_memory(kb(v));
                        continue;
                    }
                    other => other,
                };
                let value = int(v).map_or_else(|| Value::from(v), Value::from);
                f.extra().insert(name.to_owned(), value);
            }
        }
        "Storage" => {
            // Materialize, CTE Scan, WindowAgg... (explain.c, show_storage_info).
            for (k, v) in segments(key, value) {
                let value = match k {
                    "Maximum Storage" => kb(v).map_or_else(|| Value::from(v), Value::from),
                    _ => Value::from(v),
                };
                f.extra().insert(k.to_owned(), value);
            }
        }
        "Heap Blocks" => {
            // Bitmap Heap Scan (explain.c, show_tidbitmap_info): zero
            // counts are not printed.
            let mut exact = 0;
            let mut lossy = 0;
            for (k, v) in assignments(value) {
                match (k, int(v)) {
                    ("exact", Some(n)) => exact = n,
                    ("lossy", Some(n)) => lossy = n,
                    _ => return false,
                }
            }
            f.set_heap_blocks(exact, lossy);
        }
        "Batches" | "Planned Partitions" => {
            // HashAggregate (explain.c, show_hashagg_info).
            let mut agg = HashAgg::default();
            for (k, v) in segments(key, value) {
                match k {
                    "Planned Partitions" => agg.planned_partitions = int(v),
                    "Batches" => agg.batches = int(v),
                    "Memory Usage" => agg.memory = kb(v),
                    "Disk Usage" => agg.disk = kb(v),
                    _ => return false,
                }
            }
            f.set_hash_agg(agg);
        }
        _ => return false,
    }
    true
}

/// The figures of a HashAggregate line.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct HashAgg {
    pub planned_partitions: Option<u64>,
    pub batches: Option<u64>,
    pub memory: Option<u64>,
    pub disk: Option<u64>,
}
