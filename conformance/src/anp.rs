//! The network-policy-api v0.1.7 AdminNetworkPolicy and BaselineAdminNetworkPolicy conformance
//! tests (`conformance/tests/*.go` with the policies of `conformance/base/`), one [`Case`] per
//! upstream `ConformanceTest`, one [`Step`] per `t.Run`.
//!
//! Upstream pokes single client/server pairs; here each step's probes are checked over the
//! whole table (eight house pods to those eight plus the two host-network centaurs), with
//! expectations written in the netpol helper style. State carries over between steps exactly
//! as upstream's patches do (a later swap applies to the already swapped rules).

use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::case::{
    Action, AddressBook, Case, Expectation, Policy, PolicyId, Probe, Protocol, Step,
};
use crate::fixture::{
    Act, AdminRule, admin, baseline, from as np_from, labels, namespaces as np_namespaces, netpol,
    peer_namespaces, peer_networks, peer_nodes, peer_pods, port_named, port_number, port_range,
    rule, subject_namespaces, subject_pods, to as np_to,
};
use crate::model::{FOREST, Model, NAMESPACE_NAME_LABEL, PodName, house_namespace};
use crate::truth_table::{Peer, TruthTable};

const G: &str = "gryffindor";
const S: &str = "slytherin";
const H: &str = "hufflepuff";
const R: &str = "ravenclaw";

/// `kubernetes.io/metadata.name: network-policy-conformance-<house>`.
fn ns_named(house: &str) -> LabelSelector {
    labels([(NAMESPACE_NAME_LABEL, house_namespace(house).as_str())])
}

/// `conformance-house: <house>`.
fn house(house: &str) -> LabelSelector {
    labels([("conformance-house", house)])
}

fn in_house(h: &str) -> Peer {
    Peer::namespace(house_namespace(h))
}

fn centaurs() -> Peer {
    Peer::namespace(house_namespace(FOREST))
}

fn house_pod(h: &str, name: &str) -> PodName {
    PodName::new(house_namespace(h), name)
}

fn linux_nodes() -> LabelSelector {
    labels([("kubernetes.io/os", "linux")])
}

/// `CamelCase` to `camel-case`, keeping acronyms together (`InlineCIDRPeers` → `inline-cidr-peers`).
pub(crate) fn kebab(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev_lower = chars[i - 1].is_ascii_lowercase();
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev_lower || (next_lower && chars[i - 1].is_ascii_uppercase()) {
                out.push('-');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn case(short_name: &str, steps: Vec<Step>) -> Case {
    let suite = if short_name.starts_with("Baseline") {
        "banp"
    } else {
        "anp"
    };
    Case {
        name: format!("{suite}/{}", kebab(short_name)),
        upstream: short_name.into(),
        model: Model::anp(),
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

/// The expectations for `probes`, each table built by `fill` from an all-true start.
fn tables(
    model: &Model,
    probes: &[Probe],
    fill: impl Fn(Probe, &mut TruthTable),
) -> Vec<Expectation> {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tier {
    Admin,
    Baseline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Ingress,
    Egress,
}

/// One direction of the upstream rule ladder: a peer namespace matched on every port
/// (allowed, denied, passed), one denied (then passed) on some ports, and one allowed on some
/// ports and denied on the rest.
#[derive(Clone, Debug)]
struct Ladder {
    dir: Dir,
    everything: &'static str,
    denied: &'static str,
    deny_label: String,
    deny_ports: Vec<Probe>,
    allowed: &'static str,
    allow_label: String,
    allow_ports: Vec<Probe>,
}

fn ports_of(probes: &[Probe]) -> Vec<verdict_crds::AdminNetworkPolicyPort> {
    probes
        .iter()
        .map(|p| port_number(p.protocol, i32::from(p.port)))
        .collect()
}

impl Ladder {
    fn word(&self) -> &'static str {
        match self.dir {
            Dir::Ingress => "from",
            Dir::Egress => "to",
        }
    }

    /// ANP: allow/deny/pass everything, deny/pass at ports, allow at ports, deny the rest.
    /// BANP: the same without the two pass rules.
    fn rules(&self, tier: Tier) -> Vec<AdminRule> {
        let w = self.word();
        let e = || vec![peer_namespaces(ns_named(self.everything))];
        let d = || vec![peer_namespaces(ns_named(self.denied))];
        let a = || vec![peer_namespaces(ns_named(self.allowed))];
        let mut rules = vec![
            rule(
                &format!("allow-{w}-{}-everything", self.everything),
                Act::Allow,
                e(),
            ),
            rule(
                &format!("deny-{w}-{}-everything", self.everything),
                Act::Deny,
                e(),
            ),
        ];
        if tier == Tier::Admin {
            rules.push(rule(
                &format!("pass-{w}-{}-everything", self.everything),
                Act::Pass,
                e(),
            ));
        }
        rules.push(
            rule(
                &format!("deny-{w}-{}-{}", self.denied, self.deny_label),
                Act::Deny,
                d(),
            )
            .ports(ports_of(&self.deny_ports)),
        );
        if tier == Tier::Admin {
            rules.push(
                rule(
                    &format!("pass-{w}-{}-{}", self.denied, self.deny_label),
                    Act::Pass,
                    d(),
                )
                .ports(ports_of(&self.deny_ports)),
            );
        }
        rules.push(
            rule(
                &format!("allow-{w}-{}-{}", self.allowed, self.allow_label),
                Act::Allow,
                a(),
            )
            .ports(ports_of(&self.allow_ports)),
        );
        rules.push(rule(
            &format!("deny-{w}-{}-everything-else", self.allowed),
            Act::Deny,
            a(),
        ));
        rules
    }

    /// Blocks traffic between the subject's namespace and `peer`'s, in this direction.
    fn block(&self, t: &mut TruthTable, subject: &str, peer: &str) {
        match self.dir {
            Dir::Ingress => t.expect_peer(&in_house(peer), &in_house(subject), false),
            Dir::Egress => t.expect_peer(&in_house(subject), &in_house(peer), false),
        };
    }
}

/// Where the ladder stands after a step's patches.
#[derive(Clone, Copy, Debug, Default)]
struct LadderState {
    /// The deny rule for the "everything" namespace is first.
    everything_denied: bool,
    /// The pass rule for the "denied" namespace comes before its deny rule.
    denied_passed: bool,
    /// The allow rule's ports were replaced by a named port that resolves to this probe.
    named_allow: Option<Probe>,
}

/// One upstream test built on ladders.
struct LadderTest {
    short_name: &'static str,
    tier: Tier,
    policy: &'static str,
    priority: i32,
    subject: &'static str,
    ladders: Vec<Ladder>,
    probes: Vec<Probe>,
}

impl LadderTest {
    fn object(&self, ladders: &[(Dir, Vec<AdminRule>)]) -> Action {
        let of = |dir| {
            ladders
                .iter()
                .filter(|(d, _)| *d == dir)
                .flat_map(|(_, r)| r.clone())
                .collect::<Vec<_>>()
        };
        let (ingress, egress) = (of(Dir::Ingress), of(Dir::Egress));
        let subject = subject_namespaces(ns_named(self.subject));
        match self.tier {
            Tier::Admin => Action::admin(admin(
                self.policy,
                self.priority,
                subject,
                &ingress,
                &egress,
            )),
            Tier::Baseline => Action::baseline(baseline(subject, &ingress, &egress)),
        }
    }

    fn base_rules(&self) -> Vec<(Dir, Vec<AdminRule>)> {
        self.ladders
            .iter()
            .map(|l| (l.dir, l.rules(self.tier)))
            .collect()
    }

    fn expectations(&self, model: &Model, state: LadderState) -> Vec<Expectation> {
        tables(model, &self.probes, |probe, t| {
            for l in &self.ladders {
                if state.everything_denied {
                    l.block(t, self.subject, l.everything);
                }
                if l.deny_ports.contains(&probe) && !state.denied_passed {
                    l.block(t, self.subject, l.denied);
                }
                let allowed = match state.named_allow {
                    Some(named) => named == probe,
                    None => l.allow_ports.contains(&probe),
                };
                if !allowed {
                    l.block(t, self.subject, l.allowed);
                }
            }
        })
    }

    /// The standard test: rule ordering and ports, with swaps as upstream patches them.
    fn case(&self, titles: &[String]) -> Case {
        let model = Model::anp();
        let mut rules = self.base_rules();
        let swap = |rules: &mut Vec<(Dir, Vec<AdminRule>)>, i: usize, j: usize| {
            for (_, r) in rules.iter_mut() {
                r.swap(i, j);
            }
        };
        let mut steps = Vec::new();
        let mut state = LadderState::default();
        steps.push(step(
            &titles[0],
            vec![self.object(&rules)],
            self.expectations(&model, state),
        ));
        steps.push(step(&titles[1], vec![], self.expectations(&model, state)));
        swap(&mut rules, 0, 1);
        state.everything_denied = true;
        steps.push(step(
            &titles[2],
            vec![self.object(&rules)],
            self.expectations(&model, state),
        ));
        steps.push(step(&titles[3], vec![], self.expectations(&model, state)));
        if self.tier == Tier::Admin {
            swap(&mut rules, 0, 2);
            state.everything_denied = false;
            steps.push(step(
                &titles[4],
                vec![self.object(&rules)],
                self.expectations(&model, state),
            ));
            swap(&mut rules, 3, 4);
            state.denied_passed = true;
            steps.push(step(
                &titles[5],
                vec![self.object(&rules)],
                self.expectations(&model, state),
            ));
        }
        case(self.short_name, steps)
    }

    /// The named-port test: the "allowed at ports" rule's ports become one named port.
    fn named_port_case(
        &self,
        short_name: &'static str,
        title: &str,
        named: &str,
        resolves_to: Probe,
    ) -> Case {
        let model = Model::anp();
        let base = self.base_rules();
        let index = if self.tier == Tier::Admin { 5 } else { 3 };
        let mut patched = base.clone();
        for (_, r) in patched.iter_mut() {
            r[index].ports = Some(vec![port_named(named)]);
        }
        let state = LadderState {
            named_allow: Some(resolves_to),
            ..Default::default()
        };
        let actions = vec![self.object(&base), self.object(&patched)];
        case(
            short_name,
            vec![step(title, actions, self.expectations(&model, state))],
        )
    }
}

// One argument per column of the upstream parameter table (see `single_tests`).
#[allow(clippy::too_many_arguments)]
fn single(
    tier: Tier,
    dir: Dir,
    protocol: Protocol,
    (policy, priority): (&'static str, i32),
    subject: &'static str,
    everything: &'static str,
    (denied, deny_port): (&'static str, u16),
    (allowed, allow_port): (&'static str, u16),
    probe_ports: [u16; 2],
) -> LadderTest {
    let probe = |port| Probe { protocol, port };
    let short_name = match (tier, dir, protocol) {
        (Tier::Admin, Dir::Ingress, Protocol::Tcp) => "AdminNetworkPolicyIngressTCP",
        (Tier::Admin, Dir::Ingress, Protocol::Udp) => "AdminNetworkPolicyIngressUDP",
        (Tier::Admin, Dir::Ingress, Protocol::Sctp) => "AdminNetworkPolicyIngressSCTP",
        (Tier::Admin, Dir::Egress, Protocol::Tcp) => "AdminNetworkPolicyEgressTCP",
        (Tier::Admin, Dir::Egress, Protocol::Udp) => "AdminNetworkPolicyEgressUDP",
        (Tier::Admin, Dir::Egress, Protocol::Sctp) => "AdminNetworkPolicyEgressSCTP",
        (Tier::Baseline, Dir::Ingress, Protocol::Tcp) => "BaselineAdminNetworkPolicyIngressTCP",
        (Tier::Baseline, Dir::Ingress, Protocol::Udp) => "BaselineAdminNetworkPolicyIngressUDP",
        (Tier::Baseline, Dir::Ingress, Protocol::Sctp) => "BaselineAdminNetworkPolicyIngressSCTP",
        (Tier::Baseline, Dir::Egress, Protocol::Tcp) => "BaselineAdminNetworkPolicyEgressTCP",
        (Tier::Baseline, Dir::Egress, Protocol::Udp) => "BaselineAdminNetworkPolicyEgressUDP",
        (Tier::Baseline, Dir::Egress, Protocol::Sctp) => "BaselineAdminNetworkPolicyEgressSCTP",
    };
    LadderTest {
        short_name,
        tier,
        policy: if tier == Tier::Admin {
            policy
        } else {
            "default"
        },
        priority,
        subject,
        ladders: vec![Ladder {
            dir,
            everything,
            denied,
            deny_label: format!("at-port-{deny_port}"),
            deny_ports: vec![probe(deny_port)],
            allowed,
            allow_label: format!("at-port-{allow_port}"),
            allow_ports: vec![probe(allow_port)],
        }],
        probes: probe_ports.iter().map(|&p| probe(p)).collect(),
    }
}

fn single_titles(tier: Tier, dir: Dir, protocol: Protocol) -> Vec<String> {
    let d = match dir {
        Dir::Ingress => "ingress",
        Dir::Egress => "egress",
    };
    let mut titles = vec![
        format!(
            "Should support an 'allow-{d}' policy for {protocol} protocol; ensure rule ordering is respected"
        ),
        format!(
            "Should support an 'allow-{d}' policy for {protocol} protocol at the specified port"
        ),
        format!(
            "Should support an 'deny-{d}' policy for {protocol} protocol; ensure rule ordering is respected"
        ),
        format!("Should support a 'deny-{d}' policy for {protocol} protocol at the specified port"),
    ];
    if tier == Tier::Admin {
        titles.push(format!(
            "Should support an 'pass-{d}' policy for {protocol} protocol; ensure rule ordering is respected"
        ));
        titles.push(format!(
            "Should support a 'pass-{d}' policy for {protocol} protocol at the specified port"
        ));
    }
    titles
}

fn gress_titles(tier: Tier) -> Vec<String> {
    let mut titles = vec![
        "Should support an 'allow-gress' policy across different protocols".to_string(),
        "Should support an 'allow-gress' policy across different protocols at the specified ports"
            .to_string(),
        "Should support an 'deny-gress' policy across different protocols".to_string(),
        "Should support a 'deny-gress' policy across different protocols at the specified ports"
            .to_string(),
    ];
    if tier == Tier::Admin {
        titles.push("Should support an 'pass-gress' policy across different protocols".into());
        titles.push("Should support a 'pass-gress' policy across different protocols at the specified ports".into());
    }
    titles
}

/// The twelve single-protocol tests' parameters, as in `conformance/base/*/standard-*-rules.yaml`.
fn single_tests(tier: Tier) -> Vec<(LadderTest, Dir, Protocol)> {
    use Protocol::{Sctp, Tcp, Udp};
    vec![
        (
            single(
                tier,
                Dir::Ingress,
                Tcp,
                ("ingress-tcp", 3),
                G,
                R,
                (S, 80),
                (H, 80),
                [80, 8080],
            ),
            Dir::Ingress,
            Tcp,
        ),
        (
            single(
                tier,
                Dir::Ingress,
                Udp,
                ("ingress-udp", 4),
                H,
                R,
                (S, 5353),
                (G, 53),
                [53, 5353],
            ),
            Dir::Ingress,
            Udp,
        ),
        (
            single(
                tier,
                Dir::Ingress,
                Sctp,
                ("ingress-sctp", 5),
                R,
                G,
                (S, 9003),
                (H, 9003),
                [9003, 9005],
            ),
            Dir::Ingress,
            Sctp,
        ),
        (
            single(
                tier,
                Dir::Egress,
                Tcp,
                ("egress-tcp", 6),
                G,
                R,
                (S, 80),
                (H, 8080),
                [80, 8080],
            ),
            Dir::Egress,
            Tcp,
        ),
        (
            single(
                tier,
                Dir::Egress,
                Udp,
                ("egress-udp", 7),
                H,
                R,
                (S, 5353),
                (G, 53),
                [53, 5353],
            ),
            Dir::Egress,
            Udp,
        ),
        (
            single(
                tier,
                Dir::Egress,
                Sctp,
                ("egress-sctp", 8),
                R,
                G,
                (S, 9003),
                (H, 9003),
                [9003, 9005],
            ),
            Dir::Egress,
            Sctp,
        ),
    ]
}

fn gress_test(tier: Tier) -> LadderTest {
    use Protocol::{Sctp, Tcp, Udp};
    let p = |protocol, port| Probe { protocol, port };
    let deny = vec![p(Tcp, 80), p(Udp, 53), p(Sctp, 9003)];
    let (egress_allow_label, egress_allow) = match tier {
        Tier::Admin => (
            "at-ports-8080-5353-9003",
            vec![p(Tcp, 8080), p(Udp, 5353), p(Sctp, 9003)],
        ),
        Tier::Baseline => (
            "at-ports-8080-5353",
            vec![p(Tcp, 8080), p(Udp, 5353), p(Sctp, 9003)],
        ),
    };
    LadderTest {
        short_name: match tier {
            Tier::Admin => "AdminNetworkPolicyGress",
            Tier::Baseline => "BaselineAdminNetworkPolicyGress",
        },
        tier,
        policy: if tier == Tier::Admin {
            "gress-rules"
        } else {
            "default"
        },
        priority: 15,
        subject: G,
        ladders: vec![
            Ladder {
                dir: Dir::Egress,
                everything: R,
                denied: S,
                deny_label: "at-ports-80-53-9003".into(),
                deny_ports: deny.clone(),
                allowed: H,
                allow_label: egress_allow_label.into(),
                allow_ports: egress_allow,
            },
            Ladder {
                dir: Dir::Ingress,
                everything: R,
                denied: S,
                deny_label: "at-port-80-53-9003".into(),
                deny_ports: deny,
                allowed: H,
                allow_label: "at-port-80-5353-9003".into(),
                allow_ports: vec![p(Tcp, 80), p(Udp, 5353), p(Sctp, 9003)],
            },
        ],
        probes: vec![
            p(Tcp, 80),
            p(Tcp, 8080),
            p(Udp, 53),
            p(Udp, 5353),
            p(Sctp, 9003),
            p(Sctp, 9005),
        ],
    }
}

/// Every upstream ANP and BANP conformance test, ANP first, each group in upstream file order.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for tier in [Tier::Admin, Tier::Baseline] {
        out.extend(experimental(tier));
        out.push(inline_cidr(tier));
        for (test, dir, protocol) in single_tests(tier) {
            out.push(test.case(&single_titles(tier, dir, protocol)));
        }
        out.push(gress_test(tier).case(&gress_titles(tier)));
        if tier == Tier::Admin {
            out.push(integration());
            out.push(priority());
        }
    }
    out.sort_by_key(|c| c.name.starts_with("banp/"));
    out
}

/// Named ports and node peers (the `experimental-*` files).
fn experimental(tier: Tier) -> Vec<Case> {
    let mut out = Vec::new();
    let tests = single_tests(tier);
    let find = |dir, protocol| {
        tests
            .iter()
            .find(|(_, d, p)| *d == dir && *p == protocol)
            .map(|(t, _, _)| t)
            .expect("ladder exists")
    };
    match tier {
        Tier::Admin => {
            out.push(find(Dir::Egress, Protocol::Tcp).named_port_case(
                "AdminNetworkPolicyEgressNamedPort",
                "Should support an 'allow-egress' policy for named port",
                "web",
                Probe::tcp(80),
            ));
            out.push(node_peers(tier));
            out.push(find(Dir::Ingress, Protocol::Udp).named_port_case(
                "AdminNetworkPolicyIngressNamedPort",
                "Should support an 'allow-ingress' policy for named port",
                "dns",
                Probe::udp(53),
            ));
        }
        Tier::Baseline => {
            out.push(find(Dir::Egress, Protocol::Udp).named_port_case(
                "BaselineAdminNetworkPolicyEgressNamedPort",
                "Should support an 'allow-egress' policy for named port",
                "dns",
                Probe::udp(53),
            ));
            out.push(node_peers(tier));
            out.push(find(Dir::Ingress, Protocol::Tcp).named_port_case(
                "BaselineAdminNetworkPolicyIngressNamedPort",
                "Should support an 'allow-ingress' policy for named port",
                "web",
                Probe::tcp(80),
            ));
        }
    }
    out
}

/// Gryffindor's egress to nodes (where the host-network centaurs live) and to everything else.
fn node_peers(tier: Tier) -> Case {
    let m = Model::anp();
    let everything_else = || {
        vec![
            peer_pods(house(S), house(S)),
            peer_nodes(linux_nodes()),
            peer_networks(&["0.0.0.0/0", "::/0"]),
        ]
    };
    // Gryffindor reaches nothing except the centaurs on the probes listed in `open`.
    let fill = |open: &'static [Probe]| {
        move |probe: Probe, t: &mut TruthTable| {
            t.expect_peer(&in_house(G), &Peer::any(), false);
            if open.contains(&probe) {
                t.expect_peer(&in_house(G), &centaurs(), true);
            }
        }
    };
    match tier {
        Tier::Admin => {
            let egress = [
                rule(
                    "allow-egress-to-36363-on-nodes",
                    Act::Allow,
                    vec![peer_nodes(linux_nodes())],
                )
                .ports(vec![port_number(Protocol::Tcp, 36363)]),
                rule(
                    "pass-egress-to-5353-on-nodes",
                    Act::Pass,
                    vec![peer_nodes(linux_nodes())],
                )
                .ports(vec![port_number(Protocol::Udp, 34345)]),
                rule(
                    "deny-egress-to-slytherin-and-nodes-and-internet",
                    Act::Deny,
                    everything_else(),
                ),
            ];
            let policy = admin(
                "node-and-cidr-as-peers-example",
                75,
                subject_pods(house(G), house(G)),
                &[],
                &egress,
            );
            const OPEN: &[Probe] = &[
                Probe {
                    protocol: Protocol::Tcp,
                    port: 36363,
                },
                Probe {
                    protocol: Protocol::Udp,
                    port: 34345,
                },
            ];
            case(
                "AdminNetworkPolicyEgressNodePeers",
                vec![
                    step(
                        "Should support an 'allow-egress' rule policy for egress-node-peer",
                        vec![Action::admin(policy)],
                        tables(&m, &[Probe::tcp(36363)], fill(OPEN)),
                    ),
                    step(
                        "Should support a 'pass-egress' rule policy for egress-node-peer",
                        vec![],
                        tables(&m, &[Probe::udp(34345)], fill(OPEN)),
                    ),
                    step(
                        "Should support a 'deny-egress' rule policy for egress-node-peer",
                        vec![],
                        tables(
                            &m,
                            &[Probe::tcp(36364), Probe::udp(34346), Probe::sctp(9003)],
                            fill(OPEN),
                        ),
                    ),
                ],
            )
        }
        Tier::Baseline => {
            let egress = [
                rule(
                    "allow-egress-to-36363-on-nodes",
                    Act::Allow,
                    vec![peer_nodes(linux_nodes())],
                )
                .ports(vec![port_range(Protocol::Tcp, 36363, 36364)]),
                rule(
                    "deny-egress-to-nodes-and-internet",
                    Act::Deny,
                    vec![
                        peer_nodes(linux_nodes()),
                        peer_networks(&["0.0.0.0/0", "::/0"]),
                    ],
                ),
            ];
            let policy = baseline(subject_namespaces(ns_named(G)), &[], &egress);
            const OPEN: &[Probe] = &[
                Probe {
                    protocol: Protocol::Tcp,
                    port: 36363,
                },
                Probe {
                    protocol: Protocol::Tcp,
                    port: 36364,
                },
            ];
            case(
                "BaselineAdminNetworkPolicyEgressNodePeers",
                vec![
                    step(
                        "Should support an 'allow-egress' rule policy for egress-node-peer",
                        vec![Action::baseline(policy)],
                        tables(&m, &[Probe::tcp(36363), Probe::tcp(36364)], fill(OPEN)),
                    ),
                    step(
                        "Should support a 'deny-egress' rule policy for egress-node-peer",
                        vec![],
                        tables(&m, &[Probe::udp(34346), Probe::sctp(9003)], fill(OPEN)),
                    ),
                ],
            )
        }
    }
}

/// Gryffindor may reach Slytherin and nothing else by CIDR; then two pod IPs are let through.
fn inline_cidr(tier: Tier) -> Case {
    let m = Model::anp();
    let probes = [Probe::tcp(80), Probe::udp(53), Probe::sctp(9003)];
    let base_rules = vec![
        rule(
            "allow-egress-to-slytherin",
            Act::Allow,
            vec![peer_pods(house(S), house(S))],
        ),
        rule(
            "deny-egress-to-internet",
            Act::Deny,
            vec![peer_networks(&["0.0.0.0/0", "::/0"])],
        ),
    ];
    let build = move |rules: &[AdminRule]| match tier {
        Tier::Admin => Policy::AdminNetworkPolicy(admin(
            "inline-cidr-as-peers-example",
            85,
            subject_pods(house(G), house(G)),
            &[],
            rules,
        )),
        Tier::Baseline => Policy::BaselineAdminNetworkPolicy(baseline(
            subject_namespaces(ns_named(G)),
            &[],
            rules,
        )),
    };
    let base = build(&base_rules);
    let patched = move |book: &dyn AddressBook| {
        let host = |pod: PodName| {
            let ip = book.pod_ip(&pod);
            if ip.is_ipv4() {
                format!("{ip}/32")
            } else {
                format!("{ip}/128")
            }
        };
        let r0 = host(house_pod(R, "luna-lovegood-0"));
        let h0 = host(house_pod(H, "cedric-diggory-0"));
        let mut rules = vec![rule(
            "allow-egress-to-specific-podIPs",
            Act::Allow,
            vec![peer_networks(&[r0.as_str(), h0.as_str()])],
        )];
        rules.extend(base_rules.iter().cloned());
        build(&rules)
    };
    let denied = |_: Probe, t: &mut TruthTable| {
        t.expect_peer(&in_house(G), &Peer::any(), false)
            .expect_peer(&in_house(G), &in_house(S), true);
    };
    let opened = move |probe: Probe, t: &mut TruthTable| {
        denied(probe, t);
        t.expect_peer(
            &in_house(G),
            &Peer::pod(house_namespace(R), "luna-lovegood-0"),
            true,
        )
        .expect_peer(
            &in_house(G),
            &Peer::pod(house_namespace(H), "cedric-diggory-0"),
            true,
        );
    };
    let short = match tier {
        Tier::Admin => "AdminNetworkPolicyEgressInlineCIDRPeers",
        Tier::Baseline => "BaselineAdminNetworkPolicyEgressInlineCIDRPeers",
    };
    case(
        short,
        vec![
            step(
                "Should support a 'deny-egress' rule policy for egress-cidr-peer",
                vec![Action::fixed(base)],
                tables(&m, &probes, denied),
            ),
            step(
                "Should support an 'allow-egress' rule policy for egress-cidr-peer",
                vec![Action::addressed(patched)],
                tables(&m, &probes, opened),
            ),
        ],
    )
}

/// ANP Deny, then Pass down to a NetworkPolicy, then (policy deleted) down to the BANP.
fn integration() -> Case {
    let m = Model::anp();
    let probes = [Probe::tcp(80), Probe::tcp(8080)];
    let from_s = || vec![peer_namespaces(house(S))];
    let anp = |ingress: Act, egress: Act| {
        admin(
            "pass-example",
            10,
            subject_namespaces(house(G)),
            &[rule("deny-all-ingress-from-slytherin", ingress, from_s())],
            &[rule("deny-all-egress-to-slytherin", egress, from_s())],
        )
    };
    let np: NetworkPolicy = netpol(
        &house_namespace(G),
        "allow-gress-from-to-slytherin-to-gryffindor",
    )
    .ingress([np_from(vec![np_namespaces(house(S))], vec![])])
    .egress([np_to(vec![np_namespaces(house(S))], vec![])])
    .build();
    let banp = baseline(
        subject_namespaces(house(G)),
        &[rule("deny-all-ingress-from-slytherin", Act::Deny, from_s())],
        &[rule("deny-all-egress-to-slytherin", Act::Deny, from_s())],
    );
    // While the NetworkPolicy exists it isolates gryffindor both ways; only slytherin is let in
    // and out, and only once the ANP passes that direction down to it.
    let isolated = |s_to_g: bool, g_to_s: bool| {
        move |_: Probe, t: &mut TruthTable| {
            t.expect_peer(&in_house(G), &Peer::any(), false)
                .expect_peer(&Peer::any(), &in_house(G), false);
            t.expect_peer(&in_house(S), &in_house(G), s_to_g)
                .expect_peer(&in_house(G), &in_house(S), g_to_s);
        }
    };
    let baseline_only = |_: Probe, t: &mut TruthTable| {
        t.expect_peer(&in_house(S), &in_house(G), false)
            .expect_peer(&in_house(G), &in_house(S), false);
    };
    case(
        "AdminNetworkPolicyIntegration",
        vec![
            step(
                "Should Deny traffic from slytherin to gryffindor respecting ANP",
                vec![
                    Action::admin(anp(Act::Deny, Act::Deny)),
                    Action::network_policy(np),
                    Action::baseline(banp),
                ],
                tables(&m, &probes, isolated(false, false)),
            ),
            step(
                "Should Deny traffic to slytherin from gryffindor respecting ANP",
                vec![],
                tables(&m, &probes, isolated(false, false)),
            ),
            step(
                "Should support a 'pass-ingress' policy for ANP and respect the match for network policy",
                vec![Action::admin(anp(Act::Pass, Act::Deny))],
                tables(&m, &probes, isolated(true, false)),
            ),
            step(
                "Should support a 'pass-egress' policy for ANP and respect the match for network policy",
                vec![Action::admin(anp(Act::Pass, Act::Pass))],
                tables(&m, &probes, isolated(true, true)),
            ),
            step(
                "Should support a 'pass-ingress' policy for ANP and respect the match for baseline admin network policy",
                vec![Action::Delete(PolicyId::NetworkPolicy {
                    namespace: house_namespace(G),
                    name: "allow-gress-from-to-slytherin-to-gryffindor".into(),
                })],
                tables(&m, &probes, baseline_only),
            ),
            step(
                "Should support a 'pass-egress' policy for ANP and respect the match for baseline admin network policy",
                vec![],
                tables(&m, &probes, baseline_only),
            ),
        ],
    )
}

/// A priority-50 Deny beats a priority-60 Pass until the Pass moves to priority 40.
fn priority() -> Case {
    let m = Model::anp();
    let probes = [Probe::tcp(80), Probe::tcp(8080)];
    let s_pods = || vec![peer_pods(house(S), house(S))];
    let subject = || subject_pods(house(G), house(G));
    let deny = admin(
        "priority-50-example",
        50,
        subject(),
        &[rule("deny-all-ingress-from-slytherin", Act::Deny, s_pods())],
        &[rule("deny-all-egress-to-slytherin", Act::Deny, s_pods())],
    );
    let pass = |priority| {
        admin(
            "old-priority-60-new-priority-40-example",
            priority,
            subject(),
            &[rule("pass-all-ingress-from-slytherin", Act::Pass, s_pods())],
            &[rule("pass-all-egress-to-slytherin", Act::Pass, s_pods())],
        )
    };
    let banp = baseline(
        subject(),
        &[rule(
            "allow-all-ingress-from-slytherin",
            Act::Allow,
            s_pods(),
        )],
        &[],
    );
    let denied = |_: Probe, t: &mut TruthTable| {
        t.expect_peer(&in_house(S), &in_house(G), false)
            .expect_peer(&in_house(G), &in_house(S), false);
    };
    case(
        "AdminNetworkPolicyPriorityField",
        vec![
            step(
                "Should Deny traffic from slytherin to gryffindor respecting ANP",
                vec![
                    Action::admin(deny),
                    Action::admin(pass(60)),
                    Action::baseline(banp),
                ],
                tables(&m, &probes, denied),
            ),
            step(
                "Should Deny traffic to slytherin from gryffindor respecting ANP",
                vec![],
                tables(&m, &probes, denied),
            ),
            step(
                "Should respect ANP priority field; thus passing both ingress and egress traffic over to BANP",
                vec![Action::admin(pass(40))],
                tables(&m, &probes, |_, _| {}),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_keeps_acronyms_together() {
        let rows = [
            (
                "plain",
                "AdminNetworkPolicyGress",
                "admin-network-policy-gress",
            ),
            (
                "trailing acronym",
                "AdminNetworkPolicyIngressTCP",
                "admin-network-policy-ingress-tcp",
            ),
            (
                "inner acronym",
                "BaselineAdminNetworkPolicyEgressInlineCIDRPeers",
                "baseline-admin-network-policy-egress-inline-cidr-peers",
            ),
        ];
        for (name, input, want) in rows {
            assert_eq!(kebab(input), want, "{name}");
        }
    }

    #[test]
    fn there_is_one_case_per_upstream_conformance_test() {
        let all = cases();
        assert_eq!(
            all.len(),
            24,
            "v0.1.7 has 13 ANP and 11 BANP ConformanceTests"
        );
        let steps: usize = all.iter().map(|c| c.steps.len()).sum();
        // `grep -c 't.Run(' conformance/tests/*.go` summed over v0.1.7.
        assert_eq!(steps, 92, "one step per upstream t.Run");
    }

    #[test]
    fn ladder_rules_follow_the_upstream_yaml() {
        let (test, _, _) = single_tests(Tier::Admin).remove(0);
        let names: Vec<String> = test.ladders[0]
            .rules(Tier::Admin)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(
            names,
            [
                "allow-from-ravenclaw-everything",
                "deny-from-ravenclaw-everything",
                "pass-from-ravenclaw-everything",
                "deny-from-slytherin-at-port-80",
                "pass-from-slytherin-at-port-80",
                "allow-from-hufflepuff-at-port-80",
                "deny-from-hufflepuff-everything-else",
            ]
        );
    }
}
