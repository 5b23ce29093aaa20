//! `create_case`: opens a case as the investigation.
//!
//! A call run again (a retry of the same tool call) must not open a second
//! case. The create links, besides the model's alerts, one marker alert id
//! made from the call's idempotency key (`vigil-call:<investigation>:<call
//! id>`). An alert belongs to at most one case, by the store's unique key,
//! so the second create of one call is refused with `AlertLinked` naming
//! the first call's case, and the tool answers with that case instead.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};
use vigil_engine::case::{Case, CaseAction, CaseId, CaseNumber, NewCase, Severity, sha256_hex};
use vigil_engine::store;

use super::{CALL_MARKER, CaseToolsStore, actor, preview_of, refusal, refused};
use crate::tool::{CallContext, Tool, ToolError, ToolSpec};

/// Alert ids one create may link, the marker aside (the store's limit
/// on names is 200 characters each).
const MAX_ALERTS: usize = 50;

pub(super) struct CreateCase {
    pub(super) spec: ToolSpec,
    pub(super) allowed: Vec<Severity>,
    pub(super) store: CaseToolsStore,
}

impl std::fmt::Debug for CreateCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCase")
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

/// The default description and the parameter schema.
pub(super) fn declaration(allowed: &[Severity]) -> (String, Value) {
    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    let description = format!(
        "Open a new case for what this investigation found. Severities allowed: {}. Returns the case number (CASE-<n>) to use with the other case tools.",
        names.join(", ")
    );
    let all: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    let parameters = json!({
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": Case::MAX_TITLE},
            "severity": {"type": "string", "enum": all},
            "description": {"type": "string", "maxLength": 20000},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 50},
            "alert_ids": {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": MAX_ALERTS}
        },
        "required": ["title", "severity"],
        "additionalProperties": false
    });
    (description, parameters)
}

/// The marker alert id of `call`: its idempotency key, hashed when the
/// key would not fit in an alert id.
fn marker(call: &CallContext) -> String {
    let key = call.idempotency_key();
    let readable = format!("{CALL_MARKER}{key}");
    if readable.chars().count() <= 200 {
        readable
    } else {
        format!("{CALL_MARKER}{}", sha256_hex(key.as_bytes()))
    }
}

impl CreateCase {
    /// The case `arguments` ask for, or why the tool refuses it.
    fn new_case(&self, call: &CallContext, arguments: &Value) -> Result<NewCase, ToolError> {
        let text = |key: &str| {
            arguments
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let list = |key: &str| -> Vec<String> {
            arguments
                .get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let severity: Severity = text("severity")
            .unwrap_or_default()
            .parse()
            .map_err(|e| ToolError::Failed(format!("{e}")))?;
        if !self.allowed.contains(&severity) {
            let allowed: Vec<&str> = self.allowed.iter().map(|s| s.as_str()).collect();
            return Err(ToolError::Failed(format!(
                "severity `{severity}` is not allowed for create_case; allowed: {}",
                allowed.join(", ")
            )));
        }
        let alerts = list("alert_ids");
        if let Some(bad) = alerts.iter().find(|a| a.trim().starts_with(CALL_MARKER)) {
            return Err(ToolError::Failed(format!(
                "alert id `{bad}` is reserved (`{CALL_MARKER}` marks the case a tool call created)"
            )));
        }
        let mut alert_ids = vec![marker(call)];
        alert_ids.extend(alerts);
        Ok(NewCase {
            title: text("title").unwrap_or_default(),
            severity,
            description: text("description").unwrap_or_default(),
            // An agent never assigns a case or asks for the approval flag.
            assignee: None,
            requires_human_approval: false,
            confidence: None,
            confidence_reason: None,
            tags: list("tags"),
            alert_ids,
        })
    }
}

/// The answer the model gets about `case`.
fn answer(case: &Case, created: bool) -> String {
    let mut out = json!({
        "case": case.number.to_string(),
        "id": case.id,
        "title": case.title,
        "severity": case.severity,
        "status": case.status,
        "created": created,
    });
    if !created {
        out["note"] = json!("this tool call had already created the case; nothing new was written");
    }
    out.to_string()
}

#[async_trait]
impl Tool for CreateCase {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, call: &CallContext, arguments: &Value) -> Result<String, ToolError> {
        let store = self.store.get()?;
        let new = self.new_case(call, arguments)?;
        let marker = new.alert_ids[0].clone();
        let by = actor(call);
        // Two tries: a concurrent create of the same call that commits
        // first makes the loser's link hit the unique key (`AlreadyExists`);
        // the second try then sees the winner's case.
        for _ in 0..2 {
            match store.cases.create_case(&by, new.clone()).await {
                Ok(case) => return Ok(answer(&case, true)),
                Err(store::Error::AlertLinked { alert_id, case_id }) if alert_id == marker => {
                    let existing = store.reads.case(case_id).await.map_err(refused)?;
                    return Ok(answer(&existing.case, false));
                }
                Err(store::Error::AlreadyExists { what: "alert link" }) => continue,
                Err(e) => return Err(refused(e)),
            }
        }
        Err(ToolError::Failed(
            "the case could not be created: a concurrent write took one of its alerts".to_owned(),
        ))
    }

    async fn preview(&self, call: &CallContext, arguments: &Value) -> String {
        let new = match self.new_case(call, arguments) {
            Ok(new) => new,
            Err(e) => return refusal(&self.spec.name, &e),
        };
        let action = CaseAction::Create {
            id: CaseId::new_at(Utc::now()),
            number: CaseNumber(1),
            case: new,
            // Whether an alert belongs to another case is the store's to
            // say, when it writes.
            alert_owners: Default::default(),
        };
        preview_of(&self.spec.name, None, &actor(call), action)
    }
}
