//! Integration tests, one binary (the crate links once).

mod capture;
mod connect;
mod queryset;
mod support;
mod tempdb;
