//! The showcase's sample alerts: two detections of one attack that group
//! into one case, whose triage investigation runs on the scripted model.
//!
//! They are ingested through the [`Alerts`] port like any detection, under
//! a grouping rule of their own ([`rule`]) that dispatches the `triage`
//! agent for the case they open, in the ingest's transaction. The scripted
//! triage then searches the SIEM fixture, checks the address's reputation
//! and asks to isolate the host: the case shows `pending_approval` until a
//! second principal decides, and the result is written back when the run
//! completes. The case is labelled like every sample (created by
//! [`PRINCIPAL`], tagged [`TAG`], the [`DISCLAIMER`] first in its
//! description).

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use vigil_engine::case::{CaseNumber, CasePatch, GroupingRule, NewAlert, ObservableType, Severity};
use vigil_engine::store::Alerts;

use super::{CaseStore, DISCLAIMER, PRINCIPAL, TAG};

/// The detection rule of the sample alerts.
pub const RULE: &str = "[Showcase] SSH brute force followed by a login";

/// The source the sample alerts come from.
pub const SOURCE: &str = "showcase-siem";

/// The agent the showcase rule dispatches for the case it opens.
pub const TRIAGE_AGENT: &str = "triage";

/// The grouping rule of the sample alerts: same source address within a
/// day, and a `triage` investigation for the case it opens. It names only
/// [`RULE`], so it never applies to a real detection.
pub fn rule() -> GroupingRule {
    GroupingRule {
        rule: Some(RULE.to_owned()),
        entity_types: vec![ObservableType::Ip],
        window: Duration::hours(24),
        investigate: Some(TRIAGE_AGENT.to_owned()),
    }
}

/// The sample alerts, observed shortly before `now`: failed SSH logins
/// from the fixture's Tor exit node against `web-01`, then the successful
/// login that followed.
pub fn sample_alerts(now: DateTime<Utc>) -> Vec<NewAlert> {
    vec![
        NewAlert {
            source: SOURCE.to_owned(),
            source_id: "showcase-ssh-2001".to_owned(),
            rule: RULE.to_owned(),
            severity: Severity::High,
            title: "[Showcase] 24 failed SSH logins from 185.220.101.4 against web-01".to_owned(),
            observed_at: now - Duration::minutes(40),
            raw: json!({
                "showcase": true,
                "event": "sshd: authentication failure",
                "src_ip": "185.220.101.4",
                "host": "web-01",
                "user": "deploy",
                "failures": 24,
            }),
            entities: Vec::new(),
            traceparent: None,
        },
        NewAlert {
            source: SOURCE.to_owned(),
            source_id: "showcase-ssh-2002".to_owned(),
            rule: RULE.to_owned(),
            severity: Severity::High,
            title: "[Showcase] Successful SSH login as deploy on web-01 from 185.220.101.4"
                .to_owned(),
            observed_at: now - Duration::minutes(31),
            raw: json!({
                "showcase": true,
                "event": "sshd: accepted password",
                "src_ip": "185.220.101.4",
                "host": "web-01",
                "user": "deploy",
            }),
            entities: Vec::new(),
            traceparent: None,
        },
    ]
}

/// Ingests the sample alerts under [`rule`] and labels the case they open
/// as showcase data. Returns that case's number. Safe to call again: a
/// redelivered alert writes nothing, and a case already labelled is left
/// as it is.
pub async fn load_sample_alerts(
    store: &dyn CaseStore,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<CaseNumber>> {
    let rules = [rule()];
    let mut opened = None;
    for alert in sample_alerts(now) {
        let source_id = alert.source_id.clone();
        let ingested = Alerts::ingest_alert(store, PRINCIPAL, alert, &rules)
            .await
            .with_context(|| format!("ingesting showcase alert {source_id}"))?;
        if let Some(case) = ingested.case {
            opened.get_or_insert(case);
        }
    }
    let Some(case) = opened else {
        return Ok(None);
    };
    if case.tags.iter().any(|t| t == TAG) {
        return Ok(Some(case.number));
    }
    let mut tags = case.tags.clone();
    tags.push(TAG.to_owned());
    let patch = CasePatch {
        tags: Some(tags),
        description: Some(format!("{DISCLAIMER}\n\n{}", case.description)),
        ..CasePatch::default()
    };
    store
        .update_case(case.id, PRINCIPAL, patch)
        .await
        .with_context(|| format!("labelling showcase case {}", case.number))?;
    Ok(Some(case.number))
}
