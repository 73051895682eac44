//! The pure kube-verdict policy engine: an index of the cluster state and explained verdicts
//! for NetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy.
//! The agent feeds it from watches and judges packets with it; the CLI feeds it from YAML
//! files and explains with it, so what the CLI explains is what the agent enforces.
//!
//! ```text
//!   watches (agent) / YAML files (CLI)
//!        │ ClusterObject, Index::apply_cluster_network_policy
//!        ▼
//!   Index::apply / delete ── compile ──► selector.rs, labels.rs, ports.rs, peers.rs,
//!        │                               network_policy.rs, admin_policy.rs
//!        │ per-pod lists of the policies that select it, IP → pod, IP → node
//!        │ (index.rs; records in model.rs, copy-on-write storage in slab.rs)
//!        ▼
//!   Index::evaluate(Flow) ──► evaluate.rs: Admin tier (ANP, CNP) ─► NetworkPolicy
//!        │   (evaluate_with:       ─► Baseline tier (CNP, BANP) ─► default
//!        │    + DnsBindings, dns.rs, for CNP domainNames)
//!        ▼
//!   Decision (decision.rs) ──► explain.rs: the one renderer of sentences (CLI, agent, dashboard)
//! ```
//!
//! Start reading at [`Index`] (index.rs), then `evaluate.rs`. The engine does no I/O: no
//! tokio, kube client, netlink or sockets. Semantics follow upstream Kubernetes (NetworkPolicy),
//! network-policy-api v0.1.7 (ANP/BANP) and v0.3.0 (ClusterNetworkPolicy); each module's doc
//! says which rules it implements, and `evaluate.rs` how the APIs interleave. Non-L4 IP
//! protocols are judged as flows without ports (`flow.rs`). Test fixtures
//! (`pod("x", "a").labels([("pod", "a")]).ip("10.0.0.1")`) are in the `testing` module, behind
//! the `testing` feature.
#![forbid(unsafe_code)]

mod admin_policy;
pub mod catalog;
pub mod decision;
pub mod dns;
pub mod error;
mod evaluate;
pub mod explain;
pub mod flow;
pub mod index;
pub mod judge;
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
    Decision, Direction, DirectionDecision, Endpoint, PolicyKind, PolicyRef, PolicyTier, RuleRef,
    Tier, Verdict,
};
pub use dns::{Dns, DnsBindings};
pub use error::{Error, Result};
pub use flow::{Flow, Protocol};
pub use index::{ClusterObject, Index, IndexStats, SelectedIps};
pub use judge::{Judgement, judge};
pub use reason::PolicyName;

#[cfg(test)]
mod tests;
