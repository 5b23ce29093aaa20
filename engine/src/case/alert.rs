//! Alerts: detections delivered by a source (a SIEM, an EDR), stored once
//! per `(source, source_id)` and grouped into cases.
//!
//! Grouping is decided here, without IO: [`grouping`] picks the first
//! [`GroupingRule`] that applies to the alert's rule name and builds the
//! key from the alert's entities; the store links the alert to the open case
//! holding that key whose last alert is within the rule's window, or opens
//! a case for it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{CaseId, CaseNumber, Severity};
use super::observable::{ObservableType, normalize};
use super::uuid_id;

uuid_id! {
    /// Identifies an alert (UUID v7). Its text form is the id a case lists
    /// in `alert_ids`.
    AlertId
}

/// One entity of an alert: a typed, normalized value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AlertEntity {
    /// What the value is.
    #[serde(rename = "type")]
    pub kind: ObservableType,
    /// The value as [`normalize`] gives it.
    pub value: String,
}

/// A stored alert. `(source, source_id)` is unique: a redelivery of the
/// same detection returns this record and writes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable identity.
    pub id: AlertId,
    /// The system that raised it (`splunk`, `crowdstrike`).
    pub source: String,
    /// The source's own id of the detection.
    pub source_id: String,
    /// The detection rule's name.
    pub rule: String,
    /// How severe the source says it is.
    pub severity: Severity,
    /// One line for people.
    pub title: String,
    /// When the source saw it.
    pub observed_at: DateTime<Utc>,
    /// The source's event as delivered.
    pub raw: Value,
    /// Explicit entities first, then those extracted from `raw` and the
    /// title, each once.
    pub entities: Vec<AlertEntity>,
    /// The key it was grouped under; `None` when no rule applied.
    pub grouping_key: Option<String>,
    /// The case it is linked to, if any.
    pub case_id: Option<CaseId>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// An alert as delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// The system that raised it; required.
    pub source: String,
    /// The source's id of the detection; required.
    pub source_id: String,
    /// The detection rule's name; required.
    pub rule: String,
    /// How severe.
    pub severity: Severity,
    /// One line; the rule name when empty.
    pub title: String,
    /// When the source saw it.
    pub observed_at: DateTime<Utc>,
    /// The source's event (any JSON).
    pub raw: Value,
    /// Entities the source names explicitly (not yet normalized).
    pub entities: Vec<AlertEntity>,
    /// The W3C trace context (a `traceparent` value) of the ingest: a
    /// triage run a grouping rule dispatches for it is stored with it
    /// ([`crate::Investigation::traceparent`]). Not stored on the alert.
    pub traceparent: Option<String>,
}

/// Why a delivered alert is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AlertError {
    /// The offending field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The longest `source`, `source_id` and `rule`, in characters.
pub const MAX_ALERT_NAME: usize = 200;
/// The longest title, in characters.
pub const MAX_ALERT_TITLE: usize = 500;

impl NewAlert {
    /// Checks and normalizes the alert into the record stored under `id`
    /// at `now`: names trimmed and required, explicit entities normalized
    /// (an invalid one is refused), then the entities [`super::extract_entities`]
    /// finds in `raw` and the title appended, each once; the grouping key
    /// from `rules` ([`grouping`]).
    pub fn into_alert(
        self,
        id: AlertId,
        rules: &[GroupingRule],
        now: DateTime<Utc>,
    ) -> Result<Alert, AlertError> {
        let fail = |field: &str, message: &str| AlertError {
            field: field.to_owned(),
            message: message.to_owned(),
        };
        let name = |field: &str, v: &str| {
            let v = v.trim();
            if v.is_empty() {
                return Err(fail(field, "must not be empty"));
            }
            if v.chars().count() > MAX_ALERT_NAME || v.chars().any(char::is_control) {
                return Err(fail(
                    field,
                    "must be at most 200 characters, without control characters",
                ));
            }
            Ok(v.to_owned())
        };
        let source = name("source", &self.source)?;
        let source_id = name("source_id", &self.source_id)?;
        let rule = name("rule", &self.rule)?;
        let title = match self.title.trim() {
            "" => rule.clone(),
            t => t.to_owned(),
        };
        if title.chars().count() > MAX_ALERT_TITLE {
            return Err(fail("title", "must be at most 500 characters"));
        }
        let mut entities: Vec<AlertEntity> = Vec::new();
        for (i, e) in self.entities.into_iter().enumerate() {
            let value = normalize(e.kind, &e.value)
                .map_err(|err| fail(&format!("entities[{i}].value"), &err.message))?;
            push_once(&mut entities, e.kind, value);
        }
        for (kind, value) in super::extract_entities(&self.raw)
            .into_iter()
            .chain(super::extract_observables(&title))
        {
            push_once(&mut entities, kind, value);
        }
        let grouping_key = grouping(rules, &rule, &entities).map(|g| g.key);
        Ok(Alert {
            id,
            source,
            source_id,
            rule,
            severity: self.severity,
            title,
            observed_at: self.observed_at,
            raw: self.raw,
            entities,
            grouping_key,
            case_id: None,
            created_at: now,
        })
    }
}

fn push_once(entities: &mut Vec<AlertEntity>, kind: ObservableType, value: String) {
    let e = AlertEntity { kind, value };
    if !entities.contains(&e) {
        entities.push(e);
    }
}

/// One grouping rule (`[[grouping_rules]]`): alerts of `rule` (any rule
/// when `None`) that share an entity of the first of `entity_types` they
/// carry, within `window` of the case's last alert, go to one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupingRule {
    /// The detection rule it applies to; `None`: every rule.
    pub rule: Option<String>,
    /// The entity types that key a group, in order of preference.
    pub entity_types: Vec<ObservableType>,
    /// How long after a case's last alert another still joins it.
    pub window: Duration,
    /// The agent to dispatch for every case this rule opens (a triage
    /// investigation linked to the case, in the same transaction).
    pub investigate: Option<String>,
}

impl GroupingRule {
    /// The rule used when none is configured: same detection rule and the
    /// same source address, else host, else user, within 24 hours.
    pub fn default_rule() -> Self {
        Self {
            rule: None,
            entity_types: vec![
                ObservableType::Ip,
                ObservableType::Host,
                ObservableType::User,
            ],
            window: Duration::hours(24),
            investigate: None,
        }
    }
}

/// A grouping decision: the key and the window it holds for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// `rule|type=value`: the detection rule, and the entity that keys it.
    pub key: String,
    /// How long after the case's last alert another still joins it.
    pub window: Duration,
    /// The agent to dispatch for a case it opens.
    pub investigate: Option<String>,
}

/// Decides how an alert of `rule` with `entities` groups under `rules`
/// ([`GroupingRule::default_rule`] when `rules` is empty): the first rule
/// naming `rule` (or naming none) applies; the key is the detection rule
/// and the alert's first entity, in entity order, of the first of the
/// rule's types the alert carries. `None` when no rule applies or the alert
/// carries none of its types: the alert stays ungrouped.
pub fn grouping(rules: &[GroupingRule], rule: &str, entities: &[AlertEntity]) -> Option<Grouping> {
    let default = [GroupingRule::default_rule()];
    let rules = if rules.is_empty() {
        &default[..]
    } else {
        rules
    };
    let applies = rules
        .iter()
        .find(|r| r.rule.as_deref().is_none_or(|name| name == rule))?;
    applies.entity_types.iter().find_map(|kind| {
        entities.iter().find(|e| e.kind == *kind).map(|e| Grouping {
            key: format!("{rule}|{kind}={}", e.value),
            window: applies.window,
            investigate: applies.investigate.clone(),
        })
    })
}

/// The window of the rule that keys `alert`'s group under `rules`.
pub fn grouping_window(rules: &[GroupingRule], alert: &Alert) -> Duration {
    grouping(rules, &alert.rule, &alert.entities)
        .map(|g| g.window)
        .unwrap_or_else(|| GroupingRule::default_rule().window)
}

/// The prompt of the investigation a grouping rule's `investigate`
/// dispatches for the case `alert` opened: the alert's title first (the
/// agent's first read), then its rule, source, severity, time, entities
/// and raw event (cut to 4,000 characters).
pub fn triage_prompt(alert: &Alert, case: CaseNumber) -> String {
    let entities: Vec<String> = alert
        .entities
        .iter()
        .map(|e| format!("{} {}", e.kind, e.value))
        .collect();
    let raw = alert.raw.to_string();
    let raw: String = if raw.chars().count() > 4_000 {
        let kept: String = raw.chars().take(3_997).collect();
        format!("{kept}...")
    } else {
        raw
    };
    format!(
        "Triage alert: {}\nCase: {case}\nRule: {}\nSource: {} ({})\nSeverity: {}\nObserved: {}\nEntities: {}\nRaw event: {raw}",
        alert.title,
        alert.rule,
        alert.source,
        alert.source_id,
        alert.severity,
        alert.observed_at.format("%Y-%m-%dT%H:%M:%SZ"),
        if entities.is_empty() {
            "none".to_owned()
        } else {
            entities.join(", ")
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity(kind: ObservableType, value: &str) -> AlertEntity {
        AlertEntity {
            kind,
            value: value.to_owned(),
        }
    }

    fn new_alert(raw: Value) -> NewAlert {
        NewAlert {
            source: " splunk ".to_owned(),
            source_id: "d-1".to_owned(),
            rule: "SSH brute force".to_owned(),
            severity: Severity::High,
            title: String::new(),
            observed_at: DateTime::UNIX_EPOCH,
            raw,
            entities: vec![entity(ObservableType::Ip, "185.220.101[.]4")],
            traceparent: None,
        }
    }

    #[test]
    fn default_rule_keys_on_rule_and_source_address_then_host_then_user() {
        let ip = entity(ObservableType::Ip, "10.0.0.5");
        let host = entity(ObservableType::Host, "ws-1");
        let user = entity(ObservableType::User, "alice");
        let key = |es: &[AlertEntity]| grouping(&[], "r", es).map(|g| g.key);
        assert_eq!(
            key(&[user.clone(), host.clone(), ip]),
            Some("r|ip=10.0.0.5".to_owned())
        );
        assert_eq!(key(&[user.clone(), host]), Some("r|host=ws-1".to_owned()));
        assert_eq!(key(&[user]), Some("r|user=alice".to_owned()));
        assert_eq!(key(&[entity(ObservableType::Domain, "a.example")]), None);
        assert_eq!(
            grouping(&[], "r", &[entity(ObservableType::User, "bob")]).map(|g| g.window),
            Some(Duration::hours(24))
        );
    }

    #[test]
    fn first_rule_naming_the_detection_or_none_applies() {
        let rules = [
            GroupingRule {
                rule: Some("phish".to_owned()),
                entity_types: vec![ObservableType::Email],
                window: Duration::hours(1),
                investigate: None,
            },
            GroupingRule {
                rule: None,
                entity_types: vec![ObservableType::Host],
                window: Duration::hours(2),
                investigate: Some("triage".to_owned()),
            },
        ];
        let es = [
            entity(ObservableType::Email, "a@b.example"),
            entity(ObservableType::Host, "ws-1"),
        ];
        assert_eq!(
            grouping(&rules, "phish", &es),
            Some(Grouping {
                key: "phish|email=a@b.example".to_owned(),
                window: Duration::hours(1),
                investigate: None,
            })
        );
        assert_eq!(
            grouping(&rules, "other", &es),
            Some(Grouping {
                key: "other|host=ws-1".to_owned(),
                window: Duration::hours(2),
                investigate: Some("triage".to_owned()),
            })
        );
        let only_phish = &rules[..1];
        assert_eq!(grouping(only_phish, "other", &es), None);
    }

    #[test]
    fn into_alert_normalizes_extracts_and_keys() {
        let raw = json!({"user": "Alice", "msg": "beacon to hxxp://evil[.]example/x"});
        let now = DateTime::UNIX_EPOCH + Duration::seconds(5);
        let alert = new_alert(raw)
            .into_alert(AlertId::new_at(now), &[], now)
            .unwrap();
        assert_eq!(alert.source, "splunk");
        assert_eq!(alert.title, "SSH brute force");
        assert_eq!(
            alert.entities,
            vec![
                entity(ObservableType::Ip, "185.220.101.4"),
                // Object fields are walked in key order: `msg`, then `user`.
                entity(ObservableType::Url, "http://evil.example/x"),
                entity(ObservableType::User, "alice"),
            ]
        );
        assert_eq!(
            alert.grouping_key.as_deref(),
            Some("SSH brute force|ip=185.220.101.4")
        );
        assert_eq!(alert.case_id, None);
    }

    #[test]
    fn into_alert_refuses_empty_names_and_invalid_entities() {
        let now = DateTime::UNIX_EPOCH;
        let mut a = new_alert(json!({}));
        a.source_id = "  ".to_owned();
        let err = a.into_alert(AlertId::new_at(now), &[], now).unwrap_err();
        assert_eq!(err.field, "source_id");
        let mut a = new_alert(json!({}));
        a.entities = vec![entity(ObservableType::Ip, "not-an-ip")];
        let err = a.into_alert(AlertId::new_at(now), &[], now).unwrap_err();
        assert_eq!(err.field, "entities[0].value");
    }
}
