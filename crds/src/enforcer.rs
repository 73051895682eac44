//! `verdict.dev/v1alpha1` NetworkPolicyEnforcer: one per set of nodes, it asks the operator to run
//! `verdict-agent` on every node its `nodeSelector` matches.
//!
//! ```text
//!   NetworkPolicyEnforcerSpec ──► operator ──► DaemonSet args/env (agent flag contract)
//!   DaemonSet status          ──► operator ──► NetworkPolicyEnforcerStatus (conditions, counts)
//! ```
//!
//! Validation lives in the schema: ranges and enums through schemars, and CEL rules
//! (`x-kubernetes-validations`) for what a plain schema can't say, so that `kubectl apply` rejects
//! a bad object with a message that names the field.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of the NetworkPolicyEnforcer.
pub const ENFORCER_GROUP: &str = "verdict.dev";

/// The agent image used when `spec.agent.image` is not set.
pub const DEFAULT_AGENT_IMAGE: &str = concat!(
    "ghcr.io/kube-verdict/verdict-agent:",
    env!("CARGO_PKG_VERSION")
);

/// The longest NetworkPolicyEnforcer name: owned objects are called `verdict-agent-<name>` and the
/// name is also a label value (63 characters at most).
pub const MAX_ENFORCER_NAME_LEN: usize = 40;

/// Run kube-verdict's agent on a set of nodes, and report whether enforcement is ready there.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "verdict.dev",
    version = "v1alpha1",
    kind = "NetworkPolicyEnforcer",
    plural = "networkpolicyenforcers",
    singular = "networkpolicyenforcer",
    shortname = "npe",
    category = "verdict",
    doc = "NetworkPolicyEnforcer runs kube-verdict's agent (NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy enforcement) on the nodes its spec.nodeSelector matches, and reports per-node readiness in its status.",
    status = "NetworkPolicyEnforcerStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.desiredNodes"}"#,
    printcolumn = r#"{"name":"Ready Nodes","type":"integer","jsonPath":".status.readyNodes"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Image","type":"string","priority":1,"jsonPath":".status.agentImage"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.size() <= 40").message("metadata.name must be at most 40 characters: owned objects are named verdict-agent-<name>"),
)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyEnforcerSpec {
    /// Run the agent only on nodes with all of these labels (empty: every node). Two enforcers
    /// whose selectors can match the same node conflict; the newer one is not rolled out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations for the agent pods, so that the agent can run on tainted nodes (control plane).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// The agent container.
    #[serde(default)]
    pub agent: AgentSpec,
    /// How packets are judged.
    #[serde(default)]
    pub enforcement: EnforcementSpec,
    /// Which policy evaluators run.
    #[serde(default)]
    pub policies: PoliciesSpec,
    /// Decision spans over OTLP.
    #[serde(default)]
    pub tracing: TracingSpec,
    /// The agent's live dashboard.
    #[serde(default)]
    pub dashboard: DashboardSpec,
    /// The agent's tracing filter, e.g. `info` or `info,verdict_agent=debug`.
    #[serde(default = "default_log_level")]
    #[schemars(length(min = 1, max = 256), regex(pattern = r"^[A-Za-z0-9_:=,.\-]+$"))]
    pub log_level: String,
}

fn default_log_level() -> String {
    "info".to_owned()
}

/// The agent container of the DaemonSet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentSpec {
    /// The agent image.
    #[serde(default = "default_agent_image")]
    #[schemars(length(min = 1, max = 512))]
    pub image: String,
    /// When the kubelet pulls the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// CPU and memory for the agent container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl Default for AgentSpec {
    fn default() -> Self {
        Self {
            image: default_agent_image(),
            image_pull_policy: None,
            resources: None,
        }
    }
}

fn default_agent_image() -> String {
    DEFAULT_AGENT_IMAGE.to_owned()
}

/// The container image pull policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ImagePullPolicy {
    /// Pull on every start.
    Always,
    /// Pull when the image is not on the node.
    IfNotPresent,
    /// Never pull.
    Never,
}

impl ImagePullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// How the agent judges packets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnforcementSpec {
    /// When no verdict can be had (agent down, queue full), let packets through instead of
    /// dropping them.
    #[serde(default = "yes")]
    pub fail_open: bool,
    /// Delete conntrack entries of connections that a policy change newly denies.
    #[serde(default)]
    pub strict_mode: bool,
    /// The NFQUEUE numbers the agent binds.
    #[serde(default)]
    pub queues: QueuesSpec,
}

impl Default for EnforcementSpec {
    fn default() -> Self {
        Self {
            fail_open: true,
            strict_mode: false,
            queues: QueuesSpec::default(),
        }
    }
}

fn yes() -> bool {
    true
}

/// NFQUEUE numbers: `base` to `base + count - 1`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.count) || self.base + self.count <= 65536",
    "message": "queues.base + queues.count must be at most 65536 (NFQUEUE numbers are 16 bits)"
}]))]
pub struct QueuesSpec {
    /// The first queue number.
    #[serde(default = "default_queue_base")]
    #[schemars(range(min = 0, max = 65535))]
    pub base: u32,
    /// How many queues (one verdict thread each); unset means one per CPU, at most 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16))]
    pub count: Option<u32>,
}

impl Default for QueuesSpec {
    fn default() -> Self {
        Self {
            base: default_queue_base(),
            count: None,
        }
    }
}

fn default_queue_base() -> u32 {
    100
}

/// Which evaluators run. At least one must be on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.networkPolicy || self.adminNetworkPolicy || self.baselineAdminNetworkPolicy",
    "message": "policies: enable at least one of networkPolicy, adminNetworkPolicy, baselineAdminNetworkPolicy"
}]))]
pub struct PoliciesSpec {
    /// `networking.k8s.io/v1` NetworkPolicy.
    #[serde(default = "yes")]
    pub network_policy: bool,
    /// `policy.networking.k8s.io/v1alpha1` AdminNetworkPolicy.
    #[serde(default = "yes")]
    pub admin_network_policy: bool,
    /// `policy.networking.k8s.io/v1alpha1` BaselineAdminNetworkPolicy.
    #[serde(default = "yes")]
    pub baseline_admin_network_policy: bool,
}

impl Default for PoliciesSpec {
    fn default() -> Self {
        Self {
            network_policy: true,
            admin_network_policy: true,
            baseline_admin_network_policy: true,
        }
    }
}

impl PoliciesSpec {
    /// The agent's `--policies` value: the enabled evaluators, in evaluation order.
    pub fn agent_flag(&self) -> String {
        [
            (self.admin_network_policy, "admin-network-policy"),
            (self.network_policy, "network-policy"),
            (
                self.baseline_admin_network_policy,
                "baseline-admin-network-policy",
            ),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
    }
}

/// Decision spans exported over OTLP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.otlpEndpoint) || self.otlpEndpoint.startsWith('http://') || self.otlpEndpoint.startsWith('https://')",
    "message": "tracing.otlpEndpoint must be an http:// or https:// URL, e.g. http://jaeger-collector.observability:4317"
}]))]
pub struct TracingSpec {
    /// The OTLP gRPC endpoint; unset turns span export off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub otlp_endpoint: Option<String>,
    /// The fraction of allow decisions exported as spans, 0 to 1.
    #[serde(default = "default_allow_sample_rate")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub allow_sample_rate: f64,
    /// Export every deny, whatever `allowSampleRate` says.
    #[serde(default = "yes")]
    pub always_sample_denies: bool,
}

impl Default for TracingSpec {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            allow_sample_rate: default_allow_sample_rate(),
            always_sample_denies: true,
        }
    }
}

fn default_allow_sample_rate() -> f64 {
    1.0
}

/// The agent's live dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.port != 9090 && self.port != 9091",
    "message": "dashboard.port must not be 9090 or 9091: the agent serves metrics and health there"
}]))]
pub struct DashboardSpec {
    /// Serve the dashboard on every node (host network) and through the Service.
    #[serde(default)]
    pub enabled: bool,
    /// The dashboard port.
    #[serde(default = "default_dashboard_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
}

impl Default for DashboardSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            port: default_dashboard_port(),
        }
    }
}

fn default_dashboard_port() -> u16 {
    9092
}

/// Where the generated CRD is committed, relative to the workspace root.
pub const ENFORCER_CRD_PATH: &str = "manifests/crds/verdict.dev_networkpolicyenforcers.yaml";

/// The NetworkPolicyEnforcer CRD as the YAML committed under [`ENFORCER_CRD_PATH`].
///
/// # Errors
/// Fails only if the CRD cannot be serialised, which would be a bug in the types.
pub fn enforcer_crd_yaml() -> Result<String, serde_norway::Error> {
    use kube::CustomResourceExt;
    let body = serde_norway::to_string(&NetworkPolicyEnforcer::crd())?;
    Ok(format!(
        "# Generated by `cargo run -p verdict-crds --bin crdgen`; do not edit by hand.\n{body}"
    ))
}

/// What the operator observed. `kubectl get npe` shows the Ready condition and the node counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyEnforcerStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing` and `Degraded`, each with a reason and a message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Nodes that should run the agent.
    #[serde(default)]
    pub desired_nodes: i32,
    /// Nodes whose agent is ready.
    #[serde(default)]
    pub ready_nodes: i32,
    /// Nodes running the agent of the current spec.
    #[serde(default)]
    pub updated_nodes: i32,
    /// The agent image the DaemonSet runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_image: Option<String>,
}

/// Condition types and reasons, shared by the operator and its tests.
pub mod conditions {
    /// Enforcement is running on every desired node with the current spec.
    pub const READY: &str = "Ready";
    /// A rollout is under way.
    pub const PROGRESSING: &str = "Progressing";
    /// The enforcer cannot do what it is asked.
    pub const DEGRADED: &str = "Degraded";

    /// Every desired node runs a ready agent of the current spec.
    pub const REASON_ROLLED_OUT: &str = "RolledOut";
    /// The DaemonSet is rolling out.
    pub const REASON_ROLLING_OUT: &str = "RollingOut";
    /// Another enforcer's node selector overlaps this one's.
    pub const REASON_CONFLICT: &str = "Conflict";
    /// Applying an owned object failed.
    pub const REASON_APPLY_FAILED: &str = "ApplyFailed";
    /// Nothing is wrong.
    pub const REASON_AS_EXPECTED: &str = "AsExpected";
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn empty_spec_takes_the_documented_defaults() {
        let spec: NetworkPolicyEnforcerSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec.agent.image, DEFAULT_AGENT_IMAGE);
        assert!(spec.enforcement.fail_open);
        assert!(!spec.enforcement.strict_mode);
        assert_eq!(spec.enforcement.queues.base, 100);
        assert_eq!(spec.enforcement.queues.count, None);
        assert_eq!(spec.tracing.allow_sample_rate, 1.0);
        assert!(spec.tracing.always_sample_denies);
        assert!(!spec.dashboard.enabled);
        assert_eq!(spec.log_level, "info");
        assert_eq!(
            spec.policies.agent_flag(),
            "admin-network-policy,network-policy,baseline-admin-network-policy"
        );
    }

    #[test]
    fn policies_flag_lists_only_enabled_evaluators() {
        let cases = [
            ("only NP", (true, false, false), "network-policy"),
            ("only ANP", (false, true, false), "admin-network-policy"),
            (
                "ANP and BANP",
                (false, true, true),
                "admin-network-policy,baseline-admin-network-policy",
            ),
        ];
        for (name, (np, anp, banp), want) in cases {
            let p = PoliciesSpec {
                network_policy: np,
                admin_network_policy: anp,
                baseline_admin_network_policy: banp,
            };
            assert_eq!(p.agent_flag(), want, "{name}");
        }
    }

    #[test]
    fn crd_carries_names_columns_and_cel_rules() {
        let crd = NetworkPolicyEnforcer::crd();
        assert_eq!(crd.spec.scope, "Cluster");
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&["npe".to_owned()][..])
        );
        let json = serde_json::to_string(&crd).unwrap();
        for needle in [
            "x-kubernetes-validations",
            "self.base + self.count <= 65536",
            "self.networkPolicy || self.adminNetworkPolicy",
            "self.metadata.name.size() <= 40",
            "\"Ready Nodes\"",
        ] {
            assert!(json.contains(needle), "CRD lacks {needle}");
        }
    }
}
