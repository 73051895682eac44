//! Judging one flow on one node: only the directions of the pods that node owns.
//!
//! A connection between pods on two nodes is queued on both: the source's node judges the
//! source's egress, the destination's node judges the destination's ingress. Neither
//! evaluates the other's half, so no connection is evaluated twice in full. The agent judges
//! packets with [`judge`]; the dashboard and the telemetry read the [`Judgement`] it returns.

use serde::{Deserialize, Serialize};

use crate::decision::{Direction, DirectionDecision, Endpoint, Tier, Verdict};
use crate::flow::Flow;
use crate::index::Index;

/// What one node decided about one flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    /// What the source is.
    pub src: Endpoint,
    /// What the destination is.
    pub dst: Endpoint,
    /// The source's egress, when the source is a pod on this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<DirectionDecision>,
    /// The destination's ingress, when the destination is a pod on this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<DirectionDecision>,
    /// Deny when a judged direction denies; allow otherwise (also when nothing was judged).
    pub verdict: Verdict,
}

impl Judgement {
    /// The tier to count the decision under: the denying direction's tier for a deny (egress
    /// first), else the first judged direction decided by a policy, else `Default`.
    pub fn tier(&self) -> Tier {
        self.deciding().map_or(Tier::Default, |d| d.tier)
    }

    /// The direction that decided: the denying one for a deny (egress first), else the first
    /// judged direction decided by a policy, else the first judged direction.
    pub fn deciding(&self) -> Option<&DirectionDecision> {
        let judged = || self.egress.iter().chain(self.ingress.iter());
        judged()
            .find(|d| d.verdict == Verdict::Deny)
            .or_else(|| judged().find(|d| d.tier != Tier::Default))
            .or_else(|| judged().next())
    }

    /// Whether this node owned either end.
    pub fn owned(&self) -> bool {
        self.egress.is_some() || self.ingress.is_some()
    }

    /// The judged directions, egress first.
    pub fn directions(&self) -> impl Iterator<Item = &DirectionDecision> {
        self.egress.iter().chain(self.ingress.iter())
    }
}

fn is_local(endpoint: &Endpoint, node: &str) -> bool {
    matches!(endpoint, Endpoint::Pod { node: Some(n), .. } if **n == *node)
}

/// Judges `flow` as the agent on `node` does: the egress of a source pod on `node` and the
/// ingress of a destination pod on `node`; nothing else.
pub fn judge(index: &Index, node: &str, flow: &Flow) -> Judgement {
    let src = index.endpoint(flow.src_ip);
    let dst = index.endpoint(flow.dst_ip);
    let egress = is_local(&src, node).then(|| index.evaluate_direction(flow, Direction::Egress));
    let ingress = is_local(&dst, node).then(|| index.evaluate_direction(flow, Direction::Ingress));
    let denied = egress
        .iter()
        .chain(ingress.iter())
        .any(|d| d.verdict == Verdict::Deny);
    Judgement {
        src,
        dst,
        egress,
        ingress,
        verdict: if denied {
            Verdict::Deny
        } else {
            Verdict::Allow
        },
    }
}
