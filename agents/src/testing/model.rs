//! A scripted OpenAI-compatible chat-completions server on loopback.
#![allow(missing_docs)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(body: Value) -> Self {
        Self {
            status: 200,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A completion whose message carries `tool_calls` (name, raw arguments, id).
pub fn tool_calls(calls: &[(&str, &str, Option<&str>)]) -> Reply {
    let calls: Vec<Value> = calls
        .iter()
        .map(|(name, args, id)| {
            let mut c = json!({"type": "function", "function": {"name": name, "arguments": args}});
            if let Some(id) = id {
                c["id"] = json!(id);
            }
            c
        })
        .collect();
    Reply::json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "scripted-1",
        "choices": [{"index": 0, "finish_reason": "tool_calls",
                     "message": {"role": "assistant", "content": null, "tool_calls": calls}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    }))
}

/// A completion with plain text.
pub fn text(content: &str) -> Reply {
    Reply::json(json!({
        "id": "chatcmpl-2", "object": "chat.completion", "model": "scripted-1",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 150, "completion_tokens": 40, "total_tokens": 190}
    }))
}

/// Answers a request body with a reply (for servers shared by many runs).
pub type Responder = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    requests: Vec<(HeaderMap, Value)>,
    responder: Option<Responder>,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("replies", &self.replies.len())
            .finish_non_exhaustive()
    }
}

/// The server's script and record.
#[derive(Debug, Clone, Default)]
pub struct Scripted(Arc<Mutex<Script>>);

impl Scripted {
    pub fn push(&self, reply: Reply) -> &Self {
        self.0.lock().unwrap().replies.push_back(reply);
        self
    }

    pub fn requests(&self) -> Vec<(HeaderMap, Value)> {
        self.0.lock().unwrap().requests.clone()
    }

    /// Answers every request with `responder` once the queue is empty.
    pub fn respond_with(&self, responder: Responder) -> &Self {
        self.0.lock().unwrap().responder = Some(responder);
        self
    }
}

async fn completions(State(s): State<Scripted>, headers: HeaderMap, body: String) -> Response {
    let reply = {
        let mut script = s.0.lock().unwrap();
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let reply = script
            .replies
            .pop_front()
            .or_else(|| script.responder.as_ref().map(|r| r(&body)));
        script.requests.push((headers, body));
        reply
    };
    let Some(reply) = reply else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "script exhausted").into_response();
    };
    tokio::time::sleep(reply.delay).await;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// Starts the server; the base URL is `http://{addr}/v1`.
pub async fn serve() -> (SocketAddr, Scripted) {
    let scripted = Scripted::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(scripted.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, scripted)
}
