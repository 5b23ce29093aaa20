//! `add_observable`: reports an indicator on a case, as the investigation
//! (also its `source`). A value the case holds already counts another
//! sighting.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};
use vigil_engine::case::{
    CaseAction, NewObservable, ObservableId, ObservableType, Pap, Tlp, normalize,
};

use super::{CaseToolsStore, actor, case_parameter, preview_of, refusal, refused, target};
use crate::tool::{CallContext, Tool, ToolError, ToolSpec};

pub(super) struct AddObservable {
    pub(super) spec: ToolSpec,
    pub(super) store: CaseToolsStore,
}

impl std::fmt::Debug for AddObservable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddObservable").finish_non_exhaustive()
    }
}

fn names<T: Copy + std::fmt::Display>(all: &[T]) -> Vec<String> {
    all.iter().map(ToString::to_string).collect()
}

/// The default description and the parameter schema.
pub(super) fn declaration() -> (String, Value) {
    let description = "Report an observable (an indicator: IP, domain, URL, hash, e-mail, user, host, file) on a case. Defanged values (1.2.3[.]4, hxxp://) are accepted. A value the case holds already counts another sighting.".to_owned();
    let parameters = json!({
        "type": "object",
        "properties": {
            "case": case_parameter(),
            "type": {"type": "string", "enum": names(ObservableType::ALL)},
            "value": {"type": "string", "minLength": 1, "maxLength": 4096},
            "tlp": {"type": "string", "enum": names(Tlp::ALL), "description": "Sharing marking of a new observable (default amber)"},
            "pap": {"type": "string", "enum": names(Pap::ALL), "description": "Action marking of a new observable (default amber)"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 50},
            "enrichment": {"type": "object", "description": "Context found about the value (reputation, geolocation, ...)"}
        },
        "required": ["type", "value"],
        "additionalProperties": false
    });
    (description, parameters)
}

/// The observable `arguments` report, `by` its source.
fn new_observable(arguments: &Value, by: &str) -> Result<NewObservable, ToolError> {
    let text = |key: &str| arguments.get(key).and_then(Value::as_str);
    let bad = |e: vigil_engine::model::UnknownName| ToolError::Failed(e.to_string());
    Ok(NewObservable {
        kind: text("type").unwrap_or_default().parse().map_err(bad)?,
        value: text("value").unwrap_or_default().to_owned(),
        source: Some(by.to_owned()),
        tlp: text("tlp").map(str::parse).transpose().map_err(bad)?,
        pap: text("pap").map(str::parse).transpose().map_err(bad)?,
        tags: arguments
            .get("tags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        enrichment: arguments.get("enrichment").cloned(),
    })
}

#[async_trait]
impl Tool for AddObservable {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, call: &CallContext, arguments: &Value) -> Result<String, ToolError> {
        let store = self.store.get()?;
        let by = actor(call);
        let observable = new_observable(arguments, &by)?;
        let case = target(store, call, arguments).await?;
        let stored = store
            .cases
            .add_observable(case.id, &by, observable)
            .await
            .map_err(refused)?;
        Ok(json!({
            "case": case.number.to_string(),
            "observable_id": stored.id,
            "type": stored.kind,
            "value": stored.value,
            "sightings": stored.sightings,
            "tlp": stored.tlp,
            "pap": stored.pap,
        })
        .to_string())
    }

    async fn preview(&self, call: &CallContext, arguments: &Value) -> String {
        let name = &self.spec.name;
        let by = actor(call);
        let decided = async {
            let store = self.store.get()?;
            let observable = new_observable(arguments, &by)?;
            let case = target(store, call, arguments).await?;
            let existing = match normalize(observable.kind, &observable.value) {
                Ok(value) => store
                    .reads
                    .observables(case.id)
                    .await
                    .map_err(refused)?
                    .into_iter()
                    .find(|o| o.kind == observable.kind && o.value == value),
                // The transition refuses it, naming the value.
                Err(_) => None,
            };
            let action = CaseAction::AddObservable {
                id: ObservableId::new_at(Utc::now()),
                observable,
                existing,
            };
            Ok::<_, ToolError>(preview_of(name, Some(&case), &by, action))
        };
        decided.await.unwrap_or_else(|e| refusal(name, &e))
    }
}
