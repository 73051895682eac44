//! Judging one direction of a flow: ANP tier, then NetworkPolicy, then BANP, then default.
//!
//! ```text
//!   subject pod ─► ANPs selecting it, by (priority, name), rules in order
//!                    Allow/Deny ──────────────────────────────► decided (AdminNetworkPolicy)
//!                    Pass, or no rule matched
//!                  ─► NetworkPolicies isolating it in this direction
//!                    any rule allows ─► Allow; none ─► Deny ──► decided (NetworkPolicy)
//!                    not isolated
//!                  ─► BANP rules in order, first match ───────► decided (Baseline…)
//!                  ─► Allow ──────────────────────────────────► default
//! ```

use std::net::IpAddr;
use std::sync::Arc;

use crate::admin_policy::Action;
use crate::decision::{Direction, DirectionDecision, Endpoint, Tier, Verdict};
use crate::flow::Flow;
use crate::labels::Labels;
use crate::model::PodRecord;
use crate::peers::{PeerKind, PeerView};

/// An address, resolved against the index.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Resolved<'a> {
    /// A non-hostNetwork pod.
    Pod(IpAddr, &'a PodRecord),
    /// A node address (or a hostNetwork pod's): the node name and, if the Node is known, its
    /// labels.
    Node(IpAddr, &'a Arc<str>, Option<&'a Labels>),
    /// Anything else.
    External(IpAddr),
}

impl<'a> Resolved<'a> {
    pub(crate) fn endpoint(&self) -> Endpoint {
        match self {
            Resolved::Pod(_, pod) => Endpoint::Pod {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                node: pod.node.clone(),
            },
            Resolved::Node(_, name, _) => Endpoint::Node {
                name: Arc::clone(name),
            },
            Resolved::External(ip) => Endpoint::External { ip: *ip },
        }
    }

    fn peer_view(&self) -> PeerView<'a> {
        match *self {
            Resolved::Pod(ip, pod) => PeerView {
                ip,
                kind: PeerKind::Pod(pod),
            },
            Resolved::Node(ip, _, labels) => PeerView {
                ip,
                kind: PeerKind::Node { labels },
            },
            Resolved::External(ip) => PeerView {
                ip,
                kind: PeerKind::External,
            },
        }
    }
}

fn decided(direction: Direction, verdict: Verdict, tier: Tier) -> DirectionDecision {
    DirectionDecision {
        direction,
        verdict,
        tier,
        policy: None,
        rule: None,
        isolated_by: Vec::new(),
        passed_by: Vec::new(),
    }
}

/// Traffic no policy can block, as upstream defines it: a pod's ingress from its own node
/// (NetworkPolicy "cannot block access from their resident node", which kubelet probes rely
/// on; the agent accepts it in the kernel too), and a pod's traffic to its own address.
fn always_allowed(direction: Direction, pod: &PodRecord, peer: &Resolved<'_>) -> bool {
    match *peer {
        Resolved::Node(_, node, _) => {
            direction == Direction::Ingress && pod.node.as_deref() == Some(&**node)
        }
        Resolved::Pod(_, other) => other.namespace == pod.namespace && other.name == pod.name,
        Resolved::External(_) => false,
    }
}

/// Judges `direction` of `flow`. `subject` is the end the direction belongs to (the source for
/// egress, the destination for ingress) and `peer` the other end.
pub(crate) fn judge(
    direction: Direction,
    flow: &Flow,
    subject: &Resolved<'_>,
    peer: &Resolved<'_>,
) -> DirectionDecision {
    let Resolved::Pod(_, pod) = *subject else {
        // Nodes and external addresses have no pod policies of their own.
        return decided(direction, Verdict::Allow, Tier::Default);
    };
    if always_allowed(direction, pod, peer) {
        return decided(direction, Verdict::Allow, Tier::Default);
    }
    let peer = peer.peer_view();
    // Named ports resolve against the destination pod.
    let dst_pod = match direction {
        Direction::Ingress => Some(pod),
        Direction::Egress => peer.pod(),
    };
    let (protocol, port) = (flow.protocol, flow.dst_port);
    let mut passed_by = Vec::new();

    for anp in &pod.admin {
        let Some(rule) = anp.matching_rule(direction, &peer, protocol, port, dst_pod) else {
            continue;
        };
        let verdict = match rule.action {
            Action::Allow => Verdict::Allow,
            Action::Deny => Verdict::Deny,
            Action::Pass => {
                passed_by.push(anp.reference.clone());
                break;
            }
        };
        return DirectionDecision {
            policy: Some(anp.reference.clone()),
            rule: Some(rule.rule.clone()),
            ..decided(direction, verdict, Tier::AdminNetworkPolicy)
        };
    }

    let isolating = match direction {
        Direction::Ingress => &pod.np_ingress,
        Direction::Egress => &pod.np_egress,
    };
    if !isolating.is_empty() {
        let isolated_by = isolating.iter().map(|p| p.reference.clone()).collect();
        for np in isolating {
            if let Some(index) = np.allowing_rule(direction, &peer, protocol, port, dst_pod) {
                return DirectionDecision {
                    policy: Some(np.reference.clone()),
                    rule: Some(crate::RuleRef { index, name: None }),
                    isolated_by,
                    passed_by,
                    ..decided(direction, Verdict::Allow, Tier::NetworkPolicy)
                };
            }
        }
        return DirectionDecision {
            isolated_by,
            passed_by,
            ..decided(direction, Verdict::Deny, Tier::NetworkPolicy)
        };
    }

    if let Some(banp) = &pod.baseline
        && let Some(rule) = banp.matching_rule(direction, &peer, protocol, port, dst_pod)
    {
        let verdict = match rule.action {
            Action::Allow => Verdict::Allow,
            // BANP has no Pass; a fail-closed rule is compiled to Deny.
            Action::Deny | Action::Pass => Verdict::Deny,
        };
        return DirectionDecision {
            policy: Some(banp.reference.clone()),
            rule: Some(rule.rule.clone()),
            passed_by,
            ..decided(direction, verdict, Tier::BaselineAdminNetworkPolicy)
        };
    }

    DirectionDecision {
        passed_by,
        ..decided(direction, Verdict::Allow, Tier::Default)
    }
}
