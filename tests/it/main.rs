//! Integration tests, one binary (the crate links once).

mod cli_offline;
mod connect;
mod plan_json;
mod plan_shape;
mod runner;
mod support;
mod tempdb;
