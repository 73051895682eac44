//! Compact forms of the cluster objects the index keeps: names are `Arc<str>`, labels are
//! sorted slices, and each pod carries the policies that select it so evaluation never scans
//! policies that do not.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use smallvec::SmallVec;

use crate::Result;
use crate::admin_policy::AdminPolicy;
use crate::flow::Protocol;
use crate::labels::Labels;
use crate::network_policy::NetworkPolicyRules;
use crate::object::ObjectName;
use crate::ports::NamedPort;

/// A pod's list of selecting policies. Most pods have a handful, kept inline so evaluation
/// reads them from the record itself instead of chasing another pointer.
pub(crate) type PolicyList<T> = SmallVec<[Arc<T>; 4]>;

/// A pod as the index keeps it.
#[derive(Clone, Debug)]
pub(crate) struct PodRecord {
    pub(crate) namespace: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) node: Option<Arc<str>>,
    pub(crate) labels: Labels,
    pub(crate) host_network: bool,
    /// `metadata.uid`, when the object has one.
    pub(crate) uid: Option<Arc<str>>,
    /// False once the pod has a deletionTimestamp (or is in phase Succeeded/Failed): a
    /// running pod wins a reused address over a terminating one.
    pub(crate) running: bool,
    /// Empty when the pod has no IP yet or has terminated.
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) named_ports: Vec<NamedPort>,
    /// The labels of the pod's namespace (kept here so peer matching needs no lookup).
    pub(crate) namespace_labels: Arc<Labels>,
    /// NetworkPolicies of the namespace whose podSelector selects this pod and that isolate
    /// it for ingress, sorted by name. Always empty for hostNetwork pods.
    pub(crate) np_ingress: PolicyList<NetworkPolicyRules>,
    /// The same for egress.
    pub(crate) np_egress: PolicyList<NetworkPolicyRules>,
    /// Admin-tier policies whose subject selects this pod (AdminNetworkPolicies and Admin-tier
    /// ClusterNetworkPolicies), in evaluation order (`AdminPolicy::order_key`).
    pub(crate) admin: PolicyList<AdminPolicy>,
    /// Baseline-tier policies whose subject selects this pod (Baseline-tier
    /// ClusterNetworkPolicies by priority, then the BaselineAdminNetworkPolicy), in evaluation
    /// order.
    pub(crate) baseline: PolicyList<AdminPolicy>,
}

/// The parts of a pod that come from the Pod object itself (not from policies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PodFacts {
    pub(crate) namespace: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) node: Option<Arc<str>>,
    pub(crate) labels: Labels,
    pub(crate) host_network: bool,
    pub(crate) uid: Option<Arc<str>>,
    pub(crate) running: bool,
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) named_ports: Vec<NamedPort>,
}

impl PodFacts {
    /// Reads a Pod object.
    ///
    /// # Errors
    /// A pod IP or container port protocol that does not parse.
    pub(crate) fn from_pod(pod: &Pod) -> Result<Self> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let object = ObjectName::namespaced("Pod", namespace, name);
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let terminated = matches!(
            status.and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        );
        let mut ips = Vec::new();
        if !terminated && let Some(status) = status {
            if let Some(list) = status.pod_ips.as_ref().filter(|l| !l.is_empty()) {
                for (i, entry) in list.iter().enumerate() {
                    ips.push(parse_ip(
                        &entry.ip,
                        &object,
                        &format!("status.podIPs[{i}].ip"),
                    )?);
                }
            } else if let Some(ip) = status.pod_ip.as_deref().filter(|s| !s.is_empty()) {
                ips.push(parse_ip(ip, &object, "status.podIP")?);
            }
        }
        ips.dedup();
        let mut named_ports = Vec::new();
        if let Some(spec) = spec {
            for (i, c) in spec.containers.iter().enumerate() {
                collect_ports(
                    c,
                    &object,
                    &format!("spec.containers[{i}]"),
                    &mut named_ports,
                )?;
            }
            // Restartable init containers (sidecars) keep serving for the pod's lifetime.
            for (i, c) in spec.init_containers.iter().flatten().enumerate() {
                if c.restart_policy.as_deref() == Some("Always") {
                    collect_ports(
                        c,
                        &object,
                        &format!("spec.initContainers[{i}]"),
                        &mut named_ports,
                    )?;
                }
            }
        }
        Ok(PodFacts {
            namespace: Arc::from(namespace),
            name: Arc::from(name),
            node: spec
                .and_then(|s| s.node_name.as_deref())
                .filter(|s| !s.is_empty())
                .map(Arc::from),
            labels: Labels::from_map(pod.metadata.labels.as_ref()),
            host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
            uid: pod
                .metadata
                .uid
                .as_deref()
                .filter(|u| !u.is_empty())
                .map(Arc::from),
            running: !terminated && pod.metadata.deletion_timestamp.is_none(),
            ips,
            named_ports,
        })
    }
}

fn collect_ports(
    container: &Container,
    object: &ObjectName,
    field: &str,
    out: &mut Vec<NamedPort>,
) -> Result<()> {
    for (j, port) in container.ports.iter().flatten().enumerate() {
        let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        let protocol = match port.protocol.as_deref() {
            None | Some("TCP") => Protocol::Tcp,
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            Some(other) => {
                return Err(object.field(
                    &format!("{field}.ports[{j}].protocol"),
                    format!("unsupported protocol {other:?}: expected TCP, UDP or SCTP"),
                ));
            }
        };
        let Ok(number) = u16::try_from(port.container_port) else {
            return Err(object.field(
                &format!("{field}.ports[{j}].containerPort"),
                format!("invalid port {}", port.container_port),
            ));
        };
        out.push(NamedPort {
            name: Arc::from(name),
            protocol,
            port: number,
        });
    }
    Ok(())
}

fn parse_ip(value: &str, object: &ObjectName, field: &str) -> Result<IpAddr> {
    value
        .parse()
        .map_err(|_| object.field(field, format!("invalid IP address {value:?}")))
}

impl PodRecord {
    pub(crate) fn new(facts: PodFacts, namespace_labels: Arc<Labels>) -> Self {
        PodRecord {
            namespace: facts.namespace,
            name: facts.name,
            node: facts.node,
            labels: facts.labels,
            host_network: facts.host_network,
            uid: facts.uid,
            running: facts.running,
            ips: facts.ips,
            named_ports: facts.named_ports,
            namespace_labels,
            np_ingress: SmallVec::new(),
            np_egress: SmallVec::new(),
            admin: SmallVec::new(),
            baseline: SmallVec::new(),
        }
    }

    /// The facts this record was built from, to detect no-op updates.
    pub(crate) fn same_facts(&self, facts: &PodFacts) -> bool {
        self.namespace == facts.namespace
            && self.name == facts.name
            && self.node == facts.node
            && self.labels == facts.labels
            && self.host_network == facts.host_network
            && self.uid == facts.uid
            && self.running == facts.running
            && self.ips == facts.ips
            && self.named_ports == facts.named_ports
    }

    /// True when any policy, of any tier and direction, selects this pod.
    pub(crate) fn is_selected(&self) -> bool {
        !self.np_ingress.is_empty()
            || !self.np_egress.is_empty()
            || !self.admin.is_empty()
            || !self.baseline.is_empty()
    }
}

/// A node: its labels (for ANP `nodes` peers) and addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeRecord {
    pub(crate) name: Arc<str>,
    pub(crate) labels: Labels,
    /// InternalIP and ExternalIP addresses.
    pub(crate) ips: Vec<IpAddr>,
}

impl NodeRecord {
    /// Reads a Node object. Addresses other than InternalIP/ExternalIP (host names) are
    /// ignored, as are addresses that do not parse as IPs.
    pub(crate) fn from_node(node: &Node) -> Self {
        let mut ips: Vec<IpAddr> = node
            .status
            .iter()
            .flat_map(|s| s.addresses.iter().flatten())
            .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
            .filter_map(|a| a.address.parse().ok())
            .collect();
        ips.sort();
        ips.dedup();
        NodeRecord {
            name: Arc::from(node.metadata.name.as_deref().unwrap_or_default()),
            labels: Labels::from_map(node.metadata.labels.as_ref()),
            ips,
        }
    }
}
