//! The cluster index. CONTRACT SKELETON: signatures are fixed; bodies are filled in by the engine work.
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use verdict_crds::{AdminNetworkPolicy, BaselineAdminNetworkPolicy};

use crate::{Decision, Direction, DirectionDecision, Endpoint, Flow, Result};

/// Any object the index understands.
#[derive(Clone, Debug)]
pub enum ClusterObject {
    /// A Namespace.
    Namespace(Namespace),
    /// A Pod.
    Pod(Pod),
    /// A Node.
    Node(Node),
    /// A NetworkPolicy.
    NetworkPolicy(NetworkPolicy),
    /// An AdminNetworkPolicy.
    AdminNetworkPolicy(AdminNetworkPolicy),
    /// A BaselineAdminNetworkPolicy.
    BaselineAdminNetworkPolicy(BaselineAdminNetworkPolicy),
}

/// Addresses of the pods on one node that at least one policy (any tier, any direction) selects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectedIps {
    /// IPv4 pod addresses.
    pub v4: BTreeSet<Ipv4Addr>,
    /// IPv6 pod addresses.
    pub v6: BTreeSet<Ipv6Addr>,
}

/// The cluster state, indexed for evaluation. `Clone + Send + Sync` so callers can publish snapshots.
#[derive(Clone, Debug, Default)]
pub struct Index {}

#[allow(unused_variables, missing_docs)]
impl Index {
    pub fn new() -> Self { Self::default() }
    pub fn apply(&mut self, object: &ClusterObject) -> Result<()> { todo!() }
    pub fn apply_namespace(&mut self, ns: &Namespace) -> Result<()> { todo!() }
    pub fn delete_namespace(&mut self, name: &str) -> bool { todo!() }
    pub fn apply_pod(&mut self, pod: &Pod) -> Result<()> { todo!() }
    pub fn delete_pod(&mut self, namespace: &str, name: &str) -> bool { todo!() }
    pub fn apply_node(&mut self, node: &Node) -> Result<()> { todo!() }
    pub fn delete_node(&mut self, name: &str) -> bool { todo!() }
    pub fn apply_network_policy(&mut self, np: &NetworkPolicy) -> Result<()> { todo!() }
    pub fn delete_network_policy(&mut self, namespace: &str, name: &str) -> bool { todo!() }
    pub fn apply_admin_network_policy(&mut self, anp: &AdminNetworkPolicy) -> Result<()> { todo!() }
    pub fn delete_admin_network_policy(&mut self, name: &str) -> bool { todo!() }
    pub fn apply_baseline_admin_network_policy(&mut self, banp: &BaselineAdminNetworkPolicy) -> Result<()> { todo!() }
    pub fn delete_baseline_admin_network_policy(&mut self, name: &str) -> bool { todo!() }
    pub fn evaluate(&self, flow: &Flow) -> Decision { todo!() }
    pub fn evaluate_direction(&self, flow: &Flow, direction: Direction) -> DirectionDecision { todo!() }
    pub fn endpoint(&self, ip: IpAddr) -> Endpoint { todo!() }
    pub fn pod_ips(&self, namespace: &str, name: &str) -> Option<Vec<IpAddr>> { todo!() }
    pub fn selected_pod_ips(&self, node: &str) -> SelectedIps { todo!() }
    pub fn generation(&self) -> u64 { todo!() }
}
