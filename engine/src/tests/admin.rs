use super::*;
use crate::{PolicyKind, Tier};

fn all() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
    sel([])
}

/// An ANP on namespace x's pods with one ingress rule from every namespace.
fn anp_x(name: &str, priority: i32, action: &str) -> ClusterObject {
    anp(name, priority)
        .subject(subject_namespaces(sel([("team", "a")])))
        .ingress(
            admin_rule(action)
                .name(&format!("{name}-rule"))
                .peer(peer_namespaces(all())),
        )
        .into()
}

/// (case, objects, verdict, deciding tier, deciding policy name) for `y/b -> x/a TCP/80`.
type TierCase = (
    &'static str,
    Vec<ClusterObject>,
    Verdict,
    Tier,
    Option<&'static str>,
);

#[test]
fn tiers_table() {
    let banp_deny = || -> ClusterObject {
        banp()
            .ingress(
                admin_rule("Deny")
                    .name("deny-all")
                    .peer(peer_namespaces(all())),
            )
            .into()
    };
    let cases: Vec<TierCase> = vec![
        (
            "ANP deny",
            vec![anp_x("d", 10, "Deny")],
            Verdict::Deny,
            Tier::AdminNetworkPolicy,
            Some("d"),
        ),
        (
            "ANP allow beats NP deny",
            vec![anp_x("a", 10, "Allow"), netpol("x", "deny").into()],
            Verdict::Allow,
            Tier::AdminNetworkPolicy,
            Some("a"),
        ),
        (
            "ANP deny beats NP allow",
            vec![
                anp_x("d", 10, "Deny"),
                netpol("x", "allow").ingress(np_rule()).into(),
            ],
            Verdict::Deny,
            Tier::AdminNetworkPolicy,
            Some("d"),
        ),
        (
            "lower priority number first",
            vec![anp_x("late", 20, "Allow"), anp_x("early", 10, "Deny")],
            Verdict::Deny,
            Tier::AdminNetworkPolicy,
            Some("early"),
        ),
        (
            "tie broken by name",
            vec![anp_x("b", 10, "Deny"), anp_x("a", 10, "Allow")],
            Verdict::Allow,
            Tier::AdminNetworkPolicy,
            Some("a"),
        ),
        (
            "pass skips remaining ANPs",
            vec![anp_x("p", 10, "Pass"), anp_x("d", 20, "Deny")],
            Verdict::Allow,
            Tier::Default,
            None,
        ),
        (
            "pass goes to NP",
            vec![anp_x("p", 10, "Pass"), netpol("x", "deny").into()],
            Verdict::Deny,
            Tier::NetworkPolicy,
            None,
        ),
        (
            "pass goes to BANP",
            vec![anp_x("p", 10, "Pass"), banp_deny()],
            Verdict::Deny,
            Tier::BaselineAdminNetworkPolicy,
            Some("default"),
        ),
        (
            "no ANP match goes to BANP",
            vec![banp_deny()],
            Verdict::Deny,
            Tier::BaselineAdminNetworkPolicy,
            Some("default"),
        ),
        (
            "NP isolation hides BANP",
            vec![banp_deny(), netpol("x", "allow").ingress(np_rule()).into()],
            Verdict::Allow,
            Tier::NetworkPolicy,
            Some("allow"),
        ),
        (
            "NP isolating only egress does not hide BANP ingress",
            vec![
                banp_deny(),
                netpol("x", "eg")
                    .policy_types(&["Egress"])
                    .egress(np_rule())
                    .into(),
            ],
            Verdict::Deny,
            Tier::BaselineAdminNetworkPolicy,
            Some("default"),
        ),
        (
            "BANP rules in order",
            vec![
                banp()
                    .ingress(admin_rule("Allow").peer(peer_pods(all(), sel([("pod", "b")]))))
                    .ingress(admin_rule("Deny").peer(peer_namespaces(all())))
                    .into(),
            ],
            Verdict::Allow,
            Tier::BaselineAdminNetworkPolicy,
            Some("default"),
        ),
        (
            "ANP with only egress rules leaves ingress alone",
            vec![
                anp("eg", 1)
                    .subject(subject_namespaces(sel([("team", "a")])))
                    .egress(admin_rule("Deny").peer(peer_namespaces(all())))
                    .into(),
            ],
            Verdict::Allow,
            Tier::Default,
            None,
        ),
        (
            "subject pods selector",
            vec![
                anp("pods", 1)
                    .subject(subject_pods(all(), sel([("pod", "b")])))
                    .ingress(admin_rule("Deny").peer(peer_namespaces(all())))
                    .into(),
            ],
            Verdict::Allow,
            Tier::Default,
            None,
        ),
    ];
    for (name, objects, verdict, tier, policy) in cases {
        let d = cluster(objects).evaluate(&tcp(YB, XA, 80));
        expect(name, &d, verdict);
        assert_eq!(d.ingress.tier, tier, "case {name:?}: {}", d.explain());
        assert_eq!(
            d.ingress.policy.as_ref().map(|p| &*p.name),
            policy,
            "case {name:?}"
        );
    }
}

#[test]
fn pass_is_recorded() {
    let d =
        cluster([anp_x("p", 10, "Pass"), netpol("x", "deny").into()]).evaluate(&tcp(YB, XA, 80));
    assert_eq!(d.ingress.passed_by.len(), 1);
    assert_eq!(&*d.ingress.passed_by[0].name, "p");
    assert_eq!(d.ingress.passed_by[0].kind, PolicyKind::AdminNetworkPolicy);
    let names: Vec<&str> = d.ingress.isolated_by.iter().map(|p| &*p.name).collect();
    assert_eq!(names, ["deny"]);
}

#[test]
fn rule_attribution() {
    let d = cluster([anp("ops", 3)
        .ingress(admin_rule("Allow").peer(peer_pods(all(), sel([("pod", "zzz")]))))
        .ingress(
            admin_rule("Deny")
                .name("deny-y")
                .peer(peer_namespaces(sel([("team", "b")]))),
        )
        .into()])
    .evaluate(&tcp(YB, XA, 80));
    expect("second rule", &d, Verdict::Deny);
    let rule = d.ingress.rule.unwrap();
    assert_eq!((rule.index, rule.name.as_deref()), (1, Some("deny-y")));
    assert_eq!(d.ingress.policy.unwrap().namespace, None);
}

#[test]
fn egress_peers_table() {
    let deny_to = |peer: AdminPeer| -> Vec<ClusterObject> {
        vec![
            anp("eg", 5)
                .subject(subject_namespaces(sel([("team", "a")])))
                .egress(admin_rule("Deny").peer(peer))
                .into(),
        ]
    };
    let hostnet = || -> ClusterObject {
        pod("y", "h")
            .labels([("pod", "b")])
            .ip(N2)
            .node("n2")
            .host_network()
            .into()
    };
    let cases: Vec<(&str, Vec<ClusterObject>, crate::Flow, Verdict)> = vec![
        (
            "nodes peer matches node IP by node labels",
            deny_to(peer_nodes(sel([("zone", "2")]))),
            tcp(XA, N2, 10250),
            Verdict::Deny,
        ),
        (
            "nodes peer other node",
            deny_to(peer_nodes(sel([("zone", "1")]))),
            tcp(XA, N2, 10250),
            Verdict::Allow,
        ),
        (
            "nodes peer never matches pods",
            deny_to(peer_nodes(all())),
            tcp(XA, YB, 80),
            Verdict::Allow,
        ),
        (
            "nodes peer matches a hostNetwork pod (it is the node)",
            {
                let mut v = deny_to(peer_nodes(sel([("zone", "2")])));
                v.push(hostnet());
                v
            },
            tcp(XA, N2, 8080),
            Verdict::Deny,
        ),
        (
            "pods peer never matches a hostNetwork pod",
            {
                let mut v = deny_to(peer_pods(all(), sel([("pod", "b")])));
                v.push(hostnet());
                v
            },
            tcp(XA, N2, 8080),
            Verdict::Allow,
        ),
        (
            "networks peer matches external",
            deny_to(peer_networks(&["203.0.113.0/24"])),
            tcp(XA, OUTSIDE, 443),
            Verdict::Deny,
        ),
        (
            "networks peer matches pod IPs too",
            deny_to(peer_networks(&["10.0.1.0/24"])),
            tcp(XA, YB, 80),
            Verdict::Deny,
        ),
        (
            "networks peer v6",
            deny_to(peer_networks(&["2001:db8::/32"])),
            tcp(XA, "2001:db8::5", 80),
            Verdict::Deny,
        ),
        (
            "namespaces peer",
            deny_to(peer_namespaces(sel([("team", "b")]))),
            tcp(XA, YB, 80),
            Verdict::Deny,
        ),
        (
            "namespaces peer never matches external",
            deny_to(peer_namespaces(all())),
            tcp(XA, OUTSIDE, 80),
            Verdict::Allow,
        ),
        (
            "domainNames match nothing here",
            deny_to(peer_domain_names(&["example.com"])),
            tcp(XA, OUTSIDE, 443),
            Verdict::Allow,
        ),
        (
            "empty peer fails closed on Deny",
            deny_to(peer_empty()),
            tcp(XA, OUTSIDE, 443),
            Verdict::Deny,
        ),
        (
            "empty peer fails closed on Pass (deny all)",
            vec![
                anp("eg", 5)
                    .egress(admin_rule("Pass").peer(peer_empty()))
                    .into(),
            ],
            tcp(XA, YB, 80),
            Verdict::Deny,
        ),
        (
            "empty peer in Allow matches nothing",
            vec![
                anp("eg", 5)
                    .egress(admin_rule("Allow").peer(peer_empty()))
                    .into(),
                netpol("x", "deny-egress").policy_types(&["Egress"]).into(),
            ],
            tcp(XA, YB, 80),
            Verdict::Deny,
        ),
    ];
    for (name, objects, flow, want) in cases {
        expect(name, &cluster(objects).evaluate(&flow), want);
    }
}

#[test]
fn host_network_pods_are_never_subjects() {
    let index = cluster([
        pod("x", "h")
            .labels([("pod", "a")])
            .ip("192.168.0.1")
            .node("n1")
            .host_network()
            .into(),
        anp("all", 1)
            .egress(admin_rule("Deny").peer(peer_networks(&["0.0.0.0/0"])))
            .into(),
        banp()
            .egress(admin_rule("Deny").peer(peer_networks(&["0.0.0.0/0"])))
            .into(),
    ]);
    expect(
        "hostNetwork egress",
        &index.evaluate(&tcp(N1, OUTSIDE, 443)),
        Verdict::Allow,
    );
    expect(
        "pod egress",
        &index.evaluate(&tcp(XA, OUTSIDE, 443)),
        Verdict::Deny,
    );
}
