//! # vigil-workers
//!
//! Vigil's running engine: the apalis claim backend over the store, lease
//! heartbeats, the reaper and the approval-expiry sweep on cron schedules, and
//! graceful shutdown.
//!
//! Depends on `vigil-engine` (and later `vigil-agents`); never on the HTTP API.
//!
//! This crate is filled by the workers work; it currently exposes nothing.
