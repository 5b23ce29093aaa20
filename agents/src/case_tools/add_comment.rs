//! `add_comment`: a machine comment on a case, written by the
//! investigation.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};
use vigil_engine::case::{AuthorKind, CaseAction, CommentId, NewComment};

use super::{CaseToolsStore, actor, case_parameter, preview_of, refusal, refused, target};
use crate::tool::{CallContext, Tool, ToolError, ToolSpec};

pub(super) struct AddComment {
    pub(super) spec: ToolSpec,
    pub(super) store: CaseToolsStore,
}

impl std::fmt::Debug for AddComment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddComment").finish_non_exhaustive()
    }
}

/// The default description and the parameter schema.
pub(super) fn declaration() -> (String, Value) {
    let description = "Add a comment to a case for the analysts: what was found, what was checked, what is still open. Comments are never edited.".to_owned();
    let parameters = json!({
        "type": "object",
        "properties": {
            "case": case_parameter(),
            "body": {"type": "string", "minLength": 1, "maxLength": 20000}
        },
        "required": ["body"],
        "additionalProperties": false
    });
    (description, parameters)
}

fn comment(arguments: &Value) -> NewComment {
    NewComment {
        author_kind: AuthorKind::Machine,
        kind: vigil_engine::case::CommentKind::Note,
        body: arguments
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    }
}

#[async_trait]
impl Tool for AddComment {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, call: &CallContext, arguments: &Value) -> Result<String, ToolError> {
        let store = self.store.get()?;
        let case = target(store, call, arguments).await?;
        let stored = store
            .cases
            .add_comment(case.id, &actor(call), comment(arguments))
            .await
            .map_err(refused)?;
        Ok(json!({"case": case.number.to_string(), "comment_id": stored.id}).to_string())
    }

    async fn preview(&self, call: &CallContext, arguments: &Value) -> String {
        let name = &self.spec.name;
        let decided = async {
            let store = self.store.get()?;
            let case = target(store, call, arguments).await?;
            let action = CaseAction::AddComment {
                id: CommentId::new_at(Utc::now()),
                comment: comment(arguments),
            };
            Ok::<_, ToolError>(preview_of(name, Some(&case), &actor(call), action))
        };
        decided.await.unwrap_or_else(|e| refusal(name, &e))
    }
}
