//! The SQLite [`Backend`]: pools, reads and wake-ups.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};
use tokio::sync::broadcast;
use uuid::Uuid;
use vigil_engine::case::{
    Alert, AlertId, CaseId, CaseNumber, Comment, CustodyRecord, Evidence, EvidenceId, Observable,
    Task,
};
use vigil_engine::log::{Aggregate, Entry, LogId, LogName};
use vigil_engine::receipt::{Receipt, log_name as receipt_log};
use vigil_engine::store::backend::{Backend, DeliveryChange, FencedWrite, WriteTx};
use vigil_engine::store::{
    AlertQuery, ApprovalQuery, CaseKpis, CaseOverview, CaseQuery, Delivery, ListQuery, Result,
    SharedRow, Stats, TokenRecord, Wakeup, WorkerSeen,
};
use vigil_engine::{ApprovalId, ApprovalRequest, Clock, Event, Investigation, InvestigationId};

use crate::case_queries as cq;
use crate::case_rows;
use crate::cases;
use crate::queries as q;
use crate::rows::{self, map_err, micros, opt_micros, to_json};
use crate::tx::SqliteTx;

/// SQLite pools, the clock and the in-process wake-up channel.
#[derive(Debug)]
pub struct SqliteBackend {
    writer: SqlitePool,
    reader: SqlitePool,
    clock: Arc<dyn Clock>,
    wake: broadcast::Sender<Wakeup>,
}

impl SqliteBackend {
    pub(crate) fn new(
        writer: SqlitePool,
        reader: SqlitePool,
        clock: Arc<dyn Clock>,
        wake: broadcast::Sender<Wakeup>,
    ) -> Self {
        Self {
            writer,
            reader,
            clock,
            wake,
        }
    }

    /// The single-connection writer pool.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// The read-only pool.
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// A bare `BEGIN IMMEDIATE` transaction on the writer, for writes that
    /// touch no investigation.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }
}

/// Unwraps a statement's result in a bare write transaction, or rolls the
/// transaction back at once and returns the mapped error.
macro_rules! tx_try {
    ($tx:ident, $e:expr) => {
        match $e {
            Ok(value) => value,
            Err(err) => {
                if let Err(e) = $tx.rollback().await {
                    tracing::warn!(error = %e, "rollback failed; the connection will be discarded");
                }
                return Err(map_err(err));
            }
        }
    };
}

/// Appends the investigation-list filters shared by every listing.
fn push_list_filters(b: &mut QueryBuilder<Sqlite>, query: &ListQuery) {
    if let Some(status) = query.status {
        b.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(phase) = query.phase {
        b.push(" AND phase = ").push_bind(phase.as_str());
    }
    if let Some(agent) = &query.agent_id {
        b.push(" AND agent_id = ").push_bind(agent.clone());
    }
    if let Some(requester) = &query.requested_by {
        b.push(" AND requested_by = ").push_bind(requester.clone());
    }
    if let Some(case_ref) = &query.case_ref {
        b.push(" AND case_ref = ").push_bind(case_ref.clone());
    }
    if let Some(case_id) = query.case_id {
        b.push(" AND case_id = ").push_bind(case_id.to_string());
    }
    if let Some(after) = query.created_after {
        b.push(" AND created_at >= ").push_bind(micros(after));
    }
    if let Some(before) = query.created_before {
        b.push(" AND created_at < ").push_bind(micros(before));
    }
    if let Some(cursor) = query.after {
        b.push(" AND (created_at, id) < (")
            .push_bind(micros(cursor.created_at))
            .push(", ")
            .push_bind(cursor.id.to_string())
            .push(")");
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    type Tx = SqliteTx;

    async fn begin(&self) -> Result<SqliteTx> {
        let tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        Ok(SqliteTx::new(tx, self.wake.clone()))
    }

    fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    async fn children(&self, parent: InvestigationId) -> Result<Vec<Investigation>> {
        sqlx::query(q::CHILDREN)
            .bind(parent.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::investigation)
            .collect()
    }

    async fn get(&self, id: InvestigationId) -> Result<Option<Investigation>> {
        sqlx::query(q::GET_INVESTIGATION)
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::investigation)
            .transpose()
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Investigation>> {
        let mut b = QueryBuilder::<Sqlite>::new(q::LIST_INVESTIGATIONS);
        push_list_filters(&mut b, query);
        b.push(q::LIST_ORDER)
            .push_bind(i64::from(query.page_size()));
        b.build()
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::investigation)
            .collect()
    }

    async fn log<A: Aggregate>(
        &self,
        id: A::Id,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Entry<A>>> {
        sqlx::query(q::log_sql(A::LOG).after)
            .bind(id.uuid().to_string())
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::entry::<A>)
            .collect()
    }

    async fn has_queued(&self, agents: &[String], now: DateTime<Utc>) -> Result<bool> {
        let mut b = QueryBuilder::<Sqlite>::new(q::HAS_QUEUED);
        b.push_bind(micros(now)).push(")");
        if !agents.is_empty() {
            b.push(" AND agent_id IN (");
            let mut list = b.separated(", ");
            for agent in agents {
                list.push_bind(agent.clone());
            }
            b.push(")");
        }
        b.push(")");
        b.build_query_scalar::<bool>()
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)
    }

    async fn approval(&self, id: ApprovalId) -> Result<Option<ApprovalRequest>> {
        sqlx::query(q::GET_APPROVAL)
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::approval)
            .transpose()
    }

    async fn approvals(&self, query: &ApprovalQuery) -> Result<Vec<ApprovalRequest>> {
        let mut b = QueryBuilder::<Sqlite>::new(q::LIST_APPROVALS);
        if let Some(status) = query.status {
            b.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(id) = query.investigation_id {
            b.push(" AND investigation_id = ").push_bind(id.to_string());
        }
        if let Some(since) = query.changed_since {
            b.push(" AND (created_at >= ")
                .push_bind(micros(since))
                .push(" OR decided_at >= ")
                .push_bind(micros(since))
                .push(")");
        }
        b.push(q::LIST_APPROVALS_ORDER)
            .push_bind(i64::from(query.row_limit()));
        b.build()
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::approval)
            .collect()
    }

    async fn update_if_unchanged(
        &self,
        before: &Investigation,
        after: &Investigation,
        events: &[Event],
        receipt: Option<&Receipt>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        match tx.update_if_unchanged(before, after).await {
            Ok(true) => {}
            Ok(false) => {
                tx.rollback().await;
                return Ok(false);
            }
            Err(e) => {
                tx.rollback().await;
                return Err(e);
            }
        }
        if !events.is_empty()
            && let Err(e) = tx.append(events).await
        {
            tx.rollback().await;
            return Err(e);
        }
        if let Some(receipt) = receipt
            && let Err(e) = tx.insert_receipt(receipt).await
        {
            tx.rollback().await;
            return Err(e);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn update_if_unchanged_batch(&self, writes: &[FencedWrite]) -> Result<Vec<bool>> {
        // One `BEGIN IMMEDIATE` and one commit (one WAL sync) for the batch.
        let mut tx = self.begin().await?;
        let mut applied = Vec::with_capacity(writes.len());
        for write in writes {
            match apply_if_unchanged(&mut tx, write).await {
                Ok(done) => applied.push(done),
                Err(e) => {
                    tx.rollback().await;
                    return Err(e);
                }
            }
        }
        tx.commit().await?;
        Ok(applied)
    }

    async fn receipts(&self, log: LogName, id: Uuid) -> Result<Vec<Receipt>> {
        sqlx::query(q::RECEIPTS)
            .bind(receipt_log(log))
            .bind(id.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::receipt)
            .collect()
    }

    async fn stats(&self) -> Result<Stats> {
        let states = sqlx::query(q::STATE_COUNTS)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::state_count)
            .collect::<Result<Vec<_>>>()?;
        let row = sqlx::query(q::PENDING_APPROVALS)
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        let (approvals_pending, oldest_pending_approval_at) = rows::pending_approvals(&row)?;
        Ok(Stats {
            states,
            approvals_pending,
            oldest_pending_approval_at,
        })
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        sqlx::query(q::GET_TOKEN)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::token)
            .transpose()
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        sqlx::query(q::LIST_TOKENS)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::token)
            .collect()
    }

    async fn enqueue_deliveries(&self, targets: &[String], at: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.write().await?;
        let mut added = 0;
        for target in targets {
            let done = sqlx::query(q::ENQUEUE_DELIVERIES)
                .bind(target)
                .bind(micros(at))
                .execute(&mut *tx)
                .await;
            added += tx_try!(tx, done).rows_affected();
        }
        tx.commit().await.map_err(map_err)?;
        Ok(added)
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let mut tx = self.write().await?;
        let claimed = sqlx::query(q::CLAIM_DELIVERIES)
            .bind(micros(now))
            .bind(micros(until))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await;
        let claimed = tx_try!(tx, claimed);
        tx.commit().await.map_err(map_err)?;
        claimed.iter().map(rows::delivery).collect()
    }

    async fn update_delivery(
        &self,
        approval: ApprovalId,
        target: &str,
        change: &DeliveryChange,
    ) -> Result<Option<Delivery>> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(q::UPDATE_DELIVERY)
            .bind(approval.to_string())
            .bind(target)
            .bind(change.status.as_str())
            .bind(opt_micros(change.next_attempt_at))
            .bind(change.last_status)
            .bind(&change.last_error)
            .bind(opt_micros(change.delivered_at))
            .bind(micros(change.updated_at))
            .fetch_optional(&mut *tx)
            .await;
        let row = match tx_try!(tx, updated) {
            Some(row) => Some(row),
            None => {
                // Not pending (or absent): report the row as it stands.
                let current = sqlx::query(q::GET_DELIVERY)
                    .bind(approval.to_string())
                    .bind(target)
                    .fetch_optional(&mut *tx)
                    .await;
                tx_try!(tx, current)
            }
        };
        tx.commit().await.map_err(map_err)?;
        row.as_ref().map(rows::delivery).transpose()
    }

    async fn deliveries(&self, approval: ApprovalId) -> Result<Vec<Delivery>> {
        sqlx::query(q::LIST_DELIVERIES)
            .bind(approval.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::delivery)
            .collect()
    }

    async fn worker_seen(&self, id: &str, agents: &[String], at: DateTime<Utc>) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query(q::WORKER_SEEN)
            .bind(id)
            .bind(to_json(&agents))
            .bind(micros(at))
            .execute(&mut *tx)
            .await;
        tx_try!(tx, done);
        tx.commit().await.map_err(map_err)
    }

    async fn workers_seen(&self, since: DateTime<Utc>) -> Result<Vec<WorkerSeen>> {
        sqlx::query(q::WORKERS_SEEN)
            .bind(micros(since))
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::worker)
            .collect()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query(q::PING)
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn record_segment(
        &self,
        id: InvestigationId,
        epoch: i64,
        traceparent: &str,
    ) -> Result<bool> {
        let done = sqlx::query(q::RECORD_SEGMENT)
            .bind(id.to_string())
            .bind(epoch)
            .bind(traceparent)
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn case(&self, id: CaseId) -> Result<Option<CaseOverview>> {
        sqlx::query(cq::GET_CASE)
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(case_rows::overview)
            .transpose()
    }

    async fn case_by_number(&self, number: CaseNumber) -> Result<Option<CaseOverview>> {
        sqlx::query(cq::GET_CASE_BY_NUMBER)
            .bind(number.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(case_rows::overview)
            .transpose()
    }

    async fn cases(&self, query: &CaseQuery) -> Result<Vec<CaseOverview>> {
        let mut b = QueryBuilder::<Sqlite>::new(cq::LIST_CASES);
        cases::push_filters(&mut b, query, true);
        cases::push_page(&mut b, query);
        b.build()
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::overview)
            .collect()
    }

    async fn case_kpis(&self, query: &CaseQuery) -> Result<CaseKpis> {
        let mut b = QueryBuilder::<Sqlite>::new(cq::CASE_KPIS);
        cases::push_filters(&mut b, query, false);
        let row = b.build().fetch_one(&self.reader).await.map_err(map_err)?;
        case_rows::kpis(&row)
    }

    async fn observables(&self, case: CaseId) -> Result<Vec<Observable>> {
        sqlx::query(cq::CASE_OBSERVABLES)
            .bind(case.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::observable)
            .collect()
    }

    async fn evidence_items(&self, case: CaseId) -> Result<Vec<Evidence>> {
        sqlx::query(cq::CASE_EVIDENCE)
            .bind(case.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::evidence)
            .collect()
    }

    async fn evidence_item(&self, id: EvidenceId) -> Result<Option<Evidence>> {
        sqlx::query(cq::GET_EVIDENCE)
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(case_rows::evidence)
            .transpose()
    }

    async fn evidence_with_content(
        &self,
        id: EvidenceId,
    ) -> Result<Option<(Evidence, Option<Vec<u8>>)>> {
        let row = sqlx::query(cq::GET_EVIDENCE_CONTENT)
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        match row {
            Some(row) => Ok(Some((
                case_rows::evidence(&row)?,
                case_rows::content(&row)?,
            ))),
            None => Ok(None),
        }
    }

    async fn custody(&self, evidence: EvidenceId) -> Result<Vec<CustodyRecord>> {
        sqlx::query(cq::EVIDENCE_CUSTODY)
            .bind(evidence.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::custody)
            .collect()
    }

    async fn comments(&self, case: CaseId) -> Result<Vec<Comment>> {
        sqlx::query(cq::CASE_COMMENTS)
            .bind(case.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::comment)
            .collect()
    }

    async fn tasks(&self, case: CaseId) -> Result<Vec<Task>> {
        sqlx::query(cq::CASE_TASKS)
            .bind(case.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::task)
            .collect()
    }

    async fn alert(&self, id: AlertId) -> Result<Option<Alert>> {
        sqlx::query(cq::GET_ALERT)
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(case_rows::alert)
            .transpose()
    }

    async fn alerts(&self, query: &AlertQuery) -> Result<Vec<Alert>> {
        let mut sql = QueryBuilder::<Sqlite>::new(cq::LIST_ALERTS);
        if let Some(case) = query.case_id {
            sql.push(" AND case_id = ").push_bind(case.to_string());
        }
        if let Some(rule) = &query.rule {
            sql.push(" AND rule = ").push_bind(rule.clone());
        }
        if let Some(source) = &query.source {
            sql.push(" AND source = ").push_bind(source.clone());
        }
        if let Some(after) = query.after {
            sql.push(" AND id < ").push_bind(after.to_string());
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(query.page_size()));
        sql.build()
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::alert)
            .collect()
    }

    async fn shared_observables(&self, case: CaseId) -> Result<Vec<SharedRow>> {
        sqlx::query(cq::SHARED_OBSERVABLES)
            .bind(case.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::shared)
            .collect()
    }

    fn wakeups(&self) -> BoxStream<'static, Wakeup> {
        let rx = self.wake.subscribe();
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(wakeup) => Some((wakeup, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((Wakeup::Resync, rx)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        }))
    }
}

/// One write of a batch inside `tx`: the conditional update, and only if it
/// applied, the events and the receipt.
async fn apply_if_unchanged(tx: &mut SqliteTx, write: &FencedWrite) -> Result<bool> {
    if !tx.update_if_unchanged(&write.before, &write.after).await? {
        return Ok(false);
    }
    if !write.events.is_empty() {
        tx.append(&write.events).await?;
    }
    if let Some(receipt) = &write.receipt {
        tx.insert_receipt(receipt).await?;
    }
    Ok(true)
}
