//! Alerts: ingest opens or joins a case by grouping key, redelivery is
//! idempotent, concurrent ingests under one key open one case, promotion,
//! listing.

use super::case_lifecycle::{assert_timeline_valid, timeline_kinds};
use super::prelude::*;
use crate::case::{
    AlertEntity, CaseEventKind, CaseStatus, Disposition, GroupingRule, NewAlert, ObservableType,
    Severity, StatusChange,
};
use crate::store::{AlertQuery, Alerts, CaseReads, Cases};

fn alert(source_id: &str, ip: &str) -> NewAlert {
    NewAlert {
        source: "splunk".to_owned(),
        source_id: source_id.to_owned(),
        rule: "SSH brute force".to_owned(),
        severity: Severity::High,
        title: format!("Failed logins from {ip}"),
        observed_at: start(),
        raw: json!({"src_ip": ip, "user": "root"}),
        entities: Vec::new(),
        traceparent: None,
    }
}

/// A first alert opens a case: title from the rule, severity from the
/// alert, the alert linked (`alert_linked`), its entities as observables
/// with source `alert:<id>`.
pub async fn alert_ingest_opens_a_case_from_the_rule<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let got = store
        .ingest_alert("ingest", alert("d-1", "185.220.101[.]4"), &[])
        .await
        .unwrap();
    assert!(got.created && got.case_created);
    let case = got.case.expect("a case");
    assert_eq!(case.title, "SSH brute force");
    assert_eq!(case.severity, Severity::High);
    assert_eq!(case.alert_ids, vec![got.alert.id.to_string()]);
    assert_eq!(got.alert.case_id, Some(case.id));
    assert_eq!(
        got.alert.grouping_key.as_deref(),
        Some("SSH brute force|ip=185.220.101.4")
    );
    let kinds = timeline_kinds(&store, case.id).await;
    assert_eq!(kinds[0], CaseEventKind::Created);
    assert!(kinds.contains(&CaseEventKind::AlertLinked));
    let observables = store.observables(case.id).await.unwrap();
    let source = format!("alert:{}", got.alert.id);
    assert!(observables.iter().any(|o| o.kind == ObservableType::Ip
        && o.value == "185.220.101.4"
        && o.source.as_deref() == Some(source.as_str())));
    assert!(
        observables
            .iter()
            .any(|o| o.kind == ObservableType::User && o.value == "root")
    );
    assert_eq!(store.alert(got.alert.id).await.unwrap(), got.alert);
    assert_timeline_valid(&store, case.id).await;
}

/// A second alert with the same key within the window joins the case; one
/// outside the window, or after the case is resolved, opens another.
pub async fn alert_with_the_same_key_links_to_the_open_case<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let first = store
        .ingest_alert("ingest", alert("d-1", "10.0.0.5"), &[])
        .await
        .unwrap();
    let case = first.case.unwrap();
    let mut second = alert("d-2", "10.0.0.5");
    second.observed_at = start() + Duration::hours(23);
    let joined = store.ingest_alert("ingest", second, &[]).await.unwrap();
    assert!(joined.created && !joined.case_created);
    let joined_case = joined.case.unwrap();
    assert_eq!(joined_case.id, case.id);
    assert_eq!(joined_case.alert_ids.len(), 2);
    let ip = store
        .observables(case.id)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.kind == ObservableType::Ip)
        .unwrap();
    assert_eq!(ip.sightings, 2);

    // The window runs from the case's last alert (23 h).
    let mut late = alert("d-3", "10.0.0.5");
    late.observed_at = start() + Duration::hours(46);
    let still = store.ingest_alert("ingest", late, &[]).await.unwrap();
    assert_eq!(still.case.unwrap().id, case.id);
    let mut later = alert("d-4", "10.0.0.5");
    later.observed_at = start() + Duration::hours(71);
    let apart = store.ingest_alert("ingest", later, &[]).await.unwrap();
    let other = apart.case.unwrap();
    assert!(apart.case_created);
    assert_ne!(other.id, case.id);

    store
        .change_case_status(
            other.id,
            "alice",
            StatusChange {
                to: CaseStatus::Resolved,
                disposition: Some(Disposition::FalsePositive),
                reason: None,
            },
        )
        .await
        .unwrap();
    let mut after = alert("d-5", "10.0.0.5");
    after.observed_at = start() + Duration::hours(72);
    let fresh = store.ingest_alert("ingest", after, &[]).await.unwrap();
    assert!(fresh.case_created);
    assert_ne!(fresh.case.unwrap().id, other.id);

    // Another address is another key.
    let elsewhere = store
        .ingest_alert("ingest", alert("d-6", "10.0.0.6"), &[])
        .await
        .unwrap();
    assert!(elsewhere.case_created);
    assert_timeline_valid(&store, case.id).await;
}

/// The same detection delivered twice is stored and linked once.
pub async fn alert_redelivery_links_once<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let first = store
        .ingest_alert("ingest", alert("d-1", "10.0.0.5"), &[])
        .await
        .unwrap();
    let case = first.case.clone().unwrap();
    let before = timeline_kinds(&store, case.id).await;
    let again = store
        .ingest_alert("ingest", alert("d-1", "10.0.0.5"), &[])
        .await
        .unwrap();
    assert!(!again.created && !again.case_created);
    assert_eq!(again.alert, first.alert);
    assert_eq!(again.case.map(|c| c.id), Some(case.id));
    assert_eq!(timeline_kinds(&store, case.id).await, before);
    let page = store.list_alerts(&AlertQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(store.case(case.id).await.unwrap().case.alert_ids.len(), 1);
}

/// Eight concurrent ingests under one key, from two store handles, open
/// exactly one case and link every alert to it.
pub async fn concurrent_ingests_with_one_key_open_one_case<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let other = h.reopen(clock.clone()).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let handle = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            handle
                .ingest_alert("ingest", alert(&format!("d-{i}"), "10.0.0.5"), &[])
                .await
        }));
    }
    let mut cases = BTreeSet::new();
    let mut opened = 0;
    for task in tasks {
        let got = task.await.unwrap().expect("ingest");
        opened += usize::from(got.case_created);
        cases.insert(got.case.unwrap().id);
    }
    assert_eq!(opened, 1, "exactly one ingest opens the case");
    assert_eq!(cases.len(), 1);
    let id = *cases.iter().next().unwrap();
    assert_eq!(store.case(id).await.unwrap().case.alert_ids.len(), 8);
    assert_timeline_valid(&store, id).await;
}

/// Grouping rules name entity types, a window and a rule; an alert none
/// applies to is stored unlinked and can be promoted to a case by hand.
pub async fn ungrouped_alerts_are_stored_and_promoted_by_hand<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let rules = [GroupingRule {
        rule: Some("Phishing".to_owned()),
        entity_types: vec![ObservableType::Email],
        window: Duration::hours(1),
        investigate: None,
    }];
    let mut phish = alert("p-1", "10.0.0.5");
    phish.rule = "Phishing".to_owned();
    phish.entities = vec![AlertEntity {
        kind: ObservableType::Email,
        value: "Billing@Pay-Secure.example".to_owned(),
    }];
    let grouped = store.ingest_alert("ingest", phish, &rules).await.unwrap();
    assert_eq!(
        grouped.alert.grouping_key.as_deref(),
        Some("Phishing|email=billing@pay-secure.example")
    );
    let loose = store
        .ingest_alert("ingest", alert("d-1", "10.0.0.5"), &rules)
        .await
        .unwrap();
    assert!(loose.created && loose.case.is_none());
    assert_eq!(loose.alert.grouping_key, None);

    let promoted = store.promote_alert(loose.alert.id, "alice").await.unwrap();
    let case = promoted.case.unwrap();
    assert_eq!(promoted.alert.case_id, Some(case.id));
    assert_eq!(case.alert_ids, vec![loose.alert.id.to_string()]);
    assert!(matches!(
        store.promote_alert(loose.alert.id, "alice").await,
        Err(Error::AlertLinked { .. })
    ));
    assert_not_found(
        store
            .promote_alert(crate::case::AlertId::new_at(start()), "alice")
            .await,
    );
    assert_invalid(
        store
            .ingest_alert("ingest", alert(" ", "10.0.0.5"), &rules)
            .await,
        "source_id",
    );
}

/// Listing filters by case, rule and source, newest first, keyset-paged
/// without repeats.
pub async fn alert_list_filters_and_pages<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        clock.advance(Duration::seconds(1));
        let mut a = alert(&format!("d-{i}"), &format!("10.0.0.{}", i % 2));
        if i == 4 {
            a.source = "crowdstrike".to_owned();
        }
        ids.push(store.ingest_alert("ingest", a, &[]).await.unwrap());
    }
    let mut seen = Vec::new();
    let mut query = AlertQuery {
        limit: Some(2),
        ..AlertQuery::default()
    };
    loop {
        let page = store.list_alerts(&query).await.unwrap();
        seen.extend(page.items.iter().map(|a| a.id));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let newest_first: Vec<_> = ids.iter().rev().map(|g| g.alert.id).collect();
    assert_eq!(seen, newest_first);

    let case = ids[0].case.as_ref().unwrap().id;
    let by_case = store
        .list_alerts(&AlertQuery {
            case_id: Some(case),
            ..AlertQuery::default()
        })
        .await
        .unwrap();
    // 10.0.0.0: the first, third and fifth (the source is not in the key).
    assert_eq!(by_case.items.len(), 3);
    let by_source = store
        .list_alerts(&AlertQuery {
            source: Some("crowdstrike".to_owned()),
            ..AlertQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_source.items.len(), 1);
    let by_rule = store
        .list_alerts(&AlertQuery {
            rule: Some("nope".to_owned()),
            ..AlertQuery::default()
        })
        .await
        .unwrap();
    assert!(by_rule.items.is_empty());
}

/// A key whose case was merged into another feeds the case it went into.
pub async fn alerts_follow_their_case_into_a_merge<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let first = store
        .ingest_alert("ingest", alert("d-1", "10.0.0.5"), &[])
        .await
        .unwrap();
    let source = first.case.unwrap();
    let target = store
        .create_case("alice", new_case("Campaign"))
        .await
        .unwrap();
    store
        .merge_cases(
            target.id,
            &[source.id],
            "alice",
            Some(Disposition::TruePositive),
        )
        .await
        .unwrap();
    let moved = store.alert(first.alert.id).await.unwrap();
    assert_eq!(moved.case_id, Some(target.id));
    let next = store
        .ingest_alert("ingest", alert("d-2", "10.0.0.5"), &[])
        .await
        .unwrap();
    assert!(!next.case_created);
    assert_eq!(next.case.unwrap().id, target.id);
    assert_timeline_valid(&store, target.id).await;
}

/// Alerts under the key of a case merged into an older one, racing merges
/// that lock both cases (refused, the source being merged already): every
/// ingest links to the older case and none fails. An ingest reads the
/// merged case without locking it, so it cannot hold that lock while a
/// merge, locking in id order, holds the target's and waits for it.
pub async fn alerts_following_a_merge_race_merges_without_deadlock<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let other = h.reopen(clock.clone()).await;
    let target = store
        .create_case("alice", new_case("Campaign"))
        .await
        .unwrap();
    // Ids are UUID v7 from the store's clock: a later case sorts after.
    clock.advance(Duration::seconds(1));
    let first = store
        .ingest_alert("ingest", alert("d-0", "10.0.0.5"), &[])
        .await
        .unwrap();
    let source = first.case.unwrap();
    assert!(source.id > target.id, "the merged case is the younger one");
    store
        .merge_cases(
            target.id,
            &[source.id],
            "alice",
            Some(Disposition::TruePositive),
        )
        .await
        .unwrap();
    let mut ingests = Vec::new();
    let mut merges = Vec::new();
    for i in 1..=8 {
        let handle = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        let merger = handle.clone();
        ingests.push(tokio::spawn(async move {
            handle
                .ingest_alert("ingest", alert(&format!("d-{i}"), "10.0.0.5"), &[])
                .await
        }));
        merges.push(tokio::spawn(async move {
            merger
                .merge_cases(
                    target.id,
                    &[source.id],
                    "alice",
                    Some(Disposition::TruePositive),
                )
                .await
        }));
    }
    for task in ingests {
        let got = task.await.unwrap().expect("every ingest links");
        assert_eq!(got.case.unwrap().id, target.id);
    }
    for task in merges {
        assert!(task.await.unwrap().is_err(), "a merged case merges once");
    }
    assert_eq!(store.case(target.id).await.unwrap().case.alert_ids.len(), 9);
    assert_timeline_valid(&store, target.id).await;
}

/// A grouping rule's triage dispatch is stored with the ingest's trace
/// context, so its worker segments hang under a span that was exported;
/// an alert that joins the case dispatches nothing more.
pub async fn a_grouping_dispatch_keeps_the_ingests_trace_context<H: Harness>(h: &H) {
    const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let (store, _clock) = setup(h).await;
    let rules = [GroupingRule {
        rule: None,
        entity_types: vec![ObservableType::Ip],
        window: Duration::hours(1),
        investigate: Some("triage".to_owned()),
    }];
    let mut first = alert("d-1", "185.220.101.4");
    first.traceparent = Some(TRACE.to_owned());
    let got = store.ingest_alert("ingest", first, &rules).await.unwrap();
    let id = got.investigation.expect("the rule dispatched triage");
    let inv = store.get(id).await.unwrap();
    assert_eq!(inv.traceparent.as_deref(), Some(TRACE));
    assert_eq!(inv.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    let mut second = alert("d-2", "185.220.101.4");
    second.traceparent = Some(TRACE.replace("00f067aa0ba902b7", "1111111111111111"));
    let joined = store.ingest_alert("ingest", second, &rules).await.unwrap();
    assert_eq!(joined.investigation, None);
}
