//! The SQLite [`Backend`]: pools, reads and wake-ups.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use tokio::sync::broadcast;
use vigil_engine::store::backend::{Backend, Optimistic, WriteTx};
use vigil_engine::store::{ApprovalQuery, Error, ListQuery, Result, Wakeup};
use vigil_engine::{
    ApprovalId, ApprovalRequest, Clock, Event, Investigation, InvestigationId, Transition,
};

use crate::queries as q;
use crate::rows::{self, map_err, micros};
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

    async fn events(&self, id: InvestigationId, after_seq: i64, limit: u32) -> Result<Vec<Event>> {
        sqlx::query(q::EVENTS_AFTER)
            .bind(id.to_string())
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::event)
            .collect()
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

    async fn write_if_unchanged<F>(
        &self,
        id: InvestigationId,
        known: Option<Investigation>,
        decide: F,
    ) -> Result<Optimistic>
    where
        F: FnOnce(&Investigation) -> Result<Transition> + Send,
    {
        // Read on the read pool, so only the write itself takes the writer.
        let before = match known {
            Some(row) => row,
            None => self
                .get(id)
                .await?
                .ok_or_else(|| Error::investigation_not_found(id))?,
        };
        let t = decide(&before)?;
        let mut tx = self.begin().await?;
        match tx.update_if_unchanged(&before, &t.next).await {
            Ok(true) => {}
            Ok(false) => {
                tx.rollback().await;
                return Ok(Optimistic::Changed);
            }
            Err(e) => {
                tx.rollback().await;
                return Err(e);
            }
        }
        if !t.events.is_empty()
            && let Err(e) = tx.append_events(&t.events).await
        {
            tx.rollback().await;
            return Err(e);
        }
        tx.commit().await?;
        Ok(Optimistic::Written(Box::new(t)))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query(q::PING)
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(())
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
