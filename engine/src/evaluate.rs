//! Judging one direction of a flow: the Admin tier, then NetworkPolicy, then the Baseline
//! tier, then default.
//!
//! ```text
//!   subject pod ─► Admin tier: ANPs and Admin-tier CNPs selecting it, by
//!                  (priority, kind, name), rules in order, first match wins
//!                    Allow/Accept/Deny ─────────────────────────► decided (AdminNetworkPolicy)
//!                    Pass, or no rule matched
//!                  ─► NetworkPolicies isolating it in this direction
//!                    any rule allows ─► Allow; none ─► Deny ──► decided (NetworkPolicy)
//!                    not isolated
//!                  ─► Baseline tier: Baseline-tier CNPs by (priority, name), then the BANP,
//!                     rules in order, first match wins
//!                    Accept/Allow/Deny ─────────────────────────► decided (Baseline…)
//!                    Pass, or no rule matched
//!                  ─► Allow ─────────────────────────────────────► default
//! ```
//!
//! # Mixing v1alpha1 and ClusterNetworkPolicy
//! AdminNetworkPolicies are Admin-tier policies on the same 0–1000 priority scale as
//! Admin-tier ClusterNetworkPolicies; at equal priority the ANPs go first, then names decide.
//! The BaselineAdminNetworkPolicy is the last Baseline-tier policy, after every Baseline-tier
//! ClusterNetworkPolicy. A Pass ends its tier in both APIs.
//!
//! # Ties
//! Upstream lets same-tier, same-priority policies match in any order. The engine's order is
//! fixed (above), and the decision's `tied_with` lists the other policies of that tier and
//! priority that also had a matching rule, so a reader sees that another order could have
//! decided differently.

use std::net::IpAddr;
use std::sync::Arc;

use crate::admin_policy::{Action, AdminPolicy, AdminRule, RuleMatch};
use crate::decision::{Direction, DirectionDecision, Endpoint, PolicyRef, Tier, Verdict};
use crate::dns::Dns;
use crate::flow::Flow;
use crate::labels::Labels;
use crate::model::{PodRecord, PolicyList};
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
        tied_with: Vec::new(),
        domain: None,
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

/// How a tier's walk over its policies ended.
enum TierOutcome<'p> {
    /// A rule decided.
    Decided(&'p AdminPolicy, &'p AdminRule, RuleMatch, Vec<PolicyRef>),
    /// A Pass rule ended the tier.
    Passed(&'p AdminPolicy, Vec<PolicyRef>),
    /// No rule matched.
    NoMatch,
}

/// Everything a tier's rules are matched against.
struct Query<'a> {
    direction: Direction,
    peer: PeerView<'a>,
    protocol: crate::flow::Protocol,
    port: u16,
    dst_pod: Option<&'a PodRecord>,
    dns: Option<(Dns<'a>, IpAddr)>,
}

/// Walks one tier's policies in order; the first matching rule ends the walk. The other
/// policies of the same priority that also match are returned as ties.
fn walk_tier<'p>(policies: &'p PolicyList<AdminPolicy>, q: &Query<'_>) -> TierOutcome<'p> {
    for (i, policy) in policies.iter().enumerate() {
        let Some((rule, matched)) =
            policy.matching_rule(q.direction, &q.peer, q.protocol, q.port, q.dst_pod, q.dns)
        else {
            continue;
        };
        let key = policy.order_key().0;
        let ties = policies[i + 1..]
            .iter()
            .take_while(|p| p.order_key().0 == key)
            .filter(|p| {
                p.has_matching_rule(q.direction, &q.peer, q.protocol, q.port, q.dst_pod, q.dns)
            })
            .map(|p| p.reference.clone())
            .collect();
        return match rule.action {
            Action::Pass => TierOutcome::Passed(policy, ties),
            Action::Allow | Action::Deny => TierOutcome::Decided(policy, rule, matched, ties),
        };
    }
    TierOutcome::NoMatch
}

fn verdict_of(action: Action) -> Verdict {
    match action {
        Action::Allow => Verdict::Allow,
        // Pass never decides; a fail-closed rule was compiled to Deny.
        Action::Deny | Action::Pass => Verdict::Deny,
    }
}

/// Judges `direction` of `flow`. `subject` is the end the direction belongs to (the source for
/// egress, the destination for ingress) and `peer` the other end. `dns` resolves
/// ClusterNetworkPolicy `domainNames` egress peers.
pub(crate) fn judge(
    direction: Direction,
    flow: &Flow,
    subject: &Resolved<'_>,
    peer: &Resolved<'_>,
    dns: Option<Dns<'_>>,
) -> DirectionDecision {
    let Resolved::Pod(subject_ip, pod) = *subject else {
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
    let query = Query {
        direction,
        peer,
        protocol,
        port,
        dst_pod,
        // Domain names are egress peers: the subject is the pod that was answered.
        dns: dns
            .filter(|_| direction == Direction::Egress)
            .map(|d| (d, subject_ip)),
    };
    let mut passed_by = Vec::new();
    let mut tied_with = Vec::new();

    match walk_tier(&pod.admin, &query) {
        TierOutcome::Decided(policy, rule, matched, ties) => {
            return DirectionDecision {
                policy: Some(policy.reference.clone()),
                rule: Some(rule.rule.clone()),
                tied_with: ties,
                domain: matched.domain,
                ..decided(direction, verdict_of(rule.action), Tier::AdminNetworkPolicy)
            };
        }
        TierOutcome::Passed(policy, ties) => {
            passed_by.push(policy.reference.clone());
            tied_with = ties;
        }
        TierOutcome::NoMatch => {}
    }

    let isolating = match direction {
        Direction::Ingress => &pod.np_ingress,
        Direction::Egress => &pod.np_egress,
    };
    if !isolating.is_empty() {
        let isolated_by = isolating.iter().map(|p| p.reference.clone()).collect();
        for np in isolating {
            if let Some(index) = np.allowing_rule(direction, &query.peer, protocol, port, dst_pod) {
                return DirectionDecision {
                    policy: Some(np.reference.clone()),
                    rule: Some(crate::RuleRef { index, name: None }),
                    isolated_by,
                    passed_by,
                    tied_with,
                    ..decided(direction, Verdict::Allow, Tier::NetworkPolicy)
                };
            }
        }
        return DirectionDecision {
            isolated_by,
            passed_by,
            tied_with,
            ..decided(direction, Verdict::Deny, Tier::NetworkPolicy)
        };
    }

    match walk_tier(&pod.baseline, &query) {
        TierOutcome::Decided(policy, rule, matched, ties) => DirectionDecision {
            policy: Some(policy.reference.clone()),
            rule: Some(rule.rule.clone()),
            passed_by,
            tied_with: {
                tied_with.extend(ties);
                tied_with
            },
            domain: matched.domain,
            ..decided(
                direction,
                verdict_of(rule.action),
                Tier::BaselineAdminNetworkPolicy,
            )
        },
        TierOutcome::Passed(policy, ties) => {
            passed_by.push(policy.reference.clone());
            tied_with.extend(ties);
            DirectionDecision {
                passed_by,
                tied_with,
                ..decided(direction, Verdict::Allow, Tier::Default)
            }
        }
        TierOutcome::NoMatch => DirectionDecision {
            passed_by,
            tied_with,
            ..decided(direction, Verdict::Allow, Tier::Default)
        },
    }
}
