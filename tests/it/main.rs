//! Integration tests, one binary (the crate links once).

mod capture;
mod connect;
mod support;
mod tempdb;
