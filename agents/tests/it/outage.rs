//! A database that cannot take a tool result's checkpoint for a moment:
//! the run keeps the result it holds and writes it once the database is
//! back, instead of re-running a read tool or sending a write to review. A
//! checkpoint that committed although its answer was lost is not written a
//! second time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::Duration as Span;
use tokio_util::sync::CancellationToken;
use vigil_agents::Mode;
use vigil_agents::runner::{Ports, Step};
use vigil_engine::event::{Event, EventKind, StepEvent};
use vigil_engine::machine::ApprovalDraft;
use vigil_engine::result::Completion;
use vigil_engine::store::{Cause, Error, Leases, Result};
use vigil_engine::{ApprovalRequest, Investigation, InvestigationId, Status};

use crate::runner::{Fixture, VALID, submit};
use crate::support::scripted::tool_calls;
use crate::support::{Backend, on_both_stores};

on_both_stores!(
    a_tool_result_checkpoint_refused_for_a_moment_is_written_once_later,
    a_tool_result_checkpoint_whose_answer_was_lost_is_not_written_twice,
);

/// When the first tool-result checkpoint fails, and how.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// Refused before anything is written.
    Refused,
    /// Written, but the answer is lost on the way back.
    AnswerLost,
}

/// The real store's leases, with one fault on the first checkpoint that
/// carries a tool result.
struct FaultyLeases {
    inner: Arc<dyn vigil_engine::store::Store>,
    fault: Fault,
    tripped: AtomicUsize,
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
        let has_result = events.iter().any(|e| matches!(e, StepEvent::ToolResult(_)));
        if has_result && self.tripped.fetch_add(1, Ordering::SeqCst) == 0 {
            if self.fault == Fault::AnswerLost {
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

async fn run_through(b: Backend, fault: Fault) {
    let fx = Fixture::new(b).await;
    fx.model.push(tool_calls(&[(
        "ip_reputation",
        r#"{"ip":"185.220.101.4"}"#,
        Some("c1"),
    )]));
    fx.model.push(submit(VALID));
    let inv = fx.start().await;
    let ports = Ports {
        leases: Arc::new(FaultyLeases {
            inner: fx.store.clone(),
            fault,
            tripped: AtomicUsize::new(0),
        }),
        reads: fx.store.clone(),
        dispatcher: fx.store.clone(),
    };
    assert_eq!(
        fx.runner_on(ports, Mode::Real)
            .run(&inv, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed
    );
    assert_eq!(fx.tools.count(), 1, "the read tool ran once");
    let done = fx.store.get(inv.id).await.unwrap();
    assert_eq!(done.status, Status::Completed);
    let kinds = fx.kinds(&inv).await;
    let results = kinds
        .iter()
        .filter(|k| **k == EventKind::ToolResult)
        .count();
    assert_eq!(results, 1, "one tool result in the log: {kinds:?}");
    let report = fx.store.verify_chain(inv.id).await.unwrap();
    assert!(report.valid, "{report:?}");
    fx.cleanup().await;
}

pub async fn a_tool_result_checkpoint_refused_for_a_moment_is_written_once_later(b: Backend) {
    run_through(b, Fault::Refused).await;
}

pub async fn a_tool_result_checkpoint_whose_answer_was_lost_is_not_written_twice(b: Backend) {
    run_through(b, Fault::AnswerLost).await;
}
