//! A query file as people edit it by hand: the lexer, the
//! `-- planguard:` directives and the statement classification.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(query) = planguard::queryset::Query::parse("fuzz", Path::new("fuzz.sql"), text) {
        let _ = query.refusal(false, true);
    }
});
