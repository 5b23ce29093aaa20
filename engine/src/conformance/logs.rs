//! How the sealed-log cases reach one aggregate's log through the store
//! ports, so that each log case is written once and run for every log.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::support::{claimed, model_turn, new_case};
use crate::case::{AuthorKind, CaseLog, NewComment};
use crate::event::InvestigationLog;
use crate::log::{Aggregate, ChainReport, Entry};
use crate::store::Store;

/// An aggregate whose log the conformance cases exercise.
#[async_trait]
pub trait LogFixture: Aggregate + Sized {
    /// Creates a record through the store's ports and returns its id; its
    /// log then has [`LogFixture::INITIAL`] entries and accepts
    /// [`LogFixture::append`].
    async fn create<S: Store>(store: &S) -> Self::Id;

    /// How many entries a freshly created record's log holds.
    const INITIAL: i64;

    /// Appends one entry through the store's ports; `tag` makes it unique.
    /// Safe to call concurrently on one record.
    async fn append<S: Store>(store: &S, id: Self::Id, tag: &str);

    /// Entries after `after_seq`, at most `limit`, through the store.
    async fn read<S: Store>(
        store: &S,
        id: Self::Id,
        after_seq: i64,
        limit: u32,
    ) -> Vec<Entry<Self>>;

    /// The record's recorded tail (`last_seq`).
    async fn last_seq<S: Store>(store: &S, id: Self::Id) -> i64;

    /// The store's verification of the log.
    async fn verify<S: Store>(store: &S, id: Self::Id) -> ChainReport<Self>;

    /// A payload the entry at `seq` (a [`LogFixture::append`]ed one) could
    /// plausibly carry, but does not: what a forger would write.
    fn forged_payload() -> Value;
}

#[async_trait]
impl LogFixture for InvestigationLog {
    const INITIAL: i64 = 2;

    async fn create<S: Store>(store: &S) -> Self::Id {
        claimed(store, "triage").await.id
    }

    async fn append<S: Store>(store: &S, id: Self::Id, tag: &str) {
        store
            .checkpoint(id, 1, vec![model_turn(tag)])
            .await
            .expect("checkpoint");
    }

    async fn read<S: Store>(
        store: &S,
        id: Self::Id,
        after_seq: i64,
        limit: u32,
    ) -> Vec<Entry<Self>> {
        store.events(id, after_seq, limit).await.expect("events")
    }

    async fn last_seq<S: Store>(store: &S, id: Self::Id) -> i64 {
        store.get(id).await.expect("get").last_seq
    }

    async fn verify<S: Store>(store: &S, id: Self::Id) -> ChainReport<Self> {
        store.verify_chain(id).await.expect("verify")
    }

    fn forged_payload() -> Value {
        json!({
            "model": "gpt-test",
            "content": "nothing suspicious here",
            "tool_calls": [],
            "input_tokens": 1,
            "output_tokens": 1
        })
    }
}

#[async_trait]
impl LogFixture for CaseLog {
    const INITIAL: i64 = 1;

    async fn create<S: Store>(store: &S) -> Self::Id {
        store
            .create_case("alice", new_case("Brute force on vpn-01"))
            .await
            .expect("create case")
            .id
    }

    async fn append<S: Store>(store: &S, id: Self::Id, tag: &str) {
        let comment = NewComment {
            author_kind: AuthorKind::Analyst,
            kind: crate::case::CommentKind::Note,
            body: format!("note {tag}"),
        };
        store
            .add_comment(id, "alice", comment)
            .await
            .expect("add comment");
    }

    async fn read<S: Store>(
        store: &S,
        id: Self::Id,
        after_seq: i64,
        limit: u32,
    ) -> Vec<Entry<Self>> {
        store
            .case_timeline(id, after_seq, limit)
            .await
            .expect("timeline")
    }

    async fn last_seq<S: Store>(store: &S, id: Self::Id) -> i64 {
        store.case(id).await.expect("case").case.last_seq
    }

    async fn verify<S: Store>(store: &S, id: Self::Id) -> ChainReport<Self> {
        store.verify_case(id).await.expect("verify case")
    }

    fn forged_payload() -> Value {
        json!({
            "comment_id": "00000000-0000-7000-8000-000000000000",
            "author_kind": "analyst",
            "body": "nothing to see here"
        })
    }
}
