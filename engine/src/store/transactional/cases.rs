//! [`Cases`] and [`CaseReads`] over a [`Backend`]: every case write locks
//! the case row, decides with [`case::transition`] (or [`case::merge`]) and
//! writes the row, its timeline entries and the records beside it in one
//! transaction. The decide-and-write steps take a [`WriteTx`], so a larger
//! transaction (an investigation's completion writing back to its case) can
//! run them beside its own writes.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::TransactionalStore;
use crate::case::{
    self, Case, CaseAction, CaseCommand, CaseEvent, CaseId, CaseLog, CaseNumber, CasePatch,
    CaseReplay, CaseTransition, CaseWrite, Comment, CommentId, CustodyId, CustodyRecord,
    Disposition, Evidence, EvidenceId, EvidenceInput, MergeSource, NewCase, NewComment, NewCustody,
    NewEvidence, NewObservable, NewTask, Observable, ObservableId, ObservablePatch, StatusChange,
    Task, TaskId, TaskPatch, sha256_hex,
};
use crate::log::ChainReport;
use crate::store::backend::{Backend, WriteTx};
use crate::store::case_query::{
    CaseCursor, CaseKpis, CaseOverview, CasePage, CaseQuery, CaseSortKey, EvidenceContent,
    MergeReport, RelatedCase, SharedObservable, SortValue,
};
use crate::store::error::{Error, Result};
use crate::store::ports::{CaseReads, Cases};

/// Most related cases returned.
const MAX_RELATED: usize = 20;
/// Fewest shared observables that relate two cases.
const MIN_SHARED: usize = 2;

/// Locks case `id` inside `tx`, or fails with [`Error::NotFound`].
pub(crate) async fn lock_case_in<T: WriteTx>(tx: &mut T, id: CaseId) -> Result<Case> {
    tx.lock_case(id)
        .await?
        .ok_or_else(|| Error::case_not_found(id))
}

/// Decides `command` on the locked case `current` (`None` to create one)
/// at `now` and writes the transition inside `tx` ([`write_case_in`]). On
/// an error the caller rolls `tx` back; nothing is committed.
pub(crate) async fn decide_case_in<T: WriteTx>(
    tx: &mut T,
    current: Option<&Case>,
    command: CaseCommand,
    now: DateTime<Utc>,
) -> Result<CaseTransition> {
    let t = case::transition(current, command, now).map_err(Error::from_case_transition)?;
    write_case_in(tx, current.is_none(), &t).await?;
    Ok(t)
}

/// Writes transition `t` inside `tx`: the case row (inserted when
/// `creates`), its timeline entries, then its writes in order. A transition
/// without entries changed nothing and writes nothing.
pub(crate) async fn write_case_in<T: WriteTx>(
    tx: &mut T,
    creates: bool,
    t: &CaseTransition,
) -> Result<()> {
    if !t.changes_anything() {
        return Ok(());
    }
    if creates {
        tx.insert_case(&t.next).await?;
    } else {
        tx.update_case(&t.next).await?;
    }
    tx.append::<CaseLog>(&t.entries).await?;
    for write in &t.writes {
        apply_write(tx, write).await?;
    }
    Ok(())
}

async fn apply_write<T: WriteTx>(tx: &mut T, write: &CaseWrite) -> Result<()> {
    match write {
        CaseWrite::LinkAlert {
            case_id,
            alert_id,
            at,
            by,
        } => tx.link_alert(*case_id, alert_id, *at, by).await,
        CaseWrite::DetachAlerts { case_id } => tx.detach_alerts(*case_id).await,
        CaseWrite::MoveAlerts { from, to } => tx.move_alerts(*from, *to).await,
        CaseWrite::InsertObservable(o) => tx.insert_observable(o).await,
        CaseWrite::UpdateObservable(o) => tx.update_observable(o).await,
        CaseWrite::DeleteObservable(id) => tx.delete_observable(*id).await,
        CaseWrite::InsertEvidence { evidence, content } => {
            tx.insert_evidence(evidence, content.as_deref()).await
        }
        CaseWrite::InsertCustody(record) => tx.insert_custody(record).await,
        CaseWrite::InsertComment(comment) => tx.insert_comment(comment).await,
        CaseWrite::InsertTask(task) => tx.insert_task(task).await,
        CaseWrite::UpdateTask(task) => tx.update_task(task).await,
        CaseWrite::MoveRecords { from, to } => tx.move_records(*from, *to).await,
    }
}

/// Commits `tx` if `result` is a success, rolls it back at once otherwise.
async fn settle<T: WriteTx, R>(tx: T, result: Result<R>) -> Result<R> {
    match result {
        Ok(value) => {
            tx.commit().await?;
            Ok(value)
        }
        Err(e) => {
            tx.rollback().await;
            Err(e)
        }
    }
}

fn command(by: &str, action: CaseAction) -> CaseCommand {
    CaseCommand {
        by: by.to_owned(),
        action,
    }
}

fn not_found(what: &'static str, id: impl ToString) -> Error {
    Error::NotFound {
        what,
        id: id.to_string(),
    }
}

/// The observable a transition wrote, if it wrote one.
fn written_observable(t: &CaseTransition) -> Option<Observable> {
    t.writes.iter().find_map(|w| match w {
        CaseWrite::InsertObservable(o) | CaseWrite::UpdateObservable(o) => Some(o.clone()),
        _ => None,
    })
}

impl<B: Backend> TransactionalStore<B> {
    /// Locks case `id`, builds the action from what `prepare` reads under
    /// the lock, decides and writes it, and commits.
    async fn on_case<P>(&self, id: CaseId, by: &str, prepare: P) -> Result<CaseTransition>
    where
        P: for<'t> FnOnce(
                &'t mut B::Tx,
                &'t Case,
            ) -> futures::future::BoxFuture<'t, Result<CaseAction>>
            + Send,
    {
        let now = self.now();
        let mut tx = self.backend.begin().await?;
        let decided = async {
            let current = lock_case_in(&mut tx, id).await?;
            let action = prepare(&mut tx, &current).await?;
            decide_case_in(&mut tx, Some(&current), command(by, action), now).await
        }
        .await;
        settle(tx, decided).await
    }

    /// [`Self::on_case`] for an action that needs no read beyond the case.
    async fn on_case_with(
        &self,
        id: CaseId,
        by: &str,
        action: CaseAction,
    ) -> Result<CaseTransition> {
        self.on_case(id, by, move |_, _| Box::pin(async move { Ok(action) }))
            .await
    }

    /// A case that exists (deleted or not), or [`Error::NotFound`].
    async fn existing_case(&self, id: CaseId) -> Result<CaseOverview> {
        self.backend
            .case(id)
            .await?
            .ok_or_else(|| Error::case_not_found(id))
    }

    /// Evidence item `evidence` of case `id`, or [`Error::NotFound`].
    async fn evidence_of(&self, id: CaseId, evidence: EvidenceId) -> Result<Evidence> {
        match self.backend.evidence_item(evidence).await? {
            Some(item) if item.case_id == id => Ok(item),
            _ => {
                self.existing_case(id).await?;
                Err(not_found("evidence", evidence))
            }
        }
    }
}

#[async_trait]
impl<B: Backend> Cases for TransactionalStore<B> {
    async fn create_case(&self, by: &str, new: NewCase) -> Result<Case> {
        let now = self.now();
        let mut tx = self.backend.begin().await?;
        let decided = async {
            let number = tx.next_case_number().await?;
            let mut alert_owners = HashMap::new();
            for alert_id in &new.alert_ids {
                let alert_id = alert_id.trim();
                if let Some(owner) = tx.alert_owner(alert_id).await? {
                    alert_owners.insert(alert_id.to_owned(), owner);
                }
            }
            let action = CaseAction::Create {
                id: CaseId::new_at(now),
                number,
                case: new,
                alert_owners,
            };
            decide_case_in(&mut tx, None, command(by, action), now).await
        }
        .await;
        Ok(settle(tx, decided).await?.next)
    }

    async fn update_case(&self, id: CaseId, by: &str, patch: CasePatch) -> Result<Case> {
        Ok(self
            .on_case_with(id, by, CaseAction::Update(patch))
            .await?
            .next)
    }

    async fn assign_case(&self, id: CaseId, by: &str, assignee: Option<String>) -> Result<Case> {
        let patch = CasePatch {
            assignee: Some(assignee),
            ..CasePatch::default()
        };
        Cases::update_case(self, id, by, patch).await
    }

    async fn change_case_status(&self, id: CaseId, by: &str, change: StatusChange) -> Result<Case> {
        let patch = CasePatch {
            status: Some(change),
            ..CasePatch::default()
        };
        Cases::update_case(self, id, by, patch).await
    }

    async fn delete_case(&self, id: CaseId, by: &str, reason: Option<String>) -> Result<Case> {
        Ok(self
            .on_case_with(id, by, CaseAction::Delete { reason })
            .await?
            .next)
    }

    async fn link_alert(&self, id: CaseId, by: &str, alert_id: &str) -> Result<Case> {
        let alert_id = alert_id.to_owned();
        let t = self
            .on_case(id, by, move |tx, _| {
                Box::pin(async move {
                    let owner = tx.alert_owner(alert_id.trim()).await?;
                    Ok(CaseAction::LinkAlert { alert_id, owner })
                })
            })
            .await?;
        Ok(t.next)
    }

    async fn add_observable(
        &self,
        id: CaseId,
        by: &str,
        observable: NewObservable,
    ) -> Result<Observable> {
        let value = case::normalize(observable.kind, &observable.value).map_err(|e| {
            Error::InvalidInput {
                field: "value".to_owned(),
                message: e.message,
            }
        })?;
        let new_id = ObservableId::new_at(self.now());
        let kind = observable.kind;
        let t = self
            .on_case(id, by, move |tx, _| {
                Box::pin(async move {
                    let existing = tx.find_observable(id, kind, &value).await?;
                    Ok(CaseAction::AddObservable {
                        id: new_id,
                        observable,
                        existing,
                    })
                })
            })
            .await?;
        written_observable(&t).ok_or_else(|| Error::corrupt("an observable write is missing"))
    }

    async fn update_observable(
        &self,
        id: CaseId,
        observable: ObservableId,
        by: &str,
        patch: ObservablePatch,
    ) -> Result<Observable> {
        let t = self
            .on_case(id, by, move |tx, _| {
                Box::pin(async move {
                    let current = match tx.observable(observable).await? {
                        Some(o) if o.case_id == id => o,
                        _ => return Err(not_found("observable", observable)),
                    };
                    Ok(CaseAction::UpdateObservable { current, patch })
                })
            })
            .await?;
        match written_observable(&t) {
            Some(o) => Ok(o),
            // Nothing changed: the observable is as stored.
            None => self
                .backend
                .observables(id)
                .await?
                .into_iter()
                .find(|o| o.id == observable)
                .ok_or_else(|| not_found("observable", observable)),
        }
    }

    async fn add_evidence(&self, id: CaseId, by: &str, evidence: NewEvidence) -> Result<Evidence> {
        let input = EvidenceInput {
            evidence,
            max_content_bytes: self.evidence_limit,
        };
        let action = CaseAction::AddEvidence {
            id: EvidenceId::new_at(self.now()),
            input,
        };
        let t = self.on_case_with(id, by, action).await?;
        t.writes
            .into_iter()
            .find_map(|w| match w {
                CaseWrite::InsertEvidence { evidence, .. } => Some(evidence),
                _ => None,
            })
            .ok_or_else(|| Error::corrupt("an evidence write is missing"))
    }

    async fn record_custody(
        &self,
        id: CaseId,
        evidence: EvidenceId,
        by: &str,
        record: NewCustody,
    ) -> Result<CustodyRecord> {
        let custody_id = CustodyId::new_at(self.now());
        let t = self
            .on_case(id, by, move |tx, _| {
                Box::pin(async move {
                    let item = match tx.evidence(evidence).await? {
                        Some(item) if item.case_id == id => item,
                        _ => return Err(not_found("evidence", evidence)),
                    };
                    Ok(CaseAction::RecordCustody {
                        id: custody_id,
                        evidence: item,
                        record,
                    })
                })
            })
            .await?;
        t.writes
            .into_iter()
            .find_map(|w| match w {
                CaseWrite::InsertCustody(record) => Some(record),
                _ => None,
            })
            .ok_or_else(|| Error::corrupt("a custody write is missing"))
    }

    async fn add_comment(&self, id: CaseId, by: &str, comment: NewComment) -> Result<Comment> {
        let action = CaseAction::AddComment {
            id: CommentId::new_at(self.now()),
            comment,
        };
        let t = self.on_case_with(id, by, action).await?;
        t.writes
            .into_iter()
            .find_map(|w| match w {
                CaseWrite::InsertComment(comment) => Some(comment),
                _ => None,
            })
            .ok_or_else(|| Error::corrupt("a comment write is missing"))
    }

    async fn create_task(&self, id: CaseId, by: &str, task: NewTask) -> Result<Task> {
        let action = CaseAction::CreateTask {
            id: TaskId::new_at(self.now()),
            task,
        };
        let t = self.on_case_with(id, by, action).await?;
        t.writes
            .into_iter()
            .find_map(|w| match w {
                CaseWrite::InsertTask(task) => Some(task),
                _ => None,
            })
            .ok_or_else(|| Error::corrupt("a task write is missing"))
    }

    async fn update_task(
        &self,
        id: CaseId,
        task: TaskId,
        by: &str,
        patch: TaskPatch,
    ) -> Result<Task> {
        let t = self
            .on_case(id, by, move |tx, _| {
                Box::pin(async move {
                    let current = match tx.task(task).await? {
                        Some(t) if t.case_id == id => t,
                        _ => return Err(not_found("task", task)),
                    };
                    Ok(CaseAction::UpdateTask { current, patch })
                })
            })
            .await?;
        let written = t.writes.into_iter().find_map(|w| match w {
            CaseWrite::UpdateTask(task) => Some(task),
            _ => None,
        });
        match written {
            Some(task) => Ok(task),
            // Nothing changed: the task is as stored.
            None => self
                .backend
                .tasks(id)
                .await?
                .into_iter()
                .find(|t| t.id == task)
                .ok_or_else(|| not_found("task", task)),
        }
    }

    async fn merge_cases(
        &self,
        target: CaseId,
        sources: &[CaseId],
        by: &str,
        disposition: Option<Disposition>,
    ) -> Result<MergeReport> {
        let now = self.now();
        let mut tx = self.backend.begin().await?;
        let decided = async {
            // Lock every case in id order, so concurrent merges and edits
            // cannot deadlock.
            let ids: BTreeSet<CaseId> = sources.iter().copied().chain([target]).collect();
            let mut locked = HashMap::new();
            for id in ids {
                locked.insert(id, lock_case_in(&mut tx, id).await?);
            }
            let target_case = locked[&target].clone();
            let target_observables = tx.case_observables(target).await?;
            let mut merging = Vec::with_capacity(sources.len());
            for id in sources {
                let counts = tx.case_counts(*id).await?;
                merging.push(MergeSource {
                    case: locked[id].clone(),
                    observables: tx.case_observables(*id).await?,
                    evidence: counts.evidence,
                    comments: counts.comments,
                    tasks: counts.tasks,
                });
            }
            let m = case::merge(
                &target_case,
                target_observables,
                merging,
                disposition,
                by,
                now,
            )
            .map_err(Error::from_case_transition)?;
            for source in &m.sources {
                write_case_in(&mut tx, false, source).await?;
            }
            write_case_in(&mut tx, false, &m.target).await?;
            Ok(m)
        }
        .await;
        let m = settle(tx, decided).await?;
        let summary = m
            .target
            .entries
            .iter()
            .find_map(|e| match e.body() {
                Ok(case::CaseEventBody::CaseMerged { summary, .. }) => Some(summary),
                _ => None,
            })
            .unwrap_or_default();
        Ok(MergeReport {
            target: m.target.next,
            merged: m.sources.into_iter().map(|s| s.next).collect(),
            summary,
        })
    }
}

/// Whether `value` is of the type `key` sorts by.
fn value_fits(key: CaseSortKey, value: &SortValue) -> bool {
    matches!(
        (key, value),
        (
            CaseSortKey::Number
                | CaseSortKey::Severity
                | CaseSortKey::Status
                | CaseSortKey::AlertCount
                | CaseSortKey::ObservableCount,
            SortValue::Int(_)
        ) | (
            CaseSortKey::Title | CaseSortKey::Assignee,
            SortValue::Text(_)
        ) | (
            CaseSortKey::CreatedAt | CaseSortKey::UpdatedAt | CaseSortKey::StatusChangedAt,
            SortValue::Time(_)
        )
    )
}

#[async_trait]
impl<B: Backend> CaseReads for TransactionalStore<B> {
    async fn case(&self, id: CaseId) -> Result<CaseOverview> {
        self.existing_case(id).await
    }

    async fn case_by_number(&self, number: CaseNumber) -> Result<CaseOverview> {
        self.backend
            .case_by_number(number)
            .await?
            .ok_or_else(|| Error::case_not_found(number))
    }

    async fn list_cases(&self, query: &CaseQuery) -> Result<CasePage> {
        if let Some(after) = &query.after
            && (after.sort != query.sort || !value_fits(query.sort.key, &after.value))
        {
            return Err(Error::InvalidInput {
                field: "after".to_owned(),
                message: "the cursor belongs to a listing under another sort".to_owned(),
            });
        }
        let items = self.backend.cases(query).await?;
        let full = items.len() >= query.page_size() as usize;
        let next = items.last().filter(|_| full).map(|last| CaseCursor {
            sort: query.sort,
            value: query.sort.key.value_of(last),
            id: last.case.id,
        });
        Ok(CasePage { items, next })
    }

    async fn case_kpis(&self, query: &CaseQuery) -> Result<CaseKpis> {
        self.backend.case_kpis(query).await
    }

    async fn case_timeline(
        &self,
        id: CaseId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<CaseEvent>> {
        let entries = self
            .backend
            .log::<CaseLog>(id, after_seq, limit.clamp(1, 1000))
            .await?;
        if entries.is_empty() {
            self.existing_case(id).await?;
        }
        Ok(entries)
    }

    async fn verify_case(&self, id: CaseId) -> Result<ChainReport<CaseLog>> {
        // The row is read first: entries appended after it are outside this
        // walk, so a concurrent write is never mistaken for a broken tail.
        let row = self.existing_case(id).await?.case;
        let mut replay = CaseReplay::default();
        let report = self
            .verify_log::<CaseLog>(id, row.last_seq, &row.last_hash, |e| replay.apply(e))
            .await?;
        Ok(report.with_mismatches(replay.compare(&row)))
    }

    async fn observables(&self, id: CaseId) -> Result<Vec<Observable>> {
        let found = self.backend.observables(id).await?;
        if found.is_empty() {
            self.existing_case(id).await?;
        }
        Ok(found)
    }

    async fn evidence(&self, id: CaseId) -> Result<Vec<Evidence>> {
        let found = self.backend.evidence_items(id).await?;
        if found.is_empty() {
            self.existing_case(id).await?;
        }
        Ok(found)
    }

    async fn evidence_content(&self, id: CaseId, evidence: EvidenceId) -> Result<EvidenceContent> {
        let (item, bytes) = match self.backend.evidence_with_content(evidence).await? {
            Some((item, bytes)) if item.case_id == id => (item, bytes),
            _ => {
                self.existing_case(id).await?;
                return Err(not_found("evidence", evidence));
            }
        };
        match bytes {
            None => Ok(EvidenceContent::External { evidence: item }),
            Some(bytes) => {
                let found = sha256_hex(&bytes);
                if found != item.sha256 {
                    return Err(Error::IntegrityMismatch {
                        what: "evidence",
                        id: evidence.to_string(),
                        expected: item.sha256,
                        found,
                    });
                }
                Ok(EvidenceContent::Stored {
                    evidence: item,
                    bytes,
                })
            }
        }
    }

    async fn custody(&self, id: CaseId, evidence: EvidenceId) -> Result<Vec<CustodyRecord>> {
        self.evidence_of(id, evidence).await?;
        self.backend.custody(evidence).await
    }

    async fn comments(&self, id: CaseId) -> Result<Vec<Comment>> {
        let found = self.backend.comments(id).await?;
        if found.is_empty() {
            self.existing_case(id).await?;
        }
        Ok(found)
    }

    async fn tasks(&self, id: CaseId) -> Result<Vec<Task>> {
        let found = self.backend.tasks(id).await?;
        if found.is_empty() {
            self.existing_case(id).await?;
        }
        Ok(found)
    }

    async fn related_cases(&self, id: CaseId) -> Result<Vec<RelatedCase>> {
        let own = self.existing_case(id).await?.counts.observables;
        let mut by_case: HashMap<CaseId, (BTreeSet<SharedObservable>, i64)> = HashMap::new();
        for row in self.backend.shared_observables(id).await? {
            let entry = by_case
                .entry(row.case_id)
                .or_insert_with(|| (BTreeSet::new(), row.other_total));
            entry.0.insert(row.observable);
        }
        let mut related = Vec::new();
        for (other, (shared, other_total)) in by_case {
            if shared.len() < MIN_SHARED {
                continue;
            }
            let Some(found) = self.backend.case(other).await? else {
                continue;
            };
            if found.case.deleted_at.is_some() {
                continue;
            }
            let n = shared.len() as i64;
            let union = (own + other_total - n).max(n);
            related.push(RelatedCase {
                case: found.case,
                shared: shared.into_iter().collect(),
                score: n as f64 / union as f64,
            });
        }
        related.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.shared.len().cmp(&a.shared.len()))
                .then(a.case.number.cmp(&b.case.number))
        });
        related.truncate(MAX_RELATED);
        Ok(related)
    }
}
