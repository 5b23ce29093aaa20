//! What the end-to-end tests share: running the binary ([`process`]) and
//! reaching PostgreSQL ([`postgres`]), the Python MCP SDK ([`python`]).

pub mod postgres;
pub mod process;
pub mod python;

pub use postgres::{PrivateCluster, TempDatabase};
pub use process::{
    Proc, Served, client, command, finish, free_port, ok, serve, serve_with_env, stderr, stdout,
    vigil,
};
pub use python::mcp_python;
