//! AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) and
//! ClusterNetworkPolicy (v1beta1/v1alpha2), compiled into one form.
//!
//! Subjects and `namespaces`/`pods` peers never include hostNetwork pods. `nodes` peers match
//! node addresses (InternalIP/ExternalIP), `networks` peers match any address, pod addresses
//! included. A peer with no field set (a CRD newer than this code) fails closed as upstream
//! asks: it matches nothing in an Allow/Accept rule and turns a Deny or Pass rule into "deny
//! everything". v1alpha1 `domainNames` peers are not resolved and match nothing;
//! ClusterNetworkPolicy `domainNames` peers (Accept rules only) match through the caller's
//! [`Dns`] bindings (see `dns.rs`).
//!
//! ClusterNetworkPolicy `protocols` (NPEP-187) compile to the same [`PortSpec`]s as v1alpha1
//! `ports`: `tcp`/`udp`/`sctp` with a `destinationPort` number or inclusive range, and
//! `destinationNamedPort`, resolved on the destination pod with the container port's own
//! protocol.
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use verdict_crds::{
    AdminNetworkPolicy, AdminNetworkPolicyPort, AdminNetworkPolicyRuleAction,
    AdminNetworkPolicySubject, BaselineAdminNetworkPolicy, BaselineAdminNetworkPolicyRuleAction,
    ClusterNetworkPolicy, ClusterNetworkPolicyProtocol, ClusterNetworkPolicyRuleAction,
    ClusterNetworkPolicyTier, NamespacedPod,
};

use crate::Result;
use crate::decision::{Direction, PolicyKind, PolicyRef, PolicyTier, RuleRef};
use crate::dns::{Dns, DomainPattern};
use crate::flow::Protocol;
use crate::labels::Labels;
use crate::model::PodRecord;
use crate::object::ObjectName;
use crate::peers::{PeerKind, PeerView, parse_cidr};
use crate::ports::{PortSpec, admin_policy_ports, cluster_policy_protocols, ports_match};
use crate::selector::Selector;

use ipnet::IpNet;

/// The only name a BaselineAdminNetworkPolicy may have.
pub const BASELINE_NAME: &str = "default";

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Allow,
    Deny,
    /// ANP only: skip the remaining ANPs and let NetworkPolicy, then BANP, decide.
    Pass,
}

/// A compiled AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AdminPolicy {
    pub(crate) reference: PolicyRef,
    /// For ordering; 0 for the BANP, which is never ordered against anything.
    pub(crate) priority: i32,
    /// Admin for ANPs, Baseline for the BANP, the spec's tier for a CNP.
    pub(crate) tier: PolicyTier,
    subject: Subject,
    ingress: Box<[AdminRule]>,
    egress: Box<[AdminRule]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Subject {
    Namespaces(Selector),
    Pods {
        namespaces: Selector,
        pods: Selector,
    },
}

/// One rule of an (B)ANP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AdminRule {
    pub(crate) rule: RuleRef,
    pub(crate) action: Action,
    peers: Box<[AdminPeer]>,
    ports: Box<[PortSpec]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum AdminPeer {
    /// Every address (a fail-closed Deny rule).
    Everything,
    /// Matches nothing (a fail-closed Allow rule, or domain names).
    Nothing,
    Namespaces(Selector),
    Pods {
        namespaces: Selector,
        pods: Selector,
    },
    Nodes(Selector),
    Networks(Box<[IpNet]>),
    /// ClusterNetworkPolicy `domainNames`: the destination was answered to the source for a
    /// matching name.
    Domains(Box<[DomainPattern]>),
}

/// The fields an ingress or egress peer of either API can have.
struct PeerFields<'a> {
    namespaces: Option<&'a LabelSelector>,
    pods: Option<&'a NamespacedPod>,
    nodes: Option<&'a LabelSelector>,
    networks: &'a [String],
    domain_names: &'a [String],
}

/// A rule's port matches, in either API's spelling.
#[derive(Clone, Copy)]
enum PortFields<'a> {
    /// v1alpha1 `ports`.
    Ports(Option<&'a [AdminNetworkPolicyPort]>),
    /// ClusterNetworkPolicy `protocols`.
    Protocols(Option<&'a [ClusterNetworkPolicyProtocol]>),
}

/// The fields a rule of any of the APIs has.
struct RuleFields<'a> {
    name: Option<&'a str>,
    action: Action,
    peers: Vec<PeerFields<'a>>,
    ports: PortFields<'a>,
    /// True when `domainNames` peers are resolved (ClusterNetworkPolicy), false when they
    /// match nothing (v1alpha1).
    resolve_domains: bool,
}

/// What a matching rule matched on, beyond the rule itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RuleMatch {
    /// The DNS name the destination was answered for, when a `domainNames` peer matched.
    pub(crate) domain: Option<Arc<str>>,
}

impl AdminPolicy {
    /// Compiles and validates an AdminNetworkPolicy.
    ///
    /// # Errors
    /// Priority outside 0..=1000, an invalid subject, selector, CIDR or port.
    pub(crate) fn compile_anp(anp: &AdminNetworkPolicy) -> Result<Self> {
        let name = anp.metadata.name.as_deref().unwrap_or_default();
        let object = ObjectName::cluster("AdminNetworkPolicy", name);
        let spec = &anp.spec;
        if !(0..=1000).contains(&spec.priority) {
            return Err(object.field(
                "spec.priority",
                format!("{} is outside 0..=1000", spec.priority),
            ));
        }
        let ingress = spec.ingress.iter().map(|r| RuleFields {
            name: r.name.as_deref(),
            action: anp_action(r.action),
            peers: r
                .from
                .iter()
                .map(|p| PeerFields {
                    namespaces: p.namespaces.as_ref(),
                    pods: p.pods.as_ref(),
                    nodes: None,
                    networks: &[],
                    domain_names: &[],
                })
                .collect(),
            ports: PortFields::Ports(r.ports.as_deref()),
            resolve_domains: false,
        });
        let egress = spec.egress.iter().map(|r| RuleFields {
            name: r.name.as_deref(),
            action: anp_action(r.action),
            peers: r
                .to
                .iter()
                .map(|p| PeerFields {
                    namespaces: p.namespaces.as_ref(),
                    pods: p.pods.as_ref(),
                    nodes: p.nodes.as_ref(),
                    networks: &p.networks,
                    domain_names: &p.domain_names,
                })
                .collect(),
            ports: PortFields::Ports(r.ports.as_deref()),
            resolve_domains: false,
        });
        Self::compile(
            PolicyKind::AdminNetworkPolicy,
            PolicyTier::Admin,
            name,
            spec.priority,
            &spec.subject,
            ingress,
            egress,
            &object,
        )
    }

    /// Compiles and validates the BaselineAdminNetworkPolicy.
    ///
    /// # Errors
    /// A name other than `default`, an invalid subject, selector, CIDR or port.
    pub(crate) fn compile_banp(banp: &BaselineAdminNetworkPolicy) -> Result<Self> {
        let name = banp.metadata.name.as_deref().unwrap_or_default();
        let object = ObjectName::cluster("BaselineAdminNetworkPolicy", name);
        if name != BASELINE_NAME {
            return Err(object.field(
                "metadata.name",
                format!(
                    "must be {BASELINE_NAME:?}: the cluster has one BaselineAdminNetworkPolicy"
                ),
            ));
        }
        let spec = &banp.spec;
        let ingress = spec.ingress.iter().map(|r| RuleFields {
            name: r.name.as_deref(),
            action: banp_action(r.action),
            peers: r
                .from
                .iter()
                .map(|p| PeerFields {
                    namespaces: p.namespaces.as_ref(),
                    pods: p.pods.as_ref(),
                    nodes: None,
                    networks: &[],
                    domain_names: &[],
                })
                .collect(),
            ports: PortFields::Ports(r.ports.as_deref()),
            resolve_domains: false,
        });
        let egress = spec.egress.iter().map(|r| RuleFields {
            name: r.name.as_deref(),
            action: banp_action(r.action),
            peers: r
                .to
                .iter()
                .map(|p| PeerFields {
                    namespaces: p.namespaces.as_ref(),
                    pods: p.pods.as_ref(),
                    nodes: p.nodes.as_ref(),
                    networks: &p.networks,
                    domain_names: &[],
                })
                .collect(),
            ports: PortFields::Ports(r.ports.as_deref()),
            resolve_domains: false,
        });
        Self::compile(
            PolicyKind::BaselineAdminNetworkPolicy,
            PolicyTier::Baseline,
            name,
            0,
            &spec.subject,
            ingress,
            egress,
            &object,
        )
    }

    /// Compiles and validates a ClusterNetworkPolicy (v1beta1, or v1alpha2 read into it).
    ///
    /// # Errors
    /// Priority outside 0..=1000, an invalid subject, selector, CIDR, protocol or port, a
    /// `domainNames` peer outside an Accept rule or that does not parse, or a named port in an
    /// egress rule with networks, nodes or domainNames peers (upstream's CEL rule).
    pub(crate) fn compile_cnp(cnp: &ClusterNetworkPolicy) -> Result<Self> {
        let name = cnp.metadata.name.as_deref().unwrap_or_default();
        let object = ObjectName::cluster("ClusterNetworkPolicy", name);
        let spec = &cnp.spec;
        if !(0..=1000).contains(&spec.priority) {
            return Err(object.field(
                "spec.priority",
                format!("{} is outside 0..=1000", spec.priority),
            ));
        }
        let tier = match spec.tier {
            ClusterNetworkPolicyTier::Admin => PolicyTier::Admin,
            ClusterNetworkPolicyTier::Baseline => PolicyTier::Baseline,
        };
        for (i, r) in spec.egress.iter().enumerate() {
            let named = r
                .protocols
                .iter()
                .flatten()
                .any(|p| p.destination_named_port.is_some());
            let non_pod = r
                .to
                .iter()
                .any(|p| p.nodes.is_some() || !p.networks.is_empty() || !p.domain_names.is_empty());
            if named && non_pod {
                return Err(object.field(
                    &format!("spec.egress[{i}]"),
                    "networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames",
                ));
            }
        }
        let subject = AdminNetworkPolicySubject {
            namespaces: spec.subject.namespaces.clone(),
            pods: spec.subject.pods.clone(),
        };
        let ingress = spec.ingress.iter().map(|r| RuleFields {
            name: r.name.as_deref(),
            action: cnp_action(r.action),
            peers: r
                .from
                .iter()
                .map(|p| PeerFields {
                    namespaces: p.namespaces.as_ref(),
                    pods: p.pods.as_ref(),
                    nodes: None,
                    networks: &[],
                    domain_names: &[],
                })
                .collect(),
            ports: PortFields::Protocols(r.protocols.as_deref()),
            resolve_domains: true,
        });
        let egress = spec.egress.iter().map(|r| RuleFields {
            name: r.name.as_deref(),
            action: cnp_action(r.action),
            peers: r
                .to
                .iter()
                .map(|p| PeerFields {
                    namespaces: p.namespaces.as_ref(),
                    pods: p.pods.as_ref(),
                    nodes: p.nodes.as_ref(),
                    networks: &p.networks,
                    domain_names: &p.domain_names,
                })
                .collect(),
            ports: PortFields::Protocols(r.protocols.as_deref()),
            resolve_domains: true,
        });
        let mut policy = Self::compile(
            PolicyKind::ClusterNetworkPolicy,
            tier,
            name,
            spec.priority,
            &subject,
            ingress,
            egress,
            &object,
        )?;
        policy.reference.tier = Some(tier);
        policy.reference.priority = Some(spec.priority);
        Ok(policy)
    }

    // One argument per compiled field; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    fn compile<'a>(
        kind: PolicyKind,
        tier: PolicyTier,
        name: &str,
        priority: i32,
        subject: &AdminNetworkPolicySubject,
        ingress: impl Iterator<Item = RuleFields<'a>>,
        egress: impl Iterator<Item = RuleFields<'a>>,
        object: &ObjectName,
    ) -> Result<Self> {
        let subject = match (&subject.namespaces, &subject.pods) {
            (Some(ns), None) => {
                Subject::Namespaces(Selector::parse(ns, object, "spec.subject.namespaces")?)
            }
            (None, Some(p)) => Subject::Pods {
                namespaces: Selector::parse(
                    &p.namespace_selector,
                    object,
                    "spec.subject.pods.namespaceSelector",
                )?,
                pods: Selector::parse(&p.pod_selector, object, "spec.subject.pods.podSelector")?,
            },
            _ => {
                return Err(object.field(
                    "spec.subject",
                    "exactly one of namespaces or pods must be set",
                ));
            }
        };
        let ingress = ingress
            .enumerate()
            .map(|(i, r)| AdminRule::compile(r, i, &format!("spec.ingress[{i}]"), "from", object))
            .collect::<Result<Vec<_>>>()?;
        let egress = egress
            .enumerate()
            .map(|(i, r)| AdminRule::compile(r, i, &format!("spec.egress[{i}]"), "to", object))
            .collect::<Result<Vec<_>>>()?;
        Ok(AdminPolicy {
            reference: PolicyRef {
                kind,
                namespace: None,
                name: Arc::from(name),
                tier: None,
                priority: None,
            },
            priority,
            tier,
            subject,
            ingress: ingress.into(),
            egress: egress.into(),
        })
    }

    /// The policy's name.
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.reference.name
    }

    /// The evaluation order within a tier: ascending priority, then kind (AdminNetworkPolicy
    /// before ClusterNetworkPolicy, and Baseline-tier ClusterNetworkPolicies before the
    /// BaselineAdminNetworkPolicy, which has no priority and sorts last), then name, so that
    /// same-priority policies, which upstream lets match in any order, have a fixed one.
    pub(crate) fn order_key(&self) -> (i32, PolicyKind, &str) {
        let priority = match self.reference.kind {
            PolicyKind::BaselineAdminNetworkPolicy => i32::MAX,
            _ => self.priority,
        };
        (priority, self.reference.kind, &self.reference.name)
    }

    /// True when this compiles the object of `kind` named `name` (any version of it).
    pub(crate) fn is(&self, kind: PolicyKind, name: &str) -> bool {
        self.reference.kind == kind && *self.reference.name == *name
    }

    /// True when the subject selects a (non-hostNetwork) pod with these labels.
    pub(crate) fn selects(
        &self,
        pod_labels: &Labels,
        namespace_labels: &Labels,
        host_network: bool,
    ) -> bool {
        !host_network
            && match &self.subject {
                Subject::Namespaces(ns) => ns.matches(namespace_labels),
                Subject::Pods { namespaces, pods } => {
                    namespaces.matches(namespace_labels) && pods.matches(pod_labels)
                }
            }
    }

    /// False when the subject cannot select any pod of a namespace with these labels.
    pub(crate) fn may_select_in(&self, namespace_labels: &Labels) -> bool {
        match &self.subject {
            Subject::Namespaces(ns) | Subject::Pods { namespaces: ns, .. } => {
                ns.matches(namespace_labels)
            }
        }
    }

    /// The first rule in `direction` that matches the peer and port, and what it matched on.
    /// `dns` resolves `domainNames` peers for traffic from `client` (the egress subject).
    pub(crate) fn matching_rule(
        &self,
        direction: Direction,
        peer: &PeerView<'_>,
        protocol: Protocol,
        port: u16,
        dst_pod: Option<&PodRecord>,
        dns: Option<(Dns<'_>, std::net::IpAddr)>,
    ) -> Option<(&AdminRule, RuleMatch)> {
        let rules = match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        };
        rules.iter().find_map(|r| {
            if !ports_match(&r.ports, protocol, port, dst_pod) {
                return None;
            }
            r.peers
                .iter()
                .find_map(|p| p.matches(peer, dns))
                .map(|m| (r, m))
        })
    }

    /// True when some rule in `direction` matches (for reporting same-priority ties).
    pub(crate) fn has_matching_rule(
        &self,
        direction: Direction,
        peer: &PeerView<'_>,
        protocol: Protocol,
        port: u16,
        dst_pod: Option<&PodRecord>,
        dns: Option<(Dns<'_>, std::net::IpAddr)>,
    ) -> bool {
        self.matching_rule(direction, peer, protocol, port, dst_pod, dns)
            .is_some()
    }
}

impl AdminRule {
    fn compile(
        fields: RuleFields<'_>,
        index: usize,
        path: &str,
        peers_field: &str,
        object: &ObjectName,
    ) -> Result<Self> {
        if let Some(name) = fields.name
            && name.chars().count() > 100
        {
            return Err(object.field(
                &format!("{path}.name"),
                "may not be longer than 100 characters",
            ));
        }
        if fields.peers.is_empty() {
            return Err(object.field(
                &format!("{path}.{peers_field}"),
                "must have at least one peer",
            ));
        }
        let mut action = fields.action;
        let mut peers = Vec::with_capacity(fields.peers.len());
        let mut fail_closed = false;
        for (i, p) in fields.peers.iter().enumerate() {
            let field = format!("{path}.{peers_field}[{i}]");
            let set = usize::from(p.namespaces.is_some())
                + usize::from(p.pods.is_some())
                + usize::from(p.nodes.is_some())
                + usize::from(!p.networks.is_empty())
                + usize::from(!p.domain_names.is_empty());
            if set > 1 {
                return Err(object.field(&field, "exactly one peer type may be set"));
            }
            let peer = if let Some(ns) = p.namespaces {
                AdminPeer::Namespaces(Selector::parse(ns, object, &format!("{field}.namespaces"))?)
            } else if let Some(pods) = p.pods {
                AdminPeer::Pods {
                    namespaces: Selector::parse(
                        &pods.namespace_selector,
                        object,
                        &format!("{field}.pods.namespaceSelector"),
                    )?,
                    pods: Selector::parse(
                        &pods.pod_selector,
                        object,
                        &format!("{field}.pods.podSelector"),
                    )?,
                }
            } else if let Some(nodes) = p.nodes {
                AdminPeer::Nodes(Selector::parse(nodes, object, &format!("{field}.nodes"))?)
            } else if !p.networks.is_empty() {
                if p.networks.len() > 25 {
                    return Err(object.field(
                        &format!("{field}.networks"),
                        "may not have more than 25 items",
                    ));
                }
                let nets = p
                    .networks
                    .iter()
                    .enumerate()
                    .map(|(j, n)| parse_cidr(n, object, &format!("{field}.networks[{j}]")))
                    .collect::<Result<Vec<_>>>()?;
                AdminPeer::Networks(nets.into())
            } else if !p.domain_names.is_empty() && !fields.resolve_domains {
                AdminPeer::Nothing
            } else if !p.domain_names.is_empty() {
                if fields.action != Action::Allow {
                    return Err(object.field(
                        &format!("{field}.domainNames"),
                        "domainNames peers are only supported in Accept rules",
                    ));
                }
                if p.domain_names.len() > 25 {
                    return Err(object.field(
                        &format!("{field}.domainNames"),
                        "may not have more than 25 items",
                    ));
                }
                let patterns = p
                    .domain_names
                    .iter()
                    .enumerate()
                    .map(|(j, d)| {
                        DomainPattern::parse(d).ok_or_else(|| {
                            object.field(
                                &format!("{field}.domainNames[{j}]"),
                                format!("invalid domain name {d:?}: expected a name like example.com or *.example.com"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                AdminPeer::Domains(patterns.into())
            } else {
                fail_closed = true;
                AdminPeer::Nothing
            };
            peers.push(peer);
        }
        let ports = match fields.ports {
            PortFields::Ports(ports) => {
                admin_policy_ports(ports, object, &format!("{path}.ports"))?
            }
            PortFields::Protocols(protocols) => {
                cluster_policy_protocols(protocols, object, &format!("{path}.protocols"))?
            }
        };
        let ports = if fail_closed && action != Action::Allow {
            action = Action::Deny;
            peers = vec![AdminPeer::Everything];
            Vec::new()
        } else {
            ports
        };
        Ok(AdminRule {
            rule: RuleRef {
                index,
                name: fields.name.filter(|n| !n.is_empty()).map(Arc::from),
            },
            action,
            peers: peers.into(),
            ports: ports.into(),
        })
    }
}

impl AdminPeer {
    /// `Some` when the peer matches; `dns` and the client address resolve `Domains`.
    fn matches(
        &self,
        peer: &PeerView<'_>,
        dns: Option<(Dns<'_>, std::net::IpAddr)>,
    ) -> Option<RuleMatch> {
        if let AdminPeer::Domains(patterns) = self {
            let (dns, client) = dns?;
            let name = dns
                .bindings
                .names(client, peer.ip, dns.now)
                .find(|name| patterns.iter().any(|p| p.matches(name)))?;
            return Some(RuleMatch {
                domain: Some(name.clone()),
            });
        }
        self.matches_address(peer).then(RuleMatch::default)
    }

    fn matches_address(&self, peer: &PeerView<'_>) -> bool {
        match self {
            AdminPeer::Domains(_) => false,
            AdminPeer::Everything => true,
            AdminPeer::Nothing => false,
            AdminPeer::Namespaces(ns) => {
                peer.pod().is_some_and(|p| ns.matches(&p.namespace_labels))
            }
            AdminPeer::Pods { namespaces, pods } => peer.pod().is_some_and(|p| {
                namespaces.matches(&p.namespace_labels) && pods.matches(&p.labels)
            }),
            AdminPeer::Nodes(sel) => match peer.kind {
                // A node known only through a hostNetwork pod has no labels yet.
                PeerKind::Node { labels } => sel.matches(labels.unwrap_or(&Labels::default())),
                _ => false,
            },
            AdminPeer::Networks(nets) => nets.iter().any(|n| n.contains(&peer.ip)),
        }
    }
}

fn anp_action(a: AdminNetworkPolicyRuleAction) -> Action {
    match a {
        AdminNetworkPolicyRuleAction::Allow => Action::Allow,
        AdminNetworkPolicyRuleAction::Deny => Action::Deny,
        AdminNetworkPolicyRuleAction::Pass => Action::Pass,
    }
}

fn banp_action(a: BaselineAdminNetworkPolicyRuleAction) -> Action {
    match a {
        BaselineAdminNetworkPolicyRuleAction::Allow => Action::Allow,
        BaselineAdminNetworkPolicyRuleAction::Deny => Action::Deny,
    }
}

// ---- read access for the policy catalog (catalog.rs) ----------------------------------

impl AdminPolicy {
    /// The rules in `direction`, in order.
    pub(crate) fn rules(&self, direction: Direction) -> impl Iterator<Item = (&RuleRef, Action)> {
        let rules = match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        };
        rules.iter().map(|r| (&r.rule, r.action))
    }
}

fn cnp_action(a: ClusterNetworkPolicyRuleAction) -> Action {
    match a {
        ClusterNetworkPolicyRuleAction::Accept => Action::Allow,
        ClusterNetworkPolicyRuleAction::Deny => Action::Deny,
        ClusterNetworkPolicyRuleAction::Pass => Action::Pass,
    }
}
