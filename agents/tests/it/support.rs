//! What the agent tests share: a fresh store on either backend, the macro
//! that runs a test body on both, and the library's test servers (a
//! scripted OpenAI-compatible model, a recording tool server).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Duration as Span;
use vigil_agents::{OpenAiConfig, OpenAiModel, RetryPolicy, Secret};
use vigil_engine::event::{Event, StepEvent};
use vigil_engine::machine::ApprovalDraft;
use vigil_engine::result::Completion;
use vigil_engine::store::{Cause, Error, Leases, Result, Store};
use vigil_engine::{ApprovalRequest, Investigation, InvestigationId, ManualClock};

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

/// The client of a scripted model server at `addr` (model `scripted-1`,
/// no retries).
pub fn scripted_model(addr: std::net::SocketAddr) -> OpenAiModel {
    OpenAiModel::new(OpenAiConfig {
        base_url: format!("http://{addr}/v1"),
        api_key: Secret::new("sk-test"),
        model: "scripted-1".into(),
        timeout: Duration::from_secs(10),
        temperature: None,
        max_output_tokens: None,
        retry: RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        },
        compat: Default::default(),
    })
    .unwrap()
}

/// What [`FaultyLeases`] does wrong, once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// The first checkpoint carrying a tool result is refused before
    /// anything is written.
    CheckpointRefused,
    /// The first checkpoint carrying a tool result is written, but its
    /// answer is lost on the way back.
    CheckpointAnswerLost,
    /// The first `await_children` fails, as if the worker died after
    /// dispatching the children and before parking.
    DiesBeforeParking,
}

/// A real store's leases with one injected [`Fault`].
pub struct FaultyLeases {
    inner: Arc<dyn Store>,
    fault: Fault,
    tripped: AtomicUsize,
    parked_once: AtomicBool,
}

impl FaultyLeases {
    pub fn new(inner: Arc<dyn Store>, fault: Fault) -> Self {
        Self {
            inner,
            fault,
            tripped: AtomicUsize::new(0),
            parked_once: AtomicBool::new(false),
        }
    }
}

fn unavailable() -> Error {
    Error::Unavailable(Cause::msg("connection reset (injected)"))
}

#[async_trait]
impl Leases for FaultyLeases {
    async fn claim_next(
        &self,
        agents: &[String],
        worker: &str,
        mode: Option<&str>,
        lease_for: Span,
    ) -> Result<Option<Investigation>> {
        self.inner.claim_next(agents, worker, mode, lease_for).await
    }

    async fn claim_up_to(
        &self,
        agents: &[String],
        worker: &str,
        mode: Option<&str>,
        lease_for: Span,
        limit: usize,
    ) -> Result<Vec<Investigation>> {
        self.inner
            .claim_up_to(agents, worker, mode, lease_for, limit)
            .await
    }

    async fn has_claimable(&self, agents: &[String]) -> Result<bool> {
        self.inner.has_claimable(agents).await
    }

    async fn record_segment(
        &self,
        id: InvestigationId,
        epoch: i64,
        traceparent: &str,
    ) -> Result<()> {
        self.inner.record_segment(id, epoch, traceparent).await
    }

    async fn heartbeat(
        &self,
        id: InvestigationId,
        epoch: i64,
        lease_for: Span,
    ) -> Result<Investigation> {
        self.inner.heartbeat(id, epoch, lease_for).await
    }

    async fn checkpoint(
        &self,
        id: InvestigationId,
        epoch: i64,
        events: Vec<StepEvent>,
    ) -> Result<Vec<Event>> {
        let checkpoint_fault = matches!(
            self.fault,
            Fault::CheckpointRefused | Fault::CheckpointAnswerLost
        );
        let has_result = events.iter().any(|e| matches!(e, StepEvent::ToolResult(_)));
        if checkpoint_fault && has_result && self.tripped.fetch_add(1, Ordering::SeqCst) == 0 {
            if self.fault == Fault::CheckpointAnswerLost {
                self.inner.checkpoint(id, epoch, events).await?;
            }
            return Err(unavailable());
        }
        self.inner.checkpoint(id, epoch, events).await
    }

    async fn await_approval(
        &self,
        id: InvestigationId,
        epoch: i64,
        request: ApprovalDraft,
    ) -> Result<ApprovalRequest> {
        self.inner.await_approval(id, epoch, request).await
    }

    async fn await_children(
        &self,
        id: InvestigationId,
        epoch: i64,
        children: Vec<InvestigationId>,
    ) -> Result<Option<Investigation>> {
        if self.fault == Fault::DiesBeforeParking && !self.parked_once.swap(true, Ordering::SeqCst)
        {
            return Err(unavailable());
        }
        self.inner.await_children(id, epoch, children).await
    }

    async fn release(
        &self,
        id: InvestigationId,
        epoch: i64,
        reason: &str,
        not_before: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Investigation> {
        self.inner.release(id, epoch, reason, not_before).await
    }

    async fn complete(
        &self,
        id: InvestigationId,
        epoch: i64,
        outcome: Completion,
    ) -> Result<Investigation> {
        self.inner.complete(id, epoch, outcome).await
    }

    async fn fail(&self, id: InvestigationId, epoch: i64, reason: &str) -> Result<Investigation> {
        self.inner.fail(id, epoch, reason).await
    }
}
