//! One sealed, append-only log implementation for every aggregate.
//!
//! An aggregate (an investigation, a case) owns a log of entries. Each entry is
//! sealed onto a hash chain when it is appended: `seq` comes from the
//! aggregate's `last_seq` (starting at 1, no gaps), and
//! `hash(n) = SHA-256(prev_hash(n) || canonical(n))` where `prev_hash(1)` is
//! [`GENESIS`] and `canonical(n)` is the compact JSON of the object
//! `{<id key>, actor, created_at, epoch, kind, payload, seq, v}` with object
//! keys sorted at every depth, `created_at` as RFC 3339 with microseconds and
//! `v = 1`. The id key is the aggregate's ([`Aggregate::ID_KEY`]:
//! `investigation_id` for investigations, `case_id` for cases), so entries of two logs never hash
//! alike. Canonicalisation sorts keys itself, so the bytes do not depend on
//! how a JSON library orders maps. Hashes are lower-case hex.
//!
//! [`seal`] appends, [`Verifier`] walks a log back. Stores persist entries
//! through the same generic primitives for every [`LogName`].

use std::fmt::{self, Debug, Display};
use std::hash::Hash;
use std::marker::PhantomData;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Which log an aggregate keeps: adapters map it to their table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogName {
    /// `investigation_events`.
    Investigation,
    /// `case_events`.
    Case,
}

/// The id of an aggregate that owns a log: a UUID underneath.
pub trait LogId:
    Copy + Eq + Hash + Debug + Display + FromStr + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The UUID.
    fn uuid(self) -> Uuid;
    /// The id named by `uuid`.
    fn from_uuid(uuid: Uuid) -> Self;
}

/// The kind of an entry: a closed set of stable wire names.
pub trait EntryKind:
    Copy + Eq + Hash + Debug + Display + FromStr + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The stable wire and database name.
    fn as_str(self) -> &'static str;

    /// The kind whose wire name is `name`.
    fn from_name(name: &str) -> Option<Self> {
        name.parse().ok()
    }
}

/// A record kind that owns a sealed log.
pub trait Aggregate: Debug + Clone + Copy + PartialEq + Eq + Send + Sync + 'static {
    /// Which log (and so which table).
    const LOG: LogName;
    /// The key that names the aggregate's id in an entry's canonical bytes.
    const ID_KEY: &'static str;
    /// The aggregate's id.
    type Id: LogId;
    /// Its entry kinds.
    type Kind: EntryKind;
}

/// A typed entry body: a kind and its payload.
pub trait Body<A: Aggregate> {
    /// The kind.
    fn kind(&self) -> A::Kind;
    /// The payload as JSON (without the kind).
    fn payload(&self) -> Value;
}

/// The tail of a log, kept on the aggregate's own row.
pub trait Tail<A: Aggregate> {
    /// The aggregate's id.
    fn log_id(&self) -> A::Id;
    /// The seq of the newest entry (0 before the first).
    fn last_seq(&self) -> i64;
    /// The hash of the newest entry ([`GENESIS`] before the first).
    fn last_hash(&self) -> &str;
    /// Moves the tail to a newly sealed entry.
    fn advance(&mut self, seq: i64, hash: String);
}

/// One stored, sealed entry of aggregate `A`'s log.
///
/// `(aggregate_id, seq)` is unique; `seq` starts at 1 and has no gaps.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Entry<A: Aggregate> {
    /// The aggregate whose log this is.
    pub aggregate_id: A::Id,
    /// Position in the log, from 1.
    pub seq: i64,
    /// The kind.
    pub kind: A::Kind,
    /// The payload.
    pub payload: Value,
    /// Who wrote it: a worker id, a principal name, or a `system:` actor.
    pub actor: String,
    /// The lease epoch in force when it was written (0 where there is none).
    pub epoch: i64,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// The previous entry's hash (the genesis hash for seq 1), hex.
    pub prev_hash: String,
    /// This entry's hash, hex.
    pub hash: String,
    #[serde(skip)]
    log: PhantomData<A>,
}

impl<A: Aggregate> Debug for Entry<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field(A::ID_KEY, &self.aggregate_id)
            .field("seq", &self.seq)
            .field("kind", &self.kind)
            .field("payload", &self.payload)
            .field("actor", &self.actor)
            .field("epoch", &self.epoch)
            .field("created_at", &self.created_at)
            .field("prev_hash", &self.prev_hash)
            .field("hash", &self.hash)
            .finish()
    }
}

/// The stored columns of an entry, as an adapter reads them back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry<A: Aggregate> {
    /// See [`Entry::aggregate_id`].
    pub aggregate_id: A::Id,
    /// See [`Entry::seq`].
    pub seq: i64,
    /// See [`Entry::kind`].
    pub kind: A::Kind,
    /// See [`Entry::payload`].
    pub payload: Value,
    /// See [`Entry::actor`].
    pub actor: String,
    /// See [`Entry::epoch`].
    pub epoch: i64,
    /// See [`Entry::created_at`].
    pub created_at: DateTime<Utc>,
    /// See [`Entry::prev_hash`].
    pub prev_hash: String,
    /// See [`Entry::hash`].
    pub hash: String,
}

impl<A: Aggregate> From<StoredEntry<A>> for Entry<A> {
    fn from(s: StoredEntry<A>) -> Self {
        Self {
            aggregate_id: s.aggregate_id,
            seq: s.seq,
            kind: s.kind,
            payload: s.payload,
            actor: s.actor,
            epoch: s.epoch,
            created_at: s.created_at,
            prev_hash: s.prev_hash,
            hash: s.hash,
            log: PhantomData,
        }
    }
}

impl<A: Aggregate> Entry<A> {
    /// The fields the hash covers, apart from `prev_hash`.
    pub fn header(&self) -> Header<'_> {
        Header {
            id_key: A::ID_KEY,
            id: self.aggregate_id.uuid(),
            seq: self.seq,
            kind: self.kind.as_str(),
            actor: &self.actor,
            epoch: self.epoch,
            created_at: self.created_at,
        }
    }

    /// Whether the stored hash is the hash of the stored entry.
    pub fn hash_matches(&self) -> bool {
        entry_hash(&self.prev_hash, &self.header(), &self.payload) == self.hash
    }
}

/// The `prev_hash` of every log's first entry: 32 zero bytes, hex.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of an entry that the hash covers, apart from `prev_hash`.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// The key naming the aggregate's id ([`Aggregate::ID_KEY`]).
    pub id_key: &'static str,
    /// The aggregate's id.
    pub id: Uuid,
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

/// The canonical bytes of an entry.
pub fn canonical_bytes(header: &Header<'_>, payload: &Value) -> Vec<u8> {
    let mut doc = serde_json::json!({
        "v": 1,
        "seq": header.seq,
        "kind": header.kind,
        "actor": header.actor,
        "epoch": header.epoch,
        "created_at": header.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "payload": payload,
    });
    doc[header.id_key] = Value::String(header.id.to_string());
    let mut out = Vec::with_capacity(256);
    write_canonical(&doc, &mut out);
    out
}

/// `SHA-256(prev_hash || canonical bytes)`, hex. `prev_hash` is hashed as the
/// 32 raw bytes its hex names.
pub fn entry_hash(prev_hash: &str, header: &Header<'_>, payload: &Value) -> String {
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

/// Seals `bodies` onto `tail`'s log: assigns seq from its `last_seq`, links
/// and hashes each entry, and advances the tail past them.
pub fn seal<A: Aggregate, B: Body<A>>(
    tail: &mut impl Tail<A>,
    bodies: Vec<B>,
    actor: &str,
    epoch: i64,
    now: DateTime<Utc>,
) -> Vec<Entry<A>> {
    let mut entries = Vec::with_capacity(bodies.len());
    for body in bodies {
        let mut entry = Entry {
            aggregate_id: tail.log_id(),
            seq: tail.last_seq() + 1,
            kind: body.kind(),
            payload: body.payload(),
            actor: actor.to_owned(),
            epoch,
            created_at: now,
            prev_hash: tail.last_hash().to_owned(),
            hash: String::new(),
            log: PhantomData,
        };
        entry.hash = entry_hash(&entry.prev_hash, &entry.header(), &entry.payload);
        tail.advance(entry.seq, entry.hash.clone());
        entries.push(entry);
    }
    entries
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
    /// The log ends before (or after) the aggregate's row says it does.
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

/// The outcome of walking an aggregate's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct ChainReport<A: Aggregate> {
    /// The aggregate.
    pub aggregate_id: A::Id,
    /// Events walked before stopping.
    pub events_checked: i64,
    /// Whether every link, hash and seq checked out.
    pub valid: bool,
    /// The first problem, if any.
    pub first_break: Option<Break>,
    /// Where the aggregate's row disagrees with what its log says (status,
    /// result, ...). Empty when the chain is broken, since a broken log
    /// proves nothing about the row.
    #[serde(default)]
    pub mismatches: Vec<Mismatch>,
}

/// A field of an aggregate's row that its log, replayed, does not support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// The row's field.
    pub field: String,
    /// What the row says.
    pub row: Value,
    /// What replaying the log says.
    pub log: Value,
}

impl<A: Aggregate> ChainReport<A> {
    /// Records where `row` and `log` disagree, as compared by the caller, and
    /// marks the report invalid if they do.
    pub fn with_mismatches(mut self, mismatches: Vec<Mismatch>) -> Self {
        if self.first_break.is_none() && !mismatches.is_empty() {
            self.valid = false;
            self.mismatches = mismatches;
        }
        self
    }
}

/// Walks entries in seq order, one at a time, so a long log need not be held
/// in memory. Stops at the first problem.
#[derive(Debug)]
pub struct Verifier<A: Aggregate> {
    aggregate_id: A::Id,
    expected_seq: i64,
    prev_hash: String,
    checked: i64,
    broken: Option<Break>,
}

impl<A: Aggregate> Verifier<A> {
    /// A verifier for `aggregate_id`'s log.
    pub fn new(aggregate_id: A::Id) -> Self {
        Self {
            aggregate_id,
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

    /// Checks the next entry. Returns `false` once the chain is broken.
    pub fn push(&mut self, event: &Entry<A>) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let problem = if event.seq != self.expected_seq {
            // A missing entry is reported at its own seq, a repeated one at
            // the repeat.
            Some(Problem::Gap {
                expected: self.expected_seq,
                found: event.seq,
            })
        } else if event.prev_hash != self.prev_hash {
            Some(Problem::BrokenLink)
        } else if event.aggregate_id != self.aggregate_id || !event.hash_matches() {
            Some(Problem::HashMismatch)
        } else {
            None
        };
        match problem {
            Some(problem) => {
                let seq = match problem {
                    Problem::Gap { expected, found } if found > expected => expected,
                    _ => event.seq,
                };
                self.broken = Some(Break { seq, problem });
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

    /// Finishes the walk against the aggregate row's recorded tail.
    pub fn finish(mut self, last_seq: i64, last_hash: &str) -> ChainReport<A> {
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
            aggregate_id: self.aggregate_id,
            events_checked: self.checked,
            valid: self.broken.is_none(),
            first_break: self.broken,
            mismatches: Vec::new(),
        }
    }
}
