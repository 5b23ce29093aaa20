//! A database that cannot take a tool result's checkpoint for a moment:
//! the run keeps the result it holds and writes it once the database is
//! back, instead of re-running a read tool or sending a write to review. A
//! checkpoint that committed although its answer was lost is not written a
//! second time.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vigil_agents::Mode;
use vigil_agents::runner::{Ports, Step};
use vigil_engine::Status;
use vigil_engine::event::EventKind;

use crate::runner::{Fixture, VALID, submit};
use crate::support::scripted::tool_calls;
use crate::support::{Backend, Fault, FaultyLeases, on_both_stores};

on_both_stores!(
    a_tool_result_checkpoint_refused_for_a_moment_is_written_once_later,
    a_tool_result_checkpoint_whose_answer_was_lost_is_not_written_twice,
);

async fn run_through(b: Backend, fault: Fault) {
    let fx = Fixture::new(b).await;
    fx.model.push(tool_calls(&[(
        "ip_reputation",
        r#"{"ip":"185.220.101.4"}"#,
        Some("c1"),
    )]));
    fx.model.push(submit(VALID));
    let inv = fx.start().await;
    let ports = Ports {
        leases: Arc::new(FaultyLeases::new(fx.store.clone(), fault)),
        reads: fx.store.clone(),
        dispatcher: fx.store.clone(),
    };
    assert_eq!(
        fx.runner_on(ports, Mode::Real)
            .run(&inv, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed
    );
    assert_eq!(fx.tools.count(), 1, "the read tool ran once");
    let done = fx.store.get(inv.id).await.unwrap();
    assert_eq!(done.status, Status::Completed);
    let kinds = fx.kinds(&inv).await;
    let results = kinds
        .iter()
        .filter(|k| **k == EventKind::ToolResult)
        .count();
    assert_eq!(results, 1, "one tool result in the log: {kinds:?}");
    let report = fx.store.verify_chain(inv.id).await.unwrap();
    assert!(report.valid, "{report:?}");
    fx.cleanup().await;
}

pub async fn a_tool_result_checkpoint_refused_for_a_moment_is_written_once_later(b: Backend) {
    run_through(b, Fault::CheckpointRefused).await;
}

pub async fn a_tool_result_checkpoint_whose_answer_was_lost_is_not_written_twice(b: Backend) {
    run_through(b, Fault::CheckpointAnswerLost).await;
}
