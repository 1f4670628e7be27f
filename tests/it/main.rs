//! Integration tests, one binary (the crate links once).

mod connect;
mod runner;
mod support;
mod tempdb;
