//! # vigil-agents
//!
//! The part of Vigil that investigates. So far:
//! - [`tool`]: the [`Tool`](tool::Tool) contract, approval policies, and the
//!   outcome the model sees;
//! - [`registry`]: tool lookup, argument validation against each tool's JSON
//!   schema, and output capping, so an invalid call, an unknown tool or a tool
//!   failure becomes a result the model sees, never a crash;
//! - [`http`]: tools declared in configuration that call HTTP endpoints;
//! - [`catalog`]: agents declared in configuration, with their budgets and
//!   output schema.
//!
//! Depends on `vigil-engine` only among workspace crates; it must never depend
//! on a concrete store, the worker runtime or the HTTP API.

pub mod catalog;
pub mod duration;
pub mod http;
pub mod registry;
pub mod tool;

pub use catalog::{Agent, AgentBudget, AgentConfig, Catalog, CatalogError};
pub use registry::{Prepared, RegistryError, ToolOutcome, ToolRegistry};
pub use tool::{AllowRule, ApprovalPolicy, Tool, ToolError, ToolSpec};
