//! [`Tokens`], [`Notifications`] and [`Presence`] over a [`Backend`]: the
//! rules (validation, role comparison, outcomes) live here, once; the
//! adapters only run the SQL.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::TransactionalStore;
use crate::approval::ApprovalId;
use crate::principal::Role;
use crate::store::backend::{Backend, DeliveryChange, TokenLock, WriteTx};
use crate::store::error::{Error, Result};
use crate::store::ports::{Notifications, Presence, Tokens};
use crate::store::records::{
    Delivery, DeliveryOutcome, DeliveryStatus, NewToken, TokenRecord, WorkerSeen,
};

/// Most deliveries one claim takes.
const MAX_CLAIM: u32 = 500;

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::InvalidInput {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Roles as a set, in [`Role::ALL`] order without repeats: how they are
/// stored and compared.
fn normalized(roles: &[Role]) -> Vec<Role> {
    Role::ALL
        .iter()
        .copied()
        .filter(|r| roles.contains(r))
        .collect()
}

/// Checks what can be checked without the database.
fn validate(token: &NewToken) -> Result<()> {
    if token.id.trim().is_empty() {
        return Err(invalid("id", "must not be blank"));
    }
    if token.principal.trim().is_empty() {
        return Err(invalid("principal", "must not be blank"));
    }
    let hash = &token.token_hash;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            "token_hash",
            "must be the hex SHA-256 of the token's secret (64 hex digits)",
        ));
    }
    Ok(())
}

/// The roles a token for an existing principal gets: the principal's own.
/// Empty `requested` roles mean "whatever it has"; others must match.
fn existing_roles(name: &str, stored: Vec<Role>, requested: &[Role]) -> Result<Vec<Role>> {
    let stored = normalized(&stored);
    if requested.is_empty() || normalized(requested) == stored {
        Ok(stored)
    } else {
        Err(Error::RolesDiffer {
            principal: name.to_owned(),
            held: stored,
            requested: normalized(requested),
        })
    }
}

/// Writes `token` (and its principal, if new) inside `tx`.
async fn insert_in<T: WriteTx>(
    tx: &mut T,
    token: &NewToken,
    now: DateTime<Utc>,
) -> Result<TokenRecord> {
    let name = token.principal.as_str();
    let roles = match tx.lock_principal(name).await? {
        Some(stored) => existing_roles(name, stored, &token.roles)?,
        // No roles asks for another token of an existing principal.
        None if token.roles.is_empty() => {
            return Err(Error::NotFound {
                what: "principal",
                id: name.to_owned(),
            });
        }
        None => {
            let roles = normalized(&token.roles);
            if tx.insert_principal(name, &roles, now).await? {
                roles
            } else {
                // A concurrent call created it first: hold to its roles.
                let stored = tx
                    .lock_principal(name)
                    .await?
                    .ok_or_else(|| Error::corrupt(format!("principal `{name}` vanished")))?;
                existing_roles(name, stored, &token.roles)?
            }
        }
    };
    if !tx
        .insert_token(&token.id, name, &token.token_hash, now)
        .await?
    {
        return Err(invalid(
            "id",
            format!("token id `{}` is already taken", token.id),
        ));
    }
    Ok(TokenRecord {
        id: token.id.clone(),
        principal: token.principal.clone(),
        roles,
        token_hash: token.token_hash.clone(),
        created_at: now,
        revoked_at: None,
    })
}

#[async_trait]
impl<B: Backend> Tokens for TransactionalStore<B> {
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord> {
        validate(&token)?;
        let now = self.now();
        let mut tx = self.backend.begin().await?;
        let locked = tx.lock_tokens(TokenLock::Write).await;
        tx_try!(tx, locked);
        let inserted = insert_in(&mut tx, &token, now).await;
        let record = tx_try!(tx, inserted);
        tx.commit().await?;
        Ok(record)
    }

    async fn bootstrap_token(&self, token: NewToken) -> Result<Option<TokenRecord>> {
        validate(&token)?;
        let now = self.now();
        let mut tx = self.backend.begin().await?;
        let locked = tx.lock_tokens(TokenLock::Exclusive).await;
        tx_try!(tx, locked);
        let exists = tx.has_active_token().await;
        if tx_try!(tx, exists) {
            tx.rollback().await;
            return Ok(None);
        }
        let inserted = insert_in(&mut tx, &token, now).await;
        let record = tx_try!(tx, inserted);
        tx.commit().await?;
        Ok(Some(record))
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.backend.token(id).await
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.backend.tokens().await
    }

    async fn revoke_token(&self, id: &str) -> Result<TokenRecord> {
        let now = self.now();
        let mut tx = self.backend.begin().await?;
        let table = tx.lock_tokens(TokenLock::Write).await;
        tx_try!(tx, table);
        let locked = tx.lock_token(id).await;
        let current = tx_try!(
            tx,
            locked.and_then(|t| t.ok_or_else(|| Error::NotFound {
                what: "token",
                id: id.to_owned(),
            }))
        );
        if current.revoked_at.is_some() {
            tx.rollback().await;
            return Ok(current);
        }
        let revoked = tx.revoke_token(id, now).await;
        tx_try!(tx, revoked);
        tx.commit().await?;
        Ok(TokenRecord {
            revoked_at: Some(now),
            ..current
        })
    }
}

#[async_trait]
impl<B: Backend> Notifications for TransactionalStore<B> {
    async fn enqueue_deliveries(&self, targets: &[String]) -> Result<u64> {
        if targets.iter().any(|t| t.trim().is_empty()) {
            return Err(invalid("targets", "a target name must not be blank"));
        }
        let targets: Vec<String> = targets
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if targets.is_empty() {
            return Ok(0);
        }
        self.backend.enqueue_deliveries(&targets, self.now()).await
    }

    async fn claim_deliveries(&self, hold: Duration, limit: u32) -> Result<Vec<Delivery>> {
        if hold <= Duration::zero() {
            return Err(invalid(
                "hold",
                "must be positive, or another caller could take the delivery at once",
            ));
        }
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let mut claimed = self
            .backend
            .claim_deliveries(now, now + hold, limit.min(MAX_CLAIM))
            .await?;
        claimed.sort_by(|a, b| {
            (a.created_at, a.approval_id, &a.target).cmp(&(b.created_at, b.approval_id, &b.target))
        });
        Ok(claimed)
    }

    async fn record_delivery(
        &self,
        approval: ApprovalId,
        target: &str,
        outcome: DeliveryOutcome,
    ) -> Result<Delivery> {
        let now = self.now();
        let change = match outcome {
            DeliveryOutcome::Delivered { status } => DeliveryChange {
                status: DeliveryStatus::Delivered,
                next_attempt_at: None,
                last_status: Some(status),
                last_error: None,
                delivered_at: Some(now),
                updated_at: now,
            },
            DeliveryOutcome::Retry { at, status, error } => DeliveryChange {
                status: DeliveryStatus::Pending,
                next_attempt_at: Some(at),
                last_status: status,
                last_error: Some(error),
                delivered_at: None,
                updated_at: now,
            },
            DeliveryOutcome::Failed { status, error } => DeliveryChange {
                status: DeliveryStatus::Failed,
                next_attempt_at: None,
                last_status: status,
                last_error: Some(error),
                delivered_at: None,
                updated_at: now,
            },
        };
        // A delivery that is no longer pending keeps its outcome: a late
        // report (its hold ran out and another process delivered it) must
        // not turn `delivered` back into `pending` or `failed`.
        self.backend
            .update_delivery(approval, target, &change)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "delivery",
                id: format!("{approval}/{target}"),
            })
    }

    async fn deliveries(&self, approval: ApprovalId) -> Result<Vec<Delivery>> {
        self.backend.deliveries(approval).await
    }
}

#[async_trait]
impl<B: Backend> Presence for TransactionalStore<B> {
    async fn worker_seen(&self, id: &str, agents: &[String]) -> Result<()> {
        if id.trim().is_empty() {
            return Err(invalid("id", "a worker id must not be blank"));
        }
        self.backend.worker_seen(id, agents, self.now()).await
    }

    async fn workers_seen(&self, since: DateTime<Utc>) -> Result<Vec<WorkerSeen>> {
        self.backend.workers_seen(since).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(roles: &[Role]) -> NewToken {
        NewToken {
            id: "tok-1".to_owned(),
            principal: "alice".to_owned(),
            roles: roles.to_vec(),
            token_hash: "ab".repeat(32),
        }
    }

    #[test]
    fn roles_compare_as_sets() {
        let stored = vec![Role::Operator, Role::Approver];
        let same = existing_roles("alice", stored.clone(), &[Role::Approver, Role::Operator]);
        assert_eq!(same, Ok(vec![Role::Operator, Role::Approver]));
        let repeated = existing_roles(
            "alice",
            stored.clone(),
            &[Role::Approver, Role::Operator, Role::Approver],
        );
        assert!(repeated.is_ok());
        assert_eq!(
            existing_roles("alice", stored.clone(), &[]),
            Ok(vec![Role::Operator, Role::Approver])
        );
        assert!(matches!(
            existing_roles("alice", stored, &[Role::Operator]),
            Err(Error::RolesDiffer { .. })
        ));
    }

    #[test]
    fn validation_names_the_field() {
        let field = |t: NewToken| match validate(&t) {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("expected InvalidInput, got {other:?}"),
        };
        assert!(validate(&token(&[Role::Admin])).is_ok());
        assert_eq!(
            field(NewToken {
                id: " ".to_owned(),
                ..token(&[])
            }),
            "id"
        );
        assert_eq!(
            field(NewToken {
                principal: String::new(),
                ..token(&[])
            }),
            "principal"
        );
        assert_eq!(
            field(NewToken {
                token_hash: "secret".to_owned(),
                ..token(&[])
            }),
            "token_hash"
        );
    }
}
