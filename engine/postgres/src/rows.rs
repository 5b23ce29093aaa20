//! Row decoding and error mapping for PostgreSQL.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use uuid::Uuid;
use vigil_engine::log::{Aggregate, Entry, EntryKind, LogId, StoredEntry};
use vigil_engine::receipt::Receipt;
use vigil_engine::store::{
    Cause, Delivery, Error, Result, StateCount, TokenRecord, WorkerSeen, record_in,
};
use vigil_engine::{ApprovalId, ApprovalRequest, Investigation, InvestigationId, Role, Usage};

/// Maps a sqlx error to the store's error: connection-level faults, server
/// shutdowns and serialization failures are transient
/// ([`Error::Unavailable`]); unique violations are [`Error::AlreadyExists`];
/// the driver error is kept as the cause.
pub(crate) fn map_err(e: sqlx::Error) -> Error {
    enum Kind {
        Transient,
        Duplicate(&'static str),
        Other,
    }
    let kind = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Kind::Transient,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // connection_exception, operator_intervention (shutdown,
            // cannot_connect_now), serialization/deadlock: retry later.
            Some(c) if c.starts_with("08") || c.starts_with("57") => Kind::Transient,
            Some("40001" | "40P01") => Kind::Transient,
            _ if db.is_unique_violation() => {
                Kind::Duplicate(record_in(db.constraint().unwrap_or_else(|| db.message())))
            }
            _ => Kind::Other,
        },
        _ => Kind::Other,
    };
    match kind {
        Kind::Transient => Error::Unavailable(Cause::new(e)),
        Kind::Duplicate(what) => Error::AlreadyExists { what },
        Kind::Other => Error::Database(Cause::new(e)),
    }
}

pub(crate) fn col<'r, T>(row: &'r PgRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(name).map_err(map_err)
}

pub(crate) fn parse<T: std::str::FromStr>(s: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| Error::corrupt(e.to_string()))
}

pub(crate) fn investigation(row: &PgRow) -> Result<Investigation> {
    let phase: Option<String> = col(row, "phase")?;
    let waiting_on: Option<Uuid> = col(row, "waiting_on")?;
    let budget: Value = col(row, "budget")?;
    Ok(Investigation {
        id: InvestigationId(col(row, "id")?),
        agent_id: col(row, "agent_id")?,
        prompt: col(row, "prompt")?,
        requested_by: col(row, "requested_by")?,
        case_ref: col(row, "case_ref")?,
        case_id: col::<Option<Uuid>>(row, "case_id")?.map(vigil_engine::case::CaseId),
        case_purpose: parse(&col::<String>(row, "case_purpose")?)?,
        case_requires_approval: false,
        parent: match col::<Option<Uuid>>(row, "parent_id")? {
            Some(parent) => Some(vigil_engine::ParentLink {
                id: InvestigationId(parent),
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
        lease_expires_at: col(row, "lease_expires_at")?,
        heartbeat_at: col(row, "heartbeat_at")?,
        attempt: col(row, "attempt")?,
        claims: col(row, "claims")?,
        not_before: col(row, "not_before")?,
        last_seq: col(row, "last_seq")?,
        last_hash: col(row, "last_hash")?,
        waiting_on: waiting_on.map(ApprovalId),
        result: col(row, "result")?,
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
        budget: serde_json::from_value(budget)
            .map_err(|e| Error::corrupt(format!("bad budget: {e}")))?,
        created_at: col(row, "created_at")?,
        started_at: col(row, "started_at")?,
        updated_at: col(row, "updated_at")?,
        finished_at: col(row, "finished_at")?,
    })
}

pub(crate) fn approval(row: &PgRow) -> Result<ApprovalRequest> {
    Ok(ApprovalRequest {
        id: ApprovalId(col(row, "id")?),
        investigation_id: InvestigationId(col(row, "investigation_id")?),
        tool_call_id: col(row, "tool_call_id")?,
        action: col(row, "action")?,
        arguments: col(row, "arguments")?,
        rationale: col(row, "rationale")?,
        status: parse(&col::<String>(row, "status")?)?,
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
        decided_by: col(row, "decided_by")?,
        decided_at: col(row, "decided_at")?,
        comment: col(row, "comment")?,
        mode: col(row, "mode")?,
    })
}

/// One entry of `A`'s log; the query names the aggregate's id column
/// `aggregate_id`.
pub(crate) fn entry<A: Aggregate>(row: &PgRow) -> Result<Entry<A>> {
    let payload: String = col(row, "payload")?;
    let kind: String = col(row, "kind")?;
    Ok(Entry::from(StoredEntry::<A> {
        aggregate_id: A::Id::from_uuid(col(row, "aggregate_id")?),
        seq: col(row, "seq")?,
        kind: A::Kind::from_name(&kind)
            .ok_or_else(|| Error::corrupt(format!("unknown entry kind `{kind}`")))?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| Error::corrupt(format!("bad event payload: {e}")))?,
        actor: col(row, "actor")?,
        epoch: col(row, "epoch")?,
        created_at: col(row, "created_at")?,
        prev_hash: col(row, "prev_hash")?,
        hash: col(row, "hash")?,
    }))
}

pub(crate) fn roles_of(row: &PgRow) -> Result<Vec<Role>> {
    let roles: Json<Vec<Role>> = col(row, "roles")?;
    Ok(roles.0)
}

pub(crate) fn token(row: &PgRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: col(row, "id")?,
        principal: col(row, "principal")?,
        roles: roles_of(row)?,
        token_hash: col(row, "token_hash")?,
        created_at: col(row, "created_at")?,
        revoked_at: col(row, "revoked_at")?,
    })
}

pub(crate) fn delivery(row: &PgRow) -> Result<Delivery> {
    Ok(Delivery {
        approval_id: ApprovalId(col(row, "approval_id")?),
        target: col(row, "target")?,
        status: parse(&col::<String>(row, "status")?)?,
        attempts: col(row, "attempts")?,
        next_attempt_at: col(row, "next_attempt_at")?,
        last_status: col(row, "last_status")?,
        last_error: col(row, "last_error")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        delivered_at: col(row, "delivered_at")?,
    })
}

pub(crate) fn worker(row: &PgRow) -> Result<WorkerSeen> {
    let agents: Json<Vec<String>> = col(row, "agents")?;
    Ok(WorkerSeen {
        id: col(row, "id")?,
        agents: agents.0,
        started_at: col(row, "started_at")?,
        seen_at: col(row, "seen_at")?,
    })
}

pub(crate) fn state_count(row: &PgRow) -> Result<StateCount> {
    let phase: Option<String> = col(row, "phase")?;
    Ok(StateCount {
        status: parse(&col::<String>(row, "status")?)?,
        phase: phase.as_deref().map(parse).transpose()?,
        count: col(row, "count")?,
    })
}

/// The pending-approval half of [`vigil_engine::store::Stats`]: the count
/// and the oldest `created_at`.
pub(crate) fn pending_approvals(row: &PgRow) -> Result<(i64, Option<DateTime<Utc>>)> {
    Ok((col(row, "count")?, col(row, "oldest")?))
}

pub(crate) fn receipt(row: &PgRow) -> Result<Receipt> {
    Ok(Receipt {
        v: 1,
        log: col(row, "log")?,
        id: col(row, "aggregate_id")?,
        seq: col(row, "seq")?,
        hash: col(row, "hash")?,
        status: col(row, "status")?,
        issued_at: col(row, "issued_at")?,
        key_id: col(row, "key_id")?,
        signature: col(row, "signature")?,
    })
}
