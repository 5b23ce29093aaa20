//! End-to-end tests of the `vigil` binary: real processes, real databases.
//!
//! PostgreSQL tests use `VIGIL_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and fail, never skip,
//! without a server.

mod alerts_cli;
mod api;
mod bench;
mod cases_cli;
mod check;
mod cli;
mod console;
mod crash;
mod delegation;
mod fuzz;
mod mcp;
mod mcp_tools;
mod migrate;
mod showcase;
mod showcase_flow;
mod support;
mod telemetry;
