//! The sample cases, as the commands that write them.
//!
//! Each sample is a [`NewCase`] and the steps applied to it in order, so
//! its timeline reads like the case was worked: observables reported,
//! triage, evidence handed over and reviewed, tasks moved, status changes
//! with their reasons. Addresses and names come from the documentation
//! ranges (`203.0.113.0/24`, `198.51.100.0/24`, `.example`) or from the
//! dummy mode's fixture data (the Tor exit `185.220.101.4` attacking
//! `web-01`); people are `showcase-*` principals, so no sample lands in a
//! real analyst's queue.
//!
//! What the samples say happened outside Vigil (a host cut off, a message
//! purged) is worded as a sample analyst's statement; nothing says Vigil
//! isolated, blocked or approved anything.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use vigil_engine::case::{
    AuthorKind, CaseStatus, CustodyAction, Disposition, EvidenceKind, NewCase, NewComment,
    NewCustody, NewEvidence, NewObservable, NewTask, ObservableType, Pap, Severity, StatusChange,
    TaskPriority, TaskStatus, Tlp, sha256_hex,
};

use super::{CLAIM_ALERT, DISCLAIMER, PRINCIPAL, TAG};

/// One sample: the case as created, then its steps.
pub(super) struct Sample {
    /// The create (with its alerts).
    pub case: NewCase,
    /// What is done to it, in order.
    pub steps: Vec<Step>,
}

/// One command on a sample case.
pub(super) enum Step {
    /// A status change.
    Status(StatusChange),
    /// An observable reported.
    Observable(NewObservable),
    /// An evidence item registered (numbered from 0 in the sample).
    Evidence(NewEvidence),
    /// A custody record on the sample's evidence item with this number.
    Custody(usize, NewCustody),
    /// A comment.
    Comment(NewComment),
    /// A task created (numbered from 0 in the sample).
    Task(NewTask),
    /// The sample's task with this number moved.
    TaskStatus(usize, TaskStatus),
}

const ALICE: &str = "showcase-alice";
const BOB: &str = "showcase-bob";

/// The samples, in load order. The first holds [`CLAIM_ALERT`].
pub(super) fn all(now: DateTime<Utc>) -> Vec<Sample> {
    vec![
        brute_force(now),
        phishing(),
        impossible_travel(),
        port_scan(),
        unsigned_driver(now),
    ]
}

fn new_case(title: &str, severity: Severity, story: &str) -> NewCase {
    NewCase {
        title: format!("[Showcase] {title}"),
        severity,
        description: format!("{DISCLAIMER}\n\n{story}"),
        tags: vec![TAG.to_owned()],
        ..NewCase::default()
    }
}

fn tags(extra: &[&str]) -> Vec<String> {
    std::iter::once(TAG)
        .chain(extra.iter().copied())
        .map(str::to_owned)
        .collect()
}

fn observable(kind: ObservableType, value: &str, source: &str, enrichment: Value) -> Step {
    Step::Observable(NewObservable {
        kind,
        value: value.to_owned(),
        source: Some(source.to_owned()),
        tlp: Some(Tlp::Amber),
        pap: Some(Pap::Amber),
        tags: Vec::new(),
        enrichment: Some(enrichment),
    })
}

fn status(to: CaseStatus, disposition: Option<Disposition>, reason: &str) -> Step {
    Step::Status(StatusChange {
        to,
        disposition,
        reason: Some(reason.to_owned()),
    })
}

fn analyst(body: &str) -> Step {
    Step::Comment(NewComment {
        author_kind: AuthorKind::Analyst,
        kind: vigil_engine::case::CommentKind::Note,
        body: format!("Sample analyst note (showcase): {body}"),
    })
}

fn machine(body: &str) -> Step {
    Step::Comment(NewComment {
        author_kind: AuthorKind::Machine,
        kind: vigil_engine::case::CommentKind::Note,
        body: format!("Sample machine note (showcase, written by the loader, not a model): {body}"),
    })
}

fn task(title: &str, description: &str, priority: TaskPriority, assignee: Option<&str>) -> Step {
    Step::Task(NewTask {
        title: title.to_owned(),
        description: description.to_owned(),
        priority: Some(priority),
        assignee: assignee.map(str::to_owned),
        due_at: None,
    })
}

fn custody(action: CustodyAction, to: Option<&str>, note: &str) -> NewCustody {
    NewCustody {
        action,
        from: (action == CustodyAction::Transferred).then(|| PRINCIPAL.to_owned()),
        to: to.map(str::to_owned),
        note: Some(note.to_owned()),
    }
}

/// The fixture reputation of an address, as dummy mode's `ip_reputation`
/// answers it, marked as such.
fn reputation(verdict: &str, org: &str, asn: &str, abuse_reports: u32, tor_exit: bool) -> Value {
    json!({
        "reputation": {
            "verdict": verdict,
            "org": org,
            "asn": asn,
            "abuse_reports": abuse_reports,
            "tor_exit": tor_exit,
            "source": "Vigil's bundled fixture list (showcase)",
        }
    })
}

/// The sshd events of the brute-force sample, one JSON object a line:
/// eighteen failed password logins from the Tor exit, nine seconds apart,
/// then a successful one as `deploy`, ending an hour before `now`.
fn sshd_excerpt(now: DateTime<Utc>) -> Vec<u8> {
    const USERS: [&str; 6] = ["root", "admin", "ubuntu", "deploy", "test", "oracle"];
    let start = now - Duration::minutes(64);
    let line = |at: DateTime<Utc>, user: &str, outcome: &str| {
        json!({
            "time": at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "host": "web-01",
            "service": "sshd",
            "src_ip": "185.220.101.4",
            "user": user,
            "method": "password",
            "outcome": outcome,
            "showcase": true,
        })
        .to_string()
    };
    let mut lines: Vec<String> = (0..18)
        .map(|i| {
            line(
                start + Duration::seconds(9 * i),
                USERS[i as usize % 6],
                "failure",
            )
        })
        .collect();
    lines.push(line(start + Duration::minutes(4), "deploy", "success"));
    (lines.join("\n") + "\n").into_bytes()
}

/// Critical: an SSH brute force from a Tor exit that got in, worked from
/// triage to `eradicated`.
fn brute_force(now: DateTime<Utc>) -> Sample {
    use ObservableType::{Host, Ip, User};
    let mut case = new_case(
        "SSH brute force from a Tor exit node, then a successful login on web-01",
        Severity::Critical,
        "A detection counted 18 failed SSH password logins on web-01 from 185.220.101.4, a Tor \
         exit relay, followed by a successful password login as `deploy`. 203.0.113.7 had scanned \
         web-01 shortly before. The sample walks the case from triage to eradication. Its \
         containment and eradication are recorded sample analyst statements: Vigil took no \
         action on any host, and no approval was requested.",
    );
    case.assignee = Some(ALICE.to_owned());
    case.requires_human_approval = true;
    case.confidence = Some(0.9);
    case.confidence_reason = Some(
        "The fixture reputation list marks 185.220.101.4 as a Tor exit with 412 abuse reports, \
         and the last login in the excerpt succeeded."
            .to_owned(),
    );
    case.tags = tags(&["brute-force", "ssh", "tor"]);
    case.alert_ids = vec![CLAIM_ALERT.to_owned(), "showcase-alert-1002".to_owned()];
    Sample {
        case,
        steps: vec![
            observable(
                Ip,
                "185.220.101.4",
                "detection: ssh brute force (showcase)",
                reputation("malicious", "Tor exit relay", "AS60729", 412, true),
            ),
            observable(
                Host,
                "web-01",
                "detection: ssh brute force (showcase)",
                json!({}),
            ),
            observable(
                User,
                "deploy",
                "detection: ssh brute force (showcase)",
                json!({}),
            ),
            observable(
                Ip,
                "203.0.113.7",
                "perimeter IDS (showcase)",
                reputation("suspicious", "Bulk scanner", "AS64500", 57, false),
            ),
            machine(
                "18 failed password logins on web-01 from 185.220.101.4, then a successful login \
                 as deploy. The bundled reputation list calls 185.220.101.4 a Tor exit relay. \
                 Suggested next steps: isolate web-01 (an approver must agree), rotate deploy's \
                 credentials, block the address.",
            ),
            status(
                CaseStatus::InProgress,
                None,
                "Sample analyst statement: triage started (showcase).",
            ),
            Step::Evidence(NewEvidence {
                name: "sshd authentication log excerpt, web-01".to_owned(),
                kind: EvidenceKind::Log,
                description: "Showcase sample: sshd events for 185.220.101.4 shaped like dummy \
                              mode's fixture logs, timed relative to the load."
                    .to_owned(),
                content: Some(sshd_excerpt(now)),
                collected_at: Some(now),
                ..NewEvidence::default()
            }),
            Step::Custody(
                0,
                custody(
                    CustodyAction::Transferred,
                    Some(ALICE),
                    "Sample hand-off of the excerpt to the assigned analyst (showcase).",
                ),
            ),
            task(
                "Review the sshd log excerpt",
                "Confirm the failures and find the successful login.",
                TaskPriority::High,
                Some(ALICE),
            ),
            task(
                "Request isolation of web-01 from the host team",
                "Isolation needs an approver; this sample records the request only.",
                TaskPriority::Critical,
                Some(ALICE),
            ),
            task(
                "Rotate the deploy account's password and SSH keys",
                "",
                TaskPriority::High,
                Some(BOB),
            ),
            task(
                "Block 185.220.101.4 at the perimeter firewall",
                "Waits on the network team's change window (showcase).",
                TaskPriority::Medium,
                None,
            ),
            Step::Task(NewTask {
                title: "Write the post-incident summary".to_owned(),
                description: String::new(),
                priority: Some(TaskPriority::Low),
                assignee: Some(ALICE.to_owned()),
                due_at: Some(now + Duration::days(2)),
            }),
            Step::Custody(
                0,
                custody(
                    CustodyAction::Reviewed,
                    None,
                    "Sample review (showcase): 18 failures, then one success as deploy at the end \
                     of the excerpt.",
                ),
            ),
            Step::TaskStatus(0, TaskStatus::Done),
            analyst(
                "isolation of web-01 requested from the host team (showcase). No approval request \
                 or EDR action exists behind this sample.",
            ),
            Step::TaskStatus(1, TaskStatus::Done),
            status(
                CaseStatus::Contained,
                None,
                "Sample analyst statement: the host team reports web-01 cut off from the network \
                 (showcase; Vigil isolated nothing).",
            ),
            Step::TaskStatus(2, TaskStatus::InProgress),
            Step::TaskStatus(3, TaskStatus::Blocked),
            status(
                CaseStatus::Eradicated,
                None,
                "Sample analyst statement: the host team reports the attacker's key removed from \
                 deploy's authorized_keys (showcase).",
            ),
            analyst(
                "eradication recorded from the host team's report; recovery of web-01 is next.",
            ),
        ],
    }
}

/// High: a credential-phishing e-mail, resolved as a true positive and
/// closed.
fn phishing() -> Sample {
    use ObservableType::{Domain, Email, Url, User};
    let mut case = new_case(
        "Credential-phishing e-mail reported by a finance user",
        Severity::High,
        "A finance user reported an e-mail posing as an invoice portal; its link led to a \
         look-alike sign-in page where the user typed their password. The sample is resolved as \
         a true positive and closed.",
    );
    case.assignee = Some(BOB.to_owned());
    case.confidence = Some(0.95);
    case.confidence_reason =
        Some("The user confirmed entering their password on the look-alike page.".to_owned());
    case.tags = tags(&["phishing", "email"]);
    case.alert_ids = vec!["showcase-alert-1003".to_owned()];
    let headers = "Showcase sample headers, not a real message.\n\
                   From: \"Invoice Portal\" <billing@invoice-portal.example>\n\
                   To: showcase-carol@corp.example\n\
                   Subject: Overdue invoice 4471: action required\n\
                   Received: from mail.invoice-portal.example ([203.0.113.45])\n\
                   Authentication-Results: spf=fail dkim=none dmarc=fail\n";
    Sample {
        case,
        steps: vec![
            observable(
                Email,
                "billing@invoice-portal.example",
                "user report (showcase)",
                json!({}),
            ),
            observable(
                Url,
                "hxxps://invoice-portal[.]example/sign-in",
                "user report (showcase)",
                json!({}),
            ),
            observable(
                Domain,
                "invoice-portal.example",
                "user report (showcase)",
                json!({}),
            ),
            observable(User, "showcase-carol", "user report (showcase)", json!({})),
            status(
                CaseStatus::InProgress,
                None,
                "Sample analyst statement: the report is being checked (showcase).",
            ),
            Step::Evidence(NewEvidence {
                name: "Reported message headers".to_owned(),
                kind: EvidenceKind::Other,
                description: "Showcase sample: the headers of the reported message.".to_owned(),
                content: Some(headers.as_bytes().to_vec()),
                ..NewEvidence::default()
            }),
            machine(
                "SPF and DMARC fail for invoice-portal.example in the reported headers; the \
                 sign-in page copies the corporate one.",
            ),
            task(
                "Purge the message from every mailbox",
                "",
                TaskPriority::High,
                Some(BOB),
            ),
            task(
                "Reset the reporting user's password",
                "They typed it on the look-alike page.",
                TaskPriority::Critical,
                Some(BOB),
            ),
            task(
                "Add invoice-portal.example to the mail and proxy block lists",
                "",
                TaskPriority::Medium,
                Some(BOB),
            ),
            Step::TaskStatus(1, TaskStatus::Done),
            Step::TaskStatus(0, TaskStatus::Done),
            Step::TaskStatus(2, TaskStatus::Done),
            analyst(
                "the mail team reports 14 copies purged and the user's password reset; the \
                 domain is on the block lists (all sample statements).",
            ),
            status(
                CaseStatus::Resolved,
                Some(Disposition::TruePositive),
                "Sample analyst statement: confirmed credential phishing; remediation reported \
                 complete (showcase).",
            ),
            status(
                CaseStatus::Closed,
                None,
                "Sample review complete (showcase).",
            ),
        ],
    }
}

/// Low: an impossible-travel alert that was the corporate VPN, closed as
/// a false positive.
fn impossible_travel() -> Sample {
    use ObservableType::{Ip, User};
    let mut case = new_case(
        "Impossible-travel sign-in for a VPN user",
        Severity::Low,
        "A sign-in rule flagged two sign-ins by one user 40 minutes apart, from Berlin and from \
         New York. The second came through the corporate VPN egress. The sample is closed as a \
         false positive.",
    );
    case.assignee = Some(BOB.to_owned());
    case.tags = tags(&["identity", "impossible-travel"]);
    case.alert_ids = vec!["showcase-alert-1004".to_owned()];
    Sample {
        case,
        steps: vec![
            observable(
                User,
                "showcase-dave",
                "sign-in analytics (showcase)",
                json!({}),
            ),
            observable(
                Ip,
                "198.51.100.23",
                "sign-in analytics (showcase)",
                reputation("benign", "Corporate VPN egress", "AS64501", 0, false),
            ),
            status(
                CaseStatus::InProgress,
                None,
                "Sample analyst statement: checking the second sign-in (showcase).",
            ),
            task(
                "Match the second sign-in with the VPN logs",
                "",
                TaskPriority::Medium,
                Some(BOB),
            ),
            Step::TaskStatus(0, TaskStatus::Done),
            analyst(
                "the VPN logs hold the session; 198.51.100.23 is our own egress. Suggest \
                 excluding it from the rule.",
            ),
            status(
                CaseStatus::Closed,
                Some(Disposition::FalsePositive),
                "Sample analyst statement: the second location is the corporate VPN egress \
                 (showcase).",
            ),
        ],
    }
}

/// Medium, open and unassigned: a port scan with its alert, sharing two
/// observables with the brute-force sample (so "related cases" finds it).
fn port_scan() -> Sample {
    use ObservableType::{Host, Ip};
    let mut case = new_case(
        "Port scan of the DMZ from 203.0.113.7",
        Severity::Medium,
        "The perimeter IDS alerted on a TCP scan of 38 ports across web-01 and web-02 from \
         203.0.113.7, a bulk scanner in the bundled reputation list. Nobody has picked the case \
         up yet.",
    );
    case.tags = tags(&["scan", "perimeter"]);
    case.alert_ids = vec!["showcase-alert-1005".to_owned()];
    Sample {
        case,
        steps: vec![
            observable(
                Ip,
                "203.0.113.7",
                "perimeter IDS (showcase)",
                reputation("suspicious", "Bulk scanner", "AS64500", 57, false),
            ),
            observable(Host, "web-01", "perimeter IDS (showcase)", json!({})),
            observable(Host, "web-02", "perimeter IDS (showcase)", json!({})),
            machine(
                "203.0.113.7 and web-01 also appear in the SSH brute-force sample; see its \
                 related cases.",
            ),
        ],
    }
}

/// High, `pending`: an unsigned driver, waiting on the vendor's answer.
fn unsigned_driver(now: DateTime<Utc>) -> Sample {
    use ObservableType::{File, HashSha256, Host};
    let mut case = new_case(
        "Unsigned kernel driver on a finance laptop, waiting on the vendor",
        Severity::High,
        "The EDR flagged an unsigned kernel driver loaded on fin-lt-042 after a printer software \
         update. The printer vendor was asked whether the driver is theirs; the case waits in \
         pending for the answer.",
    );
    case.assignee = Some(ALICE.to_owned());
    case.confidence = Some(0.4);
    case.confidence_reason = Some("Unsigned, but arrived with a vendor update.".to_owned());
    case.tags = tags(&["endpoint", "vendor"]);
    case.alert_ids = vec!["showcase-alert-1006".to_owned()];
    // A digest of a label, so it matches no real file.
    let digest = sha256_hex(b"vigil showcase sample driver: not a real file");
    Sample {
        case,
        steps: vec![
            observable(Host, "fin-lt-042", "EDR (showcase)", json!({})),
            observable(
                File,
                r"C:\Program Files\PrintHub\drivers\phflt.sys",
                "EDR (showcase)",
                json!({}),
            ),
            observable(
                HashSha256,
                &digest,
                "EDR (showcase)",
                json!({"signed": false}),
            ),
            status(
                CaseStatus::InProgress,
                None,
                "Sample analyst statement: checking the driver (showcase).",
            ),
            task(
                "Ask the printer vendor whether they ship phflt.sys",
                "",
                TaskPriority::High,
                Some(ALICE),
            ),
            Step::Task(NewTask {
                title: "Decide on the driver once the vendor answers".to_owned(),
                description: String::new(),
                priority: Some(TaskPriority::High),
                assignee: Some(ALICE.to_owned()),
                due_at: Some(now + Duration::days(3)),
            }),
            Step::TaskStatus(0, TaskStatus::Done),
            Step::TaskStatus(1, TaskStatus::Blocked),
            analyst("vendor ticket VND-4821 opened (a fictional ticket); waiting for the answer."),
            status(
                CaseStatus::Pending,
                None,
                "Sample analyst statement: waiting on the printer vendor (ticket VND-4821, \
                 fictional).",
            ),
        ],
    }
}
