//! The PostgreSQL [`Backend`]: the pool, reads and wake-ups.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;
use vigil_engine::case::{
    Alert, AlertId, CaseId, CaseNumber, Comment, CustodyRecord, Evidence, EvidenceId, Observable,
    Task,
};
use vigil_engine::log::{Aggregate, Entry, LogId, LogName};
use vigil_engine::receipt::{Receipt, log_name as receipt_log};
use vigil_engine::store::backend::{Backend, DeliveryChange, FencedWrite, WriteTx};
use vigil_engine::store::{
    AlertQuery, ApprovalQuery, CaseKpis, CaseOverview, CaseQuery, Cause, Delivery, Error,
    ListQuery, Result, SharedRow, Stats, TokenRecord, Wakeup, WorkerSeen,
};
use vigil_engine::{ApprovalId, ApprovalRequest, Clock, Event, Investigation, InvestigationId};

use crate::case_queries as cq;
use crate::case_rows;
use crate::cases;
use crate::queries as q;
use crate::rows::{self, map_err};
use crate::tx::{EventArrays, PgQuery, PgTx, RowArrays, bind_full, bind_progress};

/// The pool, the clock and the wake-up channel name.
#[derive(Debug)]
pub struct PgBackend {
    pool: PgPool,
    /// LISTEN connections live apart from the pool that serves queries, so
    /// they never take a query slot and never hold up closing it.
    listen_pool: PgPool,
    clock: Arc<dyn Clock>,
    channel: String,
}

impl PgBackend {
    /// Starts a transaction whose `BEGIN` runs to its answer even if the
    /// caller is cancelled.
    async fn begin_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        // A caller cancelled between sending BEGIN and reading its answer
        // (a step dropped on lease loss, a claim dropped at shutdown) would
        // leave the connection inside a transaction sqlx does not know of:
        // sqlx only rolls back transactions whose BEGIN it saw answered. The
        // next autocommit write on that connection would join it and could
        // be rolled back later, after being acknowledged. So the BEGIN runs
        // to its answer on a task of its own; if the caller is gone by then,
        // the transaction is dropped there and rolled back properly.
        let pool = self.pool.clone();
        let tx = tokio::spawn(async move { pool.begin().await })
            .await
            .map_err(|e| Error::Database(Cause::new(e)))?
            .map_err(map_err)?;
        Ok(tx)
    }

    pub(crate) fn new(
        pool: PgPool,
        listen_pool: PgPool,
        clock: Arc<dyn Clock>,
        channel: String,
    ) -> Self {
        Self {
            pool,
            listen_pool,
            clock,
            channel,
        }
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The LISTEN/NOTIFY channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Closes the query pool. Wake-up streams end once they are next polled.
    pub async fn close(&self) {
        self.pool.close().await;
        // Do not wait: an unpolled wake-up stream may hold a listen connection.
        drop(self.listen_pool.close());
    }
}

/// Appends the investigation-list filters shared by every listing.
fn push_list_filters(b: &mut QueryBuilder<Postgres>, query: &ListQuery) {
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
        b.push(" AND case_id = ").push_bind(case_id.0);
    }
    if let Some(after) = query.created_after {
        b.push(" AND created_at >= ").push_bind(after);
    }
    if let Some(before) = query.created_before {
        b.push(" AND created_at < ").push_bind(before);
    }
    if let Some(cursor) = query.after {
        b.push(" AND (created_at, id) < (")
            .push_bind(cursor.created_at)
            .push(", ")
            .push_bind(cursor.id.0)
            .push(")");
    }
}

#[async_trait]
impl Backend for PgBackend {
    type Tx = PgTx;

    async fn begin(&self) -> Result<PgTx> {
        Ok(PgTx::new(self.begin_tx().await?, self.channel.clone()))
    }
    fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    async fn children(&self, parent: InvestigationId) -> Result<Vec<Investigation>> {
        sqlx::query(q::CHILDREN)
            .bind(parent.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::investigation)
            .collect()
    }

    async fn get(&self, id: InvestigationId) -> Result<Option<Investigation>> {
        sqlx::query(q::GET_INVESTIGATION)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::investigation)
            .transpose()
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Investigation>> {
        let mut b = QueryBuilder::<Postgres>::new(q::LIST_INVESTIGATIONS);
        push_list_filters(&mut b, query);
        b.push(q::LIST_ORDER)
            .push_bind(i64::from(query.page_size()));
        b.build()
            .fetch_all(&self.pool)
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
            .bind(id.uuid())
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::entry::<A>)
            .collect()
    }

    async fn has_queued(&self, agents: &[String], now: DateTime<Utc>) -> Result<bool> {
        let query = if agents.is_empty() {
            sqlx::query_scalar(q::HAS_QUEUED_ANY).bind(now)
        } else {
            sqlx::query_scalar(q::HAS_QUEUED_FOR_AGENTS)
                .bind(agents)
                .bind(now)
        };
        query.fetch_one(&self.pool).await.map_err(map_err)
    }

    async fn approval(&self, id: ApprovalId) -> Result<Option<ApprovalRequest>> {
        sqlx::query(q::GET_APPROVAL)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::approval)
            .transpose()
    }

    async fn approvals(&self, query: &ApprovalQuery) -> Result<Vec<ApprovalRequest>> {
        let mut b = QueryBuilder::<Postgres>::new(q::LIST_APPROVALS);
        if let Some(status) = query.status {
            b.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(id) = query.investigation_id {
            b.push(" AND investigation_id = ").push_bind(id.0);
        }
        if let Some(since) = query.changed_since {
            b.push(" AND (created_at >= ")
                .push_bind(since)
                .push(" OR decided_at >= ")
                .push_bind(since)
                .push(")");
        }
        b.push(q::LIST_APPROVALS_ORDER)
            .push_bind(i64::from(query.row_limit()));
        b.build()
            .fetch_all(&self.pool)
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
        let query: PgQuery<'_> = if before.progress_only(after) {
            bind_progress(q::UPDATE_PROGRESS_AND_APPEND_IF_UNCHANGED, after)
        } else {
            bind_full(q::UPDATE_INVESTIGATION_AND_APPEND_IF_UNCHANGED, after)
        };
        let query = query
            .bind(before.last_seq)
            .bind(before.lease_epoch)
            .bind(before.lease_expires_at)
            .bind(before.heartbeat_at);
        let query = EventArrays::new(events).bind(query);
        let Some(receipt) = receipt else {
            // The common case: one autocommit statement.
            let updated: i64 = query
                .fetch_one(&self.pool)
                .await
                .map_err(map_err)
                .and_then(|row| sqlx::Row::try_get(&row, 0).map_err(map_err))?;
            return Ok(updated == 1);
        };
        // A terminal write with its receipt: both in one transaction.
        let mut tx = self.begin().await?;
        let updated = tx.fetch_count(query).await;
        let written = match updated {
            Ok(1) => tx.insert_receipt(receipt).await.map(|()| true),
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        };
        match written {
            Ok(true) => {
                tx.commit().await?;
                Ok(true)
            }
            Ok(false) => {
                tx.rollback().await;
                Ok(false)
            }
            Err(e) => {
                tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn update_if_unchanged_batch(&self, writes: &[FencedWrite]) -> Result<Vec<bool>> {
        let mut rows = RowArrays::default();
        let mut events = Vec::new();
        for write in writes {
            rows.push(&write.before, &write.after);
            events.extend_from_slice(&write.events);
        }
        let query =
            EventArrays::new(&events).bind(rows.bind(q::UPDATE_BATCH_AND_APPEND_IF_UNCHANGED));
        let receipts: Vec<&Receipt> = writes.iter().filter_map(|w| w.receipt.as_ref()).collect();
        let updated: Vec<Uuid> = if receipts.is_empty() {
            // The common case: one autocommit statement for the batch.
            query
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?
                .iter()
                .map(|row| sqlx::Row::try_get(row, 0).map_err(map_err))
                .collect::<Result<_>>()?
        } else {
            // Terminal writes with receipts: the statement and the receipts
            // of the rows it updated, in one transaction.
            let mut tx = self.begin().await?;
            let written = batch_with_receipts(&mut tx, query, writes).await;
            match written {
                Ok(updated) => {
                    tx.commit().await?;
                    updated
                }
                Err(e) => {
                    tx.rollback().await;
                    return Err(e);
                }
            }
        };
        Ok(writes
            .iter()
            .map(|w| updated.contains(&w.after.id.0))
            .collect())
    }

    async fn receipts(&self, log: LogName, id: Uuid) -> Result<Vec<Receipt>> {
        sqlx::query(q::RECEIPTS)
            .bind(receipt_log(log))
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::receipt)
            .collect()
    }

    async fn stats(&self) -> Result<Stats> {
        let states = sqlx::query(q::STATE_COUNTS)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::state_count)
            .collect::<Result<Vec<_>>>()?;
        let row = sqlx::query(q::PENDING_APPROVALS)
            .fetch_one(&self.pool)
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
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::token)
            .transpose()
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        sqlx::query(q::LIST_TOKENS)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::token)
            .collect()
    }

    async fn enqueue_deliveries(&self, targets: &[String], at: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.begin_tx().await?;
        let mut added = 0;
        for target in targets {
            let done = sqlx::query(q::ENQUEUE_DELIVERIES)
                .bind(target)
                .bind(at)
                .execute(&mut *tx)
                .await;
            match done {
                Ok(done) => added += done.rows_affected(),
                Err(e) => {
                    // Roll back now: a dropped transaction would hold its
                    // locks until the connection's next use.
                    if let Err(e) = tx.rollback().await {
                        tracing::warn!(error = %e, "rollback failed; the connection will be discarded");
                    }
                    return Err(map_err(e));
                }
            }
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
        sqlx::query(q::CLAIM_DELIVERIES)
            .bind(now)
            .bind(until)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::delivery)
            .collect()
    }

    async fn update_delivery(
        &self,
        approval: ApprovalId,
        target: &str,
        change: &DeliveryChange,
    ) -> Result<Option<Delivery>> {
        let updated = sqlx::query(q::UPDATE_DELIVERY)
            .bind(approval.0)
            .bind(target)
            .bind(change.status.as_str())
            .bind(change.next_attempt_at)
            .bind(change.last_status)
            .bind(&change.last_error)
            .bind(change.delivered_at)
            .bind(change.updated_at)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        let row = match updated {
            Some(row) => Some(row),
            // Not pending (or absent): report the row as it stands.
            None => sqlx::query(q::GET_DELIVERY)
                .bind(approval.0)
                .bind(target)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?,
        };
        row.as_ref().map(rows::delivery).transpose()
    }

    async fn deliveries(&self, approval: ApprovalId) -> Result<Vec<Delivery>> {
        sqlx::query(q::LIST_DELIVERIES)
            .bind(approval.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::delivery)
            .collect()
    }

    async fn worker_seen(&self, id: &str, agents: &[String], at: DateTime<Utc>) -> Result<()> {
        sqlx::query(q::WORKER_SEEN)
            .bind(id)
            .bind(Json(agents))
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn workers_seen(&self, since: DateTime<Utc>) -> Result<Vec<WorkerSeen>> {
        sqlx::query(q::WORKERS_SEEN)
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::worker)
            .collect()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query(q::PING)
            .execute(&self.pool)
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
            .bind(id.0)
            .bind(epoch)
            .bind(traceparent)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn case(&self, id: CaseId) -> Result<Option<CaseOverview>> {
        sqlx::query(cq::GET_CASE)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(case_rows::overview)
            .transpose()
    }

    async fn case_by_number(&self, number: CaseNumber) -> Result<Option<CaseOverview>> {
        sqlx::query(cq::GET_CASE_BY_NUMBER)
            .bind(number.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(case_rows::overview)
            .transpose()
    }

    async fn cases(&self, query: &CaseQuery) -> Result<Vec<CaseOverview>> {
        let mut b = QueryBuilder::<Postgres>::new(cq::LIST_CASES);
        cases::push_filters(&mut b, query, true);
        cases::push_page(&mut b, query);
        b.build()
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::overview)
            .collect()
    }

    async fn case_kpis(&self, query: &CaseQuery) -> Result<CaseKpis> {
        let mut b = QueryBuilder::<Postgres>::new(cq::CASE_KPIS);
        cases::push_filters(&mut b, query, false);
        let row = b.build().fetch_one(&self.pool).await.map_err(map_err)?;
        case_rows::kpis(&row)
    }

    async fn observables(&self, case: CaseId) -> Result<Vec<Observable>> {
        sqlx::query(cq::CASE_OBSERVABLES)
            .bind(case.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::observable)
            .collect()
    }

    async fn evidence_items(&self, case: CaseId) -> Result<Vec<Evidence>> {
        sqlx::query(cq::CASE_EVIDENCE)
            .bind(case.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::evidence)
            .collect()
    }

    async fn evidence_item(&self, id: EvidenceId) -> Result<Option<Evidence>> {
        sqlx::query(cq::GET_EVIDENCE)
            .bind(id.0)
            .fetch_optional(&self.pool)
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
            .bind(id.0)
            .fetch_optional(&self.pool)
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
            .bind(evidence.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::custody)
            .collect()
    }

    async fn comments(&self, case: CaseId) -> Result<Vec<Comment>> {
        sqlx::query(cq::CASE_COMMENTS)
            .bind(case.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::comment)
            .collect()
    }

    async fn tasks(&self, case: CaseId) -> Result<Vec<Task>> {
        sqlx::query(cq::CASE_TASKS)
            .bind(case.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::task)
            .collect()
    }

    async fn alert(&self, id: AlertId) -> Result<Option<Alert>> {
        sqlx::query(cq::GET_ALERT)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(case_rows::alert)
            .transpose()
    }

    async fn alerts(&self, query: &AlertQuery) -> Result<Vec<Alert>> {
        let mut sql = QueryBuilder::<Postgres>::new(cq::LIST_ALERTS);
        if let Some(case) = query.case_id {
            sql.push(" AND case_id = ").push_bind(case.0);
        }
        if let Some(rule) = &query.rule {
            sql.push(" AND rule = ").push_bind(rule.clone());
        }
        if let Some(source) = &query.source {
            sql.push(" AND source = ").push_bind(source.clone());
        }
        if let Some(after) = query.after {
            sql.push(" AND id < ").push_bind(after.0);
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(query.page_size()));
        sql.build()
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::alert)
            .collect()
    }

    async fn shared_observables(&self, case: CaseId) -> Result<Vec<SharedRow>> {
        sqlx::query(cq::SHARED_OBSERVABLES)
            .bind(case.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(case_rows::shared)
            .collect()
    }

    fn wakeups(&self) -> BoxStream<'static, Wakeup> {
        crate::listener::wakeups(self.listen_pool.clone(), self.channel.clone())
    }
}

/// Runs the batch statement `query` in `tx`, then inserts the receipt of
/// every write whose row it updated. Returns the updated ids.
async fn batch_with_receipts(
    tx: &mut PgTx,
    query: PgQuery<'_>,
    writes: &[FencedWrite],
) -> Result<Vec<Uuid>> {
    let updated = tx.fetch_ids(query).await?;
    for write in writes {
        if let Some(receipt) = &write.receipt
            && updated.contains(&write.after.id.0)
        {
            tx.insert_receipt(receipt).await?;
        }
    }
    Ok(updated)
}
