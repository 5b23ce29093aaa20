//! Integration tests of the HTTP API: every route through `app(state)` and
//! `oneshot`, on a real SQLite file and a real PostgreSQL schema.

mod alerts;
mod approvals;
mod case_investigations;
mod cases;
mod input;
mod investigations;
mod openapi;
mod receipts;
mod roles;
mod streams;
mod support;
mod webhooks;
