//! The pure kube-verdict policy engine: an index of the cluster state and explained verdicts
//! for NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy.
//!
//! ```text
//!   watches (agent) / YAML files (CLI)
//!        │ ClusterObject
//!        ▼
//!   Index::apply / delete_* ── compile ──► selector.rs, ports.rs, peers.rs,
//!        │                                 network_policy.rs, admin_policy.rs
//!        │ per-pod lists of selecting policies, IP → pod, IP → node (index.rs, model.rs)
//!        ▼
//!   Index::evaluate(Flow) ──► evaluate.rs: ANP ─► NetworkPolicy ─► BANP ─► default
//!        │
//!        ▼
//!   Decision (decision.rs) ──► reason.rs: one sentence per direction, the explain line
//! ```
//!
//! Start reading at [`Index`] (index.rs), then `evaluate.rs`. The engine never touches I/O:
//! no tokio, kube client, netlink or sockets. Semantics follow upstream Kubernetes
//! (NetworkPolicy) and network-policy-api v0.1.7 (ANP/BANP); each module's doc says which rules
//! it implements.
#![forbid(unsafe_code)]

mod admin_policy;
pub mod decision;
pub mod error;
mod evaluate;
pub mod flow;
pub mod index;
pub mod labels;
mod model;
mod network_policy;
mod object;
mod peers;
mod ports;
pub mod reason;
pub mod selector;
mod slab;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use admin_policy::BASELINE_NAME;
pub use decision::{
    Decision, Direction, DirectionDecision, Endpoint, PolicyKind, PolicyRef, RuleRef, Tier, Verdict,
};
pub use error::{Error, Result};
pub use flow::{Flow, Protocol};
pub use index::{ClusterObject, Index, IndexStats, SelectedIps};
pub use reason::PolicyName;

#[cfg(test)]
mod tests;
