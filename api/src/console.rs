//! The operator console: a few static files compiled into the binary and
//! served at `/`. It uses only the public `/api/v1` API, from the browser,
//! with the token the person signs in with; the server renders nothing of
//! its own and knows nothing of sessions.
//!
//! Page routes (`/`, `/investigations`, `/investigations/{id}`,
//! `/approvals`, `/tokens`) all answer the same `index.html`, so deep links work; the
//! script reads the location. Every answer carries a strict
//! Content-Security-Policy: scripts and styles from this origin only.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// `(path under /console/, content type, body)` of every asset. The scripts
/// are ES modules: `app.js` imports the others by their `/console/` path.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/app.js"),
    ),
    (
        "errors.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/errors.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/dom.js"),
    ),
    (
        "list.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/list.js"),
    ),
    (
        "detail.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/detail.js"),
    ),
    (
        "timeline.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/timeline.js"),
    ),
    (
        "approvals.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/approvals.js"),
    ),
    (
        "tokens.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/tokens.js"),
    ),
    (
        "cases.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/cases.js"),
    ),
    (
        "case.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/case.js"),
    ),
    (
        "case-parts.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/case-parts.js"),
    ),
    (
        "case-edit.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/case-edit.js"),
    ),
    (
        "case-receipts.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/case-receipts.js"),
    ),
    (
        "case-evidence.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/case-evidence.js"),
    ),
    (
        "case-records.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/case-records.js"),
    ),
    (
        "case-timeline.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/case-timeline.js"),
    ),
    (
        "settings.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/settings.js"),
    ),
    (
        "kanban.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/kanban.js"),
    ),
    (
        "palette.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/palette.js"),
    ),
    (
        "graph.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/graph.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../console/app.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../console/icon.svg"),
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
        .route("/approvals", get(index))
        .route("/tokens", get(index))
        .route("/cases", get(index))
        .route("/settings", get(index));
    for (path, content_type, body) in ASSETS {
        let (content_type, body): (&'static str, &'static str) = (content_type, body);
        router = router.route(
            &format!("/console/{path}"),
            get(move || async move { with_headers(body.into_response(), content_type) }),
        );
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `from "./x.js"` in a served script names a served asset, so a
    /// module added to `console/` without an entry here fails this test
    /// rather than the browser.
    #[test]
    fn every_imported_module_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|(path, _, _)| *path).collect();
        for (path, _, body) in ASSETS.iter().filter(|(p, _, _)| p.ends_with(".js")) {
            for pattern in ["from \"./", "import \"./"] {
                for import in body.split(pattern).skip(1) {
                    let name = import.split('"').next().unwrap_or_default();
                    assert!(
                        served.contains(&name),
                        "{path} imports {name}, which is not served"
                    );
                }
            }
            for forbidden in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "eval(",
                "new Function",
            ] {
                assert!(!body.contains(forbidden), "{path} uses {forbidden}");
            }
        }
        for asset in ["app.css", "icon.svg", "app.js"] {
            assert!(
                INDEX.contains(&format!("/console/{asset}")),
                "index.html links {asset}"
            );
        }
    }
}
