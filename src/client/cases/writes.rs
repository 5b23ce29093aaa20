//! `vigil cases create`, `update`, `status`, `assign`, `comment`, `merge`,
//! `delete` and `link-alert`: the writes to a case itself. Each prints what
//! was stored, or the preview (see [`super::Written`]).

use reqwest::Method;
use serde_json::{Map, Value};
use vigil_api::views::cases::{
    AssignBody, CaseDetail, CaseStatusBody, CommentBody, CommentView, CreateCaseBody,
    LinkAlertBody, MergeBody, MergeView,
};
use vigil_engine::{CaseStatus, Disposition, Severity};

use super::entries::status_text;
use super::show::list_or_dash;
use super::{report, vocabulary, write};
use crate::client::{Client, Error};

/// `vigil cases create` options.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The title (at most 200 characters).
    #[arg(long)]
    title: String,
    /// The severity (server default: medium).
    #[arg(long, value_parser = vocabulary(Severity::ALL, Severity::as_str))]
    severity: Option<Severity>,
    /// What it is about.
    #[arg(long)]
    description: Option<String>,
    /// The owning principal.
    #[arg(long, value_name = "A")]
    assignee: Option<String>,
    /// A label (repeat for more).
    #[arg(long = "tag", value_name = "T")]
    tags: Vec<String>,
    /// An alert to link (repeat for more); an alert belongs to one case.
    #[arg(long = "alert", value_name = "ID")]
    alerts: Vec<String>,
    /// Actions for this case need a human approval.
    #[arg(long)]
    requires_approval: bool,
}

/// `POST /cases`: `CASE-12: created (...)`, or the preview.
pub async fn create(client: &Client, args: CreateArgs, json: bool) -> anyhow::Result<()> {
    let body = CreateCaseBody {
        title: args.title,
        severity: args.severity,
        description: args.description,
        assignee: args.assignee,
        requires_human_approval: args.requires_approval.then_some(true),
        confidence: None,
        confidence_reason: None,
        tags: (!args.tags.is_empty()).then_some(args.tags),
        alert_ids: (!args.alerts.is_empty()).then_some(args.alerts),
    };
    let answer =
        write::<CaseDetail>(client, client.request(Method::POST, &["cases"]).json(&body)).await?;
    report(answer, json, |d: &CaseDetail, _| {
        let c = &d.summary;
        format!(
            "{}: created ({}, severity {}, {} alerts; id {})",
            c.number, c.status, c.severity, c.counts.alerts, c.id
        )
    });
    Ok(())
}

/// `vigil cases update` options.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// A new title.
    #[arg(long)]
    title: Option<String>,
    /// A new description.
    #[arg(long)]
    description: Option<String>,
    /// A new severity.
    #[arg(long, value_parser = vocabulary(Severity::ALL, Severity::as_str))]
    severity: Option<Severity>,
    /// A new assignee.
    #[arg(long, value_name = "A", conflicts_with = "unassign")]
    assignee: Option<String>,
    /// Remove the assignee.
    #[arg(long)]
    unassign: bool,
    /// Whether actions for this case need a human approval.
    #[arg(long, value_name = "true|false")]
    requires_approval: Option<bool>,
    /// The labels, replacing the case's (repeat for more).
    #[arg(long = "tag", value_name = "T")]
    tags: Vec<String>,
}

/// `PATCH /cases/{id}` with the fields given.
pub async fn update(client: &Client, args: UpdateArgs, json: bool) -> anyhow::Result<()> {
    // Built field by field rather than from `PatchCaseBody`: that type
    // writes an absent assignee as `null`, which the API reads as
    // "unassign". Only what was asked for is sent.
    let mut body = Map::new();
    if let Some(title) = args.title {
        body.insert("title".into(), title.into());
    }
    if let Some(description) = args.description {
        body.insert("description".into(), description.into());
    }
    if let Some(severity) = args.severity {
        body.insert("severity".into(), severity.as_str().into());
    }
    if let Some(assignee) = args.assignee {
        body.insert("assignee".into(), assignee.into());
    } else if args.unassign {
        body.insert("assignee".into(), Value::Null);
    }
    if let Some(flag) = args.requires_approval {
        body.insert("requires_human_approval".into(), flag.into());
    }
    if !args.tags.is_empty() {
        body.insert("tags".into(), args.tags.into());
    }
    if body.is_empty() {
        return Err(Error::Usage(
            "nothing to change: give --title, --description, --severity, --assignee, \
             --unassign, --requires-approval or --tag"
                .to_owned(),
        )
        .into());
    }
    let answer = write::<CaseDetail>(
        client,
        client
            .request(Method::PATCH, &["cases", &args.id])
            .json(&body),
    )
    .await?;
    report(answer, json, |d: &CaseDetail, _| {
        let c = &d.summary;
        format!(
            "{}: updated (now {}, severity {}, assignee {}, tags {})",
            c.number,
            status_text(&c.status, c.disposition.as_deref()),
            c.severity,
            c.assignee.as_deref().unwrap_or("-"),
            list_or_dash(&c.tags)
        )
    });
    Ok(())
}

/// `vigil cases status` options.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The status to move to.
    #[arg(value_parser = vocabulary(CaseStatus::ALL, CaseStatus::as_str))]
    status: CaseStatus,
    /// What the case turned out to be (needed for resolved and closed).
    #[arg(long, value_parser = vocabulary(Disposition::ALL, Disposition::as_str))]
    disposition: Option<Disposition>,
    /// Why (needed to reopen a closed case).
    #[arg(long)]
    reason: Option<String>,
}

/// `POST /cases/{id}/status`: `CASE-12: status closed (true_positive)`.
pub async fn status(client: &Client, args: StatusArgs, json: bool) -> anyhow::Result<()> {
    let body = CaseStatusBody {
        status: args.status,
        disposition: args.disposition,
        reason: args.reason,
    };
    let answer = write::<CaseDetail>(
        client,
        client
            .request(Method::POST, &["cases", &args.id, "status"])
            .json(&body),
    )
    .await?;
    report(answer, json, |d: &CaseDetail, _| {
        let c = &d.summary;
        format!(
            "{}: status {}",
            c.number,
            status_text(&c.status, c.disposition.as_deref())
        )
    });
    Ok(())
}

/// `vigil cases assign` options.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["principal", "none"])))]
pub struct AssignArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The principal to assign it to.
    principal: Option<String>,
    /// Unassign it.
    #[arg(long)]
    none: bool,
}

/// `POST /cases/{id}/assign`: `CASE-12: assigned to otto`.
pub async fn assign(client: &Client, args: AssignArgs, json: bool) -> anyhow::Result<()> {
    let answer = write::<CaseDetail>(
        client,
        client
            .request(Method::POST, &["cases", &args.id, "assign"])
            .json(&AssignBody {
                assignee: args.principal,
            }),
    )
    .await?;
    report(answer, json, |d: &CaseDetail, _| {
        let c = &d.summary;
        match &c.assignee {
            Some(a) => format!("{}: assigned to {a}", c.number),
            None => format!("{}: unassigned", c.number),
        }
    });
    Ok(())
}

/// `vigil cases comment` options.
#[derive(Debug, clap::Args)]
pub struct CommentArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The comment.
    text: String,
}

/// `POST /cases/{id}/comments`.
pub async fn comment(client: &Client, args: CommentArgs, json: bool) -> anyhow::Result<()> {
    let answer = write::<CommentView>(
        client,
        client
            .request(Method::POST, &["cases", &args.id, "comments"])
            .json(&CommentBody { body: args.text }),
    )
    .await?;
    report(answer, json, |c: &CommentView, _| {
        format!(
            "{}: comment {} added ({} note by {})",
            args.id, c.id, c.author_kind, c.author
        )
    });
    Ok(())
}

/// `vigil cases merge` options.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The case that survives: its id or number.
    target: String,
    /// The cases merged into it (they are closed and linked to it).
    #[arg(required = true, num_args = 1..)]
    sources: Vec<String>,
    /// The disposition the sources close with (needed when the target has
    /// none).
    #[arg(long, value_parser = vocabulary(Disposition::ALL, Disposition::as_str))]
    disposition: Option<Disposition>,
}

/// `POST /cases/{target}/merge`.
pub async fn merge(client: &Client, args: MergeArgs, json: bool) -> anyhow::Result<()> {
    let answer = write::<MergeView>(
        client,
        client
            .request(Method::POST, &["cases", &args.target, "merge"])
            .json(&MergeBody {
                sources: args.sources,
                disposition: args.disposition,
            }),
    )
    .await?;
    report(answer, json, |m: &MergeView, _| {
        let merged: Vec<&str> = m.merged.iter().map(|c| c.number.as_str()).collect();
        format!(
            "{}: merged {} ({})",
            m.target.summary.number,
            merged.join(", "),
            m.summary
        )
    });
    Ok(())
}

/// `vigil cases delete` options.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// Why (recorded on the timeline).
    #[arg(long)]
    reason: Option<String>,
}

/// `DELETE /cases/{id}`: soft; the case stays readable by id.
pub async fn delete(client: &Client, args: DeleteArgs, json: bool) -> anyhow::Result<()> {
    let mut request = client.request(Method::DELETE, &["cases", &args.id]);
    if let Some(reason) = &args.reason {
        request = request.query(&[("reason", reason)]);
    }
    let answer = write::<CaseDetail>(client, request).await?;
    report(answer, json, |d: &CaseDetail, _| {
        format!(
            "{}: deleted (its alerts were detached; it stays readable by id)",
            d.summary.number
        )
    });
    Ok(())
}

/// `vigil cases link-alert` options.
#[derive(Debug, clap::Args)]
pub struct LinkAlertArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The alert's id.
    alert_id: String,
}

/// `POST /cases/{id}/alerts`.
pub async fn link_alert(client: &Client, args: LinkAlertArgs, json: bool) -> anyhow::Result<()> {
    let answer = write::<CaseDetail>(
        client,
        client
            .request(Method::POST, &["cases", &args.id, "alerts"])
            .json(&LinkAlertBody {
                alert_id: args.alert_id.clone(),
            }),
    )
    .await?;
    report(answer, json, |d: &CaseDetail, _| {
        format!(
            "{}: alert {} linked ({} alerts)",
            d.summary.number, args.alert_id, d.summary.counts.alerts
        )
    });
    Ok(())
}
