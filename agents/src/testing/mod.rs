//! Test support (feature `test-util`): loopback servers that stand in for
//! the outside world, so tests exercise the real HTTP clients.
//!
//! - [`model`]: a scripted OpenAI-compatible chat-completions server, either
//!   replaying a queue of replies or answering from a function of the request;
//! - [`tools`]: a tool endpoint that records every request it gets.

pub mod model;
pub mod tools;
