//! From the API server to the engine: watchers, the task that owns the index, and what it
//! publishes.
//!
//! ```text
//!  Pods, Namespaces, Nodes, NetworkPolicies ──watcher──┐        (sources.rs: kube-runtime,
//!  ANP, BANP (only while their CRDs exist) ──watcher──┤         strip.rs trims each object)
//!                                                      ▼ mpsc<Update>
//!                                    owner task: Mirror<Index> (mirror.rs, pure)
//!                                      │ debounce, then publish (owner.rs)
//!             ┌────────────────────────┼──────────────────────────────┐
//!   ArcSwap<Index> (verdict workers)   watch<SelectedIps> (syncer)   watch<Arc<Index>> (strict mode)
//! ```
//!
//! Start with [`spawn`]; the pure logic to read first is [`mirror::Mirror::handle`].

pub mod mirror;
pub mod owner;
pub mod sources;
pub mod strip;

use std::fmt;

use verdict_engine::ClusterObject;

pub use owner::{Published, spawn};

/// The kinds of object the agent watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// core/v1 Namespace.
    Namespace,
    /// core/v1 Pod.
    Pod,
    /// core/v1 Node.
    Node,
    /// networking.k8s.io/v1 NetworkPolicy.
    NetworkPolicy,
    /// policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy.
    AdminNetworkPolicy,
    /// policy.networking.k8s.io/v1alpha1 BaselineAdminNetworkPolicy.
    BaselineAdminNetworkPolicy,
    /// policy.networking.k8s.io ClusterNetworkPolicy, v1beta1 when served, else v1alpha2.
    ClusterNetworkPolicy,
}

impl Kind {
    /// The Kubernetes kind name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Pod => "Pod",
            Kind::Node => "Node",
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::AdminNetworkPolicy => "AdminNetworkPolicy",
            Kind::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
            Kind::ClusterNetworkPolicy => "ClusterNetworkPolicy",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        matches!(self, Kind::Pod | Kind::NetworkPolicy)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Names one object of a known kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Its namespace; `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One watcher event, tagged with its kind; what the owner task consumes.
#[derive(Clone, Debug)]
pub enum Update {
    /// A (re)list of `Kind` starts.
    Init(Kind),
    /// An object listed during a relist.
    InitApply(ClusterObject),
    /// The (re)list of `Kind` is complete; objects not listed are gone.
    InitDone(Kind),
    /// An object was added or changed.
    Apply(ClusterObject),
    /// An object was deleted.
    Delete(Kind, ObjectKey),
    /// The kind's CRD is not installed: it has no objects, and that counts as synced.
    Absent(Kind),
}
