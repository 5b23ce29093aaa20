//! The operator console: a few static files compiled into the binary and
//! served at `/`. It uses only the public `/api/v1` API, from the browser,
//! with the token the person signs in with; the server renders nothing of
//! its own and knows nothing of sessions.
//!
//! Page routes (`/`, `/investigations`, `/investigations/{id}`,
//! `/approvals`) all answer the same `index.html`, so deep links work; the
//! script reads the location. Every answer carries a strict
//! Content-Security-Policy: scripts and styles from this origin only.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// `(path under /console/, content type, body)` of every asset.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../console/app.css"),
    ),
];

const INDEX: &str = include_str!("../console/index.html");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn with_headers(mut response: Response, content_type: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn index() -> Response {
    with_headers(INDEX.into_response(), "text/html; charset=utf-8")
}

/// The console's routes, to merge beside the API.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new()
        .route("/", get(index))
        .route("/investigations", get(index))
        .route("/investigations/{id}", get(index))
        .route("/approvals", get(index));
    for (path, content_type, body) in ASSETS {
        let (content_type, body): (&'static str, &'static str) = (content_type, body);
        router = router.route(
            &format!("/console/{path}"),
            get(move || async move { with_headers(body.into_response(), content_type) }),
        );
    }
    router
}
