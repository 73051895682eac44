//! The policy catalog: which policies the index holds, their rules, and which pods of a node
//! they select. The dashboard's policies view reads it to show every rule next to its hit
//! count, so that rules which never match stand out.
//!
//! ```text
//!  Index (compiled NetworkPolicies, ANPs in order, the BANP, pods by node)
//!     ├── Index::policies()          ─► [PolicyInfo { policy, priority, ingress/egress rules }]
//!     └── Index::selected_pods(node) ─► PolicyRef → the node's pods it selects
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::admin_policy::{Action, AdminPolicy};
use crate::decision::{Direction, PolicyKind, PolicyRef, RuleRef};
use crate::index::Index;

/// What a rule does when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Admits the traffic (every NetworkPolicy rule).
    Allow,
    /// Drops the traffic (ANP/BANP).
    Deny,
    /// Hands the decision to the lower tiers (ANP only).
    Pass,
}

/// One rule of a policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// Its index and, for ANP/BANP, its name: the same [`RuleRef`] a decision names.
    pub rule: RuleRef,
    /// What it does.
    pub action: RuleAction,
}

/// One policy, as the index compiled it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    /// The policy.
    pub policy: PolicyRef,
    /// The ANP priority (lower is evaluated first); `None` for other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// The ingress rules; `None` when the policy does not govern ingress (a NetworkPolicy
    /// without `Ingress` in its policyTypes).
    pub ingress: Option<Vec<RuleInfo>>,
    /// The egress rules, the same way.
    pub egress: Option<Vec<RuleInfo>>,
}

fn action(a: Action) -> RuleAction {
    match a {
        Action::Allow => RuleAction::Allow,
        Action::Deny => RuleAction::Deny,
        Action::Pass => RuleAction::Pass,
    }
}

fn admin_info(p: &AdminPolicy, priority: Option<i32>) -> PolicyInfo {
    let rules = |direction| {
        Some(
            p.rules(direction)
                .map(|(rule, a)| RuleInfo {
                    rule: rule.clone(),
                    action: action(a),
                })
                .collect(),
        )
    };
    PolicyInfo {
        policy: p.reference.clone(),
        priority,
        ingress: rules(Direction::Ingress),
        egress: rules(Direction::Egress),
    }
}

impl Index {
    /// Every policy in the index: the Admin tier (AdminNetworkPolicies and Admin-tier
    /// ClusterNetworkPolicies) in evaluation order, then NetworkPolicies by namespace and name,
    /// then the Baseline tier (Baseline-tier ClusterNetworkPolicies, then the
    /// BaselineAdminNetworkPolicy) in evaluation order.
    pub fn policies(&self) -> Vec<PolicyInfo> {
        let (admin, baseline) = self.admin_records();
        let mut out: Vec<PolicyInfo> = admin
            .iter()
            .map(|p| admin_info(p, Some(p.priority)))
            .collect();
        for np in self.network_policy_records() {
            let rules = |list: &Option<Box<[crate::network_policy::Rule]>>| {
                list.as_ref().map(|rules| {
                    (0..rules.len())
                        .map(|index| RuleInfo {
                            rule: RuleRef { index, name: None },
                            action: RuleAction::Allow,
                        })
                        .collect()
                })
            };
            out.push(PolicyInfo {
                policy: np.reference.clone(),
                priority: None,
                ingress: rules(&np.ingress),
                egress: rules(&np.egress),
            });
        }
        out.extend(baseline.iter().map(|b| {
            let priority =
                (b.reference.kind != PolicyKind::BaselineAdminNetworkPolicy).then_some(b.priority);
            admin_info(b, priority)
        }));
        out
    }

    /// For each policy that selects at least one pod scheduled on `node`, those pods as
    /// `namespace/name`, sorted. hostNetwork pods are never selected.
    pub fn selected_pods(&self, node: &str) -> BTreeMap<PolicyRef, Vec<String>> {
        let mut out: BTreeMap<PolicyRef, Vec<String>> = BTreeMap::new();
        for pod in self.pods_on_node(node) {
            let name = format!("{}/{}", pod.namespace, pod.name);
            let refs = pod
                .np_ingress
                .iter()
                .chain(pod.np_egress.iter())
                .map(|p| &p.reference)
                .chain(pod.admin.iter().map(|p| &p.reference))
                .chain(pod.baseline.iter().map(|p| &p.reference));
            for policy in refs {
                let pods = out.entry(policy.clone()).or_default();
                if !pods.contains(&name) {
                    pods.push(name.clone());
                }
            }
        }
        for pods in out.values_mut() {
            pods.sort();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use pretty_assertions::assert_eq;

    fn rule(index: usize, name: Option<&str>, action: RuleAction) -> RuleInfo {
        RuleInfo {
            rule: RuleRef {
                index,
                name: name.map(Into::into),
            },
            action,
        }
    }

    fn cluster() -> Index {
        index_of([
            namespace("x").into(),
            namespace("y").into(),
            pod("x", "a")
                .labels([("app", "a")])
                .ip("10.0.0.1")
                .node("n1")
                .into(),
            pod("x", "b")
                .labels([("app", "b")])
                .ip("10.0.0.2")
                .node("n2")
                .into(),
            pod("y", "c").ip("10.0.0.3").node("n1").into(),
            pod("y", "h")
                .ip("192.168.0.1")
                .node("n1")
                .host_network()
                .into(),
            netpol("x", "deny-all").into(),
            netpol("x", "allow-a")
                .pod_selector(sel([("app", "a")]))
                .policy_types(&["Ingress", "Egress"])
                .ingress(np_rule().pods(sel([("app", "b")])))
                .ingress(np_rule().port(80, None))
                .into(),
            anp("lockdown", 5)
                .egress(
                    admin_rule("Deny")
                        .name("no-y")
                        .peer(peer_namespaces(sel([]))),
                )
                .ingress(
                    admin_rule("Pass")
                        .name("delegate")
                        .peer(peer_namespaces(sel([]))),
                )
                .into(),
            banp()
                .ingress(
                    admin_rule("Deny")
                        .name("deny-all")
                        .peer(peer_namespaces(sel([]))),
                )
                .into(),
        ])
    }

    #[test]
    fn lists_every_policy_with_its_rules_in_evaluation_order() {
        let index = cluster();
        let policies = index.policies();
        let names: Vec<String> = policies.iter().map(|p| p.policy.to_string()).collect();
        assert_eq!(
            names,
            [
                "lockdown (AdminNetworkPolicy)",
                "x/allow-a (NetworkPolicy)",
                "x/deny-all (NetworkPolicy)",
                "default (BaselineAdminNetworkPolicy)",
            ]
        );
        let cases = [
            (
                "anp keeps names, actions and priority",
                &policies[0],
                Some(5),
                Some(vec![rule(0, Some("delegate"), RuleAction::Pass)]),
                Some(vec![rule(0, Some("no-y"), RuleAction::Deny)]),
            ),
            (
                "network policy rules are allows, egress isolated without rules",
                &policies[1],
                None,
                Some(vec![
                    rule(0, None, RuleAction::Allow),
                    rule(1, None, RuleAction::Allow),
                ]),
                Some(vec![]),
            ),
            (
                "default deny governs ingress only",
                &policies[2],
                None,
                Some(vec![]),
                None,
            ),
            (
                "baseline",
                &policies[3],
                None,
                Some(vec![rule(0, Some("deny-all"), RuleAction::Deny)]),
                Some(vec![]),
            ),
        ];
        for (name, info, priority, ingress, egress) in cases {
            assert_eq!(info.priority, priority, "{name}");
            assert_eq!(info.ingress, ingress, "{name}");
            assert_eq!(info.egress, egress, "{name}");
        }
    }

    #[test]
    fn selected_pods_are_this_nodes_only_and_never_host_network() {
        let index = cluster();
        let selected: Vec<(String, Vec<String>)> = index
            .selected_pods("n1")
            .into_iter()
            .map(|(p, pods)| (p.to_string(), pods))
            .collect();
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(
            selected,
            vec![
                ("x/allow-a (NetworkPolicy)".to_string(), s(&["x/a"])),
                ("x/deny-all (NetworkPolicy)".to_string(), s(&["x/a"])),
                (
                    "lockdown (AdminNetworkPolicy)".to_string(),
                    s(&["x/a", "y/c"])
                ),
                (
                    "default (BaselineAdminNetworkPolicy)".to_string(),
                    s(&["x/a", "y/c"])
                ),
            ]
        );
        assert!(index.selected_pods("n3").is_empty());
    }
}
