//! # vigil-agents
//!
//! The part of Vigil that investigates: the `ChatModel` port and its
//! OpenAI-compatible adapter, declared tools, and the agent step function that
//! rebuilds a conversation from the event log and checkpoints every step
//! through the store.
//!
//! Depends on `vigil-engine` only among workspace crates; it must never depend
//! on a concrete store, the worker runtime or the HTTP API.
//!
//! This crate is filled by the agent-loop work; it currently exposes nothing.
