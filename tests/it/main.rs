//! Integration tests, one binary (the crate links once).

mod connect;
mod support;
mod tempdb;
