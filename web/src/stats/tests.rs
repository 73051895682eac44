use std::time::{Duration, UNIX_EPOCH};

use pretty_assertions::assert_eq;
use verdict_engine::PolicyKind;

use super::*;
use crate::testing::{demo_index, scenario};

fn np(ns: &str, name: &str) -> PolicyRef {
    PolicyRef {
        kind: PolicyKind::NetworkPolicy,
        namespace: Some(ns.into()),
        name: name.into(),
        tier: None,
        priority: None,
    }
}

#[test]
fn counts_hits_rates_and_edges() {
    let index = demo_index();
    let end = UNIX_EPOCH + Duration::from_millis(1_800_000_030_500);
    let events = scenario(&index, end);
    let mut a = Aggregates::default();
    for e in &events {
        a.record(e);
    }
    assert_eq!((a.total, a.allow, a.deny), (6, 2, 4));
    let hit = |policy: PolicyRef, kind, rule| {
        a.hit(&HitKey {
            policy,
            direction: Direction::Ingress,
            kind,
            rule,
        })
        .map(|h| h.count)
    };
    let cases = [
        (
            "allowing rule 0",
            hit(np("backend", "allow-web"), HitKind::Rule, Some(0)),
            Some(1),
        ),
        (
            "rule 1 never hit",
            hit(np("backend", "allow-web"), HitKind::Rule, Some(1)),
            None,
        ),
        (
            "isolation denies",
            hit(np("backend", "default-deny"), HitKind::Isolation, None),
            Some(2),
        ),
        (
            "db isolation",
            hit(np("db", "allow-api"), HitKind::Isolation, None),
            Some(1),
        ),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
    let series = a.series(1_800_000_031, 3);
    assert_eq!(
        series.iter().map(|s| (s.allow, s.deny)).collect::<Vec<_>>(),
        [(0, 0), (2, 4), (0, 0)],
        "the scenario falls in one second"
    );
    assert_eq!(a.rates(1_800_000_031, 10), (0.2, 0.4));
    let edges = a.edges(1_800_000_031, 300);
    let web_api: Vec<(u16, u64, u64)> = edges
        .iter()
        .filter(|e| e.source == "frontend/web" && e.target == "backend/api")
        .map(|e| (e.port, e.allow, e.deny))
        .collect();
    assert_eq!(web_api.len(), 2);
    assert!(web_api.contains(&(8080, 1, 0)) && web_api.contains(&(9999, 0, 1)));
    assert!(
        edges
            .iter()
            .any(|e| e.target == "169.254.169.254" && e.target_group == "external")
    );
    assert!(
        a.edges(1_800_000_030 + 3_600, 60).is_empty(),
        "old buckets leave the window"
    );
}
