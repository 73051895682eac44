//! Every case of the upstream sig-network NetworkPolicy e2e suite (kubernetes v1.36,
//! `test/e2e/network/netpol/network_policy.go`), in upstream order, on the full 9-pod model,
//! followed by the two `network_policy_api.go` cases (API-server CRUD and endPort validation),
//! ported as far as they concern enforcement (see their `gap`).
//!
//! Upstream v1.36 starts only the pods each test needs (for example `x/a`, `y/a`); here every
//! case runs on all nine pods and all three namespaces. Where a reduced upstream topology left a
//! pod out, the expectation for that pod is added in the same helper style and marked
//! `full model:` so a reader can check it against the policy.
//!
//! Upstream probes each pod through its own Service's ClusterIP; a [`Probe`] here is the
//! connection after Service DNAT (pod IP to pod IP), which is what policies see.

use std::net::IpAddr;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::case::{
    Action, AddressBook, Case, Expectation, Policy, PolicySource, Probe, Protocol, Step, slug,
};
use crate::fixture::{
    any_port, everything, expression, from, ip_block, labels, named_port, namespaces, netpol, pods,
    pods_in, port, to,
};
use crate::model::{Model, NAMESPACE_NAME_LABEL, PodName, with_namespace_label, with_pod_labels};
use crate::truth_table::{Peer, TruthTable};

const TCP: Option<Protocol> = Some(Protocol::Tcp);
const UDP: Option<Protocol> = Some(Protocol::Udp);
const SCTP: Option<Protocol> = Some(Protocol::Sctp);

const CONTEXT_TCP: &str = "Netpol NetworkPolicy between server and client";
const CONTEXT_UDP: &str = "Netpol [LinuxOnly] NetworkPolicy between server and client using UDP";
const CONTEXT_API: &str = "Netpol API";
const CONTEXT_SCTP: &str = "Netpol [Feature:SCTPConnectivity] [LinuxOnly] NetworkPolicy between server and client using SCTP";

fn pod(ns: &str, name: &str) -> PodName {
    PodName::new(ns, name)
}

fn ns(name: &str) -> Peer {
    Peer::namespace(name)
}

fn at(ns: &str, name: &str) -> Peer {
    Peer::pod(ns, name)
}

fn any() -> Peer {
    Peer::any()
}

fn pod_label(value: &str) -> LabelSelector {
    labels([("pod", value)])
}

fn ns_name(value: &str) -> LabelSelector {
    labels([(NAMESPACE_NAME_LABEL, value)])
}

fn expect(probe: Probe, reachability: TruthTable) -> Expectation {
    Expectation {
        probe,
        reachability,
    }
}

fn step(name: &str, actions: Vec<Action>, expectations: Vec<Expectation>) -> Step {
    Step {
        name: name.into(),
        actions,
        expectations,
    }
}

fn case(context: &str, it: &str, model: &Model, steps: Vec<Step>) -> Case {
    let suite = match context {
        CONTEXT_UDP => "netpol-udp",
        CONTEXT_SCTP => "netpol-sctp",
        CONTEXT_API => "netpol-api",
        _ => "netpol",
    };
    Case {
        name: format!("{suite}/{}", slug(it)),
        upstream: format!("{context} {it}"),
        model: model.clone(),
        ignore_loopback: true,
        steps,
        gap: None,
    }
}

fn apply(np: NetworkPolicy) -> Action {
    Action::network_policy(np)
}

/// `ip/32` (or `/128`).
fn host_cidr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    }
}

/// The `/4` that contains `ip` (upstream `makeLargeCIDRForIP`).
fn large_cidr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let base = std::net::Ipv4Addr::from(u32::from(v4) & 0xf000_0000);
            format!("{base}/4")
        }
        IpAddr::V6(v6) => {
            let base = std::net::Ipv6Addr::from(u128::from(v6) & (0xf_u128 << 124));
            format!("{base}/4")
        }
    }
}

/// Every upstream netpol case, in upstream order.
pub fn cases() -> Vec<Case> {
    let m = Model::netpol();
    let mut out = Vec::new();
    let tcp80 = Probe::tcp(80);
    let tcp81 = Probe::tcp(81);

    // should support a 'default-deny-ingress' policy
    {
        let policy = netpol("x", "deny-ingress").ingress([]).build();
        let mut r = m.table(true);
        r.expect_peer(&any(), &ns("x"), false);
        out.push(case(
            CONTEXT_TCP,
            "should support a 'default-deny-ingress' policy",
            &m,
            vec![step(
                "deny ingress to namespace x",
                vec![apply(policy)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should support a 'default-deny-all' policy
    {
        let policy = netpol("x", "deny-all").ingress([]).egress([]).build();
        let mut r = m.table(true);
        r.expect_peer(&any(), &ns("x"), false)
            .expect_peer(&ns("x"), &any(), false);
        out.push(case(
            CONTEXT_TCP,
            "should support a 'default-deny-all' policy",
            &m,
            vec![step(
                "deny all traffic of namespace x",
                vec![apply(policy)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should enforce policy to allow traffic from pods within server namespace based on PodSelector
    {
        let policy = netpol("x", "x-a-allows-x-b")
            .select(pod_label("a"))
            .ingress([from(vec![pods(pod_label("b"))], vec![])])
            .build();
        let mut r = m.table(true);
        r.expect_all_ingress(&pod("x", "a"), false)
            .expect(&pod("x", "b"), &pod("x", "a"), true);
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy to allow traffic from pods within server namespace based on PodSelector",
            &m,
            vec![step("x/a accepts only x/b", vec![apply(policy)], vec![expect(tcp80, r)])],
        ));
    }

    // should enforce policy to allow ingress traffic for a target
    {
        let deny = netpol("x", "deny-all").ingress([]).build();
        let allow = netpol("x", "allow-all-to-a")
            .select(pod_label("a"))
            .ingress([from(vec![pods_in(everything(), everything())], vec![])])
            .build();
        let mut r = m.table(true);
        r.expect_all_ingress(&pod("x", "a"), true)
            .expect_all_ingress(&pod("x", "b"), false);
        // full model: x/c is isolated by deny-all too.
        r.expect_all_ingress(&pod("x", "c"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy to allow ingress traffic for a target",
            &m,
            vec![step(
                "having a deny all ingress policy",
                vec![apply(deny), apply(allow)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should enforce policy to allow ingress traffic from pods in all namespaces
    {
        let policy = netpol("x", "allow-from-another-ns")
            .select(pod_label("a"))
            .ingress([from(vec![namespaces(labels([]))], vec![])])
            .build();
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy to allow ingress traffic from pods in all namespaces",
            &m,
            vec![step(
                "x/a accepts every namespace",
                vec![apply(policy)],
                vec![expect(tcp80, m.table(true))],
            )],
        ));
    }

    // should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector
    {
        let policy = netpol("x", "allow-client-a-via-ns-selector")
            .select(pod_label("a"))
            .ingress([from(vec![namespaces(ns_name("y"))], vec![])])
            .build();
        let mut r = m.table(true);
        r.expect_peer(&ns("x"), &at("x", "a"), false)
            .expect_peer(&ns("z"), &at("x", "a"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector",
            &m,
            vec![step("x/a accepts only namespace y", vec![apply(policy)], vec![expect(tcp80, r)])],
        ));
    }

    // should enforce policy based on PodSelector with MatchExpressions
    {
        let policy = netpol("x", "x-a-allows-x-b")
            .select(pod_label("a"))
            .ingress([from(vec![pods(expression("pod", "In", &["b"]))], vec![])])
            .build();
        let mut r = m.table(true);
        r.expect_all_ingress(&pod("x", "a"), false)
            .expect(&pod("x", "b"), &pod("x", "a"), true);
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy based on PodSelector with MatchExpressions",
            &m,
            vec![step(
                "x/a accepts pod In (b)",
                vec![apply(policy)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should enforce policy based on NamespaceSelector with MatchExpressions
    {
        let policy = netpol("x", "allow-ns-y-match-selector")
            .select(pod_label("a"))
            .ingress([from(
                vec![namespaces(expression(NAMESPACE_NAME_LABEL, "In", &["y"]))],
                vec![],
            )])
            .build();
        let mut r = m.table(true);
        r.expect_peer(&ns("x"), &at("x", "a"), false)
            .expect_peer(&ns("z"), &at("x", "a"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy based on NamespaceSelector with MatchExpressions",
            &m,
            vec![step(
                "x/a accepts namespace In (y)",
                vec![apply(policy)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should enforce policy based on PodSelector or NamespaceSelector
    {
        let policy = netpol("x", "allow-ns-y-match-selector")
            .select(pod_label("a"))
            .ingress([from(
                vec![
                    namespaces(expression(NAMESPACE_NAME_LABEL, "NotIn", &["x"])),
                    pods(pod_label("b")),
                ],
                vec![],
            )])
            .build();
        let mut r = m.table(true);
        r.expect(&pod("x", "a"), &pod("x", "a"), false).expect(
            &pod("x", "c"),
            &pod("x", "a"),
            false,
        );
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy based on PodSelector or NamespaceSelector",
            &m,
            vec![step(
                "x/a accepts other namespaces or x/b",
                vec![apply(policy)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should enforce policy based on PodSelector and NamespaceSelector
    {
        let policy = netpol("x", "allow-ns-y-podselector-and-nsselector")
            .select(pod_label("a"))
            .ingress([from(
                vec![pods_in(
                    expression(NAMESPACE_NAME_LABEL, "NotIn", &["x"]),
                    pod_label("b"),
                )],
                vec![],
            )])
            .build();
        let mut r = m.table(true);
        r.expect_all_ingress(&pod("x", "a"), false)
            .expect(&pod("y", "b"), &pod("x", "a"), true)
            .expect(&pod("z", "b"), &pod("x", "a"), true);
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy based on PodSelector and NamespaceSelector",
            &m,
            vec![step(
                "x/a accepts b pods of other namespaces",
                vec![apply(policy)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should enforce policy based on Multiple PodSelectors and NamespaceSelectors
    {
        let policy = netpol("x", "allow-ns-y-z-pod-b-c")
            .select(pod_label("a"))
            .ingress([from(
                vec![pods_in(
                    expression(NAMESPACE_NAME_LABEL, "NotIn", &["x"]),
                    expression("pod", "In", &["b", "c"]),
                )],
                vec![],
            )])
            .build();
        let mut r = m.table(true);
        r.expect_peer(&ns("x"), &at("x", "a"), false)
            .expect(&pod("y", "a"), &pod("x", "a"), false);
        // full model: z/a is neither b nor c either.
        r.expect(&pod("z", "a"), &pod("x", "a"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
            &m,
            vec![step(
                "x/a accepts b and c pods of other namespaces",
                vec![apply(policy)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should enforce policy based on any PodSelectors
    {
        let policy = netpol("x", "allow-ns-x-pod-b-c")
            .select(pod_label("a"))
            .ingress([from(
                vec![pods(pod_label("b")), pods(pod_label("c"))],
                vec![],
            )])
            .build();
        let mut r = m.table(true);
        r.expect_all_ingress(&pod("x", "a"), false)
            .expect(&pod("x", "b"), &pod("x", "a"), true)
            .expect(&pod("x", "c"), &pod("x", "a"), true);
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy based on any PodSelectors",
            &m,
            vec![step(
                "x/a accepts x/b or x/c",
                vec![apply(policy)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector
    for (context, probe) in [
        (CONTEXT_TCP, tcp80),
        (CONTEXT_UDP, Probe::udp(80)),
        (CONTEXT_SCTP, Probe::sctp(80)),
    ] {
        let policy = netpol("x", "allow-ns-y-pod-a-via-namespace-pod-selector")
            .select(pod_label("a"))
            .ingress([from(vec![pods_in(ns_name("y"), pod_label("a"))], vec![])])
            .build();
        let mut r = m.table(true);
        r.expect_all_ingress(&pod("x", "a"), false)
            .expect(&pod("y", "a"), &pod("x", "a"), true);
        out.push(case(
            context,
            "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector",
            &m,
            vec![step("x/a accepts only y/a", vec![apply(policy)], vec![expect(probe, r)])],
        ));
    }

    // should enforce policy based on Ports (TCP, UDP, SCTP)
    for (context, protocol, probe, name) in [
        (CONTEXT_TCP, TCP, tcp81, "allow-client-a-via-ns-selector"),
        (
            CONTEXT_UDP,
            UDP,
            Probe::udp(81),
            "allow-ingress-on-port-81-ns-x",
        ),
        (
            CONTEXT_SCTP,
            SCTP,
            Probe::sctp(81),
            "allow-ingress-on-port-81-ns-x",
        ),
    ] {
        let policy = netpol("x", name)
            .select(pod_label("a"))
            .ingress([from(
                vec![namespaces(ns_name("y"))],
                vec![port(protocol, 81)],
            )])
            .build();
        let mut r = m.table(true);
        r.expect_peer(&ns("x"), &at("x", "a"), false)
            .expect_peer(&ns("y"), &at("x", "a"), true)
            .expect_peer(&ns("z"), &at("x", "a"), false);
        out.push(case(
            context,
            "should enforce policy based on Ports",
            &m,
            vec![step(
                "Creating a network allowPort81Policy which only allows allow listed namespaces (y) to connect on exactly one port (81)",
                vec![apply(policy)],
                vec![expect(probe, r)],
            )],
        ));
    }

    // should enforce multiple, stacked policies with overlapping podSelectors
    {
        let p81 = netpol("x", "allow-client-a-via-ns-selector")
            .select(pod_label("a"))
            .ingress([from(vec![namespaces(ns_name("y"))], vec![port(TCP, 81)])])
            .build();
        let p80 = netpol("x", "allow-client-a-via-ns-selector-80")
            .select(pod_label("a"))
            .ingress([from(vec![namespaces(ns_name("y"))], vec![port(TCP, 80)])])
            .build();
        let mut allow = m.table(true);
        allow
            .expect_peer(&ns("x"), &at("x", "a"), false)
            .expect_peer(&ns("y"), &at("x", "a"), true)
            .expect_peer(&ns("z"), &at("x", "a"), false);
        let mut deny = m.table(true);
        deny.expect_all_ingress(&pod("x", "a"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce multiple, stacked policies with overlapping podSelectors",
            &m,
            vec![
                step(
                    "Creating a network allowPort81Policy which only allows allow listed namespaces (y) to connect on exactly one port (81)",
                    vec![apply(p81)],
                    vec![expect(tcp81, allow.clone()), expect(tcp80, deny)],
                ),
                step(
                    "Verifying that we can add a policy to unblock port 80",
                    vec![apply(p80)],
                    vec![expect(tcp80, allow)],
                ),
            ],
        ));
    }

    // should support allow-all policy
    {
        let policy = netpol("x", "allow-all")
            .select(labels([]))
            .ingress([from(vec![], vec![])])
            .build();
        out.push(case(
            CONTEXT_TCP,
            "should support allow-all policy",
            &m,
            vec![step(
                "Testing pods can connect to both ports when an 'allow-all' policy is present.",
                vec![apply(policy)],
                vec![expect(tcp80, m.table(true)), expect(tcp81, m.table(true))],
            )],
        ));
    }

    // should allow ingress access on one named port
    {
        let policy = netpol("x", "allow-all")
            .select(labels([]))
            .ingress([from(vec![], vec![named_port(None, "serve-81-tcp")])])
            .build();
        let mut r80 = m.table(true);
        r80.expect_peer(&any(), &ns("x"), false);
        out.push(case(
            CONTEXT_TCP,
            "should allow ingress access on one named port",
            &m,
            vec![step(
                "Blocking all ports other then 81 in the entire namespace",
                vec![apply(policy)],
                vec![expect(tcp81, m.table(true)), expect(tcp80, r80)],
            )],
        ));
    }

    // should allow ingress access from namespace on one named port
    {
        let policy = netpol("x", "allow-client-a-via-ns-selector-80")
            .select(pod_label("a"))
            .ingress([from(
                vec![namespaces(ns_name("y"))],
                vec![named_port(TCP, "serve-80-tcp")],
            )])
            .build();
        let mut r80 = m.table(true);
        r80.expect_peer(&ns("x"), &at("x", "a"), false)
            .expect_peer(&ns("z"), &at("x", "a"), false);
        let mut r81 = m.table(true);
        r81.expect_all_ingress(&pod("x", "a"), false);
        out.push(case(
            CONTEXT_TCP,
            "should allow ingress access from namespace on one named port",
            &m,
            vec![step(
                "Verify that port 80 is allowed for namespace y and port 81 is blocked for all namespaces including y",
                vec![apply(policy)],
                vec![expect(tcp80, r80), expect(tcp81, r81)],
            )],
        ));
    }

    // should allow egress access on one named port
    {
        let policy = netpol("x", "allow-egress")
            .select(labels([]))
            .egress([to(vec![], vec![named_port(None, "serve-80-tcp")])])
            .build();
        let mut r81 = m.table(true);
        r81.expect_peer(&ns("x"), &any(), false);
        out.push(case(
            CONTEXT_TCP,
            "should allow egress access on one named port",
            &m,
            vec![step(
                "egress from x only to serve-80-tcp",
                vec![apply(policy)],
                vec![expect(tcp80, m.table(true)), expect(tcp81, r81)],
            )],
        ));
    }

    // should enforce updated policy
    {
        let allow_all = netpol("x", "allow-all-mutate-to-deny-all")
            .select(labels([]))
            .ingress([from(vec![], vec![])])
            .build();
        let mut deny_all = allow_all.clone();
        deny_all.spec.as_mut().expect("built with a spec").ingress = Some(vec![]);
        let mut deny = m.table(true);
        deny.expect_peer(&any(), &ns("x"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce updated policy",
            &m,
            vec![
                step(
                    "part 1) allow all",
                    vec![apply(allow_all)],
                    vec![expect(tcp81, m.table(true))],
                ),
                step(
                    "part 2) update the policy to deny all",
                    vec![apply(deny_all)],
                    vec![expect(tcp81, deny)],
                ),
            ],
        ));
    }

    // should allow ingress access from updated namespace
    {
        let policy = netpol("x", "allow-client-a-via-ns-selector")
            .select(pod_label("a"))
            .ingress([from(vec![namespaces(labels([("ns2", "updated")]))], vec![])])
            .build();
        let mut before = m.table(true);
        before.expect_all_ingress(&pod("x", "a"), false);
        let mut after = m.table(true);
        after
            .expect_all_ingress(&pod("x", "a"), false)
            .expect_peer(&ns("y"), &any(), true);
        let y = with_namespace_label(m.namespace("y").expect("model has y"), "ns2", "updated");
        out.push(case(
            CONTEXT_TCP,
            "should allow ingress access from updated namespace",
            &m,
            vec![
                step(
                    "x/a accepts namespaces labelled ns2=updated",
                    vec![apply(policy)],
                    vec![expect(tcp80, before)],
                ),
                step(
                    "add label ns2=updated to namespace y",
                    vec![Action::ApplyNamespace(Box::new(y))],
                    vec![expect(tcp80, after)],
                ),
            ],
        ));
    }

    // should allow ingress access from updated pod
    {
        let policy = netpol("x", "allow-client-a-via-pod-selector")
            .select(pod_label("a"))
            .ingress([from(
                vec![pods(labels([("pod", "b"), ("pod2", "updated")]))],
                vec![],
            )])
            .build();
        let mut before = m.table(true);
        before.expect_all_ingress(&pod("x", "a"), false);
        let mut after = before.clone();
        after.expect(&pod("x", "b"), &pod("x", "a"), true);
        let xb = with_pod_labels(
            m.pod(&pod("x", "b")).expect("model has x/b"),
            [("pod", "b"), ("pod2", "updated")],
        );
        out.push(case(
            CONTEXT_TCP,
            "should allow ingress access from updated pod",
            &m,
            vec![
                step(
                    "x/a accepts pods labelled pod=b,pod2=updated",
                    vec![apply(policy)],
                    vec![expect(tcp80, before)],
                ),
                step(
                    "x/b is able to reach x/a when label is updated",
                    vec![Action::ApplyPod(Box::new(xb))],
                    vec![expect(tcp80, after)],
                ),
            ],
        ));
    }

    // should deny ingress from pods on other namespaces
    {
        let policy = netpol("x", "deny-empty-policy")
            .ingress([from(vec![pods(labels([]))], vec![])])
            .build();
        let mut r = m.table(true);
        r.expect_peer(&ns("y"), &ns("x"), false)
            .expect_peer(&ns("z"), &ns("x"), false);
        out.push(case(
            CONTEXT_TCP,
            "should deny ingress from pods on other namespaces",
            &m,
            vec![step(
                "namespace x accepts only itself",
                vec![apply(policy)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should deny ingress access to updated pod
    {
        let policy = netpol("x", "deny-ingress-via-label-selector")
            .select(labels([("target", "isolated")]))
            .ingress([])
            .build();
        let mut after = m.table(true);
        after.expect_all_ingress(&pod("x", "a"), false);
        let xa = with_pod_labels(
            m.pod(&pod("x", "a")).expect("model has x/a"),
            [("target", "isolated")],
        );
        out.push(case(
            CONTEXT_TCP,
            "should deny ingress access to updated pod",
            &m,
            vec![
                step(
                    "Verify that everything can reach x/a",
                    vec![apply(policy)],
                    vec![expect(tcp80, m.table(true))],
                ),
                step(
                    "label x/a target=isolated",
                    vec![Action::ApplyPod(Box::new(xa))],
                    vec![expect(tcp80, after)],
                ),
            ],
        ));
    }

    // should deny egress from pods based on PodSelector
    {
        let policy = netpol("x", "deny-egress-pod-a")
            .select(pod_label("a"))
            .egress([])
            .build();
        let mut r = m.table(true);
        r.expect_all_egress(&pod("x", "a"), false);
        out.push(case(
            CONTEXT_TCP,
            "should deny egress from pods based on PodSelector",
            &m,
            vec![step(
                "deny egress of x/a",
                vec![apply(policy)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should deny egress from all pods in a namespace
    {
        let policy = netpol("x", "deny-egress-ns-x").egress([]).build();
        let mut r = m.table(true);
        r.expect_peer(&ns("x"), &any(), false);
        out.push(case(
            CONTEXT_TCP,
            "should deny egress from all pods in a namespace",
            &m,
            vec![step(
                "deny egress of namespace x",
                vec![apply(policy)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should work with Ingress, Egress specified together
    {
        let policy = netpol("x", "allow-client-a-via-pod-selector")
            .select(pod_label("a"))
            .egress([to(vec![], vec![port(None, 80)])])
            .ingress([from(vec![pods(pod_label("b"))], vec![])])
            .build();
        let mut r80 = m.table(true);
        r80.expect_all_ingress(&pod("x", "a"), false)
            .expect(&pod("x", "b"), &pod("x", "a"), true);
        let mut r81 = m.table(true);
        r81.expect_all_ingress(&pod("x", "a"), false)
            .expect_all_egress(&pod("x", "a"), false)
            .expect(&pod("x", "b"), &pod("x", "a"), true);
        out.push(case(
            CONTEXT_TCP,
            "should work with Ingress, Egress specified together",
            &m,
            vec![step(
                "validating that port 81 doesn't work",
                vec![apply(policy)],
                vec![expect(tcp80, r80), expect(tcp81, r81)],
            )],
        ));
    }

    // should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)
    {
        let egress = netpol("x", "allow-to-ns-y-pod-a")
            .select(pod_label("a"))
            .egress([to(vec![pods_in(ns_name("y"), pod_label("a"))], vec![])])
            .build();
        let ingress_rule = from(vec![pods_in(ns_name("x"), pod_label("a"))], vec![]);
        let on_ya = netpol("y", "allow-from-xa-on-ya-match-selector")
            .select(pod_label("a"))
            .ingress([ingress_rule.clone()])
            .build();
        let on_yb = netpol("y", "allow-from-xa-on-yb-match-selector")
            .select(pod_label("b"))
            .ingress([ingress_rule])
            .build();
        let mut r = m.table(true);
        r.expect_peer(&at("x", "a"), &any(), false)
            .expect_peer(&any(), &at("y", "a"), false)
            .expect_peer(&at("x", "a"), &at("y", "a"), true)
            .expect_peer(&any(), &at("y", "b"), false);
        out.push(case(
            CONTEXT_TCP,
            "should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)",
            &m,
            vec![step(
                "x/a may only reach y/a; y/a and y/b accept x/a",
                vec![apply(egress), apply(on_ya), apply(on_yb)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector
    {
        let policy = netpol("x", "allow-to-ns-y-pod-a")
            .select(pod_label("a"))
            .egress([to(vec![pods_in(ns_name("y"), pod_label("a"))], vec![])])
            .build();
        let mut r = m.table(true);
        r.expect_all_egress(&pod("x", "a"), false)
            .expect(&pod("x", "a"), &pod("y", "a"), true);
        out.push(case(
            CONTEXT_TCP,
            "should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector",
            &m,
            vec![step("x/a may only reach y/a", vec![apply(policy)], vec![expect(tcp80, r)])],
        ));
    }

    // should enforce ingress policy allowing any port traffic to a server on a specific protocol
    {
        let policy = netpol("x", "allow-ingress-by-proto")
            .select(pod_label("a"))
            .ingress([from(vec![], vec![any_port(Protocol::Tcp)])])
            .build();
        let mut udp = m.table(true);
        udp.expect_peer(&any(), &at("x", "a"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce ingress policy allowing any port traffic to a server on a specific protocol",
            &m,
            vec![step(
                "x/a accepts any TCP port and no UDP",
                vec![apply(policy)],
                vec![expect(tcp80, m.table(true)), expect(Probe::udp(80), udp)],
            )],
        ));
    }

    // should enforce multiple ingress policies with ingress allow-all policy taking precedence
    {
        let only80 = netpol("x", "allow-ingress-port-80")
            .select(labels([]))
            .ingress([from(vec![], vec![port(None, 80)])])
            .build();
        let all = netpol("x", "allow-ingress")
            .select(labels([]))
            .ingress([from(vec![], vec![])])
            .build();
        let mut r = m.table(true);
        r.expect_peer(&any(), &ns("x"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce multiple ingress policies with ingress allow-all policy taking precedence",
            &m,
            vec![
                step(
                    "The policy targets port 80 -- so let's make sure traffic on port 81 is blocked",
                    vec![apply(only80)],
                    vec![expect(tcp81, r)],
                ),
                step("Allowing all ports", vec![apply(all)], vec![expect(tcp81, m.table(true))]),
            ],
        ));
    }

    // should enforce multiple egress policies with egress allow-all policy taking precedence
    {
        let only80 = netpol("x", "allow-egress-port-80")
            .select(labels([]))
            .egress([to(vec![], vec![port(None, 80)])])
            .build();
        let all = netpol("x", "allow-egress")
            .select(labels([]))
            .egress([to(vec![], vec![])])
            .build();
        let mut r = m.table(true);
        r.expect_peer(&ns("x"), &any(), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce multiple egress policies with egress allow-all policy taking precedence",
            &m,
            vec![
                step("Making sure ingress doesn't work other than port 80", vec![apply(only80)], vec![expect(tcp81, r)]),
                step("Allowing all ports", vec![apply(all)], vec![expect(tcp81, m.table(true))]),
            ],
        ));
    }

    // should stop enforcing policies after they are deleted
    {
        let policy = netpol("x", "deny-all").ingress([]).egress([]).build();
        let mut r = m.table(true);
        r.expect_peer(&ns("x"), &any(), false)
            .expect_peer(&any(), &ns("x"), false);
        out.push(case(
            CONTEXT_TCP,
            "should stop enforcing policies after they are deleted",
            &m,
            vec![
                step(
                    "Creating a network policy for the server which denies all traffic.",
                    vec![apply(policy)],
                    vec![expect(tcp80, r)],
                ),
                step(
                    "delete every network policy",
                    vec![Action::DeleteAllNetworkPolicies],
                    vec![expect(tcp80, m.table(true))],
                ),
            ],
        ));
    }

    // should allow egress access to server in CIDR block
    {
        let mut r = m.table(true);
        r.expect_all_egress(&pod("x", "a"), false)
            .expect(&pod("x", "a"), &pod("y", "b"), true);
        out.push(case(
            CONTEXT_TCP,
            "should allow egress access to server in CIDR block",
            &m,
            vec![step(
                "x/a may only reach the /32 of y/b",
                vec![Action::addressed(|book: &dyn AddressBook| {
                    let cidr = host_cidr(book.pod_ip(&pod("y", "b")));
                    Policy::NetworkPolicy(
                        netpol("x", "allow-client-a-via-cidr-egress-rule")
                            .select(pod_label("a"))
                            .egress([to(vec![ip_block(&cidr, &[])], vec![])])
                            .build(),
                    )
                })],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should enforce except clause while egress access to server in CIDR block
    {
        let mut r = m.table(true);
        r.expect(&pod("x", "a"), &pod("x", "b"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce except clause while egress access to server in CIDR block",
            &m,
            vec![step(
                "x/a may reach the /4 around x/b except x/b itself",
                vec![Action::addressed(large_cidr_except_xb)],
                vec![expect(tcp80, r)],
            )],
        ));
    }

    // should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed
    {
        let mut r = m.table(true);
        r.expect(&pod("x", "a"), &pod("x", "b"), false);
        let mut allowed = m.table(true);
        allowed.expect_all_egress(&pod("x", "a"), false).expect(
            &pod("x", "a"),
            &pod("x", "b"),
            true,
        );
        out.push(case(
            CONTEXT_TCP,
            "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed",
            &m,
            vec![
                step(
                    "x/a may reach the /4 around x/b except x/b itself",
                    vec![Action::addressed(large_cidr_except_xb)],
                    vec![expect(tcp80, r)],
                ),
                step(
                    "update the policy to allow only the /32 of x/b",
                    vec![Action::addressed(|book: &dyn AddressBook| {
                        let cidr = host_cidr(book.pod_ip(&pod("x", "b")));
                        Policy::NetworkPolicy(
                            netpol("x", "allow-client-a-via-cidr-egress-rule")
                                .select(pod_label("a"))
                                .egress([to(vec![ip_block(&cidr, &[])], vec![])])
                                .build(),
                        )
                    })],
                    vec![expect(tcp80, allowed)],
                ),
            ],
        ));
    }

    // should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector
    {
        let egress = netpol("x", "allow-egress-for-target")
            .select(pod_label("a"))
            .egress([to(vec![], vec![])])
            .build();
        let deny = netpol("x", "deny-ingress-via-label-selector")
            .select(pod_label("a"))
            .ingress([])
            .build();
        let mut r = m.table(true);
        r.expect_all_ingress(&pod("x", "a"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector",
            &m,
            vec![
                step(
                    "Creating a network policy for pod-a which allows Egress traffic to pod-b.",
                    vec![apply(egress)],
                    vec![expect(tcp80, m.table(true))],
                ),
                step(
                    "Creating a network policy for pod-a that denies traffic from pod-b.",
                    vec![apply(deny)],
                    vec![expect(tcp80, r)],
                ),
            ],
        ));
    }

    // should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP
    {
        let deny = netpol("x", "deny-ingress").ingress([]).build();
        let sctp = netpol("x", "allow-only-sctp-ingress-on-port-81")
            .select(pod_label("a"))
            .ingress([from(vec![], vec![port(SCTP, 81)])])
            .build();
        let mut r = m.table(true);
        r.expect_peer(&any(), &ns("x"), false);
        out.push(case(
            CONTEXT_TCP,
            "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP",
            &m,
            vec![step(
                "Trying to connect to TCP port 81, which should be blocked by the deny-ingress policy.",
                vec![apply(deny), apply(sctp)],
                vec![expect(tcp81, r)],
            )],
        ));
    }

    // should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP
    {
        let sctp = netpol("x", "allow-only-sctp-ingress-on-port-80")
            .select(pod_label("a"))
            .ingress([from(vec![], vec![port(SCTP, 80)])])
            .build();
        let mut r = m.table(true);
        r.expect_all_ingress(&pod("x", "a"), false);
        out.push(case(
            CONTEXT_TCP,
            "should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP",
            &m,
            vec![step(
                "Trying to connect to TCP port 81, which should be blocked by implicit isolation.",
                vec![apply(sctp)],
                vec![expect(tcp81, r)],
            )],
        ));
    }

    // should not allow access by TCP when a policy specifies only UDP
    {
        let udp = netpol("x", "allow-only-udp-ingress-on-port-81")
            .select(pod_label("a"))
            .ingress([from(vec![], vec![port(UDP, 81)])])
            .build();
        let mut r = m.table(true);
        r.expect_all_ingress(&pod("x", "a"), false);
        out.push(case(
            CONTEXT_TCP,
            "should not allow access by TCP when a policy specifies only UDP",
            &m,
            vec![step(
                "Creating a network policy for the server which allows traffic only via UDP on port 81.",
                vec![apply(udp)],
                vec![expect(tcp81, r)],
            )],
        ));
    }

    // should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label
    {
        let policy = netpol("x", "allow-client-a-via-ns-selector-for-immutable-ns-label")
            .select(pod_label("a"))
            .ingress([from(vec![namespaces(ns_name("y"))], vec![])])
            .build();
        let mut r = m.table(true);
        r.expect_peer(&ns("x"), &at("x", "a"), false)
            .expect_peer(&ns("z"), &at("x", "a"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label",
            &m,
            vec![step("x/a accepts only namespace y", vec![apply(policy)], vec![expect(tcp80, r)])],
        ));
    }

    // should enforce policy based on NamespaceSelector with MatchExpressions using default ns label
    {
        let policy = netpol("x", "allow-ns-y-match-selector-for-immutable-ns-label")
            .select(pod_label("a"))
            .egress([to(
                vec![namespaces(expression(
                    NAMESPACE_NAME_LABEL,
                    "NotIn",
                    &["y"],
                ))],
                vec![],
            )])
            .build();
        let mut r = m.table(true);
        r.expect_peer(&at("x", "a"), &ns("y"), false);
        out.push(case(
            CONTEXT_TCP,
            "should enforce policy based on NamespaceSelector with MatchExpressions using default ns label",
            &m,
            vec![step("x/a may reach every namespace but y", vec![apply(policy)], vec![expect(tcp80, r)])],
        ));
    }

    // UDP and SCTP: should support a 'default-deny-ingress' policy
    for (context, probe) in [
        (CONTEXT_UDP, Probe::udp(80)),
        (CONTEXT_SCTP, Probe::sctp(80)),
    ] {
        let policy = netpol("x", "deny-all").ingress([]).build();
        let mut r = m.table(true);
        r.expect_peer(&any(), &ns("x"), false);
        out.push(case(
            context,
            "should support a 'default-deny-ingress' policy",
            &m,
            vec![step(
                "deny ingress to namespace x",
                vec![apply(policy)],
                vec![expect(probe, r)],
            )],
        ));
    }

    out.sort_by_key(|c| upstream_order(&c.upstream));
    out.extend(api_cases(&m));
    out
}

/// `network_policy_api.go`: API-server behaviour, ported as far as it concerns enforcement.
fn api_cases(m: &Model) -> Vec<Case> {
    let tcp80 = Probe::tcp(80);
    let unaffected = || vec![expect(tcp80, m.table(true))];
    let template = |name: &str| {
        netpol("x", name)
            .select(labels([("pod-name", "test-pod")]))
            .ingress([from(
                vec![pods_in(
                    labels([("ns-name", "pod-b")]),
                    labels([("pod-name", "client-a")]),
                )],
                vec![],
            )])
            .build()
    };
    let annotated = |np: &NetworkPolicy, keys: &[&str]| {
        let mut np = np.clone();
        let notes = np.metadata.annotations.get_or_insert_with(Default::default);
        for key in keys {
            notes.insert(key.to_string(), "true".into());
        }
        np
    };
    let created: Vec<_> = (1..=3)
        .map(|i| template(&format!("e2e-example-netpol-{i}")))
        .collect();
    let id = |np: &NetworkPolicy| Policy::NetworkPolicy(np.clone()).id();
    let mut operations = case(
        CONTEXT_API,
        "should support creating NetworkPolicy API operations",
        m,
        vec![
            step(
                "creating",
                created.iter().cloned().map(apply).collect(),
                unaffected(),
            ),
            step(
                "patching",
                vec![apply(annotated(&created[2], &["patched"]))],
                unaffected(),
            ),
            step(
                "updating",
                vec![apply(annotated(&created[2], &["patched", "updated"]))],
                unaffected(),
            ),
            step(
                "deleting",
                vec![Action::Delete(id(&created[2]))],
                unaffected(),
            ),
            step(
                "deleting a collection",
                vec![
                    Action::Delete(id(&created[0])),
                    Action::Delete(id(&created[1])),
                ],
                unaffected(),
            ),
        ],
    );
    operations.gap = Some(
        "API discovery, get, list, watch and the patch/update round trip are API-server \
         behaviour; only create, update and delete reach the enforcer (the policies select \
         no model pod, so every step expects full connectivity)",
    );

    let endport = |port: Option<IntOrString>| {
        let mut rule = to(vec![], vec![]);
        rule.ports = Some(vec![NetworkPolicyPort {
            port,
            end_port: Some(20000),
            protocol: None,
        }]);
        netpol("x", "e2e-example-netpol-endport-validate")
            .select(labels([("pod-name", "test-pod")]))
            .egress([rule])
            .build()
    };
    let invalid =
        |np| Action::ApplyInvalid(PolicySource::Fixed(Box::new(Policy::NetworkPolicy(np))));
    let mut endport_case = case(
        CONTEXT_API,
        "should support creating NetworkPolicy API with endport field",
        m,
        vec![
            step(
                "EndPort field cannot be defined if the Port field is not defined.",
                vec![invalid(endport(None))],
                unaffected(),
            ),
            step(
                "EndPort field cannot be defined if the Port field is defined as a named (string) port.",
                vec![invalid(endport(Some(IntOrString::String(
                    "serve-80".into(),
                ))))],
                unaffected(),
            ),
            step(
                "When EndPort field is smaller than port, it will failed",
                vec![invalid(endport(Some(IntOrString::Int(30000))))],
                unaffected(),
            ),
            step(
                "EndPort field is equal with port.",
                vec![apply(endport(Some(IntOrString::Int(20000))))],
                unaffected(),
            ),
            step(
                "EndPort field is greater than port.",
                vec![apply(endport(Some(IntOrString::Int(10000))))],
                unaffected(),
            ),
            step(
                "deleting all test collection",
                vec![Action::DeleteAllNetworkPolicies],
                unaffected(),
            ),
        ],
    );
    endport_case.gap = Some(
        "upstream creates each valid policy under a fresh generated name; here they share one name, \
         so the second valid create replaces the first (neither selects a model pod)",
    );
    vec![operations, endport_case]
}

/// The TCP context first, then UDP, then SCTP; inside UDP and SCTP the upstream `It` order.
/// The sort is stable, so TCP cases keep their insertion (upstream) order.
fn upstream_order(upstream: &str) -> (u8, u8) {
    let context = if upstream.starts_with(CONTEXT_SCTP) {
        2
    } else if upstream.starts_with(CONTEXT_UDP) {
        1
    } else {
        return (0, 0);
    };
    let it = if upstream.ends_with("'default-deny-ingress' policy") {
        0
    } else if upstream.ends_with("based on Ports") {
        1
    } else {
        2
    };
    (context, it)
}

fn large_cidr_except_xb(book: &dyn AddressBook) -> Policy {
    let ip = book.pod_ip(&pod("x", "b"));
    Policy::NetworkPolicy(
        netpol("x", "allow-client-a-via-cidr-egress-rule")
            .select(pod_label("a"))
            .egress([to(
                vec![ip_block(&large_cidr(ip), &[host_cidr(ip)])],
                vec![],
            )])
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_cidr_is_the_enclosing_slash_four() {
        let rows = [
            ("v4 low", "10.1.2.3", "0.0.0.0/4"),
            ("v4 high", "172.16.0.9", "160.0.0.0/4"),
            ("v6", "fd00::5", "f000::/4"),
        ];
        for (name, ip, want) in rows {
            assert_eq!(large_cidr(ip.parse().unwrap()), want, "{name}");
        }
    }

    #[test]
    fn every_case_name_is_unique_and_every_step_probes() {
        let all = cases();
        assert_eq!(
            all.len(),
            50,
            "upstream v1.36: 42 TCP, 3 UDP, 3 SCTP and 2 API cases"
        );
        let mut names: Vec<_> = all.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for case in &all {
            assert!(!case.steps.is_empty(), "{}", case.name);
            for step in &case.steps {
                assert!(
                    !step.expectations.is_empty(),
                    "{}: {}",
                    case.name,
                    step.name
                );
                for e in &step.expectations {
                    assert_eq!(e.reachability.froms().len(), 9, "{}", case.name);
                }
            }
        }
    }
}
