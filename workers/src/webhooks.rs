//! Webhook notifications of new approval requests.
//!
//! The [`Notifier`] runs in `vigil serve`. Each pass it adds a pending
//! delivery to every configured target for each pending approval request
//! that has none (the store's outbox), claims due deliveries, POSTs each
//! one, and records the outcome: delivered, retried later with exponential
//! backoff, or failed after the last attempt. Several processes may run it
//! against one database; each delivery is claimed by one of them at a time.
//! A webhook failure never blocks or changes an investigation.
//!
//! Every request is signed: `Vigil-Signature: v1=<hex HMAC-SHA256>` over
//! `<Vigil-Timestamp>.<body>` with the target's secret, so a receiver can
//! check both the sender and the freshness ([`verify_signature`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;
use vigil_engine::approval::{ApprovalRequest, ApprovalStatus};
use vigil_engine::store::{Delivery, DeliveryOutcome, Notifications, Reads};

/// One webhook receiver.
#[derive(Clone)]
pub struct WebhookTarget {
    /// A stable label, recorded with each delivery (the URL is not).
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// The HMAC key.
    pub secret: String,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("name", &self.name)
            .field("url", &"[redacted]")
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// How the notifier works.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The receivers.
    pub targets: Vec<WebhookTarget>,
    /// How often to look for work.
    pub poll: Duration,
    /// How long one POST may take.
    pub timeout: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
    /// The wait after the first failure; doubled after each further one.
    pub backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            poll: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            max_attempts: 8,
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
        }
    }
}

/// What a receiver gets: the JSON body of every notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Always `approval_requested`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request, as stored: the same fields, and the same JSON, as the
    /// request in the API's `GET /approvals/{id}`.
    pub approval: ApprovalRequest,
    /// Its investigation.
    pub investigation: NotifiedInvestigation,
}

/// The investigation part of a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifiedInvestigation {
    /// The investigation's id.
    pub id: uuid::Uuid,
    /// The agent running it.
    pub agent_id: String,
    /// What it was asked to investigate.
    pub prompt: String,
    /// The principal that dispatched it (who may not approve it).
    pub requested_by: String,
    /// The external case id given at dispatch, if any.
    pub case_ref: Option<String>,
}

/// The signature header value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1={}", hex::encode(mac(secret, timestamp, body)))
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Checks a received notification: the signature matches `body` and
/// `timestamp` under `secret` (compared in constant time), and the timestamp
/// is within `tolerance` of `now` (Unix seconds).
pub fn verify_signature(
    secret: &str,
    timestamp: i64,
    body: &[u8],
    signature: &str,
    now: i64,
    tolerance: i64,
) -> bool {
    let Some(presented) = signature
        .strip_prefix("v1=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let expected = mac(secret, timestamp, body);
    let fresh = (now - timestamp).abs() <= tolerance;
    let matches: bool = presented.ct_eq(&expected).into();
    matches && fresh
}

/// Deliveries claimed and attempted per pass, at most.
const PER_PASS: usize = 32;

/// Delivers approval notifications to the configured targets.
pub struct Notifier {
    outbox: Arc<dyn Notifications>,
    reads: Arc<dyn Reads>,
    settings: WebhookSettings,
    client: reqwest::Client,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the webhook HTTP client: {0}")]
pub struct NotifierError(String);

impl Notifier {
    /// A notifier over the store's webhook `outbox`, reading the requests
    /// and investigations it announces through `reads`.
    pub fn new(
        outbox: Arc<dyn Notifications>,
        reads: Arc<dyn Reads>,
        settings: WebhookSettings,
    ) -> Result<Self, NotifierError> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifierError(e.to_string()))?;
        Ok(Self {
            outbox,
            reads,
            settings,
            client,
        })
    }

    /// Runs passes until `shutdown` is cancelled. Database outages are
    /// logged once and waited out.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.settings.targets.is_empty() {
            return;
        }
        let mut failing = false;
        loop {
            match self.pass().await {
                Ok(_) if failing => {
                    tracing::info!("webhook notifier: database reachable again");
                    failing = false;
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "webhook notifier: cannot read the outbox; retrying");
                    failing = true;
                }
                Err(_) => {}
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// One pass: enqueue, then up to 32 times claim one due delivery,
    /// deliver it, record the outcome. A delivery whose approval request is
    /// no longer pending (decided, expired, or past its `expires_at`) is not
    /// sent: it is recorded as failed with a `not sent` reason. Returns the
    /// number of deliveries attempted.
    pub async fn pass(&self) -> Result<usize, vigil_engine::store::Error> {
        let names: Vec<String> = self
            .settings
            .targets
            .iter()
            .map(|t| t.name.clone())
            .collect();
        self.outbox.enqueue_deliveries(&names).await?;
        let hold = chrono::Duration::from_std(self.settings.timeout * 2)
            .unwrap_or(chrono::Duration::seconds(60));
        // One delivery claimed at a time, right before it is posted: a claim
        // holds a delivery for twice the request timeout, which covers one
        // POST, not a batch posted one after another (the tail's hold would
        // run out and another replica would post it again).
        let mut attempted = 0;
        while attempted < PER_PASS {
            let Some(delivery) = self.outbox.claim_deliveries(hold, 1).await?.pop() else {
                break;
            };
            attempted += 1;
            let outcome = self.attempt(&delivery).await;
            if let Err(e) = self
                .outbox
                .record_delivery(delivery.approval_id, &delivery.target, outcome)
                .await
            {
                tracing::warn!(error = %e, approval.id = %delivery.approval_id,
                    webhook.target = %delivery.target, "webhook outcome not recorded; it will be tried again");
            }
        }
        Ok(attempted)
    }

    async fn attempt(&self, delivery: &Delivery) -> DeliveryOutcome {
        let Some(target) = self
            .settings
            .targets
            .iter()
            .find(|t| t.name == delivery.target)
        else {
            return DeliveryOutcome::Failed {
                status: None,
                error: format!("target {} is no longer configured", delivery.target),
            };
        };
        let approval = match self.reads.approval(delivery.approval_id).await {
            Ok(approval) => approval,
            Err(e) => return self.retry_or_fail(delivery, target, None, e.to_string()),
        };
        let now = Utc::now();
        if approval.status != ApprovalStatus::Pending || approval.expires_at <= now {
            let state = if approval.status == ApprovalStatus::Pending {
                "past its expiry"
            } else {
                approval.status.as_str()
            };
            tracing::info!(approval.id = %delivery.approval_id, webhook.target = %target.name,
                approval.status = state, "approval request no longer pending; not announced");
            return DeliveryOutcome::Failed {
                status: None,
                error: format!("not sent: the approval request is {state}"),
            };
        }
        let (status, error) = match self.post(target, &approval).await {
            Ok(status) if (200..300).contains(&status) => {
                tracing::info!(approval.id = %delivery.approval_id, webhook.target = %target.name,
                    http.status = status, "approval request announced");
                return DeliveryOutcome::Delivered { status };
            }
            Ok(status) => (Some(status), format!("the receiver answered HTTP {status}")),
            Err(e) => (None, e),
        };
        self.retry_or_fail(delivery, target, status, error)
    }

    /// After a failed attempt: tried again later with backoff, or given up
    /// after the last attempt.
    fn retry_or_fail(
        &self,
        delivery: &Delivery,
        target: &WebhookTarget,
        status: Option<i32>,
        error: String,
    ) -> DeliveryOutcome {
        let attempts = u32::try_from(delivery.attempts.max(1)).unwrap_or(1);
        if attempts >= self.settings.max_attempts {
            tracing::warn!(approval.id = %delivery.approval_id, webhook.target = %target.name,
                attempts, error = %error, "webhook delivery given up");
            return DeliveryOutcome::Failed { status, error };
        }
        let wait = self
            .settings
            .backoff
            .saturating_mul(1u32 << (attempts - 1).min(20))
            .min(self.settings.max_backoff);
        tracing::debug!(approval.id = %delivery.approval_id, webhook.target = %target.name,
            attempts, error = %error, retry_in_ms = wait.as_millis() as u64, "webhook delivery failed; will retry");
        DeliveryOutcome::Retry {
            at: Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
            status,
            error,
        }
    }

    async fn post(
        &self,
        target: &WebhookTarget,
        approval: &ApprovalRequest,
    ) -> Result<i32, String> {
        let inv = self
            .reads
            .get(approval.investigation_id)
            .await
            .map_err(|e| e.to_string())?;
        // The investigation's trace: a receiver that traces joins it.
        let traceparent = inv.traceparent.clone().unwrap_or_else(|| {
            vigil_agents::trace::format_traceparent(&vigil_agents::trace::investigation_context(
                &inv,
            ))
        });
        let body = serde_json::to_vec(&Notification {
            kind: "approval_requested".into(),
            approval: approval.clone(),
            investigation: NotifiedInvestigation {
                id: inv.id.0,
                agent_id: inv.agent_id,
                prompt: inv.prompt,
                requested_by: inv.requested_by,
                case_ref: inv.case_ref,
            },
        })
        .map_err(|e| e.to_string())?;
        let timestamp = Utc::now().timestamp();
        let response = self
            .client
            .post(&target.url)
            .header("traceparent", traceparent)
            .header("content-type", "application/json")
            .header("vigil-event", "approval_requested")
            .header("vigil-delivery", format!("{}:{}", approval.id, target.name))
            .header("vigil-timestamp", timestamp.to_string())
            .header("vigil-signature", sign(&target.secret, timestamp, &body))
            .body(body)
            .send()
            .await
            // Without the URL: it may carry credentials.
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        Ok(i32::from(response.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_right_secret_body_and_time() {
        let body = br#"{"type":"approval_requested"}"#;
        let sig = sign("s3cret", 1_700_000_000, body);
        assert!(sig.starts_with("v1="));
        assert!(verify_signature(
            "s3cret",
            1_700_000_000,
            body,
            &sig,
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            "other",
            1_700_000_000,
            body,
            &sig,
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            "s3cret",
            1_700_000_001,
            body,
            &sig,
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            "s3cret",
            1_700_000_000,
            b"{}",
            &sig,
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            "s3cret",
            1_700_000_000,
            body,
            &sig,
            1_700_001_000,
            300
        ));
        assert!(!verify_signature(
            "s3cret",
            1_700_000_000,
            body,
            "v1=zz",
            1_700_000_000,
            300
        ));
    }

    #[test]
    fn targets_never_print_their_url_or_secret() {
        let t = WebhookTarget {
            name: "soc".into(),
            url: "https://user:pw@hooks.example/x?token=abc".into(),
            secret: "s3cret".into(),
        };
        let shown = format!("{t:?}");
        assert!(shown.contains("soc"));
        assert!(!shown.contains("pw@") && !shown.contains("abc") && !shown.contains("s3cret"));
    }
}
