//! # vigil-agents
//!
//! The part of Vigil that investigates:
//! - [`runner`]: the agent loop a worker calls with a claimed investigation,
//!   and [`history`], which rebuilds the conversation from the event log and
//!   holds the resume rules;
//! - [`tool`]: the [`tool::Tool`] contract, approval policies, and the
//!   outcome the model sees;
//! - [`registry`]: tool lookup, argument validation against each tool's JSON
//!   schema, and output capping, so an invalid call, an unknown tool or a tool
//!   failure becomes a result the model sees, never a crash;
//! - [`http`]: tools declared in configuration that call HTTP endpoints;
//!   [`case_tools`]: built-in tools that write to cases through the store's
//!   case ports, as the investigation; [`mcp`]: the tools of MCP servers,
//!   under Vigil's effect and approval policy;
//! - [`delegate`]: `delegate_investigation`, the built-in tool that
//!   dispatches a child investigation and waits for it;
//! - [`catalog`]: agents declared in configuration, with their budgets and
//!   output schema;
//! - [`model`]: the [`model::ChatModel`] port, and [`openai`], its
//!   adapter for any OpenAI-compatible endpoint;
//! - [`config`]: values read from configuration (the runtime mode, token
//!   prices, secrets that never print, durations); [`setup`]: the mode
//!   rules, and building tools, agents and the model from configuration;
//!   [`dummy`]: the offline showcase (scripted model and fixture tools);
//! - `testing` (feature `test-util`): loopback model and tool servers.
//!
//! Depends on `vigil-engine` only among workspace crates; it must never depend
//! on a concrete store, the worker runtime or the HTTP API (the case tools
//! take the store as `vigil-engine`'s ports).

pub mod case_tools;
pub mod catalog;
pub mod config;
pub mod delegate;
pub mod dummy;
pub mod history;
pub mod http;
pub mod mcp;
pub mod model;
pub mod openai;
pub mod registry;
pub mod runner;
pub mod setup;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod tool;
pub mod trace;

pub use catalog::{Agent, AgentBudget, AgentConfig, Catalog, CatalogError};
pub use config::{Mode, Price, Secret};
pub use model::{ChatModel, ChatRequest, ChatResponse, Message, ModelError, ToolDef};
pub use openai::{OpenAiConfig, OpenAiModel, RetryPolicy};
pub use registry::{Prepared, RegistryError, ToolOutcome, ToolRegistry};
pub use tool::{AllowRule, ApprovalPolicy, CallContext, Tool, ToolError, ToolSpec};
