//! A loopback HTTP server that records every request it gets.
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{any, get};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub uri: String,
    pub headers: HeaderMap,
    pub body: String,
}

/// The server's record of requests.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

async fn record(State(rec): State<Recorder>, uri: Uri, headers: HeaderMap, body: Bytes) -> Uri {
    rec.0.lock().unwrap().push(Seen {
        uri: uri.to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    uri
}

/// Starts the server on an ephemeral loopback port. Routes:
/// - `/echo/...` (any method): 200 with `{"uri": ..., "body": ...}`;
/// - `/fail`: 500 with a message;
/// - `/slow`: answers after 2 s;
/// - `/big`: 100 000 bytes of `x`.
pub async fn serve() -> (SocketAddr, Recorder) {
    let rec = Recorder::default();
    let app = Router::new()
        .route(
            "/echo/{*rest}",
            any(
                |state: State<Recorder>, uri: Uri, headers: HeaderMap, body: Bytes| async move {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    let uri = record(state, uri, headers, body).await;
                    axum::Json(serde_json::json!({"uri": uri.to_string(), "body": text}))
                },
            ),
        )
        .route(
            "/fail",
            any(
                |state: State<Recorder>, uri: Uri, headers: HeaderMap, body: Bytes| async move {
                    record(state, uri, headers, body).await;
                    (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded")
                },
            ),
        )
        .route(
            "/slow",
            get(
                |state: State<Recorder>, uri: Uri, headers: HeaderMap, body: Bytes| async move {
                    record(state, uri, headers, body).await;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    "late"
                },
            ),
        )
        .route(
            "/big",
            get(
                |state: State<Recorder>, uri: Uri, headers: HeaderMap, body: Bytes| async move {
                    record(state, uri, headers, body).await;
                    "x".repeat(100_000)
                },
            ),
        )
        .with_state(rec.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, rec)
}
