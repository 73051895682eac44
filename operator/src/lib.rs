//! kube-verdict's operator: it turns each `NetworkPolicyEnforcer` into a verdict-agent DaemonSet
//! (plus the ServiceAccount, RBAC and Service that go with it) and reports, on the enforcer's
//! status, whether enforcement is ready on every node.
//!
//! ```text
//!  NetworkPolicyEnforcer ─watch─┐
//!  DaemonSet (owned)     ─watch─┼─► controller ─► reconcile
//!                               │                   ├─► conflict::placement   pure: who may run
//!                               │                   │     (a conflict is confirmed on a fresh list)
//!                               │                   ├─► children::build       pure: desired objects
//!                               │                   ├─► server-side apply     field manager "verdict-operator"
//!                               │                   └─► status::compute       pure: conditions and counts
//!                               │                         └─► status subresource, Events, metrics
//!  leader::LeaseElector ────────┘ gates the controller, so two replicas never reconcile at once
//! ```
//!
//! Start reading at [`reconcile::reconcile`]; the flag contract with the agent is in
//! [`agent_args`]; the binary (`main.rs`) only parses flags and joins [`controller::run`] with the
//! metrics server and the elector.
#![forbid(unsafe_code)]

pub mod agent_args;
pub mod children;
pub mod conflict;
pub mod controller;
pub mod leader;
pub mod metrics;
pub mod names;
pub mod reconcile;
pub mod status;

/// Everything that can go wrong in the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("{action} failed: {source}")]
    Kube {
        /// What the operator was doing, naming the object.
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The NetworkPolicyEnforcer CRD is not installed, so the operator has nothing to watch.
    #[error(
        "the NetworkPolicyEnforcer CRD (networkpolicyenforcers.verdict.dev) is not installed: \
         run `kubectl apply -f manifests/install.yaml` (or `kubectl apply -f \
         manifests/crds/verdict.dev_networkpolicyenforcers.yaml`), then start the operator again"
    )]
    CrdMissing {
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
    /// An object the operator built could not be serialised.
    #[error("cannot serialise {what}: {source}")]
    Serialize {
        /// Which object.
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The enforcer has no name (the API server always sets one).
    #[error("the NetworkPolicyEnforcer has no metadata.name")]
    Unnamed,
    /// Leadership of the Lease was lost while the controller was running.
    #[error("lost leadership of lease {lease}: {reason}")]
    LeadershipLost {
        /// `namespace/name` of the Lease.
        lease: String,
        /// Why.
        reason: String,
    },
    /// The metrics server failed.
    #[error("metrics server on {addr} failed: {source}")]
    MetricsServer {
        /// The listen address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A short, stable label for metrics (`verdict_operator_reconcile_errors_total{error=...}`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::CrdMissing { .. } => "crd_missing",
            Error::Serialize { .. } => "serialize",
            Error::Unnamed => "unnamed",
            Error::LeadershipLost { .. } => "leadership_lost",
            Error::MetricsServer { .. } => "metrics_server",
        }
    }

    pub(crate) fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let action = action.into();
        move |source| Error::Kube { action, source }
    }
}

/// The operator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
