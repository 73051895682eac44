//! `policy.networking.k8s.io` ClusterNetworkPolicy, field for field as in network-policy-api
//! v0.3.0 (`apis/v1beta1`, the storage version; `apis/v1alpha2` is served with the same schema).
//!
//! ```text
//!   YAML/JSON of v1beta1 ─────────────► ClusterNetworkPolicy            (the engine reads this)
//!   YAML/JSON of v1alpha2 ─► v1alpha2::ClusterNetworkPolicy ─► From ──┘ (same spec and status)
//! ```
//!
//! Both versions deserialize from either `apiVersion` (serde ignores it); the separate
//! [`v1alpha2::ClusterNetworkPolicy`] exists so a client can watch the v1alpha2 endpoint on an
//! API server that serves only that version. Optional upstream strings that are `omitempty`
//! (`name`, `destinationNamedPort`) are `Option<String>` here; upstream lists that are
//! `omitempty` are empty `Vec`s.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::admin_network_policy::NamespacedPod;

/// The spec of a ClusterNetworkPolicy: cluster-wide rules in the Admin tier (before
/// NetworkPolicy) or the Baseline tier (after it).
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "policy.networking.k8s.io",
    version = "v1beta1",
    kind = "ClusterNetworkPolicy",
    plural = "clusternetworkpolicies",
    shortname = "cnp",
    status = "ClusterNetworkPolicyStatus",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicySpec {
    /// `Admin` (evaluated before NetworkPolicy) or `Baseline` (after it).
    pub tier: ClusterNetworkPolicyTier,
    /// 0 to 1000; lower numbers are evaluated first within the tier.
    pub priority: i32,
    /// The pods this policy applies to.
    pub subject: ClusterNetworkPolicySubject,
    /// Rules for traffic to the subject, evaluated in order (at most 25).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<ClusterNetworkPolicyIngressRule>,
    /// Rules for traffic from the subject, evaluated in order (at most 25).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<ClusterNetworkPolicyEgressRule>,
}

/// The tier a ClusterNetworkPolicy belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ClusterNetworkPolicyTier {
    /// Before NetworkPolicy: an Accept or Deny here is final.
    Admin,
    /// After NetworkPolicy, for pods no NetworkPolicy isolates.
    Baseline,
}

/// Status of a ClusterNetworkPolicy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterNetworkPolicyStatus {
    /// Conditions reported by implementations (a map keyed by `type`).
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// Exactly one of `namespaces` or `pods`. hostNetwork pods are never subjects.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicySubject {
    /// Every pod in the selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// Pods selected by both selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
}

/// A ClusterNetworkPolicy rule action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ClusterNetworkPolicyRuleAction {
    /// Accept the traffic; no further rule of this direction is consulted.
    Accept,
    /// Drop the traffic; no further rule is consulted.
    Deny,
    /// Skip the rest of this tier; the next tier decides.
    Pass,
}

/// An ingress rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyIngressRule {
    /// Optional name, up to 100 characters; reported in attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What to do with matching traffic.
    pub action: ClusterNetworkPolicyRuleAction,
    /// Sources (1 to 25); the rule matches if any peer does.
    pub from: Vec<ClusterNetworkPolicyIngressPeer>,
    /// Protocol matches (1 to 25 when present); absent means every protocol and port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<ClusterNetworkPolicyProtocol>>,
}

/// An egress rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyEgressRule {
    /// Optional name, up to 100 characters; reported in attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What to do with matching traffic.
    pub action: ClusterNetworkPolicyRuleAction,
    /// Destinations (1 to 25); the rule matches if any peer does.
    pub to: Vec<ClusterNetworkPolicyEgressPeer>,
    /// Protocol matches (1 to 25 when present); absent means every protocol and port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<ClusterNetworkPolicyProtocol>>,
}

/// A source of ingress traffic: exactly one field is set. A peer with none set (a newer CRD
/// than this code) fails closed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyIngressPeer {
    /// Every (non-hostNetwork) pod in the selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// (Non-hostNetwork) pods selected by both selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
}

/// A destination of egress traffic: exactly one field is set. A peer with none set fails
/// closed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyEgressPeer {
    /// Every (non-hostNetwork) pod in the selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// (Non-hostNetwork) pods selected by both selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
    /// Nodes by label: their `status.addresses` (experimental channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<LabelSelector>,
    /// CIDRs (1 to 25, masked), matching any address in them, pod addresses included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// Domain names (1 to 25), exact or `*.` wildcard; Accept rules only (experimental).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domain_names: Vec<String>,
}

/// One protocol match: exactly one field is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyProtocol {
    /// TCP, optionally on a destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<ClusterNetworkPolicyProtocolPort>,
    /// UDP, optionally on a destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<ClusterNetworkPolicyProtocolPort>,
    /// SCTP, optionally on a destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sctp: Option<ClusterNetworkPolicyProtocolPort>,
    /// A container port name on the destination pod, any protocol (experimental channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_named_port: Option<String>,
}

/// The attributes a TCP, UDP or SCTP match can have (upstream has one struct per protocol with
/// the same single field; one shared struct keeps the same JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyProtocolPort {
    /// The destination port; upstream requires it (`minProperties: 1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<ClusterNetworkPolicyPort>,
}

/// A port number or a range: exactly one is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyPort {
    /// One port, 1 to 65535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<i32>,
    /// An inclusive range with `start < end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ClusterNetworkPolicyPortRange>,
}

/// An inclusive port range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyPortRange {
    /// First port, 1 to 65535, less than `end`.
    pub start: i32,
    /// Last port, 1 to 65535.
    pub end: i32,
}

/// `policy.networking.k8s.io/v1alpha2`: the same schema, served by v0.3.0 CRDs next to
/// v1beta1. Convert with `From` to the v1beta1 type the engine reads.
pub mod v1alpha2 {
    use kube::CustomResource;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// The v1beta1 spec under the v1alpha2 `apiVersion`.
    #[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[kube(
        group = "policy.networking.k8s.io",
        version = "v1alpha2",
        kind = "ClusterNetworkPolicy",
        plural = "clusternetworkpolicies",
        shortname = "cnp",
        status = "super::ClusterNetworkPolicyStatus",
        derive = "PartialEq"
    )]
    pub struct ClusterNetworkPolicySpec {
        /// Every field, as in v1beta1.
        #[serde(flatten)]
        pub spec: super::ClusterNetworkPolicySpec,
    }

    impl From<ClusterNetworkPolicy> for super::ClusterNetworkPolicy {
        fn from(cnp: ClusterNetworkPolicy) -> Self {
            super::ClusterNetworkPolicy {
                metadata: cnp.metadata,
                spec: cnp.spec.spec,
                status: cnp.status,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    /// An Admin-tier policy with every peer and protocol shape of the experimental channel.
    const ADMIN: &str = r#"
apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: egress-everything
spec:
  tier: Admin
  priority: 3
  subject:
    pods:
      namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: network-policy-conformance-gryffindor
      podSelector:
        matchLabels:
          statefulset.kubernetes.io/pod-name: harry-potter-0
  ingress:
  - name: "accept-from-ravenclaw"
    action: "Accept"
    from:
    - namespaces:
        matchLabels:
          conformance-house: ravenclaw
    protocols:
    - destinationNamedPort: web
  egress:
  - name: "deny-to-slytherin-at-port-80-and-range"
    action: "Deny"
    to:
    - pods:
        namespaceSelector: {}
        podSelector:
          matchLabels:
            conformance-house: slytherin
    protocols:
    - tcp:
        destinationPort:
          number: 80
    - udp:
        destinationPort:
          range:
            start: 5000
            end: 6000
    - sctp: {}
  - name: "pass-to-nodes"
    action: "Pass"
    to:
    - nodes:
        matchExpressions:
        - key: kubernetes.io/os
          operator: In
          values: ["linux"]
  - action: "Accept"
    to:
    - networks: ["10.0.0.0/8", "fd00::/8"]
  - name: "domains"
    action: "Accept"
    to:
    - domainNames: ["kubernetes.io", "*.kubernetes.io"]
"#;

    /// The upstream Baseline-tier sample (base/baseline_tier/standard-egress-tcp-rules.yaml,
    /// trimmed), under v1alpha2.
    const BASELINE_V1ALPHA2: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata:
  name: default
spec:
  tier: Baseline
  priority: 10
  subject:
    namespaces:
      matchLabels:
          kubernetes.io/metadata.name: network-policy-conformance-gryffindor
  egress:
  - name: "allow-to-ravenclaw-everything"
    action: "Accept"
    to:
    - namespaces:
        matchLabels:
          kubernetes.io/metadata.name: network-policy-conformance-ravenclaw
status:
  conditions: []
"#;

    fn json(v: &impl Serialize) -> serde_json::Value {
        serde_json::to_value(v).expect("serializes")
    }

    #[test]
    fn round_trips_upstream_yaml() {
        let cases = [
            ("admin, v1beta1", ADMIN),
            ("baseline, v1alpha2", BASELINE_V1ALPHA2),
        ];
        for (name, yaml) in cases {
            let original: serde_json::Value = serde_norway::from_str(yaml).expect(name);
            let cnp: ClusterNetworkPolicy = serde_norway::from_str(yaml).expect(name);
            let mut back = json(&cnp);
            // Serializing writes this type's apiVersion; everything else must be unchanged.
            back["apiVersion"] = original["apiVersion"].clone();
            assert_eq!(back, original, "case {name:?}");
            let again: ClusterNetworkPolicy =
                serde_json::from_value(json(&cnp)).expect("reads its own output");
            assert_eq!(again, cnp, "case {name:?}");
        }
    }

    #[test]
    fn reads_every_field() {
        let cnp: ClusterNetworkPolicy = serde_norway::from_str(ADMIN).unwrap();
        let spec = &cnp.spec;
        assert_eq!(spec.tier, ClusterNetworkPolicyTier::Admin);
        assert_eq!(spec.priority, 3);
        assert!(spec.subject.pods.is_some() && spec.subject.namespaces.is_none());
        let named = spec.ingress[0].protocols.as_ref().unwrap();
        assert_eq!(named[0].destination_named_port.as_deref(), Some("web"));
        let deny = &spec.egress[0];
        assert_eq!(deny.action, ClusterNetworkPolicyRuleAction::Deny);
        let protocols = deny.protocols.as_ref().unwrap();
        let tcp = protocols[0].tcp.as_ref().unwrap();
        assert_eq!(tcp.destination_port.as_ref().unwrap().number, Some(80));
        let udp = protocols[1].udp.as_ref().unwrap();
        let range = udp
            .destination_port
            .as_ref()
            .unwrap()
            .range
            .as_ref()
            .unwrap();
        assert_eq!((range.start, range.end), (5000, 6000));
        assert_eq!(
            protocols[2].sctp,
            Some(ClusterNetworkPolicyProtocolPort::default())
        );
        assert_eq!(spec.egress[1].action, ClusterNetworkPolicyRuleAction::Pass);
        assert!(spec.egress[1].to[0].nodes.is_some());
        assert_eq!(spec.egress[2].name, None);
        assert_eq!(spec.egress[2].to[0].networks, ["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(
            spec.egress[3].to[0].domain_names,
            ["kubernetes.io", "*.kubernetes.io"]
        );
    }

    #[test]
    fn v1alpha2_has_the_same_schema_under_its_own_api_version() {
        let alpha: v1alpha2::ClusterNetworkPolicy =
            serde_norway::from_str(BASELINE_V1ALPHA2).unwrap();
        assert_eq!(
            v1alpha2::ClusterNetworkPolicy::api_version(&()),
            "policy.networking.k8s.io/v1alpha2"
        );
        assert_eq!(
            ClusterNetworkPolicy::api_version(&()),
            "policy.networking.k8s.io/v1beta1"
        );
        let direct: ClusterNetworkPolicy = serde_norway::from_str(BASELINE_V1ALPHA2).unwrap();
        let converted = ClusterNetworkPolicy::from(alpha.clone());
        assert_eq!(converted, direct);
        assert_eq!(
            json(&alpha)["apiVersion"],
            "policy.networking.k8s.io/v1alpha2"
        );
        assert_eq!(json(&alpha)["spec"]["tier"], "Baseline");
    }

    #[test]
    fn rejects_unknown_enum_values() {
        let cases = [
            (
                "unknown tier",
                ADMIN.replace("tier: Admin", "tier: Developer"),
            ),
            (
                "v1alpha1 action",
                ADMIN.replace("action: \"Deny\"", "action: \"Allow\""),
            ),
        ];
        for (name, yaml) in cases {
            assert!(
                serde_norway::from_str::<ClusterNetworkPolicy>(&yaml).is_err(),
                "case {name:?}"
            );
        }
    }
}
