//! kube-verdict's API types, and nothing else.
//!
//! ```text
//!   upstream network-policy-api v0.1.x ──► admin_network_policy.rs  (AdminNetworkPolicy,
//!                                                                    BaselineAdminNetworkPolicy)
//!   verdict.dev/v1alpha1               ──► (operator types, added with the operator)
//! ```
//!
//! The engine reads these types; the agent watches them; the CLI parses them from YAML. The
//! upstream CRD YAML is installed from the upstream module, not generated from here.
#![forbid(unsafe_code)]

pub mod admin_network_policy;
pub mod enforcer;

pub use admin_network_policy::*;
pub use enforcer::*;
