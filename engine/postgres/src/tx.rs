//! The PostgreSQL [`WriteTx`]: one READ COMMITTED transaction with row locks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use vigil_engine::store::backend::WriteTx;
use vigil_engine::store::{Result, Wakeup};
use vigil_engine::{
    ApprovalId, ApprovalRequest, ApprovalStatus, Event, Investigation, InvestigationId,
};

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

fn budget_json(inv: &Investigation) -> serde_json::Value {
    serde_json::to_value(&inv.budget).unwrap_or_else(|_| serde_json::json!({}))
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
        sqlx::query(q::LOCK_INVESTIGATION)
            .bind(id.0)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::investigation)
            .transpose()
    }

    async fn lock_next_queued(&mut self, agents: &[String]) -> Result<Option<Investigation>> {
        let row = if agents.is_empty() {
            sqlx::query(q::NEXT_QUEUED_ANY)
                .fetch_optional(&mut *self.tx)
                .await
        } else {
            sqlx::query(q::NEXT_QUEUED_FOR_AGENTS)
                .bind(agents)
                .fetch_optional(&mut *self.tx)
                .await
        };
        row.map_err(map_err)?
            .as_ref()
            .map(rows::investigation)
            .transpose()
    }

    async fn lock_expired_leases(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Investigation>> {
        sqlx::query(q::EXPIRED_LEASES)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::investigation)
            .collect()
    }

    async fn lock_due_approvals(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>> {
        sqlx::query(q::DUE_APPROVALS)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(rows::approval)
            .collect()
    }

    async fn approval(&mut self, id: ApprovalId) -> Result<Option<ApprovalRequest>> {
        sqlx::query(q::GET_APPROVAL)
            .bind(id.0)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(rows::approval)
            .transpose()
    }

    async fn insert_investigation(&mut self, inv: &Investigation, digest: &str) -> Result<bool> {
        let done = sqlx::query(q::INSERT_INVESTIGATION)
            .bind(inv.id.0)
            .bind(&inv.agent_id)
            .bind(&inv.prompt)
            .bind(&inv.requested_by)
            .bind(&inv.case_ref)
            .bind(&inv.idempotency_key)
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
            .bind(budget_json(inv))
            .bind(inv.created_at)
            .bind(inv.started_at)
            .bind(inv.updated_at)
            .bind(inv.finished_at)
            .bind(digest)
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
        if before.progress_only(inv) {
            sqlx::query(q::UPDATE_PROGRESS)
                .bind(inv.id.0)
                .bind(inv.last_seq)
                .bind(&inv.last_hash)
                .bind(inv.updated_at)
                .bind(inv.usage.model_turns)
                .bind(inv.usage.input_tokens)
                .bind(inv.usage.output_tokens)
                .bind(inv.usage.cost_usd)
                .execute(&mut *self.tx)
                .await
                .map_err(map_err)?;
            return Ok(());
        }
        sqlx::query(q::UPDATE_INVESTIGATION)
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
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn append_events(&mut self, events: &[Event]) -> Result<()> {
        let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.investigation_id.0).collect();
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let payloads: Vec<String> = events.iter().map(|e| e.payload.to_string()).collect();
        let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
        let epochs: Vec<i64> = events.iter().map(|e| e.epoch).collect();
        let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.created_at).collect();
        let prevs: Vec<&str> = events.iter().map(|e| e.prev_hash.as_str()).collect();
        let hashes: Vec<&str> = events.iter().map(|e| e.hash.as_str()).collect();
        sqlx::query(q::INSERT_EVENT)
            .bind(ids)
            .bind(seqs)
            .bind(kinds)
            .bind(payloads)
            .bind(actors)
            .bind(epochs)
            .bind(times)
            .bind(prevs)
            .bind(hashes)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn insert_approval(&mut self, a: &ApprovalRequest) -> Result<()> {
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
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn resolve_approval(
        &mut self,
        id: ApprovalId,
        status: ApprovalStatus,
        decided_by: Option<&str>,
        decided_at: DateTime<Utc>,
        comment: Option<&str>,
    ) -> Result<()> {
        sqlx::query(q::RESOLVE_APPROVAL)
            .bind(id.0)
            .bind(status.as_str())
            .bind(decided_by)
            .bind(decided_at)
            .bind(comment)
            .execute(&mut *self.tx)
            .await
            .map_err(map_err)?;
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
