//! Vigil as an MCP server: the tools an orchestrator agent needs, over the
//! Model Context Protocol (`rmcp`), as a thin layer over the REST API.
//!
//! Every tool is one REST call (`wait_for_investigation` polls two), made
//! with the caller's own bearer token, so MCP has exactly the REST API's
//! tokens, roles, separation of duties, validation and audit: an
//! orchestrator over MCP can do what it can do over REST, and no more (no
//! tool decides an approval at all). Each tool's input schema is built
//! from the same OpenAPI document ([`crate::openapi`]) the REST routes are
//! described by: the operation's path and query parameters, its
//! `Idempotency-Key` header as `idempotency_key`, and its JSON body's
//! properties, `$ref`s resolved. The two cannot drift.
//!
//! Two transports share [`VigilMcp`]:
//! - streamable HTTP at `/mcp` on the API listener ([`service`]): each
//!   request must carry a valid `Authorization: Bearer` token, checked
//!   before the MCP layer sees it; tool calls run against the API router
//!   in-process ([`RouterRest`]);
//! - stdio (`vigil mcp`): the same handler over stdin/stdout, calling a
//!   Vigil server over HTTP with the token the client was given.
//!
//! A REST refusal (4xx, 5xx) is a tool result with `isError: true` whose
//! content is the problem document, so the model reads why.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    Implementation, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

/// The REST prefix every call goes under.
pub const API_PREFIX: &str = "/api/v1";

/// One REST call an MCP tool makes.
#[derive(Debug, Clone, PartialEq)]
pub struct RestRequest {
    /// The method.
    pub method: Method,
    /// The path under [`API_PREFIX`], segments encoded, with its query.
    pub path: String,
    /// The caller's `Authorization` header, forwarded as is.
    pub authorization: Option<String>,
    /// `Idempotency-Key`, when the tool was given one.
    pub idempotency_key: Option<String>,
    /// The JSON body.
    pub body: Option<Value>,
}

/// A REST call's answer: its status and JSON body (`null` when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct RestReply {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

/// Where the tools' REST calls go: the router in-process, or a Vigil
/// server over HTTP.
#[async_trait]
pub trait Rest: Send + Sync {
    /// Makes `request`. A transport failure is an `Err` with its cause.
    async fn call(&self, request: RestRequest) -> Result<RestReply, String>;
}

/// [`Rest`] over the API router, in-process.
#[derive(Clone)]
pub struct RouterRest(pub Router);

#[async_trait]
impl Rest for RouterRest {
    async fn call(&self, request: RestRequest) -> Result<RestReply, String> {
        let mut builder = Request::builder()
            .method(request.method)
            .uri(format!("{API_PREFIX}{}", request.path));
        if let Some(auth) = &request.authorization {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        if let Some(key) = &request.idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        let body = match &request.body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let built = builder.body(body).map_err(|e| e.to_string())?;
        let response = self
            .0
            .clone()
            .oneshot(built)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(RestReply { status, body })
    }
}

/// How a tool maps onto the REST API.
struct Route {
    name: &'static str,
    description: &'static str,
    method: Method,
    /// The OpenAPI path, under [`API_PREFIX`], with `{param}` segments.
    path: &'static str,
    read_only: bool,
}

/// The tools, each one REST operation.
const ROUTES: &[Route] = &[
    Route {
        name: "dispatch_investigation",
        description: "Dispatch an investigation: an agent, a prompt, optionally the Vigil case it is for (case_id) and a budget. With idempotency_key, a retry returns the first investigation. Returns the investigation (id, status, phase).",
        method: Method::POST,
        path: "/investigations",
        read_only: false,
    },
    Route {
        name: "get_investigation",
        description: "One investigation: status, phase, usage, and its result once it has one.",
        method: Method::GET,
        path: "/investigations/{id}",
        read_only: true,
    },
    Route {
        name: "list_investigations",
        description: "Investigations, newest first, with filters (status, phase, agent_id, requested_by, case_ref, case_id) and keyset paging (cursor).",
        method: Method::GET,
        path: "/investigations",
        read_only: true,
    },
    Route {
        name: "get_timeline",
        description: "An investigation's event log (its timeline) after after_seq: model turns, tool calls and results, approvals, lifecycle events.",
        method: Method::GET,
        path: "/investigations/{id}/events",
        read_only: true,
    },
    Route {
        name: "list_pending_approvals",
        description: "Approval requests (read only: deciding one is a person's act, not an agent's). Filter with status=pending.",
        method: Method::GET,
        path: "/approvals",
        read_only: true,
    },
    Route {
        name: "create_case",
        description: "Open a Vigil case: title, severity, description, tags, alert_ids.",
        method: Method::POST,
        path: "/cases",
        read_only: false,
    },
    Route {
        name: "get_case",
        description: "One case, by id or number (CASE-12): status, severity, assignee, confidence, counts.",
        method: Method::GET,
        path: "/cases/{id}",
        read_only: true,
    },
    Route {
        name: "add_observable",
        description: "Report an observable (ip, domain, url, hash, email, user, host, ...) on a case; a value it holds already counts another sighting.",
        method: Method::POST,
        path: "/cases/{id}/observables",
        read_only: false,
    },
    Route {
        name: "add_comment",
        description: "Add a comment to a case (written as a machine-authored note for an agent).",
        method: Method::POST,
        path: "/cases/{id}/comments",
        read_only: false,
    },
];

/// The name of the tool that waits for an investigation.
const WAIT_TOOL: &str = "wait_for_investigation";

/// How often `wait_for_investigation` reads the event log.
const WAIT_POLL: Duration = Duration::from_millis(300);

/// The longest wait one call may ask for.
const MAX_WAIT_SECS: u64 = 600;

/// Vigil's MCP server handler. `token` is the `Authorization` header to
/// use when the transport carries none (stdio); over HTTP each request's
/// own header is used.
#[derive(Clone)]
pub struct VigilMcp {
    rest: Arc<dyn Rest>,
    token: Option<String>,
}

impl VigilMcp {
    /// A handler making its REST calls through `rest`, with `token` (a
    /// bearer token) when the request carries none.
    pub fn new(rest: Arc<dyn Rest>, token: Option<String>) -> Self {
        Self {
            rest,
            token: token.map(|t| format!("Bearer {t}")),
        }
    }

    fn authorization(&self, ctx: &RequestContext<RoleServer>) -> Option<String> {
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.headers.get(header::AUTHORIZATION))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| self.token.clone())
    }

    async fn rest_call(
        &self,
        route: &Route,
        arguments: Map<String, Value>,
        authorization: Option<String>,
    ) -> Result<RestReply, String> {
        let request = rest_request(route, arguments, authorization)?;
        self.rest.call(request).await
    }

    async fn wait(
        &self,
        arguments: Map<String, Value>,
        ctx: &RequestContext<RoleServer>,
        authorization: Option<String>,
    ) -> Result<CallToolResult, String> {
        let id = arguments
            .get("id")
            .and_then(Value::as_str)
            .ok_or("id: the investigation's id is required")?
            .to_owned();
        let until = arguments
            .get("until")
            .and_then(Value::as_str)
            .unwrap_or("finished")
            .to_owned();
        if !matches!(until.as_str(), "finished" | "awaiting_approval") {
            return Err("until: `finished` or `awaiting_approval`".to_owned());
        }
        let timeout = arguments
            .get("timeout_secs")
            .and_then(Value::as_u64)
            .unwrap_or(60)
            .min(MAX_WAIT_SECS);
        let progress = ctx.meta.get_progress_token();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let path = format!("/investigations/{}", encode(&id));
        let mut after = 0_i64;
        loop {
            let events = self
                .rest
                .call(RestRequest {
                    method: Method::GET,
                    path: format!("{path}/events?after_seq={after}&limit=500"),
                    authorization: authorization.clone(),
                    idempotency_key: None,
                    body: None,
                })
                .await?;
            if events.status >= 300 {
                return Ok(refused(&events));
            }
            for event in events.body["items"].as_array().into_iter().flatten() {
                let seq = event["seq"].as_i64().unwrap_or(after);
                after = after.max(seq);
                if let Some(token) = &progress {
                    let param =
                        ProgressNotificationParam::new(token.clone(), seq as f64).with_message(
                            format!("#{seq} {}", event["kind"].as_str().unwrap_or("event")),
                        );
                    // A client that stopped listening loses a notification,
                    // not the wait.
                    let _ = ctx.peer.notify_progress(param).await;
                }
            }
            let detail = self
                .rest
                .call(RestRequest {
                    method: Method::GET,
                    path: path.clone(),
                    authorization: authorization.clone(),
                    idempotency_key: None,
                    body: None,
                })
                .await?;
            if detail.status >= 300 {
                return Ok(refused(&detail));
            }
            let reached = match until.as_str() {
                "awaiting_approval" => {
                    detail.body["phase"] == "awaiting_approval"
                        || detail.body["status"] != "pending"
                }
                _ => detail.body["status"] != "pending",
            };
            let timed_out = tokio::time::Instant::now() >= deadline;
            if reached || timed_out || ctx.ct.is_cancelled() {
                let answer = json!({"reached": reached, "investigation": detail.body});
                return Ok(structured(answer, false));
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }
}

impl ServerHandler for VigilMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("vigil", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Vigil runs durable SOC investigations. Dispatch one with \
                 dispatch_investigation, follow it with wait_for_investigation (progress \
                 notifications carry its events) and read its result with get_investigation. \
                 Approvals are decided by people in Vigil, never through MCP.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools().to_vec()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        let authorization = self.authorization(&context);
        let name = request.name.as_ref();
        tracing::info!(tool = name, "mcp tool call");
        let answer = if name == WAIT_TOOL {
            self.wait(arguments, &context, authorization).await
        } else {
            let Some(route) = ROUTES.iter().find(|r| r.name == name) else {
                return Err(ErrorData::invalid_params(format!("no tool `{name}`"), None));
            };
            self.rest_call(route, arguments, authorization)
                .await
                .map(|reply| {
                    if reply.status >= 300 {
                        refused(&reply)
                    } else {
                        structured(reply.body, false)
                    }
                })
        };
        Ok(answer
            .unwrap_or_else(|e| structured(json!({"error": e}), true))
            .into())
    }
}

/// A tool result holding `value` as structured content and as text.
fn structured(value: Value, is_error: bool) -> CallToolResult {
    let text = ContentBlock::text(value.to_string());
    let mut result = if is_error {
        CallToolResult::error(vec![text])
    } else {
        CallToolResult::success(vec![text])
    };
    if value.is_object() {
        result.structured_content = Some(value);
    }
    result
}

/// The tool result of a REST refusal: the problem document, as an error.
fn refused(reply: &RestReply) -> CallToolResult {
    let problem = match &reply.body {
        Value::Null => json!({"status": reply.status}),
        body => body.clone(),
    };
    structured(problem, true)
}

/// Percent-encodes one path segment.
fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Splits a tool call's `arguments` into the REST request for `route`: the
/// path parameters into the path, the operation's query parameters into
/// the query, `idempotency_key` into its header, the rest into the body.
fn rest_request(
    route: &Route,
    mut arguments: Map<String, Value>,
    authorization: Option<String>,
) -> Result<RestRequest, String> {
    let op = operation(route).ok_or("the tool's REST operation is not in the OpenAPI document")?;
    let mut path = route.path.to_owned();
    let mut query = Vec::new();
    let mut idempotency_key = None;
    for param in op["parameters"].as_array().into_iter().flatten() {
        let name = param["name"].as_str().unwrap_or_default();
        match param["in"].as_str() {
            Some("path") => {
                let value = arguments
                    .remove(name)
                    .ok_or_else(|| format!("{name}: required"))?;
                let text = scalar(&value);
                path = path.replace(&format!("{{{name}}}"), &encode(&text));
            }
            Some("query") => {
                if let Some(value) = arguments.remove(name).filter(|v| !v.is_null()) {
                    query.push(format!("{name}={}", encode(&scalar(&value))));
                }
            }
            Some("header") if name.eq_ignore_ascii_case("idempotency-key") => {
                idempotency_key = arguments.remove("idempotency_key").map(|v| scalar(&v));
            }
            _ => {}
        }
    }
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let body = op.get("requestBody").map(|_| Value::Object(arguments));
    Ok(RestRequest {
        method: route.method.clone(),
        path,
        authorization,
        idempotency_key,
        body,
    })
}

/// A JSON value as it goes into a path or query: a string as is, anything
/// else as JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The OpenAPI document as JSON.
fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(crate::openapi()).unwrap_or(Value::Null))
}

/// The OpenAPI operation `route` stands for.
fn operation(route: &Route) -> Option<&'static Value> {
    let path = format!("{API_PREFIX}{}", route.path);
    document()["paths"]
        .get(&path)?
        .get(route.method.as_str().to_ascii_lowercase())
}

/// `schema` with every `#/components/schemas/...` reference replaced by
/// the component (at most `depth` levels deep).
fn resolve(schema: &Value, depth: usize) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str)
                && let Some(name) = reference.strip_prefix("#/components/schemas/")
                && depth > 0
            {
                let component = &document()["components"]["schemas"][name];
                return resolve(component, depth - 1);
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), resolve(v, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, depth)).collect()),
        other => other.clone(),
    }
}

/// The input schema of `route`'s tool, from its OpenAPI operation.
fn input_schema(route: &Route) -> Map<String, Value> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    if let Some(op) = operation(route) {
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().unwrap_or_default();
            let mut schema = resolve(&param["schema"], 8);
            if let (Some(description), Value::Object(s)) = (param.get("description"), &mut schema) {
                s.insert("description".to_owned(), description.clone());
            }
            match param["in"].as_str() {
                Some("path") => {
                    required.push(json!(name));
                    properties.insert(name.to_owned(), schema);
                }
                Some("query") => {
                    properties.insert(name.to_owned(), schema);
                }
                Some("header") if name.eq_ignore_ascii_case("idempotency-key") => {
                    properties.insert("idempotency_key".to_owned(), schema);
                }
                _ => {}
            }
        }
        let body = resolve(
            &op["requestBody"]["content"]["application/json"]["schema"],
            8,
        );
        if let Some(props) = body["properties"].as_object() {
            for (k, v) in props {
                properties.insert(k.clone(), v.clone());
            }
        }
        for name in body["required"].as_array().into_iter().flatten() {
            required.push(name.clone());
        }
    }
    let mut schema = Map::new();
    schema.insert("type".to_owned(), json!("object"));
    schema.insert("properties".to_owned(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".to_owned(), Value::Array(required));
    }
    schema
}

/// Every tool, built once.
pub fn tools() -> &'static [Tool] {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let mut tools: Vec<Tool> = ROUTES
            .iter()
            .map(|route| tool(route.name, route.description, input_schema(route), route.read_only))
            .collect();
        let mut wait = input_schema(&ROUTES[1]);
        if let Some(Value::Object(props)) = wait.get_mut("properties") {
            props.insert(
                "until".to_owned(),
                json!({"type": "string", "enum": ["finished", "awaiting_approval"], "default": "finished",
                       "description": "finished: the run left `pending`; awaiting_approval: it parked on an approval (or finished)"}),
            );
            props.insert(
                "timeout_secs".to_owned(),
                json!({"type": "integer", "minimum": 1, "maximum": MAX_WAIT_SECS, "default": 60}),
            );
        }
        tools.push(tool(
            WAIT_TOOL,
            "Wait until an investigation finishes (or parks on an approval, with until=awaiting_approval), at most timeout_secs. Each new event of its log is sent as a progress notification. Returns {reached, investigation}.",
            wait,
            true,
        ));
        tools
    })
}

fn tool(
    name: &'static str,
    description: &'static str,
    schema: Map<String, Value>,
    read_only: bool,
) -> Tool {
    let mut tool = Tool::new(
        Cow::Borrowed(name),
        Cow::Borrowed(description),
        Arc::new(schema),
    );
    tool.annotations = Some(ToolAnnotations::new().read_only(read_only));
    tool
}

/// The streamable-HTTP MCP service at `/mcp`, its tools calling `rest`
/// (the API router). A request without a valid bearer token is refused
/// with the API's 401 before the MCP layer sees it.
pub fn service(rest: Router) -> Router {
    let calls = RouterRest(rest.clone());
    let handler = VigilMcp::new(Arc::new(calls.clone()), None);
    let mcp = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        // Every request is authenticated by its bearer token, so the
        // loopback-only Host check (against DNS rebinding of unauthenticated
        // local servers) is not needed, and would refuse every deployment
        // behind a real host name.
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    );
    Router::new()
        .route_service("/mcp", mcp)
        .layer(axum::middleware::from_fn(
            move |request: Request<Body>, next: axum::middleware::Next| {
                let calls = calls.clone();
                async move { authenticated(calls, request, next).await }
            },
        ))
}

/// Lets `request` through only with a token the API accepts (`GET /me`).
async fn authenticated(
    calls: RouterRest,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let me = calls
        .call(RestRequest {
            method: Method::GET,
            path: "/me".to_owned(),
            authorization,
            idempotency_key: None,
            body: None,
        })
        .await;
    match me {
        Ok(reply) if reply.status == 200 => {
            tracing::debug!(
                principal = reply.body["name"].as_str().unwrap_or("?"),
                "mcp request"
            );
            next.run(request).await
        }
        Ok(reply) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::UNAUTHORIZED);
            let mut response = (status, axum::Json(reply.body)).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
            response
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}
