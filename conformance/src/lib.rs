//! Upstream conformance cases as data: the sig-network NetworkPolicy e2e suite (kubernetes
//! v1.36), the network-policy-api v0.1.7 AdminNetworkPolicy/BaselineAdminNetworkPolicy
//! conformance tests and the v0.3.0 ClusterNetworkPolicy ones, ported case for case into plain
//! values that any runner can execute.
//!
//! ```text
//!   netpol.rs ─┐                         ┌─► engine/tests (Index::apply/evaluate, in-process)
//!   anp.rs   ──┤                         │
//!   cnp.rs   ──┼─► Vec<Case> ─► runner ──┤
//!              │   model + steps          └─► e2e (real pods, real packets)
//!   model.rs ──┘   (actions, then a TruthTable per Probe)
//! ```
//!
//! A [`Case`] is a [`Model`] (namespaces, pods and nodes without addresses) and a list of
//! [`Step`]s. A step's [`Action`]s change the cluster (apply or delete a policy, relabel a
//! namespace or pod); its [`Expectation`]s give, for each [`Probe`] (protocol and port), the full
//! [`TruthTable`] of which client reaches which server. The runner assigns addresses, applies
//! the actions, probes every pair and prints [`Comparison`] on a mismatch.
//!
//! Start with [`case`] for the shapes, then [`netpol::cases`] to see a case written out.
//!
//! This crate depends on nothing but the API types, so the engine's tests and the packet-level
//! e2e suite share it. It has no error type: nothing here is fallible, and a case that names a
//! pod its model lacks is a bug that panics with the pod's name.
#![forbid(unsafe_code)]

pub mod anp;
pub mod case;
pub mod cnp;
pub mod fixture;
pub mod model;
pub mod netpol;
pub mod truth_table;

pub use case::{
    Action, AddressBook, Case, Expectation, Policy, PolicyId, PolicySource, Probe, Protocol, Step,
};
pub use model::{Model, PodName};
pub use truth_table::{Comparison, Peer, TruthTable};

/// Every case: the netpol suite, then ANP, then BANP, then ClusterNetworkPolicy.
pub fn all_cases() -> Vec<Case> {
    let mut cases = netpol::cases();
    cases.extend(anp::cases());
    cases.extend(cnp::cases());
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_cases_are_uniquely_named_and_probe_something() {
        let cases = all_cases();
        assert_eq!(cases.len(), 50 + 24 + 30);
        let names: std::collections::BTreeSet<_> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), cases.len());
        for case in &cases {
            assert!(!case.probes().is_empty(), "{}", case.name);
        }
        let gress = cases
            .iter()
            .find(|c| c.name == "anp/admin-network-policy-gress")
            .unwrap();
        assert_eq!(
            gress.probes().len(),
            6,
            "TCP 80/8080, UDP 53/5353, SCTP 9003/9005"
        );
    }
}
