//! One plain sentence per direction, and the CLI's explain line for a whole decision.
//!
//! ```text
//! y/b -> x/a TCP/80: DENY. ingress: x/a is isolated by x/deny-all (NetworkPolicy) and no rule
//! allows y/b. egress: y/b is not egress-isolated.
//! ```

use std::fmt::{self, Write as _};

use crate::decision::{
    Decision, Direction, DirectionDecision, Endpoint, PolicyKind, PolicyRef, Tier, Verdict,
};
use crate::flow::{Flow, Protocol};

/// Displays a policy the way reasons name it: `x/name (NetworkPolicy)`,
/// `anp/name (AdminNetworkPolicy)`, `banp/default (BaselineAdminNetworkPolicy)`.
#[derive(Clone, Copy, Debug)]
pub struct PolicyName<'a>(pub &'a PolicyRef);

impl fmt::Display for PolicyName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        match (p.kind, &p.namespace) {
            (PolicyKind::NetworkPolicy, Some(ns)) => write!(f, "{ns}/{} (NetworkPolicy)", p.name),
            (PolicyKind::NetworkPolicy, None) => write!(f, "{} (NetworkPolicy)", p.name),
            (PolicyKind::AdminNetworkPolicy, _) => {
                write!(f, "anp/{} (AdminNetworkPolicy)", p.name)
            }
            (PolicyKind::BaselineAdminNetworkPolicy, _) => {
                write!(f, "banp/{} (BaselineAdminNetworkPolicy)", p.name)
            }
            (PolicyKind::ClusterNetworkPolicy, _) => {
                write!(f, "cnp/{} (ClusterNetworkPolicy", p.name)?;
                if let Some(tier) = p.tier {
                    write!(f, ", {tier:?} tier")?;
                }
                if let Some(priority) = p.priority {
                    write!(f, ", priority {priority}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Verdict {
    /// `ALLOW` or `DENY`, as the explain line prints it.
    pub fn as_upper_str(self) -> &'static str {
        match self {
            Verdict::Allow => "ALLOW",
            Verdict::Deny => "DENY",
        }
    }

    fn participle(self) -> &'static str {
        match self {
            Verdict::Allow => "allowed",
            Verdict::Deny => "denied",
        }
    }
}

impl DirectionDecision {
    /// One plain sentence (no final period) saying why this direction got its verdict.
    /// `subject` is the end the direction belongs to (the source for egress, the destination
    /// for ingress) and `peer` the other end.
    pub fn reason(&self, subject: &Endpoint, peer: &Endpoint) -> String {
        let mut out = String::new();
        if !self.passed_by.is_empty() {
            out.push_str("passed by ");
            push_list(&mut out, &self.passed_by);
            out.push_str("; ");
        }
        let rule_index = self.rule.as_ref().map(|r| r.index).unwrap_or_default();
        let rule_name = self.rule.as_ref().and_then(|r| r.name.as_deref());
        let isolated = match self.direction {
            Direction::Ingress => "isolated",
            Direction::Egress => "egress-isolated",
        };
        // Writing to a String cannot fail.
        let _ = match (self.tier, &self.policy) {
            (Tier::AdminNetworkPolicy, Some(policy)) => {
                let _ = write!(out, "{} by rule {rule_index}", self.verdict.participle());
                if let Some(name) = rule_name {
                    let _ = write!(out, " {name:?}");
                }
                write!(out, " of {}", PolicyName(policy))
            }
            (Tier::BaselineAdminNetworkPolicy, Some(policy)) => {
                let _ = write!(
                    out,
                    "{} by BANP {} rule {rule_index}",
                    self.verdict.participle(),
                    policy.name
                );
                match rule_name {
                    Some(name) => write!(out, " {name:?}"),
                    None => Ok(()),
                }
            }
            (Tier::NetworkPolicy, Some(policy)) if self.verdict == Verdict::Allow => {
                write!(
                    out,
                    "allowed by rule {rule_index} of {}",
                    PolicyName(policy)
                )
            }
            (Tier::NetworkPolicy, _) => {
                let _ = write!(out, "{subject} is {isolated} by ");
                push_list(&mut out, &self.isolated_by);
                write!(out, " and no rule allows {peer}")
            }
            _ if subject.is_always_allowed_peer(peer, self.direction) => match peer {
                Endpoint::Node { .. } => write!(
                    out,
                    "{peer} is {subject}'s own node, whose traffic to its pods policy cannot block"
                ),
                _ => write!(out, "a pod's traffic to itself is always allowed"),
            },
            _ => match subject {
                Endpoint::Pod { .. } => match self.direction {
                    Direction::Ingress => write!(out, "{subject} is not ingress-isolated"),
                    Direction::Egress => write!(out, "{subject} is not egress-isolated"),
                },
                Endpoint::Node { .. } => write!(
                    out,
                    "{subject} is a node address, which pod policies do not govern"
                ),
                Endpoint::External { .. } => write!(
                    out,
                    "{subject} is not a pod, so no policy governs its {}",
                    match self.direction {
                        Direction::Ingress => "ingress",
                        Direction::Egress => "egress",
                    }
                ),
            },
        };
        out
    }
}

fn push_list(out: &mut String, policies: &[PolicyRef]) {
    for (i, p) in policies.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}", PolicyName(p));
    }
}

impl Decision {
    /// The CLI's explain line: `y/b -> x/a TCP/80: DENY. ingress: <reason>. egress: <reason>.`
    pub fn explain(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Decision {
    /// Same text as [`Decision::explain`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let judged = [
            (
                Direction::Ingress,
                self.ingress.reason(&self.dst, &self.src),
            ),
            (Direction::Egress, self.egress.reason(&self.src, &self.dst)),
        ];
        f.write_str(&node_line(
            &self.flow,
            &self.src,
            &self.dst,
            self.verdict,
            &judged,
        ))
    }
}

/// The explain line for the directions that were judged, in the order given:
/// `y/b -> x/a TCP/80: DENY. ingress: <reason>. egress: <reason>.` The agent names only the
/// direction(s) its node judged; the CLI names both.
pub fn node_line(
    flow: &Flow,
    src: &Endpoint,
    dst: &Endpoint,
    verdict: Verdict,
    judged: &[(Direction, String)],
) -> String {
    let mut out = format!("{src} -> {dst} {}", flow.protocol);
    if flow.protocol != Protocol::Icmp {
        let _ = write!(out, "/{}", flow.dst_port);
    }
    let _ = write!(out, ": {}.", verdict.as_upper_str());
    for (direction, reason) in judged {
        let word = match direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        let _ = write!(out, " {word}: {reason}.");
    }
    out
}
