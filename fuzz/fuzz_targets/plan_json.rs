//! EXPLAIN (FORMAT JSON) output: any bytes parse to a plan or give an
//! error, never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(plan) = planguard::plan::parse_json(data) {
        // What a parsed plan goes through next: the shape and back to JSON.
        let _ = planguard::plan::shape::fingerprint(&plan);
        let _ = planguard::plan::to_json(&plan);
    }
});
