//! Tasks: work items inside a case, moved by the pure [`task_transition`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::CaseId;
use super::uuid_id;
use crate::model::wire_enum;

uuid_id! {
    /// Identifies a task (UUID v7).
    TaskId
}

wire_enum! {
    /// Where a task is.
    TaskStatus {
        /// Not started.
        Todo => "todo",
        /// Being worked.
        InProgress => "in_progress",
        /// Cannot proceed for now.
        Blocked => "blocked",
        /// Finished.
        Done => "done",
    }
}

impl TaskStatus {
    /// The statuses a task in this status may move to: any other status,
    /// except that a `done` task is reopened to `todo` or `in_progress`,
    /// never straight to `blocked`.
    pub fn allowed_next(self) -> Vec<TaskStatus> {
        Self::ALL
            .iter()
            .copied()
            .filter(|to| *to != self && !(self == TaskStatus::Done && *to == TaskStatus::Blocked))
            .collect()
    }
}

wire_enum! {
    /// How urgent a task is.
    TaskPriority {
        /// When there is time.
        Low => "low",
        /// Soon.
        Medium => "medium",
        /// Today.
        High => "high",
        /// Now.
        Critical => "critical",
    }
}

/// A task of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Stable identity (UUID v7: ids sort by creation time).
    pub id: TaskId,
    /// The case it belongs to (a merge moves it to the surviving case).
    pub case_id: CaseId,
    /// Required, at most 200 characters.
    pub title: String,
    /// Free text, possibly empty.
    pub description: String,
    /// Where it is.
    pub status: TaskStatus,
    /// How urgent.
    pub priority: TaskPriority,
    /// Who works it, if anyone.
    pub assignee: Option<String>,
    /// When it is due, if it is.
    pub due_at: Option<DateTime<Utc>>,
    /// Set when it moves to `done`, cleared when it moves out of `done`.
    pub completed_at: Option<DateTime<Utc>>,
    /// The principal who created it.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A task status change that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a task that is {from} cannot move to {to}")]
pub struct TaskTransitionError {
    /// Its status.
    pub from: TaskStatus,
    /// The status asked for.
    pub to: TaskStatus,
    /// Where it may go ([`TaskStatus::allowed_next`]).
    pub allowed: Vec<TaskStatus>,
}

/// Moves `task` to `to` at `now`: `completed_at` is set on the move to
/// `done` and cleared on the move out of it; `updated_at` is `now`.
pub fn task_transition(
    task: &Task,
    to: TaskStatus,
    now: DateTime<Utc>,
) -> Result<Task, TaskTransitionError> {
    let allowed = task.status.allowed_next();
    if !allowed.contains(&to) {
        return Err(TaskTransitionError {
            from: task.status,
            to,
            allowed,
        });
    }
    let mut next = task.clone();
    next.status = to;
    next.updated_at = now;
    next.completed_at = match to {
        TaskStatus::Done => Some(now),
        TaskStatus::Todo | TaskStatus::InProgress | TaskStatus::Blocked => None,
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn task(status: TaskStatus) -> Task {
        let t0 = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap();
        Task {
            id: TaskId(Uuid::from_u128(1)),
            case_id: CaseId(Uuid::from_u128(2)),
            title: "pull the proxy logs".to_owned(),
            description: String::new(),
            status,
            priority: TaskPriority::Medium,
            assignee: None,
            due_at: None,
            completed_at: (status == TaskStatus::Done).then_some(t0),
            created_by: "alice".to_owned(),
            created_at: t0,
            updated_at: t0,
        }
    }

    use TaskStatus::{Blocked, Done, InProgress, Todo};

    /// Every (from, to) pair once: whether the move is allowed.
    const TABLE: [(TaskStatus, [bool; 4]); 4] = [
        //            todo   in_progress blocked done
        (Todo, [false, true, true, true]),
        (InProgress, [true, false, true, true]),
        (Blocked, [true, true, false, true]),
        (Done, [true, true, false, false]),
    ];

    #[test]
    fn every_task_status_pair_matches_the_table() {
        assert_eq!(TABLE.len(), TaskStatus::ALL.len());
        for (from, row) in TABLE {
            for (to, allowed) in TaskStatus::ALL.iter().copied().zip(row) {
                let now = Utc.with_ymd_and_hms(2025, 3, 2, 9, 0, 0).unwrap();
                let result = task_transition(&task(from), to, now);
                assert_eq!(result.is_ok(), allowed, "{from} -> {to}: {result:?}");
                match result {
                    Ok(next) => {
                        assert_eq!(next.status, to);
                        assert_eq!(next.updated_at, now);
                        assert_eq!(next.completed_at, (to == Done).then_some(now));
                    }
                    Err(e) => {
                        assert_eq!(e.allowed, from.allowed_next());
                        assert!(!e.allowed.contains(&to));
                    }
                }
            }
        }
    }
}
