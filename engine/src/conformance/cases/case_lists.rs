//! Listing cases: filters, every sort, keyset pages, header counts, and
//! related cases.

use super::prelude::*;
use crate::case::{
    CaseId, CaseStatus, Disposition, NewCase, NewObservable, ObservableType, Severity, StatusChange,
};
use crate::store::{
    AssigneeFilter, CaseKpis, CaseQuery, CaseReads, CaseSort, CaseSortKey, Cases, SortDirection,
};

fn titles(page: &crate::store::CasePage) -> Vec<String> {
    page.items.iter().map(|o| o.case.title.clone()).collect()
}

async fn add<S: Store>(store: &S, case: CaseId, kind: ObservableType, value: &str) {
    store
        .add_observable(
            case,
            "sensor",
            NewObservable {
                kind,
                value: value.to_owned(),
                source: None,
                tlp: None,
                pap: None,
                tags: Vec::new(),
                enrichment: None,
            },
        )
        .await
        .unwrap();
}

fn sorted(key: CaseSortKey, direction: SortDirection) -> CaseQuery {
    CaseQuery {
        sort: CaseSort { key, direction },
        ..CaseQuery::default()
    }
}

/// Every filter narrows the listing, every sort key orders it (ties by id),
/// and the header counts cover the filtered cases whatever the status tab.
pub async fn case_list_filters_sorts_and_counts<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let specs: [(&str, Severity, Option<&str>, &[&str]); 6] = [
        (
            "Brute force on vpn-01",
            Severity::High,
            Some("alice"),
            &["auth"],
        ),
        (
            "Phishing: invoice.pdf",
            Severity::Critical,
            Some("bob"),
            &["phishing"],
        ),
        ("beaconing from web-03", Severity::Critical, None, &[]),
        (
            "Impossible travel for carol",
            Severity::Medium,
            Some("alice"),
            &["auth", "identity"],
        ),
        ("Port scan from 10.0.0.8", Severity::Low, None, &[]),
        ("Old duplicate", Severity::Informational, Some("bob"), &[]),
    ];
    let mut ids = Vec::new();
    for (title, severity, assignee, tags) in specs {
        clock.advance(Duration::seconds(10));
        let case = store
            .create_case(
                "soar",
                NewCase {
                    title: title.to_owned(),
                    severity,
                    assignee: assignee.map(str::to_owned),
                    tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                    ..NewCase::default()
                },
            )
            .await
            .unwrap();
        ids.push(case.id);
    }
    add(&store, ids[2], ObservableType::Domain, "c2.example.net").await;
    add(&store, ids[4], ObservableType::Ip, "10.0.0.8").await;
    clock.advance(Duration::seconds(10));
    store
        .change_case_status(
            ids[1],
            "bob",
            StatusChange {
                to: CaseStatus::Resolved,
                disposition: Some(Disposition::TruePositive),
                reason: None,
            },
        )
        .await
        .unwrap();
    store
        .change_case_status(
            ids[0],
            "alice",
            StatusChange {
                to: CaseStatus::InProgress,
                disposition: None,
                reason: None,
            },
        )
        .await
        .unwrap();
    store.delete_case(ids[5], "bob", None).await.unwrap();

    let all = store.list_cases(&CaseQuery::default()).await.unwrap();
    assert_eq!(
        titles(&all),
        [
            "Phishing: invoice.pdf",
            "Brute force on vpn-01",
            "Port scan from 10.0.0.8",
            "beaconing from web-03",
            "Impossible travel for carol",
        ],
        "last activity first, deleted left out"
    );
    assert_eq!(all.next, None);
    let listed = all.items.iter().find(|o| o.case.id == ids[2]).unwrap();
    assert_eq!(
        listed.counts.observables, 1,
        "listed rows carry their counts"
    );

    let q = |f: fn(&mut CaseQuery)| {
        let mut query = sorted(CaseSortKey::Number, SortDirection::Asc);
        f(&mut query);
        query
    };
    let cases: Vec<(CaseQuery, Vec<&str>)> = vec![
        (
            q(|q| q.statuses = vec![CaseStatus::Open, CaseStatus::Resolved]),
            vec![
                "Phishing: invoice.pdf",
                "beaconing from web-03",
                "Impossible travel for carol",
                "Port scan from 10.0.0.8",
            ],
        ),
        (
            q(|q| q.severities = vec![Severity::Critical]),
            vec!["Phishing: invoice.pdf", "beaconing from web-03"],
        ),
        (
            q(|q| q.assignee = Some(AssigneeFilter::Is("alice".to_owned()))),
            vec!["Brute force on vpn-01", "Impossible travel for carol"],
        ),
        (
            q(|q| q.assignee = Some(AssigneeFilter::Unassigned)),
            vec!["beaconing from web-03", "Port scan from 10.0.0.8"],
        ),
        (
            q(|q| q.tag = Some("AUTH".to_owned())),
            vec!["Brute force on vpn-01", "Impossible travel for carol"],
        ),
        (
            q(|q| q.observable = Some("C2.Example.NET".to_owned())),
            vec!["beaconing from web-03"],
        ),
        (
            q(|q| q.text = Some("FROM".to_owned())),
            vec!["beaconing from web-03", "Port scan from 10.0.0.8"],
        ),
        (
            q(|q| {
                q.text = Some("o".to_owned());
                q.severities = vec![Severity::Critical, Severity::High];
                q.assignee = Some(AssigneeFilter::Is("alice".to_owned()));
            }),
            vec!["Brute force on vpn-01"],
        ),
        (
            q(|q| q.include_deleted = true),
            vec![
                "Brute force on vpn-01",
                "Phishing: invoice.pdf",
                "beaconing from web-03",
                "Impossible travel for carol",
                "Port scan from 10.0.0.8",
                "Old duplicate",
            ],
        ),
    ];
    for (query, expected) in cases {
        let page = store.list_cases(&query).await.unwrap();
        assert_eq!(titles(&page), expected, "{query:?}");
    }

    let orders: Vec<(CaseSortKey, SortDirection, Vec<&str>)> = vec![
        (
            CaseSortKey::Number,
            SortDirection::Desc,
            vec![
                "Port scan from 10.0.0.8",
                "Impossible travel for carol",
                "beaconing from web-03",
                "Phishing: invoice.pdf",
                "Brute force on vpn-01",
            ],
        ),
        (
            CaseSortKey::Title,
            SortDirection::Asc,
            vec![
                "beaconing from web-03",
                "Brute force on vpn-01",
                "Impossible travel for carol",
                "Phishing: invoice.pdf",
                "Port scan from 10.0.0.8",
            ],
        ),
        (
            CaseSortKey::Assignee,
            SortDirection::Asc,
            vec![
                "beaconing from web-03",
                "Port scan from 10.0.0.8",
                "Brute force on vpn-01",
                "Impossible travel for carol",
                "Phishing: invoice.pdf",
            ],
        ),
        (
            CaseSortKey::Status,
            SortDirection::Asc,
            vec![
                "beaconing from web-03",
                "Impossible travel for carol",
                "Port scan from 10.0.0.8",
                "Brute force on vpn-01",
                "Phishing: invoice.pdf",
            ],
        ),
        (
            CaseSortKey::CreatedAt,
            SortDirection::Asc,
            vec![
                "Brute force on vpn-01",
                "Phishing: invoice.pdf",
                "beaconing from web-03",
                "Impossible travel for carol",
                "Port scan from 10.0.0.8",
            ],
        ),
        (
            CaseSortKey::StatusChangedAt,
            SortDirection::Desc,
            vec![
                "Phishing: invoice.pdf",
                "Brute force on vpn-01",
                "Port scan from 10.0.0.8",
                "Impossible travel for carol",
                "beaconing from web-03",
            ],
        ),
    ];
    for (key, direction, expected) in orders {
        let page = store.list_cases(&sorted(key, direction)).await.unwrap();
        assert_eq!(titles(&page), expected, "{key} {direction}");
    }
    // Severity ties are ordered by id, in the sort's direction.
    let by_severity = store
        .list_cases(&sorted(CaseSortKey::Severity, SortDirection::Desc))
        .await
        .unwrap();
    let severities: Vec<Severity> = by_severity.items.iter().map(|o| o.case.severity).collect();
    assert_eq!(
        severities,
        [
            Severity::Critical,
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low
        ]
    );
    assert!(by_severity.items[0].case.id > by_severity.items[1].case.id);

    let everything = store.case_kpis(&CaseQuery::default()).await.unwrap();
    assert_eq!(
        everything,
        CaseKpis {
            total: 5,
            open: 4,
            critical: 2,
            resolved: 1
        }
    );
    let tab = CaseQuery {
        statuses: vec![CaseStatus::Resolved],
        severities: vec![Severity::Critical, Severity::Medium],
        ..CaseQuery::default()
    };
    assert_eq!(
        store.case_kpis(&tab).await.unwrap(),
        CaseKpis {
            total: 3,
            open: 2,
            critical: 2,
            resolved: 1
        },
        "the counts ignore the status tab, not the other filters"
    );
    h.cleanup(store).await;
}

/// Keyset pages under every sort key join up to the whole listing with no
/// case twice, also when cases are created and edited between pages; a
/// cursor from another sort is refused.
pub async fn case_list_pages_by_keyset_without_repeats<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let severities = [Severity::High, Severity::Low, Severity::Critical];
    for i in 0..11 {
        clock.advance(Duration::seconds(1));
        store
            .create_case(
                "soar",
                NewCase {
                    title: format!("Case {}", (b'a' + (i * 7 % 11) as u8) as char),
                    severity: severities[i % 3],
                    assignee: (i % 2 == 0).then(|| format!("analyst-{}", i % 4)),
                    ..NewCase::default()
                },
            )
            .await
            .unwrap();
    }
    for key in CaseSortKey::ALL.iter().copied() {
        for direction in SortDirection::ALL.iter().copied() {
            let mut query = CaseQuery {
                limit: 4,
                ..sorted(key, direction)
            };
            let whole = store
                .list_cases(&CaseQuery {
                    limit: 100,
                    ..query.clone()
                })
                .await
                .unwrap();
            let mut paged = Vec::new();
            loop {
                let page = store.list_cases(&query).await.unwrap();
                paged.extend(page.items.iter().map(|o| o.case.id));
                match page.next {
                    Some(cursor) => query.after = Some(cursor),
                    None => break,
                }
            }
            let expected: Vec<CaseId> = whole.items.iter().map(|o| o.case.id).collect();
            assert_eq!(paged, expected, "{key} {direction}");
        }
    }

    // Created and edited cases between pages never repeat or hide others.
    let mut query = CaseQuery {
        limit: 3,
        ..sorted(CaseSortKey::CreatedAt, SortDirection::Asc)
    };
    let mut seen = Vec::new();
    loop {
        let page = store.list_cases(&query).await.unwrap();
        seen.extend(page.items.iter().map(|o| o.case.id));
        if let Some(first) = page.items.first() {
            store
                .assign_case(first.case.id, "carol", Some("carol".to_owned()))
                .await
                .unwrap();
        }
        match page.next {
            Some(cursor) => query.after = Some(cursor),
            None => break,
        }
        if seen.len() < 12 {
            clock.advance(Duration::seconds(1));
            store
                .create_case("soar", new_case("Late arrival"))
                .await
                .unwrap();
        }
    }
    let unique: BTreeSet<CaseId> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no case twice");
    let everything = store
        .list_cases(&CaseQuery {
            limit: 500,
            ..CaseQuery::default()
        })
        .await
        .unwrap();
    assert!(
        everything.items.len() > 11,
        "cases were created while paging"
    );
    assert_eq!(unique.len(), everything.items.len(), "every case was seen");

    let cursor = store
        .list_cases(&CaseQuery {
            limit: 2,
            ..sorted(CaseSortKey::Number, SortDirection::Asc)
        })
        .await
        .unwrap()
        .next
        .unwrap();
    assert_invalid(
        store
            .list_cases(&CaseQuery {
                after: Some(cursor),
                ..sorted(CaseSortKey::Title, SortDirection::Asc)
            })
            .await,
        "after",
    );
    h.cleanup(store).await;
}

/// How many alerts and observables a case is given.
type Shape = (usize, usize);

/// The alert and observable counts sort the listing in both directions,
/// equal counts by id in the sort's direction, and a keyset walk of
/// one-case pages through those ties is the whole listing, each case once.
pub async fn case_list_sorts_by_alert_and_observable_counts_with_ties_by_id<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    // (alerts, observables) per case: ties on each key, and the two keys
    // order the cases differently.
    let shape: [Shape; 6] = [(2, 0), (0, 3), (2, 1), (0, 0), (1, 3), (2, 1)];
    let mut ids = Vec::new();
    for (i, (alerts, observables)) in shape.iter().enumerate() {
        clock.advance(Duration::seconds(1));
        let id = store
            .create_case("soar", new_case(&format!("Case {i}")))
            .await
            .unwrap()
            .id;
        for a in 0..*alerts {
            store
                .link_alert(id, "soar", &format!("alert-{i}-{a}"))
                .await
                .unwrap();
        }
        for o in 0..*observables {
            add(&store, id, ObservableType::Ip, &format!("10.0.{i}.{o}")).await;
        }
        ids.push(id);
    }
    // The expected order: the count, then the id, both in the direction.
    let count = |key: CaseSortKey, s: &Shape| {
        if key == CaseSortKey::AlertCount {
            s.0
        } else {
            s.1
        }
    };
    let expected = |key: CaseSortKey, direction: SortDirection| {
        let mut order: Vec<(usize, CaseId)> = shape
            .iter()
            .map(|s| count(key, s))
            .zip(ids.iter().copied())
            .collect();
        order.sort();
        if direction == SortDirection::Desc {
            order.reverse();
        }
        order.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };
    for key in [CaseSortKey::AlertCount, CaseSortKey::ObservableCount] {
        for direction in SortDirection::ALL.iter().copied() {
            let whole = store.list_cases(&sorted(key, direction)).await.unwrap();
            let listed: Vec<CaseId> = whole.items.iter().map(|o| o.case.id).collect();
            assert_eq!(listed, expected(key, direction), "{key} {direction}");
            let listed_counts: Vec<i64> = whole
                .items
                .iter()
                .map(|o| match key {
                    CaseSortKey::AlertCount => o.counts.alerts,
                    _ => o.counts.observables,
                })
                .collect();
            let mut monotone = listed_counts.clone();
            monotone.sort_unstable();
            if direction == SortDirection::Desc {
                monotone.reverse();
            }
            assert_eq!(listed_counts, monotone, "the counts it lists are in order");

            let mut query = CaseQuery {
                limit: 1,
                ..sorted(key, direction)
            };
            let mut walked = Vec::new();
            loop {
                let page = store.list_cases(&query).await.unwrap();
                walked.extend(page.items.iter().map(|o| o.case.id));
                match page.next {
                    Some(cursor) => query.after = Some(cursor),
                    None => break,
                }
                assert!(
                    walked.len() <= ids.len(),
                    "{key} {direction}: the walk does not end"
                );
            }
            assert_eq!(walked, listed, "{key} {direction}: one-case pages");
        }
    }
    h.cleanup(store).await;
}

/// Cases sharing two or more observables (type and value) are related,
/// scored by their overlap; one shared value, another type or a deleted
/// case does not count.
pub async fn related_cases_share_two_or_more_observables<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let a = store.create_case("soar", new_case("A")).await.unwrap().id;
    let b = store.create_case("soar", new_case("B")).await.unwrap().id;
    let c = store.create_case("soar", new_case("C")).await.unwrap().id;
    let d = store.create_case("soar", new_case("D")).await.unwrap().id;
    let e = store.create_case("soar", new_case("E")).await.unwrap().id;
    for case in [a, b, c, d, e] {
        add(&store, case, ObservableType::Ip, "185.220.101.4").await;
    }
    for case in [a, b, d] {
        add(&store, case, ObservableType::Domain, "c2.example.net").await;
    }
    add(&store, a, ObservableType::Host, "web-03").await;
    add(&store, e, ObservableType::Domain, "web-03.example.net").await;
    add(&store, e, ObservableType::User, "web-03").await;
    store.delete_case(d, "soar", None).await.unwrap();

    let related = store.related_cases(a).await.unwrap();
    assert_eq!(related.len(), 1, "{related:?}");
    assert_eq!(related[0].case.id, b);
    let shared: Vec<(ObservableType, &str)> = related[0]
        .shared
        .iter()
        .map(|s| (s.kind, s.value.as_str()))
        .collect();
    assert_eq!(
        shared,
        [
            (ObservableType::Domain, "c2.example.net"),
            (ObservableType::Ip, "185.220.101.4")
        ]
    );
    assert!(
        (related[0].score - 2.0 / 3.0).abs() < 1e-9,
        "{}",
        related[0].score
    );
    assert!(store.related_cases(c).await.unwrap().is_empty());
    h.cleanup(store).await;
}
