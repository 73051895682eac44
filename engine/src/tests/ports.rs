use super::*;

/// x/web at 10.0.0.5 serves `http` 8080/TCP, `dns` 53/UDP, a sidecar `metrics` 9090/TCP
/// (init container with restartPolicy Always) and a plain init container `setup` 7000/TCP.
fn web_cluster(extra: Vec<ClusterObject>) -> Index {
    let mut objects = vec![
        pod("x", "web")
            .labels([("app", "web")])
            .ip(WEB)
            .port("http", 8080, "TCP")
            .port("dns", 53, "UDP")
            .init_port("metrics", 9090, "TCP", Some("Always"))
            .init_port("setup", 7000, "TCP", None)
            .into(),
    ];
    objects.extend(extra);
    cluster(objects)
}

const WEB: &str = "10.0.0.5";

#[test]
fn network_policy_ports() {
    let ingress = |rule: NpRule| vec![netpol("x", "p").ingress(rule).into()];
    let egress = |rule: NpRule| vec![netpol("y", "p").egress(rule).into()];
    let cases: Vec<(&str, Vec<ClusterObject>, crate::Flow, Verdict)> = vec![
        (
            "port without protocol is TCP",
            ingress(np_rule().port(80, None)),
            tcp(YB, WEB, 80),
            Verdict::Allow,
        ),
        (
            "port without protocol does not match UDP",
            ingress(np_rule().port(80, None)),
            udp(YB, WEB, 80),
            Verdict::Deny,
        ),
        (
            "other port",
            ingress(np_rule().port(80, None)),
            tcp(YB, WEB, 81),
            Verdict::Deny,
        ),
        (
            "UDP port",
            ingress(np_rule().port(53, Some("UDP"))),
            udp(YB, WEB, 53),
            Verdict::Allow,
        ),
        (
            "SCTP port",
            ingress(np_rule().port(5000, Some("SCTP"))),
            sctp(YB, WEB, 5000),
            Verdict::Allow,
        ),
        (
            "protocol only: any UDP port",
            ingress(np_rule().protocol("UDP")),
            udp(YB, WEB, 12345),
            Verdict::Allow,
        ),
        (
            "protocol only: not TCP",
            ingress(np_rule().protocol("UDP")),
            tcp(YB, WEB, 12345),
            Verdict::Deny,
        ),
        (
            "endPort range start",
            ingress(np_rule().port_range(8000, 8100, None)),
            tcp(YB, WEB, 8000),
            Verdict::Allow,
        ),
        (
            "endPort range end",
            ingress(np_rule().port_range(8000, 8100, None)),
            tcp(YB, WEB, 8100),
            Verdict::Allow,
        ),
        (
            "endPort range past end",
            ingress(np_rule().port_range(8000, 8100, None)),
            tcp(YB, WEB, 8101),
            Verdict::Deny,
        ),
        (
            "named port resolves on destination",
            ingress(np_rule().named_port("http", None)),
            tcp(YB, WEB, 8080),
            Verdict::Allow,
        ),
        (
            "named port other number",
            ingress(np_rule().named_port("http", None)),
            tcp(YB, WEB, 80),
            Verdict::Deny,
        ),
        (
            "named UDP port needs protocol UDP",
            ingress(np_rule().named_port("dns", None)),
            udp(YB, WEB, 53),
            Verdict::Deny,
        ),
        (
            "named UDP port with UDP",
            ingress(np_rule().named_port("dns", Some("UDP"))),
            udp(YB, WEB, 53),
            Verdict::Allow,
        ),
        (
            "sidecar named port",
            ingress(np_rule().named_port("metrics", None)),
            tcp(YB, WEB, 9090),
            Verdict::Allow,
        ),
        (
            "plain init container port is not served",
            ingress(np_rule().named_port("setup", None)),
            tcp(YB, WEB, 7000),
            Verdict::Deny,
        ),
        (
            "unknown named port",
            ingress(np_rule().named_port("nope", None)),
            tcp(YB, WEB, 8080),
            Verdict::Deny,
        ),
        (
            "rule with ports never matches ICMP",
            ingress(np_rule().protocol("TCP")),
            icmp(YB, WEB),
            Verdict::Deny,
        ),
        (
            "rule without ports matches ICMP",
            ingress(np_rule()),
            icmp(YB, WEB),
            Verdict::Allow,
        ),
        (
            "egress named port resolves on destination pod",
            egress(np_rule().named_port("http", None)),
            tcp(YB, WEB, 8080),
            Verdict::Allow,
        ),
        (
            "egress named port never matches external",
            egress(np_rule().named_port("http", None)),
            tcp(YB, OUTSIDE, 8080),
            Verdict::Deny,
        ),
        (
            "egress named port does not look at the source pod",
            vec![
                pod("y", "src")
                    .ip("10.0.1.9")
                    .port("http", 8080, "TCP")
                    .into(),
                netpol("y", "p")
                    .egress(np_rule().named_port("http", None))
                    .into(),
            ],
            tcp("10.0.1.9", XA, 8080),
            Verdict::Deny,
        ),
    ];
    for (name, policies, flow, want) in cases {
        expect(name, &web_cluster(policies).evaluate(&flow), want);
    }
}

#[test]
fn admin_policy_ports() {
    let deny = |port| {
        vec![
            anp("ports", 1)
                .ingress(admin_rule("Deny").peer(peer_namespaces(sel([]))).port(port))
                .into(),
        ]
    };
    let cases: Vec<(&str, Vec<ClusterObject>, crate::Flow, Verdict)> = vec![
        (
            "portNumber TCP",
            deny(admin_port(80, "TCP")),
            tcp(YB, WEB, 80),
            Verdict::Deny,
        ),
        (
            "portNumber other port",
            deny(admin_port(80, "TCP")),
            tcp(YB, WEB, 81),
            Verdict::Allow,
        ),
        (
            "portNumber other protocol",
            deny(admin_port(80, "TCP")),
            udp(YB, WEB, 80),
            Verdict::Allow,
        ),
        (
            "portRange default TCP",
            deny(admin_port_range(1000, 2000, None)),
            tcp(YB, WEB, 1500),
            Verdict::Deny,
        ),
        (
            "portRange UDP",
            deny(admin_port_range(1000, 2000, Some("UDP"))),
            udp(YB, WEB, 2000),
            Verdict::Deny,
        ),
        (
            "portRange outside",
            deny(admin_port_range(1000, 2000, None)),
            tcp(YB, WEB, 2001),
            Verdict::Allow,
        ),
        (
            "namedPort takes the container protocol",
            deny(admin_named_port("dns")),
            udp(YB, WEB, 53),
            Verdict::Deny,
        ),
        (
            "namedPort wrong protocol",
            deny(admin_named_port("dns")),
            tcp(YB, WEB, 53),
            Verdict::Allow,
        ),
        (
            "namedPort sidecar",
            deny(admin_named_port("metrics")),
            tcp(YB, WEB, 9090),
            Verdict::Deny,
        ),
        (
            "ports never match ICMP",
            deny(admin_port(80, "TCP")),
            icmp(YB, WEB),
            Verdict::Allow,
        ),
        (
            "no ports matches ICMP",
            vec![
                anp("all", 1)
                    .ingress(admin_rule("Deny").peer(peer_namespaces(sel([]))))
                    .into(),
            ],
            icmp(YB, WEB),
            Verdict::Deny,
        ),
    ];
    for (name, policies, flow, want) in cases {
        expect(name, &web_cluster(policies).evaluate(&flow), want);
    }
}

/// Non-L4 IP protocols (GRE, ESP, DCCP, UDP-Lite, ...) are flows without ports: only rules
/// without ports match them, in every tier.
#[test]
fn non_l4_protocols_match_only_port_less_rules() {
    let np_in = |rule: NpRule| vec![netpol("x", "p").ingress(rule).into()];
    let deny_all_in = || vec![netpol("x", "p").policy_types(&["Ingress"]).into()];
    let anp_in = |rule| vec![anp("a", 1).ingress(rule).into()];
    let port_less_deny = || admin_rule("Deny").peer(peer_namespaces(sel([])));
    let banp_in = |rule| vec![banp().ingress(rule).into()];
    let cases: Vec<(&str, Vec<ClusterObject>, crate::Flow, Verdict)> = vec![
        (
            "GRE to an isolated pod",
            deny_all_in(),
            ip_proto(YB, WEB, 47),
            Verdict::Deny,
        ),
        (
            "ESP to an isolated pod",
            deny_all_in(),
            ip_proto(YB, WEB, 50),
            Verdict::Deny,
        ),
        (
            "DCCP to an isolated pod",
            deny_all_in(),
            ip_proto(YB, WEB, 33),
            Verdict::Deny,
        ),
        (
            "UDP-Lite to an isolated pod",
            deny_all_in(),
            ip_proto(YB, WEB, 136),
            Verdict::Deny,
        ),
        (
            "GRE to a pod nothing isolates",
            vec![],
            ip_proto(YB, WEB, 47),
            Verdict::Allow,
        ),
        (
            "port-less NP rule allows GRE",
            np_in(np_rule()),
            ip_proto(YB, WEB, 47),
            Verdict::Allow,
        ),
        (
            "port-less NP rule with a peer allows ESP from it",
            np_in(np_rule().pods(sel([("pod", "b")]))),
            ip_proto(XB, WEB, 50),
            Verdict::Allow,
        ),
        (
            "NP rule with a protocol-only port never matches GRE",
            np_in(np_rule().protocol("TCP")),
            ip_proto(YB, WEB, 47),
            Verdict::Deny,
        ),
        (
            "NP rule with a port never matches UDP-Lite",
            np_in(np_rule().port(53, Some("UDP"))),
            ip_proto(YB, WEB, 136),
            Verdict::Deny,
        ),
        (
            "NP rule with a named port never matches DCCP",
            np_in(np_rule().named_port("http", None)),
            ip_proto(YB, WEB, 33),
            Verdict::Deny,
        ),
        (
            "port-less ANP deny drops GRE",
            anp_in(port_less_deny()),
            ip_proto(YB, WEB, 47),
            Verdict::Deny,
        ),
        (
            "ANP deny with ports lets GRE through",
            anp_in(
                admin_rule("Deny")
                    .peer(peer_namespaces(sel([])))
                    .port(admin_port(80, "TCP")),
            ),
            ip_proto(YB, WEB, 47),
            Verdict::Allow,
        ),
        (
            "port-less BANP deny drops ESP",
            banp_in(port_less_deny()),
            ip_proto(YB, WEB, 50),
            Verdict::Deny,
        ),
        (
            "BANP deny with a port range lets ESP through",
            banp_in(
                admin_rule("Deny")
                    .peer(peer_namespaces(sel([])))
                    .port(admin_port_range(1, 65535, Some("UDP"))),
            ),
            ip_proto(YB, WEB, 50),
            Verdict::Allow,
        ),
    ];
    for (name, policies, flow, want) in cases {
        expect(name, &web_cluster(policies).evaluate(&flow), want);
    }
}

#[test]
fn protocol_spellings_round_trip() {
    use crate::Protocol;
    let cases = [
        ("tcp", "tcp", Some(Protocol::Tcp), "TCP"),
        ("udp upper", "UDP", Some(Protocol::Udp), "UDP"),
        ("sctp mixed", "Sctp", Some(Protocol::Sctp), "SCTP"),
        ("icmpv6 is icmp", "icmpv6", Some(Protocol::Icmp), "ICMP"),
        ("gre by number", "IP/47", Some(Protocol::Other(47)), "IP/47"),
        ("lower-case ip", "ip/50", Some(Protocol::Other(50)), "IP/50"),
        ("ip/6 is tcp", "IP/6", Some(Protocol::Tcp), "TCP"),
        ("ip/58 is icmp", "ip/58", Some(Protocol::Icmp), "ICMP"),
        (
            "ip/0 (HOPOPT) is other",
            "ip/0",
            Some(Protocol::Other(0)),
            "IP/0",
        ),
        ("out of range", "IP/256", None, ""),
        ("sign", "IP/+4", None, ""),
        ("empty number", "IP/", None, ""),
        ("name instead of number", "GRE", None, ""),
    ];
    for (name, input, want, display) in cases {
        let got = Protocol::parse(input);
        assert_eq!(got, want, "case {name:?}");
        if let Some(p) = got {
            assert_eq!(p.to_string(), display, "case {name:?}");
            let json = serde_json::to_string(&p).expect("serializes");
            assert_eq!(json, format!("\"{display}\""), "case {name:?}");
            let back: Protocol = serde_json::from_str(&json).expect("deserializes");
            assert_eq!(back, p, "case {name:?}");
            assert_eq!(Protocol::from_number(p.number()), p, "case {name:?}");
        }
    }
    assert!(serde_json::from_str::<Protocol>("\"IP/300\"").is_err());
}
