//! Differential test: random clusters and random NetworkPolicy/ANP/BANP/ClusterNetworkPolicy
//! sets, judged by the indexed engine and by a deliberately naive evaluator written straight
//! from the specs in this file (no index: every query scans every object). Both must agree on
//! the verdict and on the deciding tier of each direction, for every ordered pair of addresses
//! and every probe, before and after a round of incremental changes (relabels, deletes).
//!
//! Specs followed by the naive evaluator: Kubernetes NetworkPolicy (networking.k8s.io/v1, the
//! API reference and concepts page) and network-policy-api v0.1.7 (`apis/v1alpha1` docs):
//!
//! * ANP tier: the AdminNetworkPolicies whose subject selects the pod, by ascending priority,
//!   rules in order; the first matching rule decides Allow/Deny; Pass skips the rest of the
//!   ANP tier.
//! * NetworkPolicy tier: a pod is isolated in a direction when a policy of its namespace
//!   selects it and lists that policy type; then the traffic is allowed iff some rule of some
//!   such policy allows it, else denied.
//! * BANP tier: the first matching rule of the (single) BASELINE policy, if its subject
//!   selects the pod.
//! * ClusterNetworkPolicy (network-policy-api v0.3.0, `apis/v1beta1`): Admin-tier CNPs join
//!   the ANP tier, Baseline-tier CNPs go before the BANP. Within a tier, ascending priority;
//!   equal priorities (which upstream leaves unordered) follow the engine's documented order:
//!   AdminNetworkPolicy before ClusterNetworkPolicy, then by name. Accept/Deny decide, Pass ends
//!   the tier (a Baseline Pass leaves the default allow). `protocols` match TCP/UDP/SCTP by
//!   destination port number or inclusive range, or a named container port of the
//!   destination; a rule with protocols never matches ICMP.
//! * Otherwise allowed. Only pods with their own network namespace are ever subjects or
//!   pod/namespace peers; node addresses (and host-network pods, which share them) match
//!   `nodes`, `networks` and `ipBlock` peers only.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Namespace, Node, NodeAddress, NodeStatus, Pod, PodIP, PodSpec,
    PodStatus,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;
use verdict_crds::{
    AdminNetworkPolicy, AdminNetworkPolicyEgressPeer, AdminNetworkPolicyEgressRule,
    AdminNetworkPolicyIngressPeer, AdminNetworkPolicyIngressRule, AdminNetworkPolicyPort,
    AdminNetworkPolicyRuleAction, AdminNetworkPolicySpec, AdminNetworkPolicySubject,
    BaselineAdminNetworkPolicy, BaselineAdminNetworkPolicyEgressPeer,
    BaselineAdminNetworkPolicyEgressRule, BaselineAdminNetworkPolicyIngressRule,
    BaselineAdminNetworkPolicyRuleAction, BaselineAdminNetworkPolicySpec, ClusterNetworkPolicy,
    ClusterNetworkPolicyEgressPeer, ClusterNetworkPolicyEgressRule,
    ClusterNetworkPolicyIngressPeer, ClusterNetworkPolicyIngressRule, ClusterNetworkPolicyPort,
    ClusterNetworkPolicyPortRange, ClusterNetworkPolicyProtocol, ClusterNetworkPolicyProtocolPort,
    ClusterNetworkPolicyRuleAction, ClusterNetworkPolicySpec, ClusterNetworkPolicySubject,
    ClusterNetworkPolicyTier, NamespacedPod, PortNumber, PortRange,
};
use verdict_engine::{Direction, Flow, Index, Protocol, Tier, Verdict};

// ======================================================================================
// The naive reference evaluator.
// ======================================================================================

/// Everything that exists, as plain API objects.
#[derive(Clone, Debug, Default)]
struct Cluster {
    namespaces: Vec<Namespace>,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    network_policies: Vec<NetworkPolicy>,
    admin: Vec<AdminNetworkPolicy>,
    baseline: Option<BaselineAdminNetworkPolicy>,
    cluster: Vec<ClusterNetworkPolicy>,
}

/// The reference's answer for one direction. `decided_by` (policy name, rule index) is only
/// set for the admin tiers: which NetworkPolicy "decides" an allow is not defined by the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Judgement {
    verdict: Verdict,
    tier: Tier,
    decided_by: Option<(String, usize)>,
    passed_by: Option<String>,
}

impl Judgement {
    fn new(verdict: Verdict, tier: Tier) -> Self {
        Self {
            verdict,
            tier,
            decided_by: None,
            passed_by: None,
        }
    }

    /// The same facts read off an engine decision.
    fn of(d: &verdict_engine::DirectionDecision) -> Self {
        let decided_by = match d.tier {
            Tier::AdminNetworkPolicy | Tier::BaselineAdminNetworkPolicy => Some((
                d.policy
                    .as_ref()
                    .map(|p| p.name.to_string())
                    .unwrap_or_default(),
                d.rule.as_ref().map_or(usize::MAX, |r| r.index),
            )),
            _ => None,
        };
        Self {
            verdict: d.verdict,
            tier: d.tier,
            decided_by,
            passed_by: d.passed_by.last().map(|p| p.name.to_string()),
        }
    }
}

/// What a rule is asked about: the other end, the destination (for named ports), the protocol
/// and destination port.
#[derive(Clone, Copy, Debug)]
struct Query<'a> {
    other: Peer<'a>,
    other_ip: IpAddr,
    dst: Peer<'a>,
    protocol: Protocol,
    port: u16,
}

/// One end of a connection, as the naive evaluator sees it.
#[derive(Clone, Copy, Debug)]
enum Peer<'a> {
    Pod(&'a Pod),
    Node(&'a Node),
    External,
}

type Labels = BTreeMap<String, String>;

fn labels_of(meta: &ObjectMeta) -> Labels {
    meta.labels.clone().unwrap_or_default()
}

/// The LabelSelector rules, exactly as the API documents them.
fn selects(selector: &LabelSelector, labels: &Labels) -> bool {
    let label_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = selector.match_expressions.iter().flatten().all(|req| {
        let value = labels.get(&req.key);
        let values = req.values.clone().unwrap_or_default();
        match req.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => panic!("generator produced operator {other}"),
        }
    });
    label_ok && exprs_ok
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    cidr.parse::<IpNet>()
        .expect("generated CIDRs parse")
        .contains(&ip)
}

fn api_protocol(p: Option<&str>) -> Protocol {
    Protocol::parse(p.unwrap_or("TCP")).expect("generated protocols parse")
}

impl Cluster {
    fn namespace_labels(&self, name: &str) -> Labels {
        let mut labels = self
            .namespaces
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(name))
            .map(|n| labels_of(&n.metadata))
            .unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".into(), name.into());
        labels
    }

    fn pod_namespace(pod: &Pod) -> &str {
        pod.metadata.namespace.as_deref().unwrap_or_default()
    }

    fn host_network(pod: &Pod) -> bool {
        pod.spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false)
    }

    fn resolve(&self, ip: IpAddr) -> Peer<'_> {
        let text = ip.to_string();
        // A finished pod no longer owns its address; a pending one has none yet.
        if let Some(pod) = self.pods.iter().find(|p| {
            let status = p.status.as_ref();
            !Self::host_network(p)
                && status.and_then(|s| s.phase.as_deref()) == Some("Running")
                && status.and_then(|s| s.pod_ip.as_deref()) == Some(text.as_str())
        }) {
            return Peer::Pod(pod);
        }
        if let Some(node) = self.nodes.iter().find(|n| {
            n.status
                .iter()
                .flat_map(|s| s.addresses.iter().flatten())
                .any(|a| a.address == text)
        }) {
            return Peer::Node(node);
        }
        Peer::External
    }

    /// Named-port lookup on the destination pod: a container port with this name whose
    /// protocol and number are the flow's.
    fn named_port_matches(dst: Peer<'_>, name: &str, protocol: Protocol, port: u16) -> bool {
        let Peer::Pod(pod) = dst else { return false };
        pod.spec
            .iter()
            .flat_map(|s| &s.containers)
            .flat_map(|c| c.ports.iter().flatten())
            .any(|cp| {
                cp.name.as_deref() == Some(name)
                    && api_protocol(cp.protocol.as_deref()) == protocol
                    && i32::from(port) == cp.container_port
            })
    }

    // ---- NetworkPolicy ----

    fn np_types(np: &NetworkPolicy) -> (bool, bool) {
        let spec = np.spec.as_ref().expect("generated policies have a spec");
        match &spec.policy_types {
            Some(types) => (
                types.iter().any(|t| t == "Ingress"),
                types.iter().any(|t| t == "Egress"),
            ),
            None => (true, spec.egress.as_ref().is_some_and(|e| !e.is_empty())),
        }
    }

    fn np_peer_matches(
        &self,
        np: &NetworkPolicy,
        peer: &NetworkPolicyPeer,
        who: Peer<'_>,
        ip: IpAddr,
    ) -> bool {
        if let Some(block) = &peer.ip_block {
            return cidr_contains(&block.cidr, ip)
                && !block.except.iter().flatten().any(|e| cidr_contains(e, ip));
        }
        let Peer::Pod(pod) = who else { return false };
        let pod_ns = Self::pod_namespace(pod);
        let ns_ok = match &peer.namespace_selector {
            Some(sel) => selects(sel, &self.namespace_labels(pod_ns)),
            None => Some(pod_ns) == np.metadata.namespace.as_deref(),
        };
        let pod_ok = peer
            .pod_selector
            .as_ref()
            .is_none_or(|sel| selects(sel, &labels_of(&pod.metadata)));
        ns_ok && pod_ok
    }

    fn np_ports_match(
        ports: Option<&Vec<NetworkPolicyPort>>,
        dst: Peer<'_>,
        protocol: Protocol,
        port: u16,
    ) -> bool {
        let Some(ports) = ports.filter(|p| !p.is_empty()) else {
            return true;
        };
        ports.iter().any(|p| {
            let proto = api_protocol(p.protocol.as_deref());
            if proto != protocol {
                return false;
            }
            match &p.port {
                None => true,
                Some(IntOrString::Int(n)) => {
                    let last = p.end_port.unwrap_or(*n);
                    (*n..=last).contains(&i32::from(port))
                }
                Some(IntOrString::String(name)) => {
                    Self::named_port_matches(dst, name, protocol, port)
                }
            }
        })
    }

    // ---- AdminNetworkPolicy / BaselineAdminNetworkPolicy ----

    fn subject_selects(&self, subject: &AdminNetworkPolicySubject, pod: &Pod) -> bool {
        let ns_labels = self.namespace_labels(Self::pod_namespace(pod));
        match (&subject.namespaces, &subject.pods) {
            (Some(ns), None) => selects(ns, &ns_labels),
            (None, Some(p)) => {
                selects(&p.namespace_selector, &ns_labels)
                    && selects(&p.pod_selector, &labels_of(&pod.metadata))
            }
            _ => panic!("generator sets exactly one subject field"),
        }
    }

    fn admin_peer_matches(
        &self,
        namespaces: Option<&LabelSelector>,
        pods: Option<&NamespacedPod>,
        nodes: Option<&LabelSelector>,
        networks: &[String],
        who: Peer<'_>,
        ip: IpAddr,
    ) -> bool {
        if let Some(sel) = namespaces {
            return matches!(who, Peer::Pod(p) if selects(sel, &self.namespace_labels(Self::pod_namespace(p))));
        }
        if let Some(np) = pods {
            return matches!(who, Peer::Pod(p)
                if selects(&np.namespace_selector, &self.namespace_labels(Self::pod_namespace(p)))
                    && selects(&np.pod_selector, &labels_of(&p.metadata)));
        }
        if let Some(sel) = nodes {
            return matches!(who, Peer::Node(n) if selects(sel, &labels_of(&n.metadata)));
        }
        networks.iter().any(|c| cidr_contains(c, ip))
    }

    fn admin_ports_match(
        ports: Option<&Vec<AdminNetworkPolicyPort>>,
        dst: Peer<'_>,
        protocol: Protocol,
        port: u16,
    ) -> bool {
        let Some(ports) = ports else { return true };
        ports.iter().any(|p| {
            if let Some(n) = &p.port_number {
                api_protocol(Some(&n.protocol)) == protocol && n.port == i32::from(port)
            } else if let Some(name) = &p.named_port {
                Self::named_port_matches(dst, name, protocol, port)
            } else if let Some(r) = &p.port_range {
                api_protocol(r.protocol.as_deref()) == protocol
                    && (r.start..=r.end).contains(&i32::from(port))
            } else {
                panic!("generator sets exactly one port field")
            }
        })
    }

    /// The index and action of the first rule of `anp` in `direction` that matches.
    fn admin_rule(
        &self,
        anp: &AdminNetworkPolicySpec,
        direction: Direction,
        q: Query<'_>,
    ) -> Option<(usize, AdminNetworkPolicyRuleAction)> {
        match direction {
            Direction::Ingress => anp
                .ingress
                .iter()
                .enumerate()
                .find(|(_, r)| {
                    Self::admin_ports_match(r.ports.as_ref(), q.dst, q.protocol, q.port)
                        && r.from.iter().any(|p| {
                            self.admin_peer_matches(
                                p.namespaces.as_ref(),
                                p.pods.as_ref(),
                                None,
                                &[],
                                q.other,
                                q.other_ip,
                            )
                        })
                })
                .map(|(i, r)| (i, r.action)),
            Direction::Egress => anp
                .egress
                .iter()
                .enumerate()
                .find(|(_, r)| {
                    Self::admin_ports_match(r.ports.as_ref(), q.dst, q.protocol, q.port)
                        && r.to.iter().any(|p| {
                            self.admin_peer_matches(
                                p.namespaces.as_ref(),
                                p.pods.as_ref(),
                                p.nodes.as_ref(),
                                &p.networks,
                                q.other,
                                q.other_ip,
                            )
                        })
                })
                .map(|(i, r)| (i, r.action)),
        }
    }

    /// The index and action of the first rule of `banp` in `direction` that matches.
    fn baseline_rule(
        &self,
        banp: &BaselineAdminNetworkPolicySpec,
        direction: Direction,
        q: Query<'_>,
    ) -> Option<(usize, BaselineAdminNetworkPolicyRuleAction)> {
        match direction {
            Direction::Ingress => banp
                .ingress
                .iter()
                .enumerate()
                .find(|(_, r)| {
                    Self::admin_ports_match(r.ports.as_ref(), q.dst, q.protocol, q.port)
                        && r.from.iter().any(|p| {
                            self.admin_peer_matches(
                                p.namespaces.as_ref(),
                                p.pods.as_ref(),
                                None,
                                &[],
                                q.other,
                                q.other_ip,
                            )
                        })
                })
                .map(|(i, r)| (i, r.action)),
            Direction::Egress => banp
                .egress
                .iter()
                .enumerate()
                .find(|(_, r)| {
                    Self::admin_ports_match(r.ports.as_ref(), q.dst, q.protocol, q.port)
                        && r.to.iter().any(|p| {
                            self.admin_peer_matches(
                                p.namespaces.as_ref(),
                                p.pods.as_ref(),
                                p.nodes.as_ref(),
                                &p.networks,
                                q.other,
                                q.other_ip,
                            )
                        })
                })
                .map(|(i, r)| (i, r.action)),
        }
    }

    fn cnp_protocols_match(
        protocols: Option<&Vec<ClusterNetworkPolicyProtocol>>,
        dst: Peer<'_>,
        protocol: Protocol,
        port: u16,
    ) -> bool {
        let Some(protocols) = protocols else {
            return true;
        };
        protocols.iter().any(|p| {
            if let Some(name) = &p.destination_named_port {
                return Self::named_port_matches(dst, name, protocol, port);
            }
            let (want, attrs) = match (&p.tcp, &p.udp, &p.sctp) {
                (Some(a), None, None) => (Protocol::Tcp, a),
                (None, Some(a), None) => (Protocol::Udp, a),
                (None, None, Some(a)) => (Protocol::Sctp, a),
                _ => panic!("generator sets exactly one protocol field"),
            };
            let d = attrs
                .destination_port
                .as_ref()
                .expect("generator sets a port");
            let port = i32::from(port);
            protocol == want
                && match (d.number, &d.range) {
                    (Some(n), None) => n == port,
                    (None, Some(r)) => (r.start..=r.end).contains(&port),
                    _ => panic!("generator sets number or range"),
                }
        })
    }

    /// The index and action of the first rule of `cnp` in `direction` that matches.
    fn cnp_rule(
        &self,
        cnp: &ClusterNetworkPolicySpec,
        direction: Direction,
        q: Query<'_>,
    ) -> Option<(usize, ClusterNetworkPolicyRuleAction)> {
        match direction {
            Direction::Ingress => cnp
                .ingress
                .iter()
                .enumerate()
                .find(|(_, r)| {
                    Self::cnp_protocols_match(r.protocols.as_ref(), q.dst, q.protocol, q.port)
                        && r.from.iter().any(|p| {
                            self.admin_peer_matches(
                                p.namespaces.as_ref(),
                                p.pods.as_ref(),
                                None,
                                &[],
                                q.other,
                                q.other_ip,
                            )
                        })
                })
                .map(|(i, r)| (i, r.action)),
            Direction::Egress => cnp
                .egress
                .iter()
                .enumerate()
                .find(|(_, r)| {
                    Self::cnp_protocols_match(r.protocols.as_ref(), q.dst, q.protocol, q.port)
                        && r.to.iter().any(|p| {
                            self.admin_peer_matches(
                                p.namespaces.as_ref(),
                                p.pods.as_ref(),
                                p.nodes.as_ref(),
                                &p.networks,
                                q.other,
                                q.other_ip,
                            )
                        })
                })
                .map(|(i, r)| (i, r.action)),
        }
    }

    fn cnp_subject_selects(&self, subject: &ClusterNetworkPolicySubject, pod: &Pod) -> bool {
        self.subject_selects(
            &AdminNetworkPolicySubject {
                namespaces: subject.namespaces.clone(),
                pods: subject.pods.clone(),
            },
            pod,
        )
    }

    /// The CNPs of `tier` whose subject selects `pod`, by (priority, name).
    fn cnps_for(&self, tier: ClusterNetworkPolicyTier, pod: &Pod) -> Vec<&ClusterNetworkPolicy> {
        let mut out: Vec<&ClusterNetworkPolicy> = self
            .cluster
            .iter()
            .filter(|c| c.spec.tier == tier && self.cnp_subject_selects(&c.spec.subject, pod))
            .collect();
        out.sort_by_key(|c| (c.spec.priority, c.metadata.name.clone()));
        out
    }

    // ---- the three tiers ----

    /// The verdict, deciding tier and (for the admin tiers) deciding policy and rule of one
    /// direction of `flow`, plus the ANP that passed it down, if any.
    fn judge(&self, flow: &Flow, direction: Direction) -> Judgement {
        let (subject_ip, other_ip) = match direction {
            Direction::Egress => (flow.src_ip, flow.dst_ip),
            Direction::Ingress => (flow.dst_ip, flow.src_ip),
        };
        let Peer::Pod(pod) = self.resolve(subject_ip) else {
            return Judgement::new(Verdict::Allow, Tier::Default);
        };
        let other = self.resolve(other_ip);
        // Never blockable (upstream NetworkPolicy docs): ingress from the pod's own node, and
        // a pod's traffic to itself.
        let own_node = matches!(other, Peer::Node(n) if direction == Direction::Ingress
            && n.metadata.name.as_deref() == pod.spec.as_ref().and_then(|s| s.node_name.as_deref()));
        let itself = matches!(other, Peer::Pod(p) if std::ptr::eq(p, pod));
        if own_node || itself {
            return Judgement::new(Verdict::Allow, Tier::Default);
        }
        let dst = self.resolve(flow.dst_ip);
        let (protocol, port) = (flow.protocol, flow.dst_port);
        let query = Query {
            other,
            other_ip,
            dst,
            protocol,
            port,
        };

        // The Admin tier: ANPs and Admin-tier CNPs on one priority scale, ANPs first at equal
        // priority, then by name.
        enum Admin<'c> {
            Anp(&'c AdminNetworkPolicy),
            Cnp(&'c ClusterNetworkPolicy),
        }
        let mut admin: Vec<(i32, u8, String, Admin<'_>)> = self
            .admin
            .iter()
            .filter(|a| self.subject_selects(&a.spec.subject, pod))
            .map(|a| {
                let name = a.metadata.name.clone().unwrap_or_default();
                (a.spec.priority, 0, name, Admin::Anp(a))
            })
            .collect();
        admin.extend(
            self.cnps_for(ClusterNetworkPolicyTier::Admin, pod)
                .into_iter()
                .map(|c| {
                    let name = c.metadata.name.clone().unwrap_or_default();
                    (c.spec.priority, 1, name, Admin::Cnp(c))
                }),
        );
        admin.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        let mut passed_by = None;
        'admin: for (_, _, name, policy) in admin {
            let verdict = match policy {
                Admin::Anp(anp) => match self.admin_rule(&anp.spec, direction, query) {
                    Some((i, AdminNetworkPolicyRuleAction::Allow)) => (Verdict::Allow, i),
                    Some((i, AdminNetworkPolicyRuleAction::Deny)) => (Verdict::Deny, i),
                    Some((_, AdminNetworkPolicyRuleAction::Pass)) => {
                        passed_by = Some(name);
                        break 'admin;
                    }
                    None => continue,
                },
                Admin::Cnp(cnp) => match self.cnp_rule(&cnp.spec, direction, query) {
                    Some((i, ClusterNetworkPolicyRuleAction::Accept)) => (Verdict::Allow, i),
                    Some((i, ClusterNetworkPolicyRuleAction::Deny)) => (Verdict::Deny, i),
                    Some((_, ClusterNetworkPolicyRuleAction::Pass)) => {
                        passed_by = Some(name);
                        break 'admin;
                    }
                    None => continue,
                },
            };
            return Judgement {
                decided_by: Some((name, verdict.1)),
                ..Judgement::new(verdict.0, Tier::AdminNetworkPolicy)
            };
        }

        let ns = Self::pod_namespace(pod);
        let isolating: Vec<&NetworkPolicy> = self
            .network_policies
            .iter()
            .filter(|np| np.metadata.namespace.as_deref() == Some(ns))
            .filter(|np| {
                let spec = np.spec.as_ref().expect("spec");
                selects(
                    spec.pod_selector.as_ref().expect("podSelector"),
                    &labels_of(&pod.metadata),
                )
            })
            .filter(|np| {
                let (ingress, egress) = Self::np_types(np);
                match direction {
                    Direction::Ingress => ingress,
                    Direction::Egress => egress,
                }
            })
            .collect();
        if !isolating.is_empty() {
            let allowed = isolating.iter().any(|np| {
                let spec = np.spec.as_ref().expect("spec");
                match direction {
                    Direction::Ingress => spec.ingress.iter().flatten().any(|r| {
                        Self::np_ports_match(r.ports.as_ref(), dst, protocol, port)
                            && r.from
                                .as_ref()
                                .filter(|f| !f.is_empty())
                                .is_none_or(|peers| {
                                    peers
                                        .iter()
                                        .any(|p| self.np_peer_matches(np, p, other, other_ip))
                                })
                    }),
                    Direction::Egress => spec.egress.iter().flatten().any(|r| {
                        Self::np_ports_match(r.ports.as_ref(), dst, protocol, port)
                            && r.to.as_ref().filter(|t| !t.is_empty()).is_none_or(|peers| {
                                peers
                                    .iter()
                                    .any(|p| self.np_peer_matches(np, p, other, other_ip))
                            })
                    }),
                }
            });
            let verdict = if allowed {
                Verdict::Allow
            } else {
                Verdict::Deny
            };
            return Judgement {
                passed_by,
                ..Judgement::new(verdict, Tier::NetworkPolicy)
            };
        }

        // The Baseline tier: Baseline-tier CNPs by (priority, name), then the BANP.
        for cnp in self.cnps_for(ClusterNetworkPolicyTier::Baseline, pod) {
            let name = cnp.metadata.name.clone().unwrap_or_default();
            let verdict = match self.cnp_rule(&cnp.spec, direction, query) {
                Some((i, ClusterNetworkPolicyRuleAction::Accept)) => (Verdict::Allow, i),
                Some((i, ClusterNetworkPolicyRuleAction::Deny)) => (Verdict::Deny, i),
                Some((_, ClusterNetworkPolicyRuleAction::Pass)) => {
                    return Judgement {
                        passed_by: Some(name),
                        ..Judgement::new(Verdict::Allow, Tier::Default)
                    };
                }
                None => continue,
            };
            return Judgement {
                decided_by: Some((name, verdict.1)),
                passed_by,
                ..Judgement::new(verdict.0, Tier::BaselineAdminNetworkPolicy)
            };
        }
        if let Some(banp) = &self.baseline
            && self.subject_selects(&banp.spec.subject, pod)
            && let Some((i, action)) = self.baseline_rule(&banp.spec, direction, query)
        {
            let verdict = match action {
                BaselineAdminNetworkPolicyRuleAction::Allow => Verdict::Allow,
                BaselineAdminNetworkPolicyRuleAction::Deny => Verdict::Deny,
            };
            return Judgement {
                decided_by: Some(("default".into(), i)),
                passed_by,
                ..Judgement::new(verdict, Tier::BaselineAdminNetworkPolicy)
            };
        }
        Judgement {
            passed_by,
            ..Judgement::new(Verdict::Allow, Tier::Default)
        }
    }
}

// ======================================================================================
// Random clusters and policies.
// ======================================================================================

const KEYS: [&str; 3] = ["app", "team", "kubernetes.io/metadata.name"];
const VALUES: [&str; 3] = ["x", "y", "ns0"];
const PORT_NAMES: [&str; 3] = ["http", "dns", "alt"];
const PORTS: [u16; 4] = [53, 80, 81, 8080];
const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];
/// (cidr, except) pairs that the API server accepts: each except is inside its cidr.
const BLOCKS: [(&str, &[&str]); 6] = [
    ("10.0.0.0/24", &[]),
    ("10.0.0.0/24", &["10.0.0.0/30"]),
    ("10.0.0.4/30", &[]),
    ("172.18.0.0/24", &["172.18.0.1/32"]),
    ("0.0.0.0/0", &["10.0.0.0/8"]),
    ("192.0.2.0/24", &[]),
];
const NETWORKS: [&str; 5] = [
    "10.0.0.0/29",
    "10.0.0.2/32",
    "172.18.0.0/31",
    "0.0.0.0/0",
    "192.0.2.0/25",
];
const EXTERNAL: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
];

fn node_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(172, 18, 0, i as u8 + 1))
}

fn pod_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1))
}

fn label_pairs() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map(0..KEYS.len(), 0..VALUES.len(), 0..3).prop_map(|m| {
        m.into_iter()
            .map(|(k, v)| (KEYS[k].to_string(), VALUES[v].to_string()))
            .collect()
    })
}

fn requirement() -> impl Strategy<Value = LabelSelectorRequirement> {
    (
        0..KEYS.len(),
        0..4usize,
        prop::collection::btree_set(0..VALUES.len(), 1..3),
    )
        .prop_map(|(k, op, vals)| {
            let operator = ["In", "NotIn", "Exists", "DoesNotExist"][op];
            let values =
                (op < 2).then(|| vals.into_iter().map(|v| VALUES[v].to_string()).collect());
            LabelSelectorRequirement {
                key: KEYS[k].into(),
                operator: operator.into(),
                values,
            }
        })
}

fn one_label() -> impl Strategy<Value = Option<BTreeMap<String, String>>> {
    (0..KEYS.len(), 0..VALUES.len()).prop_map(|(k, v)| {
        Some(BTreeMap::from([(
            KEYS[k].to_string(),
            VALUES[v].to_string(),
        )]))
    })
}

fn requirements() -> impl Strategy<Value = Option<Vec<LabelSelectorRequirement>>> {
    prop::collection::vec(requirement(), 1..3).prop_map(Some)
}

fn selector() -> impl Strategy<Value = LabelSelector> {
    // Mostly broad selectors, so subjects and peers are hit often enough to matter.
    prop_oneof![
        3 => Just(LabelSelector::default()),
        2 => one_label().prop_map(|m| LabelSelector { match_labels: m, match_expressions: None }),
        2 => requirements().prop_map(|e| LabelSelector { match_labels: None, match_expressions: e }),
        1 => (one_label(), requirements())
            .prop_map(|(m, e)| LabelSelector { match_labels: m, match_expressions: e }),
    ]
}

/// A pod before it is placed: namespace index, labels, node, hostNetwork, named ports.
#[derive(Clone, Debug)]
struct PodDraft {
    namespace: usize,
    labels: Labels,
    node: usize,
    host_network: bool,
    ports: Vec<(usize, usize, usize)>,
    /// `Running`, `Pending` (no IP yet) or `Succeeded` (finished; its IP is free again).
    phase: &'static str,
}

fn pod_draft() -> impl Strategy<Value = PodDraft> {
    (
        0..3usize,
        label_pairs(),
        0..2usize,
        prop::bool::weighted(0.15),
        prop::collection::vec(
            (0..PORT_NAMES.len(), 0..PROTOCOLS.len(), 0..PORTS.len()),
            0..3,
        ),
        prop_oneof![8 => Just("Running"), 1 => Just("Pending"), 1 => Just("Succeeded")],
    )
        .prop_map(
            |(namespace, labels, node, host_network, ports, phase)| PodDraft {
                namespace,
                labels,
                node,
                host_network,
                ports,
                phase,
            },
        )
}

fn build_pod(i: usize, draft: &PodDraft, namespaces: usize) -> Pod {
    let ns = format!("ns{}", draft.namespace % namespaces);
    let mut seen = BTreeSet::new();
    let ports: Vec<ContainerPort> = draft
        .ports
        .iter()
        .filter(|(name, _, _)| seen.insert(*name))
        .map(|&(name, proto, port)| ContainerPort {
            name: Some(PORT_NAMES[name].into()),
            protocol: Some(PROTOCOLS[proto].into()),
            container_port: i32::from(PORTS[port]),
            ..Default::default()
        })
        .collect();
    let ip = if draft.host_network {
        node_ip(draft.node)
    } else {
        pod_ip(i)
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("p{i}")),
            namespace: Some(ns),
            labels: Some(draft.labels.clone()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                ports: Some(ports),
                ..Default::default()
            }],
            node_name: Some(format!("n{}", draft.node)),
            host_network: draft.host_network.then_some(true),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some(draft.phase.into()),
            pod_ip: (draft.phase != "Pending").then(|| ip.to_string()),
            pod_ips: (draft.phase != "Pending").then(|| vec![PodIP { ip: ip.to_string() }]),
            host_ip: Some(node_ip(draft.node).to_string()),
            ..Default::default()
        }),
    }
}

fn namespace(i: usize, labels: Labels) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(format!("ns{i}")),
            labels: Some(labels),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn node(i: usize, zone: bool) -> Node {
    let mut labels = Labels::from([("kubernetes.io/os".to_string(), "linux".to_string())]);
    if zone {
        labels.insert("app".into(), "x".into());
    }
    Node {
        metadata: ObjectMeta {
            name: Some(format!("n{i}")),
            labels: Some(labels),
            ..Default::default()
        },
        status: Some(NodeStatus {
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".into(),
                address: node_ip(i).to_string(),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn np_port() -> impl Strategy<Value = NetworkPolicyPort> {
    let protocol =
        prop::option::of(0..PROTOCOLS.len()).prop_map(|p| p.map(|p| PROTOCOLS[p].to_string()));
    prop_oneof![
        (protocol.clone(), 0..PORTS.len()).prop_map(|(protocol, p)| NetworkPolicyPort {
            protocol,
            port: Some(IntOrString::Int(i32::from(PORTS[p]))),
            end_port: None,
        }),
        (protocol.clone(), 0..PORTS.len(), 0..100i32).prop_map(|(protocol, p, len)| {
            NetworkPolicyPort {
                protocol,
                port: Some(IntOrString::Int(i32::from(PORTS[p]))),
                end_port: Some(i32::from(PORTS[p]) + len),
            }
        }),
        (protocol, 0..PORT_NAMES.len()).prop_map(|(protocol, n)| NetworkPolicyPort {
            protocol,
            port: Some(IntOrString::String(PORT_NAMES[n].into())),
            end_port: None,
        }),
        (0..PROTOCOLS.len()).prop_map(|p| NetworkPolicyPort {
            protocol: Some(PROTOCOLS[p].into()),
            port: None,
            end_port: None
        }),
    ]
}

fn np_peer() -> impl Strategy<Value = NetworkPolicyPeer> {
    prop_oneof![
        selector().prop_map(|s| NetworkPolicyPeer {
            pod_selector: Some(s),
            ..Default::default()
        }),
        selector().prop_map(|s| NetworkPolicyPeer {
            namespace_selector: Some(s),
            ..Default::default()
        }),
        (selector(), selector()).prop_map(|(n, p)| NetworkPolicyPeer {
            namespace_selector: Some(n),
            pod_selector: Some(p),
            ..Default::default()
        }),
        (0..BLOCKS.len()).prop_map(|b| NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: BLOCKS[b].0.into(),
                except: (!BLOCKS[b].1.is_empty()).then(|| BLOCKS[b]
                    .1
                    .iter()
                    .map(|e| e.to_string())
                    .collect()),
            }),
            ..Default::default()
        }),
    ]
}

type RuleParts = (Vec<NetworkPolicyPeer>, Vec<NetworkPolicyPort>);

fn np_rules() -> impl Strategy<Value = Option<Vec<RuleParts>>> {
    prop::option::of(prop::collection::vec(
        (
            prop::collection::vec(np_peer(), 0..3),
            prop::collection::vec(np_port(), 0..3),
        ),
        0..3,
    ))
}

/// Namespace index, podSelector, policyTypes, ingress rules, egress rules.
type NetworkPolicyDraft = (
    usize,
    LabelSelector,
    Option<Vec<&'static str>>,
    Option<Vec<RuleParts>>,
    Option<Vec<RuleParts>>,
);

fn network_policy() -> impl Strategy<Value = NetworkPolicyDraft> {
    let types = prop_oneof![
        Just(None),
        Just(Some(vec!["Ingress"])),
        Just(Some(vec!["Egress"])),
        Just(Some(vec!["Ingress", "Egress"])),
    ];
    (0..3usize, selector(), types, np_rules(), np_rules())
}

fn opt<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn build_network_policy(
    i: usize,
    namespaces: usize,
    (ns, pod_selector, types, ingress, egress): &NetworkPolicyDraft,
) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(format!("np{i}")),
            namespace: Some(format!("ns{}", ns % namespaces)),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(pod_selector.clone()),
            policy_types: types
                .as_ref()
                .map(|t| t.iter().map(|s| s.to_string()).collect()),
            ingress: ingress.as_ref().map(|rules| {
                rules
                    .iter()
                    .map(|(peers, ports)| NetworkPolicyIngressRule {
                        from: opt(peers),
                        ports: opt(ports),
                    })
                    .collect()
            }),
            egress: egress.as_ref().map(|rules| {
                rules
                    .iter()
                    .map(|(peers, ports)| NetworkPolicyEgressRule {
                        to: opt(peers),
                        ports: opt(ports),
                    })
                    .collect()
            }),
        }),
    }
}

fn admin_port() -> impl Strategy<Value = AdminNetworkPolicyPort> {
    prop_oneof![
        (0..PROTOCOLS.len(), 0..PORTS.len()).prop_map(|(p, n)| AdminNetworkPolicyPort {
            port_number: Some(PortNumber {
                protocol: PROTOCOLS[p].into(),
                port: i32::from(PORTS[n])
            }),
            ..Default::default()
        }),
        (0..PORT_NAMES.len()).prop_map(|n| AdminNetworkPolicyPort {
            named_port: Some(PORT_NAMES[n].into()),
            ..Default::default()
        }),
        (
            prop::option::of(0..PROTOCOLS.len()),
            0..PORTS.len(),
            1..100i32
        )
            .prop_map(|(p, n, len)| AdminNetworkPolicyPort {
                port_range: Some(PortRange {
                    protocol: p.map(|p| PROTOCOLS[p].to_string()),
                    start: i32::from(PORTS[n]),
                    end: i32::from(PORTS[n]) + len,
                }),
                ..Default::default()
            }),
    ]
}

fn admin_ports() -> impl Strategy<Value = Option<Vec<AdminNetworkPolicyPort>>> {
    prop::option::of(prop::collection::vec(admin_port(), 1..3))
}

fn ingress_peer() -> impl Strategy<Value = AdminNetworkPolicyIngressPeer> {
    prop_oneof![
        selector().prop_map(|s| AdminNetworkPolicyIngressPeer {
            namespaces: Some(s),
            pods: None
        }),
        (selector(), selector()).prop_map(|(n, p)| AdminNetworkPolicyIngressPeer {
            namespaces: None,
            pods: Some(NamespacedPod {
                namespace_selector: n,
                pod_selector: p
            }),
        }),
    ]
}

fn egress_peer() -> impl Strategy<Value = AdminNetworkPolicyEgressPeer> {
    prop_oneof![
        selector().prop_map(|s| AdminNetworkPolicyEgressPeer {
            namespaces: Some(s),
            ..Default::default()
        }),
        (selector(), selector()).prop_map(|(n, p)| AdminNetworkPolicyEgressPeer {
            pods: Some(NamespacedPod {
                namespace_selector: n,
                pod_selector: p
            }),
            ..Default::default()
        }),
        selector().prop_map(|s| AdminNetworkPolicyEgressPeer {
            nodes: Some(s),
            ..Default::default()
        }),
        prop::collection::btree_set(0..NETWORKS.len(), 1..3).prop_map(|n| {
            AdminNetworkPolicyEgressPeer {
                networks: n.into_iter().map(|i| NETWORKS[i].to_string()).collect(),
                ..Default::default()
            }
        }),
    ]
}

fn subject() -> impl Strategy<Value = AdminNetworkPolicySubject> {
    prop_oneof![
        selector().prop_map(|s| AdminNetworkPolicySubject {
            namespaces: Some(s),
            pods: None
        }),
        (selector(), selector()).prop_map(|(n, p)| AdminNetworkPolicySubject {
            namespaces: None,
            pods: Some(NamespacedPod {
                namespace_selector: n,
                pod_selector: p
            }),
        }),
    ]
}

fn action() -> impl Strategy<Value = AdminNetworkPolicyRuleAction> {
    prop_oneof![
        Just(AdminNetworkPolicyRuleAction::Allow),
        Just(AdminNetworkPolicyRuleAction::Deny),
        Just(AdminNetworkPolicyRuleAction::Pass),
    ]
}

fn admin_spec() -> impl Strategy<Value = AdminNetworkPolicySpec> {
    let ingress = (
        action(),
        prop::collection::vec(ingress_peer(), 1..3),
        admin_ports(),
    )
        .prop_map(|(action, from, ports)| AdminNetworkPolicyIngressRule {
            name: None,
            action,
            from,
            ports,
        });
    let egress = (
        action(),
        prop::collection::vec(egress_peer(), 1..3),
        admin_ports(),
    )
        .prop_map(|(action, to, ports)| AdminNetworkPolicyEgressRule {
            name: None,
            action,
            to,
            ports,
        });
    (
        0..1000i32,
        subject(),
        prop::collection::vec(ingress, 0..4),
        prop::collection::vec(egress, 0..4),
    )
        .prop_map(
            |(priority, subject, ingress, egress)| AdminNetworkPolicySpec {
                priority,
                subject,
                ingress,
                egress,
            },
        )
}

/// A BANP spec: an ANP spec with Pass turned into Deny and the egress peers narrowed.
fn baseline_spec() -> impl Strategy<Value = BaselineAdminNetworkPolicySpec> {
    admin_spec().prop_map(|a| {
        let act = |x| match x {
            AdminNetworkPolicyRuleAction::Allow => BaselineAdminNetworkPolicyRuleAction::Allow,
            _ => BaselineAdminNetworkPolicyRuleAction::Deny,
        };
        BaselineAdminNetworkPolicySpec {
            subject: a.subject,
            ingress: a
                .ingress
                .into_iter()
                .map(|r| BaselineAdminNetworkPolicyIngressRule {
                    name: r.name,
                    action: act(r.action),
                    from: r.from,
                    ports: r.ports,
                })
                .collect(),
            egress: a
                .egress
                .into_iter()
                .map(|r| BaselineAdminNetworkPolicyEgressRule {
                    name: r.name,
                    action: act(r.action),
                    to: r
                        .to
                        .into_iter()
                        .map(|p| BaselineAdminNetworkPolicyEgressPeer {
                            namespaces: p.namespaces,
                            pods: p.pods,
                            nodes: p.nodes,
                            networks: p.networks,
                        })
                        .collect(),
                    ports: r.ports,
                })
                .collect(),
        }
    })
}

/// A ClusterNetworkPolicy spec: an ANP spec moved to the new API (Allow → Accept, ports →
/// protocols) in either tier, at a small priority so same-priority ties happen. Named ports
/// are dropped from egress rules with nodes or networks peers, which upstream's CEL rule
/// refuses.
fn cnp_spec() -> impl Strategy<Value = ClusterNetworkPolicySpec> {
    (admin_spec(), any::<bool>(), 0..4i32).prop_map(|(a, admin, priority)| {
        let act = |x| match x {
            AdminNetworkPolicyRuleAction::Allow => ClusterNetworkPolicyRuleAction::Accept,
            AdminNetworkPolicyRuleAction::Deny => ClusterNetworkPolicyRuleAction::Deny,
            AdminNetworkPolicyRuleAction::Pass => ClusterNetworkPolicyRuleAction::Pass,
        };
        let protocols = |ports: Option<Vec<AdminNetworkPolicyPort>>, named_ok: bool| {
            let out: Vec<ClusterNetworkPolicyProtocol> = ports?
                .into_iter()
                .filter(|p| named_ok || p.named_port.is_none())
                .map(|p| {
                    if let Some(name) = p.named_port {
                        return ClusterNetworkPolicyProtocol {
                            destination_named_port: Some(name),
                            ..Default::default()
                        };
                    }
                    let (protocol, port) = match (p.port_number, p.port_range) {
                        (Some(n), _) => (
                            n.protocol,
                            ClusterNetworkPolicyPort {
                                number: Some(n.port),
                                range: None,
                            },
                        ),
                        (None, Some(r)) => (
                            r.protocol.unwrap_or_else(|| "TCP".into()),
                            ClusterNetworkPolicyPort {
                                number: None,
                                range: Some(ClusterNetworkPolicyPortRange {
                                    start: r.start,
                                    end: r.end,
                                }),
                            },
                        ),
                        (None, None) => unreachable!("the generator sets one field"),
                    };
                    let attrs = Some(ClusterNetworkPolicyProtocolPort {
                        destination_port: Some(port),
                    });
                    match protocol.as_str() {
                        "UDP" => ClusterNetworkPolicyProtocol {
                            udp: attrs,
                            ..Default::default()
                        },
                        "SCTP" => ClusterNetworkPolicyProtocol {
                            sctp: attrs,
                            ..Default::default()
                        },
                        _ => ClusterNetworkPolicyProtocol {
                            tcp: attrs,
                            ..Default::default()
                        },
                    }
                })
                .collect();
            (!out.is_empty()).then_some(out)
        };
        ClusterNetworkPolicySpec {
            tier: if admin {
                ClusterNetworkPolicyTier::Admin
            } else {
                ClusterNetworkPolicyTier::Baseline
            },
            priority,
            subject: ClusterNetworkPolicySubject {
                namespaces: a.subject.namespaces,
                pods: a.subject.pods,
            },
            ingress: a
                .ingress
                .into_iter()
                .map(|r| ClusterNetworkPolicyIngressRule {
                    name: r.name,
                    action: act(r.action),
                    from: r
                        .from
                        .into_iter()
                        .map(|p| ClusterNetworkPolicyIngressPeer {
                            namespaces: p.namespaces,
                            pods: p.pods,
                        })
                        .collect(),
                    protocols: protocols(r.ports, true),
                })
                .collect(),
            egress: a
                .egress
                .into_iter()
                .map(|r| {
                    let named_ok =
                        r.to.iter()
                            .all(|p| p.nodes.is_none() && p.networks.is_empty());
                    ClusterNetworkPolicyEgressRule {
                        name: r.name,
                        action: act(r.action),
                        to: r
                            .to
                            .into_iter()
                            .map(|p| ClusterNetworkPolicyEgressPeer {
                                namespaces: p.namespaces,
                                pods: p.pods,
                                nodes: p.nodes,
                                networks: p.networks,
                                domain_names: Vec::new(),
                            })
                            .collect(),
                        protocols: protocols(r.ports, named_ok),
                    }
                })
                .collect(),
        }
    })
}

/// Relabels applied after the first comparison, to exercise the index's incremental paths.
#[derive(Clone, Debug)]
struct Changes {
    namespace: (usize, Labels),
    pod: (usize, Labels),
    delete_network_policy: Option<usize>,
    delete_admin: Option<usize>,
    delete_baseline: bool,
    delete_cluster: Option<usize>,
    /// Another pod finishes (phase Succeeded) and one is deleted outright.
    finish_pod: Option<usize>,
    delete_pod: Option<usize>,
}

fn changes() -> impl Strategy<Value = Changes> {
    (
        (0..3usize, label_pairs()),
        (0..6usize, label_pairs()),
        prop::option::of(0..4usize),
        prop::option::of(0..4usize),
        any::<bool>(),
        prop::option::of(0..4usize),
        prop::option::weighted(0.3, 0..6usize),
        prop::option::weighted(0.3, 0..6usize),
    )
        .prop_map(
            |(
                namespace,
                pod,
                delete_network_policy,
                delete_admin,
                delete_baseline,
                delete_cluster,
                finish_pod,
                delete_pod,
            )| {
                Changes {
                    namespace,
                    pod,
                    delete_network_policy,
                    delete_admin,
                    delete_baseline,
                    delete_cluster,
                    finish_pod,
                    delete_pod,
                }
            },
        )
}

#[derive(Clone, Debug)]
struct Scenario {
    cluster: Cluster,
    policies_first: bool,
    changes: Changes,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(label_pairs(), 2..4),
        any::<bool>(),
        prop::collection::vec(pod_draft(), 2..7),
        prop::collection::vec(network_policy(), 0..5),
        prop::collection::vec(admin_spec(), 0..4),
        prop::option::weighted(0.7, baseline_spec()),
        prop::collection::vec(cnp_spec(), 0..4),
        any::<bool>(),
        changes(),
    )
        .prop_map(
            |(ns_labels, zone, pods, nps, anps, banp, cnps, policies_first, changes)| {
                let n = ns_labels.len();
                let mut seen_priority = BTreeSet::new();
                let cluster = Cluster {
                    namespaces: ns_labels
                        .into_iter()
                        .enumerate()
                        .map(|(i, l)| namespace(i, l))
                        .collect(),
                    nodes: vec![node(0, zone), node(1, false)],
                    pods: pods
                        .iter()
                        .enumerate()
                        .map(|(i, d)| build_pod(i, d, n))
                        .collect(),
                    network_policies: nps
                        .iter()
                        .enumerate()
                        .map(|(i, p)| build_network_policy(i, n, p))
                        .collect(),
                    // Equal priorities have no defined order upstream; keep one ANP per priority.
                    admin: anps
                        .into_iter()
                        .filter(|a| seen_priority.insert(a.priority))
                        .enumerate()
                        .map(|(i, spec)| AdminNetworkPolicy::new(&format!("anp{i}"), spec))
                        .collect(),
                    baseline: banp.map(|spec| BaselineAdminNetworkPolicy::new("default", spec)),
                    cluster: cnps
                        .into_iter()
                        .enumerate()
                        .map(|(i, spec)| ClusterNetworkPolicy::new(&format!("cnp{i}"), spec))
                        .collect(),
                };
                Scenario {
                    cluster,
                    policies_first,
                    changes,
                }
            },
        )
}

// ======================================================================================
// The property.
// ======================================================================================

fn load(index: &mut Index, cluster: &Cluster, policies_first: bool) {
    let policies = |index: &mut Index| {
        for np in &cluster.network_policies {
            index
                .apply_network_policy(np)
                .expect("generated NetworkPolicies are valid");
        }
        for anp in &cluster.admin {
            index
                .apply_admin_network_policy(anp)
                .expect("generated ANPs are valid");
        }
        if let Some(banp) = &cluster.baseline {
            index
                .apply_baseline_admin_network_policy(banp)
                .expect("generated BANPs are valid");
        }
        for cnp in &cluster.cluster {
            index
                .apply_cluster_network_policy(cnp)
                .expect("generated CNPs are valid");
        }
    };
    if policies_first {
        policies(index);
    }
    for ns in &cluster.namespaces {
        index.apply_namespace(ns).expect("namespace");
    }
    for node in &cluster.nodes {
        index.apply_node(node).expect("node");
    }
    for pod in &cluster.pods {
        index.apply_pod(pod).expect("generated pods are valid");
    }
    if !policies_first {
        policies(index);
    }
}

const PROBES: [(Protocol, u16); 7] = [
    (Protocol::Tcp, 80),
    (Protocol::Tcp, 81),
    (Protocol::Tcp, 8080),
    (Protocol::Udp, 53),
    (Protocol::Udp, 80),
    (Protocol::Sctp, 81),
    (Protocol::Icmp, 0),
];

/// Every address worth probing: the pods' (even once deleted or finished), the nodes', and
/// two outside addresses.
fn addresses(cluster: &Cluster) -> BTreeSet<IpAddr> {
    let mut addresses: BTreeSet<IpAddr> = cluster
        .pods
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.as_deref()?.parse().ok())
        .collect();
    addresses.extend((0..cluster.nodes.len()).map(node_ip));
    addresses.extend(EXTERNAL);
    addresses
}

/// Compares engine and reference over every pair of `addresses` and every probe; the error
/// names the first disagreement.
fn agree(
    index: &Index,
    cluster: &Cluster,
    addresses: &BTreeSet<IpAddr>,
    phase: &str,
) -> Result<usize, TestCaseError> {
    let mut compared = 0;
    for &src in addresses {
        for &dst in addresses {
            for (protocol, port) in PROBES {
                let flow = Flow {
                    src_ip: src,
                    src_port: 40_000,
                    dst_ip: dst,
                    dst_port: port,
                    protocol,
                };
                let got = index.evaluate(&flow);
                let egress = cluster.judge(&flow, Direction::Egress);
                let ingress = cluster.judge(&flow, Direction::Ingress);
                let verdict =
                    if egress.verdict == Verdict::Allow && ingress.verdict == Verdict::Allow {
                        Verdict::Allow
                    } else {
                        Verdict::Deny
                    };
                let seen = (
                    Judgement::of(&got.egress),
                    Judgement::of(&got.ingress),
                    got.verdict,
                );
                prop_assert_eq!(
                    seen,
                    (egress, ingress, verdict),
                    "{}: {} (engine egress/ingress/verdict vs reference)\nengine said: {:#?}",
                    phase,
                    flow,
                    got
                );
                compared += 1;
            }
        }
    }
    Ok(compared)
}

fn apply_changes(index: &mut Index, cluster: &mut Cluster, changes: &Changes) {
    let i = changes.namespace.0 % cluster.namespaces.len();
    let ns = &mut cluster.namespaces[i];
    ns.metadata.labels = Some(changes.namespace.1.clone());
    index.apply_namespace(ns).expect("namespace relabel");

    let i = changes.pod.0 % cluster.pods.len();
    let pod = &mut cluster.pods[i];
    pod.metadata.labels = Some(changes.pod.1.clone());
    index.apply_pod(pod).expect("pod relabel");

    if let Some(i) = changes.finish_pod {
        let i = i % cluster.pods.len();
        let pod = &mut cluster.pods[i];
        pod.status.as_mut().expect("status").phase = Some("Succeeded".into());
        index.apply_pod(pod).expect("pod finishes");
    }
    if let Some(i) = changes.delete_pod
        && cluster.pods.len() > 1
    {
        let pod = cluster.pods.remove(i % cluster.pods.len());
        let (ns, name) = (
            pod.metadata.namespace.unwrap_or_default(),
            pod.metadata.name.unwrap_or_default(),
        );
        assert!(index.delete_pod(&ns, &name), "index knew pod {ns}/{name}");
    }

    if let Some(i) = changes.delete_network_policy
        && !cluster.network_policies.is_empty()
    {
        let np = cluster
            .network_policies
            .remove(i % cluster.network_policies.len());
        let (ns, name) = (
            np.metadata.namespace.unwrap_or_default(),
            np.metadata.name.unwrap_or_default(),
        );
        assert!(
            index.delete_network_policy(&ns, &name),
            "index knew {ns}/{name}"
        );
    }
    if let Some(i) = changes.delete_admin
        && !cluster.admin.is_empty()
    {
        let anp = cluster.admin.remove(i % cluster.admin.len());
        let name = anp.metadata.name.unwrap_or_default();
        assert!(
            index.delete_admin_network_policy(&name),
            "index knew {name}"
        );
    }
    if changes.delete_baseline && cluster.baseline.take().is_some() {
        assert!(index.delete_baseline_admin_network_policy("default"));
    }
    if let Some(i) = changes.delete_cluster
        && !cluster.cluster.is_empty()
    {
        let cnp = cluster.cluster.remove(i % cluster.cluster.len());
        let name = cnp.metadata.name.unwrap_or_default();
        assert!(
            index.delete_cluster_network_policy(&name),
            "index knew {name}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn indexed_engine_agrees_with_the_naive_reference(s in scenario()) {
        let mut cluster = s.cluster.clone();
        let mut index = Index::new();
        load(&mut index, &cluster, s.policies_first);
        let probed = addresses(&cluster);
        let before = agree(&index, &cluster, &probed, "after loading")?;
        apply_changes(&mut index, &mut cluster, &s.changes);
        let after = agree(&index, &cluster, &probed, "after relabels and deletes")?;
        prop_assert!(before > 0 && after > 0);
    }
}

/// The reference itself, on hand-written cases where the spec leaves no doubt, so a
/// disagreement in the property is not blamed on the wrong side.
#[test]
fn reference_follows_the_spec_on_known_cases() {
    let ns = |i: usize| namespace(i, Labels::new());
    let pod = |i: usize, nsi: usize, app: &str| {
        build_pod(
            i,
            &PodDraft {
                namespace: nsi,
                labels: Labels::from([("app".to_string(), app.to_string())]),
                node: 0,
                host_network: false,
                phase: "Running",
                ports: vec![(0, 0, 2)],
            },
            2,
        )
    };
    let everyone = LabelSelector::default();
    let deny_ingress = NetworkPolicy {
        metadata: ObjectMeta {
            name: Some("deny".into()),
            namespace: Some("ns0".into()),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(everyone.clone()),
            policy_types: Some(vec!["Ingress".into()]),
            ..Default::default()
        }),
    };
    let pass_all = AdminNetworkPolicy::new(
        "pass",
        AdminNetworkPolicySpec {
            priority: 1,
            subject: AdminNetworkPolicySubject {
                namespaces: Some(everyone.clone()),
                pods: None,
            },
            ingress: vec![AdminNetworkPolicyIngressRule {
                name: None,
                action: AdminNetworkPolicyRuleAction::Pass,
                from: vec![AdminNetworkPolicyIngressPeer {
                    namespaces: Some(everyone.clone()),
                    pods: None,
                }],
                ports: None,
            }],
            egress: vec![],
        },
    );
    let allow_named = AdminNetworkPolicy::new(
        "allow-http",
        AdminNetworkPolicySpec {
            priority: 2,
            subject: AdminNetworkPolicySubject {
                namespaces: Some(everyone.clone()),
                pods: None,
            },
            ingress: vec![AdminNetworkPolicyIngressRule {
                name: None,
                action: AdminNetworkPolicyRuleAction::Allow,
                from: vec![AdminNetworkPolicyIngressPeer {
                    namespaces: Some(everyone),
                    pods: None,
                }],
                ports: Some(vec![AdminNetworkPolicyPort {
                    named_port: Some("http".into()),
                    ..Default::default()
                }]),
            }],
            egress: vec![],
        },
    );
    let flow = |dst_port, protocol| Flow {
        src_ip: pod_ip(1),
        src_port: 1,
        dst_ip: pod_ip(0),
        dst_port,
        protocol,
    };
    struct Row {
        name: &'static str,
        admin: Vec<AdminNetworkPolicy>,
        flow: Flow,
        ingress: (Verdict, Tier),
    }
    let rows = [
        Row {
            name: "isolated by NetworkPolicy",
            admin: vec![],
            flow: flow(80, Protocol::Tcp),
            ingress: (Verdict::Deny, Tier::NetworkPolicy),
        },
        Row {
            name: "named port allowed by ANP before NetworkPolicy",
            admin: vec![allow_named.clone()],
            flow: flow(81, Protocol::Tcp),
            ingress: (Verdict::Allow, Tier::AdminNetworkPolicy),
        },
        Row {
            name: "named port resolves to 81/TCP only",
            admin: vec![allow_named.clone()],
            flow: flow(80, Protocol::Tcp),
            ingress: (Verdict::Deny, Tier::NetworkPolicy),
        },
        Row {
            name: "Pass skips lower-priority ANPs",
            admin: vec![pass_all, allow_named],
            flow: flow(81, Protocol::Tcp),
            ingress: (Verdict::Deny, Tier::NetworkPolicy),
        },
    ];
    for row in rows {
        let cluster = Cluster {
            namespaces: vec![ns(0), ns(1)],
            nodes: vec![node(0, false)],
            pods: vec![pod(0, 0, "x"), pod(1, 1, "y")],
            network_policies: vec![deny_ingress.clone()],
            admin: row.admin,
            baseline: None,
            cluster: Vec::new(),
        };
        let judged = cluster.judge(&row.flow, Direction::Ingress);
        assert_eq!((judged.verdict, judged.tier), row.ingress, "{}", row.name);
        assert_eq!(
            cluster.judge(&row.flow, Direction::Egress),
            Judgement::new(Verdict::Allow, Tier::Default),
            "{}",
            row.name
        );
        let mut index = Index::new();
        load(&mut index, &cluster, false);
        let got = index.evaluate(&row.flow);
        assert_eq!(
            (got.ingress.verdict, got.ingress.tier),
            row.ingress,
            "engine: {}",
            row.name
        );
    }
}
