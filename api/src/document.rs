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
            if let Some(params) = op.parameters.as_mut() {
                for param in params.iter_mut() {
                    header_rule(param);
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

/// Describes each Server-Sent Events response as what a client reads: a
/// message of `event`, `id` and `data`, whose `data` is JSON of the schema
/// the handler named.
fn sse_messages(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for op in ops.values_mut() {
            // Looked up without indexing: `value[key]` on a missing key
            // would insert it.
            let Some(content) = op.pointer_mut("/responses/200/content/text~1event-stream") else {
                continue;
            };
            let data = content["schema"].take();
            content["schema"] = json!({
                "type": "object",
                "description": "One Server-Sent Events message.",
                "required": ["data"],
                "properties": {
                    "event": {"type": "string", "description": "The message kind."},
                    "id": {"type": "string", "description": "Where a reconnect with Last-Event-ID resumes."},
                    "retry": {"type": "integer", "minimum": 0},
                    "data": {
                        "type": "string",
                        "description": "JSON text of the message's data.",
                        "contentMediaType": "application/json",
                        "contentSchema": data,
                    },
                },
            });
        }
    }
}

/// The headers the server parses, described as it parses them: an
/// optional `Last-Event-ID` is a non-negative integer (never null), an
/// `Idempotency-Key` 1 to 200 visible ASCII characters.
fn header_rule(param: &mut utoipa::openapi::path::Parameter) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    if param.parameter_in != ParameterIn::Header {
        return;
    }
    let schema = match param.name.as_str() {
        "Last-Event-ID" => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(0)),
        "Idempotency-Key" => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(IDEMPOTENCY_KEY_PATTERN)),
        _ => return,
    };
    param.schema = Some(schema.build().into());
    param.required = utoipa::openapi::Required::False;
}

/// What an `Idempotency-Key` header must look like.
pub(crate) const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,200}$";

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
    sse_messages(&mut doc);
    // The approvals stream's Last-Event-ID is a time: at most the end of
    // the year 9999 in microseconds.
    if let Some(params) = doc
        .pointer_mut("/paths/~1api~1v1~1approvals~1stream/get/parameters")
        .and_then(Value::as_array_mut)
    {
        for param in params.iter_mut().filter(|p| p["name"] == "Last-Event-ID") {
            param["schema"]["maximum"] = json!(crate::streams::LATEST_CHANGE_MICROS);
        }
    }
    for schema in ["DispatchBody", "CaseDispatchBody"] {
        let pointer = format!("/components/schemas/{schema}/properties");
        if let Some(body) = doc.pointer_mut(&pointer) {
            let agents: Vec<&str> = state.agents.ids().collect();
            body["agent_id"]["enum"] = json!(agents);
            body["prompt"]["maxLength"] = json!(state.limits.prompt_chars);
        }
    }
    case_list_items(&mut doc);
    doc
}

/// The items of the case bodies' lists, as the API checks them: labels and
/// alert ids that are not blank and of bounded length.
fn case_list_items(doc: &mut Value) {
    use crate::views::cases::NOT_BLANK;
    for (schema, field, max) in [
        ("CreateCaseBody", "tags", 64),
        ("CreateCaseBody", "alert_ids", 200),
        ("PatchCaseBody", "tags", 64),
        ("ObservableBody", "tags", 64),
        ("ObservablePatchBody", "tags", 64),
    ] {
        let pointer = format!("/components/schemas/{schema}/properties/{field}/items");
        if let Some(items) = doc.pointer_mut(&pointer) {
            items["pattern"] = json!(NOT_BLANK);
            items["maxLength"] = json!(max);
        }
    }
}
