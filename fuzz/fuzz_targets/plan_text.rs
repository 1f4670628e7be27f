//! EXPLAIN text output (and whatever `planguard explain FILE` is given):
//! any text parses to a plan or gives an error, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(plan) = planguard::plan::parse_text(text) {
        let _ = planguard::plan::shape::fingerprint(&plan);
    }
    // The format detection in front of both parsers.
    let _ = planguard::plan::parse(text);
});
