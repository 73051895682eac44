use super::*;
use crate::{Direction, PolicyKind, Tier};

/// (case, policies in namespace x, flow, expected verdict)
type Case = (&'static str, Vec<ClusterObject>, crate::Flow, Verdict);

fn run(cases: Vec<Case>) {
    for (name, policies, flow, want) in cases {
        let index = cluster(policies);
        expect(name, &index.evaluate(&flow), want);
    }
}

#[test]
fn isolation_and_policy_types() {
    run(vec![
        ("no policy allows", vec![], tcp(YB, XA, 80), Verdict::Allow),
        (
            "empty policy isolates ingress",
            vec![netpol("x", "deny").into()],
            tcp(YB, XA, 80),
            Verdict::Deny,
        ),
        (
            "empty policy does not isolate egress",
            vec![netpol("x", "deny").into()],
            tcp(XA, YB, 80),
            Verdict::Allow,
        ),
        (
            "egress rules default policyTypes to both",
            vec![
                netpol("x", "p")
                    .egress(np_rule().pods(sel([("pod", "b")])))
                    .into(),
            ],
            tcp(XA, YB, 80),
            Verdict::Deny,
        ),
        (
            "egress rules defaulting also isolates ingress",
            vec![netpol("x", "p").egress(np_rule()).into()],
            tcp(YB, XA, 80),
            Verdict::Deny,
        ),
        (
            "explicit Egress only leaves ingress open",
            vec![netpol("x", "p").policy_types(&["Egress"]).into()],
            tcp(YB, XA, 80),
            Verdict::Allow,
        ),
        (
            "explicit Egress with no rules denies egress",
            vec![netpol("x", "p").policy_types(&["Egress"]).into()],
            tcp(XA, YB, 80),
            Verdict::Deny,
        ),
        (
            "empty egress list does not add Egress",
            vec![netpol("x", "p").no_egress_rules().into()],
            tcp(XA, YB, 80),
            Verdict::Allow,
        ),
        (
            "policy in another namespace does not select",
            vec![netpol("y", "deny").into()],
            tcp(XB, XA, 80),
            Verdict::Allow,
        ),
        (
            "podSelector limits isolation",
            vec![netpol("x", "p").pod_selector(sel([("pod", "b")])).into()],
            tcp(YB, XA, 80),
            Verdict::Allow,
        ),
        (
            "rules are ORed across policies",
            vec![
                netpol("x", "deny").into(),
                netpol("x", "allow-yb")
                    .ingress(
                        np_rule().namespaces_and_pods(sel([("team", "b")]), sel([("pod", "b")])),
                    )
                    .into(),
            ],
            tcp(YB, XA, 80),
            Verdict::Allow,
        ),
        (
            "empty rule allows everything",
            vec![netpol("x", "p").ingress(np_rule()).into()],
            tcp(OUTSIDE, XA, 80),
            Verdict::Allow,
        ),
        (
            "both directions must allow",
            vec![
                netpol("x", "p").policy_types(&["Egress"]).into(),
                netpol("y", "q").ingress(np_rule()).into(),
            ],
            tcp(XA, YB, 80),
            Verdict::Deny,
        ),
    ]);
}

#[test]
fn peers() {
    let allow =
        |rule: NpRule| -> Vec<ClusterObject> { vec![netpol("x", "p").ingress(rule).into()] };
    run(vec![
        (
            "podSelector means own namespace: x/b allowed",
            allow(np_rule().pods(sel([("pod", "b")]))),
            tcp(XB, XA, 80),
            Verdict::Allow,
        ),
        (
            "podSelector means own namespace: y/b denied",
            allow(np_rule().pods(sel([("pod", "b")]))),
            tcp(YB, XA, 80),
            Verdict::Deny,
        ),
        (
            "namespaceSelector only: all pods of y",
            allow(np_rule().namespaces(sel([("team", "b")]))),
            tcp(YA, XA, 80),
            Verdict::Allow,
        ),
        (
            "namespaceSelector only: not x",
            allow(np_rule().namespaces(sel([("team", "b")]))),
            tcp(XB, XA, 80),
            Verdict::Deny,
        ),
        (
            "namespaceSelector by metadata.name label",
            allow(np_rule().namespaces(sel([("kubernetes.io/metadata.name", "y")]))),
            tcp(YA, XA, 80),
            Verdict::Allow,
        ),
        (
            "both selectors ANDed: match",
            allow(np_rule().namespaces_and_pods(sel([("team", "b")]), sel([("pod", "b")]))),
            tcp(YB, XA, 80),
            Verdict::Allow,
        ),
        (
            "both selectors ANDed: wrong pod",
            allow(np_rule().namespaces_and_pods(sel([("team", "b")]), sel([("pod", "b")]))),
            tcp(YA, XA, 80),
            Verdict::Deny,
        ),
        (
            "both selectors ANDed: wrong namespace",
            allow(np_rule().namespaces_and_pods(sel([("team", "b")]), sel([("pod", "b")]))),
            tcp(XB, XA, 80),
            Verdict::Deny,
        ),
        (
            "selectors never match external",
            allow(np_rule().namespaces(sel([]))),
            tcp(OUTSIDE, XA, 80),
            Verdict::Deny,
        ),
        (
            "selectors never match nodes",
            allow(np_rule().namespaces(sel([]))),
            tcp(N2, XA, 80),
            Verdict::Deny,
        ),
        (
            "a pod's own node is always allowed in (kubelet probes)",
            allow(np_rule().pods(sel([("pod", "nobody")]))),
            tcp(N1, XA, 80),
            Verdict::Allow,
        ),
        (
            "a pod's egress to its own node is not exempt",
            vec![netpol("x", "no-egress").policy_types(&["Egress"]).into()],
            tcp(XA, N1, 80),
            Verdict::Deny,
        ),
        (
            "ipBlock matches external",
            allow(np_rule().ip_block("203.0.113.0/24", &[])),
            tcp(OUTSIDE, XA, 80),
            Verdict::Allow,
        ),
        (
            "ipBlock except",
            allow(np_rule().ip_block("203.0.113.0/24", &["203.0.113.8/29"])),
            tcp(OUTSIDE, XA, 80),
            Verdict::Deny,
        ),
        (
            "ipBlock matches pod IPs",
            allow(np_rule().ip_block("10.0.1.0/24", &[])),
            tcp(YB, XA, 80),
            Verdict::Allow,
        ),
        (
            "ipBlock matches node IPs",
            allow(np_rule().ip_block("192.168.0.0/24", &[])),
            tcp(N2, XA, 80),
            Verdict::Allow,
        ),
        (
            "ipBlock with host bits is masked",
            allow(np_rule().ip_block("203.0.113.77/24", &[])),
            tcp(OUTSIDE, XA, 80),
            Verdict::Allow,
        ),
        (
            "ipBlock v4 never matches v6",
            allow(np_rule().ip_block("0.0.0.0/0", &[])),
            tcp("2001:db8::1", XA, 80),
            Verdict::Deny,
        ),
        (
            "ipBlock ::/0 matches v6",
            allow(np_rule().ip_block("::/0", &[])),
            tcp("2001:db8::1", XA, 80),
            Verdict::Allow,
        ),
    ]);
}

#[test]
fn egress_peers() {
    let allow = |rule: NpRule| -> Vec<ClusterObject> {
        vec![
            netpol("x", "p")
                .policy_types(&["Egress"])
                .egress(rule)
                .into(),
        ]
    };
    run(vec![
        (
            "egress to selected pod",
            allow(np_rule().pods(sel([("pod", "b")]))),
            tcp(XA, XB, 80),
            Verdict::Allow,
        ),
        (
            "egress to other pod",
            allow(np_rule().pods(sel([("pod", "b")]))),
            tcp(XA, YB, 80),
            Verdict::Deny,
        ),
        (
            "egress to external via ipBlock",
            allow(np_rule().ip_block("203.0.113.0/24", &[])),
            tcp(XA, OUTSIDE, 443),
            Verdict::Allow,
        ),
        (
            "egress to external without ipBlock",
            allow(np_rule().namespaces(sel([]))),
            tcp(XA, OUTSIDE, 443),
            Verdict::Deny,
        ),
        (
            "egress to node via selectors",
            allow(np_rule().namespaces(sel([]))),
            tcp(XA, N1, 10250),
            Verdict::Deny,
        ),
    ]);
}

#[test]
fn host_network_pods_are_node_traffic() {
    let objects = vec![
        pod("x", "h")
            .labels([("pod", "a")])
            .ip(N2)
            .node("n2")
            .host_network()
            .into(),
        netpol("x", "deny").into(),
        netpol("x", "from-pod-a")
            .ingress(np_rule().pods(sel([("pod", "a")])))
            .into(),
    ];
    let index = cluster(objects);
    // The hostNetwork pod is not selected, so it is not isolated.
    expect(
        "to hostNetwork pod",
        &index.evaluate(&tcp(YB, N2, 80)),
        Verdict::Allow,
    );
    // Its traffic is the node's: podSelector peers do not match it even with matching labels.
    let d = index.evaluate(&tcp(N2, XA, 80));
    expect("from hostNetwork pod", &d, Verdict::Deny);
    assert_eq!(d.src, crate::Endpoint::Node { name: "n2".into() });
    // The same pod's node may always reach pods on it, whatever isolates them.
    expect(
        "from own node",
        &index.evaluate(&tcp(N1, XA, 80)),
        Verdict::Allow,
    );
    assert!(
        index
            .selected_pod_ips("n2")
            .v4
            .iter()
            .all(|ip| ip.to_string() != N2)
    );
}

#[test]
fn host_network_pod_without_node_object_still_resolves_to_node() {
    let index = index_of([pod("x", "h")
        .ip("172.16.0.5")
        .node("edge")
        .host_network()
        .into()]);
    assert_eq!(
        index.endpoint("172.16.0.5".parse().unwrap()),
        crate::Endpoint::Node {
            name: "edge".into()
        }
    );
}

#[test]
fn attribution_of_allow_and_deny() {
    let index = cluster([
        netpol("x", "b-allow")
            .ingress(np_rule().pods(sel([("pod", "zzz")])))
            .ingress(np_rule().namespaces(sel([("team", "b")])))
            .into(),
        netpol("x", "a-deny").into(),
    ]);
    let d = index.evaluate(&tcp(YB, XA, 80));
    expect("allowed by second rule", &d, Verdict::Allow);
    assert_eq!(d.ingress.tier, Tier::NetworkPolicy);
    let policy = d.ingress.policy.clone().unwrap();
    assert_eq!(
        (&*policy.name, policy.kind),
        ("b-allow", PolicyKind::NetworkPolicy)
    );
    assert_eq!(d.ingress.rule.as_ref().map(|r| r.index), Some(1));
    let names: Vec<&str> = d.ingress.isolated_by.iter().map(|p| &*p.name).collect();
    assert_eq!(names, ["a-deny", "b-allow"]);
    assert_eq!(d.egress.tier, Tier::Default);

    let d = index.evaluate(&tcp(XB, XA, 80));
    expect("denied by isolation", &d, Verdict::Deny);
    assert_eq!(d.ingress.direction, Direction::Ingress);
    assert_eq!(d.ingress.policy, None);
    assert_eq!(d.ingress.rule, None);
    assert_eq!(d.ingress.isolated_by.len(), 2);
}

#[test]
fn evaluate_direction_matches_evaluate() {
    let index = cluster([
        netpol("x", "p")
            .egress(np_rule().pods(sel([("pod", "b")])))
            .into(),
        netpol("y", "q")
            .ingress(np_rule().namespaces(sel([("team", "a")])))
            .into(),
    ]);
    for flow in [
        tcp(XA, XB, 80),
        tcp(XA, YB, 80),
        tcp(YA, XA, 80),
        tcp(XB, YA, 53),
    ] {
        let whole = index.evaluate(&flow);
        assert_eq!(
            index.evaluate_direction(&flow, Direction::Egress),
            whole.egress,
            "{flow}"
        );
        assert_eq!(
            index.evaluate_direction(&flow, Direction::Ingress),
            whole.ingress,
            "{flow}"
        );
    }
}

#[test]
fn pods_without_ip_or_terminated_are_selected_but_unaddressable() {
    let index = index_of([
        pod("x", "pending").labels([("pod", "a")]).into(),
        pod("x", "done")
            .labels([("pod", "a")])
            .ip("10.0.0.7")
            .phase("Succeeded")
            .into(),
        netpol("x", "deny").into(),
    ]);
    assert_eq!(index.pod_ips("x", "pending"), Some(vec![]));
    assert_eq!(index.pod_ips("x", "done"), Some(vec![]));
    assert_eq!(index.pod_ips("x", "missing"), None);
    assert_eq!(
        index.endpoint("10.0.0.7".parse().unwrap()),
        crate::Endpoint::External {
            ip: "10.0.0.7".parse().unwrap()
        }
    );
}

#[test]
fn unknown_namespace_still_has_its_name_label() {
    let index = index_of([
        pod("ghost", "a").ip("10.9.0.1").into(),
        pod("x", "a").ip(XA).into(),
        netpol("x", "p")
            .ingress(np_rule().namespaces(sel([("kubernetes.io/metadata.name", "ghost")])))
            .into(),
    ]);
    expect(
        "ghost namespace by name",
        &index.evaluate(&tcp("10.9.0.1", XA, 80)),
        Verdict::Allow,
    );
}
