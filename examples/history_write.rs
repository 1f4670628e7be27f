//! What recording a run in the history costs, for docs/PERFORMANCE.md.
//!
//! ```sh
//! cargo run --release --example history_write -- sqlite /tmp/h.sqlite 1000 30
//! cargo run --release --example history_write -- postgres postgresql://postgres@127.0.0.1:5432/h 1000 30
//! ```
//!
//! Records RUNS runs of QUERIES queries each (every query with two
//! findings) into a fresh history, the way `check` does at the end of a
//! run, then reads back what the drift rules read before the next one
//! (every query's last 14 runs); prints the median wall time of a write
//! and of that read. The database or file must be empty (or new).

use std::process::ExitCode;
use std::time::Instant;

use planguard::history::{FindingRecord, QueryRecord, Run, SeriesKey, Store, Target};

fn run_of(at: i64, queries: usize) -> Run {
    let finding = |rule: &str| FindingRecord {
        rule: rule.to_owned(),
        severity: "warning".to_owned(),
        regression: true,
        message: format!(
            "{rule}: a message of the usual length, with figures 12.3 ms and 1234 blocks"
        ),
        causes: "index orders_customer_idx on public.orders was dropped".to_owned(),
    };
    Run {
        id: 0,
        started_at: at,
        command: "check".to_owned(),
        server: "app@db:5432/app".to_owned(),
        server_version: Some("15.18".to_owned()),
        settings_hash: "0".repeat(64),
        planguard_version: "0.1.0".to_owned(),
        queryset_hash: "1".repeat(64),
        stats_hash: None,
        queries: (0..queries)
            .map(|i| QueryRecord {
                query_id: format!("reports/query_{i:05}"),
                status: "ok".to_owned(),
                fingerprint: Some(format!("{i:064x}")),
                total_cost: Some(1234.5 + i as f64),
                execution_ms: Some(12.3),
                execution_ms_spread: Some(0.4),
                planning_ms: Some(0.2),
                shared_blocks: Some(310),
                actual_rows: Some(20.0),
                findings: vec![finding("seq-scan"), finding("cost-jump")],
            })
            .collect(),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, place, queries, runs] = args.as_slice() else {
        eprintln!("usage: history_write sqlite|postgres PATH|URL QUERIES RUNS");
        return ExitCode::from(2);
    };
    let target = match kind.as_str() {
        "sqlite" => Target::Sqlite(place.into()),
        _ => Target::Postgres(place.clone()),
    };
    let (Ok(queries), Ok(runs)) = (queries.parse::<usize>(), runs.parse::<i64>()) else {
        eprintln!("QUERIES and RUNS are numbers");
        return ExitCode::from(2);
    };
    let store = match Store::open(&target).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut writes, mut reads) = (Vec::new(), Vec::new());
    for day in 0..runs {
        let run = run_of(1_764_547_200 + day * 86_400, queries);
        let started = Instant::now();
        if let Err(e) = store.record(&run, None).await {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        writes.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let key = SeriesKey {
            server: run.server.clone(),
            settings_hash: run.settings_hash.clone(),
            stats_hash: None,
        };
        match store.series(14, &key).await {
            Ok(series) => assert_eq!(series.len(), queries),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
        reads.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "{kind}: {runs} runs of {queries} queries (2 findings each): write median {:.1} ms, \
         last write {:.1} ms; read of the last 14 runs per query median {:.1} ms, last {:.1} ms",
        median(writes.clone()),
        writes.last().copied().unwrap_or_default(),
        median(reads.clone()),
        reads.last().copied().unwrap_or_default(),
    );
    ExitCode::SUCCESS
}
