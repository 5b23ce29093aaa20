//! Endpoints that reuse tool-call ids across turns (some send `call_0` on
//! every turn): each call is journaled under an id of its own, so a later
//! call is neither skipped as done nor fed an earlier call's result, and the
//! model still sees its own ids.

use vigil_agents::Mode;
use vigil_agents::runner::Step;
use vigil_engine::event::EventBody;

use crate::runner::{Fixture, VALID, submit};
use crate::support::scripted::tool_calls;
use crate::support::{Backend, on_both_stores};

on_both_stores!(a_call_id_reused_in_a_later_turn_is_a_new_call);

pub async fn a_call_id_reused_in_a_later_turn_is_a_new_call(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model.push(tool_calls(&[(
        "ip_reputation",
        r#"{"ip":"185.220.101.4"}"#,
        Some("call_0"),
    )]));
    fx.model.push(tool_calls(&[(
        "ip_reputation",
        r#"{"ip":"10.0.0.7"}"#,
        Some("call_0"),
    )]));
    fx.model.push(submit(VALID));
    let inv = fx.start().await;
    assert_eq!(fx.step(Mode::Real, &inv).await, Step::Completed);
    assert_eq!(fx.tools.count(), 2, "the second call ran too");
    let uris: Vec<String> = fx.tools.all().iter().map(|r| r.uri.clone()).collect();
    assert_eq!(uris, ["/echo/ip/185.220.101.4", "/echo/ip/10.0.0.7"]);

    let events = fx.store.events(inv.id, 0, 1000).await.unwrap();
    let result_ids: Vec<String> = events
        .iter()
        .filter_map(|e| match e.body() {
            Ok(EventBody::ToolResult(r)) => Some(r.tool_call_id),
            _ => None,
        })
        .collect();
    assert_eq!(result_ids.len(), 2);
    assert_ne!(result_ids[0], result_ids[1], "journaled ids are unique");

    // The model is answered under the ids it used.
    let last = fx.model.requests().last().unwrap().1.clone();
    let tool_ids: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["tool_call_id"].as_str().unwrap())
        .collect();
    assert_eq!(tool_ids, ["call_0", "call_0"]);
    let second_result = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .nth(1)
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(second_result.contains("10.0.0.7"), "{second_result}");
    fx.cleanup().await;
}
