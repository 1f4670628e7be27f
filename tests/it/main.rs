//! Integration tests, one binary (the crate links once).

mod support;
