//! Tests of [`super::transition`].
//!
//! Three layers: an explicit table over every (state, command) pair, which is
//! the executable form of `docs/state-machine.md`; focused tests of single
//! behaviours (fencing, approvals, review, usage); and property tests that
//! drive random command sequences and check the machine's invariants over the
//! whole run. Time is a fixed start plus explicit `chrono::Duration` steps.

use chrono::TimeZone;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::event::{Effect, EventKind, ModelTurn, ToolCall, ToolIntent, ToolResult};
use crate::log::{GENESIS, Verifier};

const REQUESTER: &str = "alice";
const APPROVER: &str = "bob";
const OPERATOR: &str = "olivia";
const WORKER: &str = "worker-1";
const OTHER_WORKER: &str = "worker-2";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap()
}

fn lease() -> Duration {
    Duration::minutes(5)
}

fn new_investigation(id: u128) -> NewInvestigation {
    NewInvestigation {
        id: InvestigationId(Uuid::from_u128(id)),
        agent_id: "triage".to_owned(),
        prompt: "look at the failed SSH logins from 185.220.101.4".to_owned(),
        requested_by: REQUESTER.to_owned(),
        case_ref: Some("CASE-42".to_owned()),
        case_id: None,
        case_purpose: crate::model::CasePurpose::Investigate,
        idempotency_key: Some("det-7781".to_owned()),
        budget: Budget::default(),
        traceparent: None,
        parent: None,
    }
}

/// A child the table's parent waits on.
fn child_id() -> InvestigationId {
    InvestigationId(Uuid::from_u128(77))
}

fn valid_result() -> Value {
    json!({
        "summary": "credential stuffing from a Tor exit node, no successful login",
        "key_findings": ["412 failed logins in 10 minutes", "no success"],
        "recommended_next_steps": ["block 185.220.101.4 at the edge"],
        "confidence": 0.8,
    })
}

fn model_turn(input_tokens: i64, output_tokens: i64, cost_usd: f64) -> StepEvent {
    StepEvent::ModelTurn(ModelTurn {
        model: "gpt-test".to_owned(),
        content: None,
        tool_calls: vec![ToolCall {
            id: "call-1".to_owned(),
            name: "lookup_ip".to_owned(),
            arguments: r#"{"ip":"185.220.101.4"}"#.to_owned(),
            wire_id: None,
        }],
        input_tokens,
        output_tokens,
        cost_usd,
    })
}

fn tool_intent(call: &str) -> StepEvent {
    StepEvent::ToolIntent(ToolIntent {
        tool_call_id: call.to_owned(),
        tool: "lookup_ip".to_owned(),
        arguments: json!({"ip": "185.220.101.4"}),
        effect: Effect::Read,
    })
}

fn tool_result(call: &str) -> StepEvent {
    StepEvent::ToolResult(ToolResult {
        tool_call_id: call.to_owned(),
        tool: "lookup_ip".to_owned(),
        output: r#"{"tor_exit": true}"#.to_owned(),
        is_error: false,
        truncated: false,
        original_bytes: None,
    })
}

/// One model turn, the intent of its tool call and the call's result.
fn step_events() -> Vec<StepEvent> {
    vec![
        model_turn(1200, 300, 0.01),
        tool_intent("call-1"),
        tool_result("call-1"),
    ]
}

fn draft(id: u128, expires_at: DateTime<Utc>) -> ApprovalDraft {
    ApprovalDraft {
        id: ApprovalId(Uuid::from_u128(id)),
        tool_call_id: format!("call-isolate-{id}"),
        action: "isolate_host".to_owned(),
        arguments: json!({"host": "web-03"}),
        rationale: Some("host shows beaconing to the same exit node".to_owned()),
        expires_at,
        mode: None,
    }
}

/// A pending approval request the investigation does not wait on.
fn stray_approval(investigation_id: InvestigationId, now: DateTime<Utc>) -> ApprovalRequest {
    ApprovalRequest {
        id: ApprovalId(Uuid::from_u128(0xdead)),
        investigation_id,
        tool_call_id: "call-stray".to_owned(),
        action: "disable_user".to_owned(),
        arguments: json!({"user": "svc-backup"}),
        rationale: None,
        status: ApprovalStatus::Pending,
        created_at: now - Duration::minutes(1),
        expires_at: now + Duration::minutes(30),
        decided_by: None,
        decided_at: None,
        comment: None,
        mode: None,
    }
}

/// Asserts that `t.events` continue the chain whose tail was
/// (`prev_seq`, `prev_hash`) with contiguous seq and linked hashes, and that
/// `t.next` records the new tail.
fn assert_continues_chain(prev_seq: i64, prev_hash: &str, t: &Transition) {
    let mut seq = prev_seq;
    let mut hash = prev_hash.to_owned();
    for event in &t.events {
        assert_eq!(event.seq, seq + 1, "seq must be contiguous: {event:?}");
        assert_eq!(event.prev_hash, hash, "prev_hash must link: {event:?}");
        assert_eq!(event.investigation_id(), t.next.id);
        seq = event.seq;
        hash = event.hash.clone();
    }
    assert_eq!(
        t.next.last_seq, seq,
        "last_seq must be the final event's seq"
    );
    assert_eq!(
        t.next.last_hash, hash,
        "last_hash must be the final event's hash"
    );
}

/// An investigation driven through the machine, with its log and the last
/// approval request it created (kept up to date from approval writes).
#[derive(Debug, Clone)]
struct Run {
    inv: Investigation,
    now: DateTime<Utc>,
    events: Vec<Event>,
    approval: Option<ApprovalRequest>,
}

impl Run {
    fn dispatched() -> Run {
        let t = transition(None, Command::Dispatch(new_investigation(1)), t0()).unwrap();
        assert_continues_chain(0, GENESIS, &t);
        Run {
            inv: t.next,
            now: t0(),
            events: t.events,
            approval: None,
        }
    }

    fn running() -> Run {
        let mut run = Run::dispatched();
        run.advance(Duration::seconds(1));
        run.apply(Command::Claim {
            mode: None,
            worker: WORKER.to_owned(),
            lease_for: lease(),
        });
        run
    }

    fn awaiting() -> Run {
        let mut run = Run::running();
        run.advance(Duration::seconds(30));
        let epoch = run.epoch();
        let expires_at = run.now + Duration::minutes(30);
        run.apply(Command::AwaitApproval {
            epoch,
            request: draft(100, expires_at),
        });
        run
    }

    fn epoch(&self) -> i64 {
        self.inv.lease_epoch
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn try_apply(&self, command: Command) -> Result<Transition, TransitionError> {
        transition(Some(&self.inv), command, self.now)
    }

    fn apply(&mut self, command: Command) -> Transition {
        let name = command.name();
        let t = self
            .try_apply(command)
            .unwrap_or_else(|e| panic!("{name} refused: {e}"));
        self.accept(&t);
        t
    }

    fn accept(&mut self, t: &Transition) {
        assert_continues_chain(self.inv.last_seq, &self.inv.last_hash, t);
        self.events.extend(t.events.iter().cloned());
        match &t.approval {
            Some(ApprovalWrite::Create(request)) => self.approval = Some(request.clone()),
            Some(ApprovalWrite::Resolve {
                id,
                status,
                decided_by,
                decided_at,
                comment,
            }) => {
                if let Some(request) = self.approval.as_mut().filter(|r| r.id == *id) {
                    request.status = *status;
                    request.decided_by.clone_from(decided_by);
                    request.decided_at = Some(*decided_at);
                    request.comment.clone_from(comment);
                }
            }
            None => {}
        }
        self.inv = t.next.clone();
    }

    /// The tracked approval, which must exist.
    fn pending_approval(&self) -> ApprovalRequest {
        self.approval
            .clone()
            .expect("an approval request was created")
    }
}

// ---------------------------------------------------------------------------
// The table over every (state, command) pair.
// ---------------------------------------------------------------------------

/// The states of `docs/state-machine.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Absent,
    Queued,
    Running,
    Awaiting,
    AwaitingChildren,
    Completed,
    ReviewRequired,
    Failed,
    DeadLettered,
}

impl State {
    const ALL: [State; 9] = [
        State::Absent,
        State::Queued,
        State::Running,
        State::Awaiting,
        State::AwaitingChildren,
        State::Completed,
        State::ReviewRequired,
        State::Failed,
        State::DeadLettered,
    ];

    fn of(inv: Option<&Investigation>) -> State {
        let Some(inv) = inv else {
            return State::Absent;
        };
        match (inv.status, inv.phase) {
            (Status::Pending, Some(Phase::Queued)) => State::Queued,
            (Status::Pending, Some(Phase::Running)) => State::Running,
            (Status::Pending, Some(Phase::AwaitingApproval)) => State::Awaiting,
            (Status::Pending, Some(Phase::AwaitingChildren)) => State::AwaitingChildren,
            (Status::Completed, None) => State::Completed,
            (Status::ReviewRequired, None) => State::ReviewRequired,
            (Status::Failed, None) => State::Failed,
            (Status::DeadLettered, None) => State::DeadLettered,
            (status, phase) => panic!("inconsistent record: status {status}, phase {phase:?}"),
        }
    }

    /// The name the machine uses in `NotAllowed { from }`.
    fn label(self) -> &'static str {
        match self {
            State::Absent => "absent",
            State::Queued => "pending/queued",
            State::Running => "pending/running",
            State::Awaiting => "pending/awaiting_approval",
            State::AwaitingChildren => "pending/awaiting_children",
            State::Completed => "completed",
            State::ReviewRequired => "review_required",
            State::Failed => "failed",
            State::DeadLettered => "dead_lettered",
        }
    }
}

/// The command variants, without their parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Dispatch,
    Claim,
    Heartbeat,
    Checkpoint,
    AwaitApproval,
    AwaitChildren,
    ChildrenFinished,
    Decide,
    Expire,
    Release,
    Complete,
    Fail,
    Reap,
    Rescue,
    Cancel,
    Review,
    Annotate,
}

impl Cmd {
    const ALL: [Cmd; 17] = [
        Cmd::Dispatch,
        Cmd::Claim,
        Cmd::Heartbeat,
        Cmd::Checkpoint,
        Cmd::AwaitApproval,
        Cmd::AwaitChildren,
        Cmd::ChildrenFinished,
        Cmd::Decide,
        Cmd::Expire,
        Cmd::Release,
        Cmd::Complete,
        Cmd::Fail,
        Cmd::Reap,
        Cmd::Rescue,
        Cmd::Cancel,
        Cmd::Review,
        Cmd::Annotate,
    ];

    /// Exhaustive over [`Command`], so a new command fails to compile here
    /// until the table covers it.
    fn of(command: &Command) -> Cmd {
        match command {
            Command::Dispatch(_) => Cmd::Dispatch,
            Command::Claim { .. } => Cmd::Claim,
            Command::Heartbeat { .. } => Cmd::Heartbeat,
            Command::Checkpoint { .. } => Cmd::Checkpoint,
            Command::AwaitApproval { .. } => Cmd::AwaitApproval,
            Command::AwaitChildren { .. } => Cmd::AwaitChildren,
            Command::ChildrenFinished { .. } => Cmd::ChildrenFinished,
            Command::Decide { .. } => Cmd::Decide,
            Command::Expire { .. } => Cmd::Expire,
            Command::Release { .. } => Cmd::Release,
            Command::Complete { .. } => Cmd::Complete,
            Command::Fail { .. } => Cmd::Fail,
            Command::Reap => Cmd::Reap,
            Command::Rescue { .. } => Cmd::Rescue,
            Command::Cancel { .. } => Cmd::Cancel,
            Command::Review { .. } => Cmd::Review,
            Command::Annotate { .. } => Cmd::Annotate,
        }
    }

    /// The command's name, as [`Command::name`] gives it.
    fn name(self) -> &'static str {
        match self {
            Cmd::Dispatch => "dispatch",
            Cmd::Claim => "claim",
            Cmd::Heartbeat => "heartbeat",
            Cmd::Checkpoint => "checkpoint",
            Cmd::AwaitApproval => "await_approval",
            Cmd::AwaitChildren => "await_children",
            Cmd::ChildrenFinished => "children_finished",
            Cmd::Decide => "decide",
            Cmd::Expire => "expire",
            Cmd::Release => "release",
            Cmd::Complete => "complete",
            Cmd::Fail => "fail",
            Cmd::Reap => "reap",
            Cmd::Rescue => "rescue",
            Cmd::Cancel => "cancel",
            Cmd::Review => "review",
            Cmd::Annotate => "annotate",
        }
    }

    /// How much a successful command moves `claims` and `attempt`, on a
    /// record whose attempt was `attempt`: every claim counts, the first
    /// claim starts attempt 1, and only a rescue (the previous claim ended
    /// dead-lettered or failed) starts another.
    fn claim_and_attempt_effect(self, attempt: i32) -> (i32, i32) {
        match self {
            Cmd::Claim => (1, i32::from(attempt == 0)),
            Cmd::Rescue => (0, 1),
            Cmd::Dispatch
            | Cmd::Heartbeat
            | Cmd::Checkpoint
            | Cmd::AwaitApproval
            | Cmd::AwaitChildren
            | Cmd::ChildrenFinished
            | Cmd::Decide
            | Cmd::Expire
            | Cmd::Release
            | Cmd::Complete
            | Cmd::Fail
            | Cmd::Reap
            | Cmd::Cancel
            | Cmd::Review
            | Cmd::Annotate => (0, 0),
        }
    }

    /// How much a successful command moves `lease_epoch`.
    fn epoch_bump(self) -> i64 {
        match self {
            Cmd::Claim | Cmd::Reap | Cmd::Rescue | Cmd::Cancel => 1,
            Cmd::Dispatch
            | Cmd::Heartbeat
            | Cmd::Checkpoint
            | Cmd::AwaitApproval
            | Cmd::AwaitChildren
            | Cmd::ChildrenFinished
            | Cmd::Decide
            | Cmd::Expire
            | Cmd::Release
            | Cmd::Complete
            | Cmd::Fail
            | Cmd::Review
            | Cmd::Annotate => 0,
        }
    }
}

/// The epoch a worker command names, or `None` for other commands.
fn held_epoch(command: &Command) -> Option<i64> {
    match command {
        Command::Heartbeat { epoch, .. }
        | Command::Checkpoint { epoch, .. }
        | Command::AwaitApproval { epoch, .. }
        | Command::AwaitChildren { epoch, .. }
        | Command::Release { epoch, .. }
        | Command::Complete { epoch, .. }
        | Command::Fail { epoch, .. } => Some(*epoch),
        Command::Dispatch(_)
        | Command::Claim { .. }
        | Command::ChildrenFinished { .. }
        | Command::Decide { .. }
        | Command::Expire { .. }
        | Command::Reap
        | Command::Rescue { .. }
        | Command::Cancel { .. }
        | Command::Review { .. }
        | Command::Annotate { .. } => None,
    }
}

/// What a command does from a state: the state it leads to, or the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    To(State),
    LeaseLost,
    NotAllowed,
    ApprovalNotPending,
    ApprovalExpired,
    ApprovalNotDue,
    LeaseNotExpired,
    SeparationOfDuties,
    InvalidInput,
}

impl Outcome {
    fn of(result: &Result<Transition, TransitionError>) -> Outcome {
        match result {
            Ok(t) => Outcome::To(State::of(Some(&t.next))),
            Err(TransitionError::LeaseLost { .. }) => Outcome::LeaseLost,
            Err(TransitionError::NotAllowed { .. }) => Outcome::NotAllowed,
            Err(TransitionError::ApprovalNotPending { .. }) => Outcome::ApprovalNotPending,
            Err(TransitionError::ApprovalExpired { .. }) => Outcome::ApprovalExpired,
            Err(TransitionError::ApprovalNotDue { .. }) => Outcome::ApprovalNotDue,
            Err(TransitionError::LeaseNotExpired) => Outcome::LeaseNotExpired,
            Err(TransitionError::SeparationOfDuties { .. }) => Outcome::SeparationOfDuties,
            Err(TransitionError::InvalidInput { .. }) => Outcome::InvalidInput,
        }
    }
}

/// The expected outcome of every (state, command) pair, each command built
/// with well-formed parameters by [`table_command`]: worker commands name the
/// current epoch, `decide` and `expire` name the request the investigation
/// waits on (or an unrelated pending one when it waits on none), and `expire`
/// is issued once that request's deadline has passed.
mod table {
    use super::Cmd::*;
    use super::Outcome::{self, *};
    use super::State::{self, *};

    pub(super) const TABLE: [(State, super::Cmd, Outcome); 153] = [
        // Nothing exists yet: only dispatch.
        (Absent, Dispatch, To(Queued)),
        (Absent, Claim, NotAllowed),
        (Absent, Heartbeat, NotAllowed),
        (Absent, Checkpoint, NotAllowed),
        (Absent, AwaitApproval, NotAllowed),
        (Absent, Decide, NotAllowed),
        (Absent, Expire, NotAllowed),
        (Absent, Release, NotAllowed),
        (Absent, Complete, NotAllowed),
        (Absent, Fail, NotAllowed),
        (Absent, Reap, NotAllowed),
        (Absent, Rescue, NotAllowed),
        (Absent, Cancel, NotAllowed),
        (Absent, Review, NotAllowed),
        (Absent, Annotate, NotAllowed),
        (Absent, AwaitChildren, NotAllowed),
        (Absent, ChildrenFinished, NotAllowed),
        // pending/queued
        (Queued, Dispatch, NotAllowed),
        (Queued, Claim, To(Running)),
        (Queued, Heartbeat, LeaseLost),
        (Queued, Checkpoint, LeaseLost),
        (Queued, AwaitApproval, LeaseLost),
        (Queued, Decide, NotAllowed),
        (Queued, Expire, NotAllowed),
        (Queued, Release, LeaseLost),
        (Queued, Complete, LeaseLost),
        (Queued, Fail, LeaseLost),
        (Queued, Reap, NotAllowed),
        (Queued, Rescue, NotAllowed),
        (Queued, Cancel, To(Failed)),
        (Queued, Review, NotAllowed),
        (Queued, Annotate, To(Queued)),
        (Queued, AwaitChildren, LeaseLost),
        (Queued, ChildrenFinished, NotAllowed),
        // pending/running, lease held under the current epoch and unexpired
        (Running, Dispatch, NotAllowed),
        (Running, Claim, NotAllowed),
        (Running, Heartbeat, To(Running)),
        (Running, Checkpoint, To(Running)),
        (Running, AwaitApproval, To(Awaiting)),
        (Running, Decide, NotAllowed),
        (Running, Expire, NotAllowed),
        (Running, Release, To(Queued)),
        (Running, Complete, To(Completed)),
        (Running, Fail, To(Failed)),
        (Running, Reap, LeaseNotExpired),
        (Running, Rescue, NotAllowed),
        (Running, Cancel, To(Failed)),
        (Running, Review, NotAllowed),
        (Running, Annotate, To(Running)),
        (Running, AwaitChildren, To(AwaitingChildren)),
        (Running, ChildrenFinished, NotAllowed),
        // pending/awaiting_approval
        (Awaiting, Dispatch, NotAllowed),
        (Awaiting, Claim, NotAllowed),
        (Awaiting, Heartbeat, LeaseLost),
        (Awaiting, Checkpoint, LeaseLost),
        (Awaiting, AwaitApproval, LeaseLost),
        (Awaiting, Decide, To(Queued)),
        (Awaiting, Expire, To(Queued)),
        (Awaiting, Release, LeaseLost),
        (Awaiting, Complete, LeaseLost),
        (Awaiting, Fail, LeaseLost),
        (Awaiting, Reap, NotAllowed),
        (Awaiting, Rescue, NotAllowed),
        (Awaiting, Cancel, To(Failed)),
        (Awaiting, Review, NotAllowed),
        (Awaiting, Annotate, To(Awaiting)),
        (Awaiting, AwaitChildren, LeaseLost),
        (Awaiting, ChildrenFinished, NotAllowed),
        // pending/awaiting_children: only its last child finishing (or a cancel) moves it on
        (AwaitingChildren, Dispatch, NotAllowed),
        (AwaitingChildren, Claim, NotAllowed),
        (AwaitingChildren, Heartbeat, LeaseLost),
        (AwaitingChildren, Checkpoint, LeaseLost),
        (AwaitingChildren, AwaitApproval, LeaseLost),
        (AwaitingChildren, AwaitChildren, LeaseLost),
        (AwaitingChildren, ChildrenFinished, To(Queued)),
        (AwaitingChildren, Decide, NotAllowed),
        (AwaitingChildren, Expire, NotAllowed),
        (AwaitingChildren, Release, LeaseLost),
        (AwaitingChildren, Complete, LeaseLost),
        (AwaitingChildren, Fail, LeaseLost),
        (AwaitingChildren, Reap, NotAllowed),
        (AwaitingChildren, Rescue, NotAllowed),
        (AwaitingChildren, Cancel, To(Failed)),
        (AwaitingChildren, Review, NotAllowed),
        (AwaitingChildren, Annotate, To(AwaitingChildren)),
        // completed: final
        (Completed, Dispatch, NotAllowed),
        (Completed, Claim, NotAllowed),
        (Completed, Heartbeat, LeaseLost),
        (Completed, Checkpoint, LeaseLost),
        (Completed, AwaitApproval, LeaseLost),
        (Completed, Decide, NotAllowed),
        (Completed, Expire, NotAllowed),
        (Completed, Release, LeaseLost),
        (Completed, Complete, LeaseLost),
        (Completed, Fail, LeaseLost),
        (Completed, Reap, NotAllowed),
        (Completed, Rescue, NotAllowed),
        (Completed, Cancel, NotAllowed),
        (Completed, Review, NotAllowed),
        (Completed, Annotate, To(Completed)),
        (Completed, AwaitChildren, LeaseLost),
        (Completed, ChildrenFinished, NotAllowed),
        // review_required: only an analyst's review moves it on
        (ReviewRequired, Dispatch, NotAllowed),
        (ReviewRequired, Claim, NotAllowed),
        (ReviewRequired, Heartbeat, LeaseLost),
        (ReviewRequired, Checkpoint, LeaseLost),
        (ReviewRequired, AwaitApproval, LeaseLost),
        (ReviewRequired, Decide, NotAllowed),
        (ReviewRequired, Expire, NotAllowed),
        (ReviewRequired, Release, LeaseLost),
        (ReviewRequired, Complete, LeaseLost),
        (ReviewRequired, Fail, LeaseLost),
        (ReviewRequired, Reap, NotAllowed),
        (ReviewRequired, Rescue, NotAllowed),
        (ReviewRequired, Cancel, NotAllowed),
        (ReviewRequired, Review, To(Completed)),
        (ReviewRequired, Annotate, To(ReviewRequired)),
        (ReviewRequired, AwaitChildren, LeaseLost),
        (ReviewRequired, ChildrenFinished, NotAllowed),
        // failed: only an operator's rescue moves it on
        (Failed, Dispatch, NotAllowed),
        (Failed, Claim, NotAllowed),
        (Failed, Heartbeat, LeaseLost),
        (Failed, Checkpoint, LeaseLost),
        (Failed, AwaitApproval, LeaseLost),
        (Failed, Decide, NotAllowed),
        (Failed, Expire, NotAllowed),
        (Failed, Release, LeaseLost),
        (Failed, Complete, LeaseLost),
        (Failed, Fail, LeaseLost),
        (Failed, Reap, NotAllowed),
        (Failed, Rescue, To(Queued)),
        (Failed, Cancel, NotAllowed),
        (Failed, Review, NotAllowed),
        (Failed, Annotate, To(Failed)),
        (Failed, AwaitChildren, LeaseLost),
        (Failed, ChildrenFinished, NotAllowed),
        // dead_lettered: only an operator's rescue moves it on
        (DeadLettered, Dispatch, NotAllowed),
        (DeadLettered, Claim, NotAllowed),
        (DeadLettered, Heartbeat, LeaseLost),
        (DeadLettered, Checkpoint, LeaseLost),
        (DeadLettered, AwaitApproval, LeaseLost),
        (DeadLettered, Decide, NotAllowed),
        (DeadLettered, Expire, NotAllowed),
        (DeadLettered, Release, LeaseLost),
        (DeadLettered, Complete, LeaseLost),
        (DeadLettered, Fail, LeaseLost),
        (DeadLettered, Reap, NotAllowed),
        (DeadLettered, Rescue, To(Queued)),
        (DeadLettered, Cancel, NotAllowed),
        (DeadLettered, Review, NotAllowed),
        (DeadLettered, Annotate, To(DeadLettered)),
        (DeadLettered, AwaitChildren, LeaseLost),
        (DeadLettered, ChildrenFinished, NotAllowed),
    ];
}

/// A state to apply table commands to: the record (reached through the
/// machine itself), the approval it last created, and the time.
struct Fixture {
    inv: Option<Investigation>,
    approval: Option<ApprovalRequest>,
    now: DateTime<Utc>,
}

fn fixture(state: State) -> Fixture {
    let run = match state {
        State::Absent => {
            return Fixture {
                inv: None,
                approval: None,
                now: t0(),
            };
        }
        State::Queued => Run::dispatched(),
        State::Running => Run::running(),
        State::Awaiting => Run::awaiting(),
        State::AwaitingChildren => {
            let mut run = Run::running();
            let epoch = run.epoch();
            run.apply(Command::AwaitChildren {
                epoch,
                children: vec![child_id()],
            });
            run
        }
        State::Completed => {
            let mut run = Run::running();
            let epoch = run.epoch();
            run.apply(Command::Complete {
                epoch,
                outcome: Completion::Valid {
                    result: valid_result(),
                    confidence: Some(0.8),
                },
            });
            run
        }
        State::ReviewRequired => {
            let mut run = Run::running();
            let epoch = run.epoch();
            run.apply(Command::Complete {
                epoch,
                outcome: Completion::Invalid {
                    reason: "result is not valid JSON".to_owned(),
                    result_raw: Some("I think it is fine".to_owned()),
                    errors: vec![],
                },
            });
            run
        }
        State::Failed => {
            let mut run = Run::running();
            let epoch = run.epoch();
            run.apply(Command::Fail {
                epoch,
                reason: "model endpoint returned 500 three times".to_owned(),
            });
            run
        }
        State::DeadLettered => {
            let mut run = Run::running();
            run.advance(lease() + Duration::seconds(1));
            run.apply(Command::Reap);
            run
        }
    };
    let mut run = run;
    // Act a minute later: a running lease (5 minutes) is still valid and an
    // approval (30 minutes) has not expired.
    run.advance(Duration::minutes(1));
    assert_eq!(State::of(Some(&run.inv)), state, "fixture for {state:?}");
    Fixture {
        inv: Some(run.inv),
        approval: run.approval,
        now: run.now,
    }
}

/// A well-formed instance of `cmd` for `fx`.
fn table_command(cmd: Cmd, fx: &Fixture) -> Command {
    let epoch = fx.inv.as_ref().map_or(0, |inv| inv.lease_epoch);
    let id = fx
        .inv
        .as_ref()
        .map_or(InvestigationId(Uuid::from_u128(1)), |inv| inv.id);
    let approval = fx
        .approval
        .clone()
        .unwrap_or_else(|| stray_approval(id, fx.now));
    match cmd {
        Cmd::Dispatch => Command::Dispatch(new_investigation(2)),
        Cmd::Claim => Command::Claim {
            mode: None,
            worker: OTHER_WORKER.to_owned(),
            lease_for: lease(),
        },
        Cmd::Heartbeat => Command::Heartbeat {
            epoch,
            lease_for: lease(),
        },
        Cmd::Checkpoint => Command::Checkpoint {
            epoch,
            events: step_events(),
        },
        Cmd::AwaitApproval => Command::AwaitApproval {
            epoch,
            request: draft(200, fx.now + Duration::minutes(30)),
        },
        Cmd::AwaitChildren => Command::AwaitChildren {
            epoch,
            children: vec![child_id()],
        },
        Cmd::ChildrenFinished => Command::ChildrenFinished {
            children: vec![crate::event::ChildFinished {
                id: child_id(),
                status: Status::Completed,
            }],
        },
        Cmd::Decide => Command::Decide {
            approval,
            decision: Decision::Approve,
            by: APPROVER.to_owned(),
            comment: Some("go ahead".to_owned()),
        },
        // The sweep only expires requests whose deadline has passed.
        Cmd::Expire => Command::Expire {
            approval: ApprovalRequest {
                expires_at: fx.now,
                ..approval
            },
        },
        Cmd::Release => Command::Release {
            epoch,
            reason: "worker shutting down".to_owned(),
            not_before: None,
        },
        Cmd::Complete => Command::Complete {
            epoch,
            outcome: Completion::Valid {
                result: valid_result(),
                confidence: Some(0.8),
            },
        },
        Cmd::Fail => Command::Fail {
            epoch,
            reason: "token budget exhausted".to_owned(),
        },
        Cmd::Reap => Command::Reap,
        Cmd::Rescue => Command::Rescue {
            by: OPERATOR.to_owned(),
            reason: "worker host replaced".to_owned(),
        },
        Cmd::Cancel => Command::Cancel {
            by: OPERATOR.to_owned(),
            reason: "duplicate of CASE-41".to_owned(),
            pending_approval: fx.approval.clone(),
        },
        Cmd::Review => Command::Review {
            by: OPERATOR.to_owned(),
            result: valid_result(),
            confidence: Some(0.6),
            note: Some("summary rewritten from the raw output".to_owned()),
        },
        Cmd::Annotate => Command::Annotate {
            by: OPERATOR.to_owned(),
            text: "related to last week's spray".to_owned(),
        },
    }
}

/// The kinds of the events a successful `cmd` from the table appends.
fn table_event_kinds(cmd: Cmd) -> Vec<EventKind> {
    match cmd {
        Cmd::Dispatch => vec![EventKind::Dispatched],
        Cmd::Claim => vec![EventKind::Claimed],
        Cmd::Heartbeat => vec![],
        Cmd::Checkpoint => vec![
            EventKind::ModelTurn,
            EventKind::ToolIntent,
            EventKind::ToolResult,
        ],
        Cmd::AwaitApproval => vec![EventKind::ApprovalRequested],
        Cmd::AwaitChildren => vec![EventKind::AwaitingChildren],
        Cmd::ChildrenFinished => vec![EventKind::ChildrenFinished],
        Cmd::Decide => vec![EventKind::ApprovalDecided],
        Cmd::Expire => vec![EventKind::ApprovalExpired],
        Cmd::Release => vec![EventKind::Released],
        Cmd::Complete => vec![EventKind::Completed],
        Cmd::Fail => vec![EventKind::Failed],
        Cmd::Reap => vec![EventKind::DeadLettered],
        Cmd::Rescue => vec![EventKind::Rescued],
        Cmd::Cancel => vec![EventKind::Cancelled],
        Cmd::Review => vec![EventKind::Reviewed],
        Cmd::Annotate => vec![EventKind::OperatorNote],
    }
}

/// The approval write a successful `cmd` from `state` carries: `Pending` for
/// a created request, the resolved status otherwise.
fn table_approval_write(state: State, cmd: Cmd) -> Option<ApprovalStatus> {
    match (state, cmd) {
        (_, Cmd::AwaitApproval) => Some(ApprovalStatus::Pending),
        (_, Cmd::Decide) => Some(ApprovalStatus::Approved),
        (_, Cmd::Expire) => Some(ApprovalStatus::Expired),
        (State::Awaiting, Cmd::Cancel) => Some(ApprovalStatus::Rejected),
        _ => None,
    }
}

fn check_table_success(state: State, cmd: Cmd, fx: &Fixture, t: &Transition) {
    let ctx = format!("{state:?} --{cmd:?}-->");
    let name = cmd.name();
    assert!(
        allowed_commands(fx.inv.as_ref()).contains(&name),
        "{ctx} succeeded but {name} is not among the allowed commands"
    );
    let claimable = t.next.is_queued() && !fx.inv.as_ref().is_some_and(Investigation::is_queued);
    assert_eq!(
        t.wake,
        claimable.then(|| Wakeup::Queued {
            agent_id: t.next.agent_id.clone()
        }),
        "{ctx} wake-up"
    );
    let (prev_seq, prev_hash, prev_epoch) = fx.inv.as_ref().map_or((0, GENESIS, 0), |inv| {
        (inv.last_seq, inv.last_hash.as_str(), inv.lease_epoch)
    });
    assert_continues_chain(prev_seq, prev_hash, t);
    let kinds: Vec<EventKind> = t.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, table_event_kinds(cmd), "{ctx} event kinds");
    for event in &t.events {
        assert_eq!(event.created_at, fx.now, "{ctx} event time");
        assert_eq!(
            event.epoch, t.next.lease_epoch,
            "{ctx} events carry the epoch after the transition"
        );
    }
    assert_eq!(
        t.next.lease_epoch - prev_epoch,
        cmd.epoch_bump(),
        "{ctx} epoch effect"
    );
    assert_eq!(t.next.updated_at, fx.now, "{ctx} updated_at");
    let (prev_claims, prev_attempt) = fx
        .inv
        .as_ref()
        .map_or((0, 0), |inv| (inv.claims, inv.attempt));
    assert_eq!(
        (t.next.claims - prev_claims, t.next.attempt - prev_attempt),
        cmd.claim_and_attempt_effect(prev_attempt),
        "{ctx} claims and attempt effect"
    );
    let write = t.approval.as_ref().map(|w| match w {
        ApprovalWrite::Create(request) => request.status,
        ApprovalWrite::Resolve { status, .. } => *status,
    });
    assert_eq!(
        write,
        table_approval_write(state, cmd),
        "{ctx} approval write"
    );
    if cmd == Cmd::Annotate {
        let before = fx.inv.clone().unwrap();
        let expected = Investigation {
            last_seq: t.next.last_seq,
            last_hash: t.next.last_hash.clone(),
            updated_at: fx.now,
            ..before
        };
        assert_eq!(t.next, expected, "{ctx} annotate changes only the log tail");
    }
}

fn check_table_refusal(
    state: State,
    cmd: Cmd,
    fx: &Fixture,
    command: &Command,
    err: &TransitionError,
) {
    match err {
        TransitionError::NotAllowed {
            command: name,
            from,
            allowed,
        } => {
            assert_eq!(*name, command.name());
            assert_eq!(from, state.label());
            assert_eq!(allowed, &allowed_commands(fx.inv.as_ref()), "{state:?}");
            assert!(!allowed.contains(name), "{state:?} lists {name} as allowed");
        }
        TransitionError::LeaseLost { held, current } => {
            assert_eq!(Some(*held), held_epoch(command), "{state:?} {cmd:?}");
            let inv_epoch = fx.inv.as_ref().map_or(0, |inv| inv.lease_epoch);
            assert_eq!(*current, inv_epoch, "{state:?} {cmd:?}");
        }
        TransitionError::ApprovalNotPending { .. }
        | TransitionError::ApprovalExpired { .. }
        | TransitionError::ApprovalNotDue { .. }
        | TransitionError::LeaseNotExpired
        | TransitionError::SeparationOfDuties { .. }
        | TransitionError::InvalidInput { .. } => {}
    }
}

#[test]
fn table_names_every_state_command_pair_once() {
    for state in State::ALL {
        for cmd in Cmd::ALL {
            let rows = table::TABLE
                .iter()
                .filter(|(s, c, _)| *s == state && *c == cmd)
                .count();
            assert_eq!(rows, 1, "({state:?}, {cmd:?}) appears {rows} times");
        }
    }
}

#[test]
fn every_state_command_pair_matches_the_table() {
    let mut mismatches = Vec::new();
    for (state, cmd, expected) in table::TABLE {
        let fx = fixture(state);
        let command = table_command(cmd, &fx);
        assert_eq!(Cmd::of(&command), cmd);
        let result = transition(fx.inv.as_ref(), command.clone(), fx.now);
        let got = Outcome::of(&result);
        if got != expected {
            mismatches.push(format!(
                "{state:?} + {cmd:?}: expected {expected:?}, got {result:?}"
            ));
            continue;
        }
        match &result {
            Ok(t) => check_table_success(state, cmd, &fx, t),
            Err(e) => check_table_refusal(state, cmd, &fx, &command, e),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

// ---------------------------------------------------------------------------
// Focused behaviour.
// ---------------------------------------------------------------------------

#[test]
fn dispatch_starts_the_chain_at_genesis() {
    let t = transition(None, Command::Dispatch(new_investigation(1)), t0()).unwrap();
    assert_eq!(t.events.len(), 1);
    let event = &t.events[0];
    assert_eq!(event.seq, 1);
    assert_eq!(event.prev_hash, GENESIS);
    assert_eq!(event.epoch, 0);
    assert_eq!(event.actor, REQUESTER);
    assert_eq!(t.next.status, Status::Pending);
    assert_eq!(t.next.phase, Some(Phase::Queued));
    assert_eq!(t.next.attempt, 0);
    assert_eq!(t.next.idempotency_key.as_deref(), Some("det-7781"));
}

#[test]
fn dispatch_rejects_empty_prompt() {
    let new = NewInvestigation {
        prompt: "   ".to_owned(),
        ..new_investigation(1)
    };
    let err = transition(None, Command::Dispatch(new), t0()).unwrap_err();
    assert!(
        matches!(
            err,
            TransitionError::InvalidInput {
                field: "prompt",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn claim_sets_lease_epoch_and_attempt() {
    let run = Run::running();
    assert_eq!(run.inv.lease_epoch, 1);
    assert_eq!(run.inv.attempt, 1);
    assert_eq!(run.inv.lease_owner.as_deref(), Some(WORKER));
    assert_eq!(run.inv.lease_expires_at, Some(run.now + lease()));
    assert_eq!(run.inv.started_at, Some(run.now));
    let claimed = run.events.last().unwrap();
    assert_eq!(claimed.kind, EventKind::Claimed);
    assert_eq!(claimed.actor, WORKER);
    assert_eq!(claimed.epoch, 1);
}

#[test]
fn heartbeat_extends_lease_and_appends_nothing() {
    let mut run = Run::running();
    run.advance(Duration::minutes(4));
    let epoch = run.epoch();
    let t = run.apply(Command::Heartbeat {
        epoch,
        lease_for: lease(),
    });
    assert!(t.events.is_empty());
    assert_eq!(t.next.lease_expires_at, Some(run.now + lease()));
    assert_eq!(t.next.heartbeat_at, Some(run.now));
    // The old lease would have run out by now; the renewed one has not.
    run.advance(Duration::minutes(2));
    run.apply(Command::Checkpoint {
        epoch,
        events: step_events(),
    });
}

#[test]
fn checkpoint_with_stale_epoch_is_lease_lost() {
    let mut run = Run::running();
    let stale = run.epoch();
    run.apply(Command::Release {
        epoch: stale,
        reason: "shutdown".to_owned(),
        not_before: None,
    });
    run.apply(Command::Claim {
        mode: None,
        worker: OTHER_WORKER.to_owned(),
        lease_for: lease(),
    });
    let err = run
        .try_apply(Command::Checkpoint {
            epoch: stale,
            events: step_events(),
        })
        .unwrap_err();
    assert_eq!(
        err,
        TransitionError::LeaseLost {
            held: stale,
            current: stale + 1
        }
    );
}

#[test]
fn checkpoint_after_lease_expiry_is_lease_lost() {
    let mut run = Run::running();
    let epoch = run.epoch();
    let expires_at = run.inv.lease_expires_at.unwrap();
    let checkpoint = || Command::Checkpoint {
        epoch,
        events: step_events(),
    };
    run.now = expires_at - Duration::microseconds(1);
    assert!(
        run.try_apply(checkpoint()).is_ok(),
        "still inside the lease"
    );
    run.now = expires_at;
    assert_eq!(
        run.try_apply(checkpoint()).unwrap_err(),
        TransitionError::LeaseLost {
            held: epoch,
            current: epoch
        },
        "the lease ends at lease_expires_at"
    );
}

#[test]
fn checkpoint_rejects_an_empty_batch() {
    let run = Run::running();
    let err = run
        .try_apply(Command::Checkpoint {
            epoch: run.epoch(),
            events: vec![],
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransitionError::InvalidInput {
                field: "events",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn checkpoint_model_turn_accumulates_usage() {
    let mut run = Run::running();
    let epoch = run.epoch();
    run.apply(Command::Checkpoint {
        epoch,
        events: vec![
            model_turn(1000, 200, 0.25),
            tool_intent("call-1"),
            tool_result("call-1"),
        ],
    });
    let t = run.apply(Command::Checkpoint {
        epoch,
        // Negative counts from a misbehaving endpoint count as zero.
        events: vec![model_turn(500, 100, 0.5), model_turn(-7, -3, -1.0)],
    });
    assert_eq!(t.next.usage.model_turns, 3);
    assert_eq!(t.next.usage.input_tokens, 1500);
    assert_eq!(t.next.usage.output_tokens, 300);
    assert!((t.next.usage.cost_usd - 0.75).abs() < 1e-9);
    assert_eq!(t.events.len(), 2);
    assert!(
        t.events
            .iter()
            .all(|e| e.actor == WORKER && e.epoch == epoch)
    );
}

#[test]
fn resuming_after_an_approval_is_a_new_claim_not_a_new_attempt() {
    let mut run = Run::awaiting();
    run.advance(Duration::minutes(5));
    let approval = run.pending_approval();
    run.apply(Command::Decide {
        approval,
        decision: Decision::Approve,
        by: "approver".to_owned(),
        comment: None,
    });
    let t = run.apply(Command::Claim {
        mode: None,
        worker: OTHER_WORKER.to_owned(),
        lease_for: lease(),
    });
    assert_eq!((t.next.claims, t.next.attempt), (2, 1));
    assert!(matches!(
        t.events[0].body().unwrap(),
        EventBody::Claimed { attempt: 1, .. }
    ));
}

#[test]
fn a_rescue_after_a_dead_letter_starts_the_next_attempt() {
    let mut run = Run::running();
    run.advance(lease() + Duration::seconds(1));
    let t = run.apply(Command::Reap);
    assert!(matches!(
        t.events[0].body().unwrap(),
        EventBody::DeadLettered { attempt: 1, .. }
    ));
    let t = run.apply(Command::Rescue {
        by: "oncall".to_owned(),
        reason: "worker died".to_owned(),
    });
    assert_eq!((t.next.claims, t.next.attempt), (1, 2));
    let t = run.apply(Command::Claim {
        mode: None,
        worker: OTHER_WORKER.to_owned(),
        lease_for: lease(),
    });
    assert_eq!((t.next.claims, t.next.attempt), (2, 2));
}

#[test]
fn a_release_to_retry_later_is_a_failed_attempt_held_until_its_time() {
    let mut run = Run::running();
    let retry_at = run.now + Duration::seconds(30);
    let t = run.apply(Command::Release {
        epoch: run.epoch(),
        reason: "model unavailable: 503".to_owned(),
        not_before: Some(retry_at),
    });
    assert_eq!(t.next.not_before, Some(retry_at));
    assert_eq!((t.next.claims, t.next.attempt), (1, 2));
    assert!(matches!(
        t.events[0].body().unwrap(),
        EventBody::Released { not_before: Some(at), .. } if at == retry_at
    ));
    run.advance(Duration::seconds(30));
    let t = run.apply(Command::Claim {
        mode: None,
        worker: OTHER_WORKER.to_owned(),
        lease_for: lease(),
    });
    assert_eq!(t.next.not_before, None, "a claim clears not_before");
    assert_eq!((t.next.claims, t.next.attempt), (2, 2));
}

#[test]
fn release_requeues_and_the_next_claim_fences_the_previous_owner() {
    let mut run = Run::running();
    let first = run.epoch();
    let t = run.apply(Command::Release {
        epoch: first,
        reason: "SIGTERM".to_owned(),
        not_before: None,
    });
    assert_eq!(t.next.phase, Some(Phase::Queued));
    assert_eq!(t.next.lease_owner, None);
    assert_eq!(t.next.lease_epoch, first, "release does not bump the epoch");
    let t = run.apply(Command::Claim {
        mode: None,
        worker: OTHER_WORKER.to_owned(),
        lease_for: lease(),
    });
    assert_eq!(t.next.lease_epoch, first + 1);
    assert_eq!(
        (t.next.claims, t.next.attempt),
        (2, 1),
        "a graceful release is not a failed attempt"
    );
    let err = run
        .try_apply(Command::Fail {
            epoch: first,
            reason: "late".to_owned(),
        })
        .unwrap_err();
    assert!(matches!(err, TransitionError::LeaseLost { .. }), "{err:?}");
}

#[test]
fn reap_refuses_unexpired_lease() {
    let mut run = Run::running();
    let expires_at = run.inv.lease_expires_at.unwrap();
    run.now = expires_at - Duration::microseconds(1);
    assert_eq!(
        run.try_apply(Command::Reap).unwrap_err(),
        TransitionError::LeaseNotExpired
    );
    run.now = expires_at;
    let t = run.apply(Command::Reap);
    assert_eq!(t.next.status, Status::DeadLettered);
}

#[test]
fn reap_bumps_epoch_so_old_owner_is_fenced() {
    let mut run = Run::running();
    let old = run.epoch();
    run.advance(lease() + Duration::seconds(30));
    let t = run.apply(Command::Reap);
    assert_eq!(t.next.lease_epoch, old + 1);
    assert_eq!(t.next.lease_owner, None);
    assert!(t.next.error.as_deref().unwrap().contains(WORKER));
    let event = &t.events[0];
    assert_eq!(event.kind, EventKind::DeadLettered);
    assert_eq!(event.actor, REAPER);
    let zombie = [
        Command::Heartbeat {
            epoch: old,
            lease_for: lease(),
        },
        Command::Checkpoint {
            epoch: old,
            events: step_events(),
        },
        Command::Complete {
            epoch: old,
            outcome: Completion::Valid {
                result: valid_result(),
                confidence: None,
            },
        },
    ];
    for command in zombie.clone() {
        assert!(matches!(
            run.try_apply(command),
            Err(TransitionError::LeaseLost { .. })
        ));
    }
    // Even once rescued and claimed again, the old epoch writes nothing.
    run.apply(Command::Rescue {
        by: OPERATOR.to_owned(),
        reason: "worker host replaced".to_owned(),
    });
    run.apply(Command::Claim {
        mode: None,
        worker: OTHER_WORKER.to_owned(),
        lease_for: lease(),
    });
    assert_eq!(run.epoch(), old + 3);
    for command in zombie {
        assert!(matches!(
            run.try_apply(command),
            Err(TransitionError::LeaseLost { .. })
        ));
    }
}

#[test]
fn await_approval_creates_the_request_and_releases_the_lease() {
    let run = Run::awaiting();
    let request = run.pending_approval();
    assert_eq!(run.inv.phase, Some(Phase::AwaitingApproval));
    assert_eq!(run.inv.waiting_on, Some(request.id));
    assert_eq!(run.inv.lease_owner, None);
    assert_eq!(run.inv.lease_expires_at, None);
    assert_eq!(request.status, ApprovalStatus::Pending);
    assert_eq!(request.investigation_id, run.inv.id);
    assert_eq!(request.created_at, run.now);
}

#[test]
fn await_approval_rejects_a_deadline_in_the_past() {
    let run = Run::running();
    let err = run
        .try_apply(Command::AwaitApproval {
            epoch: run.epoch(),
            request: draft(7, run.now),
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransitionError::InvalidInput {
                field: "expires_at",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn approval_decision_requeues_and_resolves_the_request() {
    let mut run = Run::awaiting();
    let t = run.apply(Command::Decide {
        approval: run.pending_approval(),
        decision: Decision::Reject,
        by: APPROVER.to_owned(),
        comment: Some("not this host".to_owned()),
    });
    assert_eq!(t.next.phase, Some(Phase::Queued));
    assert_eq!(t.next.waiting_on, None);
    assert_eq!(t.events[0].actor, APPROVER);
    let request = run.pending_approval();
    assert_eq!(request.status, ApprovalStatus::Rejected);
    assert_eq!(request.decided_by.as_deref(), Some(APPROVER));
    assert_eq!(request.decided_at, Some(run.now));
}

#[test]
fn requester_cannot_decide_own_approval() {
    let run = Run::awaiting();
    let err = run
        .try_apply(Command::Decide {
            approval: run.pending_approval(),
            decision: Decision::Approve,
            by: REQUESTER.to_owned(),
            comment: None,
        })
        .unwrap_err();
    assert_eq!(
        err,
        TransitionError::SeparationOfDuties {
            by: REQUESTER.to_owned()
        }
    );
}

#[test]
fn decision_after_expiry_is_refused() {
    let mut run = Run::awaiting();
    let request = run.pending_approval();
    run.now = request.expires_at;
    let err = run
        .try_apply(Command::Decide {
            approval: request.clone(),
            decision: Decision::Approve,
            by: APPROVER.to_owned(),
            comment: None,
        })
        .unwrap_err();
    assert_eq!(
        err,
        TransitionError::ApprovalExpired {
            id: request.id,
            expires_at: request.expires_at
        }
    );
    // The sweep may expire it now.
    let t = run.apply(Command::Expire { approval: request });
    assert_eq!(t.next.phase, Some(Phase::Queued));
    assert_eq!(t.events[0].actor, EXPIRY);
    assert_eq!(
        run.pending_approval().status,
        ApprovalStatus::Expired,
        "the request is resolved as expired"
    );
}

#[test]
fn expire_before_the_deadline_is_not_due() {
    let mut run = Run::awaiting();
    let request = run.pending_approval();
    run.now = request.expires_at - Duration::microseconds(1);
    assert_eq!(
        run.try_apply(Command::Expire {
            approval: request.clone()
        })
        .unwrap_err(),
        TransitionError::ApprovalNotDue {
            id: request.id,
            expires_at: request.expires_at
        }
    );
}

#[test]
fn second_decision_sees_approval_not_pending() {
    let mut run = Run::awaiting();
    run.apply(Command::Decide {
        approval: run.pending_approval(),
        decision: Decision::Approve,
        by: APPROVER.to_owned(),
        comment: None,
    });
    let stored = run.pending_approval();
    assert_eq!(stored.status, ApprovalStatus::Approved);
    let err = run
        .try_apply(Command::Decide {
            approval: stored.clone(),
            decision: Decision::Reject,
            by: "carol".to_owned(),
            comment: None,
        })
        .unwrap_err();
    assert_eq!(
        err,
        TransitionError::ApprovalNotPending {
            id: stored.id,
            status: ApprovalStatus::Approved
        }
    );
    run.now = stored.expires_at;
    assert!(matches!(
        run.try_apply(Command::Expire { approval: stored }),
        Err(TransitionError::ApprovalNotPending { .. })
    ));
}

#[test]
fn decision_on_another_request_is_not_allowed() {
    let run = Run::awaiting();
    let other = stray_approval(run.inv.id, run.now);
    let err = run
        .try_apply(Command::Decide {
            approval: other,
            decision: Decision::Approve,
            by: APPROVER.to_owned(),
            comment: None,
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransitionError::NotAllowed {
                command: "decide",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn cancel_while_awaiting_rejects_the_pending_approval() {
    let mut run = Run::awaiting();
    let epoch = run.epoch();
    let request = run.pending_approval();
    let t = run.apply(Command::Cancel {
        by: OPERATOR.to_owned(),
        reason: "false positive".to_owned(),
        pending_approval: Some(request.clone()),
    });
    assert_eq!(t.next.status, Status::Failed);
    assert_eq!(t.next.phase, None);
    assert_eq!(t.next.waiting_on, None);
    assert_eq!(t.next.lease_epoch, epoch + 1);
    assert_eq!(t.next.finished_at, Some(run.now));
    assert!(t.next.error.as_deref().unwrap().contains(OPERATOR));
    match &t.approval {
        Some(ApprovalWrite::Resolve {
            id,
            status,
            decided_by,
            ..
        }) => {
            assert_eq!(*id, request.id);
            assert_eq!(*status, ApprovalStatus::Rejected);
            assert_eq!(decided_by.as_deref(), Some(OPERATOR));
        }
        other => panic!("expected the request to be resolved, got {other:?}"),
    }
    assert_eq!(t.events[0].kind, EventKind::Cancelled);
    assert_eq!(t.events[0].actor, OPERATOR);
}

#[test]
fn cancel_while_running_fences_the_worker() {
    let mut run = Run::running();
    let epoch = run.epoch();
    run.apply(Command::Cancel {
        by: OPERATOR.to_owned(),
        reason: "analyst took over".to_owned(),
        pending_approval: None,
    });
    assert!(matches!(
        run.try_apply(Command::Checkpoint {
            epoch,
            events: step_events()
        }),
        Err(TransitionError::LeaseLost { .. })
    ));
}

#[test]
fn complete_invalid_keeps_raw_and_requires_review() {
    let mut run = Run::running();
    let epoch = run.epoch();
    let t = run.apply(Command::Complete {
        epoch,
        outcome: Completion::Invalid {
            reason: "result is not valid JSON".to_owned(),
            result_raw: Some("probably benign".to_owned()),
            errors: vec!["expected value at line 1 column 1".to_owned()],
        },
    });
    assert_eq!(t.next.status, Status::ReviewRequired);
    assert_eq!(t.next.result, None);
    assert_eq!(t.next.result_raw.as_deref(), Some("probably benign"));
    assert_eq!(
        t.next.error.as_deref(),
        Some("result is not valid JSON: expected value at line 1 column 1"),
        "the record's error carries every listed error, not only the reason"
    );
    assert_eq!(t.next.lease_owner, None);
    assert_eq!(t.next.finished_at, Some(run.now));
    match t.events[0].body().unwrap() {
        EventBody::ReviewRequired {
            result_raw, errors, ..
        } => {
            assert_eq!(result_raw.as_deref(), Some("probably benign"));
            assert_eq!(errors.len(), 1);
        }
        other => panic!("expected review_required, got {other:?}"),
    }
    // An analyst grades it; the raw output stays on record.
    let t = run.apply(Command::Review {
        by: OPERATOR.to_owned(),
        result: valid_result(),
        confidence: Some(0.5),
        note: None,
    });
    assert_eq!(t.next.status, Status::Completed);
    assert_eq!(t.next.result, Some(valid_result()));
    assert_eq!(t.next.confidence, Some(0.5));
    assert_eq!(t.next.error, None);
    assert_eq!(t.next.result_raw.as_deref(), Some("probably benign"));
}

#[test]
fn complete_with_out_of_range_confidence_is_invalid_input() {
    let run = Run::running();
    let err = run
        .try_apply(Command::Complete {
            epoch: run.epoch(),
            outcome: Completion::Valid {
                result: valid_result(),
                confidence: Some(1.5),
            },
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransitionError::InvalidInput {
                field: "confidence",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn rescue_requires_reason() {
    let mut run = Run::running();
    run.advance(lease());
    run.apply(Command::Reap);
    let epoch = run.epoch();
    for (by, reason, field) in [(OPERATOR, " ", "reason"), ("", "replaced host", "by")] {
        let err = run
            .try_apply(Command::Rescue {
                by: by.to_owned(),
                reason: reason.to_owned(),
            })
            .unwrap_err();
        assert!(
            matches!(err, TransitionError::InvalidInput { field: f, .. } if f == field),
            "{err:?}"
        );
    }
    let t = run.apply(Command::Rescue {
        by: OPERATOR.to_owned(),
        reason: "replaced host".to_owned(),
    });
    assert_eq!(t.next.phase, Some(Phase::Queued));
    assert_eq!(t.next.lease_epoch, epoch + 1);
    assert_eq!(t.next.error, None);
    assert_eq!(t.next.finished_at, None);
    match t.events[0].body().unwrap() {
        EventBody::Rescued { from, by, .. } => {
            assert_eq!(from, Status::DeadLettered);
            assert_eq!(by, OPERATOR);
        }
        other => panic!("expected rescued, got {other:?}"),
    }
}

#[test]
fn refusals_name_the_command_and_state() {
    let run = Run::dispatched();
    let err = run.try_apply(Command::Reap).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot reap an investigation that is pending/queued"
    );
}

// ---------------------------------------------------------------------------
// Property tests: random command sequences from a dispatched investigation.
// ---------------------------------------------------------------------------

/// Which epoch a generated worker command names.
#[derive(Debug, Clone, Copy)]
enum EpochPick {
    Current,
    Stale(i64),
    Any(i64),
}

impl EpochPick {
    fn resolve(self, current: i64) -> i64 {
        match self {
            EpochPick::Current => current,
            EpochPick::Stale(behind) => current - behind,
            EpochPick::Any(epoch) => epoch,
        }
    }
}

/// Which approval request a generated decide / expire / cancel names.
#[derive(Debug, Clone)]
enum ApprovalPick {
    /// The request created by the last successful await, as stored now.
    Tracked,
    /// Some other request.
    Random {
        id: u128,
        status: ApprovalStatus,
        expires_in_secs: i64,
    },
}

impl ApprovalPick {
    fn resolve(&self, run: &Run) -> ApprovalRequest {
        let random = |id: u128, status, expires_in_secs| ApprovalRequest {
            id: ApprovalId(Uuid::from_u128(id)),
            status,
            expires_at: run.now + Duration::seconds(expires_in_secs),
            ..stray_approval(run.inv.id, run.now)
        };
        match self {
            ApprovalPick::Tracked => run
                .approval
                .clone()
                .unwrap_or_else(|| random(0xbeef, ApprovalStatus::Pending, 600)),
            ApprovalPick::Random {
                id,
                status,
                expires_in_secs,
            } => random(*id, *status, *expires_in_secs),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Requester,
    Approver,
    Blank,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Requester => REQUESTER,
            Who::Approver => APPROVER,
            Who::Blank => " ",
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Dispatch,
    Claim {
        worker: u8,
        lease_secs: i64,
    },
    Heartbeat {
        epoch: EpochPick,
        lease_secs: i64,
    },
    Checkpoint {
        epoch: EpochPick,
        turns: Vec<(i64, i64)>,
    },
    AwaitApproval {
        epoch: EpochPick,
        expires_in_secs: i64,
    },
    AwaitChildren {
        epoch: EpochPick,
        none: bool,
    },
    ChildrenFinished {
        unfinished: bool,
    },
    Decide {
        approval: ApprovalPick,
        approve: bool,
        by: Who,
    },
    Expire {
        approval: ApprovalPick,
    },
    Release {
        epoch: EpochPick,
        blank_reason: bool,
    },
    Complete {
        epoch: EpochPick,
        valid: bool,
    },
    Fail {
        epoch: EpochPick,
        blank_reason: bool,
    },
    Reap,
    Rescue {
        blank_reason: bool,
    },
    Cancel {
        pass_approval: bool,
        blank_reason: bool,
    },
    Review {
        confidence: f64,
    },
    Annotate {
        blank_text: bool,
    },
}

fn blank_or(blank: bool, text: &str) -> String {
    if blank {
        "  ".to_owned()
    } else {
        text.to_owned()
    }
}

impl Op {
    /// The command this step issues against `run`; `step` keeps approval ids unique.
    fn command(&self, run: &Run, step: usize) -> Command {
        let current = run.epoch();
        match self {
            Op::Dispatch => Command::Dispatch(new_investigation(3)),
            Op::Claim { worker, lease_secs } => Command::Claim {
                mode: None,
                worker: format!("worker-{worker}"),
                lease_for: Duration::seconds(*lease_secs),
            },
            Op::Heartbeat { epoch, lease_secs } => Command::Heartbeat {
                epoch: epoch.resolve(current),
                lease_for: Duration::seconds(*lease_secs),
            },
            Op::Checkpoint { epoch, turns } => Command::Checkpoint {
                epoch: epoch.resolve(current),
                events: turns
                    .iter()
                    .enumerate()
                    .flat_map(|(i, &(input, output))| {
                        let call = format!("call-{step}-{i}");
                        [
                            model_turn(input, output, 0.001),
                            tool_intent(&call),
                            tool_result(&call),
                        ]
                    })
                    .collect(),
            },
            Op::AwaitApproval {
                epoch,
                expires_in_secs,
            } => Command::AwaitApproval {
                epoch: epoch.resolve(current),
                request: draft(
                    1000 + step as u128,
                    run.now + Duration::seconds(*expires_in_secs),
                ),
            },
            Op::Decide {
                approval,
                approve,
                by,
            } => Command::Decide {
                approval: approval.resolve(run),
                decision: if *approve {
                    Decision::Approve
                } else {
                    Decision::Reject
                },
                by: by.name().to_owned(),
                comment: None,
            },
            Op::Expire { approval } => Command::Expire {
                approval: approval.resolve(run),
            },
            Op::Release {
                epoch,
                blank_reason,
            } => Command::Release {
                epoch: epoch.resolve(current),
                reason: blank_or(*blank_reason, "shutdown"),
                not_before: None,
            },
            Op::Complete { epoch, valid } => Command::Complete {
                epoch: epoch.resolve(current),
                outcome: if *valid {
                    Completion::Valid {
                        result: valid_result(),
                        confidence: Some(0.8),
                    }
                } else {
                    Completion::Invalid {
                        reason: "result does not match the output schema".to_owned(),
                        result_raw: Some("{\"summary\": \"\"}".to_owned()),
                        errors: vec!["summary: must be a non-empty string".to_owned()],
                    }
                },
            },
            Op::Fail {
                epoch,
                blank_reason,
            } => Command::Fail {
                epoch: epoch.resolve(current),
                reason: blank_or(*blank_reason, "tool error"),
            },
            Op::Reap => Command::Reap,
            Op::Rescue { blank_reason } => Command::Rescue {
                by: OPERATOR.to_owned(),
                reason: blank_or(*blank_reason, "retry after fix"),
            },
            Op::Cancel {
                pass_approval,
                blank_reason,
            } => Command::Cancel {
                by: OPERATOR.to_owned(),
                reason: blank_or(*blank_reason, "no longer needed"),
                pending_approval: if *pass_approval {
                    run.approval.clone()
                } else {
                    None
                },
            },
            Op::Review { confidence } => Command::Review {
                by: OPERATOR.to_owned(),
                result: valid_result(),
                confidence: Some(*confidence),
                note: None,
            },
            Op::Annotate { blank_text } => Command::Annotate {
                by: OPERATOR.to_owned(),
                text: blank_or(*blank_text, "seen before"),
            },
            Op::AwaitChildren { epoch, none } => Command::AwaitChildren {
                epoch: epoch.resolve(current),
                children: if *none { vec![] } else { vec![child_id()] },
            },
            Op::ChildrenFinished { unfinished } => Command::ChildrenFinished {
                children: vec![crate::event::ChildFinished {
                    id: child_id(),
                    status: if *unfinished {
                        Status::DeadLettered
                    } else {
                        Status::Failed
                    },
                }],
            },
        }
    }
}

fn epoch_pick() -> impl Strategy<Value = EpochPick> {
    prop_oneof![
        6 => Just(EpochPick::Current),
        2 => (1i64..=3).prop_map(EpochPick::Stale),
        1 => (-1i64..=8).prop_map(EpochPick::Any),
    ]
}

fn approval_pick() -> impl Strategy<Value = ApprovalPick> {
    let status = prop_oneof![
        3 => Just(ApprovalStatus::Pending),
        1 => prop::sample::select(ApprovalStatus::ALL),
    ];
    prop_oneof![
        4 => Just(ApprovalPick::Tracked),
        1 => (any::<u128>(), status, -600i64..=1800).prop_map(|(id, status, expires_in_secs)| {
            ApprovalPick::Random {
                id,
                status,
                expires_in_secs,
            }
        }),
    ]
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        1 => Just(Who::Requester),
        6 => Just(Who::Approver),
        1 => Just(Who::Blank),
    ]
}

fn rarely() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.1)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Dispatch),
        6 => (0u8..3, 20i64..=600)
            .prop_map(|(worker, lease_secs)| Op::Claim { worker, lease_secs }),
        3 => (epoch_pick(), 20i64..=600)
            .prop_map(|(epoch, lease_secs)| Op::Heartbeat { epoch, lease_secs }),
        6 => (epoch_pick(), prop::collection::vec((-10i64..4000, -10i64..1000), 0..3))
            .prop_map(|(epoch, turns)| Op::Checkpoint { epoch, turns }),
        4 => (epoch_pick(), -60i64..=1200)
            .prop_map(|(epoch, expires_in_secs)| Op::AwaitApproval { epoch, expires_in_secs }),
        3 => (epoch_pick(), rarely())
            .prop_map(|(epoch, none)| Op::AwaitChildren { epoch, none }),
        3 => rarely().prop_map(|unfinished| Op::ChildrenFinished { unfinished }),
        5 => (approval_pick(), any::<bool>(), who())
            .prop_map(|(approval, approve, by)| Op::Decide { approval, approve, by }),
        3 => approval_pick().prop_map(|approval| Op::Expire { approval }),
        2 => (epoch_pick(), rarely())
            .prop_map(|(epoch, blank_reason)| Op::Release { epoch, blank_reason }),
        3 => (epoch_pick(), any::<bool>())
            .prop_map(|(epoch, valid)| Op::Complete { epoch, valid }),
        2 => (epoch_pick(), rarely())
            .prop_map(|(epoch, blank_reason)| Op::Fail { epoch, blank_reason }),
        3 => Just(Op::Reap),
        3 => rarely().prop_map(|blank_reason| Op::Rescue { blank_reason }),
        1 => (any::<bool>(), rarely()).prop_map(|(pass_approval, blank_reason)| Op::Cancel {
            pass_approval,
            blank_reason,
        }),
        2 => prop_oneof![4 => 0.0f64..=1.0, 1 => Just(1.5)]
            .prop_map(|confidence| Op::Review { confidence }),
        2 => rarely().prop_map(|blank_text| Op::Annotate { blank_text }),
    ]
}

/// Seconds the clock moves before a step: mostly a little, sometimes past a
/// lease or an approval deadline.
fn time_step() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 0i64..=5,
        3 => 0i64..=120,
        1 => 0i64..=1800,
    ]
}

fn steps() -> impl Strategy<Value = Vec<(i64, Op)>> {
    prop::collection::vec((time_step(), op()), 1..=60)
}

/// Phase is set iff pending; a lease iff running; `waiting_on` iff awaiting.
fn check_shape(inv: &Investigation) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        inv.phase.is_some(),
        inv.status == Status::Pending,
        "{:?}",
        inv
    );
    let running = inv.phase == Some(Phase::Running);
    prop_assert_eq!(inv.lease_owner.is_some(), running, "{:?}", inv);
    prop_assert_eq!(inv.lease_expires_at.is_some(), running, "{:?}", inv);
    prop_assert_eq!(
        inv.waiting_on.is_some(),
        inv.phase == Some(Phase::AwaitingApproval),
        "{:?}",
        inv
    );
    Ok(())
}

/// Applies `steps` to a freshly dispatched investigation, checking every
/// invariant on the way. Returns the (state, command) pairs that succeeded.
fn run_steps(steps: &[(i64, Op)]) -> Result<Vec<(State, Cmd)>, TestCaseError> {
    let mut run = Run::dispatched();
    let mut succeeded = Vec::new();
    check_shape(&run.inv)?;
    for (step, (secs, op)) in steps.iter().enumerate() {
        run.advance(Duration::seconds(*secs));
        let command = op.command(&run, step);
        let cmd = Cmd::of(&command);
        let before = run.inv.clone();
        let from = State::of(Some(&before));
        let result = transition(Some(&before), command.clone(), run.now);
        prop_assert_eq!(
            &result,
            &transition(Some(&before), command.clone(), run.now),
            "transition is deterministic"
        );

        // Fencing: a worker command is LeaseLost exactly when the caller does
        // not hold an unexpired lease under the current epoch.
        if let Some(held) = held_epoch(&command) {
            let holds = before.status == Status::Pending
                && before.phase == Some(Phase::Running)
                && before.lease_epoch == held
                && before.lease_expires_at.is_some_and(|t| run.now < t);
            let lost = matches!(result, Err(TransitionError::LeaseLost { .. }));
            prop_assert_eq!(lost, !holds, "{:?} from {:?}: {:?}", cmd, from, result);
        }

        match result {
            Err(_) => {
                // Refused: nothing is written; the run keeps the old record.
                prop_assert_eq!(&run.inv, &before);
            }
            Ok(t) => {
                let next = &t.next;
                // (2) Terminal statuses are left only by rescue or review.
                if before.status.is_terminal() {
                    match cmd {
                        Cmd::Annotate => {
                            prop_assert_eq!(next.status, before.status);
                            prop_assert_eq!(next.phase, before.phase);
                        }
                        Cmd::Rescue => {
                            prop_assert!(matches!(
                                before.status,
                                Status::DeadLettered | Status::Failed
                            ));
                        }
                        Cmd::Review => {
                            prop_assert_eq!(before.status, Status::ReviewRequired);
                        }
                        other => {
                            prop_assert!(
                                false,
                                "{:?} succeeded on terminal {:?}",
                                other,
                                before.status
                            );
                        }
                    }
                }
                if cmd == Cmd::Annotate {
                    let expected = Investigation {
                        last_seq: next.last_seq,
                        last_hash: next.last_hash.clone(),
                        updated_at: run.now,
                        ..before.clone()
                    };
                    prop_assert_eq!(next, &expected);
                }
                // (3) The epoch never goes back, and moves on claim, reap,
                // rescue and cancel.
                prop_assert!(next.lease_epoch >= before.lease_epoch);
                prop_assert_eq!(
                    next.lease_epoch - before.lease_epoch,
                    cmd.epoch_bump(),
                    "{:?} epoch effect",
                    cmd
                );
                if cmd == Cmd::Heartbeat {
                    prop_assert!(t.events.is_empty());
                } else {
                    prop_assert!(!t.events.is_empty(), "{:?} appends an event", cmd);
                }
                prop_assert!(next.usage.model_turns >= before.usage.model_turns);
                // (1) per step: contiguous seq, linked hashes, tail recorded.
                run.accept(&t);
                succeeded.push((from, cmd));
            }
        }
        // (4) after every step.
        check_shape(&run.inv)?;
        if run.inv.phase == Some(Phase::AwaitingApproval) {
            let tracked = run.pending_approval();
            prop_assert_eq!(run.inv.waiting_on, Some(tracked.id));
            prop_assert_eq!(tracked.status, ApprovalStatus::Pending);
        }
    }

    // (1) over the whole run: seq from 1 without gaps, the chain verifies and
    // ends at the record's tail.
    for (i, event) in run.events.iter().enumerate() {
        prop_assert_eq!(event.seq, i as i64 + 1);
    }
    let mut verifier = Verifier::new(run.inv.id);
    for event in &run.events {
        prop_assert!(verifier.push(event), "chain broke at seq {}", event.seq);
    }
    let report = verifier.finish(run.inv.last_seq, &run.inv.last_hash);
    prop_assert!(report.valid, "{:?}", report);
    prop_assert_eq!(report.events_checked, run.inv.last_seq);
    Ok(succeeded)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_command_sequences_keep_the_invariants(steps in steps()) {
        run_steps(&steps)?;
    }
}

/// Guards the generator: across a fixed sample of sequences, every allowed
/// transition of the table (apart from dispatch) actually happens, so the
/// property test exercises the whole machine.
#[test]
fn random_sequences_reach_every_allowed_transition() {
    let mut runner = TestRunner::deterministic();
    let strategy = steps();
    let mut seen = Vec::new();
    for _ in 0..256 {
        let sample = strategy.new_tree(&mut runner).unwrap().current();
        seen.extend(run_steps(&sample).unwrap());
    }
    for (state, cmd, outcome) in table::TABLE {
        if matches!(outcome, Outcome::To(_)) && state != State::Absent {
            assert!(
                seen.contains(&(state, cmd)),
                "the generator never applied {cmd:?} from {state:?}"
            );
        }
    }
}

#[test]
fn cancel_of_a_parked_run_without_its_pending_request_is_refused() {
    let run = Run::awaiting();
    let request = run.pending_approval();
    let mut stale = request.clone();
    stale.status = ApprovalStatus::Approved;
    for pending_approval in [
        None,
        Some(stale),
        Some(stray_approval(request.investigation_id, run.now)),
    ] {
        let refused = run.try_apply(Command::Cancel {
            by: OPERATOR.to_owned(),
            reason: "duplicate alert".to_owned(),
            pending_approval,
        });
        assert!(
            matches!(
                refused,
                Err(TransitionError::InvalidInput {
                    field: "pending_approval",
                    ..
                })
            ),
            "{refused:?}"
        );
    }
}

#[test]
fn non_positive_lease_lengths_are_refused() {
    let run = Run::dispatched();
    for lease_for in [Duration::zero(), Duration::seconds(-5)] {
        let refused = run.try_apply(Command::Claim {
            mode: None,
            worker: WORKER.to_owned(),
            lease_for,
        });
        assert!(matches!(
            refused,
            Err(TransitionError::InvalidInput {
                field: "lease_for",
                ..
            })
        ));
    }
    let running = Run::running();
    let refused = running.try_apply(Command::Heartbeat {
        epoch: running.epoch(),
        lease_for: Duration::zero(),
    });
    assert!(matches!(
        refused,
        Err(TransitionError::InvalidInput {
            field: "lease_for",
            ..
        })
    ));
}
