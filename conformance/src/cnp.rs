//! The network-policy-api v0.3.0 ClusterNetworkPolicy conformance tests (`conformance/tests/*.go`
//! with the policies of `conformance/base/{admin_tier,baseline_tier,api_integration}`), one
//! [`Case`] per upstream `ConformanceTest` (`CNPAdminTier…`, `CNPBaselineTier…`).
//!
//! ```text
//!   anp::cases() (v0.1.7 ports) ─► to_cnp(): ANP → Admin-tier CNP, BANP → Baseline-tier CNP
//!        │                         "default" priority 10, ports → protocols, Allow → Accept,
//!        │                         host-network ports → HostNetworkPorts defaults, v0.3.0 steps
//!        ▼                         added (egress/ingress-only checks, namespace relabels)
//!   24 converted cases ──┐
//!   pod_selector(), port_range(), same_priority() × 2 tiers (new in v0.2/v0.3) ──► cases()
//! ```
//!
//! Twenty-four of the thirty tests are the v0.1.7 tests moved to the new API: same pods, same
//! rules, same patches, with the API's new spelling. They are converted from this crate's v0.1.7
//! ports (so both suites read the same ladders), and each conversion is checked against the
//! v0.3.0 subtest titles. An upstream subtest that changes labels between its own assertions
//! becomes several steps named `<subtest>: <what changed>`, and a `t.Cleanup` becomes the step
//! that restores the labels, so the state the next subtest sees is upstream's.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use verdict_crds::{
    AdminNetworkPolicy, AdminNetworkPolicyEgressPeer, AdminNetworkPolicyPort,
    AdminNetworkPolicyRuleAction, BaselineAdminNetworkPolicy, BaselineAdminNetworkPolicyRuleAction,
    ClusterNetworkPolicy, ClusterNetworkPolicyEgressPeer, ClusterNetworkPolicyEgressRule,
    ClusterNetworkPolicyIngressPeer, ClusterNetworkPolicyIngressRule, ClusterNetworkPolicyPort,
    ClusterNetworkPolicyPortRange, ClusterNetworkPolicyProtocol, ClusterNetworkPolicyProtocolPort,
    ClusterNetworkPolicyRuleAction, ClusterNetworkPolicySpec, ClusterNetworkPolicySubject,
    ClusterNetworkPolicyTier, NamespacedPod,
};

use crate::case::{
    Action, Case, Expectation, Policy, PolicyId, PolicySource, Probe, Protocol, Step,
};
use crate::fixture::{expression, labels};
use crate::model::{
    HOST_NETWORK_PORTS, Model, NAMESPACE_NAME_LABEL, PodName, house_namespace,
    with_namespace_label, with_pod_labels,
};
use crate::truth_table::{Peer, TruthTable};

const G: &str = "gryffindor";
const S: &str = "slytherin";
const H: &str = "hufflepuff";
const R: &str = "ravenclaw";

/// The two tiers, as the test names spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tier {
    Admin,
    Baseline,
}

impl Tier {
    fn api(self) -> ClusterNetworkPolicyTier {
        match self {
            Tier::Admin => ClusterNetworkPolicyTier::Admin,
            Tier::Baseline => ClusterNetworkPolicyTier::Baseline,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Tier::Admin => "CNPAdminTier",
            Tier::Baseline => "CNPBaselineTier",
        }
    }
}

/// Every v0.3.0 test: 16 Admin-tier, then 14 Baseline-tier, each tier in upstream file order.
pub fn cases() -> Vec<Case> {
    let mut out: Vec<Case> = crate::anp::cases().into_iter().map(convert).collect();
    for tier in [Tier::Admin, Tier::Baseline] {
        out.push(pod_selector(tier));
        out.push(port_range(tier));
        out.push(same_priority(tier));
    }
    out.sort_by_key(|c| (c.upstream.starts_with("CNPBaseline"), c.upstream.clone()));
    out
}

// ---- converting the v0.1.7 ports ----------------------------------------------------------

/// The v0.1.7 host-network port → the v0.3.0 template index it became (`centaur-36363-tcp` is
/// `HostNetworkPorts[0]`, …, the SCTP `centaur-9003` is `HostNetworkPorts[6]`).
fn host_port(old: u16, protocol: Protocol) -> Option<u16> {
    let i = match (old, protocol) {
        (36363, Protocol::Tcp) => 0,
        (36364, Protocol::Tcp) => 1,
        (34345, Protocol::Udp) => 2,
        (34346, Protocol::Udp) => 4,
        (9003, Protocol::Sctp) => 6,
        (9005, Protocol::Sctp) => 7,
        _ => return None,
    };
    Some(HOST_NETWORK_PORTS[i])
}

/// Only the node-peer tests probe the host-network ports; elsewhere 9003/9005 are house ports.
fn remaps_host_ports(case: &Case) -> bool {
    case.upstream.ends_with("EgressNodePeers")
}

fn convert(old: Case) -> Case {
    let host = remaps_host_ports(&old);
    let upstream = old
        .upstream
        .replacen("BaselineAdminNetworkPolicy", Tier::Baseline.prefix(), 1)
        .replacen("AdminNetworkPolicy", Tier::Admin.prefix(), 1);
    let mut steps: Vec<Step> = old
        .steps
        .into_iter()
        .map(|s| convert_step(s, host))
        .collect();
    add_v03_steps(&upstream, &mut steps);
    Case {
        name: format!("cnp/{}", crate::anp::kebab(&upstream)),
        upstream,
        model: Model::cnp(),
        ignore_loopback: old.ignore_loopback,
        steps,
        gap: old.gap,
    }
}

fn convert_step(step: Step, host: bool) -> Step {
    let name = step
        .name
        .replace("respecting ANP", "respecting admin CNP")
        .replace("for ANP and", "for admin CNP and")
        .replace(
            "baseline admin network policy",
            "baseline cluster network policy",
        )
        .replace(
            "respect ANP priority field; thus passing both ingress and egress traffic over to BANP",
            "respect admin CNP priority field; thus passing both ingress and egress traffic over to baseline CNP",
        );
    Step {
        name,
        actions: step
            .actions
            .into_iter()
            .map(|a| convert_action(a, host))
            .collect(),
        expectations: step
            .expectations
            .into_iter()
            .map(|e| Expectation {
                probe: if host { remap_probe(e.probe) } else { e.probe },
                reachability: e.reachability,
            })
            .collect(),
    }
}

fn remap_probe(p: Probe) -> Probe {
    Probe {
        port: host_port(p.port, p.protocol).unwrap_or(p.port),
        ..p
    }
}

fn convert_source(source: PolicySource, host: bool) -> PolicySource {
    match source {
        PolicySource::Fixed(p) => PolicySource::Fixed(Box::new(to_cnp(&p, host))),
        PolicySource::Addressed(build) => {
            PolicySource::Addressed(Arc::new(move |book| to_cnp(&build(book), host)))
        }
    }
}

fn convert_action(action: Action, host: bool) -> Action {
    match action {
        Action::Apply(s) => Action::Apply(convert_source(s, host)),
        Action::ApplyInvalid(s) => Action::ApplyInvalid(convert_source(s, host)),
        Action::Delete(
            PolicyId::AdminNetworkPolicy(name) | PolicyId::BaselineAdminNetworkPolicy(name),
        ) => Action::Delete(PolicyId::ClusterNetworkPolicy(name)),
        other => other,
    }
}

/// The v0.1.7 policy as upstream's v0.3.0 base manifests write it: an ANP keeps its name and
/// priority in the Admin tier; the BANP becomes the Baseline-tier `default` at priority 10;
/// NetworkPolicies are unchanged.
pub fn to_cnp(policy: &Policy, host: bool) -> Policy {
    match policy {
        Policy::AdminNetworkPolicy(anp) => Policy::ClusterNetworkPolicy(admin_to_cnp(anp, host)),
        Policy::BaselineAdminNetworkPolicy(banp) => {
            Policy::ClusterNetworkPolicy(baseline_to_cnp(banp, host))
        }
        other => other.clone(),
    }
}

fn cnp_of(
    name: &str,
    tier: Tier,
    priority: i32,
    subject: ClusterNetworkPolicySubject,
    ingress: Vec<ClusterNetworkPolicyIngressRule>,
    egress: Vec<ClusterNetworkPolicyEgressRule>,
) -> ClusterNetworkPolicy {
    ClusterNetworkPolicy::new(
        name,
        ClusterNetworkPolicySpec {
            tier: tier.api(),
            priority,
            subject,
            ingress,
            egress,
        },
    )
}

fn rule_name(name: &Option<String>, host: bool) -> Option<String> {
    let name = name.clone()?;
    if !host {
        return Some(name);
    }
    // The node-peer rules are named after the ports they open.
    let mapped = [("36363", 0), ("5353-on-nodes", 2)]
        .into_iter()
        .fold(name, |n, (old, i)| {
            let new = if old.ends_with("-on-nodes") {
                format!("{}-on-nodes", HOST_NETWORK_PORTS[i])
            } else {
                HOST_NETWORK_PORTS[i].to_string()
            };
            n.replace(old, &new)
        });
    Some(mapped)
}

fn admin_to_cnp(anp: &AdminNetworkPolicy, host: bool) -> ClusterNetworkPolicy {
    let action = |a| match a {
        AdminNetworkPolicyRuleAction::Allow => ClusterNetworkPolicyRuleAction::Accept,
        AdminNetworkPolicyRuleAction::Deny => ClusterNetworkPolicyRuleAction::Deny,
        AdminNetworkPolicyRuleAction::Pass => ClusterNetworkPolicyRuleAction::Pass,
    };
    let spec = &anp.spec;
    cnp_of(
        anp.metadata.name.as_deref().unwrap_or_default(),
        Tier::Admin,
        spec.priority,
        subject(&spec.subject),
        spec.ingress
            .iter()
            .map(|r| ClusterNetworkPolicyIngressRule {
                name: rule_name(&r.name, host),
                action: action(r.action),
                from: r
                    .from
                    .iter()
                    .map(|p| ClusterNetworkPolicyIngressPeer {
                        namespaces: p.namespaces.clone(),
                        pods: p.pods.clone(),
                    })
                    .collect(),
                protocols: protocols(r.ports.as_deref(), host),
            })
            .collect(),
        spec.egress
            .iter()
            .map(|r| ClusterNetworkPolicyEgressRule {
                name: rule_name(&r.name, host),
                action: action(r.action),
                to: r.to.iter().map(egress_peer).collect(),
                protocols: protocols(r.ports.as_deref(), host),
            })
            .collect(),
    )
}

fn baseline_to_cnp(banp: &BaselineAdminNetworkPolicy, host: bool) -> ClusterNetworkPolicy {
    let action = |a| match a {
        BaselineAdminNetworkPolicyRuleAction::Allow => ClusterNetworkPolicyRuleAction::Accept,
        BaselineAdminNetworkPolicyRuleAction::Deny => ClusterNetworkPolicyRuleAction::Deny,
    };
    let spec = &banp.spec;
    cnp_of(
        "default",
        Tier::Baseline,
        10,
        subject(&spec.subject),
        spec.ingress
            .iter()
            .map(|r| ClusterNetworkPolicyIngressRule {
                name: rule_name(&r.name, host),
                action: action(r.action),
                from: r
                    .from
                    .iter()
                    .map(|p| ClusterNetworkPolicyIngressPeer {
                        namespaces: p.namespaces.clone(),
                        pods: p.pods.clone(),
                    })
                    .collect(),
                protocols: protocols(r.ports.as_deref(), host),
            })
            .collect(),
        spec.egress
            .iter()
            .map(|r| ClusterNetworkPolicyEgressRule {
                name: rule_name(&r.name, host),
                action: action(r.action),
                to: r
                    .to
                    .iter()
                    .map(|p| ClusterNetworkPolicyEgressPeer {
                        namespaces: p.namespaces.clone(),
                        pods: p.pods.clone(),
                        nodes: p.nodes.clone(),
                        networks: p.networks.clone(),
                        domain_names: Vec::new(),
                    })
                    .collect(),
                protocols: protocols(r.ports.as_deref(), host),
            })
            .collect(),
    )
}

fn subject(s: &verdict_crds::AdminNetworkPolicySubject) -> ClusterNetworkPolicySubject {
    ClusterNetworkPolicySubject {
        namespaces: s.namespaces.clone(),
        pods: s.pods.clone(),
    }
}

fn egress_peer(p: &AdminNetworkPolicyEgressPeer) -> ClusterNetworkPolicyEgressPeer {
    ClusterNetworkPolicyEgressPeer {
        namespaces: p.namespaces.clone(),
        pods: p.pods.clone(),
        nodes: p.nodes.clone(),
        networks: p.networks.clone(),
        domain_names: p.domain_names.clone(),
    }
}

fn protocol_of(name: Option<&str>) -> Protocol {
    match name.unwrap_or("TCP") {
        "UDP" => Protocol::Udp,
        "SCTP" => Protocol::Sctp,
        _ => Protocol::Tcp,
    }
}

fn transport(protocol: Protocol, port: ClusterNetworkPolicyPort) -> ClusterNetworkPolicyProtocol {
    let port = Some(ClusterNetworkPolicyProtocolPort {
        destination_port: Some(port),
    });
    match protocol {
        Protocol::Tcp => ClusterNetworkPolicyProtocol {
            tcp: port,
            ..Default::default()
        },
        Protocol::Udp => ClusterNetworkPolicyProtocol {
            udp: port,
            ..Default::default()
        },
        Protocol::Sctp => ClusterNetworkPolicyProtocol {
            sctp: port,
            ..Default::default()
        },
    }
}

/// v1alpha1 `ports` → NPEP-187 `protocols`.
fn protocols(
    ports: Option<&[AdminNetworkPolicyPort]>,
    host: bool,
) -> Option<Vec<ClusterNetworkPolicyProtocol>> {
    let remap = |n: i32, p: Protocol| {
        let old = u16::try_from(n).unwrap_or_default();
        match host.then(|| host_port(old, p)).flatten() {
            Some(new) => i32::from(new),
            None => n,
        }
    };
    ports.map(|ports| {
        ports
            .iter()
            .map(|p| {
                if let Some(n) = &p.port_number {
                    let protocol = protocol_of(Some(n.protocol.as_str()));
                    transport(
                        protocol,
                        ClusterNetworkPolicyPort {
                            number: Some(remap(n.port, protocol)),
                            range: None,
                        },
                    )
                } else if let Some(r) = &p.port_range {
                    let protocol = protocol_of(r.protocol.as_deref());
                    transport(
                        protocol,
                        ClusterNetworkPolicyPort {
                            number: None,
                            range: Some(ClusterNetworkPolicyPortRange {
                                start: remap(r.start, protocol),
                                end: remap(r.end, protocol),
                            }),
                        },
                    )
                } else {
                    ClusterNetworkPolicyProtocol {
                        destination_named_port: p.named_port.clone(),
                        ..Default::default()
                    }
                }
            })
            .collect()
    })
}

/// The steps v0.3.0 added to tests that v0.1.7 already had.
fn add_v03_steps(upstream: &str, steps: &mut Vec<Step>) {
    let dir = if upstream.ends_with("EgressTCP") {
        Some(("ingress", "egress"))
    } else if upstream.ends_with("IngressTCP") {
        Some(("egress", "ingress"))
    } else {
        None
    };
    if let Some((other, own)) = dir {
        // Right after the second step (an observed deny), before any patch: a policy with
        // rules in one direction leaves the other alone. Nothing changes, so the tables are
        // the second step's.
        let expectations = steps[1].expectations.clone();
        steps.insert(
            2,
            Step {
                name: format!(
                    "Should not affect {other} traffic when only {own} rules are specified"
                ),
                actions: Vec::new(),
                expectations,
            },
        );
    }
    if upstream.ends_with("EgressInlineCIDRPeers") {
        // The first subtest relabels slytherin away from the allow rule's namespaceSelector
        // (its traffic then hits the 0.0.0.0/0 deny), then back.
        let model = Model::cnp();
        let ns = model
            .namespace(&house_namespace(S))
            .expect("slytherin exists")
            .clone();
        let denied = steps[0]
            .expectations
            .iter()
            .cloned()
            .map(|mut e| {
                e.reachability
                    .expect_peer(&in_house(G), &in_house(S), false);
                e
            })
            .collect();
        let first = steps[0].name.clone();
        let restored = steps[0].expectations.clone();
        steps.insert(
            1,
            Step {
                name: format!(
                    "{first}: slytherin relabelled conformance-house=denied-namespace-label"
                ),
                actions: vec![Action::ApplyNamespace(Box::new(with_namespace_label(
                    &ns,
                    "conformance-house",
                    "denied-namespace-label",
                )))],
                expectations: denied,
            },
        );
        steps.insert(
            2,
            Step {
                name: format!("{first}: slytherin relabelled conformance-house=slytherin"),
                actions: vec![Action::ApplyNamespace(Box::new(ns))],
                expectations: restored,
            },
        );
    }
}

// ---- the tests that are new in v0.3.0 ------------------------------------------------------

fn in_house(h: &str) -> Peer {
    Peer::namespace(house_namespace(h))
}

fn house_pod(h: &str, name: &str) -> PodName {
    PodName::new(house_namespace(h), name)
}

fn pod_peer(h: &str, name: &str) -> Peer {
    Peer::pod(house_namespace(h), name)
}

fn ns_named(h: &str) -> LabelSelector {
    labels([(NAMESPACE_NAME_LABEL, house_namespace(h).as_str())])
}

fn house(h: &str) -> LabelSelector {
    labels([("conformance-house", h)])
}

fn pods(namespaces: LabelSelector, pods: LabelSelector) -> NamespacedPod {
    NamespacedPod {
        namespace_selector: namespaces,
        pod_selector: pods,
    }
}

fn ingress(
    name: &str,
    action: ClusterNetworkPolicyRuleAction,
    from: Vec<ClusterNetworkPolicyIngressPeer>,
    protocols: Option<Vec<ClusterNetworkPolicyProtocol>>,
) -> ClusterNetworkPolicyIngressRule {
    ClusterNetworkPolicyIngressRule {
        name: Some(name.into()),
        action,
        from,
        protocols,
    }
}

fn egress(
    name: &str,
    action: ClusterNetworkPolicyRuleAction,
    to: Vec<ClusterNetworkPolicyEgressPeer>,
    protocols: Option<Vec<ClusterNetworkPolicyProtocol>>,
) -> ClusterNetworkPolicyEgressRule {
    ClusterNetworkPolicyEgressRule {
        name: Some(name.into()),
        action,
        to,
        protocols,
    }
}

fn from_pods(p: NamespacedPod) -> ClusterNetworkPolicyIngressPeer {
    ClusterNetworkPolicyIngressPeer {
        pods: Some(p),
        ..Default::default()
    }
}

fn from_namespaces(s: LabelSelector) -> ClusterNetworkPolicyIngressPeer {
    ClusterNetworkPolicyIngressPeer {
        namespaces: Some(s),
        ..Default::default()
    }
}

fn to_pods(p: NamespacedPod) -> ClusterNetworkPolicyEgressPeer {
    ClusterNetworkPolicyEgressPeer {
        pods: Some(p),
        ..Default::default()
    }
}

fn to_namespaces(s: LabelSelector) -> ClusterNetworkPolicyEgressPeer {
    ClusterNetworkPolicyEgressPeer {
        namespaces: Some(s),
        ..Default::default()
    }
}

fn number(protocol: Protocol, n: i32) -> ClusterNetworkPolicyProtocol {
    transport(
        protocol,
        ClusterNetworkPolicyPort {
            number: Some(n),
            range: None,
        },
    )
}

fn range(protocol: Protocol, start: i32, end: i32) -> ClusterNetworkPolicyProtocol {
    transport(
        protocol,
        ClusterNetworkPolicyPort {
            number: None,
            range: Some(ClusterNetworkPolicyPortRange { start, end }),
        },
    )
}

fn new_case(tier: Tier, short: &str, steps: Vec<Step>) -> Case {
    let upstream = format!("{}{short}", tier.prefix());
    Case {
        name: format!("cnp/{}", crate::anp::kebab(&upstream)),
        upstream,
        model: Model::cnp(),
        ignore_loopback: true,
        steps,
        gap: None,
    }
}

fn step(name: &str, actions: Vec<Action>, expectations: Vec<Expectation>) -> Step {
    Step {
        name: name.into(),
        actions,
        expectations,
    }
}

fn tables(probes: &[Probe], fill: impl Fn(Probe, &mut TruthTable)) -> Vec<Expectation> {
    let model = Model::cnp();
    probes
        .iter()
        .map(|&probe| {
            let mut reachability = model.table(true);
            fill(probe, &mut reachability);
            Expectation {
                probe,
                reachability,
            }
        })
        .collect()
}

const ROLE: &str = "conformance-role";

fn relabel(h: &str, name: &str, role: Option<&str>) -> Action {
    let model = Model::cnp();
    let pod = model.pod(&house_pod(h, name)).expect("house pod").clone();
    Action::ApplyPod(Box::new(match role {
        Some(role) => with_pod_labels(&pod, [(ROLE, role)]),
        None => pod,
    }))
}

/// `CNP…PodSelector`: pod selectors in egress peers, ingress peers and the subject, with
/// `conformance-role` labels set and removed between assertions.
fn pod_selector(tier: Tier) -> Case {
    use ClusterNetworkPolicyRuleAction::{Accept, Deny};
    let (first, second) = match tier {
        Tier::Admin => (20, 21),
        Tier::Baseline => (10, 10),
    };
    let rules = cnp_of(
        "pod-selector-rules",
        tier,
        first,
        ClusterNetworkPolicySubject {
            pods: Some(pods(LabelSelector::default(), house(G))),
            ..Default::default()
        },
        vec![
            ingress(
                "allow-from-draco-malfoy-0",
                Accept,
                vec![from_pods(pods(
                    house(S),
                    labels([("statefulset.kubernetes.io/pod-name", "draco-malfoy-0")]),
                ))],
                None,
            ),
            ingress(
                "deny-from-slytherin-pods",
                Deny,
                vec![from_pods(pods(LabelSelector::default(), house(S)))],
                None,
            ),
            ingress(
                "deny-from-blocked-hufflepuff-pods",
                Deny,
                vec![from_pods(pods(house(H), labels([(ROLE, "blocked")])))],
                None,
            ),
        ],
        vec![
            egress(
                "allow-to-luna-lovegood-0-tcp-80",
                Accept,
                vec![to_pods(pods(
                    house(R),
                    labels([("statefulset.kubernetes.io/pod-name", "luna-lovegood-0")]),
                ))],
                Some(vec![number(Protocol::Tcp, 80)]),
            ),
            egress(
                "deny-to-ravenclaw-pods",
                Deny,
                vec![to_pods(pods(LabelSelector::default(), house(R)))],
                None,
            ),
        ],
    );
    let subject_rules = cnp_of(
        "label-selected-subject-rules",
        tier,
        second,
        ClusterNetworkPolicySubject {
            pods: Some(pods(house(R), labels([(ROLE, "restricted")]))),
            ..Default::default()
        },
        vec![],
        vec![egress(
            "deny-to-slytherin",
            Deny,
            vec![to_namespaces(ns_named(S))],
            None,
        )],
    );
    // Gryffindor reaches ravenclaw only at luna-lovegood-0 TCP 80; only draco-malfoy-0 of
    // slytherin reaches gryffindor; `blocked` hufflepuff pods and `restricted` ravenclaw
    // pods' slytherin traffic are denied.
    let state = |blocked: Option<&'static str>, restricted: Option<&'static str>| {
        move |probe: Probe, t: &mut TruthTable| {
            t.expect_peer(&in_house(G), &in_house(R), false);
            if probe == Probe::tcp(80) {
                t.expect_peer(&in_house(G), &pod_peer(R, "luna-lovegood-0"), true);
            }
            t.expect_peer(&in_house(S), &in_house(G), false)
                .expect_peer(&pod_peer(S, "draco-malfoy-0"), &in_house(G), true);
            if let Some(b) = blocked {
                t.expect_peer(&pod_peer(H, b), &in_house(G), false);
            }
            if let Some(r) = restricted {
                t.expect_peer(&pod_peer(R, r), &in_house(S), false);
            }
        }
    };
    let tcp80 = [Probe::tcp(80)];
    let egress_title = "Should support pod selectors in egress peers";
    let ingress_title = "Should support pod selectors in ingress peers";
    let subject_title = "Should support pod selectors in the subject";
    new_case(
        tier,
        "PodSelector",
        vec![
            step(
                egress_title,
                vec![Action::cluster(rules), Action::cluster(subject_rules)],
                tables(&[Probe::tcp(80), Probe::tcp(8080)], state(None, None)),
            ),
            step(ingress_title, vec![], tables(&tcp80, state(None, None))),
            step(
                &format!("{ingress_title}: cedric-diggory-0 labelled blocked"),
                vec![relabel(H, "cedric-diggory-0", Some("blocked"))],
                tables(&tcp80, state(Some("cedric-diggory-0"), None)),
            ),
            step(
                &format!("{ingress_title}: the label removed from cedric-diggory-0"),
                vec![relabel(H, "cedric-diggory-0", None)],
                tables(&tcp80, state(None, None)),
            ),
            step(
                &format!("{ingress_title}: cedric-diggory-1 labelled blocked"),
                vec![relabel(H, "cedric-diggory-1", Some("blocked"))],
                tables(&tcp80, state(Some("cedric-diggory-1"), None)),
            ),
            step(
                &format!("{ingress_title}: t.Cleanup removes the labels"),
                vec![
                    relabel(H, "cedric-diggory-0", None),
                    relabel(H, "cedric-diggory-1", None),
                ],
                tables(&tcp80, state(None, None)),
            ),
            step(subject_title, vec![], tables(&tcp80, state(None, None))),
            step(
                &format!("{subject_title}: luna-lovegood-0 labelled restricted"),
                vec![relabel(R, "luna-lovegood-0", Some("restricted"))],
                tables(&tcp80, state(None, Some("luna-lovegood-0"))),
            ),
            step(
                &format!("{subject_title}: the label removed from luna-lovegood-0"),
                vec![relabel(R, "luna-lovegood-0", None)],
                tables(&tcp80, state(None, None)),
            ),
            step(
                &format!("{subject_title}: luna-lovegood-1 labelled restricted"),
                vec![relabel(R, "luna-lovegood-1", Some("restricted"))],
                tables(&tcp80, state(None, Some("luna-lovegood-1"))),
            ),
            step(
                &format!("{subject_title}: t.Cleanup removes the labels"),
                vec![
                    relabel(R, "luna-lovegood-0", None),
                    relabel(R, "luna-lovegood-1", None),
                ],
                tables(&tcp80, state(None, None)),
            ),
        ],
    )
}

/// `CNP…PortRange`: gryffindor talks to ravenclaw on TCP 80-8080, hufflepuff on UDP 53-5353 and
/// slytherin on SCTP 9003-9005, both ways, and to no other house pod.
fn port_range(tier: Tier) -> Case {
    use ClusterNetworkPolicyRuleAction::{Accept, Deny};
    let priority = match tier {
        Tier::Admin => 9,
        Tier::Baseline => 10,
    };
    let ranges = [
        (R, Protocol::Tcp, 80, 8080, "ravenclaw-tcp"),
        (H, Protocol::Udp, 53, 5353, "hufflepuff-udp"),
        (S, Protocol::Sctp, 9003, 9005, "slytherin-sctp"),
    ];
    let any_house = expression("conformance-house", "Exists", &[]);
    let mut ingress_rules: Vec<_> = ranges
        .iter()
        .map(|&(h, p, start, end, label)| {
            ingress(
                &format!("allow-from-{label}-port-range"),
                Accept,
                vec![from_namespaces(ns_named(h))],
                Some(vec![range(p, start, end)]),
            )
        })
        .collect();
    ingress_rules.push(ingress(
        "deny-all-ingress",
        Deny,
        vec![from_namespaces(any_house.clone())],
        None,
    ));
    let mut egress_rules: Vec<_> = ranges
        .iter()
        .map(|&(h, p, start, end, label)| {
            egress(
                &format!("allow-to-{label}-port-range"),
                Accept,
                vec![to_namespaces(ns_named(h))],
                Some(vec![range(p, start, end)]),
            )
        })
        .collect();
    egress_rules.push(egress(
        "deny-all-egress",
        Deny,
        vec![to_namespaces(any_house)],
        None,
    ));
    let policy = cnp_of(
        "port-range-rules",
        tier,
        priority,
        ClusterNetworkPolicySubject {
            namespaces: Some(ns_named(G)),
            ..Default::default()
        },
        ingress_rules,
        egress_rules,
    );
    let fill = move |probe: Probe, t: &mut TruthTable| {
        // Every house pod (gryffindor's own included) is behind the deny-all rules; the
        // host-network centaurs are not pods a namespaces peer selects.
        for h in [G, S, H, R] {
            t.expect_peer(&in_house(G), &in_house(h), false)
                .expect_peer(&in_house(h), &in_house(G), false);
        }
        for &(h, p, start, end, _) in &ranges {
            if probe.protocol == p && (start..=end).contains(&i32::from(probe.port)) {
                t.expect_peer(&in_house(G), &in_house(h), true).expect_peer(
                    &in_house(h),
                    &in_house(G),
                    true,
                );
            }
        }
    };
    let probes = [
        Probe::tcp(80),
        Probe::tcp(8080),
        Probe::udp(53),
        Probe::udp(5353),
        Probe::sctp(9003),
        Probe::sctp(9005),
    ];
    new_case(
        tier,
        "PortRange",
        vec![
            step(
                "Should support egress port range rules across different protocols",
                vec![Action::cluster(policy)],
                tables(&probes, fill),
            ),
            step(
                "Should support ingress port range rules across different protocols",
                vec![],
                tables(&probes, fill),
            ),
        ],
    )
}

/// `CNP…SamePriority`: three policies at one priority, two with the same subject; each denies
/// its own peer both ways and none leaks onto another's subject.
fn same_priority(tier: Tier) -> Case {
    use ClusterNetworkPolicyRuleAction::Deny;
    let (prefix, priority) = match tier {
        Tier::Admin => ("", 15),
        Tier::Baseline => ("baseline-", 10),
    };
    let policy = |subject: &str, peer: &str, port: i32| {
        cnp_of(
            &format!("{prefix}same-priority-{subject}-{peer}"),
            tier,
            priority,
            ClusterNetworkPolicySubject {
                namespaces: Some(ns_named(subject)),
                ..Default::default()
            },
            vec![ingress(
                &format!("deny-from-{peer}-at-port-{port}"),
                Deny,
                vec![from_namespaces(ns_named(peer))],
                Some(vec![number(Protocol::Tcp, port)]),
            )],
            vec![egress(
                &format!("deny-to-{peer}-at-port-{port}"),
                Deny,
                vec![to_namespaces(ns_named(peer))],
                Some(vec![number(Protocol::Tcp, port)]),
            )],
        )
    };
    let fill = |probe: Probe, t: &mut TruthTable| {
        let pairs: &[(&str, &str)] = if probe == Probe::tcp(80) {
            &[(G, S), (G, H)]
        } else {
            &[(H, S)]
        };
        for &(a, b) in pairs {
            t.expect_peer(&in_house(a), &in_house(b), false)
                .expect_peer(&in_house(b), &in_house(a), false);
        }
    };
    let probes = [Probe::tcp(80), Probe::tcp(8080)];
    new_case(
        tier,
        "SamePriority",
        vec![
            step(
                "Should deny traffic in both directions for each same-priority policy",
                vec![
                    Action::cluster(policy(G, S, 80)),
                    Action::cluster(policy(G, H, 80)),
                    Action::cluster(policy(H, S, 8080)),
                ],
                tables(&probes, fill),
            ),
            step(
                "Should not apply one same-priority policy's rules to another policy's subject",
                vec![],
                tables(&probes, fill),
            ),
            step(
                "Should not affect traffic matching no same-priority policy",
                vec![],
                tables(&probes, fill),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v0.3.0 `ShortName`s and their `t.Run` counts, in upstream file order.
    const UPSTREAM: [(&str, usize); 30] = [
        ("CNPAdminTierEgressNamedPort", 1),
        ("CNPAdminTierEgressNodePeers", 3),
        ("CNPAdminTierIngressNamedPort", 1),
        ("CNPAdminTierEgressInlineCIDRPeers", 2),
        ("CNPAdminTierEgressSCTP", 6),
        ("CNPAdminTierEgressTCP", 7),
        ("CNPAdminTierEgressUDP", 6),
        ("CNPAdminTierGress", 6),
        ("CNPAdminTierIngressSCTP", 6),
        ("CNPAdminTierIngressTCP", 7),
        ("CNPAdminTierIngressUDP", 6),
        ("CNPAdminTierIntegration", 6),
        ("CNPAdminTierPodSelector", 3),
        ("CNPAdminTierPortRange", 2),
        ("CNPAdminTierPriorityField", 3),
        ("CNPAdminTierSamePriority", 3),
        ("CNPBaselineTierEgressNamedPort", 1),
        ("CNPBaselineTierEgressNodePeers", 2),
        ("CNPBaselineTierIngressNamedPort", 1),
        ("CNPBaselineTierEgressInlineCIDRPeers", 2),
        ("CNPBaselineTierEgressSCTP", 4),
        ("CNPBaselineTierEgressTCP", 5),
        ("CNPBaselineTierEgressUDP", 4),
        ("CNPBaselineTierGress", 4),
        ("CNPBaselineTierIngressSCTP", 4),
        ("CNPBaselineTierIngressTCP", 5),
        ("CNPBaselineTierIngressUDP", 4),
        ("CNPBaselineTierPodSelector", 3),
        ("CNPBaselineTierPortRange", 2),
        ("CNPBaselineTierSamePriority", 3),
    ];

    /// The upstream subtest a step belongs to: its title before `: ` (sub-steps of one
    /// subtest share it).
    fn subtest(step: &Step) -> &str {
        step.name.split(": ").next().unwrap_or(&step.name)
    }

    #[test]
    fn every_upstream_test_and_subtest_is_ported() {
        let cases = cases();
        let mut names: Vec<&str> = cases.iter().map(|c| c.upstream.as_str()).collect();
        names.sort();
        let mut want: Vec<&str> = UPSTREAM.iter().map(|(n, _)| *n).collect();
        want.sort();
        assert_eq!(names, want);
        let mut total = 0;
        for (name, runs) in UPSTREAM {
            let case = cases.iter().find(|c| c.upstream == name).unwrap();
            let mut subtests: Vec<&str> = case.steps.iter().map(subtest).collect();
            subtests.dedup();
            assert_eq!(subtests.len(), runs, "{name}: {subtests:#?}");
            total += runs;
            assert!(case.name.starts_with("cnp/cnp-"), "{}", case.name);
            for step in &case.steps {
                for a in &step.actions {
                    if let Action::Apply(PolicySource::Fixed(p)) = a {
                        assert!(
                            matches!(
                                **p,
                                Policy::ClusterNetworkPolicy(_) | Policy::NetworkPolicy(_)
                            ),
                            "{name}: {:?}",
                            p.id()
                        );
                    }
                }
            }
        }
        assert_eq!(total, 112);
    }

    #[test]
    fn node_peer_tests_use_the_templated_host_ports() {
        let case = cases()
            .into_iter()
            .find(|c| c.upstream == "CNPAdminTierEgressNodePeers")
            .unwrap();
        let probes: Vec<String> = case.probes().iter().map(ToString::to_string).collect();
        assert_eq!(
            probes,
            [
                "TCP/34345",
                "TCP/34346",
                "UDP/34347",
                "UDP/34349",
                "SCTP/34351"
            ]
        );
        let Action::Apply(PolicySource::Fixed(p)) = &case.steps[0].actions[0] else {
            panic!("the first step applies the policy");
        };
        let Policy::ClusterNetworkPolicy(cnp) = &**p else {
            panic!("a ClusterNetworkPolicy");
        };
        let first = &cnp.spec.egress[0];
        assert_eq!(
            first.name.as_deref(),
            Some("allow-egress-to-34345-on-nodes")
        );
        assert_eq!(first.action, ClusterNetworkPolicyRuleAction::Accept);
        let tcp = first.protocols.as_ref().unwrap()[0].tcp.as_ref().unwrap();
        assert_eq!(tcp.destination_port.as_ref().unwrap().number, Some(34345));
        assert_eq!(
            cnp.spec.egress[1].name.as_deref(),
            Some("pass-egress-to-34347-on-nodes")
        );
    }

    #[test]
    fn baselines_become_the_default_baseline_cnp_at_priority_10() {
        let case = cases()
            .into_iter()
            .find(|c| c.upstream == "CNPAdminTierIntegration")
            .unwrap();
        let cnps: Vec<(String, ClusterNetworkPolicyTier, i32)> = case.steps[0]
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Apply(PolicySource::Fixed(p)) => match &**p {
                    Policy::ClusterNetworkPolicy(c) => Some((
                        c.metadata.name.clone().unwrap(),
                        c.spec.tier,
                        c.spec.priority,
                    )),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(
            cnps,
            [
                (
                    "pass-example".to_string(),
                    ClusterNetworkPolicyTier::Admin,
                    10
                ),
                (
                    "default".to_string(),
                    ClusterNetworkPolicyTier::Baseline,
                    10
                ),
            ]
        );
    }
}
