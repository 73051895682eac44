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
            "y/b -> x/a UDP/53: DENY. egress: y/b is egress-isolated by y/a (NetworkPolicy) and y/b (NetworkPolicy), and no rule allows x/a. ingress: x/a is not ingress-isolated.",
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
            "y/b -> x/a TCP/80: ALLOW. egress: y/b is not egress-isolated. ingress: x/a is isolated by x/allow-y (NetworkPolicy); x/allow-y (NetworkPolicy) ingress rule 1 allows y/b.",
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
            "y/b -> x/a TCP/80: ALLOW. egress: y/b is not egress-isolated. ingress: anp/cluster-ops (AdminNetworkPolicy) ingress rule 0 \"allow-monitoring\" allows y/b.",
        ),
        (
            "ANP deny without rule name",
            vec![
                anp("cluster-ops", 1)
                    .egress(admin_rule("Deny").peer(peer_networks(&["203.0.113.0/24"])))
                    .into(),
            ],
            icmp(XA, OUTSIDE),
            "x/a -> 203.0.113.9 ICMP: DENY. egress: anp/cluster-ops (AdminNetworkPolicy) egress rule 0 denies 203.0.113.9. ingress: 203.0.113.9 is outside the cluster, so no policy governs its ingress.",
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
            "y/b -> x/a TCP/80: DENY. ingress: banp/default (BaselineAdminNetworkPolicy) ingress rule 1 \"deny-all\" denies y/b. egress: y/b is not egress-isolated.",
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
            "y/b -> x/a TCP/80: DENY. ingress: passed on by anp/delegate (AdminNetworkPolicy); x/a is isolated by x/deny-all (NetworkPolicy) and no rule allows y/b. egress: y/b is not egress-isolated.",
        ),
        (
            "node source",
            vec![],
            tcp(N2, XA, 10250),
            "node/n2 -> x/a TCP/10250: ALLOW. egress: node/n2 is a node's address, which policies do not select. ingress: x/a is not ingress-isolated.",
        ),
        (
            "own node source under isolation",
            vec![netpol("x", "deny-all").into()],
            tcp(N1, XA, 10250),
            "node/n1 -> x/a TCP/10250: ALLOW. egress: node/n1 is a node's address, which policies do not select. ingress: node/n1 is x/a's own node, whose traffic to its pods policy cannot block.",
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
