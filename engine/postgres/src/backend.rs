//! The PostgreSQL [`Backend`]: the pool, reads and wake-ups.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use sqlx::{PgPool, Postgres, QueryBuilder};
use vigil_engine::store::backend::{Backend, Optimistic};
use vigil_engine::store::{ApprovalQuery, Error, ListQuery, Result, Wakeup};
use vigil_engine::{
    ApprovalId, ApprovalRequest, Clock, Event, Investigation, InvestigationId, Transition,
};

use crate::queries as q;
use crate::rows::{self, map_err};
use crate::tx::{EventArrays, PgQuery, PgTx, bind_full, bind_progress};

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
        let tx = self.pool.begin().await.map_err(map_err)?;
        Ok(PgTx::new(tx, self.channel.clone()))
    }

    fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
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

    async fn events(&self, id: InvestigationId, after_seq: i64, limit: u32) -> Result<Vec<Event>> {
        sqlx::query(q::EVENTS_AFTER)
            .bind(id.0)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::event)
            .collect()
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

    async fn write_if_unchanged<F>(
        &self,
        id: InvestigationId,
        known: Option<Investigation>,
        decide: F,
    ) -> Result<Optimistic>
    where
        F: FnOnce(&Investigation) -> Result<Transition> + Send,
    {
        // One connection for the read (if any) and the write: one checkout.
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        let before = match known {
            Some(row) => row,
            None => sqlx::query(q::GET_INVESTIGATION)
                .bind(id.0)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map_err)?
                .as_ref()
                .map(rows::investigation)
                .transpose()?
                .ok_or_else(|| Error::investigation_not_found(id))?,
        };
        let t = decide(&before)?;
        let query: PgQuery<'_> = if before.progress_only(&t.next) {
            bind_progress(q::UPDATE_PROGRESS_AND_APPEND_IF_UNCHANGED, &t.next)
        } else {
            bind_full(q::UPDATE_INVESTIGATION_AND_APPEND_IF_UNCHANGED, &t.next)
        };
        let query = query
            .bind(before.last_seq)
            .bind(before.lease_epoch)
            .bind(before.lease_expires_at)
            .bind(before.heartbeat_at);
        let updated: i64 = EventArrays::new(&t.events)
            .bind(query)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)
            .and_then(|row| sqlx::Row::try_get(&row, 0).map_err(map_err))?;
        Ok(if updated == 1 {
            Optimistic::Written(Box::new(t))
        } else {
            Optimistic::Changed
        })
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query(q::PING)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    fn wakeups(&self) -> BoxStream<'static, Wakeup> {
        crate::listener::wakeups(self.listen_pool.clone(), self.channel.clone())
    }
}
