//! How decisions name policies ([`PolicyName`]), and the engine types' sentences, which are
//! [`crate::explain`]'s with each end named as it displays.

use std::fmt;

use crate::decision::{Decision, DirectionDecision, Endpoint, PolicyKind, PolicyRef, Verdict};
use crate::explain::Named;

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
}

impl DirectionDecision {
    /// One plain sentence (no final period) saying why this direction got its verdict.
    /// `subject` is the end the direction belongs to (the source for egress, the destination
    /// for ingress) and `peer` the other end; each is named as it displays. The words are
    /// [`crate::explain::reason`]'s.
    pub fn reason(&self, subject: &Endpoint, peer: &Endpoint) -> String {
        let (subject_label, peer_label) = (subject.to_string(), peer.to_string());
        crate::explain::reason(
            self,
            &Named {
                label: &subject_label,
                endpoint: subject,
                host_network: false,
            },
            &Named {
                label: &peer_label,
                endpoint: peer,
                host_network: false,
            },
        )
    }
}

impl Decision {
    /// The explain line: `y/b -> x/a TCP/80: DENY. ingress: <reason>. egress: <reason>.`,
    /// in [`crate::explain::line`]'s words, each end named as it displays.
    pub fn explain(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Decision {
    /// Same text as [`Decision::explain`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (src, dst) = (self.src.to_string(), self.dst.to_string());
        f.write_str(&crate::explain::line(
            &self.flow,
            &Named {
                label: &src,
                endpoint: &self.src,
                host_network: false,
            },
            &Named {
                label: &dst,
                endpoint: &self.dst,
                host_network: false,
            },
            self.verdict,
            &[&self.egress, &self.ingress],
        ))
    }
}
