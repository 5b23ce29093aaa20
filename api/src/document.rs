//! Makes the generated OpenAPI document say what the server does, in the
//! places the handlers' annotations cannot: every error is a
//! `application/problem+json` body; every route that takes a JSON body also
//! answers 413 and 415; and the parts that depend on configuration (the
//! agents one may dispatch to, the prompt limit) are filled in from the
//! running server's state when the document is served.
//!
//! The document is held to the server by an OpenAPI-driven fuzz run
//! (schemathesis, every check) in the test suite.

use serde_json::{Value, json};
use utoipa::openapi::OpenApi;

use crate::error::PROBLEM_JSON;
use crate::state::AppState;

/// Rewrites error responses and adds the body-size and media-type answers.
pub(crate) fn finish(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for op in operations.into_iter().flatten() {
            let takes_json = op
                .request_body
                .as_ref()
                .is_some_and(|b| b.content.contains_key("application/json"));
            if takes_json {
                for (status, why) in [
                    ("413", "The body is larger than the server accepts"),
                    ("415", "The body is not JSON"),
                ] {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| utoipa::openapi::RefOr::T(problem_response(why)));
                }
            }
            for (status, response) in op.responses.responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if let (true, utoipa::openapi::RefOr::T(response)) = (is_error, response)
                    && let Some(content) = response.content.shift_remove("application/json")
                {
                    response.content.insert(PROBLEM_JSON.to_owned(), content);
                }
            }
        }
    }
}

fn problem_response(description: &str) -> utoipa::openapi::Response {
    utoipa::openapi::ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// The document as `state`'s server answers it: the agents it dispatches
/// to and its prompt limit written into the dispatch body's schema.
pub(crate) fn for_state(doc: &OpenApi, state: &AppState) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    let body = &mut doc["components"]["schemas"]["DispatchBody"]["properties"];
    if body.is_object() {
        let agents: Vec<&str> = state.agents.ids().collect();
        body["agent_id"]["enum"] = json!(agents);
        body["prompt"]["maxLength"] = json!(state.limits.prompt_chars);
    }
    doc
}
