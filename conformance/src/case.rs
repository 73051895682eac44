//! What a case is: a model, then steps of actions followed by expected truth tables.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use verdict_crds::{AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy};

use crate::model::{Model, PodName};
use crate::truth_table::TruthTable;

/// The transport protocols the policy APIs name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The API spelling: `TCP`, `UDP`, `SCTP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One connection attempt shape: every client tries `protocol` to `port` on every server.
/// Upstream probes always use port numbers; named ports appear only in policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Probe {
    /// The protocol.
    pub protocol: Protocol,
    /// The destination port.
    pub port: u16,
}

impl Probe {
    /// A TCP probe.
    pub fn tcp(port: u16) -> Self {
        Self {
            protocol: Protocol::Tcp,
            port,
        }
    }

    /// A UDP probe.
    pub fn udp(port: u16) -> Self {
        Self {
            protocol: Protocol::Udp,
            port,
        }
    }

    /// An SCTP probe.
    pub fn sctp(port: u16) -> Self {
        Self {
            protocol: Protocol::Sctp,
            port,
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.protocol, self.port)
    }
}

/// A policy object of any of the four kinds.
#[derive(Clone, Debug)]
pub enum Policy {
    /// networking.k8s.io/v1 NetworkPolicy.
    NetworkPolicy(NetworkPolicy),
    /// AdminNetworkPolicy.
    AdminNetworkPolicy(AdminNetworkPolicy),
    /// BaselineAdminNetworkPolicy.
    BaselineAdminNetworkPolicy(BaselineAdminNetworkPolicy),
    /// ClusterNetworkPolicy (policy.networking.k8s.io/v1beta1).
    ClusterNetworkPolicy(ClusterNetworkPolicy),
}

impl Policy {
    /// The key that names this object.
    pub fn id(&self) -> PolicyId {
        match self {
            Policy::NetworkPolicy(np) => PolicyId::NetworkPolicy {
                namespace: np.metadata.namespace.clone().unwrap_or_default(),
                name: np.metadata.name.clone().unwrap_or_default(),
            },
            Policy::AdminNetworkPolicy(p) => {
                PolicyId::AdminNetworkPolicy(p.metadata.name.clone().unwrap_or_default())
            }
            Policy::BaselineAdminNetworkPolicy(p) => {
                PolicyId::BaselineAdminNetworkPolicy(p.metadata.name.clone().unwrap_or_default())
            }
            Policy::ClusterNetworkPolicy(p) => {
                PolicyId::ClusterNetworkPolicy(p.metadata.name.clone().unwrap_or_default())
            }
        }
    }
}

/// Names one policy object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PolicyId {
    /// A NetworkPolicy.
    NetworkPolicy {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// An AdminNetworkPolicy, by name.
    AdminNetworkPolicy(String),
    /// A BaselineAdminNetworkPolicy, by name.
    BaselineAdminNetworkPolicy(String),
    /// A ClusterNetworkPolicy, by name.
    ClusterNetworkPolicy(String),
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyId::NetworkPolicy { namespace, name } => {
                write!(f, "NetworkPolicy {namespace}/{name}")
            }
            PolicyId::AdminNetworkPolicy(name) => write!(f, "AdminNetworkPolicy {name}"),
            PolicyId::BaselineAdminNetworkPolicy(name) => {
                write!(f, "BaselineAdminNetworkPolicy {name}")
            }
            PolicyId::ClusterNetworkPolicy(name) => write!(f, "ClusterNetworkPolicy {name}"),
        }
    }
}

/// Where the runner put each pod. Policies that quote pod addresses (ipBlock, networks) are
/// built from this at run time, because the model itself has no addresses.
pub trait AddressBook {
    /// The IP of `pod`.
    ///
    /// # Panics
    /// Implementations may panic for a pod the model does not have.
    fn pod_ip(&self, pod: &PodName) -> IpAddr;
}

/// Builds a policy once the pod addresses are known.
pub type PolicyTemplate = Arc<dyn Fn(&dyn AddressBook) -> Policy + Send + Sync>;

/// A policy, fixed or built from pod addresses.
#[derive(Clone)]
pub enum PolicySource {
    /// Known in advance.
    Fixed(Box<Policy>),
    /// Needs pod addresses.
    Addressed(PolicyTemplate),
}

impl PolicySource {
    /// The policy for this run.
    pub fn resolve(&self, addresses: &dyn AddressBook) -> Policy {
        match self {
            PolicySource::Fixed(policy) => (**policy).clone(),
            PolicySource::Addressed(build) => build(addresses),
        }
    }
}

impl fmt::Debug for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::Fixed(policy) => f.debug_tuple("Fixed").field(&policy.id()).finish(),
            PolicySource::Addressed(_) => f.write_str("Addressed(..)"),
        }
    }
}

/// One change to the cluster.
#[derive(Clone, Debug)]
pub enum Action {
    /// Create the policy, or replace the one with the same [`PolicyId`] (upstream create,
    /// update and patch all land here).
    Apply(PolicySource),
    /// Apply an object the API server must refuse (upstream expects the create to fail); the
    /// runner checks that it is refused and that nothing changes.
    ApplyInvalid(PolicySource),
    /// Delete one policy.
    Delete(PolicyId),
    /// Delete every NetworkPolicy in the model's namespaces (upstream `cleanNetworkPolicies`).
    DeleteAllNetworkPolicies,
    /// Replace a namespace (used to relabel it).
    ApplyNamespace(Box<Namespace>),
    /// Replace a pod (used to relabel it); the pod keeps its address.
    ApplyPod(Box<Pod>),
    /// Delete a pod.
    DeletePod(PodName),
}

impl Action {
    /// Applies a fixed policy of any kind.
    pub fn fixed(policy: Policy) -> Self {
        Action::Apply(PolicySource::Fixed(Box::new(policy)))
    }

    /// Applies a fixed NetworkPolicy.
    pub fn network_policy(np: NetworkPolicy) -> Self {
        Action::Apply(PolicySource::Fixed(Box::new(Policy::NetworkPolicy(np))))
    }

    /// Applies a fixed AdminNetworkPolicy.
    pub fn admin(anp: AdminNetworkPolicy) -> Self {
        Action::Apply(PolicySource::Fixed(Box::new(Policy::AdminNetworkPolicy(
            anp,
        ))))
    }

    /// Applies a fixed BaselineAdminNetworkPolicy.
    pub fn baseline(banp: BaselineAdminNetworkPolicy) -> Self {
        Action::Apply(PolicySource::Fixed(Box::new(
            Policy::BaselineAdminNetworkPolicy(banp),
        )))
    }

    /// Applies a fixed ClusterNetworkPolicy.
    pub fn cluster(cnp: ClusterNetworkPolicy) -> Self {
        Action::Apply(PolicySource::Fixed(Box::new(Policy::ClusterNetworkPolicy(
            cnp,
        ))))
    }

    /// Applies a policy built from pod addresses.
    pub fn addressed(build: impl Fn(&dyn AddressBook) -> Policy + Send + Sync + 'static) -> Self {
        Action::Apply(PolicySource::Addressed(Arc::new(build)))
    }
}

/// The expected connectivity for one probe.
#[derive(Clone, Debug)]
pub struct Expectation {
    /// What is probed.
    pub probe: Probe,
    /// Who must reach whom.
    pub reachability: TruthTable,
}

/// Actions, then the expectations that must hold once they are applied.
#[derive(Clone, Debug)]
pub struct Step {
    /// What this step checks (upstream `ginkgo.By`/`t.Run` text where there is one).
    pub name: String,
    /// Applied in order.
    pub actions: Vec<Action>,
    /// Checked after all actions.
    pub expectations: Vec<Expectation>,
}

/// One upstream test, ported.
#[derive(Clone, Debug)]
pub struct Case {
    /// Slug of the upstream title, prefixed by the suite (`netpol/…`, `anp/…`, `banp/…`).
    pub name: String,
    /// The upstream title (context + `It` text, or test `ShortName`), for grepping upstream.
    pub upstream: String,
    /// Set-up state before step one.
    pub model: Model,
    /// Whether a pod probing itself is left out of comparisons (upstream netpol does this).
    pub ignore_loopback: bool,
    /// The steps, in order; state carries over from one step to the next.
    pub steps: Vec<Step>,
    /// What of the upstream test this port cannot express, if anything.
    pub gap: Option<&'static str>,
}

impl Case {
    /// Every probe any step checks, so a packet-level runner knows which servers to start.
    pub fn probes(&self) -> std::collections::BTreeSet<Probe> {
        self.steps
            .iter()
            .flat_map(|s| &s.expectations)
            .map(|e| e.probe)
            .collect()
    }
}

/// Lower-case ASCII words joined by `-`: `should support a 'default-deny-ingress' policy`
/// becomes `should-support-a-default-deny-ingress-policy`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_maps_upstream_titles() {
        let rows = [
            (
                "quotes and spaces",
                "should support a 'default-deny-ingress' policy",
                "should-support-a-default-deny-ingress-policy",
            ),
            (
                "punctuation runs",
                "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even",
                "should-not-mistakenly-treat-protocol-sctp-as-protocol-tcp-even",
            ),
            (
                "parentheses",
                "egress traffic on the client side (even if the server allows)",
                "egress-traffic-on-the-client-side-even-if-the-server-allows",
            ),
        ];
        for (name, input, want) in rows {
            assert_eq!(slug(input), want, "{name}");
        }
    }
}
