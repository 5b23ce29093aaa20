//! Server-Sent Events: an investigation's events resume after
//! `Last-Event-ID` without gaps or repeats; approvals stream as they are
//! requested and decided.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use futures::StreamExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::TestApp;
use crate::{on_both_backends, on_both_backends_in};

on_both_backends!(
    event_stream_resumes_after_last_event_id,
    approval_stream_announces_requests_and_decisions,
    a_finished_investigations_stream_ends_after_its_last_event,
    revoking_a_token_closes_the_streams_it_opened,
    the_approvals_stream_resumes_from_a_message_id_and_refuses_garbage,
);

on_both_backends_in!("real": a_case_timeline_stream_resumes_after_last_event_id_and_ends_when_the_case_is_deleted);

/// Reads SSE messages until the server ends the stream.
async fn read_to_end(body: Body) -> Vec<Message> {
    let mut stream = body.into_data_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Some(chunk) = tokio::time::timeout_at(deadline, stream.next())
        .await
        .expect("the stream ends in time")
    {
        text.push_str(std::str::from_utf8(&chunk.expect("chunk")).unwrap());
    }
    parse_messages(&text)
}

fn parse_messages(text: &str) -> Vec<Message> {
    let mut messages = Vec::new();
    for block in text.split("\n\n") {
        let mut m = Message::default();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                m.event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("id:") {
                m.id = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                m.data.push_str(v.trim_start());
            }
        }
        if !m.event.is_empty() {
            messages.push(m);
        }
    }
    messages
}

/// Opens `path` with a raw bearer token.
async fn open_with(app: &TestApp, path: &str, token: &str) -> Body {
    let response = app
        .router
        .clone()
        .oneshot(
            axum::http::Request::builder()
                .uri(path)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body()
}

async fn a_finished_investigations_stream_ends_after_its_last_event(app: &TestApp) {
    let id = app.dispatch("olivia", "cancel me").await;
    app.post(
        &format!("/api/v1/investigations/{id}/cancel"),
        "otto",
        json!({"reason": "noise"}),
    )
    .await;
    let path = format!("/api/v1/investigations/{id}/events/stream");
    let messages = read_to_end(open(app, &path, "olivia", None).await).await;
    let kinds: Vec<&str> = messages.iter().map(|m| m.event.as_str()).collect();
    assert_eq!(kinds, ["dispatched", "cancelled", "stream_end"]);
    let end: Value = serde_json::from_str(&messages[2].data).unwrap();
    assert_eq!(end["last_seq"], 2);
    // Resuming after the last event ends at once, with nothing repeated.
    let again = read_to_end(open(app, &path, "olivia", Some("2")).await).await;
    let kinds: Vec<&str> = again.iter().map(|m| m.event.as_str()).collect();
    assert_eq!(kinds, ["stream_end"]);
}

async fn revoking_a_token_closes_the_streams_it_opened(app: &TestApp) {
    let issued = app
        .post(
            "/api/v1/tokens",
            "admin",
            json!({"name": "rita", "roles": ["approver", "operator"]}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let token = issued.body["token"].as_str().unwrap().to_owned();
    let token_id = issued.body["id"].as_str().unwrap().to_owned();

    let running = app.dispatch("olivia", "watched").await;
    app.park_on_approval(&running).await;
    let events = open_with(
        app,
        &format!("/api/v1/investigations/{running}/events/stream"),
        &token,
    )
    .await;
    let approvals = open_with(app, "/api/v1/approvals/stream", &token).await;
    let events = tokio::spawn(read_to_end(events));
    let approvals = tokio::spawn(read_to_end(approvals));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let revoked = app
        .send(
            app.request(
                Method::DELETE,
                &format!("/api/v1/tokens/{token_id}"),
                Some("admin"),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    // A request made after the revocation must not reach the revoked
    // approver's stream.
    let secret = app.dispatch("olivia", "after the revocation").await;
    app.park_on_approval(&secret).await;

    for (what, messages) in [
        ("events", events.await.unwrap()),
        ("approvals", approvals.await.unwrap()),
    ] {
        let last = messages.last().expect("a closing message");
        assert_eq!(last.event, "problem", "{what}: {messages:?}");
        let problem: Value = serde_json::from_str(&last.data).unwrap();
        assert_eq!(problem["code"], "unauthenticated", "{what}");
        assert!(
            messages.iter().all(|m| !m.data.contains(&secret)),
            "{what} delivered a request made after the revocation: {messages:?}"
        );
    }
}

async fn the_approvals_stream_resumes_from_a_message_id_and_refuses_garbage(app: &TestApp) {
    for garbage in ["minus one", "-5", "1.5", "99999999999999999999"] {
        let r = app
            .send(
                app.request(Method::GET, "/api/v1/approvals/stream", Some("anna"))
                    .header("Last-Event-ID", garbage)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        r.problem(StatusCode::BAD_REQUEST, "invalid_header");
    }
    let id = app.dispatch("olivia", "isolate?").await;
    let approval = app.park_on_approval(&id).await;
    // A client that saw nothing since the epoch resumes and gets the request.
    let messages = read_messages(
        open(app, "/api/v1/approvals/stream", "anna", Some("0")).await,
        1,
    )
    .await;
    assert_eq!(messages[0].event, "approval_requested");
    let data: Value = serde_json::from_str(&messages[0].data).unwrap();
    assert_eq!(data["id"], approval.as_str());
    assert!(
        messages[0]
            .id
            .as_deref()
            .is_some_and(|v| v.parse::<i64>().is_ok())
    );
}

/// One parsed SSE message.
#[derive(Debug, Default, Clone)]
struct Message {
    event: String,
    id: Option<String>,
    data: String,
}

/// Reads SSE messages from a response body until `n` have arrived.
async fn read_messages(body: Body, n: usize) -> Vec<Message> {
    let mut stream = body.into_data_stream();
    let mut buffer = String::new();
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while messages.len() < n {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("SSE messages arrive in time")
            .expect("stream open")
            .expect("chunk");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut m = Message::default();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    m.event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("id:") {
                    m.id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    m.data.push_str(v.trim_start());
                }
            }
            if !m.event.is_empty() {
                messages.push(m);
            }
        }
    }
    messages
}

async fn open(app: &TestApp, path: &str, who: &str, last_event_id: Option<&str>) -> Body {
    let mut req = app.request(Method::GET, path, Some(who));
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    let response = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    response.into_body()
}

async fn event_stream_resumes_after_last_event_id(app: &TestApp) {
    let id = app.dispatch("olivia", "stream me").await;
    let path = format!("/api/v1/investigations/{id}/events/stream");

    let first = read_messages(open(app, &path, "olivia", None).await, 1).await;
    assert_eq!(first[0].event, "dispatched");
    assert_eq!(first[0].id.as_deref(), Some("1"));

    // Resume after seq 1 while new events are being written.
    let body = open(app, &path, "olivia", Some("1")).await;
    let approval = app.park_on_approval(&id).await;
    app.post(
        &format!("/api/v1/approvals/{approval}/decision"),
        "anna",
        json!({"decision": "approve"}),
    )
    .await;
    let messages = read_messages(body, 3).await;
    let seqs: Vec<&str> = messages.iter().map(|m| m.id.as_deref().unwrap()).collect();
    assert_eq!(seqs, ["2", "3", "4"], "no gap, no repeat");
    let kinds: Vec<&str> = messages.iter().map(|m| m.event.as_str()).collect();
    assert_eq!(kinds, ["claimed", "approval_requested", "approval_decided"]);
    let data: Value = serde_json::from_str(&messages[2].data).unwrap();
    assert_eq!(data["seq"], 4);
    assert_eq!(data["actor"], "anna");

    let r = app
        .send(
            app.request(Method::GET, &path, Some("olivia"))
                .header("Last-Event-ID", "minus one")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.problem(StatusCode::BAD_REQUEST, "invalid_header");

    // A server shutdown ends open streams.
    let mut open_stream = open(app, &path, "olivia", Some("4"))
        .await
        .into_data_stream();
    app.shutdown.cancel();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = open_stream.next().await {
            chunk.unwrap();
        }
    })
    .await;
    assert!(end.is_ok(), "the stream ended at shutdown");
}

async fn approval_stream_announces_requests_and_decisions(app: &TestApp) {
    let body = open(app, "/api/v1/approvals/stream", "anna", None).await;
    let id = app.dispatch("olivia", "isolate?").await;
    let approval = app.park_on_approval(&id).await;
    let mut stream_reader = tokio::spawn(read_messages(body, 2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.post(
        &format!("/api/v1/approvals/{approval}/decision"),
        "arne",
        json!({"decision": "reject", "comment": "not ours"}),
    )
    .await;
    let messages = (&mut stream_reader).await.unwrap();
    assert_eq!(messages[0].event, "approval_requested");
    assert_eq!(messages[1].event, "approval_decided");
    let decided: Value = serde_json::from_str(&messages[1].data).unwrap();
    assert_eq!(decided["id"], approval.as_str());
    assert_eq!(decided["status"], "rejected");
    assert_eq!(decided["decided_by"], "arne");
}

async fn a_case_timeline_stream_resumes_after_last_event_id_and_ends_when_the_case_is_deleted(
    app: &TestApp,
) {
    let created = app
        .post("/api/v1/cases", "otto", json!({"title": "Live case"}))
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/cases/{id}/timeline/stream");
    let first = read_messages(open(app, &path, "olivia", None).await, 1).await;
    assert_eq!(
        (first[0].event.as_str(), first[0].id.as_deref()),
        ("created", Some("1"))
    );

    // Resume after seq 1 while the case changes.
    let body = open(app, &path, "aude", Some("1")).await;
    app.post(
        &format!("/api/v1/cases/{id}/status"),
        "otto",
        json!({"status": "in_progress"}),
    )
    .await;
    app.post(
        &format!("/api/v1/cases/{id}/comments"),
        "olivia",
        json!({"body": "agent note"}),
    )
    .await;
    let deleted = app
        .send(
            app.request(
                Method::DELETE,
                &format!("/api/v1/cases/{id}?reason=duplicate"),
                Some("otto"),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let messages = read_to_end(body).await;
    let kinds: Vec<&str> = messages.iter().map(|m| m.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "status_change",
            "comment_added",
            "case_deleted",
            "stream_end"
        ],
        "no gap, no repeat, and the end of a deleted case"
    );
    let seqs: Vec<&str> = messages[..3]
        .iter()
        .map(|m| m.id.as_deref().unwrap())
        .collect();
    assert_eq!(seqs, ["2", "3", "4"]);
    let data: Value = serde_json::from_str(&messages[1].data).unwrap();
    assert_eq!(
        (
            data["actor"].as_str(),
            data["payload"]["author_kind"].as_str()
        ),
        (Some("olivia"), Some("machine"))
    );
    // A deleted case is still read by id, for auditors.
    let read = app.get(&format!("/api/v1/cases/{id}"), "aude").await;
    assert!(read.body["deleted_at"].is_string(), "{}", read.body);
}
