//! The store conformance suite: one set of behaviour tests that every store
//! must pass, written once against the store ports.
//!
//! A store crate implements [`Harness`] (a fresh, migrated, isolated store per
//! test, plus the raw-SQL hooks the tamper tests need) and instantiates every
//! case with [`conformance_tests!`](crate::conformance_tests):
//!
//! ```text
//! vigil_engine::conformance_tests!(my_harness());
//! ```
//!
//! Each case becomes a `#[tokio::test]` in the calling crate, which must
//! depend on tokio with the `macros` and `rt-multi-thread` features.

pub mod cases;
mod logs;
mod support;

pub use logs::LogFixture;

use std::sync::Arc;

use async_trait::async_trait;

use uuid::Uuid;

use crate::clock::ManualClock;
use crate::log::LogName;
use crate::receipt::ReceiptSigner;
use crate::store::{GroupCommit, GroupStats, Store};

/// What a store crate provides to run the suite.
#[async_trait]
pub trait Harness: Send + Sync + 'static {
    /// The store under test.
    type Store: Store + Clone + 'static;

    /// A fresh, migrated store that shares nothing with any other test,
    /// running on `clock`.
    async fn fresh(&self, clock: Arc<ManualClock>) -> Self::Store;

    /// As [`Harness::fresh`], with a store that signs head receipts with
    /// `signer`.
    async fn fresh_signing(&self, clock: Arc<ManualClock>, signer: ReceiptSigner) -> Self::Store;

    /// Another handle on the database `fresh` created last, with its own
    /// pools and memory, as a second process would have.
    async fn reopen(&self, clock: Arc<ManualClock>) -> Self::Store;

    /// Runs a raw `UPDATE` of one entry of `log` (the aggregate `id`, at
    /// `seq`); returns the database's error message if it refused.
    async fn raw_update_entry(
        &self,
        store: &Self::Store,
        log: LogName,
        id: Uuid,
        seq: i64,
    ) -> Result<u64, String>;

    /// Runs a raw `DELETE` of one entry of `log`; returns the database's
    /// error message if it refused.
    async fn raw_delete_entry(
        &self,
        store: &Self::Store,
        log: LogName,
        id: Uuid,
        seq: i64,
    ) -> Result<u64, String>;

    /// Behind the append-only trigger's back (disable or drop it, write,
    /// restore it), replaces one entry's stored payload with the JSON text
    /// `payload`.
    async fn tamper_entry(
        &self,
        store: &Self::Store,
        log: LogName,
        id: Uuid,
        seq: i64,
        payload: &str,
    );

    /// Behind the append-only trigger's back, deletes every entry of `log`
    /// from `from_seq` on; with `rewind`, also moves the aggregate row's
    /// tail (`last_seq`, `last_hash`) back to the entry before `from_seq`,
    /// as a database superuser covering their tracks would.
    async fn cut_entries(
        &self,
        store: &Self::Store,
        log: LogName,
        id: Uuid,
        from_seq: i64,
        to_seq: i64,
        rewind: bool,
    );

    /// Sets one column of investigation `id`'s row to the SQL literal
    /// `value` (valid on both dialects, such as `'{"summary":"x"}'`).
    async fn tamper_investigation(&self, store: &Self::Store, id: Uuid, column: &str, value: &str);

    /// Inserts a receipt row for investigation `id` at `seq` directly, as
    /// if one had been issued there.
    async fn plant_receipt(&self, store: &Self::Store, id: Uuid, seq: i64);

    /// Sets one column of case `id`'s row to the SQL literal `value`
    /// (valid on both dialects, such as `'someone-else'`).
    async fn tamper_case(&self, store: &Self::Store, id: Uuid, column: &str, value: &str);

    /// Runs a raw `UPDATE` of the custody records of evidence item
    /// `evidence`; returns the database's error message if it refused.
    async fn raw_update_custody(&self, store: &Self::Store, evidence: Uuid) -> Result<u64, String>;

    /// Runs a raw `DELETE` of the custody records of evidence item
    /// `evidence`; returns the database's error message if it refused.
    async fn raw_delete_custody(&self, store: &Self::Store, evidence: Uuid) -> Result<u64, String>;

    /// Behind the immutability trigger's back (disable or drop it, write,
    /// restore it), replaces evidence item `evidence`'s stored content with
    /// `bytes`.
    async fn tamper_evidence_content(&self, store: &Self::Store, evidence: Uuid, bytes: &[u8]);

    /// `store` with its fenced worker writes batched as `settings` say
    /// ([`GroupCommit`]).
    fn with_group_commit(&self, store: Self::Store, settings: GroupCommit) -> Self::Store;

    /// What `store`'s group-commit writer has committed so far; `None` when
    /// it does not batch.
    fn group_stats(&self, store: &Self::Store) -> Option<GroupStats>;

    /// Releases what `fresh` created (a schema, a file).
    async fn cleanup(&self, store: Self::Store) {
        drop(store);
    }
}

/// Instantiates every conformance case as a `#[tokio::test]` for the given
/// harness expression (evaluated once per test).
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@cases $harness;
            dispatch_creates_queued_investigation_with_dispatched_event,
            dispatch_with_same_idempotency_key_returns_existing,
            concurrent_dispatches_with_one_key_create_one_investigation,
            dispatch_rejects_bad_input_and_writes_nothing,
            claim_takes_oldest_queued_for_requested_agents,
            claim_never_takes_running_or_awaiting_rows,
            a_claim_records_the_workers_mode,
            claim_skips_rows_whose_not_before_is_in_the_future,
            concurrent_claimers_claim_each_row_exactly_once,
            claims_of_several_rows_take_the_oldest_each_once,
            refused_commands_leave_no_lock_behind,
            checkpoint_appends_events_in_order_and_accumulates_usage,
            checkpoint_is_fenced_after_reap_and_after_rescue,
            expired_lease_refuses_worker_writes_before_reap,
            worker_writes_racing_the_reaper_never_land_after_it,
            writes_through_another_handle_are_never_overwritten,
            heartbeat_extends_the_lease_without_an_event,
            a_segment_trace_is_returned_by_the_next_claim_and_fenced,
            concurrent_appenders_keep_seq_contiguous,
            a_refused_write_inside_a_batch_leaves_its_neighbours_applied,
            a_dropped_write_is_applied_whole_or_not_at_all,
            batched_writers_keep_every_log_contiguous,
            fenced_writes_without_batching_behave_alike,
            hash_chain_verifies_and_tampering_is_reported_at_the_right_seq,
            events_cannot_be_updated_or_deleted,
            missing_events_are_reported_where_they_are_missing,
            audit_reports_a_row_its_events_do_not_support,
            terminal_statuses_get_signed_head_receipts,
            receipt_writes_fail_with_their_transition,
            reap_touches_only_expired_running_rows,
            concurrent_reapers_dead_letter_each_row_once,
            rescue_only_from_dead_lettered_or_failed,
            approval_decision_requeues_and_records_decider,
            concurrent_deciders_exactly_one_wins,
            expiry_sweep_expires_due_approvals_only,
            decision_racing_expiry_has_exactly_one_outcome,
            cancel_while_awaiting_rejects_the_pending_approval,
            approval_requests_keep_the_mode_they_were_asked_in,
            complete_with_invalid_result_keeps_raw_and_requires_review,
            complete_with_valid_result_completes,
            release_requeues_without_dead_letter,
            failed_write_leaves_nothing_half_written,
            list_filters_and_paginates_newest_first,
            pagination_is_stable_under_concurrent_inserts,
            events_read_after_seq_with_limit,
            unknown_ids_are_not_found,
            queued_work_wakes_workers,
            token_create_reuses_principal_and_refuses_role_change,
            token_create_rejects_bad_input_and_writes_nothing,
            revoked_token_stays_revoked_and_revoke_is_idempotent,
            concurrent_bootstraps_create_exactly_one_token,
            deliveries_are_enqueued_once_per_target_for_pending_approvals,
            concurrent_delivery_claimers_take_each_delivery_once,
            delivery_outcomes_are_recorded,
            stats_count_states_and_pending_approvals,
            stats_follow_runs_into_and_out_of_finished_statuses,
            approvals_changed_since_include_created_and_decided,
            worker_presence_lists_recent_workers,
            case_create_numbers_cases_and_writes_the_created_entry,
            case_create_rejects_bad_input_and_writes_nothing,
            case_updates_write_one_entry_per_changed_field,
            case_status_follows_the_lifecycle_and_refusals_name_what_is_allowed,
            concurrent_status_changes_on_one_case_exactly_one_wins,
            soft_deleted_case_detaches_alerts_and_stays_readable,
            alerts_belong_to_one_case,
            observables_are_normalized_and_counted_per_sighting,
            concurrent_sightings_are_all_counted,
            evidence_content_is_hashed_and_checked_on_read,
            custody_records_are_append_only,
            comments_and_tasks_are_written_with_their_entries,
            merge_moves_records_sums_sightings_and_closes_sources,
            merge_refuses_bad_sources_and_writes_nothing,
            merge_racing_an_edit_has_one_consistent_outcome,
            case_list_filters_sorts_and_counts,
            case_list_pages_by_keyset_without_repeats,
            case_list_sorts_by_alert_and_observable_counts_with_ties_by_id,
            related_cases_share_two_or_more_observables,
            case_timeline_appenders_keep_seq_contiguous,
            case_timeline_verifies_and_tampering_is_reported_at_the_right_seq,
            case_events_cannot_be_updated_or_deleted,
            case_timeline_reads_after_seq_with_limit,
            case_timeline_missing_entries_are_reported_where_they_are_missing,
            case_audit_reports_a_row_its_timeline_does_not_support,
            unknown_cases_are_not_found,
            dispatch_with_a_case_links_both_logs_atomically,
            linked_completion_writes_back_exactly_once,
            linked_completion_registers_tool_output_entities,
            summary_completion_writes_the_ai_summary_once,
            review_required_then_review_writes_the_result_once,
            linked_failure_writes_what_a_person_must_do,
            a_dead_lettered_linked_run_tells_its_case_and_writes_back_after_a_rescue,
            approval_parks_the_case_and_the_decision_returns_it,
            a_persons_status_change_during_an_approval_wins,
            approval_expiry_returns_the_case_to_in_progress_with_a_note,
            linked_decision_racing_expiry_has_one_outcome_in_both_timelines,
            a_claim_carries_the_cases_approval_flag,
            alert_ingest_opens_a_case_from_the_rule,
            a_grouping_dispatch_keeps_the_ingests_trace_context,
            alert_with_the_same_key_links_to_the_open_case,
            alert_redelivery_links_once,
            concurrent_ingests_with_one_key_open_one_case,
            ungrouped_alerts_are_stored_and_promoted_by_hand,
            alert_list_filters_and_pages,
            alerts_follow_their_case_into_a_merge,
            alerts_following_a_merge_race_merges_without_deadlock,
            a_parent_waits_for_every_child_and_the_last_queues_it,
            awaiting_finished_children_does_not_park,
            a_delegation_is_idempotent_on_the_parents_call,
            cancelling_a_parent_cancels_its_pending_descendants,
            children_finishing_together_queue_the_parent_once,
        );
    };
    (@cases $harness:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let harness = $harness;
                $crate::conformance::cases::$case(&harness).await;
            }
        )+
    };
}
