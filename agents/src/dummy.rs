//! `dummy` mode: a built-in scripted model and fixture tools, so the engine
//! runs a realistic investigation offline. Nothing leaves the process.
//!
//! The scripted model is a showcase, not a model: it is deterministic, every
//! turn it records is labelled [`SCRIPTED_MODEL`], and it is never used when
//! a real model is configured. Its script follows a triage: search the SIEM
//! for the address in the prompt, check the address's reputation, ask to
//! isolate the host it logged into if it is malicious and got in, then
//! submit a result that reflects what the approver decided.
//!
//! Fixture tools read bundled data: `siem_search` over a sample of SSH
//! authentication logs, `ip_reputation` over a small list that includes a Tor
//! exit node, and `isolate_host` (write, approval required), which calls no
//! EDR and answers that the isolation was simulated.

use std::net::Ipv4Addr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::catalog::{AgentBudget, AgentConfig};
use crate::model::{ChatModel, ChatRequest, ChatResponse, Message, ModelError, ToolCall};
use crate::tool::{ApprovalPolicy, CallContext, Effect, Tool, ToolError, ToolSpec};

/// The label on every turn the scripted model records.
pub const SCRIPTED_MODEL: &str = "vigil-dummy (scripted showcase, not a model)";

const AUTH_LOGS: &str = include_str!("../fixtures/auth_logs.jsonl");
const REPUTATION: &str = include_str!("../fixtures/ip_reputation.json");

static EVENTS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    AUTH_LOGS
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
});

static REPUTATIONS: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(REPUTATION).unwrap_or_else(|_| json!({})));

/// The dummy-mode triage agent.
pub fn triage_agent() -> AgentConfig {
    AgentConfig {
        id: "triage".to_owned(),
        system_prompt: "You are a SOC analyst triaging an alert. Search the SIEM, check reputations, \
                        contain compromised hosts (an approver must agree), then call submit_result."
            .to_owned(),
        model: None,
        tools: vec!["siem_search".into(), "ip_reputation".into(), "isolate_host".into()],
        budget: AgentBudget::default(),
        output_schema: None,
    }
}

/// The result schema of a case summary: `summary` and the four lists of
/// recommendations the case write-back reads, `confidence` in 0..=1.
pub fn summary_output_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string", "minLength": 1},
            "immediate_actions": {"type": "array", "items": {"type": "string"}},
            "long_term_remediation": {"type": "array", "items": {"type": "string"}},
            "policy_changes": {"type": "array", "items": {"type": "string"}},
            "similar_cases": {"type": "array", "items": {"type": "string"}},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1}
        },
        "required": ["summary", "immediate_actions", "long_term_remediation", "policy_changes", "similar_cases", "confidence"]
    })
}

/// The dummy-mode `summarize` agent: no tools, it reads the case in its
/// prompt and submits the summary.
pub fn summarize_agent() -> AgentConfig {
    AgentConfig {
        id: "summarize".to_owned(),
        system_prompt: "You summarize security cases for analysts and auditors. Read the case \
                        metadata and timeline in the prompt and call submit_result."
            .to_owned(),
        model: None,
        tools: Vec::new(),
        budget: AgentBudget::default(),
        output_schema: Some(summary_output_schema()),
    }
}

/// The fixture tools.
pub fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(SiemSearch::new()),
        Arc::new(IpReputation::new()),
        Arc::new(IsolateHost::new()),
    ]
}

/// Searches the bundled authentication logs.
#[derive(Debug)]
pub struct SiemSearch(ToolSpec);

impl SiemSearch {
    fn new() -> Self {
        Self(ToolSpec {
            name: "siem_search".into(),
            description: "Search authentication logs (SSH) for an IP address, user or host. \
                          Returns counts and the matching events."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "minLength": 1, "description": "IP address, user name or host name"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
            effect: Effect::Read,
            approval: ApprovalPolicy::default(),
        })
    }
}

#[async_trait]
impl Tool for SiemSearch {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    fn is_local(&self) -> bool {
        true
    }

    async fn call(&self, _: &CallContext, arguments: &Value) -> Result<String, ToolError> {
        let query = arguments["query"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        let limit = arguments["limit"].as_u64().unwrap_or(50) as usize;
        let matches: Vec<&Value> = EVENTS
            .iter()
            .filter(|e| {
                e.as_object().is_some_and(|o| {
                    o.values()
                        .any(|v| v.as_str().is_some_and(|s| s.to_lowercase() == query))
                })
            })
            .collect();
        let count = |outcome: &str| matches.iter().filter(|e| e["outcome"] == outcome).count();
        let mut hosts: Vec<&str> = matches.iter().filter_map(|e| e["host"].as_str()).collect();
        hosts.sort_unstable();
        hosts.dedup();
        let successes: Vec<&Value> = matches
            .iter()
            .copied()
            .filter(|e| e["outcome"] == "success")
            .collect();
        Ok(json!({
            "query": query,
            "matches": matches.len(),
            "failures": count("failure"),
            "successes": count("success"),
            "hosts": hosts,
            "successful_logins": successes,
            "events": matches.iter().take(limit).collect::<Vec<_>>(),
        })
        .to_string())
    }
}

/// Looks an address up in the bundled reputation list.
#[derive(Debug)]
pub struct IpReputation(ToolSpec);

impl IpReputation {
    fn new() -> Self {
        Self(ToolSpec {
            name: "ip_reputation".into(),
            description: "Reputation of an IPv4 address: verdict, Tor exit, ASN, abuse reports."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {"ip": {"type": "string", "minLength": 7}},
                "required": ["ip"],
                "additionalProperties": false
            }),
            effect: Effect::Read,
            approval: ApprovalPolicy::default(),
        })
    }
}

#[async_trait]
impl Tool for IpReputation {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    fn is_local(&self) -> bool {
        true
    }

    async fn call(&self, _: &CallContext, arguments: &Value) -> Result<String, ToolError> {
        let ip = arguments["ip"].as_str().unwrap_or_default();
        if ip.parse::<Ipv4Addr>().is_err() {
            return Err(ToolError::Failed(format!("`{ip}` is not an IPv4 address")));
        }
        let mut entry = REPUTATIONS.get(ip).cloned().unwrap_or_else(
            || json!({"verdict": "unknown", "tor_exit": false, "abuse_reports": 0}),
        );
        entry["ip"] = json!(ip);
        Ok(entry.to_string())
    }
}

/// Pretends to isolate a host through an EDR (write, approval required).
#[derive(Debug)]
pub struct IsolateHost(ToolSpec);

impl IsolateHost {
    fn new() -> Self {
        Self(ToolSpec {
            name: "isolate_host".into(),
            description: "Isolate a host from the network through the EDR. Needs an approver."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {"host": {"type": "string", "minLength": 1}},
                "required": ["host"],
                "additionalProperties": false
            }),
            effect: Effect::Write,
            approval: ApprovalPolicy {
                required: true,
                expires_in: Duration::from_secs(15 * 60),
                allow: Vec::new(),
            },
        })
    }
}

#[async_trait]
impl Tool for IsolateHost {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    fn is_local(&self) -> bool {
        true
    }

    async fn call(&self, _: &CallContext, arguments: &Value) -> Result<String, ToolError> {
        let host = arguments["host"].as_str().unwrap_or_default();
        // A fixture, not an EDR: it answers that the isolation was
        // simulated, so nothing downstream reports a host as isolated.
        Ok(json!({
            "host": host,
            "isolated": false,
            "simulated": true,
            "note": "dummy mode: no EDR was called and nothing left the process; the host was not isolated"
        })
        .to_string())
    }

    async fn preview(&self, _: &CallContext, arguments: &Value) -> String {
        format!(
            "would isolate host {} through the EDR",
            arguments["host"].as_str().unwrap_or("?")
        )
    }
}

/// The scripted showcase model.
#[derive(Debug, Default, Clone)]
pub struct ScriptedModel;

/// The first IPv4 address in `text`.
fn first_ip(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|t| t.parse::<Ipv4Addr>().is_ok())
        .map(str::to_owned)
}

/// Tool results so far, by tool name (the last one of each).
fn results(messages: &[Message]) -> (usize, Vec<(String, Value, String)>) {
    let mut names = std::collections::HashMap::new();
    let mut turns = 0;
    let mut out = Vec::new();
    for m in messages {
        match m {
            Message::Assistant { tool_calls, .. } => {
                turns += 1;
                for c in tool_calls {
                    names.insert(c.wire_id().to_owned(), c.name.clone());
                }
            }
            Message::Tool {
                tool_call_id,
                content,
            } => {
                let name = names.get(tool_call_id).cloned().unwrap_or_default();
                let value = serde_json::from_str(content).unwrap_or(Value::Null);
                out.push((name, value, content.clone()));
            }
            Message::System(_) | Message::User(_) => {}
        }
    }
    (turns, out)
}

#[async_trait]
impl ChatModel for ScriptedModel {
    fn provider(&self) -> &'static str {
        "vigil.dummy"
    }

    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let prompt = request
            .messages
            .iter()
            .find_map(|m| match m {
                Message::User(text) => Some(text.as_str()),
                _ => None,
            })
            .unwrap_or_default();
        let (turns, seen) = results(&request.messages);
        if let Some(case) = CasePrompt::read(prompt) {
            let result = case.summary();
            let arguments = result.to_string();
            return Ok(ChatResponse {
                model: SCRIPTED_MODEL.to_owned(),
                output_tokens: arguments.len().div_ceil(4) as i64,
                input_tokens: prompt.len().div_ceil(4) as i64,
                content: Some(format!("Summarizing {}.", case.number)),
                tool_calls: vec![ToolCall {
                    id: format!("dummy_{}", turns + 1),
                    name: "submit_result".to_owned(),
                    arguments,
                    wire_id: None,
                }],
                finish_reason: None,
            });
        }
        let ip = first_ip(prompt);
        let find = |tool: &str| seen.iter().rev().find(|(n, ..)| n == tool);
        let call = |name: &str, args: Value| ToolCall {
            id: format!("dummy_{}", turns + 1),
            name: name.to_owned(),
            arguments: args.to_string(),
            wire_id: None,
        };
        let query = ip.clone().unwrap_or_else(|| "failure".to_owned());
        let (content, tool_call) = match (
            find("siem_search"),
            find("ip_reputation"),
            find("isolate_host"),
        ) {
            (None, ..) => (
                format!("Searching the SIEM for authentication events involving {query}."),
                call("siem_search", json!({"query": query})),
            ),
            (Some(_), None, _) if ip.is_some() => (
                format!("Checking the reputation of {query}."),
                call("ip_reputation", json!({"ip": query})),
            ),
            (Some((_, siem, _)), rep, isolation) => {
                let malicious = rep.is_some_and(|(_, r, _)| r["verdict"] == "malicious");
                let login = siem["successful_logins"]
                    .as_array()
                    .and_then(|l| l.first())
                    .cloned();
                match (malicious, login, isolation) {
                    (true, Some(login), None) => {
                        let host = login["host"].as_str().unwrap_or("unknown").to_owned();
                        (
                            format!(
                                "{query} is a known malicious address and logged in as {} on {host}. \
                                 Isolating {host} needs an approver.",
                                login["user"].as_str().unwrap_or("?")
                            ),
                            call("isolate_host", json!({"host": host})),
                        )
                    }
                    (malicious, login, isolation) => {
                        let result = summary(
                            &query,
                            siem,
                            rep.map(|(_, r, _)| r),
                            malicious,
                            login.as_ref(),
                            isolation.map(|(_, v, t)| (v, t.as_str())),
                        );
                        (
                            "Submitting the result.".to_owned(),
                            call("submit_result", result),
                        )
                    }
                }
            }
        };
        let input_chars: usize = request
            .messages
            .iter()
            .map(|m| match m {
                Message::System(t) | Message::User(t) => t.len(),
                Message::Assistant {
                    content,
                    tool_calls,
                } => {
                    content.as_ref().map_or(0, String::len)
                        + tool_calls.iter().map(|c| c.arguments.len()).sum::<usize>()
                }
                Message::Tool { content, .. } => content.len(),
            })
            .sum();
        Ok(ChatResponse {
            model: SCRIPTED_MODEL.to_owned(),
            output_tokens: (content.len() + tool_call.arguments.len()).div_ceil(4) as i64,
            input_tokens: input_chars.div_ceil(4) as i64,
            content: Some(content),
            tool_calls: vec![tool_call],
            finish_reason: None,
        })
    }
}

fn summary(
    query: &str,
    siem: &Value,
    reputation: Option<&Value>,
    malicious: bool,
    login: Option<&Value>,
    isolation: Option<(&Value, &str)>,
) -> Value {
    let failures = siem["failures"].as_u64().unwrap_or(0);
    let successes = siem["successes"].as_u64().unwrap_or(0);
    let mut findings = vec![format!(
        "{failures} failed and {successes} successful SSH logins involving {query}"
    )];
    if let Some(r) = reputation {
        findings.push(format!(
            "{query}: verdict {}, Tor exit {}, {} abuse reports ({})",
            r["verdict"].as_str().unwrap_or("unknown"),
            r["tor_exit"],
            r["abuse_reports"],
            r["org"].as_str().unwrap_or("unknown org")
        ));
    }
    let host = login.and_then(|l| l["host"].as_str()).unwrap_or("the host");
    let mut next = Vec::new();
    // The result follows the tool's own answer: only an answer that says
    // the host is isolated counts as an isolation.
    match isolation {
        Some((answer, _)) if answer["isolated"] == true => {
            findings.push(format!("{host} was isolated"));
            next.push(format!("Reimage {host} and rotate the credentials used"));
        }
        Some((answer, _)) if answer["simulated"] == true => {
            findings.push(format!(
                "isolation of {host} was simulated (dummy mode): no EDR was called, nothing was changed"
            ));
            next.push(format!(
                "Isolate {host} for real and rotate the credentials used"
            ));
        }
        Some((answer, _)) if answer["dry_run"] == true => {
            findings.push(format!(
                "isolation of {host} was only previewed (dry run): nothing was changed"
            ));
            next.push(format!(
                "Isolate {host} for real and rotate the credentials used"
            ));
        }
        Some((_, text)) => {
            findings.push(format!("isolation of {host} was not carried out: {text}"));
            next.push(format!(
                "Contain {host} by other means and rotate the credentials used"
            ));
        }
        None => {}
    }
    next.push(format!("Block {query} at the edge"));
    let summary = match (malicious, login) {
        (true, Some(l)) => format!(
            "Brute force from {query} succeeded: logged in as {} on {host}.",
            l["user"].as_str().unwrap_or("?")
        ),
        (true, None) => format!("Brute force from {query}; no login succeeded."),
        (false, _) => format!("Activity from {query} does not look malicious."),
    };
    json!({
        "summary": summary,
        "key_findings": findings,
        "recommended_next_steps": next,
        "confidence": if malicious { 0.9 } else { 0.6 },
    })
}

/// A case-summary prompt (`POST /cases/{id}/summarize`), as far as the
/// script reads it: the metadata lines, the timeline's entry kinds and the
/// related cases.
#[derive(Debug, Default)]
struct CasePrompt {
    number: String,
    title: String,
    severity: String,
    status: String,
    disposition: String,
    kinds: Vec<String>,
    related: Vec<String>,
}

impl CasePrompt {
    /// `None` when `prompt` is not a case-summary prompt (no `Number:
    /// CASE-` line).
    fn read(prompt: &str) -> Option<Self> {
        let mut case = CasePrompt::default();
        for line in prompt.lines() {
            let field = |name: &str| line.strip_prefix(name).map(|v| v.trim().to_owned());
            if let Some(v) = field("Number:") {
                case.number = v;
            } else if let Some(v) = field("Title:") {
                case.title = v;
            } else if let Some(v) = field("Severity:") {
                case.severity = v;
            } else if let Some(v) = field("Status:") {
                case.status = v;
            } else if let Some(v) = field("Disposition:") {
                case.disposition = v;
            } else if let Some(rest) = line.strip_prefix("- Related ") {
                if let Some(number) = rest.split_whitespace().next() {
                    case.related.push(number.to_owned());
                }
            } else if let Some(rest) = line.strip_prefix("- #") {
                // `- #<seq> <time> <kind> by <actor>: <payload>`
                if let Some(kind) = rest.split_whitespace().nth(2) {
                    case.kinds.push(kind.to_owned());
                }
            }
        }
        case.number.starts_with("CASE-").then_some(case)
    }

    fn count(&self, kind: &str) -> usize {
        self.kinds.iter().filter(|k| *k == kind).count()
    }

    /// The scripted summary: what the timeline shows, in counts, and the
    /// recommendations that follow from them. It is labelled as scripted
    /// and claims nothing the timeline does not hold.
    fn summary(&self) -> Value {
        let results = self.count("result_written");
        let approvals = self.count("approval_decided");
        let expired = self.count("approval_expired");
        let alerts = self.count("alert_linked");
        let mut summary = format!(
            "[Scripted showcase summary, not a model] {} \"{}\" ({} severity) is {}",
            self.number, self.title, self.severity, self.status
        );
        if self.disposition != "none" && !self.disposition.is_empty() {
            summary.push_str(&format!(" with disposition {}", self.disposition));
        }
        summary.push_str(&format!(
            ". Its timeline holds {} entries: {alerts} alerts linked, {results} investigation \
             results written back, {approvals} approvals decided, {expired} expired, {} status changes.",
            self.kinds.len(),
            self.count("status_change")
        ));
        let mut immediate = Vec::new();
        if results > 0 {
            immediate.push(
                "Carry out the recommended next steps of the investigation results on the timeline"
                    .to_owned(),
            );
        } else {
            immediate.push(
                "Investigate the case: no investigation result is on its timeline".to_owned(),
            );
        }
        if expired > 0 {
            immediate.push("Re-evaluate the actions whose approval expired".to_owned());
        }
        let similar = self.related.clone();
        if !similar.is_empty() {
            immediate.push(format!(
                "Check the related cases {} for the same activity",
                similar.join(", ")
            ));
        }
        json!({
            "summary": summary,
            "immediate_actions": immediate,
            "long_term_remediation": ["Review the detection rules and hardening that would have stopped this earlier"],
            "policy_changes": ["Record the lessons of this case in the incident-response runbook"],
            "similar_cases": similar,
            "confidence": 0.5,
        })
    }
}
