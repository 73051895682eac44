//! kube-verdict's API types, and nothing else.
//!
//! ```text
//!   upstream network-policy-api v0.1.x ──► admin_network_policy.rs  (AdminNetworkPolicy,
//!                                                                    BaselineAdminNetworkPolicy)
//!   verdict.dev/v1alpha1               ──► enforcer.rs  (NetworkPolicyEnforcer)
//!                                              │ crdgen (src/bin)
//!                                              ▼
//!                                     manifests/crds/verdict.dev_networkpolicyenforcers.yaml
//! ```
//!
//! The engine reads the ANP/BANP types; the agent watches them; the CLI parses them from YAML;
//! the operator reconciles `NetworkPolicyEnforcer`. The upstream ANP/BANP CRD YAML is taken from
//! the upstream module, not generated from here. Start reading at `enforcer.rs`.
#![forbid(unsafe_code)]

pub mod admin_network_policy;
pub mod enforcer;

pub use admin_network_policy::*;
pub use enforcer::*;
