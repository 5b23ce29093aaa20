//! Row decoding, value encoding and error mapping for SQLite.
//!
//! Times are stored as INTEGER microseconds since the Unix epoch (UTC), ids as
//! hyphenated lower-case UUID text (which sorts like the UUID), JSON as TEXT.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;
use vigil_engine::log::{Aggregate, Entry, EntryKind, LogId, StoredEntry};
use vigil_engine::receipt::Receipt;
use vigil_engine::store::{
    Cause, Delivery, Error, Result, StateCount, TokenRecord, WorkerSeen, record_in,
};
use vigil_engine::{ApprovalId, ApprovalRequest, Investigation, InvestigationId, Role, Usage};

/// Maps a sqlx error to the store's error: connection-level faults and a
/// write lock held too long are transient ([`Error::Unavailable`]); unique
/// violations are [`Error::AlreadyExists`]; the driver error is kept as the
/// cause.
pub(crate) fn map_err(e: sqlx::Error) -> Error {
    enum Kind {
        Transient,
        Duplicate(&'static str),
        Other,
    }
    let kind = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Kind::Transient,
        // SQLITE_BUSY (5) / SQLITE_LOCKED (6) after busy_timeout: another
        // process holds the write lock for too long.
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("5" | "6" | "517")) => {
            Kind::Transient
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Kind::Duplicate(record_in(db.message()))
        }
        _ => Kind::Other,
    };
    match kind {
        Kind::Transient => Error::Unavailable(Cause::new(e)),
        Kind::Duplicate(what) => Error::AlreadyExists { what },
        Kind::Other => Error::Database(Cause::new(e)),
    }
}

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn opt_micros(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(micros)
}

pub(crate) fn time(v: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| Error::corrupt(format!("timestamp {v} out of range")))
}

pub(crate) fn opt_time(v: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    v.map(time).transpose()
}

pub(crate) fn uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| Error::corrupt(format!("bad uuid `{s}`: {e}")))
}

pub(crate) fn parse<T: std::str::FromStr>(s: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| Error::corrupt(e.to_string()))
}

pub(crate) fn json(s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| Error::corrupt(format!("bad JSON in row: {e}")))
}

pub(crate) fn to_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

pub(crate) fn col<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(name).map_err(map_err)
}

pub(crate) fn investigation(row: &SqliteRow) -> Result<Investigation> {
    let budget: String = col(row, "budget")?;
    let result: Option<String> = col(row, "result")?;
    let phase: Option<String> = col(row, "phase")?;
    let waiting_on: Option<String> = col(row, "waiting_on")?;
    let case_id: Option<String> = col(row, "case_id")?;
    Ok(Investigation {
        id: InvestigationId(uuid(&col::<String>(row, "id")?)?),
        agent_id: col(row, "agent_id")?,
        prompt: col(row, "prompt")?,
        requested_by: col(row, "requested_by")?,
        case_ref: col(row, "case_ref")?,
        case_id: case_id
            .as_deref()
            .map(uuid)
            .transpose()?
            .map(vigil_engine::case::CaseId),
        case_purpose: parse(&col::<String>(row, "case_purpose")?)?,
        case_requires_approval: false,
        parent: match col::<Option<String>>(row, "parent_id")? {
            Some(parent) => Some(vigil_engine::ParentLink {
                id: InvestigationId(uuid(&parent)?),
                tool_call_id: col::<Option<String>>(row, "parent_call_id")?.unwrap_or_default(),
                depth: col(row, "depth")?,
            }),
            None => None,
        },
        idempotency_key: col(row, "idempotency_key")?,
        traceparent: col(row, "traceparent")?,
        segment_traceparent: col(row, "segment_traceparent")?,
        status: parse(&col::<String>(row, "status")?)?,
        phase: phase.as_deref().map(parse).transpose()?,
        lease_owner: col(row, "lease_owner")?,
        lease_epoch: col(row, "lease_epoch")?,
        lease_expires_at: opt_time(col(row, "lease_expires_at")?)?,
        heartbeat_at: opt_time(col(row, "heartbeat_at")?)?,
        attempt: col(row, "attempt")?,
        claims: col(row, "claims")?,
        not_before: opt_time(col(row, "not_before")?)?,
        last_seq: col(row, "last_seq")?,
        last_hash: col(row, "last_hash")?,
        waiting_on: waiting_on.as_deref().map(uuid).transpose()?.map(ApprovalId),
        result: result.as_deref().map(json).transpose()?,
        result_raw: col(row, "result_raw")?,
        confidence: col(row, "confidence")?,
        error: col(row, "error")?,
        usage: Usage {
            model_turns: col(row, "model_turns")?,
            input_tokens: col(row, "input_tokens")?,
            output_tokens: col(row, "output_tokens")?,
            cost_usd: col(row, "cost_usd")?,
            lost_turns: col(row, "lost_turns")?,
        },
        mode: col(row, "mode")?,
        budget: serde_json::from_str(&budget)
            .map_err(|e| Error::corrupt(format!("bad budget: {e}")))?,
        created_at: time(col(row, "created_at")?)?,
        started_at: opt_time(col(row, "started_at")?)?,
        updated_at: time(col(row, "updated_at")?)?,
        finished_at: opt_time(col(row, "finished_at")?)?,
    })
}

pub(crate) fn approval(row: &SqliteRow) -> Result<ApprovalRequest> {
    Ok(ApprovalRequest {
        id: ApprovalId(uuid(&col::<String>(row, "id")?)?),
        investigation_id: InvestigationId(uuid(&col::<String>(row, "investigation_id")?)?),
        tool_call_id: col(row, "tool_call_id")?,
        action: col(row, "action")?,
        arguments: json(&col::<String>(row, "arguments")?)?,
        rationale: col(row, "rationale")?,
        status: parse(&col::<String>(row, "status")?)?,
        created_at: time(col(row, "created_at")?)?,
        expires_at: time(col(row, "expires_at")?)?,
        decided_by: col(row, "decided_by")?,
        decided_at: opt_time(col(row, "decided_at")?)?,
        comment: col(row, "comment")?,
        mode: col(row, "mode")?,
    })
}

/// One entry of `A`'s log; the query names the aggregate's id column
/// `aggregate_id`.
pub(crate) fn entry<A: Aggregate>(row: &SqliteRow) -> Result<Entry<A>> {
    let kind: String = col(row, "kind")?;
    Ok(Entry::from(StoredEntry::<A> {
        aggregate_id: A::Id::from_uuid(uuid(&col::<String>(row, "aggregate_id")?)?),
        seq: col(row, "seq")?,
        kind: A::Kind::from_name(&kind)
            .ok_or_else(|| Error::corrupt(format!("unknown entry kind `{kind}`")))?,
        payload: json(&col::<String>(row, "payload")?)?,
        actor: col(row, "actor")?,
        epoch: col(row, "epoch")?,
        created_at: time(col(row, "created_at")?)?,
        prev_hash: col(row, "prev_hash")?,
        hash: col(row, "hash")?,
    }))
}

fn roles(s: &str) -> Result<Vec<Role>> {
    serde_json::from_str(s).map_err(|e| Error::corrupt(format!("bad roles `{s}`: {e}")))
}

pub(crate) fn roles_of(row: &SqliteRow) -> Result<Vec<Role>> {
    roles(&col::<String>(row, "roles")?)
}

pub(crate) fn token(row: &SqliteRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: col(row, "id")?,
        principal: col(row, "principal")?,
        roles: roles_of(row)?,
        token_hash: col(row, "token_hash")?,
        created_at: time(col(row, "created_at")?)?,
        revoked_at: opt_time(col(row, "revoked_at")?)?,
    })
}

pub(crate) fn delivery(row: &SqliteRow) -> Result<Delivery> {
    Ok(Delivery {
        approval_id: ApprovalId(uuid(&col::<String>(row, "approval_id")?)?),
        target: col(row, "target")?,
        status: parse(&col::<String>(row, "status")?)?,
        attempts: col(row, "attempts")?,
        next_attempt_at: time(col(row, "next_attempt_at")?)?,
        last_status: col(row, "last_status")?,
        last_error: col(row, "last_error")?,
        created_at: time(col(row, "created_at")?)?,
        updated_at: time(col(row, "updated_at")?)?,
        delivered_at: opt_time(col(row, "delivered_at")?)?,
    })
}

pub(crate) fn worker(row: &SqliteRow) -> Result<WorkerSeen> {
    let agents: String = col(row, "agents")?;
    Ok(WorkerSeen {
        id: col(row, "id")?,
        agents: serde_json::from_str(&agents)
            .map_err(|e| Error::corrupt(format!("bad agents `{agents}`: {e}")))?,
        started_at: time(col(row, "started_at")?)?,
        seen_at: time(col(row, "seen_at")?)?,
    })
}

pub(crate) fn state_count(row: &SqliteRow) -> Result<StateCount> {
    let phase: Option<String> = col(row, "phase")?;
    Ok(StateCount {
        status: parse(&col::<String>(row, "status")?)?,
        phase: phase.as_deref().map(parse).transpose()?,
        count: col(row, "count")?,
    })
}

/// The pending-approval half of [`vigil_engine::store::Stats`]: the count
/// and the oldest `created_at`.
pub(crate) fn pending_approvals(row: &SqliteRow) -> Result<(i64, Option<DateTime<Utc>>)> {
    Ok((col(row, "count")?, opt_time(col(row, "oldest")?)?))
}

pub(crate) fn receipt(row: &SqliteRow) -> Result<Receipt> {
    Ok(Receipt {
        v: 1,
        log: col(row, "log")?,
        id: uuid(&col::<String>(row, "aggregate_id")?)?,
        seq: col(row, "seq")?,
        hash: col(row, "hash")?,
        status: col(row, "status")?,
        issued_at: time(col(row, "issued_at")?)?,
        key_id: col(row, "key_id")?,
        signature: col(row, "signature")?,
    })
}
