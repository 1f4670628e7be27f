//! Integration tests, one binary (the crate links once).

mod advisor;
mod baseline;
mod capture;
mod check;
mod cli_offline;
mod connect;
mod corpus;
mod demo;
mod faults;
mod fuzz_corpus;
mod hostile;
mod html;
mod plan_json;
mod plan_shape;
mod plan_text;
mod privileges;
mod queryset;
mod report;
mod report_formats;
mod rules;
mod runner;
mod secrets;
mod snapshot;
mod support;
mod tempdb;
