//! Integration tests, one binary (the crate links once).

mod connect;
mod corpus;
mod plan_text;
mod support;
mod tempdb;
