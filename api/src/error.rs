//! Every HTTP error, mapped in one place to `application/problem+json`
//! (RFC 9457) with a stable `code`.
//!
//! Each store error variant is mapped once, in `From<store::Error>`, which
//! does not log. Internals never leak: a server-side failure keeps its cause
//! for the log, which is written once where the error is handled (when it
//! becomes a response, or a `problem` message on a stream), and the client
//! sees only Vigil's words and a stable code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_engine::store;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error body (RFC 9457 problem details, plus Vigil's stable `code`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:vigil:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
    /// A stable, machine-readable code (`invalid_body`, `not_found`, ...).
    pub code: String,
    /// The offending request field, for input errors (`prompt`, `budget.max_turns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Further problems of the same request (schema errors of a result).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// For `invalid_transition`: what the record's current state allows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
}

/// An API error: a status, a stable code and a message for people.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    field: Option<Box<str>>,
    errors: Vec<String>,
    allowed: Box<[String]>,
    /// What went wrong inside the server, for the log only.
    cause: Option<Box<str>>,
}

impl ApiError {
    /// An error with `status`, stable `code` and `detail`.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            errors: Vec::new(),
            allowed: Box::default(),
            cause: None,
        }
    }

    /// Keeps `cause` for the log (never sent to the client).
    pub fn with_cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string().into());
        self
    }

    /// Lists what the current state allows (for `invalid_transition`).
    pub fn with_allowed(mut self, allowed: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed = allowed.into_iter().map(Into::into).collect();
        self
    }

    /// Logs a server-side failure once, with its cause; client errors are
    /// not logged. Call where the error is handled.
    pub fn log(&self) {
        if self.status.is_server_error() {
            let cause = self.cause.as_deref().unwrap_or("");
            tracing::error!(code = self.code, status = self.status.as_u16(), %cause, "{}", self.detail);
        }
    }

    /// Names the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into().into());
        self
    }

    /// Attaches the individual problems (schema errors).
    pub fn with_errors(mut self, errors: Vec<String>) -> Self {
        self.errors = errors;
        self
    }

    /// 400 `invalid_body`, naming the field when it is known.
    pub fn invalid_body(field: Option<String>, detail: impl Into<String>) -> Self {
        let e = Self::new(StatusCode::BAD_REQUEST, "invalid_body", detail);
        match field {
            Some(f) => e.with_field(f),
            None => e,
        }
    }

    /// 422 `invalid_input` naming `field`.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", detail).with_field(field)
    }

    /// 400 `invalid_query` naming the query parameter.
    pub fn invalid_query(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", detail).with_field(field)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
    }

    /// 403 `forbidden`: the principal's roles do not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404 `not_found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 503 `database_unavailable`.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            detail,
        )
    }

    /// 500 `internal`; the cause is kept for the log, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle the request; the cause is in its log",
        )
        .with_cause(cause)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The body sent to the client.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:vigil:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            field: self.field.as_deref().map(str::to_owned),
            errors: self.errors.clone(),
            allowed: self.allowed.to_vec(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        use store::Error as E;
        let detail = e.to_string();
        let conflict = |code| ApiError::new(StatusCode::CONFLICT, code, detail.clone());
        match e {
            E::NotFound { .. } => ApiError::not_found(detail),
            E::LeaseLost { .. } => conflict("lease_lost"),
            E::IdempotencyKeyReused { .. } => conflict("idempotency_key_reused"),
            E::ApprovalNotPending { .. } => conflict("approval_already_decided"),
            E::ApprovalExpired { .. } => conflict("approval_expired"),
            E::RolesDiffer { .. } => conflict("principal_roles_differ"),
            E::AlreadyExists { .. } => conflict("already_exists"),
            E::NotDue { .. } => conflict("not_due"),
            E::AlertLinked { .. } => conflict("alert_already_linked"),
            E::IntegrityMismatch { .. } => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "integrity_mismatch",
                detail,
            ),
            E::InvalidTransition { allowed, .. } => {
                conflict("invalid_transition").with_allowed(allowed)
            }
            E::SeparationOfDuties { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "separation_of_duties", detail)
            }
            E::InvalidInput { field, message } => ApiError::invalid(&field, message),
            E::Unavailable(cause) => ApiError::unavailable(
                "the database cannot be reached; the request changed nothing, retry later",
            )
            .with_cause(cause),
            E::Database(cause) => ApiError::internal(cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"vigil\""),
            );
        }
        response
    }
}

/// A handler result.
pub type ApiResult<T> = Result<T, ApiError>;
