//! Bearer tokens: how they look, how they are issued and how a request is
//! authenticated and authorised.
//!
//! A token is `vgl_<id>_<secret>`: `id` is 16 hex characters (the public
//! handle used to list and revoke it) and `secret` 64 hex characters, 256
//! random bits. Only the SHA-256 of the secret is stored; the token is shown
//! once, when it is issued. A presented token is looked up by its id and its
//! secret's hash compared in constant time.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use vigil_engine::store::{NewToken, TokenRecord};
use vigil_engine::{Principal, Role};

use crate::error::ApiError;
use crate::state::AppState;

/// The prefix of every token (it makes leaked tokens easy to scan for).
pub const TOKEN_PREFIX: &str = "vgl_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A freshly issued token: the secret string to hand over once, and the
/// record to store.
#[derive(Debug)]
pub struct Issued {
    /// The whole token. Show it once; it is not stored anywhere.
    pub token: String,
    /// What the store keeps.
    pub record: NewToken,
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
#[error("the system random source failed: {0}")]
pub struct RandomError(String);

/// Issues a token for `principal` with `roles` (empty: the existing
/// principal's roles).
pub fn issue(principal: &str, roles: Vec<Role>) -> Result<Issued, RandomError> {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut id).map_err(|e| RandomError(e.to_string()))?;
    getrandom::fill(&mut secret).map_err(|e| RandomError(e.to_string()))?;
    let id = hex::encode(id);
    let secret = hex::encode(secret);
    Ok(Issued {
        token: format!("{TOKEN_PREFIX}{id}_{secret}"),
        record: NewToken {
            id,
            principal: principal.to_owned(),
            roles,
            token_hash: hash_secret(&secret),
        },
    })
}

/// Splits a presented token into (id, secret), if it has the right shape.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hexish = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexish(id, ID_BYTES * 2) && hexish(secret, SECRET_BYTES * 2)).then_some((id, secret))
}

/// The stored form of a secret: hex SHA-256.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` matches `record`, compared in constant time, and the
/// token is not revoked.
pub fn verify(record: &TokenRecord, secret: &str) -> bool {
    let presented = hash_secret(secret);
    let matches: bool = presented
        .as_bytes()
        .ct_eq(record.token_hash.as_bytes())
        .into();
    matches && record.revoked_at.is_none()
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal, String);

impl Caller {
    /// A caller authenticated as `principal` by the token with public id
    /// `token_id`.
    pub fn new(principal: Principal, token_id: impl Into<String>) -> Self {
        Self(principal, token_id.into())
    }

    /// The public id of the token the caller presented: long-lived answers
    /// (streams) re-check it.
    pub fn token_id(&self) -> &str {
        &self.1
    }

    /// The principal's name, recorded on every write.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether the caller holds `role` (admins hold every role).
    pub fn has(&self, role: Role) -> bool {
        self.0.has(role)
    }

    /// Passes when the caller holds one of `roles`; otherwise a 403 naming them.
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), ApiError> {
        if roles.iter().any(|r| self.has(*r)) {
            return Ok(());
        }
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::forbidden(format!(
            "{action} needs one of the roles {}; {} holds {}",
            names.join(", "),
            self.0.name,
            held(&self.0.roles)
        )))
    }

    /// Whether the caller may read every investigation (not only its own).
    pub fn reads_all(&self) -> bool {
        self.has(Role::Operator) || self.has(Role::Auditor)
    }
}

fn held(roles: &[Role]) -> String {
    if roles.is_empty() {
        return "no role".to_owned();
    }
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthenticated("an Authorization: Bearer token is required")
        })?;
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be `Bearer <token>`")
            })?;
        let invalid = || ApiError::unauthenticated("the token is unknown or revoked");
        let (id, secret) = parse(presented).ok_or_else(invalid)?;
        let record = state.store.token(id).await?.ok_or_else(invalid)?;
        if !verify(&record, secret) {
            return Err(invalid());
        }
        Ok(Caller::new(
            Principal::new(record.principal, record.roles),
            record.id,
        ))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    #[test]
    fn issued_tokens_parse_verify_and_differ() {
        let a = issue("alice", vec![Role::Approver]).unwrap();
        let b = issue("alice", vec![Role::Approver]).unwrap();
        assert_ne!(a.token, b.token);
        assert!(
            !a.record
                .token_hash
                .contains(&a.token[TOKEN_PREFIX.len() + 17..])
        );
        let (id, secret) = parse(&a.token).unwrap();
        assert_eq!(id, a.record.id);
        let mut record = TokenRecord {
            id: a.record.id.clone(),
            principal: "alice".into(),
            roles: vec![Role::Approver],
            token_hash: a.record.token_hash.clone(),
            created_at: Utc::now(),
            revoked_at: None,
        };
        assert!(verify(&record, secret));
        let (_, other_secret) = parse(&b.token).unwrap();
        assert!(!verify(&record, other_secret));
        record.revoked_at = Some(Utc::now());
        assert!(!verify(&record, secret));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let good = issue("x", vec![Role::Admin]).unwrap().token;
        assert!(parse(&good).is_some());
        assert!(parse(&good[1..]).is_none());
        assert!(parse(&good[..good.len() - 1]).is_none());
        assert!(parse("vgl_zz_zz").is_none());
        assert!(parse("").is_none());
    }
}
