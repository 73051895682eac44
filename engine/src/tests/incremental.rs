use super::*;

fn apply(index: &mut Index, object: impl Into<ClusterObject>) {
    index.apply(&object.into()).expect("valid object");
}

/// After every step, the incrementally updated index must decide like one built from scratch.
fn assert_same_as_rebuilt(name: &str, index: &Index, objects: &[ClusterObject]) {
    let rebuilt = index_of(objects.to_vec());
    let ips = [XA, XB, YA, YB, N1, OUTSIDE, "10.0.0.9"];
    for src in ips {
        for dst in ips {
            for flow in [tcp(src, dst, 80), udp(src, dst, 53)] {
                assert_eq!(
                    index.evaluate(&flow),
                    rebuilt.evaluate(&flow),
                    "step {name:?}, flow {flow}"
                );
            }
        }
    }
    for node in ["n1", "n2"] {
        assert_eq!(
            index.selected_pod_ips(node),
            rebuilt.selected_pod_ips(node),
            "step {name:?}, node {node}"
        );
    }
}

#[test]
fn steps_match_a_rebuilt_index() {
    let mut objects = base();
    let mut index = index_of(objects.clone());
    let steps: Vec<(&str, ClusterObject)> = vec![
        (
            "NP selecting pod=b",
            netpol("x", "only-b")
                .pod_selector(sel([("pod", "b")]))
                .ingress(np_rule().namespaces(sel([("team", "b")])))
                .into(),
        ),
        (
            "relabel x/a to pod=b",
            pod("x", "a")
                .labels([("pod", "b")])
                .ip(XA)
                .node("n1")
                .into(),
        ),
        (
            "ANP on team=b",
            anp("ops", 5)
                .subject(subject_namespaces(sel([("team", "b")])))
                .egress(admin_rule("Deny").peer(peer_namespaces(sel([("team", "a")]))))
                .into(),
        ),
        (
            "relabel namespace x to team=b",
            namespace("x").labels([("team", "b")]).into(),
        ),
        (
            "BANP on pod=a",
            banp()
                .subject(subject_pods(sel([]), sel([("pod", "a")])))
                .ingress(admin_rule("Deny").peer(peer_namespaces(sel([]))))
                .into(),
        ),
        (
            "change the NP selector",
            netpol("x", "only-b")
                .pod_selector(sel([("pod", "a")]))
                .into(),
        ),
        (
            "ANP priority change",
            anp("ops", 500)
                .subject(subject_namespaces(sel([])))
                .egress(admin_rule("Pass").peer(peer_namespaces(sel([]))))
                .into(),
        ),
        (
            "second ANP before it",
            anp("first", 1)
                .subject(subject_namespaces(sel([("team", "a")])))
                .ingress(admin_rule("Allow").peer(peer_pods(sel([]), sel([("pod", "b")]))))
                .into(),
        ),
        (
            "new pod reusing nothing",
            pod("x", "c")
                .labels([("pod", "a")])
                .ip("10.0.0.9")
                .node("n1")
                .into(),
        ),
        (
            "namespace relabel back",
            namespace("x").labels([("team", "a")]).into(),
        ),
    ];
    for (name, object) in steps {
        apply(&mut index, object.clone());
        objects.push(object);
        assert_same_as_rebuilt(name, &index, &objects);
    }
}

#[test]
fn relabel_pod_changes_selection() {
    let mut index = cluster([netpol("x", "p").pod_selector(sel([("pod", "a")])).into()]);
    expect("selected", &index.evaluate(&tcp(YB, XA, 80)), Verdict::Deny);
    apply(
        &mut index,
        pod("x", "a").labels([("pod", "z")]).ip(XA).node("n1"),
    );
    expect(
        "relabelled away",
        &index.evaluate(&tcp(YB, XA, 80)),
        Verdict::Allow,
    );
    apply(
        &mut index,
        pod("x", "b").labels([("pod", "a")]).ip(XB).node("n1"),
    );
    expect(
        "relabelled in",
        &index.evaluate(&tcp(YB, XB, 80)),
        Verdict::Deny,
    );
}

#[test]
fn relabel_namespace_changes_peers_and_subjects() {
    let mut index = cluster([
        netpol("x", "from-team-c")
            .ingress(np_rule().namespaces(sel([("team", "c")])))
            .into(),
        anp("deny-c", 1)
            .subject(subject_namespaces(sel([("team", "c")])))
            .egress(admin_rule("Deny").peer(peer_networks(&["203.0.113.0/24"])))
            .into(),
    ]);
    expect(
        "peer not yet",
        &index.evaluate(&tcp(YB, XA, 80)),
        Verdict::Deny,
    );
    expect(
        "subject not yet",
        &index.evaluate(&tcp(YB, OUTSIDE, 80)),
        Verdict::Allow,
    );
    apply(&mut index, namespace("y").labels([("team", "c")]));
    expect(
        "peer now",
        &index.evaluate(&tcp(YB, XA, 80)),
        Verdict::Allow,
    );
    expect(
        "subject now",
        &index.evaluate(&tcp(YB, OUTSIDE, 80)),
        Verdict::Deny,
    );
    assert!(index.delete_namespace("y"));
    expect(
        "namespace gone: peer no more",
        &index.evaluate(&tcp(YB, XA, 80)),
        Verdict::Deny,
    );
    assert!(!index.delete_namespace("y"));
}

#[test]
fn delete_policies() {
    let mut index = cluster([
        netpol("x", "deny").into(),
        anp("d", 1)
            .ingress(admin_rule("Deny").peer(peer_namespaces(sel([]))))
            .into(),
        banp()
            .ingress(admin_rule("Deny").peer(peer_namespaces(sel([]))))
            .into(),
    ]);
    expect(
        "all three",
        &index.evaluate(&tcp(YB, XA, 80)),
        Verdict::Deny,
    );
    assert!(index.delete_admin_network_policy("d"));
    assert!(!index.delete_admin_network_policy("d"));
    expect("NP still", &index.evaluate(&tcp(YB, XA, 80)), Verdict::Deny);
    assert!(index.delete_network_policy("x", "deny"));
    assert!(!index.delete_network_policy("x", "deny"));
    let d = index.evaluate(&tcp(YB, XA, 80));
    expect("BANP still", &d, Verdict::Deny);
    assert_eq!(d.ingress.tier, crate::Tier::BaselineAdminNetworkPolicy);
    assert!(!index.delete_baseline_admin_network_policy("other"));
    assert!(index.delete_baseline_admin_network_policy("default"));
    expect(
        "nothing left",
        &index.evaluate(&tcp(YB, XA, 80)),
        Verdict::Allow,
    );
}

#[test]
fn delete_pod_and_ip_reuse() {
    let mut index = cluster([netpol("x", "deny").into()]);
    // A new pod in y takes x/a's address before x/a's delete arrives: the newest owner wins.
    apply(&mut index, pod("y", "new").ip(XA).node("n2"));
    let d = index.evaluate(&tcp(YB, XA, 80));
    expect("new owner is not isolated", &d, Verdict::Allow);
    assert_eq!(d.dst.to_string(), "y/new");
    assert!(index.delete_pod("x", "a"));
    assert!(!index.delete_pod("x", "a"));
    assert_eq!(index.evaluate(&tcp(YB, XA, 80)).dst.to_string(), "y/new");
    assert!(index.delete_pod("y", "new"));
    assert_eq!(
        index.endpoint(XA.parse().unwrap()),
        crate::Endpoint::External {
            ip: XA.parse().unwrap()
        }
    );
    // The old owner's delete first, then the new owner: the address follows.
    apply(&mut index, pod("x", "a").ip(XA).node("n1"));
    assert_eq!(index.evaluate(&tcp(YB, XA, 80)).dst.to_string(), "x/a");
}

#[test]
fn pod_ip_change_moves_the_address() {
    let mut index = cluster([]);
    apply(
        &mut index,
        pod("x", "a")
            .labels([("pod", "a")])
            .ip("10.0.0.42")
            .node("n1"),
    );
    assert_eq!(
        index.pod_ips("x", "a"),
        Some(vec!["10.0.0.42".parse().unwrap()])
    );
    assert!(matches!(
        index.endpoint(XA.parse().unwrap()),
        crate::Endpoint::External { .. }
    ));
    // Finishing releases the address.
    apply(
        &mut index,
        pod("x", "a")
            .labels([("pod", "a")])
            .ip("10.0.0.42")
            .node("n1")
            .phase("Failed"),
    );
    assert!(matches!(
        index.endpoint("10.0.0.42".parse().unwrap()),
        crate::Endpoint::External { .. }
    ));
}

#[test]
fn generation_counts_effective_changes_only() {
    let mut index = Index::new();
    assert_eq!(index.generation(), 0);
    let steps: Vec<(&str, ClusterObject, bool)> = vec![
        (
            "namespace",
            namespace("x").labels([("a", "1")]).into(),
            true,
        ),
        (
            "same namespace",
            namespace("x").labels([("a", "1")]).into(),
            false,
        ),
        ("pod", pod("x", "a").ip(XA).into(), true),
        ("same pod", pod("x", "a").ip(XA).into(), false),
        (
            "pod relabel",
            pod("x", "a").labels([("k", "v")]).ip(XA).into(),
            true,
        ),
        ("policy", netpol("x", "p").into(), true),
        ("same policy", netpol("x", "p").into(), false),
        ("anp", anp("a", 1).into(), true),
        ("same anp", anp("a", 1).into(), false),
        ("node", node("n1").ip(N1).into(), true),
        ("same node", node("n1").ip(N1).into(), false),
        ("banp", banp().into(), true),
        ("same banp", banp().into(), false),
    ];
    for (name, object, changes) in steps {
        let before = index.generation();
        apply(&mut index, object);
        assert_eq!(index.generation() > before, changes, "step {name:?}");
    }
    let before = index.generation();
    assert!(index.delete_node("n1"));
    assert!(!index.delete_node("n1"));
    assert_eq!(index.generation(), before + 1);
}

#[test]
fn selected_pod_ips_per_node() {
    let mut index = cluster([]);
    let ips = |index: &Index, node: &str| -> Vec<String> {
        let s = index.selected_pod_ips(node);
        s.v4.iter()
            .map(|i| i.to_string())
            .chain(s.v6.iter().map(|i| i.to_string()))
            .collect()
    };
    assert!(ips(&index, "n1").is_empty(), "no policy selects anything");
    apply(
        &mut index,
        netpol("x", "eg")
            .pod_selector(sel([("pod", "b")]))
            .policy_types(&["Egress"]),
    );
    assert_eq!(ips(&index, "n1"), [XB]);
    assert!(ips(&index, "n2").is_empty());
    apply(
        &mut index,
        anp("y-only", 3).subject(subject_pods(sel([("team", "b")]), sel([("pod", "a")]))),
    );
    assert_eq!(ips(&index, "n2"), [YA]);
    apply(&mut index, banp().subject(subject_namespaces(sel([]))));
    assert_eq!(ips(&index, "n1"), [XA, XB]);
    apply(
        &mut index,
        pod("x", "dual").ip("10.0.0.20").ip("fd00::20").node("n1"),
    );
    apply(
        &mut index,
        pod("x", "host").ip(N1).node("n1").host_network(),
    );
    assert_eq!(ips(&index, "n1"), [XA, XB, "10.0.0.20", "fd00::20"]);
    assert!(index.delete_baseline_admin_network_policy("default"));
    assert_eq!(ips(&index, "n1"), [XB]);
}

#[test]
fn index_is_a_cheap_snapshot() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Index>();
    let index = cluster([netpol("x", "deny").into()]);
    let mut changed = index.clone();
    apply(&mut changed, netpol("x", "deny").ingress(np_rule()));
    expect(
        "snapshot unchanged",
        &index.evaluate(&tcp(YB, XA, 80)),
        Verdict::Deny,
    );
    expect(
        "clone changed",
        &changed.evaluate(&tcp(YB, XA, 80)),
        Verdict::Allow,
    );
}

#[test]
fn delete_by_object_dispatches_on_kind() {
    let objects: Vec<ClusterObject> = vec![
        namespace("x").into(),
        pod("x", "a").ip(XA).into(),
        node("n1").ip(N1).into(),
        netpol("x", "p").into(),
        anp("a", 1).into(),
        banp().into(),
    ];
    let mut index = index_of(objects.clone());
    for object in &objects {
        assert!(index.delete(object), "first delete of {object:?}");
        assert!(!index.delete(object), "second delete of {object:?}");
    }
    assert_eq!(index.stats(), crate::IndexStats::default());
}

/// A reused IP: a terminating old pod and a new running pod claim 10.0.0.1. The running pod
/// owns it in either arrival order (watch events or list order on a relist); only among
/// equals does the newest claim win.
#[test]
fn reused_ip_running_beats_terminating() {
    const IP: &str = "10.0.0.1";
    let old = |running: bool| {
        let p = pod("x", "old")
            .uid("uid-old")
            .labels([("pod", "a")])
            .ip(IP)
            .node("n1");
        if running { p } else { p.terminating() }
    };
    let new = |running: bool| {
        let p = pod("y", "new").uid("uid-new").ip(IP).node("n2");
        if running { p } else { p.terminating() }
    };
    let finished_new = || {
        pod("y", "new")
            .uid("uid-new")
            .ip(IP)
            .node("n2")
            .phase("Succeeded")
    };
    // (case, pods in arrival order, expected owner of the IP)
    let cases: Vec<(&str, Vec<PodBuilder>, &str)> = vec![
        (
            "terminating old first, running new second",
            vec![old(false), new(true)],
            "y/new",
        ),
        (
            "running new first, terminating old second",
            vec![new(true), old(false)],
            "y/new",
        ),
        (
            "both running: newest wins",
            vec![old(true), new(true)],
            "y/new",
        ),
        (
            "both running, other order: newest wins",
            vec![new(true), old(true)],
            "x/old",
        ),
        (
            "both terminating: newest wins",
            vec![old(false), new(false)],
            "y/new",
        ),
        (
            "a terminating newcomer does not take over",
            vec![old(true), new(false)],
            "x/old",
        ),
        (
            "a finished pod claims nothing",
            vec![old(false), finished_new()],
            "x/old",
        ),
    ];
    for (name, pods, want) in cases {
        let mut index = Index::new();
        for p in pods {
            apply(&mut index, p);
        }
        let ip = IP.parse().unwrap();
        assert_eq!(index.endpoint(ip).to_string(), want, "case {name:?}");
        let uid = format!("uid-{}", want.split('/').nth(1).unwrap());
        assert_eq!(
            index.pod_uid(ip).as_deref(),
            Some(uid.as_str()),
            "case {name:?}"
        );
    }
}

/// The same reuse, step by step against policy: x/old (isolated by a default deny) keeps the
/// address until it starts terminating, then y/new's (open) policies apply; the old pod's
/// delete changes nothing more, and a relist in the other order decides the same.
#[test]
fn reused_ip_follows_the_running_pod_incrementally() {
    let deny = netpol("x", "deny").pod_selector(sel([("pod", "a")]));
    let old = || {
        pod("x", "old")
            .uid("uid-old")
            .labels([("pod", "a")])
            .ip(XA)
            .node("n1")
    };
    let new = || pod("y", "new").uid("uid-new").ip(XA).node("n2");
    let mut index = cluster([deny.clone().into()]);
    assert!(index.delete_pod("x", "a"));
    apply(&mut index, old());
    apply(&mut index, new().terminating());
    expect(
        "old running owns it",
        &index.evaluate(&tcp(YB, XA, 80)),
        Verdict::Deny,
    );
    assert_eq!(
        index.pod_uid(XA.parse().unwrap()).as_deref(),
        Some("uid-old")
    );
    // The new pod's deletionTimestamp clears (it was a stale event): it is running and newest.
    apply(&mut index, new());
    let d = index.evaluate(&tcp(YB, XA, 80));
    expect("newest running owns it", &d, Verdict::Allow);
    assert_eq!(d.dst.to_string(), "y/new");
    // The old pod starts terminating: no change, the new one keeps it.
    apply(&mut index, old().terminating());
    assert_eq!(index.endpoint(XA.parse().unwrap()).to_string(), "y/new");
    // The new pod terminates too: both terminating, the newest claim (y/new) still wins.
    apply(&mut index, new().terminating());
    assert_eq!(index.endpoint(XA.parse().unwrap()).to_string(), "y/new");
    // y/new is gone: the terminating old pod is all that is left.
    assert!(index.delete_pod("y", "new"));
    expect(
        "old owns it again",
        &index.evaluate(&tcp(YB, XA, 80)),
        Verdict::Deny,
    );
    // A relist in either order, with the old pod terminating, gives the new one the address
    // and matches the incrementally updated index.
    apply(&mut index, new());
    let mut objects = base();
    objects.retain(|o| !matches!(o, ClusterObject::Pod(p) if p.metadata.name.as_deref() == Some("a") && p.metadata.namespace.as_deref() == Some("x")));
    objects.push(deny.into());
    let mut forward = objects.clone();
    forward.extend([old().terminating().into(), new().into()]);
    let mut backward = objects;
    backward.extend([new().into(), old().terminating().into()]);
    assert_same_as_rebuilt("relist, old first", &index, &forward);
    assert_same_as_rebuilt("relist, new first", &index, &backward);
    assert_eq!(
        index.pod_uid(XA.parse().unwrap()).as_deref(),
        Some("uid-new")
    );
    assert_eq!(index.pod_uid(OUTSIDE.parse().unwrap()), None);
}
