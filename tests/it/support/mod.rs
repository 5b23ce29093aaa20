//! What the end-to-end tests share: running the binary ([`process`]) and
//! reaching PostgreSQL ([`postgres`]).

pub mod postgres;
pub mod process;

pub use postgres::{PrivateCluster, TempDatabase};
pub use process::{
    Proc, Served, client, command, finish, free_port, ok, serve, serve_with_env, stderr, stdout,
    vigil,
};
