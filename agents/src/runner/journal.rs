//! The run's side of its event log: what it has written, what it holds
//! back, and the lease every write names.

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use serde_json::Value;
use vigil_engine::case::CaseId;
use vigil_engine::event::{Event, EventBody, ModelTurn, StepEvent};
use vigil_engine::machine::ApprovalDraft;
use vigil_engine::model::{Investigation, InvestigationId};
use vigil_engine::result::Completion;
use vigil_engine::store::{self, Leases, Reads};

use super::{Error, Flow, Halt, Ports, Step};
use crate::history::History;

/// Events read from the log per call when a run starts.
const PAGE: u32 = 1000;

/// Waits before each new try of a checkpoint the database could not take
/// (about 6 s in all). Meanwhile the process still holds the step's outcome
/// and its lease; a lease lost meanwhile ends the tries at once.
const CHECKPOINT_RETRIES: [Duration; 6] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
    Duration::from_millis(3200),
];

/// One claimed run's journal. It owns the [`History`] rebuilt from the log,
/// the lease (investigation id and epoch) that fences every write, and at
/// most one model turn held back from the log.
///
/// A held turn is written in the same checkpoint as the next event
/// recorded (normally its first call's intent, or that call's result when
/// the call is refused), saving a commit per tool-calling turn. Every other
/// write first writes the held turn alone, so a turn is never lost behind a
/// lifecycle write. A crash while a turn is held loses only the model's
/// answer, and the model is asked again on resume.
///
/// After the log is read once, this run's own fenced writes are the only
/// appends, so the history is kept up to date from the sealed events each
/// write returns.
pub(super) struct Journal {
    leases: Arc<dyn Leases>,
    reads: Arc<dyn Reads>,
    id: InvestigationId,
    epoch: i64,
    /// Whether the run's case requires a person's approval of every write
    /// tool (read by the store when this claim was made).
    case_requires_approval: bool,
    /// The case the run is linked to, if any.
    case_id: Option<CaseId>,
    /// How many delegations deep the run is.
    depth: i32,
    /// The trace context the run continues ([`Investigation::trace_context`]).
    traceparent: String,
    history: History,
    /// The seq of the newest event this journal has seen.
    last_seq: i64,
    held: Option<ModelTurn>,
}

impl Journal {
    /// Reads the log of `inv`, claimed under `inv.lease_epoch`.
    pub(super) async fn open(ports: &Ports, inv: &Investigation) -> Result<Self, Error> {
        let mut events: Vec<Event> = Vec::new();
        loop {
            let after = events.last().map_or(0, |e| e.seq);
            let page = ports.reads.events(inv.id, after, PAGE).await?;
            let done = page.len() < PAGE as usize;
            events.extend(page);
            if done {
                break;
            }
        }
        Ok(Self {
            leases: ports.leases.clone(),
            reads: ports.reads.clone(),
            id: inv.id,
            epoch: inv.lease_epoch,
            case_requires_approval: inv.case_requires_approval,
            case_id: inv.case_id,
            depth: inv.depth(),
            traceparent: inv.trace_context().to_string(),
            last_seq: events.last().map_or(0, |e| e.seq),
            history: History::from_events(&events),
            held: None,
        })
    }

    /// Whether the run's case makes every write tool need approval
    /// (`requires_human_approval`), as it was when the run was claimed.
    pub(super) fn case_requires_approval(&self) -> bool {
        self.case_requires_approval
    }

    /// The case the run is linked to (`Investigation::case_id`), if any.
    pub(super) fn case_id(&self) -> Option<CaseId> {
        self.case_id
    }

    /// How many delegations deep the run is (0: a principal dispatched it).
    pub(super) fn depth(&self) -> i32 {
        self.depth
    }

    /// The trace context the run continues, as a `traceparent` value.
    pub(super) fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The conversation so far, as journaled (without a held turn).
    pub(super) fn history(&self) -> &History {
        &self.history
    }

    /// Holds `turn` back until the next write. At most one turn is held.
    pub(super) fn hold(&mut self, turn: ModelTurn) {
        debug_assert!(self.held.is_none(), "a held turn was never written");
        self.held = Some(turn);
    }

    /// The newest model turn, held or journaled.
    pub(super) fn last_turn(&self) -> Option<&ModelTurn> {
        self.held.as_ref().or_else(|| self.history.last_turn())
    }

    /// How often the model called `name` with arguments equal (as JSON) to
    /// `arguments` over the whole run, the held turn included.
    pub(super) fn times_called(&self, name: &str, arguments: &Value) -> usize {
        let held = self.held.as_ref().map_or(0, |turn| {
            turn.tool_calls
                .iter()
                .filter(|c| c.name == name)
                .filter(|c| {
                    serde_json::from_str::<Value>(&c.arguments).is_ok_and(|v| v == *arguments)
                })
                .count()
        });
        self.history.times_called(name, arguments) + held
    }

    /// Checkpoints `event`, after the held turn if there is one, in one
    /// commit.
    pub(super) async fn record(&mut self, event: StepEvent) -> Flow {
        self.write(Some(event)).await
    }

    /// Checkpoints the held turn alone, if there is one.
    pub(super) async fn flush(&mut self) -> Flow {
        self.write(None).await
    }

    async fn write(&mut self, event: Option<StepEvent>) -> Flow {
        let events: Vec<StepEvent> = self
            .held
            .take()
            .map(StepEvent::ModelTurn)
            .into_iter()
            .chain(event)
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        let span = tracing::info_span!(
            "checkpoint",
            events = events.len(),
            commit_ms = tracing::field::Empty
        );
        let started = std::time::Instant::now();
        let sealed = self.checkpoint(events).instrument(span.clone()).await?;
        span.record("commit_ms", started.elapsed().as_millis() as u64);
        if let (Some(first), Some(last)) = (sealed.first(), sealed.last()) {
            span.set_attribute(crate::trace::VIGIL_CHECKPOINT_FIRST_SEQ, first.seq);
            span.set_attribute(crate::trace::VIGIL_CHECKPOINT_LAST_SEQ, last.seq);
        }
        for event in &sealed {
            self.history.record(event);
        }
        self.last_seq = sealed.last().map_or(self.last_seq, |e| e.seq);
        Ok(())
    }

    /// Checkpoints `events`, trying again in place while the database cannot
    /// be reached: the step's outcome (a tool's result above all) is in hand
    /// and the lease is held, so it is not thrown away. Before each new try
    /// the log is read: a checkpoint that committed although its answer was
    /// lost is found there and not written twice.
    async fn checkpoint(&self, events: Vec<StepEvent>) -> Flow<Vec<Event>> {
        let mut waits = CHECKPOINT_RETRIES.iter();
        loop {
            match self
                .leases
                .checkpoint(self.id, self.epoch, events.clone())
                .await
            {
                Err(e) if e.is_transient() => {
                    let Some(wait) = waits.next() else {
                        return fenced(Err(e));
                    };
                    tracing::warn!(
                        investigation.id = %self.id,
                        error = %e,
                        "checkpoint not taken; trying again in {wait:?}"
                    );
                    tokio::time::sleep(*wait).await;
                    if let Some(written) = self.already_written(&events).await {
                        return Ok(written);
                    }
                }
                other => return fenced(other),
            }
        }
    }

    /// The events after this journal's last seq, if they are exactly
    /// `events` written under this lease.
    async fn already_written(&self, events: &[StepEvent]) -> Option<Vec<Event>> {
        let after = self
            .reads
            .events(self.id, self.last_seq, events.len() as u32 + 1)
            .await
            .ok()?;
        let same = after.len() == events.len()
            && after.iter().zip(events).all(|(stored, wanted)| {
                let wanted = EventBody::from(wanted.clone());
                stored.epoch == self.epoch
                    && stored.kind == wanted.kind()
                    && stored.payload == wanted.payload()
            });
        same.then_some(after)
    }

    /// Finishes the run: `completed` for a valid result, `review_required`
    /// otherwise.
    pub(super) async fn complete(&mut self, outcome: Completion) -> Halt {
        let step = match outcome {
            Completion::Valid { .. } => Step::Completed,
            Completion::Invalid { .. } => Step::ReviewRequired,
        };
        if let Err(halt) = self.flush().await {
            return halt;
        }
        stop_at(
            step,
            self.leases.complete(self.id, self.epoch, outcome).await,
        )
    }

    /// Ends the run without a result.
    pub(super) async fn fail(&mut self, reason: &str) -> Halt {
        if let Err(halt) = self.flush().await {
            return halt;
        }
        stop_at(
            Step::Failed,
            self.leases.fail(self.id, self.epoch, reason).await,
        )
    }

    /// The investigation this journal belongs to.
    pub(super) fn id(&self) -> InvestigationId {
        self.id
    }

    /// Renews the lease to now + `lease_for` (fenced, like every write) and
    /// returns when it now runs out, by the store's clock.
    pub(super) async fn renew(
        &mut self,
        lease_for: chrono::Duration,
    ) -> Flow<Option<chrono::DateTime<chrono::Utc>>> {
        let renewed = fenced(self.leases.heartbeat(self.id, self.epoch, lease_for).await)?;
        Ok(renewed.lease_expires_at)
    }

    /// Gives the run back to the queue; it stops at `step`.
    pub(super) async fn release(&mut self, reason: &str, step: Step) -> Halt {
        if let Err(halt) = self.flush().await {
            return halt;
        }
        stop_at(
            step,
            self.leases.release(self.id, self.epoch, reason, None).await,
        )
    }

    /// Gives the run back to the queue to retry later: a new attempt, not
    /// claimed before `not_before`; it stops at `step`.
    pub(super) async fn retry_later(
        &mut self,
        reason: &str,
        not_before: chrono::DateTime<chrono::Utc>,
        step: Step,
    ) -> Halt {
        if let Err(halt) = self.flush().await {
            return halt;
        }
        stop_at(
            step,
            self.leases
                .release(self.id, self.epoch, reason, Some(not_before))
                .await,
        )
    }

    /// Parks the run until `children` finish, releasing the lease, and
    /// stops it at [`Step::AwaitingChildren`]; goes on when they all have
    /// finished already.
    pub(super) async fn await_children(&mut self, children: Vec<InvestigationId>) -> Flow {
        self.flush().await?;
        match fenced(
            self.leases
                .await_children(self.id, self.epoch, children)
                .await,
        )? {
            Some(_) => Err(Halt::At(Step::AwaitingChildren)),
            None => Ok(()),
        }
    }

    /// Parks the run on a new approval request, releasing the lease.
    pub(super) async fn await_approval(&mut self, draft: ApprovalDraft) -> Halt {
        if let Err(halt) = self.flush().await {
            return halt;
        }
        stop_at(
            Step::AwaitingApproval,
            self.leases.await_approval(self.id, self.epoch, draft).await,
        )
    }
}

/// Where the run stops after a lifecycle write: at `step` if it succeeded.
fn stop_at<T>(step: Step, result: store::Result<T>) -> Halt {
    match fenced(result) {
        Ok(_) => Halt::At(step),
        Err(halt) => halt,
    }
}

/// A store result as the loop sees it: `LeaseLost` stops the run quietly
/// at [`Step::LeaseLost`] (nothing more may be written), any other error
/// stops it with that error.
pub(super) fn fenced<T>(result: store::Result<T>) -> Flow<T> {
    match result {
        Ok(value) => Ok(value),
        Err(store::Error::LeaseLost { .. }) => {
            tracing::info!("lease lost; stopping without another write");
            Err(Halt::At(Step::LeaseLost))
        }
        Err(e) => Err(Halt::Failed(Error::Store(e))),
    }
}
