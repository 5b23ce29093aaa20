//! An API over a real store (a SQLite file or a PostgreSQL schema), a set
//! of principals with tokens, and helpers to call it through `oneshot` and to
//! move investigations along as a worker would.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;
use vigil_api::{
    AgentInfo, Agents, ApiStore, AppState, Limits, StreamSettings, SystemInfo, ToolInfo,
};
use vigil_engine::machine::ApprovalDraft;
use vigil_engine::result::Completion;
use vigil_engine::store::Leases;
use vigil_engine::{ApprovalId, Investigation, InvestigationId, Role, SystemClock};

/// Which store the API runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The worker-side view the tests drive runs with.
pub trait TestStore: ApiStore + Leases {}
impl<T: ApiStore + Leases> TestStore for T {}

/// Principals every test app has, with their roles.
pub const PRINCIPALS: &[(&str, &[Role])] = &[
    ("admin", &[Role::Admin]),
    ("olivia", &[Role::Orchestrator]),
    ("oscar", &[Role::Orchestrator]),
    ("otto", &[Role::Operator]),
    ("anna", &[Role::Approver]),
    ("arne", &[Role::Approver]),
    ("aude", &[Role::Auditor]),
    ("dual", &[Role::Orchestrator, Role::Approver]),
];

/// The largest body the test app accepts.
pub const BODY_LIMIT: usize = 16 * 1024;
/// The longest prompt the test app accepts.
pub const PROMPT_LIMIT: usize = 2000;

pub struct TestApp {
    pub router: axum::Router,
    pub store: Arc<dyn TestStore>,
    pub api_store: Arc<dyn ApiStore>,
    tokens: Vec<(String, String)>,
    cleanup: Cleanup,
    pub shutdown: tokio_util::sync::CancellationToken,
}

enum Cleanup {
    Sqlite(
        #[allow(dead_code)] tempfile::TempDir,
        Arc<vigil_store_sqlite::SqliteStore>,
    ),
    Postgres(
        vigil_store_postgres::testing::TestSchema,
        Arc<vigil_store_postgres::PgStore>,
    ),
}

/// The audit key every test app signs head receipts with.
pub fn receipt_signer() -> vigil_engine::receipt::ReceiptSigner {
    vigil_engine::receipt::ReceiptSigner::from_seed([3; 32])
}

pub fn agents() -> Agents {
    Agents::new([summarize_agent(), triage_agent()])
}

/// The `summarize` agent a close and `POST /cases/{id}/summarize` dispatch.
fn summarize_agent() -> AgentInfo {
    AgentInfo {
        id: "summarize".into(),
        output_schema: json!({"type": "object"}),
        tools: Vec::new(),
    }
}

fn triage_agent() -> AgentInfo {
    AgentInfo {
        id: "triage".into(),
        output_schema: json!({
            "type": "object",
            "required": ["summary", "key_findings", "recommended_next_steps", "confidence"],
            "properties": {
                "summary": {"type": "string"},
                "key_findings": {"type": "array", "items": {"type": "string"}},
                "recommended_next_steps": {"type": "array", "items": {"type": "string"}},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1}
            },
            "additionalProperties": false
        }),
        tools: vec![
            ToolInfo {
                name: "isolate_host".into(),
                description: "Isolates a host from the network".into(),
                effect: "write".into(),
                local: true,
            },
            ToolInfo {
                name: "siem_search".into(),
                description: "Searches the SIEM".into(),
                effect: "read".into(),
                local: true,
            },
        ],
    }
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::new_in(backend, "dummy").await
    }

    /// An app whose `GET /system/mode` (and so case writes) say `mode`.
    pub async fn new_in(backend: Backend, mode: &str) -> Self {
        let clock = Arc::new(SystemClock);
        let (store, api_store, cleanup): (Arc<dyn TestStore>, Arc<dyn ApiStore>, Cleanup) =
            match backend {
                Backend::Sqlite => {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let url = format!("sqlite://{}", dir.path().join("api.db").display());
                    let s = vigil_store_sqlite::open(vigil_store_sqlite::Options::new(url), clock)
                        .await
                        .expect("open SQLite store");
                    let s = Arc::new(s.with_signer(receipt_signer()));
                    (s.clone(), s.clone(), Cleanup::Sqlite(dir, s))
                }
                Backend::Postgres => {
                    let schema = vigil_store_postgres::testing::TestSchema::new();
                    let s = Arc::new(schema.open(clock).await.with_signer(receipt_signer()));
                    (s.clone(), s.clone(), Cleanup::Postgres(schema, s))
                }
            };
        let mut tokens = Vec::new();
        for (name, roles) in PRINCIPALS {
            let issued = vigil_api::auth::issue(name, roles.to_vec()).expect("issue token");
            api_store
                .create_token(issued.record)
                .await
                .expect("store token");
            tokens.push(((*name).to_owned(), issued.token));
        }
        let shutdown = tokio_util::sync::CancellationToken::new();
        let state = AppState::new(
            api_store.clone(),
            agents(),
            SystemInfo {
                mode: mode.into(),
                backend: match backend {
                    Backend::Sqlite => "sqlite".into(),
                    Backend::Postgres => "postgres".into(),
                },
                version: "test".into(),
                receipt_key: Some(receipt_signer().public_key()),
            },
        )
        .with_limits(Limits {
            body_bytes: BODY_LIMIT,
            prompt_chars: PROMPT_LIMIT,
            ..Limits::default()
        })
        .with_streams(StreamSettings {
            poll: std::time::Duration::from_millis(20),
            keep_alive: std::time::Duration::from_secs(15),
            recheck: std::time::Duration::from_millis(50),
        })
        .with_shutdown(shutdown.clone());
        Self {
            router: vigil_api::app(state),
            store,
            api_store,
            tokens,
            cleanup,
            shutdown,
        }
    }

    pub async fn close(self) {
        if let Cleanup::Postgres(schema, _) = self.cleanup {
            schema.drop_now().await;
        }
    }

    /// Rewrites the payload of case timeline entry `seq` behind the API's
    /// back, past the database's append-only guard, as an attacker with
    /// database access would.
    pub async fn tamper_case_entry(&self, case_id: &str, seq: i64, payload: &str) {
        use sqlx::AssertSqlSafe;
        let payload = payload.replace('\'', "''");
        let update = format!(
            "UPDATE case_events SET payload = '{payload}' WHERE case_id = '{case_id}' AND seq = {seq}"
        );
        match &self.cleanup {
            Cleanup::Sqlite(_, store) => {
                let pool = store.backend().writer();
                for sql in ["DROP TRIGGER case_events_no_update".to_owned(), update] {
                    sqlx::query(AssertSqlSafe(sql)).execute(pool).await.unwrap();
                }
            }
            Cleanup::Postgres(_, store) => {
                let mut tx = store.backend().pool().begin().await.unwrap();
                for sql in [
                    "ALTER TABLE case_events DISABLE TRIGGER case_events_append_only".to_owned(),
                    update,
                    "ALTER TABLE case_events ENABLE TRIGGER case_events_append_only".to_owned(),
                ] {
                    sqlx::query(AssertSqlSafe(sql))
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                }
                tx.commit().await.unwrap();
            }
        }
    }

    /// How many rows `table` holds, read past the API.
    pub async fn rows(&self, table: &str) -> i64 {
        use sqlx::AssertSqlSafe;
        let sql = format!("SELECT count(*) FROM {table}");
        match &self.cleanup {
            Cleanup::Sqlite(_, store) => sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_one(store.backend().writer())
                .await
                .unwrap(),
            Cleanup::Postgres(_, store) => sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_one(store.backend().pool())
                .await
                .unwrap(),
        }
    }

    /// The token of principal `name`.
    pub fn token(&self, name: &str) -> &str {
        self.tokens
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("no principal {name}"))
    }

    /// Sends a request as `who` (None: without a token).
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router never fails");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        who: Option<&str>,
    ) -> axum::http::request::Builder {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(who) = who {
            b = b.header(header::AUTHORIZATION, format!("Bearer {}", self.token(who)));
        }
        b
    }

    pub async fn get(&self, path: &str, who: &str) -> Reply {
        self.send(
            self.request(Method::GET, path, Some(who))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Sends `method` with a JSON `body` as `who`.
    pub async fn send_json(&self, method: Method, path: &str, who: &str, body: Value) -> Reply {
        self.send(
            self.request(method, path, Some(who))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path: &str, who: &str, body: Value) -> Reply {
        self.send(
            self.request(Method::POST, path, Some(who))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    /// Dispatches the standard triage investigation as `who`; returns its id.
    pub async fn dispatch(&self, who: &str, prompt: &str) -> String {
        let r = self
            .post(
                "/api/v1/investigations",
                who,
                json!({"agent_id": "triage", "prompt": prompt}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Claims the investigation as a worker and returns the claimed row.
    pub async fn claim(&self, id: &str) -> Investigation {
        let inv = self
            .store
            .claim_next(&[], "test-worker", None, chrono::Duration::seconds(60))
            .await
            .expect("claim")
            .expect("something to claim");
        assert_eq!(inv.id.to_string(), id, "claimed another investigation");
        inv
    }

    /// Claims `id` and parks it on an `isolate_host` approval; returns the approval id.
    pub async fn park_on_approval(&self, id: &str) -> String {
        let inv = self.claim(id).await;
        let approval = self
            .store
            .await_approval(
                inv.id,
                inv.lease_epoch,
                ApprovalDraft {
                    id: ApprovalId::new_at(chrono::Utc::now()),
                    tool_call_id: "call_isolate".into(),
                    action: "isolate_host".into(),
                    arguments: json!({"host": "ws-042"}),
                    rationale: Some("beaconing to a known C2".into()),
                    expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
                    mode: Some("real".into()),
                },
            )
            .await
            .expect("await approval");
        approval.id.to_string()
    }

    /// Claims `id` and ends it with output that failed the schema.
    pub async fn finish_for_review(&self, id: &str, raw: &str) {
        let inv = self.claim(id).await;
        self.store
            .complete(
                inv.id,
                inv.lease_epoch,
                Completion::Invalid {
                    reason: "result does not match the schema".into(),
                    result_raw: Some(raw.to_owned()),
                    errors: vec!["confidence: missing".into()],
                },
            )
            .await
            .expect("complete");
    }

    /// The stored investigation.
    pub async fn stored(&self, id: &str) -> Investigation {
        let id: InvestigationId = id.parse().unwrap();
        self.store.get(id).await.expect("get")
    }

    /// How many investigations exist.
    pub async fn count(&self) -> usize {
        let page = self
            .store
            .list(&vigil_engine::store::ListQuery {
                limit: 500,
                ..Default::default()
            })
            .await
            .expect("list");
        page.items.len()
    }
}

/// A response, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts a problem+json answer with `status` and `code`; returns the body.
    #[track_caller]
    pub fn problem(&self, status: StatusCode, code: &str) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status.as_u16());
        &self.body
    }
}

/// Like `on_both_backends!`, with the app in runtime mode `$mode`.
#[macro_export]
macro_rules! on_both_backends_in {
    ($mode:literal: $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::support::TestApp::new_in($crate::support::Backend::Sqlite, $mode).await;
                    super::$name(&app).await;
                    app.close().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let app = $crate::support::TestApp::new_in($crate::support::Backend::Postgres, $mode).await;
                    super::$name(&app).await;
                    app.close().await;
                }
            }
        )+
    };
}

/// Runs each named test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::support::TestApp::new($crate::support::Backend::Sqlite).await;
                    super::$name(&app).await;
                    app.close().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let app = $crate::support::TestApp::new($crate::support::Backend::Postgres).await;
                    super::$name(&app).await;
                    app.close().await;
                }
            }
        )+
    };
}
