//! Integration tests, one binary (the crate links once).

mod connect;
mod plan_json;
mod plan_shape;
mod report;
mod rules;
mod support;
mod tempdb;
