//! ClusterNetworkPolicy semantics: tiers, priorities and ties, protocols, peers, fail-closed
//! rules, domainNames, mixing with v1alpha1 ANP/BANP, and validation.

use super::*;
use crate::{Dns, DnsBindings, PolicyKind, PolicyTier, Tier};

fn all() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
    sel([])
}

/// Subject: namespace x only.
fn in_x() -> verdict_crds::AdminNetworkPolicySubject {
    subject_namespaces(sel([("team", "a")]))
}

/// A CNP on namespace x with one ingress rule from every pod.
fn x_ingress(name: &str, tier: &str, priority: i32, action: &str) -> CnpBuilder {
    cnp(name, tier, priority)
        .subject(in_x())
        .ingress(cnp_rule(action).name(action).peer(peer_namespaces(all())))
}

fn deny_all_np() -> ClusterObject {
    netpol("x", "deny").policy_types(&["Ingress"]).into()
}

fn allow_all_np() -> ClusterObject {
    netpol("x", "allow").ingress(np_rule()).into()
}

fn index(extra: Vec<ClusterObject>, cnps: Vec<CnpBuilder>) -> Index {
    let mut objects = base();
    objects.extend(extra);
    index_with_cnps(objects, cnps)
}

/// (case, objects, CNPs, verdict, deciding tier, deciding policy name or "")
type TierCase = (
    &'static str,
    Vec<ClusterObject>,
    Vec<CnpBuilder>,
    Verdict,
    Tier,
    &'static str,
);

#[test]
fn tiers_table() {
    let cases: Vec<TierCase> = vec![
        (
            "admin deny beats a NetworkPolicy allow",
            vec![allow_all_np()],
            vec![x_ingress("a", "Admin", 10, "Deny")],
            Verdict::Deny,
            Tier::AdminNetworkPolicy,
            "a",
        ),
        (
            "admin accept beats a NetworkPolicy default deny",
            vec![deny_all_np()],
            vec![x_ingress("a", "Admin", 10, "Accept")],
            Verdict::Allow,
            Tier::AdminNetworkPolicy,
            "a",
        ),
        (
            "admin pass hands over to NetworkPolicy",
            vec![deny_all_np()],
            vec![x_ingress("a", "Admin", 10, "Pass")],
            Verdict::Deny,
            Tier::NetworkPolicy,
            "",
        ),
        (
            "admin pass skips the rest of the admin tier",
            vec![],
            vec![
                x_ingress("a", "Admin", 10, "Pass"),
                x_ingress("b", "Admin", 20, "Deny"),
            ],
            Verdict::Allow,
            Tier::Default,
            "",
        ),
        (
            "admin pass, then baseline decides",
            vec![],
            vec![
                x_ingress("a", "Admin", 10, "Pass"),
                x_ingress("z", "Baseline", 10, "Deny"),
            ],
            Verdict::Deny,
            Tier::BaselineAdminNetworkPolicy,
            "z",
        ),
        (
            "NetworkPolicy overrides the baseline tier",
            vec![allow_all_np()],
            vec![x_ingress("z", "Baseline", 10, "Deny")],
            Verdict::Allow,
            Tier::NetworkPolicy,
            "",
        ),
        (
            "baseline deny for a pod no NetworkPolicy isolates",
            vec![],
            vec![x_ingress("z", "Baseline", 10, "Deny")],
            Verdict::Deny,
            Tier::BaselineAdminNetworkPolicy,
            "z",
        ),
        (
            "baseline pass falls through to the default allow",
            vec![],
            vec![
                x_ingress("z", "Baseline", 1, "Pass"),
                x_ingress("zz", "Baseline", 2, "Deny"),
            ],
            Verdict::Allow,
            Tier::Default,
            "",
        ),
        (
            "lower priority first in the admin tier",
            vec![],
            vec![
                x_ingress("late", "Admin", 20, "Accept"),
                x_ingress("early", "Admin", 5, "Deny"),
            ],
            Verdict::Deny,
            Tier::AdminNetworkPolicy,
            "early",
        ),
        (
            "lower priority first in the baseline tier",
            vec![],
            vec![
                x_ingress("late", "Baseline", 20, "Deny"),
                x_ingress("early", "Baseline", 5, "Accept"),
            ],
            Verdict::Allow,
            Tier::BaselineAdminNetworkPolicy,
            "early",
        ),
        (
            "rules in order: the first match wins",
            vec![],
            vec![
                cnp("a", "Admin", 1)
                    .subject(in_x())
                    .ingress(cnp_rule("Accept").peer(peer_namespaces(sel([("team", "b")]))))
                    .ingress(cnp_rule("Deny").peer(peer_namespaces(all()))),
            ],
            Verdict::Allow,
            Tier::AdminNetworkPolicy,
            "a",
        ),
        (
            "an egress-only policy leaves ingress alone",
            vec![],
            vec![
                cnp("a", "Admin", 1)
                    .subject(in_x())
                    .egress(cnp_rule("Deny").peer(peer_namespaces(all()))),
            ],
            Verdict::Allow,
            Tier::Default,
            "",
        ),
        (
            "a subject elsewhere does not apply",
            vec![],
            vec![
                cnp("a", "Admin", 1)
                    .subject(subject_namespaces(sel([("team", "b")])))
                    .ingress(cnp_rule("Deny").peer(peer_namespaces(all()))),
            ],
            Verdict::Allow,
            Tier::Default,
            "",
        ),
    ];
    for (name, objects, cnps, verdict, tier, policy) in cases {
        // y/b (team=b) to x/a (team=a) on TCP 80.
        let d = index(objects, cnps).evaluate(&tcp(YB, XA, 80));
        expect(name, &d, verdict);
        assert_eq!(d.ingress.tier, tier, "case {name:?}: {}", d.explain());
        let got = d
            .ingress
            .policy
            .as_ref()
            .filter(|p| p.kind == PolicyKind::ClusterNetworkPolicy)
            .map_or("", |p| &*p.name);
        assert_eq!(got, policy, "case {name:?}");
    }
}

#[test]
fn attribution_names_kind_tier_priority_rule_and_passes() {
    let d = index(
        vec![deny_all_np()],
        vec![x_ingress("a", "Admin", 7, "Pass")],
    )
    .evaluate(&tcp(YB, XA, 80));
    let passed = &d.ingress.passed_by[0];
    assert_eq!(passed.kind, PolicyKind::ClusterNetworkPolicy);
    assert_eq!(
        (passed.tier, passed.priority),
        (Some(PolicyTier::Admin), Some(7))
    );
    assert_eq!(
        passed.to_string(),
        "a (ClusterNetworkPolicy, Admin tier, priority 7)"
    );
    let d = index(vec![], vec![x_ingress("z", "Baseline", 3, "Deny")]).evaluate(&tcp(YB, XA, 80));
    let policy = d.ingress.policy.as_ref().unwrap();
    assert_eq!(
        (policy.tier, policy.priority),
        (Some(PolicyTier::Baseline), Some(3))
    );
    assert_eq!(
        d.ingress.rule.as_ref().unwrap().name.as_deref(),
        Some("Deny")
    );
    // v1alpha1 references keep their old JSON: no tier, no priority, no ties.
    let d = cluster([anp("old", 1)
        .ingress(admin_rule("Deny").peer(peer_namespaces(all())))
        .into()])
    .evaluate(&tcp(YB, XA, 80));
    let json = serde_json::to_value(&d.ingress).unwrap();
    assert!(json["policy"].get("tier").is_none() && json["policy"].get("priority").is_none());
    assert!(json.get("tied_with").is_none() && json.get("domain").is_none());
}

#[test]
fn same_priority_is_ordered_by_name_and_reports_ties() {
    // (case, CNPs, deciding policy, tied)
    let cases: Vec<(&str, Vec<CnpBuilder>, &str, Vec<&str>)> = vec![
        (
            "by name: a before b",
            vec![
                x_ingress("b", "Admin", 5, "Accept"),
                x_ingress("a", "Admin", 5, "Deny"),
            ],
            "a",
            vec!["b"],
        ),
        (
            "a tie that does not match is not reported",
            vec![
                x_ingress("a", "Admin", 5, "Deny"),
                cnp("b", "Admin", 5)
                    .subject(in_x())
                    .ingress(cnp_rule("Accept").peer(peer_namespaces(sel([("team", "zzz")])))),
            ],
            "a",
            vec![],
        ),
        (
            "other priorities are not ties",
            vec![
                x_ingress("a", "Admin", 5, "Deny"),
                x_ingress("b", "Admin", 6, "Accept"),
            ],
            "a",
            vec![],
        ),
        (
            "baseline ties",
            vec![
                x_ingress("m", "Baseline", 5, "Deny"),
                x_ingress("n", "Baseline", 5, "Accept"),
                x_ingress("o", "Baseline", 5, "Accept"),
            ],
            "m",
            vec!["n", "o"],
        ),
    ];
    for (name, cnps, decider, tied) in cases {
        let d = index(vec![], cnps).evaluate(&tcp(YB, XA, 80));
        assert_eq!(
            &*d.ingress.policy.as_ref().unwrap().name,
            decider,
            "case {name:?}"
        );
        let got: Vec<&str> = d.ingress.tied_with.iter().map(|p| &*p.name).collect();
        assert_eq!(got, tied, "case {name:?}");
    }
}

/// v1alpha1 and ClusterNetworkPolicy in one cluster: ANPs share the Admin tier's priority
/// scale (ANP first at equal priority), the BANP is the last Baseline-tier policy.
#[test]
fn mixing_with_v1alpha1() {
    let anp_deny = |priority| {
        ClusterObject::from(
            anp("anp", priority)
                .subject(in_x())
                .ingress(admin_rule("Deny").peer(peer_namespaces(all()))),
        )
    };
    let banp_deny = || {
        ClusterObject::from(
            banp()
                .subject(in_x())
                .ingress(admin_rule("Deny").peer(peer_namespaces(all()))),
        )
    };
    // (case, v1alpha1 objects, CNPs, verdict, deciding kind or None)
    type MixCase = (
        &'static str,
        Vec<ClusterObject>,
        Vec<CnpBuilder>,
        Verdict,
        Option<PolicyKind>,
    );
    let cases: Vec<MixCase> = vec![
        (
            "a lower-priority CNP goes before an ANP",
            vec![anp_deny(10)],
            vec![x_ingress("c", "Admin", 5, "Accept")],
            Verdict::Allow,
            Some(PolicyKind::ClusterNetworkPolicy),
        ),
        (
            "a lower-priority ANP goes before a CNP",
            vec![anp_deny(5)],
            vec![x_ingress("c", "Admin", 10, "Accept")],
            Verdict::Deny,
            Some(PolicyKind::AdminNetworkPolicy),
        ),
        (
            "equal priority: the ANP first",
            vec![anp_deny(5)],
            vec![x_ingress("a", "Admin", 5, "Accept")],
            Verdict::Deny,
            Some(PolicyKind::AdminNetworkPolicy),
        ),
        (
            "a CNP pass skips the ANPs after it",
            vec![anp_deny(10)],
            vec![x_ingress("c", "Admin", 5, "Pass")],
            Verdict::Allow,
            None,
        ),
        (
            "a baseline CNP goes before the BANP",
            vec![banp_deny()],
            vec![x_ingress("c", "Baseline", 1000, "Accept")],
            Verdict::Allow,
            Some(PolicyKind::ClusterNetworkPolicy),
        ),
        (
            "the BANP still decides when no baseline CNP matches",
            vec![banp_deny()],
            vec![
                cnp("c", "Baseline", 1)
                    .subject(in_x())
                    .ingress(cnp_rule("Accept").peer(peer_namespaces(sel([("team", "zzz")])))),
            ],
            Verdict::Deny,
            Some(PolicyKind::BaselineAdminNetworkPolicy),
        ),
        (
            "a baseline CNP pass skips the BANP",
            vec![banp_deny()],
            vec![x_ingress("c", "Baseline", 1, "Pass")],
            Verdict::Allow,
            None,
        ),
        (
            "an ANP pass reaches a baseline CNP",
            vec![ClusterObject::from(
                anp("anp", 1)
                    .subject(in_x())
                    .ingress(admin_rule("Pass").peer(peer_namespaces(all()))),
            )],
            vec![x_ingress("c", "Baseline", 1, "Deny")],
            Verdict::Deny,
            Some(PolicyKind::ClusterNetworkPolicy),
        ),
    ];
    for (name, objects, cnps, verdict, kind) in cases {
        let d = index(objects, cnps).evaluate(&tcp(YB, XA, 80));
        expect(name, &d, verdict);
        assert_eq!(
            d.ingress.policy.as_ref().map(|p| p.kind),
            kind,
            "case {name:?}"
        );
    }
}

/// x/web at 10.0.0.5 serves `http` 8080/TCP and `dns` 53/UDP.
fn web() -> ClusterObject {
    pod("x", "web")
        .labels([("app", "web")])
        .ip(WEB)
        .node("n1")
        .port("http", 8080, "TCP")
        .port("dns", 53, "UDP")
        .into()
}

const WEB: &str = "10.0.0.5";

#[test]
fn protocols_table() {
    let deny_in = |rule: CnpRule| vec![cnp("p", "Admin", 1).subject(in_x()).ingress(rule)];
    let deny = || cnp_rule("Deny").peer(peer_namespaces(all()));
    // (case, CNPs, flow, verdict)
    let cases: Vec<(&str, Vec<CnpBuilder>, crate::Flow, Verdict)> = vec![
        (
            "no protocols: every TCP port",
            deny_in(deny()),
            tcp(YB, WEB, 1234),
            Verdict::Deny,
        ),
        (
            "no protocols: ICMP too",
            deny_in(deny()),
            icmp(YB, WEB),
            Verdict::Deny,
        ),
        (
            "no protocols: GRE too",
            deny_in(deny()),
            ip_proto(YB, WEB, 47),
            Verdict::Deny,
        ),
        (
            "tcp number",
            deny_in(deny().port("TCP", 80)),
            tcp(YB, WEB, 80),
            Verdict::Deny,
        ),
        (
            "tcp number, other port",
            deny_in(deny().port("TCP", 80)),
            tcp(YB, WEB, 81),
            Verdict::Allow,
        ),
        (
            "tcp number is not udp",
            deny_in(deny().port("TCP", 80)),
            udp(YB, WEB, 80),
            Verdict::Allow,
        ),
        (
            "udp number",
            deny_in(deny().port("UDP", 53)),
            udp(YB, WEB, 53),
            Verdict::Deny,
        ),
        (
            "sctp number",
            deny_in(deny().port("SCTP", 9003)),
            sctp(YB, WEB, 9003),
            Verdict::Deny,
        ),
        (
            "range start",
            deny_in(deny().port_range("TCP", 80, 90)),
            tcp(YB, WEB, 80),
            Verdict::Deny,
        ),
        (
            "range end is inclusive",
            deny_in(deny().port_range("TCP", 80, 90)),
            tcp(YB, WEB, 90),
            Verdict::Deny,
        ),
        (
            "past the range",
            deny_in(deny().port_range("TCP", 80, 90)),
            tcp(YB, WEB, 91),
            Verdict::Allow,
        ),
        (
            "protocols never match ICMP",
            deny_in(deny().port("TCP", 80)),
            icmp(YB, WEB),
            Verdict::Allow,
        ),
        (
            "protocols never match GRE",
            deny_in(deny().port("TCP", 80)),
            ip_proto(YB, WEB, 47),
            Verdict::Allow,
        ),
        (
            "protocols are ORed",
            deny_in(deny().port("TCP", 80).port("UDP", 5353)),
            udp(YB, WEB, 5353),
            Verdict::Deny,
        ),
        (
            "named port on the destination",
            deny_in(deny().named_port("http")),
            tcp(YB, WEB, 8080),
            Verdict::Deny,
        ),
        (
            "named port takes the container port's protocol",
            deny_in(deny().named_port("dns")),
            udp(YB, WEB, 53),
            Verdict::Deny,
        ),
        (
            "named port, wrong protocol",
            deny_in(deny().named_port("dns")),
            tcp(YB, WEB, 53),
            Verdict::Allow,
        ),
        (
            "unknown named port",
            deny_in(deny().named_port("nope")),
            tcp(YB, WEB, 8080),
            Verdict::Allow,
        ),
    ];
    for (name, cnps, flow, want) in cases {
        expect(name, &index(vec![web()], cnps).evaluate(&flow), want);
    }
}

#[test]
fn egress_peers_table() {
    let deny_out = |peer: AdminPeer| {
        vec![
            cnp("p", "Admin", 1)
                .subject(in_x())
                .egress(cnp_rule("Deny").peer(peer)),
        ]
    };
    let deny_out_named = |peer: AdminPeer| {
        vec![
            cnp("p", "Admin", 1)
                .subject(in_x())
                .egress(cnp_rule("Deny").peer(peer).named_port("http")),
        ]
    };
    // (case, CNPs, flow from x/a, verdict)
    let cases: Vec<(&str, Vec<CnpBuilder>, crate::Flow, Verdict)> = vec![
        (
            "nodes peer matches a node address",
            deny_out(peer_nodes(sel([("zone", "2")]))),
            tcp(XA, N2, 10250),
            Verdict::Deny,
        ),
        (
            "nodes peer, other node",
            deny_out(peer_nodes(sel([("zone", "2")]))),
            tcp(XA, N1, 10250),
            Verdict::Allow,
        ),
        (
            "nodes peer never matches a pod",
            deny_out(peer_nodes(all())),
            tcp(XA, YA, 80),
            Verdict::Allow,
        ),
        (
            "networks match external addresses",
            deny_out(peer_networks(&["203.0.113.0/24"])),
            tcp(XA, OUTSIDE, 443),
            Verdict::Deny,
        ),
        (
            "networks match pod addresses",
            deny_out(peer_networks(&["10.0.1.0/24"])),
            tcp(XA, YA, 80),
            Verdict::Deny,
        ),
        (
            "networks match node addresses",
            deny_out(peer_networks(&["192.168.0.0/16"])),
            tcp(XA, N1, 22),
            Verdict::Deny,
        ),
        (
            "networks, outside the CIDR",
            deny_out(peer_networks(&["10.9.0.0/16"])),
            tcp(XA, YA, 80),
            Verdict::Allow,
        ),
        (
            "pods peer",
            deny_out(peer_pods(sel([("team", "b")]), sel([("pod", "a")]))),
            tcp(XA, YA, 80),
            Verdict::Deny,
        ),
        (
            "pods peer, other pod",
            deny_out(peer_pods(sel([("team", "b")]), sel([("pod", "a")]))),
            tcp(XA, YB, 80),
            Verdict::Allow,
        ),
        (
            "namespaces peer never matches external",
            deny_out(peer_namespaces(all())),
            tcp(XA, OUTSIDE, 80),
            Verdict::Allow,
        ),
        (
            "named egress port resolves on the destination pod",
            deny_out_named(peer_namespaces(all())),
            tcp(XA, WEB, 8080),
            Verdict::Deny,
        ),
    ];
    for (name, cnps, flow, want) in cases {
        expect(name, &index(vec![web()], cnps).evaluate(&flow), want);
    }
}

#[test]
fn peers_with_no_field_fail_closed() {
    let empty = AdminPeer::default;
    // (case, rule on x's ingress, then a lower-priority accept-all, verdict)
    let cases: Vec<(&str, CnpRule, Verdict)> = vec![
        (
            "accept with an unknown peer matches nothing",
            cnp_rule("Accept").peer(empty()),
            Verdict::Deny,
        ),
        (
            "deny with an unknown peer denies all",
            cnp_rule("Deny").peer(empty()),
            Verdict::Deny,
        ),
        (
            "pass with an unknown peer denies all",
            cnp_rule("Pass").peer(empty()),
            Verdict::Deny,
        ),
        (
            "deny all ignores the rule's other peers and protocols",
            cnp_rule("Deny")
                .peer(peer_namespaces(sel([("team", "zzz")])))
                .peer(empty())
                .port("UDP", 1),
            Verdict::Deny,
        ),
    ];
    for (name, rule, want) in cases {
        // The fallback below is a baseline deny-all: an Accept that matches nothing leaves it
        // to decide, while a fail-closed Deny/Pass decides in the admin tier.
        let d = index(
            vec![],
            vec![
                cnp("p", "Admin", 1).subject(in_x()).ingress(rule),
                x_ingress("fallback", "Baseline", 1, "Deny"),
            ],
        )
        .evaluate(&tcp(YB, XA, 80));
        expect(name, &d, want);
        let admin = d.ingress.tier == Tier::AdminNetworkPolicy;
        assert_eq!(
            admin,
            !name.starts_with("accept"),
            "case {name:?}: {}",
            d.explain()
        );
    }
}

#[test]
fn domain_names_match_through_dns_bindings() {
    const OUT_A: &str = "198.51.100.1";
    const OUT_B: &str = "198.51.100.2";
    let policy = || {
        vec![
            cnp("dns", "Admin", 1)
                .subject(in_x())
                .egress(
                    cnp_rule("Accept")
                        .name("allowed")
                        .peer(peer_domain_names(&["allowed.example", "*.apps.example"])),
                )
                .egress(
                    cnp_rule("Deny")
                        .name("rest")
                        .peer(peer_networks(&["0.0.0.0/0"])),
                ),
        ]
    };
    let idx = index(vec![], policy());
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let mut dns = DnsBindings::new();
    dns.insert(ip(XA), "allowed.example", ip(OUT_A), 100);
    dns.insert(ip(XA), "other.example", ip(OUT_B), 100);
    dns.insert(ip(XA), "db.apps.example", ip(OUTSIDE), 100);
    dns.insert(ip(XB), "allowed.example", ip(OUT_B), 100);
    // (case, flow, now, verdict, matched domain)
    let cases = [
        (
            "answered name",
            tcp(XA, OUT_A, 443),
            0,
            Verdict::Allow,
            Some("allowed.example"),
        ),
        (
            "another name's address",
            tcp(XA, OUT_B, 443),
            0,
            Verdict::Deny,
            None,
        ),
        (
            "wildcard",
            tcp(XA, OUTSIDE, 5432),
            0,
            Verdict::Allow,
            Some("db.apps.example"),
        ),
        ("expired", tcp(XA, OUT_A, 443), 100, Verdict::Deny, None),
        (
            "answered to another pod only",
            tcp(XA, OUT_B, 443),
            50,
            Verdict::Deny,
            None,
        ),
        (
            "the other pod's own answer",
            tcp(XB, OUT_B, 443),
            50,
            Verdict::Allow,
            Some("allowed.example"),
        ),
    ];
    for (name, flow, now, want, domain) in cases {
        let d = idx.evaluate_with(
            &flow,
            Some(Dns {
                bindings: &dns,
                now,
            }),
        );
        expect(name, &d, want);
        assert_eq!(d.egress.domain.as_deref(), domain, "case {name:?}");
    }
    // Without bindings a domainNames peer matches nothing.
    expect(
        "no bindings",
        &idx.evaluate(&tcp(XA, OUT_A, 443)),
        Verdict::Deny,
    );
    // Ingress rules never consult DNS (domainNames are egress peers).
    let d = idx.evaluate_with(
        &tcp(OUT_A, XA, 80),
        Some(Dns {
            bindings: &dns,
            now: 0,
        }),
    );
    expect("ingress", &d, Verdict::Allow);
}

#[test]
fn invalid_policies_are_rejected_with_the_field() {
    let bad_protocol = |p: verdict_crds::ClusterNetworkPolicyProtocol| {
        cnp("p", "Admin", 1).ingress(cnp_rule("Deny").peer(peer_namespaces(all())).protocol(p))
    };
    let cases: Vec<(&str, CnpBuilder, &str)> = vec![
        (
            "priority too high",
            cnp("p", "Admin", 1001),
            "spec.priority",
        ),
        (
            "negative priority",
            cnp("p", "Baseline", -1),
            "spec.priority",
        ),
        (
            "range start not below end",
            cnp("p", "Admin", 1).ingress(
                cnp_rule("Deny")
                    .peer(peer_namespaces(all()))
                    .port_range("TCP", 90, 90),
            ),
            "spec.ingress[0].protocols[0].tcp.destinationPort.range",
        ),
        (
            "port zero",
            cnp("p", "Admin", 1)
                .ingress(cnp_rule("Deny").peer(peer_namespaces(all())).port("UDP", 0)),
            "spec.ingress[0].protocols[0].udp.destinationPort.number",
        ),
        (
            "two protocols in one entry",
            bad_protocol(verdict_crds::ClusterNetworkPolicyProtocol {
                destination_named_port: Some("web".into()),
                ..verdict_crds::ClusterNetworkPolicyProtocol::default()
            })
            .ingress(cnp_rule("Deny").peer(peer_namespaces(all())).protocol(
                verdict_crds::ClusterNetworkPolicyProtocol {
                    tcp: Some(verdict_crds::ClusterNetworkPolicyProtocolPort::default()),
                    destination_named_port: Some("web".into()),
                    ..verdict_crds::ClusterNetworkPolicyProtocol::default()
                },
            )),
            "spec.ingress[1].protocols[0]",
        ),
        (
            "tcp without destinationPort",
            bad_protocol(verdict_crds::ClusterNetworkPolicyProtocol {
                tcp: Some(verdict_crds::ClusterNetworkPolicyProtocolPort::default()),
                ..verdict_crds::ClusterNetworkPolicyProtocol::default()
            }),
            "spec.ingress[0].protocols[0].tcp",
        ),
        (
            "domainNames in a deny rule",
            cnp("p", "Admin", 1).egress(cnp_rule("Deny").peer(peer_domain_names(&["a.example"]))),
            "spec.egress[0].to[0].domainNames",
        ),
        (
            "a domain name that does not parse",
            cnp("p", "Admin", 1).egress(cnp_rule("Accept").peer(peer_domain_names(&["*"]))),
            "spec.egress[0].to[0].domainNames[0]",
        ),
        (
            "a named port with a networks peer",
            cnp("p", "Admin", 1).egress(
                cnp_rule("Accept")
                    .peer(peer_networks(&["10.0.0.0/8"]))
                    .named_port("web"),
            ),
            "spec.egress[0]",
        ),
        (
            "a rule without peers",
            cnp("p", "Admin", 1).ingress(cnp_rule("Deny")),
            "spec.ingress[0].from",
        ),
    ];
    for (name, policy, field) in cases {
        let err = Index::new()
            .apply_cluster_network_policy(&policy.build())
            .expect_err(name)
            .to_string();
        assert!(
            err.contains("ClusterNetworkPolicy") && err.contains(&format!("{field}:")),
            "case {name:?}: {err}"
        );
    }
}

/// Updates and deletes keep the pods' tier lists right, including a tier change and a relabel,
/// and match an index rebuilt from scratch.
#[test]
fn incremental_updates_match_a_rebuild() {
    let flows = [tcp(YB, XA, 80), tcp(XA, YB, 80), tcp(YA, XB, 80)];
    let same = |name: &str, a: &Index, cnps: Vec<CnpBuilder>, extra: Vec<ClusterObject>| {
        let b = index(extra, cnps);
        for f in &flows {
            assert_eq!(a.evaluate(f), b.evaluate(f), "step {name:?}, flow {f}");
        }
    };
    let mut idx = index(vec![], vec![]);
    let admin = x_ingress("c", "Admin", 5, "Deny");
    idx.apply_cluster_network_policy(&admin.clone().build())
        .unwrap();
    same("admin", &idx, vec![admin], vec![]);
    expect("admin deny", &idx.evaluate(&tcp(YB, XA, 80)), Verdict::Deny);
    // The same name moves to the Baseline tier, under a NetworkPolicy allow.
    let moved = x_ingress("c", "Baseline", 5, "Deny");
    idx.apply(&allow_all_np()).unwrap();
    idx.apply_cluster_network_policy(&moved.clone().build())
        .unwrap();
    same("moved", &idx, vec![moved.clone()], vec![allow_all_np()]);
    expect(
        "now under NetworkPolicy",
        &idx.evaluate(&tcp(YB, XA, 80)),
        Verdict::Allow,
    );
    assert!(idx.delete_network_policy("x", "allow"));
    expect(
        "baseline decides",
        &idx.evaluate(&tcp(YB, XA, 80)),
        Verdict::Deny,
    );
    // Namespace y takes x's label: its pods become subjects too.
    idx.apply(&namespace("y").labels([("team", "a")]).into())
        .unwrap();
    let relabeled = vec![ClusterObject::from(namespace("y").labels([("team", "a")]))];
    same("relabel", &idx, vec![moved], relabeled);
    assert_eq!(idx.stats().cluster_network_policies, 1);
    assert!(idx.delete_cluster_network_policy("c"));
    assert!(!idx.delete_cluster_network_policy("c"));
    expect("deleted", &idx.evaluate(&tcp(YB, XA, 80)), Verdict::Allow);
    assert!(idx.selected_pod_ips("n1").v4.is_empty());
}
