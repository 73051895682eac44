use super::*;

#[test]
fn explain_lines() {
    let cases: Vec<(&str, Vec<ClusterObject>, crate::Flow, &str)> = vec![
        (
            "NP isolation deny",
            vec![netpol("x", "deny-all").into()],
            tcp(YB, XA, 80),
            "y/b -> x/a TCP/80: DENY. ingress: x/a is isolated by x/deny-all (NetworkPolicy) and no rule allows y/b. egress: y/b is not egress-isolated.",
        ),
        (
            "NP egress isolation, several policies",
            vec![
                netpol("y", "b").policy_types(&["Egress"]).into(),
                netpol("y", "a")
                    .egress(np_rule().pods(sel([("pod", "zzz")])))
                    .into(),
            ],
            udp(YB, XA, 53),
            "y/b -> x/a UDP/53: DENY. ingress: x/a is not ingress-isolated. egress: y/b is egress-isolated by y/a (NetworkPolicy), y/b (NetworkPolicy) and no rule allows x/a.",
        ),
        (
            "NP allow",
            vec![
                netpol("x", "allow-y")
                    .ingress(np_rule().pods(sel([("pod", "zzz")])))
                    .ingress(np_rule().namespaces(sel([("team", "b")])))
                    .into(),
            ],
            tcp(YB, XA, 80),
            "y/b -> x/a TCP/80: ALLOW. ingress: allowed by rule 1 of x/allow-y (NetworkPolicy). egress: y/b is not egress-isolated.",
        ),
        (
            "ANP allow with rule name",
            vec![
                anp("cluster-ops", 1)
                    .ingress(
                        admin_rule("Allow")
                            .name("allow-monitoring")
                            .peer(peer_namespaces(sel([]))),
                    )
                    .into(),
            ],
            tcp(YB, XA, 80),
            "y/b -> x/a TCP/80: ALLOW. ingress: allowed by rule 0 \"allow-monitoring\" of anp/cluster-ops (AdminNetworkPolicy). egress: y/b is not egress-isolated.",
        ),
        (
            "ANP deny without rule name",
            vec![
                anp("cluster-ops", 1)
                    .egress(admin_rule("Deny").peer(peer_networks(&["203.0.113.0/24"])))
                    .into(),
            ],
            icmp(XA, OUTSIDE),
            "x/a -> 203.0.113.9 ICMP: DENY. ingress: 203.0.113.9 is not a pod, so no policy governs its ingress. egress: denied by rule 0 of anp/cluster-ops (AdminNetworkPolicy).",
        ),
        (
            "BANP deny",
            vec![
                banp()
                    .ingress(admin_rule("Allow").peer(peer_pods(sel([]), sel([("pod", "zzz")]))))
                    .ingress(
                        admin_rule("Deny")
                            .name("deny-all")
                            .peer(peer_namespaces(sel([]))),
                    )
                    .into(),
            ],
            tcp(YB, XA, 80),
            "y/b -> x/a TCP/80: DENY. ingress: denied by BANP default rule 1 \"deny-all\". egress: y/b is not egress-isolated.",
        ),
        (
            "pass then NP",
            vec![
                anp("delegate", 7)
                    .ingress(admin_rule("Pass").peer(peer_namespaces(sel([]))))
                    .into(),
                netpol("x", "deny-all").into(),
            ],
            tcp(YB, XA, 80),
            "y/b -> x/a TCP/80: DENY. ingress: passed by anp/delegate (AdminNetworkPolicy); x/a is isolated by x/deny-all (NetworkPolicy) and no rule allows y/b. egress: y/b is not egress-isolated.",
        ),
        (
            "node source",
            vec![],
            tcp(N2, XA, 10250),
            "node/n2 -> x/a TCP/10250: ALLOW. ingress: x/a is not ingress-isolated. egress: node/n2 is a node address, which pod policies do not govern.",
        ),
        (
            "own node source under isolation",
            vec![netpol("x", "deny-all").into()],
            tcp(N1, XA, 10250),
            "node/n1 -> x/a TCP/10250: ALLOW. ingress: node/n1 is x/a's own node, whose traffic to its pods policy cannot block. egress: node/n1 is a node address, which pod policies do not govern.",
        ),
    ];
    for (name, objects, flow, want) in cases {
        let d = cluster(objects).evaluate(&flow);
        assert_eq!(d.explain(), want, "case {name:?}");
        assert_eq!(d.to_string(), want, "case {name:?}: Display");
    }
}

#[test]
fn reason_uses_the_given_endpoints() {
    let d = cluster([netpol("x", "deny-all").into()]).evaluate(&tcp(YB, XA, 80));
    assert_eq!(
        d.ingress.reason(&d.dst, &d.src),
        "x/a is isolated by x/deny-all (NetworkPolicy) and no rule allows y/b"
    );
    assert_eq!(
        d.egress.reason(&d.src, &d.dst),
        "y/b is not egress-isolated"
    );
}
