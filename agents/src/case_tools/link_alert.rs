//! `link_alert`: links an alert to a case. An alert belongs to at most one
//! case; linking it twice to the same case changes nothing.

use async_trait::async_trait;
use serde_json::{Value, json};
use vigil_engine::case::CaseAction;

use super::{
    CALL_MARKER, CaseToolsStore, actor, case_parameter, preview_of, refusal, refused, target,
};
use crate::tool::{CallContext, Tool, ToolError, ToolSpec};

pub(super) struct LinkAlert {
    pub(super) spec: ToolSpec,
    pub(super) store: CaseToolsStore,
}

impl std::fmt::Debug for LinkAlert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkAlert").finish_non_exhaustive()
    }
}

/// The default description and the parameter schema.
pub(super) fn declaration() -> (String, Value) {
    let description = "Link an alert to a case. An alert belongs to at most one case.".to_owned();
    let parameters = json!({
        "type": "object",
        "properties": {
            "case": case_parameter(),
            "alert_id": {"type": "string", "minLength": 1, "maxLength": 200}
        },
        "required": ["alert_id"],
        "additionalProperties": false
    });
    (description, parameters)
}

fn alert_id(arguments: &Value) -> Result<String, ToolError> {
    let id = arguments
        .get("alert_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if id.trim().starts_with(CALL_MARKER) {
        return Err(ToolError::Failed(format!(
            "alert id `{id}` is reserved (`{CALL_MARKER}` marks the case a tool call created)"
        )));
    }
    Ok(id.to_owned())
}

#[async_trait]
impl Tool for LinkAlert {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, call: &CallContext, arguments: &Value) -> Result<String, ToolError> {
        let store = self.store.get()?;
        let alert = alert_id(arguments)?;
        let case = target(store, call, arguments).await?;
        let linked = store
            .cases
            .link_alert(case.id, &actor(call), &alert)
            .await
            .map_err(refused)?;
        Ok(json!({"case": linked.number.to_string(), "alert_ids": linked.alert_ids}).to_string())
    }

    async fn preview(&self, call: &CallContext, arguments: &Value) -> String {
        let name = &self.spec.name;
        let decided = async {
            let store = self.store.get()?;
            let alert = alert_id(arguments)?;
            let case = target(store, call, arguments).await?;
            // Whether another case holds the alert is the store's to say,
            // when it writes.
            let action = CaseAction::LinkAlert {
                alert_id: alert,
                owner: None,
            };
            Ok::<_, ToolError>(preview_of(name, Some(&case), &actor(call), action))
        };
        decided.await.unwrap_or_else(|e| refusal(name, &e))
    }
}
