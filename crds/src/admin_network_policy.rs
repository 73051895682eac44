//! `policy.networking.k8s.io/v1alpha1` AdminNetworkPolicy and BaselineAdminNetworkPolicy, field
//! for field as in network-policy-api v0.1.7 (`apis/v1alpha1`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The spec of an AdminNetworkPolicy: cluster-wide rules that take precedence over
/// NetworkPolicy.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.networking.k8s.io",
    version = "v1alpha1",
    kind = "AdminNetworkPolicy",
    plural = "adminnetworkpolicies",
    shortname = "anp",
    status = "AdminNetworkPolicyStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct AdminNetworkPolicySpec {
    /// 0 to 1000; lower numbers are evaluated first.
    pub priority: i32,
    /// The pods this policy applies to.
    pub subject: AdminNetworkPolicySubject,
    /// Rules for traffic to the subject, evaluated in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<AdminNetworkPolicyIngressRule>,
    /// Rules for traffic from the subject, evaluated in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<AdminNetworkPolicyEgressRule>,
}

/// Status of an AdminNetworkPolicy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AdminNetworkPolicyStatus {
    /// Conditions reported by implementations.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// Exactly one of `namespaces` or `pods`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminNetworkPolicySubject {
    /// Every pod in the selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// Pods selected by both selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
}

/// Pods selected by a namespace selector and a pod selector together.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedPod {
    /// Selects namespaces; absent selects every namespace (optional in v0.3.0's
    /// ClusterNetworkPolicy, required in v1alpha1, where it is always written).
    #[serde(default)]
    pub namespace_selector: LabelSelector,
    /// Selects pods within those namespaces.
    pub pod_selector: LabelSelector,
}

/// An ANP rule action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AdminNetworkPolicyRuleAction {
    /// Allow the traffic; lower tiers are not consulted.
    Allow,
    /// Deny the traffic; lower tiers are not consulted.
    Deny,
    /// Skip the remaining ANP rules; NetworkPolicy, then BANP, decide.
    Pass,
}

/// An ingress rule of an AdminNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminNetworkPolicyIngressRule {
    /// Optional name, up to 100 characters; reported in attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What to do with matching traffic.
    pub action: AdminNetworkPolicyRuleAction,
    /// Sources; the rule matches if any peer does.
    pub from: Vec<AdminNetworkPolicyIngressPeer>,
    /// Destination ports on the subject; absent means all ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<AdminNetworkPolicyPort>>,
}

/// An egress rule of an AdminNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminNetworkPolicyEgressRule {
    /// Optional name, up to 100 characters; reported in attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What to do with matching traffic.
    pub action: AdminNetworkPolicyRuleAction,
    /// Destinations; the rule matches if any peer does.
    pub to: Vec<AdminNetworkPolicyEgressPeer>,
    /// Destination ports; absent means all ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<AdminNetworkPolicyPort>>,
}

/// A source of ingress traffic: exactly one field is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminNetworkPolicyIngressPeer {
    /// Every pod in the selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// Pods selected by both selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
}

/// A destination of egress traffic: exactly one field is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminNetworkPolicyEgressPeer {
    /// Every pod in the selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// Pods selected by both selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
    /// Nodes (their addresses) selected by label. Experimental upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<LabelSelector>,
    /// CIDRs, up to 25. Experimental upstream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// DNS names. Experimental upstream; kube-verdict does not resolve them, so such a peer
    /// matches nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domain_names: Vec<String>,
}

/// Exactly one of the three fields is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminNetworkPolicyPort {
    /// One port and protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_number: Option<PortNumber>,
    /// A container port name, resolved on the destination pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_port: Option<String>,
    /// An inclusive range of ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_range: Option<PortRange>,
}

/// A port and protocol (upstream type `Port`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortNumber {
    /// TCP, UDP or SCTP; upstream defaults it to TCP (`+kubebuilder:default=TCP`).
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// 1 to 65535.
    pub port: i32,
}

fn default_protocol() -> String {
    "TCP".to_string()
}

/// An inclusive port range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortRange {
    /// TCP, UDP or SCTP; TCP when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// First port.
    pub start: i32,
    /// Last port, at least `start`.
    pub end: i32,
}

/// The spec of the cluster's single BaselineAdminNetworkPolicy (named `default`): rules
/// consulted only when neither ANP nor NetworkPolicy decided.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.networking.k8s.io",
    version = "v1alpha1",
    kind = "BaselineAdminNetworkPolicy",
    plural = "baselineadminnetworkpolicies",
    shortname = "banp",
    status = "BaselineAdminNetworkPolicyStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct BaselineAdminNetworkPolicySpec {
    /// The pods this policy applies to.
    pub subject: AdminNetworkPolicySubject,
    /// Rules for traffic to the subject, evaluated in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<BaselineAdminNetworkPolicyIngressRule>,
    /// Rules for traffic from the subject, evaluated in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<BaselineAdminNetworkPolicyEgressRule>,
}

/// Status of a BaselineAdminNetworkPolicy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BaselineAdminNetworkPolicyStatus {
    /// Conditions reported by implementations.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A BANP rule action (no `Pass`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BaselineAdminNetworkPolicyRuleAction {
    /// Allow the traffic.
    Allow,
    /// Deny the traffic.
    Deny,
}

/// An ingress rule of the BaselineAdminNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaselineAdminNetworkPolicyIngressRule {
    /// Optional name; reported in attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What to do with matching traffic.
    pub action: BaselineAdminNetworkPolicyRuleAction,
    /// Sources; the rule matches if any peer does.
    pub from: Vec<AdminNetworkPolicyIngressPeer>,
    /// Destination ports on the subject; absent means all ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<AdminNetworkPolicyPort>>,
}

/// An egress rule of the BaselineAdminNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaselineAdminNetworkPolicyEgressRule {
    /// Optional name; reported in attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What to do with matching traffic.
    pub action: BaselineAdminNetworkPolicyRuleAction,
    /// Destinations; the rule matches if any peer does.
    pub to: Vec<BaselineAdminNetworkPolicyEgressPeer>,
    /// Destination ports; absent means all ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<AdminNetworkPolicyPort>>,
}

/// A destination of BANP egress traffic: exactly one field is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaselineAdminNetworkPolicyEgressPeer {
    /// Every pod in the selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// Pods selected by both selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
    /// Nodes selected by label. Experimental upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<LabelSelector>,
    /// CIDRs. Experimental upstream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_number_protocol_defaults_to_tcp_as_upstream() {
        let cases = [
            ("absent", r#"{"port": 80}"#, "TCP"),
            ("given", r#"{"port": 53, "protocol": "UDP"}"#, "UDP"),
        ];
        for (name, json, want) in cases {
            let port: PortNumber = serde_json::from_str(json).expect(name);
            assert_eq!(port.protocol, want, "case {name:?}");
        }
    }
}
