//! `vigil events`: an investigation's timeline, one line per event, and with
//! `--follow` a live tail over Server-Sent Events.
//!
//! Following resumes after a dropped connection with `Last-Event-ID` (the
//! last seq printed), so no event is skipped or printed twice; it retries
//! until the server is back, and ends on Ctrl-C. `--until-state` makes it
//! stop by itself once the investigation awaits an approval or has
//! finished, which is what scripts wait for.

use vigil_api::views::{EventPage, EventView, InvestigationDetail};
use vigil_engine::event::EventKind;
use vigil_engine::{Phase, Status};

use super::Client;
use super::follow::{self, Ended, Next};
use super::render;

/// Events read per page when not following.
const PAGE: u32 = 1000;

/// `vigil events` options.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// The investigation id.
    id: String,
    /// Only events after this seq.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    after_seq: i64,
    /// Keep printing events as they happen (Ctrl-C to stop).
    #[arg(long, short)]
    follow: bool,
    /// Follow until the investigation is in this state, then exit 0
    /// (implies --follow).
    #[arg(long, value_enum, value_name = "STATE")]
    until_state: Option<UntilState>,
}

/// When `--until-state` stops following.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum UntilState {
    /// The investigation waits on an approval request (or has finished,
    /// so it will ask for none).
    AwaitingApproval,
    /// The investigation is no longer pending: completed, review_required,
    /// failed or dead_lettered.
    Finished,
}

impl UntilState {
    fn reached(self, state: (Status, Option<Phase>)) -> bool {
        match self {
            UntilState::AwaitingApproval => {
                state.1 == Some(Phase::AwaitingApproval) || state.0 != Status::Pending
            }
            UntilState::Finished => state.0 != Status::Pending,
        }
    }
}

/// The state an investigation is in right after an event of `kind`;
/// `None` when the event does not change it.
fn state_after(kind: EventKind) -> Option<(Status, Option<Phase>)> {
    let pending = |phase| Some((Status::Pending, Some(phase)));
    match kind {
        EventKind::Dispatched
        | EventKind::Released
        | EventKind::Rescued
        | EventKind::ApprovalDecided
        | EventKind::ApprovalExpired
        | EventKind::ChildrenFinished => pending(Phase::Queued),
        EventKind::AwaitingChildren => pending(Phase::AwaitingChildren),
        EventKind::Claimed
        | EventKind::ModelTurn
        | EventKind::ToolIntent
        | EventKind::ToolResult
        | EventKind::ModelCallFailed => pending(Phase::Running),
        EventKind::ApprovalRequested => pending(Phase::AwaitingApproval),
        EventKind::Completed | EventKind::Reviewed => Some((Status::Completed, None)),
        EventKind::ReviewRequired => Some((Status::ReviewRequired, None)),
        EventKind::Failed | EventKind::Cancelled => Some((Status::Failed, None)),
        EventKind::DeadLettered => Some((Status::DeadLettered, None)),
        EventKind::OperatorNote => None,
    }
}

/// Decides when following stops. The condition is judged on the
/// investigation's *current* state, not on history being replayed: the
/// state read before the stream opens holds at the log's tail as it was
/// then (`baseline`), and each later event moves it on.
#[derive(Debug)]
struct Stopper {
    until: UntilState,
    baseline: i64,
    state: (Status, Option<Phase>),
}

impl Stopper {
    fn new(until: UntilState, detail: &InvestigationDetail) -> anyhow::Result<Self> {
        let status = detail.summary.status.parse::<Status>()?;
        let phase = detail
            .summary
            .phase
            .as_deref()
            .map(str::parse::<Phase>)
            .transpose()?;
        Ok(Self {
            until,
            baseline: detail.last_seq,
            state: (status, phase),
        })
    }

    /// Whether the condition already holds with nothing more to print.
    fn done_before(&self, after_seq: i64) -> bool {
        after_seq >= self.baseline && self.until.reached(self.state)
    }

    /// Whether the condition holds after `event`.
    fn done_after(&mut self, event: &EventView) -> bool {
        if event.seq < self.baseline {
            return false;
        }
        if event.seq > self.baseline
            && let Some(next) = event.kind.parse().ok().and_then(state_after)
        {
            self.state = next;
        }
        self.until.reached(self.state)
    }

    fn describe(&self) -> String {
        render::state(self.state.0.as_str(), self.state.1.map(Phase::as_str))
    }
}

/// Prints the events (all pages), or follows them.
pub async fn events(client: &Client, args: EventsArgs, json: bool) -> anyhow::Result<()> {
    if args.follow || args.until_state.is_some() {
        return follow(client, &args, json).await;
    }
    let mut after = args.after_seq;
    loop {
        let reply = client
            .get::<EventPage>(
                &["investigations", &args.id, "events"],
                &[
                    ("after_seq", after.to_string()),
                    ("limit", PAGE.to_string()),
                ],
            )
            .await?;
        let page = reply.value;
        for event in &page.items {
            print_event(event, json)?;
        }
        if page.items.is_empty() || page.next_after_seq <= after {
            return Ok(());
        }
        after = page.next_after_seq;
    }
}

fn print_event(event: &EventView, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(event)?);
    } else {
        println!("{}", render::event_line(event));
    }
    Ok(())
}

/// Tails the event stream, reconnecting with `Last-Event-ID` after drops
/// (see [`follow::follow`]).
async fn follow(client: &Client, args: &EventsArgs, json: bool) -> anyhow::Result<()> {
    let mut stopper = match args.until_state {
        Some(until) => {
            let detail = client
                .get::<InvestigationDetail>(&["investigations", &args.id], &[])
                .await?
                .value;
            let stopper = Stopper::new(until, &detail)?;
            if stopper.done_before(args.after_seq) {
                announce(&args.id, &stopper);
                return Ok(());
            }
            Some(stopper)
        }
        None => None,
    };
    let ended = follow::follow(
        client,
        &["investigations", &args.id, "events", "stream"],
        args.after_seq,
        |data, event: &EventView| {
            if json {
                println!("{data}");
            } else {
                println!("{}", render::event_line(event));
            }
            if let Some(stopper) = &mut stopper
                && stopper.done_after(event)
            {
                announce(&args.id, stopper);
                return Ok(Next::Stop);
            }
            Ok(Next::Continue)
        },
    )
    .await?;
    if ended == Ended::StreamEnd {
        // The investigation has finished and every event was sent.
        eprintln!(
            "vigil: investigation {} has finished; stopped following",
            args.id
        );
    }
    Ok(())
}

fn announce(id: &str, stopper: &Stopper) {
    eprintln!(
        "vigil: investigation {id} is {}; stopped following",
        stopper.describe()
    );
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn detail(status: &str, phase: Option<&str>, last_seq: i64) -> InvestigationDetail {
        serde_json::from_value(json!({
            "id": "01a210ba-781c-7a5d-874e-8b73d3bb0f91", "agent_id": "triage",
            "status": status, "phase": phase, "requested_by": "admin", "case_ref": null,
            "created_at": "2026-11-25T03:23:05Z", "started_at": null,
            "updated_at": "2026-11-25T03:23:05Z", "finished_at": null, "duration_ms": null,
            "confidence": null, "attempt": 1, "claims": 1, "model_turns": 0, "input_tokens": 0,
            "output_tokens": 0, "cost_usd": 0.0, "lost_turns": 0, "mode": null, "waiting_on": null, "prompt": "p",
            "result": null, "result_raw": null, "error": null, "budget": {},
            "lease": {"owner": null, "epoch": 1, "expires_at": null, "heartbeat_at": null},
            "last_seq": last_seq, "pending_approval": null
        }))
        .unwrap()
    }

    fn event(seq: i64, kind: &str) -> EventView {
        serde_json::from_value(json!({
            "investigation_id": "01a210ba-781c-7a5d-874e-8b73d3bb0f91", "seq": seq,
            "kind": kind, "payload": {}, "actor": "w", "epoch": 1,
            "created_at": "2026-11-25T03:23:05Z", "prev_hash": "", "hash": ""
        }))
        .unwrap()
    }

    #[test]
    fn history_being_replayed_does_not_stop_a_follow() {
        // Completed at seq 14; an approval was requested at seq 10 on the way.
        let mut s =
            Stopper::new(UntilState::AwaitingApproval, &detail("completed", None, 14)).unwrap();
        assert!(!s.done_before(0));
        assert!(!s.done_after(&event(10, "approval_requested")));
        assert!(s.done_after(&event(14, "completed")));
        assert!(s.done_before(14), "nothing left to print");
    }

    #[test]
    fn live_events_move_the_state_on() {
        let mut s =
            Stopper::new(UntilState::Finished, &detail("pending", Some("queued"), 1)).unwrap();
        assert!(!s.done_after(&event(1, "dispatched")));
        assert!(!s.done_after(&event(2, "claimed")));
        assert!(!s.done_after(&event(3, "approval_requested")));
        assert!(!s.done_after(&event(4, "operator_note")));
        assert!(!s.done_after(&event(5, "approval_decided")));
        assert!(s.done_after(&event(6, "completed")));

        let mut a = Stopper::new(
            UntilState::AwaitingApproval,
            &detail("pending", Some("running"), 3),
        )
        .unwrap();
        assert!(!a.done_after(&event(4, "tool_result")));
        assert!(a.done_after(&event(5, "approval_requested")));
        assert_eq!(a.describe(), "pending/awaiting_approval");
        let mut failed =
            Stopper::new(UntilState::AwaitingApproval, &detail("pending", None, 3)).unwrap();
        assert!(
            failed.done_after(&event(4, "cancelled")),
            "finished: no approval will come"
        );
    }

    #[test]
    fn every_event_kind_has_a_known_effect_on_the_state() {
        for kind in EventKind::ALL {
            let after = state_after(*kind);
            assert_eq!(after.is_none(), *kind == EventKind::OperatorNote, "{kind}");
        }
    }
}
