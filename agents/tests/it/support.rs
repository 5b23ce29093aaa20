//! What the agent tests share: a fresh store on either backend, the macro
//! that runs a test body on both, and the library's test servers (a
//! scripted OpenAI-compatible model, a recording tool server).

use std::sync::Arc;

use vigil_engine::ManualClock;
use vigil_engine::store::Store;

pub use vigil_agents::testing::model as scripted;
pub use vigil_agents::testing::tools;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What keeps a test's store alive: its SQLite file's directory, or its
/// PostgreSQL schema (dropped by [`Keep::release`]).
pub enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema(vigil_store_postgres::testing::TestSchema),
}

impl Keep {
    /// Drops what the store left behind (a PostgreSQL schema).
    pub async fn release(self) {
        if let Keep::Schema(schema) = &self {
            schema.drop_now().await;
        }
    }
}

/// A fresh store of the given kind on `clock`, and what keeps it alive.
pub async fn open_store(backend: Backend, clock: Arc<ManualClock>) -> (Arc<dyn Store>, Keep) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("vigil.db").display());
            let store = vigil_store_sqlite::open(vigil_store_sqlite::Options::new(url), clock)
                .await
                .unwrap();
            (Arc::new(store), Keep::Dir(dir))
        }
        Backend::Postgres => {
            let schema = vigil_store_postgres::testing::TestSchema::new();
            let store = schema.open(clock).await;
            (Arc::new(store), Keep::Schema(schema))
        }
    }
}

/// Runs each named test body (`async fn name(backend: Backend)` in the
/// invoking module) on SQLite and on PostgreSQL, as `sqlite::name` and
/// `postgres::name`.
macro_rules! on_both_stores {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::support::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::support::Backend::Postgres).await;
                }
            )+
        }
    };
}
pub(crate) use on_both_stores;
