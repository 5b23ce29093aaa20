//! Every HTTP error, mapped in one place to `application/problem+json`
//! (RFC 9457) with a stable `code`.
//!
//! Internals never leak: a database failure is logged here, once, and the
//! client sees a generic problem with the same request-independent code.

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
}

/// An API error: a status, a stable code and a message for people.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    field: Option<String>,
    errors: Vec<String>,
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
        }
    }

    /// Names the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
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

    /// 500 `internal`, after logging the cause (which the client never sees).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle the request; the cause is in its log",
        )
    }

    /// Names a generic `conflict` more precisely (handlers know which
    /// conflict their call can raise); other codes, such as
    /// `invalid_transition` or `lease_lost`, are kept.
    pub fn conflict_code(mut self, code: &'static str) -> Self {
        if self.code == "conflict" {
            self.code = code;
        }
        self
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
            field: self.field.clone(),
            errors: self.errors.clone(),
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
        match e {
            E::NotFound { what, id } => ApiError::not_found(format!("{what} {id} not found")),
            E::LeaseLost { .. } => ApiError::new(StatusCode::CONFLICT, "lease_lost", e.to_string()),
            E::Conflict(detail) => ApiError::new(StatusCode::CONFLICT, "conflict", detail),
            E::Forbidden(detail) => {
                ApiError::new(StatusCode::FORBIDDEN, "separation_of_duties", detail)
            }
            E::InvalidInput { field, message } => ApiError::invalid(&field, message),
            E::InvalidTransition(t) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", t.to_string())
            }
            E::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::unavailable(format!("the database cannot be reached: {cause}"))
            }
            E::Database(cause) => ApiError::internal(cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
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
