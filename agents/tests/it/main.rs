//! Integration tests of vigil-agents: tools against a loopback HTTP server,
//! the registry's validation and capping, tool sources, and the agent catalog.

mod cancel;
mod case_tools;
mod catalog;
mod children;
mod dummy;
mod http_tools;
mod ids;
mod model;
mod outage;
mod runner;
mod sources;
mod support;
