//! Integration tests of the PostgreSQL store against a real server: the
//! shared conformance suite (each test in its own schema), plus
//! PostgreSQL-specific behaviour.
//!
//! The server is `VIGIL_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). These tests never skip:
//! without a server they fail and say so.

mod conformance;
mod postgres_specific;
