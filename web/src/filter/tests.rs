use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pretty_assertions::assert_eq;

use super::*;
use crate::testing::{demo_index, scenario};

/// A query: `(name, value)` pairs.
type Q<'a> = &'a [(&'a str, &'a str)];

fn pairs(q: Q<'_>) -> Vec<(String, String)> {
    q.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

#[test]
fn bad_parameters_are_named() {
    let cases: &[(&str, Q<'_>, bool, &str)] = &[
        ("unknown", &[("colour", "red")], false, "colour"),
        ("repeated", &[("node", "a"), ("node", "b")], false, "node"),
        ("limit zero", &[("limit", "0")], false, "limit"),
        ("limit too big", &[("limit", "10001")], false, "limit"),
        ("limit not a number", &[("limit", "ten")], false, "limit"),
        ("since garbage", &[("since", "yesterday")], false, "since"),
        ("since negative", &[("since", "-5m")], false, "since"),
        (
            "until before since",
            &[("since", "1000"), ("until", "10")],
            false,
            "until",
        ),
        ("until on a stream", &[("until", "5m")], true, "until"),
        ("action", &[("action", "drop")], false, "action"),
        ("direction", &[("direction", "up")], false, "direction"),
        ("tier", &[("tier", "np-2")], false, "tier"),
        ("empty namespace", &[("namespace", "")], false, "namespace"),
        ("port", &[("port", "70000")], false, "port"),
        ("protocol", &[("protocol", "quic")], false, "protocol"),
    ];
    for (name, q, stream, param) in cases {
        match Filter::parse(&pairs(q), now(), *stream) {
            Err(Error::BadParam { param: got, .. }) => assert_eq!(&got, param, "{name}"),
            other => panic!("{name}: expected a bad `{param}`, got {other:?}"),
        }
    }
}

#[test]
fn times_parse_in_three_spellings() {
    let now_ns = 1_800_000_000_000_000_000u64;
    let cases = [
        ("duration back from now", "5m", now_ns - 300_000_000_000),
        (
            "rfc 3339",
            "2027-01-15T08:00:00Z",
            1_800_000_000_000_000_000,
        ),
        ("nanoseconds", "42", 42),
    ];
    for (name, value, want) in cases {
        let f = Filter::parse(&pairs(&[("since", value)]), now(), false).unwrap();
        assert_eq!(f.since, Some(want), "{name}");
    }
    let f = Filter::parse(&pairs(&[("access_token", "x")]), now(), false).unwrap();
    assert_eq!(f, Filter::default(), "the token is not a filter");
}

#[test]
fn filters_match_the_scenario() {
    let index = demo_index();
    let events = scenario(&index, SystemTime::now());
    // Flows: web→api:8080 allow, web→api:9999 deny, api→postgres:5432 allow,
    // web→postgres deny, web→metadata deny (ANP), worker→api:80 deny.
    let cases: &[(&str, Q<'_>, &[usize])] = &[
        ("everything", &[], &[0, 1, 2, 3, 4, 5]),
        ("denies", &[("action", "deny")], &[1, 3, 4, 5]),
        ("namespace db", &[("namespace", "db")], &[2, 3]),
        ("pod by name", &[("pod", "api-0")], &[0, 1, 2, 5]),
        ("pod by ns/name", &[("pod", "db/postgres-0")], &[2, 3]),
        (
            "policy deciding",
            &[("policy", "backend/allow-web")],
            &[0, 1, 5],
        ),
        (
            "policy isolating too",
            &[("policy", "backend/default-deny")],
            &[0, 1, 5],
        ),
        (
            "cluster-scoped policy",
            &[("policy", "block-metadata")],
            &[4],
        ),
        ("tier anp", &[("tier", "anp")], &[4]),
        ("tier default", &[("tier", "Default")], &[]),
        (
            "egress judged",
            &[("direction", "egress")],
            &[0, 1, 2, 3, 4],
        ),
        ("node", &[("node", "n2")], &[]),
        ("src workload", &[("src", "frontend/web")], &[0, 1, 3, 4]),
        (
            "edge",
            &[
                ("src", "frontend/web"),
                ("dst", "backend/api"),
                ("port", "8080"),
                ("protocol", "tcp"),
            ],
            &[0],
        ),
    ];
    for (name, q, want) in cases {
        let f = Filter::parse(&pairs(q), SystemTime::now(), false).unwrap();
        let got: Vec<usize> = (0..events.len())
            .filter(|i| f.matches(&events[*i]))
            .collect();
        assert_eq!(&got, want, "{name}");
    }
}
