//! The tamper-evident hash chain over an investigation's events.
//!
//! `hash(n) = SHA-256(prev_hash(n) || canonical(n))` where `prev_hash(1)` is
//! [`GENESIS`] and `canonical(n)` is the compact JSON of the object
//! `{actor, created_at, epoch, investigation_id, kind, payload, seq, v}` with
//! object keys sorted at every depth, `created_at` as RFC 3339 with
//! microseconds and `v = 1`. Canonicalisation sorts keys itself, so the bytes
//! do not depend on how a JSON library orders maps. Hashes are lower-case hex.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::event::{Event, EventBody};
use crate::model::{Investigation, InvestigationId};

/// The `prev_hash` of every investigation's first event: 32 zero bytes, hex.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of an event that the hash covers, apart from `prev_hash`.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// The investigation.
    pub investigation_id: InvestigationId,
    /// Its seq.
    pub seq: i64,
    /// Its kind name.
    pub kind: &'a str,
    /// Its actor.
    pub actor: &'a str,
    /// Its epoch.
    pub epoch: i64,
    /// Its time.
    pub created_at: DateTime<Utc>,
}

/// Writes `value` as compact JSON with object keys sorted at every depth.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => {
            // Scalars have exactly one compact serde_json rendering.
            out.extend_from_slice(scalar.to_string().as_bytes());
        }
    }
}

/// The canonical bytes of an event.
pub fn canonical_bytes(header: &Header<'_>, payload: &Value) -> Vec<u8> {
    let doc = serde_json::json!({
        "v": 1,
        "investigation_id": header.investigation_id.to_string(),
        "seq": header.seq,
        "kind": header.kind,
        "actor": header.actor,
        "epoch": header.epoch,
        "created_at": header.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "payload": payload,
    });
    let mut out = Vec::with_capacity(256);
    write_canonical(&doc, &mut out);
    out
}

/// `SHA-256(prev_hash || canonical bytes)`, hex. `prev_hash` is hashed as the
/// 32 raw bytes its hex names.
pub fn event_hash(prev_hash: &str, header: &Header<'_>, payload: &Value) -> String {
    let mut hasher = Sha256::new();
    match hex::decode(prev_hash) {
        Ok(bytes) => hasher.update(&bytes),
        // A malformed stored prev_hash still hashes deterministically, and
        // verification reports the link as broken.
        Err(_) => hasher.update(prev_hash.as_bytes()),
    }
    hasher.update(canonical_bytes(header, payload));
    hex::encode(hasher.finalize())
}

/// Seals event bodies onto `inv`'s log: assigns seq from `inv.last_seq`,
/// links and hashes them, and advances `inv.last_seq` / `inv.last_hash`.
pub fn seal(
    inv: &mut Investigation,
    bodies: Vec<EventBody>,
    actor: &str,
    epoch: i64,
    now: DateTime<Utc>,
) -> Vec<Event> {
    let mut events = Vec::with_capacity(bodies.len());
    for body in bodies {
        let kind = body.kind();
        let payload = body.payload();
        let seq = inv.last_seq + 1;
        let header = Header {
            investigation_id: inv.id,
            seq,
            kind: kind.as_str(),
            actor,
            epoch,
            created_at: now,
        };
        let hash = event_hash(&inv.last_hash, &header, &payload);
        events.push(Event {
            investigation_id: inv.id,
            seq,
            kind,
            payload,
            actor: actor.to_owned(),
            epoch,
            created_at: now,
            prev_hash: std::mem::replace(&mut inv.last_hash, hash.clone()),
            hash,
        });
        inv.last_seq = seq;
    }
    events
}

/// What is wrong at the first broken link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// The seq sequence skips or repeats.
    Gap {
        /// The seq that should come next.
        expected: i64,
        /// The seq found.
        found: i64,
    },
    /// `prev_hash` does not name the previous event's hash.
    BrokenLink,
    /// The stored hash is not the hash of the stored event.
    HashMismatch,
    /// The log ends before (or after) the investigation row says it does.
    TailMismatch {
        /// The row's `last_seq`.
        expected_last_seq: i64,
        /// The last seq found in the log.
        found_last_seq: i64,
    },
}

/// The first broken link in a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Break {
    /// The seq at which verification failed.
    pub seq: i64,
    /// What is wrong there.
    #[serde(flatten)]
    pub problem: Problem,
}

/// The outcome of walking an investigation's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    /// The investigation.
    pub investigation_id: InvestigationId,
    /// Events walked before stopping.
    pub events_checked: i64,
    /// Whether every link, hash and seq checked out.
    pub valid: bool,
    /// The first problem, if any.
    pub first_break: Option<Break>,
}

/// Walks events in seq order, one at a time, so a long log need not be held
/// in memory. Stops at the first problem.
#[derive(Debug)]
pub struct Verifier {
    investigation_id: InvestigationId,
    expected_seq: i64,
    prev_hash: String,
    checked: i64,
    broken: Option<Break>,
}

impl Verifier {
    /// A verifier for `investigation_id`'s chain.
    pub fn new(investigation_id: InvestigationId) -> Self {
        Self {
            investigation_id,
            expected_seq: 1,
            prev_hash: GENESIS.to_owned(),
            checked: 0,
            broken: None,
        }
    }

    /// Whether a problem has been found.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Checks the next event. Returns `false` once the chain is broken.
    pub fn push(&mut self, event: &Event) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let problem = if event.seq != self.expected_seq {
            Some(Problem::Gap {
                expected: self.expected_seq,
                found: event.seq,
            })
        } else if event.prev_hash != self.prev_hash {
            Some(Problem::BrokenLink)
        } else {
            let header = Header {
                investigation_id: event.investigation_id,
                seq: event.seq,
                kind: event.kind.as_str(),
                actor: &event.actor,
                epoch: event.epoch,
                created_at: event.created_at,
            };
            let investigation_matches = event.investigation_id == self.investigation_id;
            if !investigation_matches
                || event_hash(&event.prev_hash, &header, &event.payload) != event.hash
            {
                Some(Problem::HashMismatch)
            } else {
                None
            }
        };
        match problem {
            Some(problem) => {
                self.broken = Some(Break {
                    seq: event.seq,
                    problem,
                });
                false
            }
            None => {
                self.checked += 1;
                self.expected_seq += 1;
                self.prev_hash = event.hash.clone();
                true
            }
        }
    }

    /// Finishes the walk against the investigation row's recorded tail.
    pub fn finish(mut self, last_seq: i64, last_hash: &str) -> ChainReport {
        if self.broken.is_none() {
            let found = self.expected_seq - 1;
            if found != last_seq || self.prev_hash != last_hash {
                self.broken = Some(Break {
                    seq: found.min(last_seq) + 1,
                    problem: Problem::TailMismatch {
                        expected_last_seq: last_seq,
                        found_last_seq: found,
                    },
                });
            }
        }
        ChainReport {
            investigation_id: self.investigation_id,
            events_checked: self.checked,
            valid: self.broken.is_none(),
            first_break: self.broken,
        }
    }
}
