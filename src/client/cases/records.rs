//! `vigil cases observe`, `evidence`, `custody` and `task`: the records
//! inside a case.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Map, Value};
use vigil_api::views::cases::{
    CustodyBody, CustodyView, EvidenceBody, EvidenceView, ObservableBody, ObservableView, TaskBody,
    TaskView,
};
use vigil_engine::case::{
    CustodyAction, EvidenceKind, ObservableType, Pap, TaskPriority, TaskStatus, Tlp, sha256_hex,
};

use super::show::{custody_text, evidence_place, task_table};
use super::{report, rfc3339, vocabulary, write};
use crate::client::render::{self, Table};
use crate::client::{Client, Error};

/// `vigil cases observe` options.
#[derive(Debug, clap::Args)]
pub struct ObserveArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The observable's type.
    #[arg(value_name = "TYPE", value_parser = vocabulary(ObservableType::ALL, ObservableType::as_str))]
    kind: ObservableType,
    /// The value as seen (normalized by the server: refanged, lower-cased, ...).
    value: String,
    /// Where it was seen.
    #[arg(long, value_name = "S")]
    source: Option<String>,
    /// TLP marking (a new value: amber when not given).
    #[arg(long, value_name = "T", value_parser = vocabulary(Tlp::ALL, Tlp::as_str))]
    tlp: Option<Tlp>,
    /// PAP marking (a new value: amber when not given).
    #[arg(long, value_name = "P", value_parser = vocabulary(Pap::ALL, Pap::as_str))]
    pap: Option<Pap>,
    /// A label (repeat for more).
    #[arg(long = "tag", value_name = "T")]
    tags: Vec<String>,
}

/// `POST /cases/{id}/observables`: says whether the value is new (201) or
/// another sighting of one the case holds (200).
pub async fn observe(client: &Client, args: ObserveArgs, json: bool) -> anyhow::Result<()> {
    let body = ObservableBody {
        kind: args.kind,
        value: args.value,
        source: args.source,
        tlp: args.tlp,
        pap: args.pap,
        tags: (!args.tags.is_empty()).then_some(args.tags),
        enrichment: None,
    };
    let answer = write::<ObservableView>(
        client,
        client
            .request(Method::POST, &["cases", &args.id, "observables"])
            .json(&body),
    )
    .await?;
    report(answer, json, |o: &ObservableView, status| {
        if status == 201 {
            format!(
                "{}: new observable {} {} (tlp {}, pap {}; id {})",
                args.id, o.kind, o.value, o.tlp, o.pap, o.id
            )
        } else {
            format!(
                "{}: another sighting of {} {} ({} sightings)",
                args.id, o.kind, o.value, o.sightings
            )
        }
    });
    Ok(())
}

/// `vigil cases evidence` options: register an item (`--name --kind` and
/// one of `--file`, `--text`, `--uri --sha256`), list them (`--list`, or
/// nothing else), or download one (`EVIDENCE_ID --download PATH`).
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("content").args(["file", "text", "uri"])))]
pub struct EvidenceArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The evidence item (with --download).
    evidence_id: Option<String>,
    /// List the case's evidence items.
    #[arg(long, conflicts_with_all = ["name", "kind", "content", "download", "evidence_id"])]
    list: bool,
    /// Write the item's content to this file, once its SHA-256 matches.
    #[arg(long, value_name = "PATH", requires = "evidence_id", conflicts_with_all = ["name", "kind", "content"])]
    download: Option<PathBuf>,
    /// The item's name.
    #[arg(long, value_name = "N", requires_all = ["kind", "content"])]
    name: Option<String>,
    /// The item's kind.
    #[arg(long, value_name = "K", requires = "name", value_parser = vocabulary(EvidenceKind::ALL, EvidenceKind::as_str))]
    kind: Option<EvidenceKind>,
    /// A file whose bytes are stored with the case.
    #[arg(long, value_name = "PATH", requires = "name")]
    file: Option<PathBuf>,
    /// Text stored with the case (a log excerpt).
    #[arg(long, value_name = "TEXT", requires = "name")]
    text: Option<String>,
    /// Where the artifact is kept instead (with --sha256).
    #[arg(long, value_name = "URI", requires_all = ["name", "sha256"])]
    uri: Option<String>,
    /// The SHA-256 of the artifact at --uri, hex.
    #[arg(long, value_name = "H", requires = "uri")]
    sha256: Option<String>,
    /// What the item is.
    #[arg(long, value_name = "D", requires = "name")]
    description: Option<String>,
}

/// Registers, lists or downloads evidence.
pub async fn evidence(client: &Client, args: EvidenceArgs, json: bool) -> anyhow::Result<()> {
    if let Some(path) = &args.download {
        let evidence_id = args.evidence_id.as_deref().unwrap_or_default();
        return download(client, &args.id, evidence_id, path).await;
    }
    if args.evidence_id.is_some() {
        return Err(Error::Usage(
            "an EVIDENCE_ID goes with --download PATH (vigil cases custody ID EVIDENCE_ID lists \
             its custody)"
                .to_owned(),
        )
        .into());
    }
    let (Some(name), Some(kind)) = (args.name, args.kind) else {
        return list_evidence(client, &args.id, json).await;
    };
    let content_base64 = match &args.file {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?;
            Some(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        None => None,
    };
    let body = EvidenceBody {
        name,
        kind,
        description: args.description,
        content_base64,
        content_text: args.text,
        uri: args.uri,
        sha256: args.sha256,
        size_bytes: None,
        collected_at: None,
    };
    let answer = write::<EvidenceView>(
        client,
        client
            .request(Method::POST, &["cases", &args.id, "evidence"])
            .json(&body),
    )
    .await?;
    report(answer, json, |e: &EvidenceView, _| {
        let size = e
            .size_bytes
            .map_or_else(String::new, |n| format!("{n} bytes, "));
        format!(
            "{}: evidence {} \"{}\" {} ({size}sha256 {})",
            args.id,
            e.id,
            e.name,
            evidence_place(e),
            e.sha256
        )
    });
    Ok(())
}

async fn list_evidence(client: &Client, case: &str, json: bool) -> anyhow::Result<()> {
    let reply = client
        .get::<Vec<EvidenceView>>(&["cases", case, "evidence"], &[])
        .await?;
    if json {
        reply.print_raw();
        return Ok(());
    }
    let mut table = Table::new(vec![
        "ID",
        "NAME",
        "KIND",
        "SIZE",
        "SHA256",
        "WHERE",
        "COLLECTED",
    ]);
    for e in &reply.value {
        table.row(vec![
            e.id.to_string(),
            render::clip(&e.name, 40),
            e.kind.clone(),
            e.size_bytes
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            e.sha256.clone(),
            evidence_place(e),
            format!("{} by {}", render::time(e.collected_at), e.collected_by),
        ]);
    }
    if table.is_empty() {
        println!("No evidence.");
    } else {
        print!("{}", table.render());
    }
    Ok(())
}

/// `GET .../content` into `path`: the bytes go to a temporary file beside
/// it, which becomes `path` only when its SHA-256, computed here, is the
/// one the server sent in `Vigil-Sha256`. Otherwise nothing is kept and
/// the exit code is 8.
async fn download(
    client: &Client,
    case: &str,
    evidence_id: &str,
    path: &Path,
) -> anyhow::Result<()> {
    let request = client
        .request(
            Method::GET,
            &["cases", case, "evidence", evidence_id, "content"],
        )
        .timeout(std::time::Duration::from_secs(300));
    let response = client.send(request, true).await?;
    let claimed = response
        .headers()
        .get("vigil-sha256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let bytes = response.bytes().await.map_err(|e| client.transport(e))?;
    let actual = sha256_hex(&bytes);
    let Some(claimed) = claimed else {
        return Err(Error::AuditFailed(format!(
            "evidence {evidence_id}: the server sent no Vigil-Sha256 header; nothing was written"
        ))
        .into());
    };
    if claimed != actual {
        return Err(Error::AuditFailed(format!(
            "evidence {evidence_id}: the content's SHA-256 is {actual}, the server says \
             {claimed}; nothing was written"
        ))
        .into());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    file.write_all(&bytes)
        .and_then(|()| file.flush())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote {} bytes to {} (sha256 {actual}, as the server's Vigil-Sha256)",
        bytes.len(),
        path.display()
    );
    Ok(())
}

/// `vigil cases custody` options: with ACTION, record one; without, list.
#[derive(Debug, clap::Args)]
pub struct CustodyArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The evidence item.
    evidence_id: String,
    /// What happened (`transferred` needs --to).
    #[arg(value_parser = vocabulary(CustodyAction::ALL, CustodyAction::as_str))]
    action: Option<CustodyAction>,
    /// Who had it.
    #[arg(long, value_name = "F", requires = "action")]
    from: Option<String>,
    /// Who has it now.
    #[arg(long, value_name = "T", requires = "action")]
    to: Option<String>,
    /// A note.
    #[arg(long, value_name = "N", requires = "action")]
    note: Option<String>,
}

/// Records a custody action, or lists the item's chain of custody.
pub async fn custody(client: &Client, args: CustodyArgs, json: bool) -> anyhow::Result<()> {
    let segments = ["cases", &args.id, "evidence", &args.evidence_id, "custody"];
    let Some(action) = args.action else {
        let reply = client.get::<Vec<CustodyView>>(&segments, &[]).await?;
        if json {
            reply.print_raw();
        } else if reply.value.is_empty() {
            println!("No custody records.");
        } else {
            for r in &reply.value {
                println!("{}", custody_text(r));
            }
        }
        return Ok(());
    };
    let body = CustodyBody {
        action,
        from: args.from,
        to: args.to,
        note: args.note,
    };
    let answer =
        write::<CustodyView>(client, client.request(Method::POST, &segments).json(&body)).await?;
    report(answer, json, |r: &CustodyView, _| {
        format!(
            "{}: custody recorded for evidence {}: {}",
            args.id,
            r.evidence_id,
            custody_text(r)
        )
    });
    Ok(())
}

/// `vigil cases task` options: `--title` creates a task; `TASK_ID` with
/// fields changes one; `--list` (or nothing else) lists them.
#[derive(Debug, clap::Args)]
pub struct TaskArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The task to change.
    task_id: Option<String>,
    /// List the case's tasks.
    #[arg(long, conflicts_with_all = ["task_id", "title", "status", "priority", "assignee", "unassign", "due", "no_due", "description"])]
    list: bool,
    /// The title (creates a task when no TASK_ID is given).
    #[arg(long, value_name = "T")]
    title: Option<String>,
    /// What to do.
    #[arg(long, value_name = "D")]
    description: Option<String>,
    /// A new status (changing a task).
    #[arg(long, value_name = "S", requires = "task_id", value_parser = vocabulary(TaskStatus::ALL, TaskStatus::as_str))]
    status: Option<TaskStatus>,
    /// The priority (server default: medium).
    #[arg(long, value_name = "P", value_parser = vocabulary(TaskPriority::ALL, TaskPriority::as_str))]
    priority: Option<TaskPriority>,
    /// Who does it.
    #[arg(long, value_name = "A", conflicts_with = "unassign")]
    assignee: Option<String>,
    /// Remove the assignee (changing a task).
    #[arg(long, requires = "task_id")]
    unassign: bool,
    /// When it is due (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = rfc3339, conflicts_with = "no_due")]
    due: Option<DateTime<Utc>>,
    /// Clear the due date (changing a task).
    #[arg(long, requires = "task_id")]
    no_due: bool,
}

/// Creates, changes or lists tasks.
pub async fn task(client: &Client, args: TaskArgs, json: bool) -> anyhow::Result<()> {
    if let Some(task_id) = &args.task_id {
        return update_task(client, &args, task_id, json).await;
    }
    let Some(title) = args.title else {
        let reply = client
            .get::<Vec<TaskView>>(&["cases", &args.id, "tasks"], &[])
            .await?;
        if json {
            reply.print_raw();
        } else if reply.value.is_empty() {
            println!("No tasks.");
        } else {
            print!("{}", task_table(&reply.value).render());
        }
        return Ok(());
    };
    let body = TaskBody {
        title,
        description: args.description,
        priority: args.priority,
        assignee: args.assignee,
        due_at: args.due,
    };
    let answer = write::<TaskView>(
        client,
        client
            .request(Method::POST, &["cases", &args.id, "tasks"])
            .json(&body),
    )
    .await?;
    report(answer, json, |t: &TaskView, _| {
        format!("{}: task {} created: {}", args.id, t.id, task_text(t))
    });
    Ok(())
}

async fn update_task(
    client: &Client,
    args: &TaskArgs,
    task_id: &str,
    json: bool,
) -> anyhow::Result<()> {
    // Field by field, not `TaskPatchBody`: that type writes an absent
    // assignee or due date as `null`, which the API reads as "clear it".
    let mut body = Map::new();
    if let Some(title) = &args.title {
        body.insert("title".into(), title.clone().into());
    }
    if let Some(description) = &args.description {
        body.insert("description".into(), description.clone().into());
    }
    if let Some(status) = args.status {
        body.insert("status".into(), status.as_str().into());
    }
    if let Some(priority) = args.priority {
        body.insert("priority".into(), priority.as_str().into());
    }
    if let Some(assignee) = &args.assignee {
        body.insert("assignee".into(), assignee.clone().into());
    } else if args.unassign {
        body.insert("assignee".into(), Value::Null);
    }
    if let Some(due) = args.due {
        body.insert("due_at".into(), due.to_rfc3339().into());
    } else if args.no_due {
        body.insert("due_at".into(), Value::Null);
    }
    if body.is_empty() {
        return Err(Error::Usage(
            "nothing to change: give --status, --title, --description, --priority, \
             --assignee, --unassign, --due or --no-due"
                .to_owned(),
        )
        .into());
    }
    let answer = write::<TaskView>(
        client,
        client
            .request(Method::PATCH, &["cases", &args.id, "tasks", task_id])
            .json(&body),
    )
    .await?;
    report(answer, json, |t: &TaskView, _| {
        format!("{}: task {} updated: {}", args.id, t.id, task_text(t))
    });
    Ok(())
}

/// `"title" (status, priority p, assigned to a, due t)`.
fn task_text(t: &TaskView) -> String {
    let mut text = format!(
        "\"{}\" ({}, priority {}",
        render::clip(&t.title, 60),
        t.status,
        t.priority
    );
    if let Some(a) = &t.assignee {
        text.push_str(&format!(", assigned to {a}"));
    }
    if let Some(due) = t.due_at {
        text.push_str(&format!(", due {}", render::time(due)));
    }
    text.push(')');
    text
}
