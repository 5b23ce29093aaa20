//! Approvals that do not outlive their context: a cancel of a parked or
//! approved run, then a rescue, goes on with the model told the action was
//! cancelled and nothing approved before the cancel running; and an
//! approval asked for in one runtime mode never runs in another.

use vigil_agents::Mode;
use vigil_agents::runner::Step;
use vigil_engine::{Decision, Status};

use crate::runner::{Fixture, VALID, park_on_isolation, park_on_isolation_in, submit};
use crate::support::{Backend, on_both_stores};

on_both_stores!(
    a_run_cancelled_while_parked_goes_on_after_a_rescue,
    an_approval_granted_before_a_cancel_does_not_survive_a_rescue,
    an_approval_granted_in_a_dry_run_never_runs_for_real,
);

async fn rescue_and_finish(fx: &Fixture, id: vigil_engine::InvestigationId) {
    fx.store
        .rescue(id, "otto", "cancelled by mistake")
        .await
        .unwrap();
    fx.model.push(submit(VALID));
    let again = fx.claim("worker-2").await;
    assert_eq!(fx.step(Mode::Real, &again).await, Step::Completed);
    assert_eq!(fx.store.get(id).await.unwrap().status, Status::Completed);
}

pub async fn a_run_cancelled_while_parked_goes_on_after_a_rescue(b: Backend) {
    let fx = Fixture::new(b).await;
    let (inv, _) = park_on_isolation(&fx).await;
    fx.store.cancel(inv.id, "otto", "wrong host").await.unwrap();
    rescue_and_finish(&fx, inv.id).await;
    assert_eq!(fx.tools.count(), 0, "the cancelled action never ran");
    let told = fx.tool_messages(1);
    assert!(
        told[0].starts_with("cancelled by otto: wrong host"),
        "{told:?}"
    );
    fx.cleanup().await;
}

pub async fn an_approval_granted_before_a_cancel_does_not_survive_a_rescue(b: Backend) {
    let fx = Fixture::new(b).await;
    let (inv, approval) = park_on_isolation(&fx).await;
    fx.store
        .decide_approval(approval.id, "bob", Decision::Approve, None)
        .await
        .unwrap();
    // Queued with the approval, but cancelled before any worker ran it.
    fx.store
        .cancel(inv.id, "otto", "not that host")
        .await
        .unwrap();
    rescue_and_finish(&fx, inv.id).await;
    assert_eq!(
        fx.tools.count(),
        0,
        "an approval granted before the cancel must not run after the rescue"
    );
    let told = fx.tool_messages(1);
    assert!(
        told[0].starts_with("cancelled by otto: not that host"),
        "{told:?}"
    );
    fx.cleanup().await;
}

/// An approval asked for in one runtime mode never lets a worker in another
/// mode run the action: approved during a dry run, it is not carried out by
/// a real-mode worker, and the model is told why.
pub async fn an_approval_granted_in_a_dry_run_never_runs_for_real(b: Backend) {
    let fx = Fixture::new(b).await;
    let (_, approval) = park_on_isolation_in(&fx, Mode::DryRun).await;
    assert_eq!(
        approval.mode.as_deref(),
        Some("dry_run"),
        "the request keeps its mode"
    );
    fx.store
        .decide_approval(approval.id, "bob", Decision::Approve, None)
        .await
        .unwrap();
    fx.model.push(submit(VALID));
    let again = fx.claim("worker-2").await;
    assert_eq!(fx.step(Mode::Real, &again).await, Step::Completed);
    assert_eq!(
        fx.tools.count(),
        0,
        "a dry-run approval ran nothing for real"
    );
    let told = fx.tool_messages(1);
    assert!(
        told[0].starts_with("approved by bob while Vigil ran in dry_run mode"),
        "{told:?}"
    );
    fx.cleanup().await;
}
