//! # vigil-api
//!
//! Vigil's HTTP API under `/api/v1`: dispatch, timelines, live streams,
//! rescue, approvals and review, with bearer-token auth and an OpenAPI document.
//!
//! Depends on `vigil-engine` and store trait objects only; never on a concrete
//! store crate or the worker runtime.
//!
//! This crate is filled by the API work; it currently exposes nothing.
