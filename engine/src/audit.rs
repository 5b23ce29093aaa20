//! What an audit checks beyond the chain: that the record people read
//! follows from its log.
//!
//! A valid chain proves the log was not altered; it says nothing about the
//! row beside it. [`Replay`] folds an investigation's events into the
//! status, phase, result and confidence they imply, and [`Replay::compare`]
//! lists every field where the stored row disagrees. A forged `result`, or a
//! status left `completed` after its `completed` event was cut off, is
//! reported even though every remaining hash checks out.

use serde_json::{Value, json};

use crate::event::{Event, EventBody};
use crate::log::Mismatch;
use crate::model::{Investigation, Phase, Status};

/// The state an investigation's events imply, folded one event at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    status: Status,
    phase: Option<Phase>,
    result: Option<Value>,
    confidence: Option<f64>,
    /// The first event that did not decode, if any.
    undecodable: Option<i64>,
}

impl Default for Replay {
    fn default() -> Self {
        Self {
            status: Status::Pending,
            phase: Some(Phase::Queued),
            result: None,
            confidence: None,
            undecodable: None,
        }
    }
}

impl Replay {
    /// Folds the next event, in seq order.
    pub fn apply(&mut self, event: &Event) {
        let Ok(body) = event.body() else {
            self.undecodable.get_or_insert(event.seq);
            return;
        };
        let pending = |phase| (Status::Pending, Some(phase));
        let (status, phase) = match body {
            EventBody::Dispatched { .. }
            | EventBody::ApprovalDecided { .. }
            | EventBody::ApprovalExpired { .. }
            | EventBody::ChildrenFinished { .. }
            | EventBody::Released { .. }
            | EventBody::Rescued { .. } => pending(Phase::Queued),
            EventBody::Claimed { .. } => pending(Phase::Running),
            EventBody::ApprovalRequested { .. } => pending(Phase::AwaitingApproval),
            EventBody::AwaitingChildren { .. } => pending(Phase::AwaitingChildren),
            EventBody::ModelTurn(_)
            | EventBody::ToolIntent(_)
            | EventBody::ToolResult(_)
            | EventBody::ModelCallFailed(_)
            | EventBody::OperatorNote { .. } => return,
            EventBody::Completed { result, confidence }
            | EventBody::Reviewed {
                result, confidence, ..
            } => {
                self.result = Some(result);
                self.confidence = confidence;
                (Status::Completed, None)
            }
            EventBody::ReviewRequired { .. } => (Status::ReviewRequired, None),
            EventBody::Failed { .. } | EventBody::Cancelled { .. } => (Status::Failed, None),
            EventBody::DeadLettered { .. } => (Status::DeadLettered, None),
        };
        self.status = status;
        self.phase = phase;
    }

    /// Every field where `row` disagrees with the replayed events.
    pub fn compare(&self, row: &Investigation) -> Vec<Mismatch> {
        let mut out = Vec::new();
        if let Some(seq) = self.undecodable {
            out.push(Mismatch {
                field: "events".to_owned(),
                row: json!(null),
                log: json!(format!("the event at seq {seq} does not decode")),
            });
        }
        let mut check = |field: &str, row: Value, log: Value| {
            if row != log {
                out.push(Mismatch {
                    field: field.to_owned(),
                    row,
                    log,
                });
            }
        };
        check("status", json!(row.status), json!(self.status));
        check("phase", json!(row.phase), json!(self.phase));
        check("result", json!(row.result), json!(self.result));
        check("confidence", json!(row.confidence), json!(self.confidence));
        out
    }
}
