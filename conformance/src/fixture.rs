//! Builders for the policy objects the cases apply: short to read, close to the YAML.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use verdict_crds::{
    AdminNetworkPolicy, AdminNetworkPolicyEgressPeer, AdminNetworkPolicyEgressRule,
    AdminNetworkPolicyIngressPeer, AdminNetworkPolicyIngressRule, AdminNetworkPolicyPort,
    AdminNetworkPolicyRuleAction, AdminNetworkPolicySpec, AdminNetworkPolicySubject,
    BaselineAdminNetworkPolicy, BaselineAdminNetworkPolicyEgressPeer,
    BaselineAdminNetworkPolicyEgressRule, BaselineAdminNetworkPolicyIngressRule,
    BaselineAdminNetworkPolicyRuleAction, BaselineAdminNetworkPolicySpec, NamespacedPod,
    PortNumber, PortRange,
};

use crate::case::Protocol;

// ---- label selectors ----

/// `matchLabels` only. An empty list selects everything.
pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> LabelSelector {
    let map: BTreeMap<String, String> = pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LabelSelector {
        match_labels: Some(map),
        match_expressions: None,
    }
}

/// The empty selector `{}`.
pub fn everything() -> LabelSelector {
    LabelSelector::default()
}

/// One `matchExpressions` requirement (`In`, `NotIn`, `Exists`, `DoesNotExist`).
pub fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelector {
    LabelSelector {
        match_labels: None,
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: if values.is_empty() {
                None
            } else {
                Some(values.iter().map(|v| v.to_string()).collect())
            },
        }]),
    }
}

// ---- NetworkPolicy ----

/// A NetworkPolicy under construction; mirrors upstream's `GenNetworkPolicy*` and `SetSpec*`.
#[derive(Clone, Debug)]
pub struct NetpolBuilder(NetworkPolicy);

/// Starts a NetworkPolicy `namespace/name` selecting every pod.
pub fn netpol(namespace: &str, name: &str) -> NetpolBuilder {
    NetpolBuilder(NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(everything()),
            ..Default::default()
        }),
    })
}

impl NetpolBuilder {
    fn spec(&mut self) -> &mut NetworkPolicySpec {
        self.0.spec.get_or_insert_with(Default::default)
    }

    fn add_type(&mut self, ty: &str) {
        let types = self.spec().policy_types.get_or_insert_with(Vec::new);
        if !types.iter().any(|t| t == ty) {
            types.push(ty.into());
        }
    }

    /// `spec.podSelector`.
    pub fn select(mut self, selector: LabelSelector) -> Self {
        self.spec().pod_selector = Some(selector);
        self
    }

    /// Adds ingress rules and the `Ingress` policy type (no rules: deny all ingress).
    pub fn ingress(mut self, rules: impl IntoIterator<Item = NetworkPolicyIngressRule>) -> Self {
        self.add_type("Ingress");
        self.spec()
            .ingress
            .get_or_insert_with(Vec::new)
            .extend(rules);
        self
    }

    /// Adds egress rules and the `Egress` policy type (no rules: deny all egress).
    pub fn egress(mut self, rules: impl IntoIterator<Item = NetworkPolicyEgressRule>) -> Self {
        self.add_type("Egress");
        self.spec()
            .egress
            .get_or_insert_with(Vec::new)
            .extend(rules);
        self
    }

    /// The finished object.
    pub fn build(self) -> NetworkPolicy {
        self.0
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    if items.is_empty() { None } else { Some(items) }
}

/// An ingress rule; empty `from` means every source, empty `ports` every port.
pub fn from(
    peers: Vec<NetworkPolicyPeer>,
    ports: Vec<NetworkPolicyPort>,
) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: non_empty(peers),
        ports: non_empty(ports),
    }
}

/// An egress rule; empty `to` means every destination, empty `ports` every port.
pub fn to(peers: Vec<NetworkPolicyPeer>, ports: Vec<NetworkPolicyPort>) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: non_empty(peers),
        ports: non_empty(ports),
    }
}

/// Peer: pods in the policy's namespace matching `selector`.
pub fn pods(selector: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(selector),
        ..Default::default()
    }
}

/// Peer: every pod in namespaces matching `selector`.
pub fn namespaces(selector: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(selector),
        ..Default::default()
    }
}

/// Peer: pods matching `pod` in namespaces matching `namespace`.
pub fn pods_in(namespace: LabelSelector, pod: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(namespace),
        pod_selector: Some(pod),
        ..Default::default()
    }
}

/// Peer: an ipBlock.
pub fn ip_block(cidr: &str, except: &[String]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.into(),
            except: non_empty(except.to_vec()),
        }),
        ..Default::default()
    }
}

/// Port: a number, with or without a protocol (the API defaults a missing one to TCP).
pub fn port(protocol: Option<Protocol>, number: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: protocol.map(|p| p.as_str().to_string()),
        port: Some(IntOrString::Int(number)),
        end_port: None,
    }
}

/// Port: a named container port, with or without a protocol.
pub fn named_port(protocol: Option<Protocol>, name: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: protocol.map(|p| p.as_str().to_string()),
        port: Some(IntOrString::String(name.into())),
        end_port: None,
    }
}

/// Port: every port of one protocol.
pub fn any_port(protocol: Protocol) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.as_str().into()),
        port: None,
        end_port: None,
    }
}

// ---- AdminNetworkPolicy and BaselineAdminNetworkPolicy ----

/// Rule action shared by the builders; `Pass` is only valid in an ANP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
    /// Pass (ANP only).
    Pass,
}

impl Act {
    fn admin(self) -> AdminNetworkPolicyRuleAction {
        match self {
            Act::Allow => AdminNetworkPolicyRuleAction::Allow,
            Act::Deny => AdminNetworkPolicyRuleAction::Deny,
            Act::Pass => AdminNetworkPolicyRuleAction::Pass,
        }
    }

    fn baseline(self) -> BaselineAdminNetworkPolicyRuleAction {
        match self {
            Act::Allow => BaselineAdminNetworkPolicyRuleAction::Allow,
            Act::Deny => BaselineAdminNetworkPolicyRuleAction::Deny,
            // A case that asks for this is wrong; the API server would reject the object.
            Act::Pass => panic!("a BaselineAdminNetworkPolicy rule cannot Pass"),
        }
    }
}

/// Subject: every pod in namespaces matching `selector`.
pub fn subject_namespaces(selector: LabelSelector) -> AdminNetworkPolicySubject {
    AdminNetworkPolicySubject {
        namespaces: Some(selector),
        pods: None,
    }
}

/// Subject: pods matching `pod` in namespaces matching `namespace`.
pub fn subject_pods(namespace: LabelSelector, pod: LabelSelector) -> AdminNetworkPolicySubject {
    AdminNetworkPolicySubject {
        namespaces: None,
        pods: Some(NamespacedPod {
            namespace_selector: namespace,
            pod_selector: pod,
        }),
    }
}

/// One admin rule, direction-neutral until it is put into a policy.
#[derive(Clone, Debug)]
pub struct AdminRule {
    /// Rule name.
    pub name: String,
    /// Action.
    pub action: Act,
    /// Peers (for ingress only the namespace and pod fields may be set).
    pub peers: Vec<AdminNetworkPolicyEgressPeer>,
    /// Ports; `None` means every port.
    pub ports: Option<Vec<AdminNetworkPolicyPort>>,
}

/// A rule with `peers` and no port restriction.
pub fn rule(name: &str, action: Act, peers: Vec<AdminNetworkPolicyEgressPeer>) -> AdminRule {
    AdminRule {
        name: name.into(),
        action,
        peers,
        ports: None,
    }
}

impl AdminRule {
    /// Restricts the rule to `ports`.
    pub fn ports(mut self, ports: Vec<AdminNetworkPolicyPort>) -> Self {
        self.ports = Some(ports);
        self
    }

    fn ingress_peers(&self) -> Vec<AdminNetworkPolicyIngressPeer> {
        self.peers
            .iter()
            .map(|p| AdminNetworkPolicyIngressPeer {
                namespaces: p.namespaces.clone(),
                pods: p.pods.clone(),
            })
            .collect()
    }

    /// As an ANP ingress rule.
    pub fn admin_ingress(&self) -> AdminNetworkPolicyIngressRule {
        AdminNetworkPolicyIngressRule {
            name: Some(self.name.clone()),
            action: self.action.admin(),
            from: self.ingress_peers(),
            ports: self.ports.clone(),
        }
    }

    /// As an ANP egress rule.
    pub fn admin_egress(&self) -> AdminNetworkPolicyEgressRule {
        AdminNetworkPolicyEgressRule {
            name: Some(self.name.clone()),
            action: self.action.admin(),
            to: self.peers.clone(),
            ports: self.ports.clone(),
        }
    }

    /// As a BANP ingress rule.
    pub fn baseline_ingress(&self) -> BaselineAdminNetworkPolicyIngressRule {
        BaselineAdminNetworkPolicyIngressRule {
            name: Some(self.name.clone()),
            action: self.action.baseline(),
            from: self.ingress_peers(),
            ports: self.ports.clone(),
        }
    }

    /// As a BANP egress rule.
    pub fn baseline_egress(&self) -> BaselineAdminNetworkPolicyEgressRule {
        BaselineAdminNetworkPolicyEgressRule {
            name: Some(self.name.clone()),
            action: self.action.baseline(),
            to: self
                .peers
                .iter()
                .map(|p| BaselineAdminNetworkPolicyEgressPeer {
                    namespaces: p.namespaces.clone(),
                    pods: p.pods.clone(),
                    nodes: p.nodes.clone(),
                    networks: p.networks.clone(),
                })
                .collect(),
            ports: self.ports.clone(),
        }
    }
}

/// Peer: every pod in namespaces matching `selector`.
pub fn peer_namespaces(selector: LabelSelector) -> AdminNetworkPolicyEgressPeer {
    AdminNetworkPolicyEgressPeer {
        namespaces: Some(selector),
        ..Default::default()
    }
}

/// Peer: pods matching `pod` in namespaces matching `namespace`.
pub fn peer_pods(namespace: LabelSelector, pod: LabelSelector) -> AdminNetworkPolicyEgressPeer {
    AdminNetworkPolicyEgressPeer {
        pods: Some(NamespacedPod {
            namespace_selector: namespace,
            pod_selector: pod,
        }),
        ..Default::default()
    }
}

/// Peer (egress only): nodes matching `selector`.
pub fn peer_nodes(selector: LabelSelector) -> AdminNetworkPolicyEgressPeer {
    AdminNetworkPolicyEgressPeer {
        nodes: Some(selector),
        ..Default::default()
    }
}

/// Peer (egress only): CIDRs.
pub fn peer_networks(cidrs: &[&str]) -> AdminNetworkPolicyEgressPeer {
    AdminNetworkPolicyEgressPeer {
        networks: cidrs.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    }
}

/// Port: `protocol` `number`.
pub fn port_number(protocol: Protocol, number: i32) -> AdminNetworkPolicyPort {
    AdminNetworkPolicyPort {
        port_number: Some(PortNumber {
            protocol: protocol.as_str().into(),
            port: number,
        }),
        ..Default::default()
    }
}

/// Port: a named container port.
pub fn port_named(name: &str) -> AdminNetworkPolicyPort {
    AdminNetworkPolicyPort {
        named_port: Some(name.into()),
        ..Default::default()
    }
}

/// Port: `protocol` `start..=end`.
pub fn port_range(protocol: Protocol, start: i32, end: i32) -> AdminNetworkPolicyPort {
    AdminNetworkPolicyPort {
        port_range: Some(PortRange {
            protocol: Some(protocol.as_str().into()),
            start,
            end,
        }),
        ..Default::default()
    }
}

/// An AdminNetworkPolicy.
pub fn admin(
    name: &str,
    priority: i32,
    subject: AdminNetworkPolicySubject,
    ingress: &[AdminRule],
    egress: &[AdminRule],
) -> AdminNetworkPolicy {
    AdminNetworkPolicy::new(
        name,
        AdminNetworkPolicySpec {
            priority,
            subject,
            ingress: ingress.iter().map(AdminRule::admin_ingress).collect(),
            egress: egress.iter().map(AdminRule::admin_egress).collect(),
        },
    )
}

/// A BaselineAdminNetworkPolicy (always called `default` upstream).
pub fn baseline(
    subject: AdminNetworkPolicySubject,
    ingress: &[AdminRule],
    egress: &[AdminRule],
) -> BaselineAdminNetworkPolicy {
    BaselineAdminNetworkPolicy::new(
        "default",
        BaselineAdminNetworkPolicySpec {
            subject,
            ingress: ingress.iter().map(AdminRule::baseline_ingress).collect(),
            egress: egress.iter().map(AdminRule::baseline_egress).collect(),
        },
    )
}
