//! A PostgreSQL server log (stderr, csvlog or jsonlog) for `capture --from
//! log`: any bytes give statements or an error, never a panic, a hang or
//! unbounded memory.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = planguard::capture::log::read(data, Path::new("fuzz.log"));
});
