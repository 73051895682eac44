//! Names, labels and well-known constants shared by every owned object.

use std::collections::BTreeMap;

/// The field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "verdict-operator";
/// The namespace the operator installs into (and puts namespaced owned objects in) by default.
pub const DEFAULT_NAMESPACE: &str = "kube-verdict-system";
/// The agent's Prometheus port (`--metrics-addr`).
pub const METRICS_PORT: i32 = 9090;
/// The agent's health port (`--health-addr`): `/healthz` and `/readyz`.
pub const HEALTH_PORT: i32 = 9091;
/// The agent container's name in the DaemonSet.
pub const AGENT_CONTAINER: &str = "agent";

/// Label keys.
pub mod labels {
    /// `verdict-agent` on every owned object.
    pub const NAME: &str = "app.kubernetes.io/name";
    /// The enforcer's name.
    pub const INSTANCE: &str = "app.kubernetes.io/instance";
    /// `verdict-operator`.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// `kube-verdict`.
    pub const PART_OF: &str = "app.kubernetes.io/part-of";
}

/// The name of every object owned by the enforcer `enforcer`.
pub fn owned_name(enforcer: &str) -> String {
    format!("verdict-agent-{enforcer}")
}

/// Labels that select the agent pods of one enforcer (the DaemonSet's immutable selector).
pub fn selector_labels(enforcer: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_owned(), "verdict-agent".to_owned()),
        (labels::INSTANCE.to_owned(), enforcer.to_owned()),
    ])
}

/// Labels on every owned object: the selector labels plus ownership markers.
pub fn common_labels(enforcer: &str) -> BTreeMap<String, String> {
    let mut labels = selector_labels(enforcer);
    labels.insert(labels::MANAGED_BY.to_owned(), FIELD_MANAGER.to_owned());
    labels.insert(labels::PART_OF.to_owned(), "kube-verdict".to_owned());
    labels
}

/// The label selector the operator's DaemonSet watch uses.
pub fn managed_selector() -> String {
    format!("{}={FIELD_MANAGER}", labels::MANAGED_BY)
}
