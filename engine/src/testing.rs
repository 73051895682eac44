//! Fixture builders for tests, here and in other crates (enable the `testing` feature).
//!
//! ```
//! use verdict_engine::testing::*;
//! let index = index_of([
//!     namespace("x").labels([("team", "a")]).into(),
//!     pod("x", "a").labels([("pod", "a")]).ip("10.0.0.1").into(),
//!     netpol("x", "deny-all").into(),
//! ]);
//! assert!(index.evaluate(&tcp("10.0.0.9", "10.0.0.1", 80)).verdict == verdict_engine::Verdict::Deny);
//! ```

use std::collections::BTreeMap;

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

use crate::{ClusterObject, Flow, Index, Protocol};

fn label_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: namespace.map(str::to_string),
        name: Some(name.to_string()),
        ..ObjectMeta::default()
    }
}

/// An index holding `objects`, applied in order. Panics on an invalid object.
pub fn index_of(objects: impl IntoIterator<Item = ClusterObject>) -> Index {
    let mut index = Index::new();
    for o in objects {
        index.apply(&o).expect("fixture objects are valid");
    }
    index
}

// ---- flows ----------------------------------------------------------------------------

fn flow(protocol: Protocol, src: &str, dst: &str, port: u16) -> Flow {
    Flow {
        src_ip: src.parse().expect("valid source IP"),
        src_port: if protocol.has_ports() { 40000 } else { 0 },
        dst_ip: dst.parse().expect("valid destination IP"),
        dst_port: port,
        protocol,
    }
}

/// A TCP flow from `src` to `dst:port`.
pub fn tcp(src: &str, dst: &str, port: u16) -> Flow {
    flow(Protocol::Tcp, src, dst, port)
}

/// A UDP flow from `src` to `dst:port`.
pub fn udp(src: &str, dst: &str, port: u16) -> Flow {
    flow(Protocol::Udp, src, dst, port)
}

/// An SCTP flow from `src` to `dst:port`.
pub fn sctp(src: &str, dst: &str, port: u16) -> Flow {
    flow(Protocol::Sctp, src, dst, port)
}

/// An ICMP echo from `src` to `dst`.
pub fn icmp(src: &str, dst: &str) -> Flow {
    flow(Protocol::Icmp, src, dst, 0)
}

/// A flow of IP protocol `number` (47 is GRE) from `src` to `dst`, without ports.
pub fn ip_proto(src: &str, dst: &str, number: u8) -> Flow {
    flow(Protocol::from_number(number), src, dst, 0)
}

// ---- selectors ------------------------------------------------------------------------

/// A selector with `matchLabels` only. `sel([])` selects everything.
pub fn sel<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> LabelSelector {
    let map = label_map(labels);
    LabelSelector {
        match_labels: (!map.is_empty()).then_some(map),
        match_expressions: None,
    }
}

/// A selector with one `matchExpressions` entry.
pub fn expr(key: &str, operator: &str, values: &[&str]) -> LabelSelector {
    LabelSelector {
        match_labels: None,
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }]),
    }
}

// ---- namespaces, nodes, pods ----------------------------------------------------------

/// Builds a Namespace.
#[derive(Clone, Debug)]
pub struct NamespaceBuilder(Namespace);

/// `namespace("x")`.
pub fn namespace(name: &str) -> NamespaceBuilder {
    NamespaceBuilder(Namespace {
        metadata: meta(None, name),
        ..Namespace::default()
    })
}

impl NamespaceBuilder {
    /// Sets its labels.
    pub fn labels<'a>(mut self, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.0.metadata.labels = Some(label_map(labels));
        self
    }

    /// The object.
    pub fn build(self) -> Namespace {
        self.0
    }
}

impl From<NamespaceBuilder> for ClusterObject {
    fn from(b: NamespaceBuilder) -> Self {
        ClusterObject::Namespace(b.0)
    }
}

/// Builds a Node.
#[derive(Clone, Debug)]
pub struct NodeBuilder(Node);

/// `node("n1")`.
pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder(Node {
        metadata: meta(None, name),
        ..Node::default()
    })
}

impl NodeBuilder {
    /// Sets its labels.
    pub fn labels<'a>(mut self, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.0.metadata.labels = Some(label_map(labels));
        self
    }

    /// Adds a status address of type `InternalIP`, `ExternalIP`, `Hostname`...
    pub fn address(mut self, type_: &str, address: &str) -> Self {
        self.0
            .status
            .get_or_insert_with(NodeStatus::default)
            .addresses
            .get_or_insert_with(Vec::new)
            .push(NodeAddress {
                type_: type_.to_string(),
                address: address.to_string(),
            });
        self
    }

    /// Adds an InternalIP address.
    pub fn ip(self, address: &str) -> Self {
        self.address("InternalIP", address)
    }

    /// The object.
    pub fn build(self) -> Node {
        self.0
    }
}

impl From<NodeBuilder> for ClusterObject {
    fn from(b: NodeBuilder) -> Self {
        ClusterObject::Node(b.0)
    }
}

/// Builds a Pod (one container named `main`, phase Running).
#[derive(Clone, Debug)]
pub struct PodBuilder(Pod);

/// `pod("x", "a")`.
pub fn pod(namespace: &str, name: &str) -> PodBuilder {
    PodBuilder(Pod {
        metadata: meta(Some(namespace), name),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "main".to_string(),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".to_string()),
            ..PodStatus::default()
        }),
    })
}

impl PodBuilder {
    fn spec(&mut self) -> &mut PodSpec {
        self.0.spec.get_or_insert_with(PodSpec::default)
    }

    fn status(&mut self) -> &mut PodStatus {
        self.0.status.get_or_insert_with(PodStatus::default)
    }

    /// Sets its labels.
    pub fn labels<'a>(mut self, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.0.metadata.labels = Some(label_map(labels));
        self
    }

    /// Adds an address (`status.podIPs`, and `status.podIP` for the first).
    pub fn ip(mut self, ip: &str) -> Self {
        let status = self.status();
        if status.pod_ip.is_none() {
            status.pod_ip = Some(ip.to_string());
        }
        status
            .pod_ips
            .get_or_insert_with(Vec::new)
            .push(PodIP { ip: ip.to_string() });
        self
    }

    /// Schedules it on a node.
    pub fn node(mut self, node: &str) -> Self {
        self.spec().node_name = Some(node.to_string());
        self
    }

    /// Makes it a hostNetwork pod.
    pub fn host_network(mut self) -> Self {
        self.spec().host_network = Some(true);
        self
    }

    /// Sets `metadata.uid`.
    pub fn uid(mut self, uid: &str) -> Self {
        self.0.metadata.uid = Some(uid.to_string());
        self
    }

    /// Sets `metadata.deletionTimestamp`: the pod is terminating.
    pub fn terminating(mut self) -> Self {
        self.0.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        self
    }

    /// Sets `status.phase`.
    pub fn phase(mut self, phase: &str) -> Self {
        self.status().phase = Some(phase.to_string());
        self
    }

    /// Adds a named container port to the main container.
    pub fn port(mut self, name: &str, port: i32, protocol: &str) -> Self {
        let container = &mut self.spec().containers[0];
        container
            .ports
            .get_or_insert_with(Vec::new)
            .push(container_port(name, port, protocol));
        self
    }

    /// Adds an init container with a named port; `restart_policy` `Some("Always")` makes it a
    /// sidecar.
    pub fn init_port(
        mut self,
        name: &str,
        port: i32,
        protocol: &str,
        restart_policy: Option<&str>,
    ) -> Self {
        let inits = self.spec().init_containers.get_or_insert_with(Vec::new);
        inits.push(Container {
            name: format!("init-{}", inits.len()),
            restart_policy: restart_policy.map(str::to_string),
            ports: Some(vec![container_port(name, port, protocol)]),
            ..Container::default()
        });
        self
    }

    /// The object.
    pub fn build(self) -> Pod {
        self.0
    }
}

fn container_port(name: &str, port: i32, protocol: &str) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_string()),
        container_port: port,
        protocol: Some(protocol.to_string()),
        ..ContainerPort::default()
    }
}

impl From<PodBuilder> for ClusterObject {
    fn from(b: PodBuilder) -> Self {
        ClusterObject::Pod(b.0)
    }
}

// ---- NetworkPolicy --------------------------------------------------------------------

/// Builds a NetworkPolicy. With nothing added it selects every pod of its namespace and
/// isolates them for ingress (deny all ingress).
#[derive(Clone, Debug)]
pub struct NetpolBuilder(NetworkPolicy);

/// `netpol("x", "deny-all")`.
pub fn netpol(namespace: &str, name: &str) -> NetpolBuilder {
    NetpolBuilder(NetworkPolicy {
        metadata: meta(Some(namespace), name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            ..NetworkPolicySpec::default()
        }),
    })
}

impl NetpolBuilder {
    fn spec(&mut self) -> &mut NetworkPolicySpec {
        self.0.spec.get_or_insert_with(NetworkPolicySpec::default)
    }

    /// Sets `spec.podSelector`.
    pub fn pod_selector(mut self, selector: LabelSelector) -> Self {
        self.spec().pod_selector = Some(selector);
        self
    }

    /// Sets `spec.policyTypes`.
    pub fn policy_types(mut self, types: &[&str]) -> Self {
        self.spec().policy_types = Some(types.iter().map(|t| t.to_string()).collect());
        self
    }

    /// Adds an ingress rule.
    pub fn ingress(mut self, rule: NpRule) -> Self {
        self.spec()
            .ingress
            .get_or_insert_with(Vec::new)
            .push(NetworkPolicyIngressRule {
                from: rule.peers,
                ports: rule.ports,
            });
        self
    }

    /// Adds an egress rule.
    pub fn egress(mut self, rule: NpRule) -> Self {
        self.spec()
            .egress
            .get_or_insert_with(Vec::new)
            .push(NetworkPolicyEgressRule {
                to: rule.peers,
                ports: rule.ports,
            });
        self
    }

    /// Sets an empty `egress: []` list (no egress rules, but the field present).
    pub fn no_egress_rules(mut self) -> Self {
        self.spec().egress = Some(Vec::new());
        self
    }

    /// The object.
    pub fn build(self) -> NetworkPolicy {
        self.0
    }
}

impl From<NetpolBuilder> for ClusterObject {
    fn from(b: NetpolBuilder) -> Self {
        ClusterObject::NetworkPolicy(b.0)
    }
}

/// A NetworkPolicy rule: no peers and no ports means "everything".
#[derive(Clone, Debug, Default)]
pub struct NpRule {
    peers: Option<Vec<NetworkPolicyPeer>>,
    ports: Option<Vec<NetworkPolicyPort>>,
}

/// A rule that matches everything until peers or ports are added.
pub fn np_rule() -> NpRule {
    NpRule::default()
}

impl NpRule {
    fn peer(mut self, peer: NetworkPolicyPeer) -> Self {
        self.peers.get_or_insert_with(Vec::new).push(peer);
        self
    }

    /// Adds a peer with only a podSelector (the policy's namespace).
    pub fn pods(self, pods: LabelSelector) -> Self {
        self.peer(NetworkPolicyPeer {
            pod_selector: Some(pods),
            ..NetworkPolicyPeer::default()
        })
    }

    /// Adds a peer with only a namespaceSelector.
    pub fn namespaces(self, namespaces: LabelSelector) -> Self {
        self.peer(NetworkPolicyPeer {
            namespace_selector: Some(namespaces),
            ..NetworkPolicyPeer::default()
        })
    }

    /// Adds a peer with both selectors (ANDed).
    pub fn namespaces_and_pods(self, namespaces: LabelSelector, pods: LabelSelector) -> Self {
        self.peer(NetworkPolicyPeer {
            namespace_selector: Some(namespaces),
            pod_selector: Some(pods),
            ..NetworkPolicyPeer::default()
        })
    }

    /// Adds an ipBlock peer.
    pub fn ip_block(self, cidr: &str, except: &[&str]) -> Self {
        self.peer(NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: cidr.to_string(),
                except: (!except.is_empty())
                    .then(|| except.iter().map(|e| e.to_string()).collect()),
            }),
            ..NetworkPolicyPeer::default()
        })
    }

    /// Adds a raw peer (for invalid combinations).
    pub fn raw_peer(self, peer: NetworkPolicyPeer) -> Self {
        self.peer(peer)
    }

    fn port_entry(mut self, port: NetworkPolicyPort) -> Self {
        self.ports.get_or_insert_with(Vec::new).push(port);
        self
    }

    /// Adds a numeric port; `protocol` `None` means the API default (TCP).
    pub fn port(self, port: i32, protocol: Option<&str>) -> Self {
        self.port_entry(NetworkPolicyPort {
            port: Some(IntOrString::Int(port)),
            protocol: protocol.map(str::to_string),
            end_port: None,
        })
    }

    /// Adds a port range.
    pub fn port_range(self, port: i32, end_port: i32, protocol: Option<&str>) -> Self {
        self.port_entry(NetworkPolicyPort {
            port: Some(IntOrString::Int(port)),
            protocol: protocol.map(str::to_string),
            end_port: Some(end_port),
        })
    }

    /// Adds a named port.
    pub fn named_port(self, name: &str, protocol: Option<&str>) -> Self {
        self.port_entry(NetworkPolicyPort {
            port: Some(IntOrString::String(name.to_string())),
            protocol: protocol.map(str::to_string),
            end_port: None,
        })
    }

    /// Adds an entry with only a protocol (every port of it).
    pub fn protocol(self, protocol: &str) -> Self {
        self.port_entry(NetworkPolicyPort {
            port: None,
            protocol: Some(protocol.to_string()),
            end_port: None,
        })
    }

    /// Adds a raw port entry (for invalid combinations).
    pub fn raw_port(self, port: NetworkPolicyPort) -> Self {
        self.port_entry(port)
    }
}

// ---- AdminNetworkPolicy / BaselineAdminNetworkPolicy -----------------------------------

/// An (B)ANP peer, for either direction.
#[derive(Clone, Debug, Default)]
pub struct AdminPeer {
    namespaces: Option<LabelSelector>,
    pods: Option<NamespacedPod>,
    nodes: Option<LabelSelector>,
    networks: Vec<String>,
    domain_names: Vec<String>,
}

/// A `namespaces` peer.
pub fn peer_namespaces(namespaces: LabelSelector) -> AdminPeer {
    AdminPeer {
        namespaces: Some(namespaces),
        ..AdminPeer::default()
    }
}

/// A `pods` peer.
pub fn peer_pods(namespaces: LabelSelector, pods: LabelSelector) -> AdminPeer {
    AdminPeer {
        pods: Some(NamespacedPod {
            namespace_selector: namespaces,
            pod_selector: pods,
        }),
        ..AdminPeer::default()
    }
}

/// A `nodes` peer (egress only).
pub fn peer_nodes(nodes: LabelSelector) -> AdminPeer {
    AdminPeer {
        nodes: Some(nodes),
        ..AdminPeer::default()
    }
}

/// A `networks` peer (egress only).
pub fn peer_networks(networks: &[&str]) -> AdminPeer {
    AdminPeer {
        networks: networks.iter().map(|n| n.to_string()).collect(),
        ..AdminPeer::default()
    }
}

/// A `domainNames` peer (ANP egress only).
pub fn peer_domain_names(names: &[&str]) -> AdminPeer {
    AdminPeer {
        domain_names: names.iter().map(|n| n.to_string()).collect(),
        ..AdminPeer::default()
    }
}

/// A peer with no field set (as a newer CRD's unknown peer type would look).
pub fn peer_empty() -> AdminPeer {
    AdminPeer::default()
}

/// A (B)ANP port: a number.
pub fn admin_port(port: i32, protocol: &str) -> AdminNetworkPolicyPort {
    AdminNetworkPolicyPort {
        port_number: Some(PortNumber {
            protocol: protocol.to_string(),
            port,
        }),
        ..AdminNetworkPolicyPort::default()
    }
}

/// A (B)ANP port: a container port name.
pub fn admin_named_port(name: &str) -> AdminNetworkPolicyPort {
    AdminNetworkPolicyPort {
        named_port: Some(name.to_string()),
        ..AdminNetworkPolicyPort::default()
    }
}

/// A (B)ANP port: an inclusive range; `protocol` `None` means TCP.
pub fn admin_port_range(start: i32, end: i32, protocol: Option<&str>) -> AdminNetworkPolicyPort {
    AdminNetworkPolicyPort {
        port_range: Some(PortRange {
            protocol: protocol.map(str::to_string),
            start,
            end,
        }),
        ..AdminNetworkPolicyPort::default()
    }
}

/// A (B)ANP rule under construction: action `Allow`, `Deny` or `Pass` (ANP only).
#[derive(Clone, Debug)]
pub struct AdminRule {
    name: Option<String>,
    action: String,
    peers: Vec<AdminPeer>,
    ports: Option<Vec<AdminNetworkPolicyPort>>,
}

/// A rule with `action` (`"Allow"`, `"Deny"`, `"Pass"`) and no peers yet.
pub fn admin_rule(action: &str) -> AdminRule {
    AdminRule {
        name: None,
        action: action.to_string(),
        peers: Vec::new(),
        ports: None,
    }
}

impl AdminRule {
    /// Names the rule.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// Adds a peer.
    pub fn peer(mut self, peer: AdminPeer) -> Self {
        self.peers.push(peer);
        self
    }

    /// Adds a port entry.
    pub fn port(mut self, port: AdminNetworkPolicyPort) -> Self {
        self.ports.get_or_insert_with(Vec::new).push(port);
        self
    }

    fn anp_action(&self) -> AdminNetworkPolicyRuleAction {
        match self.action.as_str() {
            "Allow" => AdminNetworkPolicyRuleAction::Allow,
            "Deny" => AdminNetworkPolicyRuleAction::Deny,
            "Pass" => AdminNetworkPolicyRuleAction::Pass,
            other => panic!("unknown ANP action {other:?}"),
        }
    }

    fn banp_action(&self) -> BaselineAdminNetworkPolicyRuleAction {
        match self.action.as_str() {
            "Allow" => BaselineAdminNetworkPolicyRuleAction::Allow,
            "Deny" => BaselineAdminNetworkPolicyRuleAction::Deny,
            other => panic!("unknown BANP action {other:?}"),
        }
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
}

/// Subject: every pod in the selected namespaces.
pub fn subject_namespaces(namespaces: LabelSelector) -> AdminNetworkPolicySubject {
    AdminNetworkPolicySubject {
        namespaces: Some(namespaces),
        pods: None,
    }
}

/// Subject: pods selected by both selectors.
pub fn subject_pods(namespaces: LabelSelector, pods: LabelSelector) -> AdminNetworkPolicySubject {
    AdminNetworkPolicySubject {
        namespaces: None,
        pods: Some(NamespacedPod {
            namespace_selector: namespaces,
            pod_selector: pods,
        }),
    }
}

/// Builds an AdminNetworkPolicy.
#[derive(Clone, Debug)]
pub struct AnpBuilder(AdminNetworkPolicy);

/// `anp("cluster-ops", 10)`, subject: every namespace until [`AnpBuilder::subject`] is called.
pub fn anp(name: &str, priority: i32) -> AnpBuilder {
    AnpBuilder(AdminNetworkPolicy {
        metadata: meta(None, name),
        spec: AdminNetworkPolicySpec {
            priority,
            subject: subject_namespaces(LabelSelector::default()),
            ingress: Vec::new(),
            egress: Vec::new(),
        },
        status: None,
    })
}

impl AnpBuilder {
    /// Sets the subject.
    pub fn subject(mut self, subject: AdminNetworkPolicySubject) -> Self {
        self.0.spec.subject = subject;
        self
    }

    /// Adds an ingress rule (only namespaces/pods peers are kept).
    pub fn ingress(mut self, rule: AdminRule) -> Self {
        self.0.spec.ingress.push(AdminNetworkPolicyIngressRule {
            name: rule.name.clone(),
            action: rule.anp_action(),
            from: rule.ingress_peers(),
            ports: rule.ports.clone(),
        });
        self
    }

    /// Adds an egress rule.
    pub fn egress(mut self, rule: AdminRule) -> Self {
        self.0.spec.egress.push(AdminNetworkPolicyEgressRule {
            name: rule.name.clone(),
            action: rule.anp_action(),
            to: rule
                .peers
                .iter()
                .map(|p| AdminNetworkPolicyEgressPeer {
                    namespaces: p.namespaces.clone(),
                    pods: p.pods.clone(),
                    nodes: p.nodes.clone(),
                    networks: p.networks.clone(),
                    domain_names: p.domain_names.clone(),
                })
                .collect(),
            ports: rule.ports,
        });
        self
    }

    /// The object.
    pub fn build(self) -> AdminNetworkPolicy {
        self.0
    }
}

impl From<AnpBuilder> for ClusterObject {
    fn from(b: AnpBuilder) -> Self {
        ClusterObject::AdminNetworkPolicy(b.0)
    }
}

/// Builds a BaselineAdminNetworkPolicy.
#[derive(Clone, Debug)]
pub struct BanpBuilder(BaselineAdminNetworkPolicy);

/// `banp()`: named `default`, subject every namespace.
pub fn banp() -> BanpBuilder {
    banp_named("default")
}

/// A BANP with another name (invalid, for error tests).
pub fn banp_named(name: &str) -> BanpBuilder {
    BanpBuilder(BaselineAdminNetworkPolicy {
        metadata: meta(None, name),
        spec: BaselineAdminNetworkPolicySpec {
            subject: subject_namespaces(LabelSelector::default()),
            ingress: Vec::new(),
            egress: Vec::new(),
        },
        status: None,
    })
}

impl BanpBuilder {
    /// Sets the subject.
    pub fn subject(mut self, subject: AdminNetworkPolicySubject) -> Self {
        self.0.spec.subject = subject;
        self
    }

    /// Adds an ingress rule.
    pub fn ingress(mut self, rule: AdminRule) -> Self {
        self.0
            .spec
            .ingress
            .push(BaselineAdminNetworkPolicyIngressRule {
                name: rule.name.clone(),
                action: rule.banp_action(),
                from: rule.ingress_peers(),
                ports: rule.ports.clone(),
            });
        self
    }

    /// Adds an egress rule.
    pub fn egress(mut self, rule: AdminRule) -> Self {
        self.0
            .spec
            .egress
            .push(BaselineAdminNetworkPolicyEgressRule {
                name: rule.name.clone(),
                action: rule.banp_action(),
                to: rule
                    .peers
                    .iter()
                    .map(|p| BaselineAdminNetworkPolicyEgressPeer {
                        namespaces: p.namespaces.clone(),
                        pods: p.pods.clone(),
                        nodes: p.nodes.clone(),
                        networks: p.networks.clone(),
                    })
                    .collect(),
                ports: rule.ports,
            });
        self
    }

    /// The object.
    pub fn build(self) -> BaselineAdminNetworkPolicy {
        self.0
    }
}

impl From<BanpBuilder> for ClusterObject {
    fn from(b: BanpBuilder) -> Self {
        ClusterObject::BaselineAdminNetworkPolicy(b.0)
    }
}

// ---- ClusterNetworkPolicy ---------------------------------------------------------------

/// A ClusterNetworkPolicy rule: an action, peers ([`AdminPeer`]s) and protocol matches.
#[derive(Clone, Debug)]
pub struct CnpRule {
    name: Option<String>,
    action: ClusterNetworkPolicyRuleAction,
    peers: Vec<AdminPeer>,
    protocols: Option<Vec<ClusterNetworkPolicyProtocol>>,
}

/// A rule with `action` (`"Accept"`, `"Deny"`, `"Pass"`) and no peers yet.
pub fn cnp_rule(action: &str) -> CnpRule {
    let action = match action {
        "Accept" => ClusterNetworkPolicyRuleAction::Accept,
        "Deny" => ClusterNetworkPolicyRuleAction::Deny,
        "Pass" => ClusterNetworkPolicyRuleAction::Pass,
        other => panic!("unknown ClusterNetworkPolicy action {other:?}"),
    };
    CnpRule {
        name: None,
        action,
        peers: Vec::new(),
        protocols: None,
    }
}

fn protocol_port(
    number: Option<i32>,
    range: Option<(i32, i32)>,
) -> ClusterNetworkPolicyProtocolPort {
    ClusterNetworkPolicyProtocolPort {
        destination_port: Some(ClusterNetworkPolicyPort {
            number,
            range: range.map(|(start, end)| ClusterNetworkPolicyPortRange { start, end }),
        }),
    }
}

impl CnpRule {
    /// Names the rule.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// Adds a peer.
    pub fn peer(mut self, peer: AdminPeer) -> Self {
        self.peers.push(peer);
        self
    }

    /// Adds a raw protocol entry.
    pub fn protocol(mut self, protocol: ClusterNetworkPolicyProtocol) -> Self {
        self.protocols.get_or_insert_with(Vec::new).push(protocol);
        self
    }

    /// Adds `{protocol}: {destinationPort: {number}}` (`protocol` is `"TCP"`, `"UDP"` or
    /// `"SCTP"`).
    pub fn port(self, protocol: &str, number: i32) -> Self {
        self.protocol(transport(protocol, protocol_port(Some(number), None)))
    }

    /// Adds `{protocol}: {destinationPort: {range: {start, end}}}`.
    pub fn port_range(self, protocol: &str, start: i32, end: i32) -> Self {
        self.protocol(transport(protocol, protocol_port(None, Some((start, end)))))
    }

    /// Adds `destinationNamedPort`.
    pub fn named_port(self, name: &str) -> Self {
        self.protocol(ClusterNetworkPolicyProtocol {
            destination_named_port: Some(name.to_string()),
            ..ClusterNetworkPolicyProtocol::default()
        })
    }
}

fn transport(
    protocol: &str,
    port: ClusterNetworkPolicyProtocolPort,
) -> ClusterNetworkPolicyProtocol {
    let mut p = ClusterNetworkPolicyProtocol::default();
    match protocol {
        "TCP" => p.tcp = Some(port),
        "UDP" => p.udp = Some(port),
        "SCTP" => p.sctp = Some(port),
        other => panic!("unknown protocol {other:?}"),
    }
    p
}

/// Builds a ClusterNetworkPolicy.
#[derive(Clone, Debug)]
pub struct CnpBuilder(ClusterNetworkPolicy);

/// `cnp("lockdown", "Admin", 10)`, subject every namespace until [`CnpBuilder::subject`].
pub fn cnp(name: &str, tier: &str, priority: i32) -> CnpBuilder {
    let tier = match tier {
        "Admin" => ClusterNetworkPolicyTier::Admin,
        "Baseline" => ClusterNetworkPolicyTier::Baseline,
        other => panic!("unknown tier {other:?}"),
    };
    CnpBuilder(ClusterNetworkPolicy {
        metadata: meta(None, name),
        spec: ClusterNetworkPolicySpec {
            tier,
            priority,
            subject: ClusterNetworkPolicySubject {
                namespaces: Some(LabelSelector::default()),
                pods: None,
            },
            ingress: Vec::new(),
            egress: Vec::new(),
        },
        status: None,
    })
}

impl CnpBuilder {
    /// Sets the subject (the v1alpha1 subject type has the same fields).
    pub fn subject(mut self, subject: AdminNetworkPolicySubject) -> Self {
        self.0.spec.subject = ClusterNetworkPolicySubject {
            namespaces: subject.namespaces,
            pods: subject.pods,
        };
        self
    }

    /// Adds an ingress rule (only namespaces/pods peers are kept).
    pub fn ingress(mut self, rule: CnpRule) -> Self {
        self.0.spec.ingress.push(ClusterNetworkPolicyIngressRule {
            name: rule.name,
            action: rule.action,
            from: rule
                .peers
                .into_iter()
                .map(|p| ClusterNetworkPolicyIngressPeer {
                    namespaces: p.namespaces,
                    pods: p.pods,
                })
                .collect(),
            protocols: rule.protocols,
        });
        self
    }

    /// Adds an egress rule.
    pub fn egress(mut self, rule: CnpRule) -> Self {
        self.0.spec.egress.push(ClusterNetworkPolicyEgressRule {
            name: rule.name,
            action: rule.action,
            to: rule
                .peers
                .into_iter()
                .map(|p| ClusterNetworkPolicyEgressPeer {
                    namespaces: p.namespaces,
                    pods: p.pods,
                    nodes: p.nodes,
                    networks: p.networks,
                    domain_names: p.domain_names,
                })
                .collect(),
            protocols: rule.protocols,
        });
        self
    }

    /// The object.
    pub fn build(self) -> ClusterNetworkPolicy {
        self.0
    }
}

/// An index holding `objects`, then `cnps`, applied in order. Panics on an invalid object.
pub fn index_with_cnps(
    objects: impl IntoIterator<Item = ClusterObject>,
    cnps: impl IntoIterator<Item = CnpBuilder>,
) -> Index {
    let mut index = index_of(objects);
    for c in cnps {
        index
            .apply_cluster_network_policy(&c.0)
            .expect("fixture policies are valid");
    }
    index
}
