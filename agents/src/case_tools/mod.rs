//! Built-in tools that write to Vigil cases, through the store's case
//! ports, as the investigation (`investigation:<id>` on every timeline
//! entry):
//!
//! ```toml
//! [[tools]]
//! kind = "case"
//! name = "create_case"                      # or add_observable, add_comment, link_alert
//! allowed_severities = ["high", "critical"] # create_case only; default: every severity
//! # description = "..."                     # default: the built-in one
//! # approval = { required = true }          # as for any tool
//! ```
//!
//! Every one is a `write` tool: in `dry_run` (and `dummy`) mode the runner
//! asks for its [`Tool::preview`], which reads the case and decides the
//! write with the same pure [`case::transition`] the store runs, so it
//! shows the timeline entries that would be written, or the refusal.
//!
//! What an agent can never do here: close, delete, reopen or reassign a
//! case (there is no such tool), or create one with an assignee, a status
//! or the approval flag (`create_case` takes none of them).
//!
//! A call that names no case writes to the investigation's own case
//! ([`CallContext::case`]). Store refusals (an unknown case, a closed case,
//! a value that does not normalize) become tool errors with the store's
//! message, so the model can correct itself.

mod add_comment;
mod add_observable;
mod create_case;
mod link_alert;

use std::sync::{Arc, OnceLock};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vigil_engine::case::{
    self, Case, CaseAction, CaseCommand, CaseEvent, CaseId, CaseNumber, Severity,
    investigation_actor,
};
use vigil_engine::store::{self, CaseReads, Cases, Store};

use crate::tool::{ApprovalPolicy, CallContext, Effect, Tool, ToolError, ToolSpec};

/// The store ports the case tools use: case writes, and the reads that
/// resolve `CASE-n` and back a preview (an `Arc<dyn Store>` converts).
#[derive(Clone)]
pub struct CasePorts {
    /// Case writes.
    pub cases: Arc<dyn Cases>,
    /// Case reads.
    pub reads: Arc<dyn CaseReads>,
}

impl From<Arc<dyn Store>> for CasePorts {
    fn from(store: Arc<dyn Store>) -> Self {
        Self {
            cases: store.clone(),
            reads: store,
        }
    }
}

/// The store the case tools write through. The agent side is built from
/// configuration before the process opens its store (so `vigil check`
/// needs none), so the tools share this handle and the process binds it
/// once the store is open ([`CaseToolsStore::bind`]). A call made before
/// that is a tool error, and writes nothing.
#[derive(Clone, Default)]
pub struct CaseToolsStore(Arc<OnceLock<CasePorts>>);

impl std::fmt::Debug for CaseToolsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseToolsStore")
            .field("bound", &self.0.get().is_some())
            .finish()
    }
}

impl CaseToolsStore {
    /// Binds the store. The first binding holds: returns `false`, changing
    /// nothing, when one was bound already.
    pub fn bind(&self, ports: impl Into<CasePorts>) -> bool {
        self.0.set(ports.into()).is_ok()
    }

    fn get(&self) -> Result<&CasePorts, ToolError> {
        self.0.get().ok_or_else(|| {
            ToolError::Failed(
                "case tools have no store in this process; nothing was written".into(),
            )
        })
    }
}

/// The built-in case tools, by the name the model calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseToolName {
    /// Opens a case.
    CreateCase,
    /// Reports an observable on a case.
    AddObservable,
    /// Adds a machine comment to a case.
    AddComment,
    /// Links an alert to a case.
    LinkAlert,
}

impl CaseToolName {
    /// The tool's name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseToolName::CreateCase => "create_case",
            CaseToolName::AddObservable => "add_observable",
            CaseToolName::AddComment => "add_comment",
            CaseToolName::LinkAlert => "link_alert",
        }
    }
}

/// A `[[tools]]` entry of kind `case`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseToolConfig {
    /// Which tool.
    pub name: CaseToolName,
    /// What it does, for the model (default: the built-in description).
    #[serde(default)]
    pub description: Option<String>,
    /// `create_case` only: the severities it may create a case with
    /// (default: all). A create with another is a tool error, and writes
    /// nothing.
    #[serde(default)]
    pub allowed_severities: Option<Vec<Severity>>,
    /// When calls need approval.
    #[serde(default)]
    pub approval: ApprovalPolicy,
}

/// Why a case tool declaration cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseToolError {
    /// `allowed_severities` on a tool that creates no case.
    #[error("tool `{0}`: allowed_severities applies to create_case only")]
    SeveritiesNotApplicable(&'static str),
    /// An empty `allowed_severities`: the tool could never create a case.
    #[error("tool `create_case`: allowed_severities is empty, so no case could ever be created")]
    NoSeverities,
}

/// Builds the tool `config` declares, writing through `store`.
pub fn build(
    config: CaseToolConfig,
    store: CaseToolsStore,
) -> Result<Arc<dyn Tool>, CaseToolError> {
    let name = config.name;
    if name != CaseToolName::CreateCase && config.allowed_severities.is_some() {
        return Err(CaseToolError::SeveritiesNotApplicable(name.as_str()));
    }
    let spec = |description: String, parameters: Value| ToolSpec {
        name: name.as_str().to_owned(),
        description: config.description.clone().unwrap_or(description),
        parameters,
        effect: Effect::Write,
        approval: config.approval.clone(),
    };
    Ok(match name {
        CaseToolName::CreateCase => {
            let allowed = config
                .allowed_severities
                .clone()
                .unwrap_or_else(|| Severity::ALL.to_vec());
            if allowed.is_empty() {
                return Err(CaseToolError::NoSeverities);
            }
            let (description, parameters) = create_case::declaration(&allowed);
            Arc::new(create_case::CreateCase {
                spec: spec(description, parameters),
                allowed,
                store,
            })
        }
        CaseToolName::AddObservable => {
            let (description, parameters) = add_observable::declaration();
            Arc::new(add_observable::AddObservable {
                spec: spec(description, parameters),
                store,
            })
        }
        CaseToolName::AddComment => {
            let (description, parameters) = add_comment::declaration();
            Arc::new(add_comment::AddComment {
                spec: spec(description, parameters),
                store,
            })
        }
        CaseToolName::LinkAlert => {
            let (description, parameters) = link_alert::declaration();
            Arc::new(link_alert::LinkAlert {
                spec: spec(description, parameters),
                store,
            })
        }
    })
}

/// The `case` parameter every tool but `create_case` takes.
fn case_parameter() -> Value {
    json!({
        "type": "string",
        "description": "The case, as CASE-<n> or its id. Leave it out to use the case this investigation is linked to."
    })
}

/// The prefix of the alert id that marks the case a `create_case` call
/// created (see `create_case.rs`). No other alert id may start with it.
const CALL_MARKER: &str = "vigil-call:";

/// A store refusal as the model sees it: the store's message (which never
/// carries driver text).
fn refused(e: store::Error) -> ToolError {
    ToolError::Failed(e.to_string())
}

/// The case a call writes to: the one it names (`CASE-n` or an id), else
/// the investigation's own.
async fn target(
    store: &CasePorts,
    call: &CallContext,
    arguments: &Value,
) -> Result<Case, ToolError> {
    let named = arguments
        .get("case")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let overview = match (named, call.case) {
        (Some(raw), _) => {
            if let Ok(id) = raw.parse::<CaseId>() {
                store.reads.case(id).await
            } else if let Ok(number) = raw.parse::<CaseNumber>() {
                store.reads.case_by_number(number).await
            } else {
                return Err(ToolError::Failed(format!(
                    "`{raw}` is not a case: give CASE-<n> or a case id"
                )));
            }
        }
        (None, Some(id)) => store.reads.case(id).await,
        (None, None) => {
            return Err(ToolError::Failed(
                "this investigation is linked to no case: name one in `case` (CASE-<n>, as create_case returns it)"
                    .to_owned(),
            ));
        }
    };
    overview.map(|o| o.case).map_err(refused)
}

/// The actor every write names: the investigation.
fn actor(call: &CallContext) -> String {
    investigation_actor(call.investigation)
}

/// What the store would write for `action` on `current` (`None`: a
/// create), decided by the same pure transition it runs, as a preview: the
/// timeline entries, or the refusal.
fn preview_of(tool: &str, current: Option<&Case>, by: &str, action: CaseAction) -> String {
    let decided = case::transition(
        current,
        CaseCommand {
            by: by.to_owned(),
            action,
        },
        Utc::now(),
    );
    match decided {
        Ok(t) if !t.changes_anything() => match current {
            Some(case) => format!(
                "would write nothing to {}: it already holds this",
                case.number
            ),
            None => "would write nothing".to_owned(),
        },
        Ok(t) => {
            let whom = match current {
                Some(case) => format!("to {}", case.number),
                None => "a new case (the store assigns its id and number)".to_owned(),
            };
            format!("would write {whom} as {by}: {}", entries(&t.entries))
        }
        Err(e) => refusal(tool, &refused(store::Error::from_case_transition(e))),
    }
}

/// The preview of a call that would be refused.
fn refusal(tool: &str, e: &ToolError) -> String {
    format!("would refuse `{tool}`: {e}; nothing would be written")
}

/// Timeline entries as `kind {payload}`, in order.
fn entries(entries: &[CaseEvent]) -> String {
    entries
        .iter()
        .map(|e| {
            let mut payload = e.payload.clone();
            // The store numbers a case when it stores it.
            if let Some(p) = payload.as_object_mut() {
                p.remove("number");
            }
            format!("{} {payload}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}
