//! The SQLite [`WriteTx`]: one `BEGIN IMMEDIATE` transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, Transaction};
use tokio::sync::broadcast;
use vigil_engine::case::{
    Alert, AlertId, Case, CaseId, CaseNumber, Comment, CustodyRecord, Evidence, EvidenceId,
    Observable, ObservableId, ObservableType, Task, TaskId,
};
use vigil_engine::log::{Aggregate, Entry, EntryKind, LogId};
use vigil_engine::receipt::Receipt;
use vigil_engine::store::backend::{AlertGroup, TokenLock, WriteTx};
use vigil_engine::store::{CaseCounts, Result, TokenRecord, Wakeup};
use vigil_engine::{
    ApprovalId, ApprovalRequest, ApprovalStatus, CasePurpose, Investigation, InvestigationId, Role,
};

use crate::case_queries as cq;
use crate::case_rows::{self, bind_alert, bind_case, bind_observable, bind_task};
use crate::queries as q;
use crate::rows::{self, map_err, micros, opt_micros, to_json};

/// A write transaction. Wake-ups are held until commit and then sent to
/// workers in this process.
pub struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
    wakeups: Vec<Wakeup>,
    wake: broadcast::Sender<Wakeup>,
}

impl SqliteTx {
    pub(crate) fn new(tx: Transaction<'static, Sqlite>, wake: broadcast::Sender<Wakeup>) -> Self {
        Self {
            tx,
            wakeups: Vec::new(),
            wake,
        }
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds every mutable column (`?1` id, `?2`..`?26`), as in [`q::UPDATE_INVESTIGATION`].
fn bind_full<'q>(sql: &'static str, inv: &'q Investigation) -> SqliteQuery<'q> {
    sqlx::query(sql)
        .bind(inv.id.to_string())
        .bind(inv.status.as_str())
        .bind(inv.phase.map(|p| p.as_str()))
        .bind(&inv.lease_owner)
        .bind(inv.lease_epoch)
        .bind(opt_micros(inv.lease_expires_at))
        .bind(opt_micros(inv.heartbeat_at))
        .bind(inv.attempt)
        .bind(inv.last_seq)
        .bind(&inv.last_hash)
        .bind(inv.waiting_on.map(|a| a.to_string()))
        .bind(inv.result.as_ref().map(to_json))
        .bind(&inv.result_raw)
        .bind(inv.confidence)
        .bind(&inv.error)
        .bind(inv.usage.model_turns)
        .bind(inv.usage.input_tokens)
        .bind(inv.usage.output_tokens)
        .bind(inv.usage.cost_usd)
        .bind(opt_micros(inv.started_at))
        .bind(micros(inv.updated_at))
        .bind(opt_micros(inv.finished_at))
        .bind(inv.claims)
        .bind(opt_micros(inv.not_before))
        .bind(inv.usage.lost_turns)
        .bind(&inv.mode)
}

/// Binds the progress columns (`?1` id, `?2`..`?9`), as in [`q::UPDATE_PROGRESS`].
fn bind_progress<'q>(sql: &'static str, inv: &'q Investigation) -> SqliteQuery<'q> {
    sqlx::query(sql)
        .bind(inv.id.to_string())
        .bind(inv.last_seq)
        .bind(&inv.last_hash)
        .bind(micros(inv.updated_at))
        .bind(inv.usage.model_turns)
        .bind(inv.usage.input_tokens)
        .bind(inv.usage.output_tokens)
        .bind(inv.usage.cost_usd)
        .bind(inv.usage.lost_turns)
}

impl SqliteTx {
    /// Runs a statement for its effect inside the transaction.
    async fn exec(&mut self, query: SqliteQuery<'_>) -> Result<()> {
        query.execute(&mut *self.tx).await.map_err(map_err)?;
        Ok(())
    }

    /// Runs a query answering at most one row, read by `row`.
    async fn fetch_row<T>(
        &mut self,
        query: SqliteQuery<'_>,
        row: fn(&sqlx::sqlite::SqliteRow) -> Result<T>,
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
        query: SqliteQuery<'_>,
        row: fn(&sqlx::sqlite::SqliteRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        query
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(row)
            .collect()
    }
}

impl SqliteTx {
    /// Updates the row from `before` to `after` only if it still has
    /// `before`'s `last_seq`, `lease_epoch`, `lease_expires_at` and `heartbeat_at`.
    pub(crate) async fn update_if_unchanged(
        &mut self,
        before: &Investigation,
        after: &Investigation,
    ) -> Result<bool> {
        let query = if before.progress_only(after) {
            bind_progress(q::UPDATE_PROGRESS_IF_UNCHANGED, after)
        } else {
            bind_full(q::UPDATE_INVESTIGATION_IF_UNCHANGED, after)
        };
        let done = query
            .bind(before.last_seq)
            .bind(before.lease_epoch)
            .bind(opt_micros(before.lease_expires_at))
            .bind(opt_micros(before.heartbeat_at))
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl WriteTx for SqliteTx {
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
            sqlx::query(q::LOCK_INVESTIGATION).bind(id.to_string()),
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
        if agents.is_empty() {
            return self
                .fetch_rows(
                    sqlx::query(q::NEXT_QUEUED_ANY)
                        .bind(micros(now))
                        .bind(i64::from(limit)),
                    rows::investigation,
                )
                .await;
        }
        let mut b = QueryBuilder::<Sqlite>::new(q::NEXT_QUEUED_FOR_AGENTS);
        b.push_bind(micros(now));
        b.push(") AND agent_id IN (");
        let mut list = b.separated(", ");
        for agent in agents {
            list.push_bind(agent.clone());
        }
        b.push(")")
            .push(q::NEXT_QUEUED_TAIL)
            .push_bind(i64::from(limit));
        b.build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::investigation)
            .collect()
    }

    async fn lock_expired_leases(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Investigation>> {
        self.fetch_rows(
            sqlx::query(q::EXPIRED_LEASES)
                .bind(micros(now))
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
                .bind(micros(now))
                .bind(i64::from(limit)),
            rows::approval,
        )
        .await
    }

    async fn approval(&mut self, id: ApprovalId) -> Result<Option<ApprovalRequest>> {
        self.fetch_row(
            sqlx::query(q::GET_APPROVAL).bind(id.to_string()),
            rows::approval,
        )
        .await
    }

    async fn insert_investigation(&mut self, inv: &Investigation, digest: &str) -> Result<bool> {
        let done = bind_full(q::INSERT_INVESTIGATION, inv)
            .bind(&inv.agent_id)
            .bind(&inv.prompt)
            .bind(&inv.requested_by)
            .bind(&inv.case_ref)
            .bind(&inv.idempotency_key)
            .bind(to_json(&inv.budget))
            .bind(micros(inv.created_at))
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
        let sql = q::log_sql(A::LOG).insert;
        for e in entries {
            sqlx::query(sql)
                .bind(e.aggregate_id.uuid().to_string())
                .bind(e.seq)
                .bind(e.kind.as_str())
                .bind(to_json(&e.payload))
                .bind(&e.actor)
                .bind(e.epoch)
                .bind(micros(e.created_at))
                .bind(&e.prev_hash)
                .bind(&e.hash)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn insert_receipt(&mut self, r: &Receipt) -> Result<()> {
        self.exec(
            sqlx::query(q::INSERT_RECEIPT)
                .bind(&r.log)
                .bind(r.id.to_string())
                .bind(r.seq)
                .bind(&r.hash)
                .bind(&r.status)
                .bind(micros(r.issued_at))
                .bind(&r.key_id)
                .bind(&r.signature),
        )
        .await
    }

    async fn insert_approval(&mut self, a: &ApprovalRequest) -> Result<()> {
        self.exec(
            sqlx::query(q::INSERT_APPROVAL)
                .bind(a.id.to_string())
                .bind(a.investigation_id.to_string())
                .bind(&a.tool_call_id)
                .bind(&a.action)
                .bind(to_json(&a.arguments))
                .bind(&a.rationale)
                .bind(a.status.as_str())
                .bind(micros(a.created_at))
                .bind(micros(a.expires_at))
                .bind(&a.decided_by)
                .bind(opt_micros(a.decided_at))
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
                .bind(id.to_string())
                .bind(status.as_str())
                .bind(decided_by)
                .bind(micros(decided_at))
                .bind(comment),
        )
        .await
    }

    async fn lock_tokens(&mut self, _mode: TokenLock) -> Result<()> {
        // `BEGIN IMMEDIATE` already holds the database's one write lock.
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
            .bind(to_json(&roles))
            .bind(micros(at))
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
            .bind(micros(at))
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
        self.exec(sqlx::query(q::REVOKE_TOKEN).bind(id).bind(micros(at)))
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
        self.fetch_row(
            sqlx::query(cq::LOCK_CASE).bind(id.to_string()),
            case_rows::case,
        )
        .await
    }

    async fn case_merge_target(&mut self, id: CaseId) -> Result<Option<CaseId>> {
        let target: Option<Option<String>> = sqlx::query_scalar(cq::CASE_MERGE_TARGET)
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?;
        target
            .flatten()
            .map(|t| crate::rows::uuid(&t).map(CaseId))
            .transpose()
    }

    async fn insert_case(&mut self, case: &Case) -> Result<()> {
        self.exec(
            bind_case(cq::INSERT_CASE, case)
                .bind(case.number.0)
                .bind(&case.created_by)
                .bind(micros(case.created_at)),
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
                .bind(id.to_string())
                .bind(parent.id.to_string())
                .bind(&parent.tool_call_id)
                .bind(parent.depth),
        )
        .await
    }

    async fn child_statuses(
        &mut self,
        parent: InvestigationId,
    ) -> Result<Vec<(InvestigationId, vigil_engine::Status)>> {
        self.fetch_rows(
            sqlx::query(q::CHILD_STATUSES).bind(parent.to_string()),
            |row| {
                Ok((
                    InvestigationId(rows::uuid(&rows::col::<String>(row, "id")?)?),
                    rows::parse(&rows::col::<String>(row, "status")?)?,
                ))
            },
        )
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
                .bind(id.to_string())
                .bind(case.to_string())
                .bind(purpose.as_str()),
        )
        .await
    }

    async fn update_case(&mut self, case: &Case) -> Result<()> {
        self.exec(bind_case(cq::UPDATE_CASE, case)).await
    }

    async fn alert_owner(&mut self, alert_id: &str) -> Result<Option<CaseId>> {
        let owner: Option<String> = sqlx::query_scalar(cq::ALERT_OWNER)
            .bind(alert_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?;
        owner
            .as_deref()
            .map(|s| rows::uuid(s).map(CaseId))
            .transpose()
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
            .bind(case.to_string())
            .bind(micros(at))
            .bind(by)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        // A stored alert of that id follows its link.
        sqlx::query(cq::LINK_ALERT_RECORD)
            .bind(alert_id)
            .bind(case.to_string())
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn detach_alerts(&mut self, case: CaseId) -> Result<()> {
        for sql in [cq::DETACH_ALERTS, cq::DETACH_ALERT_RECORDS] {
            sqlx::query(sql)
                .bind(case.to_string())
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn move_alerts(&mut self, from: CaseId, to: CaseId) -> Result<()> {
        for sql in [cq::MOVE_ALERTS, cq::MOVE_ALERT_RECORDS] {
            sqlx::query(sql)
                .bind(from.to_string())
                .bind(to.to_string())
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
        // BEGIN IMMEDIATE holds the whole database: reading is locking.
        self.fetch_row(
            sqlx::query(cq::GET_ALERT).bind(id.to_string()),
            case_rows::alert,
        )
        .await
    }

    async fn claim_alert_group(&mut self, key: &str) -> Result<AlertGroup> {
        sqlx::query(cq::CLAIM_ALERT_GROUP)
            .bind(key)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        let (case, last): (Option<String>, Option<i64>) = sqlx::query_as(cq::GET_ALERT_GROUP)
            .bind(key)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(AlertGroup {
            case_id: case.as_deref().map(rows::uuid).transpose()?.map(CaseId),
            last_alert_at: last.map(rows::time).transpose()?,
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
                .bind(case.to_string())
                .bind(micros(last_alert_at)),
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
                .bind(case.to_string())
                .bind(kind.as_str())
                .bind(value),
            case_rows::observable,
        )
        .await
    }

    async fn observable(&mut self, id: ObservableId) -> Result<Option<Observable>> {
        self.fetch_row(
            sqlx::query(cq::GET_OBSERVABLE).bind(id.to_string()),
            case_rows::observable,
        )
        .await
    }

    async fn case_observables(&mut self, case: CaseId) -> Result<Vec<Observable>> {
        self.fetch_rows(
            sqlx::query(cq::CASE_OBSERVABLES).bind(case.to_string()),
            case_rows::observable,
        )
        .await
    }

    async fn tool_result_payloads(&mut self, id: InvestigationId) -> Result<Vec<String>> {
        sqlx::query_scalar(q::TOOL_RESULT_PAYLOADS)
            .bind(id.to_string())
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
        self.exec(sqlx::query(cq::DELETE_OBSERVABLE).bind(id.to_string()))
            .await
    }

    async fn evidence(&mut self, id: EvidenceId) -> Result<Option<Evidence>> {
        self.fetch_row(
            sqlx::query(cq::GET_EVIDENCE).bind(id.to_string()),
            case_rows::evidence,
        )
        .await
    }

    async fn insert_evidence(&mut self, e: &Evidence, content: Option<&[u8]>) -> Result<()> {
        self.exec(
            sqlx::query(cq::INSERT_EVIDENCE)
                .bind(e.id.to_string())
                .bind(e.case_id.to_string())
                .bind(&e.name)
                .bind(e.kind.as_str())
                .bind(&e.description)
                .bind(&e.sha256)
                .bind(e.size_bytes)
                .bind(&e.uri)
                .bind(&e.collected_by)
                .bind(micros(e.collected_at))
                .bind(micros(e.created_at))
                .bind(content),
        )
        .await
    }

    async fn insert_custody(&mut self, r: &CustodyRecord) -> Result<()> {
        self.exec(
            sqlx::query(cq::INSERT_CUSTODY)
                .bind(r.id.to_string())
                .bind(r.evidence_id.to_string())
                .bind(r.action.as_str())
                .bind(&r.from)
                .bind(&r.to)
                .bind(&r.note)
                .bind(&r.actor)
                .bind(micros(r.at)),
        )
        .await
    }

    async fn insert_comment(&mut self, c: &Comment) -> Result<()> {
        self.exec(
            sqlx::query(cq::INSERT_COMMENT)
                .bind(c.id.to_string())
                .bind(c.case_id.to_string())
                .bind(&c.author)
                .bind(c.author_kind.as_str())
                .bind(&c.body)
                .bind(micros(c.created_at))
                .bind(c.kind.as_str()),
        )
        .await
    }

    async fn task(&mut self, id: TaskId) -> Result<Option<Task>> {
        self.fetch_row(
            sqlx::query(cq::GET_TASK).bind(id.to_string()),
            case_rows::task,
        )
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
            .bind(case.to_string())
            .fetch_one(&mut *self.tx)
            .await
            .map_err(map_err)?;
        case_rows::counts(&row)
    }

    async fn move_records(&mut self, from: CaseId, to: CaseId) -> Result<()> {
        for sql in [cq::MOVE_EVIDENCE, cq::MOVE_COMMENTS, cq::MOVE_TASKS] {
            sqlx::query(sql)
                .bind(from.to_string())
                .bind(to.to_string())
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn notify(&mut self, wakeup: Wakeup) -> Result<()> {
        self.wakeups.push(wakeup);
        Ok(())
    }

    async fn rollback(self) {
        if let Err(e) = self.tx.rollback().await {
            tracing::warn!(error = %e, "rollback failed; the connection will be discarded");
        }
    }

    async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(map_err)?;
        for wakeup in self.wakeups {
            // No receiver just means no worker runs in this process.
            let _ = self.wake.send(wakeup);
        }
        Ok(())
    }
}
