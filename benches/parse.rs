//! Parser benchmarks (docs/PERFORMANCE.md has the commands and the figures).
//!
//! - `large_json`: `serde_json::from_slice::<Value>` against `parse_json` on
//!   one large real plan (the target: the typed parse takes at most 1.5x the
//!   time of building a `Value`);
//! - `large_text`: `parse_text` on the text form of the same plan;
//! - `fixtures`: every JSON and every text fixture of fixtures/plans.
//!
//! Time is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not
//! wall-clock time: parsing is single-threaded, and on a busy two-core
//! machine wall-clock samples mostly measure the other processes.
//!
//! The large plan is not committed; make it with
//! `scripts/make-bench-plan.sh target/bench-data` (a throwaway PostgreSQL
//! cluster, a few minutes), or point `PLANGUARD_BENCH_PLAN_DIR` at a
//! directory holding `large.json` and `large.txt`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use planguard::plan;

/// The calling thread's CPU time, user and system.
struct ThreadCpuTime;

fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu_time()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_time().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, like wall-clock time: print them the same way.
        WallTime.formatter()
    }
}

type Bench = Criterion<ThreadCpuTime>;

fn bench_data() -> PathBuf {
    let dir = std::env::var_os("PLANGUARD_BENCH_PLAN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data"));
    if !dir.join("large.json").is_file() || !dir.join("large.txt").is_file() {
        panic!(
            "no benchmark plan in {}: run `scripts/make-bench-plan.sh target/bench-data` \
             (it starts a throwaway PostgreSQL and writes large.json and large.txt), or set \
             PLANGUARD_BENCH_PLAN_DIR to a directory that has them",
            dir.display()
        );
    }
    dir
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn large_json(c: &mut Bench) {
    let bytes = read(&bench_data().join("large.json"));
    let mut group = c.benchmark_group("large_json");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(15));
    // Parsing alone (the result is dropped outside the timing)...
    group.bench_function("serde_json_value", |b| {
        b.iter_with_large_drop(|| {
            serde_json::from_slice::<serde_json::Value>(&bytes).expect("valid JSON")
        })
    });
    group.bench_function("parse_json", |b| {
        b.iter_with_large_drop(|| plan::parse_json(&bytes).expect("a plan"))
    });
    // ...and parsing then freeing the result, as a program that parses a
    // plan, analyzes it and moves on pays.
    group.bench_function("serde_json_value_and_drop", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(&bytes).expect("valid JSON"))
    });
    group.bench_function("parse_json_and_drop", |b| {
        b.iter(|| plan::parse_json(&bytes).expect("a plan"))
    });
    group.finish();
}

fn large_text(c: &mut Bench) {
    let bytes = read(&bench_data().join("large.txt"));
    let text = String::from_utf8(bytes).expect("UTF-8 text");
    let mut group = c.benchmark_group("large_text");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("parse_text", |b| {
        b.iter_with_large_drop(|| plan::parse_text(&text).expect("a plan"))
    });
    group.bench_function("parse_text_and_drop", |b| {
        b.iter(|| plan::parse_text(&text).expect("a plan"))
    });
    group.finish();
}

fn fixtures(c: &mut Bench) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/plans");
    let mut json = Vec::new();
    let mut text = Vec::new();
    for version in std::fs::read_dir(&root).expect("fixtures/plans") {
        let version = version.expect("a directory entry").path();
        if !version.is_dir()
            || !version
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("pg"))
        {
            continue;
        }
        for file in std::fs::read_dir(&version).expect("a version folder") {
            let file = file.expect("a directory entry").path();
            match file.extension().and_then(|e| e.to_str()) {
                Some("json") => json.push(read(&file)),
                Some("txt") => text.push(String::from_utf8(read(&file)).expect("UTF-8 text")),
                _ => {}
            }
        }
    }
    let mut group = c.benchmark_group("fixtures");
    let json_bytes: usize = json.iter().map(Vec::len).sum();
    group.throughput(Throughput::Bytes(json_bytes as u64));
    group.bench_function(BenchmarkId::new("parse_json", json.len()), |b| {
        b.iter(|| {
            for bytes in &json {
                plan::parse_json(bytes).expect("a plan");
            }
        })
    });
    let text_bytes: usize = text.iter().map(String::len).sum();
    group.throughput(Throughput::Bytes(text_bytes as u64));
    group.bench_function(BenchmarkId::new("parse_text", text.len()), |b| {
        b.iter(|| {
            for t in &text {
                plan::parse_text(t).expect("a plan");
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = large_json, large_text, fixtures
}
criterion_main!(benches);
