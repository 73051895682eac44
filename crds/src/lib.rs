//! kube-verdict's API types, and nothing else.
//!
//! ```text
//!   upstream network-policy-api v0.1.x ──► admin_network_policy.rs  (AdminNetworkPolicy,
//!                                                                    BaselineAdminNetworkPolicy)
//!   upstream network-policy-api v0.3.0 ──► cluster_network_policy.rs (ClusterNetworkPolicy
//!                                                                    v1beta1, and v1alpha2)
//!   verdict.dev/v1alpha1               ──► enforcer.rs  (NetworkPolicyEnforcer)
//!                                              │ crdgen (src/bin)
//!                                              ▼
//!                                     manifests/crds/verdict.dev_networkpolicyenforcers.yaml
//! ```
//!
//! The engine reads the ANP/BANP and ClusterNetworkPolicy types; the agent watches them; the
//! CLI parses them from YAML; the operator reconciles `NetworkPolicyEnforcer`. The upstream
//! ANP/BANP and ClusterNetworkPolicy CRD YAML is copied from the upstream modules
//! (`manifests/crds/`), not generated from here. Start reading at `enforcer.rs`.
#![forbid(unsafe_code)]

pub mod admin_network_policy;
pub mod cluster_network_policy;
pub mod enforcer;

pub use admin_network_policy::*;
pub use cluster_network_policy::{
    ClusterNetworkPolicy, ClusterNetworkPolicyEgressPeer, ClusterNetworkPolicyEgressRule,
    ClusterNetworkPolicyIngressPeer, ClusterNetworkPolicyIngressRule, ClusterNetworkPolicyPort,
    ClusterNetworkPolicyPortRange, ClusterNetworkPolicyProtocol, ClusterNetworkPolicyProtocolPort,
    ClusterNetworkPolicyRuleAction, ClusterNetworkPolicySpec, ClusterNetworkPolicyStatus,
    ClusterNetworkPolicySubject, ClusterNetworkPolicyTier,
};
pub use enforcer::*;
