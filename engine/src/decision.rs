//! What the engine answers: a verdict, and for each direction what decided it.
//!
//! A [`Decision`] is built once per connection and read by every consumer (spans, metrics,
//! dashboard, CLI). Names are `Arc<str>` so building one clones pointers, not strings; the
//! human sentence is produced on demand by [`DirectionDecision::reason`].

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::flow::Flow;

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The connection may proceed.
    Allow,
    /// The connection is dropped.
    Deny,
}

/// The evaluator that decided a direction, in evaluation order.
///
/// The names predate ClusterNetworkPolicy: `AdminNetworkPolicy` is the Admin tier (an
/// AdminNetworkPolicy or an Admin-tier ClusterNetworkPolicy), `BaselineAdminNetworkPolicy` the
/// Baseline tier (a Baseline-tier ClusterNetworkPolicy or the BaselineAdminNetworkPolicy). The
/// deciding [`PolicyRef`] says which kind it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tier {
    /// The Admin tier: an AdminNetworkPolicy rule (Allow/Deny) or an Admin-tier
    /// ClusterNetworkPolicy rule (Accept/Deny).
    AdminNetworkPolicy,
    /// NetworkPolicy isolation (an allowing rule, or the default deny of an isolated pod).
    NetworkPolicy,
    /// The Baseline tier: a Baseline-tier ClusterNetworkPolicy rule or a
    /// BaselineAdminNetworkPolicy rule.
    BaselineAdminNetworkPolicy,
    /// Nothing applied: the direction is allowed by default.
    Default,
}

/// The kinds of policy object the engine understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyKind {
    /// networking.k8s.io/v1 NetworkPolicy (namespaced).
    NetworkPolicy,
    /// policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy (cluster-scoped).
    AdminNetworkPolicy,
    /// policy.networking.k8s.io/v1alpha1 BaselineAdminNetworkPolicy (cluster-scoped).
    BaselineAdminNetworkPolicy,
    /// policy.networking.k8s.io/v1beta1 (or v1alpha2) ClusterNetworkPolicy (cluster-scoped);
    /// its [`PolicyRef`] carries the tier and priority.
    ClusterNetworkPolicy,
}

/// The tier a ClusterNetworkPolicy belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyTier {
    /// Evaluated before NetworkPolicy.
    Admin,
    /// Evaluated after NetworkPolicy.
    Baseline,
}

/// Names one policy object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyRef {
    /// Its kind.
    pub kind: PolicyKind,
    /// Its namespace, for NetworkPolicy only.
    pub namespace: Option<Arc<str>>,
    /// Its name.
    pub name: Arc<str>,
    /// The tier, for ClusterNetworkPolicy only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<PolicyTier>,
    /// The priority, for ClusterNetworkPolicy only (0-1000, lower first within the tier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

impl fmt::Display for PolicyRef {
    /// `ns/name (NetworkPolicy)`, `name (AdminNetworkPolicy)`, or
    /// `name (ClusterNetworkPolicy, Admin tier, priority 10)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        write!(f, "{} ({:?}", self.name, self.kind)?;
        if let Some(tier) = self.tier {
            write!(f, ", {tier:?} tier")?;
        }
        if let Some(priority) = self.priority {
            write!(f, ", priority {priority}")?;
        }
        f.write_str(")")
    }
}

/// Names one rule inside a policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuleRef {
    /// Zero-based index in the policy's `ingress` or `egress` list.
    pub index: usize,
    /// The rule's `name` (ANP and BANP rules have one; NetworkPolicy rules do not).
    pub name: Option<Arc<str>>,
}

/// Which half of a connection a [`DirectionDecision`] judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The source's egress.
    Egress,
    /// The destination's ingress.
    Ingress,
}

/// What one end of a flow is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Endpoint {
    /// A pod with its own network namespace.
    Pod {
        /// The pod's namespace.
        namespace: Arc<str>,
        /// The pod's name.
        name: Arc<str>,
        /// The node it runs on, if scheduled.
        node: Option<Arc<str>>,
    },
    /// A node's own address (this also covers hostNetwork pods).
    Node {
        /// The node's name.
        name: Arc<str>,
    },
    /// Anything else.
    External {
        /// Its address.
        ip: IpAddr,
    },
}

impl fmt::Display for Endpoint {
    /// `ns/pod`, `node/name` or the bare IP.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Pod {
                namespace, name, ..
            } => write!(f, "{namespace}/{name}"),
            Endpoint::Node { name } => write!(f, "node/{name}"),
            Endpoint::External { ip } => write!(f, "{ip}"),
        }
    }
}

impl Endpoint {
    /// True when traffic between `self` (the end a direction belongs to) and `peer` can never
    /// be blocked by policy in `direction`: ingress from the pod's own node, or a pod talking to
    /// itself. The engine allows such traffic in the default tier; renderers use this to say why.
    pub fn is_always_allowed_peer(&self, peer: &Endpoint, direction: Direction) -> bool {
        match (self, peer) {
            (
                Endpoint::Pod {
                    node: Some(own), ..
                },
                Endpoint::Node { name },
            ) => direction == Direction::Ingress && own == name,
            (Endpoint::Pod { .. }, Endpoint::Pod { .. }) => self == peer,
            _ => false,
        }
    }
}

/// Why one direction got its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectionDecision {
    /// The direction judged.
    pub direction: Direction,
    /// Its verdict.
    pub verdict: Verdict,
    /// The tier that decided.
    pub tier: Tier,
    /// The deciding policy; `None` for the default tier and for a NetworkPolicy default deny
    /// (see `isolated_by`).
    pub policy: Option<PolicyRef>,
    /// The deciding rule, when a rule decided.
    pub rule: Option<RuleRef>,
    /// When NetworkPolicy isolation decided: every policy that isolates the pod in this
    /// direction, sorted. Empty otherwise.
    pub isolated_by: Vec<PolicyRef>,
    /// Policies that passed the decision down with a `Pass` rule on the way, in order.
    pub passed_by: Vec<PolicyRef>,
    /// Policies of the same tier and priority as the one whose rule ended that tier's
    /// evaluation (decided, or passed) that also had a matching rule. Upstream lets such ties
    /// match in any order; the engine orders them by kind (AdminNetworkPolicy first), then
    /// name, so this lists the policies that could have decided instead. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tied_with: Vec<PolicyRef>,
    /// The domain name pattern of the `domainNames` peer that matched, when one decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Arc<str>>,
}

/// The engine's answer for one flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The flow judged.
    pub flow: Flow,
    /// What the source is.
    pub src: Endpoint,
    /// What the destination is.
    pub dst: Endpoint,
    /// `Allow` only if both directions allow.
    pub verdict: Verdict,
    /// The source's egress.
    pub egress: DirectionDecision,
    /// The destination's ingress.
    pub ingress: DirectionDecision,
}
