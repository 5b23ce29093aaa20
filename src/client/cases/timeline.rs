//! `vigil cases timeline` (and `--follow`) and `vigil cases audit`.

use std::path::PathBuf;

use anyhow::Context as _;
use reqwest::Method;
use vigil_api::views::cases::{CaseAuditReport, CaseEventView, CaseTimelinePage};

use super::entries;
use crate::client::follow::{self, Ended, Next};
use crate::client::{Client, Error};

/// Entries read per page when not following.
const PAGE: u32 = 1000;

/// `vigil cases timeline` options.
#[derive(Debug, clap::Args)]
pub struct TimelineArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// Only entries after this seq.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    after_seq: i64,
    /// Keep printing entries as they are written (Ctrl-C to stop).
    #[arg(long, short)]
    follow: bool,
}

/// Prints the timeline (every page), or follows it live.
pub async fn timeline(client: &Client, args: TimelineArgs, json: bool) -> anyhow::Result<()> {
    let print = |data: &str, entry: &CaseEventView| {
        if json {
            println!("{data}");
        } else {
            println!("{}", entries::line(entry));
        }
    };
    if args.follow {
        let ended = follow::follow(
            client,
            &["cases", &args.id, "timeline", "stream"],
            args.after_seq,
            |data, entry: &CaseEventView| {
                print(data, entry);
                Ok(Next::Continue)
            },
        )
        .await?;
        if ended == Ended::StreamEnd {
            eprintln!(
                "vigil: case {} takes no more entries (deleted or merged); stopped following",
                args.id
            );
        }
        return Ok(());
    }
    let mut after = args.after_seq;
    loop {
        let reply = client
            .get::<CaseTimelinePage>(
                &["cases", &args.id, "timeline"],
                &[
                    ("after_seq", after.to_string()),
                    ("limit", PAGE.to_string()),
                ],
            )
            .await?;
        let page = reply.value;
        for entry in &page.items {
            let data = serde_json::to_string(entry)?;
            print(&data, entry);
        }
        match page.items.last() {
            Some(last) if last.seq > after && last.seq < page.last_seq => after = last.seq,
            _ => return Ok(()),
        }
    }
}

/// `vigil cases audit` options.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// Also write the timeline as JSON Lines to this file.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `GET /cases/{id}/audit`: the verification report; with `-o`, the
/// export as well. Exits 8 when the timeline does not verify (after
/// writing the export, as stored).
pub async fn audit(client: &Client, args: AuditArgs, json: bool) -> anyhow::Result<()> {
    let reply = client
        .get::<CaseAuditReport>(&["cases", &args.id, "audit"], &[])
        .await?;
    let report = &reply.value;
    if json {
        reply.print_raw();
    } else {
        print!("{}", report_text(report));
    }
    if let Some(path) = &args.output {
        let request = client
            .request(Method::GET, &["cases", &args.id, "audit"])
            .query(&[("format", "jsonl")])
            .timeout(std::time::Duration::from_secs(300));
        let response = client.send(request, true).await?;
        let body = response.bytes().await.map_err(|e| client.transport(e))?;
        let lines = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        std::fs::write(path, &body).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {lines} entries to {}", path.display());
    }
    if report.valid {
        Ok(())
    } else {
        Err(Error::AuditFailed(format!("the timeline of case {} does not verify", args.id)).into())
    }
}

/// The verification report in words.
fn report_text(r: &CaseAuditReport) -> String {
    if r.valid {
        return format!(
            "chain valid ({} entries; case {})\n",
            r.events_checked, r.case_id
        );
    }
    let Some(seq) = r.broken_at_seq else {
        let mut out = format!(
            "chain intact ({} entries), but the case does not match its timeline:\n",
            r.events_checked
        );
        for m in &r.mismatches {
            out.push_str(&format!(
                "  {}: the record says {}, the timeline says {}\n",
                m.field, m.row, m.log
            ));
        }
        return out;
    };
    format!(
        "chain broken at seq {seq}: {} ({} entries checked; case {})\n",
        r.problem.as_deref().unwrap_or("unknown problem"),
        r.events_checked,
        r.case_id
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_report_says_valid_broken_or_which_fields_mismatch() {
        let report = |v| serde_json::from_value::<CaseAuditReport>(v).unwrap();
        let id = "01a210ba-781c-7a5d-874e-8b73d3bb0f91";
        assert_eq!(
            report_text(&report(
                json!({"case_id": id, "valid": true, "events_checked": 7,
                "broken_at_seq": null, "problem": null})
            )),
            format!("chain valid (7 entries; case {id})\n")
        );
        let broken = report_text(&report(json!({"case_id": id, "valid": false,
            "events_checked": 3, "broken_at_seq": 3, "problem": "hash mismatch"})));
        assert!(
            broken.starts_with("chain broken at seq 3: hash mismatch"),
            "{broken}"
        );
        let mismatch = report_text(&report(json!({"case_id": id, "valid": false,
            "events_checked": 4, "broken_at_seq": null, "problem": null,
            "mismatches": [{"field": "status", "row": "closed", "log": "open"}]})));
        assert!(
            mismatch.contains("  status: the record says \"closed\", the timeline says \"open\""),
            "{mismatch}"
        );
    }
}
