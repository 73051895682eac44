//! Judging one flow on one node: only the directions of the pods this node owns.
//!
//! A connection between pods on two nodes is queued on both: the source's node judges the
//! source's egress, the destination's node judges the destination's ingress. Neither
//! evaluates the other's half, so no connection is evaluated twice in full.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use verdict_engine::{Direction, DirectionDecision, Endpoint, Flow, Index, Tier, Verdict};

/// What this node decided about one flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// What the source is.
    pub src: Endpoint,
    /// What the destination is.
    pub dst: Endpoint,
    /// The source's egress, when the source is a pod on this node.
    pub egress: Option<DirectionDecision>,
    /// The destination's ingress, when the destination is a pod on this node.
    pub ingress: Option<DirectionDecision>,
    /// Deny when a judged direction denies; allow otherwise (also when nothing was judged).
    pub verdict: Verdict,
}

impl Judgement {
    /// The tier to count the decision under: the denying direction's tier for a deny (egress
    /// first), else the first judged direction decided by a policy, else `Default`.
    pub fn tier(&self) -> Tier {
        let judged = || self.egress.iter().chain(self.ingress.iter());
        if let Some(d) = judged().find(|d| d.verdict == Verdict::Deny) {
            return d.tier;
        }
        judged()
            .map(|d| d.tier)
            .find(|t| *t != Tier::Default)
            .unwrap_or(Tier::Default)
    }

    /// Whether this node owned either end.
    pub fn owned(&self) -> bool {
        self.egress.is_some() || self.ingress.is_some()
    }
}

fn is_local(endpoint: &Endpoint, node: &str) -> bool {
    matches!(endpoint, Endpoint::Pod { node: Some(n), .. } if **n == *node)
}

/// Judges `flow` as the agent on `node` does.
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

/// One decision of the packet path, as handed to telemetry (spans, metrics, dashboard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDecision {
    /// The flow.
    pub flow: Flow,
    /// What this node decided, with the attribution of each direction it judged.
    pub judgement: Judgement,
    /// The node that decided.
    pub node: Arc<str>,
    /// The queue the packet came from; `None` when the kernel accepted the connection from the
    /// verdict cache and this decision was reported from the cache's log.
    pub queue: Option<u16>,
    /// Time from receiving the packet to having its verdict (zero for a cached verdict).
    pub hold: Duration,
    /// When the verdict was given.
    pub at: SystemTime,
}
