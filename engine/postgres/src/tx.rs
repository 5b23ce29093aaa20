//! The PostgreSQL [`WriteTx`]: one READ COMMITTED transaction with row locks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Postgres, Transaction};
use vigil_engine::case::{
    Alert, AlertId, Case, CaseId, CaseNumber, Comment, CustodyRecord, Evidence, EvidenceId,
    Observable, ObservableId, ObservableType, Task, TaskId,
};
use vigil_engine::log::{Aggregate, Entry, EntryKind, LogId};
use vigil_engine::receipt::Receipt;
use vigil_engine::store::backend::{AlertGroup, TokenLock, WriteTx};
use vigil_engine::store::{CaseCounts, Result, TokenRecord, Wakeup};
use vigil_engine::{
    ApprovalId, ApprovalRequest, ApprovalStatus, CasePurpose, Event, Investigation,
    InvestigationId, Role,
};

use crate::case_queries as cq;
use crate::case_rows::{self, bind_alert, bind_case, bind_observable, bind_task};
use crate::queries as q;
use crate::rows::{self, map_err};

/// A write transaction. `NOTIFY` is sent inside it, so workers hear of new
/// work only if it commits.
pub struct PgTx {
    tx: Transaction<'static, Postgres>,
    channel: String,
}

impl PgTx {
    pub(crate) fn new(tx: Transaction<'static, Postgres>, channel: String) -> Self {
        Self { tx, channel }
    }
}

pub(crate) type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Binds every mutable column (`$1` id, `$2`..`$26`), as in [`q::UPDATE_INVESTIGATION`].
pub(crate) fn bind_full<'q>(sql: &'static str, inv: &'q Investigation) -> PgQuery<'q> {
    sqlx::query(sql)
        .bind(inv.id.0)
        .bind(inv.status.as_str())
        .bind(inv.phase.map(|p| p.as_str()))
        .bind(&inv.lease_owner)
        .bind(inv.lease_epoch)
        .bind(inv.lease_expires_at)
        .bind(inv.heartbeat_at)
        .bind(inv.attempt)
        .bind(inv.last_seq)
        .bind(&inv.last_hash)
        .bind(inv.waiting_on.map(|a| a.0))
        .bind(&inv.result)
        .bind(&inv.result_raw)
        .bind(inv.confidence)
        .bind(&inv.error)
        .bind(inv.usage.model_turns)
        .bind(inv.usage.input_tokens)
        .bind(inv.usage.output_tokens)
        .bind(inv.usage.cost_usd)
        .bind(inv.started_at)
        .bind(inv.updated_at)
        .bind(inv.finished_at)
        .bind(inv.claims)
        .bind(inv.not_before)
        .bind(inv.usage.lost_turns)
        .bind(&inv.mode)
}

/// Binds the progress columns (`$1` id, `$2`..`$9`), as in [`q::UPDATE_PROGRESS`].
pub(crate) fn bind_progress<'q>(sql: &'static str, inv: &'q Investigation) -> PgQuery<'q> {
    sqlx::query(sql)
        .bind(inv.id.0)
        .bind(inv.last_seq)
        .bind(&inv.last_hash)
        .bind(inv.updated_at)
        .bind(inv.usage.model_turns)
        .bind(inv.usage.input_tokens)
        .bind(inv.usage.output_tokens)
        .bind(inv.usage.cost_usd)
        .bind(inv.usage.lost_turns)
}

/// The rows of a batch of fenced writes as one array per column, for
/// [`q::UPDATE_BATCH_AND_APPEND_IF_UNCHANGED`]: the columns of
/// [`bind_full`], then the compared columns of each write's `before`.
#[derive(Default)]
pub(crate) struct RowArrays {
    ids: Vec<uuid::Uuid>,
    statuses: Vec<&'static str>,
    phases: Vec<Option<&'static str>>,
    lease_owners: Vec<Option<String>>,
    lease_epochs: Vec<i64>,
    lease_expires: Vec<Option<DateTime<Utc>>>,
    heartbeats: Vec<Option<DateTime<Utc>>>,
    attempts: Vec<i32>,
    last_seqs: Vec<i64>,
    last_hashes: Vec<String>,
    waiting_on: Vec<Option<uuid::Uuid>>,
    results: Vec<Option<serde_json::Value>>,
    results_raw: Vec<Option<String>>,
    confidences: Vec<Option<f64>>,
    errors: Vec<Option<String>>,
    model_turns: Vec<i64>,
    input_tokens: Vec<i64>,
    output_tokens: Vec<i64>,
    costs: Vec<f64>,
    started: Vec<Option<DateTime<Utc>>>,
    updated: Vec<DateTime<Utc>>,
    finished: Vec<Option<DateTime<Utc>>>,
    claims: Vec<i32>,
    not_before: Vec<Option<DateTime<Utc>>>,
    lost_turns: Vec<i64>,
    modes: Vec<Option<String>>,
    before_seqs: Vec<i64>,
    before_epochs: Vec<i64>,
    before_expires: Vec<Option<DateTime<Utc>>>,
    before_heartbeats: Vec<Option<DateTime<Utc>>>,
}

impl RowArrays {
    pub(crate) fn push(&mut self, before: &Investigation, after: &Investigation) {
        self.ids.push(after.id.0);
        self.statuses.push(after.status.as_str());
        self.phases.push(after.phase.map(|p| p.as_str()));
        self.lease_owners.push(after.lease_owner.clone());
        self.lease_epochs.push(after.lease_epoch);
        self.lease_expires.push(after.lease_expires_at);
        self.heartbeats.push(after.heartbeat_at);
        self.attempts.push(after.attempt);
        self.last_seqs.push(after.last_seq);
        self.last_hashes.push(after.last_hash.clone());
        self.waiting_on.push(after.waiting_on.map(|a| a.0));
        self.results.push(after.result.clone());
        self.results_raw.push(after.result_raw.clone());
        self.confidences.push(after.confidence);
        self.errors.push(after.error.clone());
        self.model_turns.push(after.usage.model_turns);
        self.input_tokens.push(after.usage.input_tokens);
        self.output_tokens.push(after.usage.output_tokens);
        self.costs.push(after.usage.cost_usd);
        self.started.push(after.started_at);
        self.updated.push(after.updated_at);
        self.finished.push(after.finished_at);
        self.claims.push(after.claims);
        self.not_before.push(after.not_before);
        self.lost_turns.push(after.usage.lost_turns);
        self.modes.push(after.mode.clone());
        self.before_seqs.push(before.last_seq);
        self.before_epochs.push(before.lease_epoch);
        self.before_expires.push(before.lease_expires_at);
        self.before_heartbeats.push(before.heartbeat_at);
    }

    /// Binds the thirty arrays as `$1`..`$30` of a fresh query on `sql`.
    pub(crate) fn bind(self, sql: &'static str) -> PgQuery<'static> {
        sqlx::query(sql)
            .bind(self.ids)
            .bind(self.statuses)
            .bind(self.phases)
            .bind(self.lease_owners)
            .bind(self.lease_epochs)
            .bind(self.lease_expires)
            .bind(self.heartbeats)
            .bind(self.attempts)
            .bind(self.last_seqs)
            .bind(self.last_hashes)
            .bind(self.waiting_on)
            .bind(self.results)
            .bind(self.results_raw)
            .bind(self.confidences)
            .bind(self.errors)
            .bind(self.model_turns)
            .bind(self.input_tokens)
            .bind(self.output_tokens)
            .bind(self.costs)
            .bind(self.started)
            .bind(self.updated)
            .bind(self.finished)
            .bind(self.claims)
            .bind(self.not_before)
            .bind(self.lost_turns)
            .bind(self.modes)
            .bind(self.before_seqs)
            .bind(self.before_epochs)
            .bind(self.before_expires)
            .bind(self.before_heartbeats)
    }
}

/// Events as one array per column, for `UNNEST`.
pub(crate) struct EventArrays {
    ids: Vec<uuid::Uuid>,
    seqs: Vec<i64>,
    kinds: Vec<String>,
    payloads: Vec<String>,
    actors: Vec<String>,
    epochs: Vec<i64>,
    times: Vec<DateTime<Utc>>,
    prevs: Vec<String>,
    hashes: Vec<String>,
}

impl EventArrays {
    pub(crate) fn new<A: Aggregate>(events: &[Entry<A>]) -> Self {
        Self {
            ids: events.iter().map(|e| e.aggregate_id.uuid()).collect(),
            seqs: events.iter().map(|e| e.seq).collect(),
            kinds: events.iter().map(|e| e.kind.as_str().to_owned()).collect(),
            payloads: events.iter().map(|e| e.payload.to_string()).collect(),
            actors: events.iter().map(|e| e.actor.clone()).collect(),
            epochs: events.iter().map(|e| e.epoch).collect(),
            times: events.iter().map(|e| e.created_at).collect(),
            prevs: events.iter().map(|e| e.prev_hash.clone()).collect(),
            hashes: events.iter().map(|e| e.hash.clone()).collect(),
        }
    }

    /// Binds the nine arrays as the query's next parameters, in column order.
    pub(crate) fn bind(self, query: PgQuery<'_>) -> PgQuery<'_> {
        query
            .bind(self.ids)
            .bind(self.seqs)
            .bind(self.kinds)
            .bind(self.payloads)
            .bind(self.actors)
            .bind(self.epochs)
            .bind(self.times)
            .bind(self.prevs)
            .bind(self.hashes)
    }
}

fn budget_json(inv: &Investigation) -> serde_json::Value {
    serde_json::to_value(&inv.budget).unwrap_or_else(|_| serde_json::json!({}))
}

impl PgTx {
    /// Runs a statement for its effect inside the transaction.
    pub(crate) async fn exec(&mut self, query: PgQuery<'_>) -> Result<()> {
        query.execute(&mut *self.tx).await.map_err(map_err)?;
        Ok(())
    }

    /// Runs a query answering at most one row, read by `row`.
    async fn fetch_row<T>(
        &mut self,
        query: PgQuery<'_>,
        row: fn(&sqlx::postgres::PgRow) -> Result<T>,
    ) -> Result<Option<T>> {
        query
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(row)
            .transpose()
    }

    /// Runs a query answering rows, each read by `row`.
    async fn fetch_rows<T>(
        &mut self,
        query: PgQuery<'_>,
        row: fn(&sqlx::postgres::PgRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        query
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(row)
            .collect()
    }

    /// Runs a statement that answers one count (`SELECT count(*) ...`).
    pub(crate) async fn fetch_count(&mut self, query: PgQuery<'_>) -> Result<i64> {
        query
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)
            .and_then(|row| sqlx::Row::try_get(&row, 0).map_err(map_err))
    }

    /// Runs `query` and returns the uuid in the first column of each row.
    pub(crate) async fn fetch_ids(&mut self, query: PgQuery<'_>) -> Result<Vec<uuid::Uuid>> {
        query
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(|row| sqlx::Row::try_get(row, 0).map_err(map_err))
            .collect()
    }
}

#[async_trait]
impl WriteTx for PgTx {
    async fn find_idempotent(
        &mut self,
        requested_by: &str,
        key: &str,
    ) -> Result<Option<(Investigation, String)>> {
        let row = sqlx::query(q::FIND_IDEMPOTENT)
            .bind(requested_by)
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?;
        match row {
            Some(row) => {
                let digest = sqlx::Row::try_get(&row, "request_digest").map_err(map_err)?;
                Ok(Some((rows::investigation(&row)?, digest)))
            }
            None => Ok(None),
        }
    }

    async fn lock(&mut self, id: InvestigationId) -> Result<Option<Investigation>> {
        self.fetch_row(
            sqlx::query(q::LOCK_INVESTIGATION).bind(id.0),
            rows::investigation,
        )
        .await
    }

    async fn lock_queued(
        &mut self,
        agents: &[String],
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Investigation>> {
        let query = if agents.is_empty() {
            sqlx::query(q::NEXT_QUEUED_ANY).bind(now)
        } else {
            sqlx::query(q::NEXT_QUEUED_FOR_AGENTS)
                .bind(agents)
                .bind(now)
        };
        self.fetch_rows(query.bind(i64::from(limit)), rows::investigation)
            .await
    }

    async fn lock_expired_leases(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Investigation>> {
        self.fetch_rows(
            sqlx::query(q::EXPIRED_LEASES)
                .bind(now)
                .bind(i64::from(limit)),
            rows::investigation,
        )
        .await
    }

    async fn lock_due_approvals(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>> {
        self.fetch_rows(
            sqlx::query(q::DUE_APPROVALS)
                .bind(now)
                .bind(i64::from(limit)),
            rows::approval,
        )
        .await
    }

    async fn approval(&mut self, id: ApprovalId) -> Result<Option<ApprovalRequest>> {
        self.fetch_row(sqlx::query(q::GET_APPROVAL).bind(id.0), rows::approval)
            .await
    }

    async fn insert_investigation(&mut self, inv: &Investigation, digest: &str) -> Result<bool> {
        let done = bind_full(q::INSERT_INVESTIGATION, inv)
            .bind(&inv.agent_id)
            .bind(&inv.prompt)
            .bind(&inv.requested_by)
            .bind(&inv.case_ref)
            .bind(&inv.idempotency_key)
            .bind(budget_json(inv))
            .bind(inv.created_at)
            .bind(digest)
            .bind(&inv.traceparent)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn update_investigation(
        &mut self,
        before: &Investigation,
        inv: &Investigation,
    ) -> Result<()> {
        let query = if before.progress_only(inv) {
            bind_progress(q::UPDATE_PROGRESS, inv)
        } else {
            bind_full(q::UPDATE_INVESTIGATION, inv)
        };
        query.execute(&mut *self.tx).await.map_err(map_err)?;
        Ok(())
    }

    async fn append<A: Aggregate>(&mut self, entries: &[Entry<A>]) -> Result<()> {
        self.exec(EventArrays::new(entries).bind(sqlx::query(q::log_sql(A::LOG).insert)))
            .await
    }

    async fn update_and_append(
        &mut self,
        before: &Investigation,
        inv: &Investigation,
        events: &[Event],
    ) -> Result<()> {
        if events.is_empty() {
            return self.update_investigation(before, inv).await;
        }
        let query = if before.progress_only(inv) {
            bind_progress(q::UPDATE_PROGRESS_AND_APPEND, inv)
        } else {
            bind_full(q::UPDATE_INVESTIGATION_AND_APPEND, inv)
        };
        EventArrays::new(events)
            .bind(query)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn insert_and_append(
        &mut self,
        inv: &Investigation,
        digest: &str,
        events: &[Event],
    ) -> Result<bool> {
        let query = bind_full(q::INSERT_INVESTIGATION_AND_APPEND, inv)
            .bind(&inv.agent_id)
            .bind(&inv.prompt)
            .bind(&inv.requested_by)
            .bind(&inv.case_ref)
            .bind(&inv.idempotency_key)
            .bind(budget_json(inv))
            .bind(inv.created_at)
            .bind(digest);
        let inserted: i64 = EventArrays::new(events)
            .bind(query)
            .bind(&inv.traceparent)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)
            .and_then(|row| sqlx::Row::try_get(&row, 0).map_err(map_err))?;
        Ok(inserted == 1)
    }

    async fn insert_receipt(&mut self, r: &Receipt) -> Result<()> {
        self.exec(
            sqlx::query(q::INSERT_RECEIPT)
                .bind(&r.log)
                .bind(r.id)
                .bind(r.seq)
                .bind(&r.hash)
                .bind(&r.status)
                .bind(r.issued_at)
                .bind(&r.key_id)
                .bind(&r.signature),
        )
        .await
    }

    async fn insert_approval(&mut self, a: &ApprovalRequest) -> Result<()> {
        self.exec(
            sqlx::query(q::INSERT_APPROVAL)
                .bind(a.id.0)
                .bind(a.investigation_id.0)
                .bind(&a.tool_call_id)
                .bind(&a.action)
                .bind(&a.arguments)
                .bind(&a.rationale)
                .bind(a.status.as_str())
                .bind(a.created_at)
                .bind(a.expires_at)
                .bind(&a.decided_by)
                .bind(a.decided_at)
                .bind(&a.comment)
                .bind(&a.mode),
        )
        .await
    }

    async fn resolve_approval(
        &mut self,
        id: ApprovalId,
        status: ApprovalStatus,
        decided_by: Option<&str>,
        decided_at: DateTime<Utc>,
        comment: Option<&str>,
    ) -> Result<()> {
        self.exec(
            sqlx::query(q::RESOLVE_APPROVAL)
                .bind(id.0)
                .bind(status.as_str())
                .bind(decided_by)
                .bind(decided_at)
                .bind(comment),
        )
        .await
    }

    async fn lock_tokens(&mut self, mode: TokenLock) -> Result<()> {
        let sql = match mode {
            TokenLock::Write => q::LOCK_TOKENS_WRITE,
            TokenLock::Exclusive => q::LOCK_TOKENS_EXCLUSIVE,
        };
        sqlx::query(sql)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn has_active_token(&mut self) -> Result<bool> {
        sqlx::query_scalar(q::HAS_ACTIVE_TOKEN)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)
    }

    async fn lock_principal(&mut self, name: &str) -> Result<Option<Vec<Role>>> {
        self.fetch_row(sqlx::query(q::LOCK_PRINCIPAL).bind(name), rows::roles_of)
            .await
    }

    async fn insert_principal(
        &mut self,
        name: &str,
        roles: &[Role],
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(q::INSERT_PRINCIPAL)
            .bind(name)
            .bind(Json(roles))
            .bind(at)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_token(
        &mut self,
        id: &str,
        principal: &str,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(q::INSERT_TOKEN)
            .bind(id)
            .bind(principal)
            .bind(token_hash)
            .bind(at)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn lock_token(&mut self, id: &str) -> Result<Option<TokenRecord>> {
        self.fetch_row(sqlx::query(q::LOCK_TOKEN).bind(id), rows::token)
            .await
    }

    async fn revoke_token(&mut self, id: &str, at: DateTime<Utc>) -> Result<()> {
        self.exec(sqlx::query(q::REVOKE_TOKEN).bind(id).bind(at))
            .await
    }

    async fn next_case_number(&mut self) -> Result<CaseNumber> {
        sqlx::query_scalar(cq::NEXT_CASE_NUMBER)
            .fetch_one(&mut *self.tx)
            .await
            .map(CaseNumber)
            .map_err(map_err)
    }

    async fn lock_case(&mut self, id: CaseId) -> Result<Option<Case>> {
        self.fetch_row(sqlx::query(cq::LOCK_CASE).bind(id.0), case_rows::case)
            .await
    }

    async fn case_merge_target(&mut self, id: CaseId) -> Result<Option<CaseId>> {
        let target: Option<Option<uuid::Uuid>> = sqlx::query_scalar(cq::CASE_MERGE_TARGET)
            .bind(id.0)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(target.flatten().map(CaseId))
    }

    async fn insert_case(&mut self, case: &Case) -> Result<()> {
        self.exec(
            bind_case(cq::INSERT_CASE, case)
                .bind(case.number.0)
                .bind(&case.created_by)
                .bind(case.created_at),
        )
        .await
    }

    async fn link_investigation_parent(
        &mut self,
        id: InvestigationId,
        parent: &vigil_engine::ParentLink,
    ) -> Result<()> {
        self.exec(
            sqlx::query(q::LINK_INVESTIGATION_PARENT)
                .bind(id.0)
                .bind(parent.id.0)
                .bind(&parent.tool_call_id)
                .bind(parent.depth),
        )
        .await
    }

    async fn child_statuses(
        &mut self,
        parent: InvestigationId,
    ) -> Result<Vec<(InvestigationId, vigil_engine::Status)>> {
        self.fetch_rows(sqlx::query(q::CHILD_STATUSES).bind(parent.0), |row| {
            Ok((
                InvestigationId(rows::col(row, "id")?),
                rows::parse(&rows::col::<String>(row, "status")?)?,
            ))
        })
        .await
    }

    async fn link_investigation_case(
        &mut self,
        id: InvestigationId,
        case: CaseId,
        purpose: CasePurpose,
    ) -> Result<()> {
        self.exec(
            sqlx::query(q::LINK_INVESTIGATION_CASE)
                .bind(id.0)
                .bind(case.0)
                .bind(purpose.as_str()),
        )
        .await
    }

    async fn update_case(&mut self, case: &Case) -> Result<()> {
        self.exec(bind_case(cq::UPDATE_CASE, case)).await
    }

    async fn alert_owner(&mut self, alert_id: &str) -> Result<Option<CaseId>> {
        let owner: Option<uuid::Uuid> = sqlx::query_scalar(cq::ALERT_OWNER)
            .bind(alert_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(owner.map(CaseId))
    }

    async fn link_alert(
        &mut self,
        case: CaseId,
        alert_id: &str,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<()> {
        sqlx::query(cq::LINK_ALERT)
            .bind(alert_id)
            .bind(case.0)
            .bind(at)
            .bind(by)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        // A stored alert of that id follows its link; an id that is no
        // UUID names no stored alert.
        if let Ok(id) = uuid::Uuid::parse_str(alert_id.trim()) {
            sqlx::query(cq::LINK_ALERT_RECORD)
                .bind(id)
                .bind(case.0)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn detach_alerts(&mut self, case: CaseId) -> Result<()> {
        for sql in [cq::DETACH_ALERTS, cq::DETACH_ALERT_RECORDS] {
            sqlx::query(sql)
                .bind(case.0)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn move_alerts(&mut self, from: CaseId, to: CaseId) -> Result<()> {
        for sql in [cq::MOVE_ALERTS, cq::MOVE_ALERT_RECORDS] {
            sqlx::query(sql)
                .bind(from.0)
                .bind(to.0)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn insert_alert(&mut self, alert: &Alert) -> Result<bool> {
        let done = bind_alert(cq::INSERT_ALERT, alert)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn alert_by_source(&mut self, source: &str, source_id: &str) -> Result<Option<Alert>> {
        self.fetch_row(
            sqlx::query(cq::ALERT_BY_SOURCE)
                .bind(source)
                .bind(source_id),
            case_rows::alert,
        )
        .await
    }

    async fn lock_alert(&mut self, id: AlertId) -> Result<Option<Alert>> {
        self.fetch_row(sqlx::query(cq::LOCK_ALERT).bind(id.0), case_rows::alert)
            .await
    }

    async fn claim_alert_group(&mut self, key: &str) -> Result<AlertGroup> {
        sqlx::query(cq::CLAIM_ALERT_GROUP)
            .bind(key)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        let (case, last): (Option<uuid::Uuid>, Option<DateTime<Utc>>) =
            sqlx::query_as(cq::GET_ALERT_GROUP)
                .bind(key)
                .fetch_one(&mut *self.tx)
                .await
                .map_err(map_err)?;
        Ok(AlertGroup {
            case_id: case.map(CaseId),
            last_alert_at: last,
        })
    }

    async fn update_alert_group(
        &mut self,
        key: &str,
        case: CaseId,
        last_alert_at: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(
            sqlx::query(cq::UPDATE_ALERT_GROUP)
                .bind(key)
                .bind(case.0)
                .bind(last_alert_at),
        )
        .await
    }

    async fn find_observable(
        &mut self,
        case: CaseId,
        kind: ObservableType,
        value: &str,
    ) -> Result<Option<Observable>> {
        self.fetch_row(
            sqlx::query(cq::FIND_OBSERVABLE)
                .bind(case.0)
                .bind(kind.as_str())
                .bind(value),
            case_rows::observable,
        )
        .await
    }

    async fn observable(&mut self, id: ObservableId) -> Result<Option<Observable>> {
        self.fetch_row(
            sqlx::query(cq::GET_OBSERVABLE).bind(id.0),
            case_rows::observable,
        )
        .await
    }

    async fn case_observables(&mut self, case: CaseId) -> Result<Vec<Observable>> {
        self.fetch_rows(
            sqlx::query(cq::CASE_OBSERVABLES).bind(case.0),
            case_rows::observable,
        )
        .await
    }

    async fn tool_result_payloads(&mut self, id: InvestigationId) -> Result<Vec<String>> {
        sqlx::query_scalar(q::TOOL_RESULT_PAYLOADS)
            .bind(id.0)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)
    }

    async fn insert_observable(&mut self, observable: &Observable) -> Result<()> {
        self.exec(bind_observable(cq::INSERT_OBSERVABLE, observable))
            .await
    }

    async fn update_observable(&mut self, observable: &Observable) -> Result<()> {
        self.exec(bind_observable(cq::UPDATE_OBSERVABLE, observable))
            .await
    }

    async fn delete_observable(&mut self, id: ObservableId) -> Result<()> {
        self.exec(sqlx::query(cq::DELETE_OBSERVABLE).bind(id.0))
            .await
    }

    async fn evidence(&mut self, id: EvidenceId) -> Result<Option<Evidence>> {
        self.fetch_row(
            sqlx::query(cq::GET_EVIDENCE).bind(id.0),
            case_rows::evidence,
        )
        .await
    }

    async fn insert_evidence(&mut self, e: &Evidence, content: Option<&[u8]>) -> Result<()> {
        self.exec(
            sqlx::query(cq::INSERT_EVIDENCE)
                .bind(e.id.0)
                .bind(e.case_id.0)
                .bind(&e.name)
                .bind(e.kind.as_str())
                .bind(&e.description)
                .bind(&e.sha256)
                .bind(e.size_bytes)
                .bind(&e.uri)
                .bind(&e.collected_by)
                .bind(e.collected_at)
                .bind(e.created_at)
                .bind(content),
        )
        .await
    }

    async fn insert_custody(&mut self, r: &CustodyRecord) -> Result<()> {
        self.exec(
            sqlx::query(cq::INSERT_CUSTODY)
                .bind(r.id.0)
                .bind(r.evidence_id.0)
                .bind(r.action.as_str())
                .bind(&r.from)
                .bind(&r.to)
                .bind(&r.note)
                .bind(&r.actor)
                .bind(r.at),
        )
        .await
    }

    async fn insert_comment(&mut self, c: &Comment) -> Result<()> {
        self.exec(
            sqlx::query(cq::INSERT_COMMENT)
                .bind(c.id.0)
                .bind(c.case_id.0)
                .bind(&c.author)
                .bind(c.author_kind.as_str())
                .bind(&c.body)
                .bind(c.created_at)
                .bind(c.kind.as_str()),
        )
        .await
    }

    async fn task(&mut self, id: TaskId) -> Result<Option<Task>> {
        self.fetch_row(sqlx::query(cq::GET_TASK).bind(id.0), case_rows::task)
            .await
    }

    async fn insert_task(&mut self, task: &Task) -> Result<()> {
        self.exec(bind_task(cq::INSERT_TASK, task)).await
    }

    async fn update_task(&mut self, task: &Task) -> Result<()> {
        self.exec(bind_task(cq::UPDATE_TASK, task)).await
    }

    async fn case_counts(&mut self, case: CaseId) -> Result<CaseCounts> {
        let row = sqlx::query(cq::CASE_COUNTS)
            .bind(case.0)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)?;
        case_rows::counts(&row)
    }

    async fn move_records(&mut self, from: CaseId, to: CaseId) -> Result<()> {
        for sql in [cq::MOVE_EVIDENCE, cq::MOVE_COMMENTS, cq::MOVE_TASKS] {
            sqlx::query(sql)
                .bind(from.0)
                .bind(to.0)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn notify(&mut self, wakeup: Wakeup) -> Result<()> {
        let payload = match wakeup {
            Wakeup::Queued { agent_id } => agent_id,
            Wakeup::Resync => String::new(),
        };
        sqlx::query(q::NOTIFY)
            .bind(&self.channel)
            .bind(payload)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(map_err)
    }

    async fn rollback(self) {
        if let Err(e) = self.tx.rollback().await {
            tracing::warn!(error = %e, "rollback failed; the connection will be discarded");
        }
    }
}
