//! Integration tests of the SQLite store: the shared conformance suite on
//! real database files, plus SQLite-specific behaviour.

mod conformance;
mod sqlite_specific;
