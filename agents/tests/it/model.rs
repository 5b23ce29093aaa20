//! The async-openai adapter against the scripted server: the real client,
//! the real JSON wire.

use std::time::{Duration, Instant};

use serde_json::json;
use vigil_agents::model::ToolCall;
use vigil_agents::openai::{Compat, ToolChoice, ToolResults};
use vigil_agents::{
    ChatModel, ChatRequest, Message, ModelError, OpenAiConfig, OpenAiModel, RetryPolicy, Secret,
    ToolDef,
};

use crate::support::scripted::{Reply, serve, text, tool_calls};

const KEY: &str = "sk-test-do-not-leak-4711";

fn model(addr: std::net::SocketAddr, retry: RetryPolicy) -> OpenAiModel {
    OpenAiModel::new(OpenAiConfig {
        base_url: format!("http://{addr}/v1"),
        api_key: Secret::new(KEY),
        model: "triage-model".into(),
        timeout: Duration::from_secs(5),
        temperature: Some(0.1),
        max_output_tokens: Some(512),
        retry,
        compat: Compat::default(),
    })
    .unwrap()
}

fn quick_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_secs(2),
        max_total_wait: Duration::from_secs(10),
    }
}

fn request_with_tools() -> ChatRequest {
    ChatRequest {
        model: None,
        messages: vec![
            Message::System("You are a SOC analyst.".into()),
            Message::User("Failed SSH logins from 185.220.101.4".into()),
        ],
        tools: vec![ToolDef {
            name: "ip_reputation".into(),
            description: "Reputation of an IP".into(),
            parameters: json!({"type": "object", "properties": {"ip": {"type": "string"}}}),
        }],
    }
}

#[tokio::test]
async fn a_tool_call_turn_then_a_text_turn_over_the_real_wire() {
    let (addr, script) = serve().await;
    script
        .push(tool_calls(&[(
            "ip_reputation",
            r#"{"ip":"185.220.101.4"}"#,
            Some("call_1"),
        )]))
        .push(text("Tor exit node; blocked."));
    let model = model(addr, quick_retries(0));

    let first = model.complete(&request_with_tools()).await.unwrap();
    assert_eq!(first.tool_calls.len(), 1);
    assert_eq!(first.tool_calls[0].id, "call_1");
    assert_eq!(first.tool_calls[0].arguments, r#"{"ip":"185.220.101.4"}"#);
    assert_eq!((first.input_tokens, first.output_tokens), (100, 20));
    assert_eq!(first.model, "scripted-1");

    let mut follow_up = request_with_tools();
    follow_up.messages.push(Message::Assistant {
        content: None,
        tool_calls: first.tool_calls.clone(),
    });
    follow_up.messages.push(Message::Tool {
        tool_call_id: "call_1".into(),
        content: r#"{"tor_exit":true}"#.into(),
    });
    let second = model.complete(&follow_up).await.unwrap();
    assert_eq!(second.content.as_deref(), Some("Tor exit node; blocked."));
    assert!(second.tool_calls.is_empty());

    let requests = script.requests();
    assert_eq!(requests.len(), 2);
    let (headers, body) = &requests[0];
    assert_eq!(headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(body["model"], "triage-model");
    assert_eq!(
        body["tool_choice"], "auto",
        "tool_choice is explicit when tools are offered"
    );
    assert_eq!(body["tools"][0]["function"]["name"], "ip_reputation");
    assert_eq!(body["max_tokens"], 512);
    let assistant = &requests[1].1["messages"][2];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["content"], "", "never null next to tool calls");
    assert_eq!(assistant["tool_calls"][0]["id"], "call_1");
    assert_eq!(requests[1].1["messages"][3]["tool_call_id"], "call_1");
}

#[tokio::test]
async fn no_tools_means_no_tool_choice() {
    let (addr, script) = serve().await;
    script.push(text("hello"));
    let mut request = request_with_tools();
    request.tools.clear();
    model(addr, quick_retries(0))
        .complete(&request)
        .await
        .unwrap();
    let body = &script.requests()[0].1;
    assert!(
        body.get("tool_choice").is_none() && body.get("tools").is_none(),
        "{body}"
    );
}

#[tokio::test]
async fn missing_and_duplicated_tool_call_ids_are_replaced() {
    let (addr, script) = serve().await;
    script.push(tool_calls(&[
        ("a", "{}", Some("dup")),
        ("b", "{}", Some("dup")),
        ("c", "{}", None),
    ]));
    let response = model(addr, quick_retries(0))
        .complete(&request_with_tools())
        .await
        .unwrap();
    let ids: std::collections::HashSet<_> = response
        .tool_calls
        .iter()
        .map(|c: &ToolCall| c.id.clone())
        .collect();
    assert_eq!(ids.len(), 3, "{:?}", response.tool_calls);
    assert!(response.tool_calls.iter().all(|c| !c.id.is_empty()));
}

#[tokio::test]
async fn malformed_tool_arguments_are_passed_through_untouched() {
    let (addr, script) = serve().await;
    script.push(tool_calls(&[(
        "ip_reputation",
        r#"{"ip": "185.220.101.4""#,
        Some("c1"),
    )]));
    let response = model(addr, quick_retries(0))
        .complete(&request_with_tools())
        .await
        .unwrap();
    assert_eq!(
        response.tool_calls[0].arguments,
        r#"{"ip": "185.220.101.4""#
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_succeeds() {
    let (addr, script) = serve().await;
    script
        .push(
            Reply::status(
                429,
                r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
            )
            .header("retry-after", "1"),
        )
        .push(text("done"));
    let started = Instant::now();
    let response = model(addr, quick_retries(3))
        .complete(&request_with_tools())
        .await
        .unwrap();
    assert_eq!(response.content.as_deref(), Some("done"));
    assert_eq!(script.requests().len(), 2);
    // The backoff alone would have waited about a millisecond.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After was not honoured"
    );
}

#[tokio::test]
async fn persistent_server_errors_exhaust_the_retry_budget() {
    let (addr, script) = serve().await;
    for _ in 0..5 {
        script.push(Reply::status(503, "upstream overloaded"));
    }
    let err = model(addr, quick_retries(2))
        .complete(&request_with_tools())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ModelError::Unavailable(ref m) if m.contains("503")),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(script.requests().len(), 3, "one attempt and two retries");
}

#[tokio::test]
async fn persistent_rate_limits_are_typed_as_such() {
    let (addr, script) = serve().await;
    for _ in 0..3 {
        script.push(Reply::status(429, "plain text, not JSON"));
    }
    let err = model(addr, quick_retries(1))
        .complete(&request_with_tools())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn a_bad_request_is_not_retried_and_never_shows_the_key() {
    let (addr, script) = serve().await;
    script.push(Reply::status(
        400,
        r#"{"error":{"message":"tools[0] is invalid","type":"invalid_request_error"}}"#,
    ));
    let m = model(addr, quick_retries(3));
    let err = m.complete(&request_with_tools()).await.unwrap_err();
    assert!(
        matches!(err, ModelError::BadRequest(ref msg) if msg.contains("tools[0] is invalid")),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(script.requests().len(), 1);
    assert!(!format!("{err} {err:?} {m:?}").contains(KEY));
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    let (addr, script) = serve().await;
    script.push(text("late").delayed(Duration::from_secs(3)));
    let mut config = OpenAiConfig {
        base_url: format!("http://{addr}/v1"),
        api_key: Secret::new(KEY),
        model: "m".into(),
        timeout: Duration::from_millis(300),
        temperature: None,
        max_output_tokens: None,
        retry: quick_retries(0),
        compat: Default::default(),
    };
    let err = OpenAiModel::new(config.clone())
        .unwrap()
        .complete(&request_with_tools())
        .await
        .unwrap_err();
    assert_eq!(err, ModelError::Timeout);
    config.base_url = "http://127.0.0.1:1/v1".into();
    let err = OpenAiModel::new(config)
        .unwrap()
        .complete(&request_with_tools())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn an_answer_that_is_not_a_completion_is_reported() {
    let (addr, script) = serve().await;
    script.push(Reply::json(json!({"hello": "world"})));
    let err = model(addr, quick_retries(0))
        .complete(&request_with_tools())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::InvalidResponse(_)), "{err:?}");
}

#[tokio::test]
async fn the_local_server_profile_sends_tool_results_as_user_messages_and_tool_choice_once() {
    let (addr, script) = serve().await;
    script.push(text("looking")).push(text("done"));
    let mut config = OpenAiConfig {
        base_url: format!("http://{addr}/v1"),
        api_key: Secret::new(KEY),
        model: "llama".into(),
        timeout: Duration::from_secs(5),
        temperature: None,
        max_output_tokens: None,
        retry: quick_retries(0),
        compat: Compat::default(),
    };
    config.compat.tool_results = ToolResults::UserMessage;
    config.compat.tool_choice = ToolChoice::FirstTurnOnly;
    let m = OpenAiModel::new(config).unwrap();

    let first = request_with_tools();
    m.complete(&first).await.unwrap();
    let mut later = request_with_tools();
    later.messages.push(Message::Assistant {
        content: None,
        tool_calls: vec![ToolCall {
            id: "call_9".into(),
            name: "ip_reputation".into(),
            arguments: r#"{"ip":"185.220.101.4"}"#.into(),
            wire_id: None,
        }],
    });
    later.messages.push(Message::Tool {
        tool_call_id: "call_9".into(),
        content: "tor exit node".into(),
    });
    m.complete(&later).await.unwrap();

    let sent = script.requests();
    assert_eq!(sent[0].1["tool_choice"], "auto", "asked on the first turn");
    assert!(
        sent[1].1.get("tool_choice").is_none(),
        "not on later turns: {}",
        sent[1].1
    );
    assert!(sent[1].1["tools"].is_array(), "tools are still offered");
    let messages = sent[1].1["messages"].as_array().unwrap();
    assert!(
        messages.iter().all(|m| m["role"] != "tool"),
        "no tool role: {messages:?}"
    );
    let last = messages.last().unwrap();
    assert_eq!(last["role"], "user");
    let content = last["content"].as_str().unwrap();
    assert!(
        content.contains("call_9") && content.contains("tor exit node"),
        "{content}"
    );
}

#[tokio::test]
async fn the_default_profile_sends_tool_messages_and_tool_choice_every_turn() {
    let (addr, script) = serve().await;
    script.push(text("done"));
    let m = model(addr, quick_retries(0));
    let mut later = request_with_tools();
    later.messages.push(Message::Assistant {
        content: None,
        tool_calls: vec![ToolCall {
            id: "call_9".into(),
            name: "ip_reputation".into(),
            arguments: "{}".into(),
            wire_id: None,
        }],
    });
    later.messages.push(Message::Tool {
        tool_call_id: "call_9".into(),
        content: "tor exit node".into(),
    });
    m.complete(&later).await.unwrap();
    let sent = script.requests();
    assert_eq!(sent[0].1["tool_choice"], "auto");
    let last = sent[0].1["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "tool");
    assert_eq!(last["tool_call_id"], "call_9");
}
