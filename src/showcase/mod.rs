//! The offline showcase's sample cases: in `dummy` mode `vigil serve`
//! fills an empty case queue with a few bundled sample cases, so a
//! newcomer sees a worked queue without a real incident.
//!
//! Every sample is written through the [`Cases`] port, one command at a
//! time, so its timeline is a genuine sealed, hash-chained one that
//! `verify_case` accepts. Every sample is labelled three ways: it is
//! created by [`PRINCIPAL`] (every timeline entry's actor), it carries the
//! tag [`TAG`], and its title starts with `[Showcase]` and its description
//! with [`DISCLAIMER`]. A sample never claims that Vigil did something it
//! did not: containment and eradication are recorded as sample analyst
//! statements, and no approval or host action exists behind them.
//!
//! The loading rule (`docs/cases.md`, "The showcase"): samples are loaded
//! only while the store holds no case created by [`PRINCIPAL`] with the tag
//! [`TAG`], deleted and merged ones included. Loaders racing each other are
//! kept apart by the store itself: the first sample is created with a fixed
//! alert id ([`CLAIM_ALERT`]), an alert belongs to at most one case, so
//! only one create of it commits and every other loader stops there.

pub mod alerts;
mod samples;
#[cfg(test)]
mod tests;

use anyhow::Context;
use chrono::{DateTime, Utc};
use vigil_engine::case::{Case, CaseNumber, TaskPatch};
use vigil_engine::store::{self, Alerts, CaseQuery, CaseReads, Cases};

use samples::Step;

/// The principal that writes the samples: their `created_by` and the actor
/// of every entry of their timelines. The API labels a case as showcase
/// data by the same principal and tag ([`vigil_api::views::cases::is_showcase`]).
pub const PRINCIPAL: &str = vigil_api::views::cases::SHOWCASE_PRINCIPAL;

/// The tag every sample carries.
pub const TAG: &str = vigil_api::views::cases::SHOWCASE_TAG;

/// The sentence every sample's description starts with.
pub const DISCLAIMER: &str = "Bundled showcase data, not a real incident: Vigil loaded this \
     sample case when it started in dummy mode, and nothing in it happened on your systems.";

/// The alert id the first sample is created with. Only one case can hold
/// it, so of several loaders only one gets past the first sample.
pub const CLAIM_ALERT: &str = "showcase-alert-1001";

/// The case ports the loader needs: writes to create the samples, reads to
/// find whether they are there, alerts to ingest the sample alerts.
pub trait CaseStore: Cases + CaseReads + Alerts {}

impl<T: Cases + CaseReads + Alerts + ?Sized> CaseStore for T {}

/// What [`load_sample_cases`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    /// This call created the samples, with these numbers, in order.
    Loaded(Vec<CaseNumber>),
    /// Samples were there already (or another loader is creating them):
    /// nothing was written.
    AlreadyPresent,
}

/// Loads the bundled sample cases unless the store already holds a case
/// created by [`PRINCIPAL`] with the tag [`TAG`] (deleted and merged ones
/// count, so samples an operator removed do not come back).
///
/// Idempotent, and safe to call from several processes at once: exactly
/// one caller gets [`LoadOutcome::Loaded`], the others
/// [`LoadOutcome::AlreadyPresent`]. `now` places the samples' own contents
/// (the times in their log excerpt, their tasks' due dates); the timeline
/// entries carry the store's clock, the time they were really written.
///
/// A failure part-way leaves the samples written so far; a later call finds
/// them and loads nothing more.
pub async fn load_sample_cases(
    store: &dyn CaseStore,
    now: DateTime<Utc>,
) -> anyhow::Result<LoadOutcome> {
    if samples_present(store)
        .await
        .context("looking for showcase cases")?
    {
        return Ok(LoadOutcome::AlreadyPresent);
    }
    let mut loaded = Vec::new();
    for (i, sample) in samples::all(now).into_iter().enumerate() {
        let title = sample.case.title.clone();
        let alerts = sample.case.alert_ids.clone();
        let case = match store.create_case(PRINCIPAL, sample.case).await {
            Ok(case) => case,
            Err(e) if i == 0 && lost_claim(&e, &alerts) => return Ok(LoadOutcome::AlreadyPresent),
            Err(e) => {
                return Err(e).with_context(|| format!("creating showcase case `{title}`"));
            }
        };
        apply(store, &case, sample.steps)
            .await
            .with_context(|| format!("writing showcase case {} `{title}`", case.number))?;
        loaded.push(case.number);
    }
    Ok(LoadOutcome::Loaded(loaded))
}

/// Whether a case created by [`PRINCIPAL`] with the tag [`TAG`] exists,
/// deleted or not.
async fn samples_present(store: &dyn CaseStore) -> store::Result<bool> {
    let mut query = CaseQuery {
        tag: Some(TAG.to_owned()),
        include_deleted: true,
        limit: 500,
        ..CaseQuery::default()
    };
    loop {
        let page = store.list_cases(&query).await?;
        if page
            .items
            .iter()
            .any(|row| vigil_api::views::cases::is_showcase(&row.case))
        {
            return Ok(true);
        }
        match page.next {
            Some(next) if !page.items.is_empty() => query.after = Some(next),
            _ => return Ok(false),
        }
    }
}

/// Whether creating the first sample failed because another case holds
/// one of its alerts (`alerts`, [`CLAIM_ALERT`] among them): another
/// loader's, committed or racing on the unique key. Under PostgreSQL's read
/// committed the create may find [`CLAIM_ALERT`] still free and a later
/// alert of the same sample already taken, when the other loader commits
/// between the two lookups.
fn lost_claim(error: &store::Error, alerts: &[String]) -> bool {
    match error {
        store::Error::AlertLinked { alert_id, .. } => alerts.contains(alert_id),
        store::Error::AlreadyExists { what } => *what == "alert link",
        _ => false,
    }
}

/// Writes a sample's steps to `case`, in order, each one command.
async fn apply(store: &dyn CaseStore, case: &Case, steps: Vec<Step>) -> anyhow::Result<()> {
    let id = case.id;
    let mut evidence = Vec::new();
    let mut tasks = Vec::new();
    for step in steps {
        match step {
            Step::Status(change) => {
                store.change_case_status(id, PRINCIPAL, change).await?;
            }
            Step::Observable(observable) => {
                store.add_observable(id, PRINCIPAL, observable).await?;
            }
            Step::Evidence(item) => {
                evidence.push(store.add_evidence(id, PRINCIPAL, item).await?.id);
            }
            Step::Custody(item, record) => {
                let item = *evidence
                    .get(item)
                    .context("custody names no evidence item")?;
                store.record_custody(id, item, PRINCIPAL, record).await?;
            }
            Step::Comment(comment) => {
                store.add_comment(id, PRINCIPAL, comment).await?;
            }
            Step::Task(task) => {
                tasks.push(store.create_task(id, PRINCIPAL, task).await?.id);
            }
            Step::TaskStatus(task, to) => {
                let task = *tasks.get(task).context("the move names no task")?;
                let patch = TaskPatch {
                    status: Some(to),
                    ..TaskPatch::default()
                };
                store.update_task(id, task, PRINCIPAL, patch).await?;
            }
        }
    }
    Ok(())
}
