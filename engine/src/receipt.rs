//! Signed head receipts: the chain head anchored outside the database.
//!
//! Verification inside the database proves only that the log and its row
//! agree with each other. Someone who can write the database can delete the
//! last events and rewind the row's tail, and every check still passes. A
//! head receipt closes that gap: when an investigation reaches a terminal
//! status, the store signs `{log, id, seq, hash, status, issued_at}` with an
//! Ed25519 key that lives in the process environment, never in the
//! database. An auditor keeps the receipt; later, [`Receipt::check_trail`]
//! against the exported trail finds a truncated tail (the receipt's seq is
//! missing) or a rewritten one (its hash differs), without trusting the
//! server, and [`Receipt::verify`] proves the receipt itself is genuine.
//!
//! The signed bytes are the canonical JSON (keys sorted, compact) of the
//! receipt without `signature`, as [`crate::log::write_canonical`] writes it.

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::log::{Aggregate, Entry, LogName, write_canonical};

/// A signed statement that an aggregate's log had this head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The format version: 1.
    pub v: u32,
    /// Which log: `investigation`.
    pub log: String,
    /// The aggregate's id.
    pub id: Uuid,
    /// The head's seq.
    pub seq: i64,
    /// The head's hash, hex.
    pub hash: String,
    /// The status the aggregate reached with that head.
    pub status: String,
    /// When the receipt was signed.
    pub issued_at: DateTime<Utc>,
    /// The signing key's id: the first 16 hex digits of SHA-256 of its
    /// public key.
    pub key_id: String,
    /// The Ed25519 signature over the canonical bytes, hex.
    pub signature: String,
}

/// Why a receipt or a trail does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The key text is not 32 bytes of hex or base64.
    #[error("an audit key is 32 bytes, written as 64 hex digits")]
    BadKey,
    /// The receipt was signed by another key.
    #[error("the receipt was signed by key {found}, not by key {expected}")]
    OtherKey {
        /// The verifying key's id.
        expected: String,
        /// The receipt's key id.
        found: String,
    },
    /// The signature does not match the receipt's fields.
    #[error("the receipt's signature does not match its contents: it was altered or forged")]
    BadSignature,
    /// The trail ends before the receipt's head: events were cut off.
    #[error(
        "the trail ends at seq {ends_at}, before the receipt's head at seq {seq}: events were removed"
    )]
    Truncated {
        /// The receipt's seq.
        seq: i64,
        /// The last seq in the trail.
        ends_at: i64,
    },
    /// The trail has another event at the receipt's seq.
    #[error(
        "the event at seq {seq} has hash {found}, the receipt says {expected}: the trail was rewritten"
    )]
    Rewritten {
        /// The receipt's seq.
        seq: i64,
        /// The receipt's hash.
        expected: String,
        /// The trail's hash at that seq.
        found: String,
    },
    /// The receipt is about another log or aggregate.
    #[error("the receipt is for {log} {id}, not this trail")]
    OtherRecord {
        /// The receipt's log.
        log: String,
        /// The receipt's id.
        id: Uuid,
    },
}

/// The name a receipt gives `log`, as its `log` field and the `head_receipts.log` column hold it.
pub fn log_name(log: LogName) -> &'static str {
    match log {
        LogName::Investigation => "investigation",
        LogName::Case => "case",
    }
}

fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

fn parse_key(text: &str) -> Result<[u8; 32], ReceiptError> {
    let bytes = hex::decode(text.trim()).map_err(|_| ReceiptError::BadKey)?;
    bytes.try_into().map_err(|_| ReceiptError::BadKey)
}

impl Receipt {
    /// The bytes the signature covers.
    fn signed_bytes(&self) -> Vec<u8> {
        let doc = serde_json::json!({
            "v": self.v,
            "log": self.log,
            "id": self.id.to_string(),
            "seq": self.seq,
            "hash": self.hash,
            "status": self.status,
            "issued_at": self.issued_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "key_id": self.key_id,
        });
        let mut out = Vec::with_capacity(256);
        write_canonical(&doc, &mut out);
        out
    }

    /// Checks the signature with `public_key` (64 hex digits).
    pub fn verify(&self, public_key: &str) -> Result<(), ReceiptError> {
        let key =
            VerifyingKey::from_bytes(&parse_key(public_key)?).map_err(|_| ReceiptError::BadKey)?;
        let expected = key_id(&key);
        if expected != self.key_id {
            return Err(ReceiptError::OtherKey {
                expected,
                found: self.key_id.clone(),
            });
        }
        let bytes: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(ReceiptError::BadSignature)?;
        key.verify(&self.signed_bytes(), &Signature::from_bytes(&bytes))
            .map_err(|_| ReceiptError::BadSignature)
    }

    /// Checks that `trail` (the aggregate's entries in seq order, as
    /// exported) still holds the receipt's head: the entry at the receipt's
    /// seq exists and has its hash. Entries after it are allowed (notes
    /// added later); the chain itself is checked by [`crate::log::Verifier`].
    pub fn check_trail<'a, A: Aggregate>(
        &self,
        trail: impl IntoIterator<Item = &'a Entry<A>>,
    ) -> Result<(), ReceiptError> {
        let mut ends_at = 0;
        for entry in trail {
            if self.log != log_name(A::LOG) || entry.header().id != self.id {
                return Err(ReceiptError::OtherRecord {
                    log: self.log.clone(),
                    id: self.id,
                });
            }
            ends_at = entry.seq;
            if entry.seq == self.seq {
                return if entry.hash == self.hash {
                    Ok(())
                } else {
                    Err(ReceiptError::Rewritten {
                        seq: self.seq,
                        expected: self.hash.clone(),
                        found: entry.hash.clone(),
                    })
                };
            }
        }
        Err(ReceiptError::Truncated {
            seq: self.seq,
            ends_at,
        })
    }
}

/// Signs head receipts with the audit key.
#[derive(Clone)]
pub struct ReceiptSigner {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ReceiptSigner {
    /// A signer for the secret key `secret` (64 hex digits: the 32-byte
    /// Ed25519 seed).
    pub fn from_secret(secret: &str) -> Result<Self, ReceiptError> {
        Ok(Self::from_seed(parse_key(secret)?))
    }

    /// A signer for a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(&key.verifying_key());
        Self { key, key_id }
    }

    /// The public key, 64 hex digits: what auditors verify receipts with.
    pub fn public_key(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// The key's id, as receipts carry it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Signs the head (`seq`, `hash`) of aggregate `id`'s log, reached with
    /// `status` at `now`.
    pub fn sign(
        &self,
        log: LogName,
        id: Uuid,
        seq: i64,
        hash: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> Receipt {
        let mut receipt = Receipt {
            v: 1,
            log: log_name(log).to_owned(),
            id,
            seq,
            hash: hash.to_owned(),
            status: status.to_owned(),
            issued_at: now,
            key_id: self.key_id.clone(),
            signature: String::new(),
        };
        receipt.signature = hex::encode(self.key.sign(&receipt.signed_bytes()).to_bytes());
        receipt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::InvestigationLog;
    use crate::log::{GENESIS, StoredEntry, entry_hash};

    fn signer() -> ReceiptSigner {
        ReceiptSigner::from_seed([7; 32])
    }

    fn trail(id: Uuid, n: i64) -> Vec<Entry<InvestigationLog>> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e: Entry<InvestigationLog> = StoredEntry {
                    aggregate_id: crate::InvestigationId(id),
                    seq,
                    kind: crate::EventKind::OperatorNote,
                    payload: serde_json::json!({"by": "x", "text": seq.to_string()}),
                    actor: "x".into(),
                    epoch: 0,
                    created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                }
                .into();
                e.hash = entry_hash(&e.prev_hash, &e.header(), &e.payload);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn a_genuine_receipt_verifies_and_any_altered_field_does_not() {
        let s = signer();
        let id = Uuid::from_u128(9);
        let r = s.sign(LogName::Investigation, id, 5, "ab", "completed", Utc::now());
        r.verify(&s.public_key()).unwrap();
        for altered in [
            Receipt {
                seq: 4,
                ..r.clone()
            },
            Receipt {
                hash: "cd".into(),
                ..r.clone()
            },
            Receipt {
                status: "failed".into(),
                ..r.clone()
            },
        ] {
            assert_eq!(
                altered.verify(&s.public_key()),
                Err(ReceiptError::BadSignature)
            );
        }
        let other = ReceiptSigner::from_seed([8; 32]);
        assert!(matches!(
            r.verify(&other.public_key()),
            Err(ReceiptError::OtherKey { .. })
        ));
        assert_eq!(r.verify("zz"), Err(ReceiptError::BadKey));
    }

    #[test]
    fn a_trail_must_still_hold_the_receipts_head() {
        let s = signer();
        let id = Uuid::from_u128(9);
        let full = trail(id, 6);
        let head = &full[4];
        let r = s.sign(
            LogName::Investigation,
            id,
            5,
            &head.hash,
            "completed",
            Utc::now(),
        );
        assert_eq!(r.check_trail(&full), Ok(()), "later notes are allowed");
        assert_eq!(
            r.check_trail(&full[..3]),
            Err(ReceiptError::Truncated { seq: 5, ends_at: 3 })
        );
        let mut rewritten = full.clone();
        rewritten[4].hash = "00".repeat(32);
        assert!(matches!(
            r.check_trail(&rewritten),
            Err(ReceiptError::Rewritten { seq: 5, .. })
        ));
        let elsewhere = trail(Uuid::from_u128(10), 6);
        assert!(matches!(
            r.check_trail(&elsewhere),
            Err(ReceiptError::OtherRecord { .. })
        ));
    }
}
