//! What the packet path knows about one decision: [`NodeDecision`], built by a verdict thread
//! (or the verdict cache's log reader) and handed over without any further work.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use verdict_engine::{Flow, Judgement, Verdict};

/// Where a decision was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionSource {
    /// A verdict thread judged the packet from its NFQUEUE.
    Queue,
    /// The kernel accepted the connection from the verdict cache; it was reported from the
    /// cache's log with the judgement that put its flow class into the cache.
    Cache,
    /// No judgement could be had; the packet got the configured default verdict.
    Default,
}

impl DecisionSource {
    /// `queue`, `cache` or `default`, as metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionSource::Queue => "queue",
            DecisionSource::Cache => "cache",
            DecisionSource::Default => "default",
        }
    }
}

/// Why a packet got the default verdict instead of a judgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultReason {
    /// The headers could not be parsed (truncated, bad lengths, a non-first fragment).
    Malformed,
    /// The packet's protocol cannot be judged by this agent.
    Unsupported,
    /// The engine panicked while judging it (counted; a bug).
    EnginePanic,
    /// Neither end is a pod on this node, so this node has no direction to judge (for
    /// example, a packet routed through the node).
    NoLocalPod,
}

impl DefaultReason {
    /// `malformed`, `unsupported`, `engine_panic` or `no_local_pod`.
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultReason::Malformed => "malformed",
            DefaultReason::Unsupported => "unsupported",
            DefaultReason::EnginePanic => "engine_panic",
            DefaultReason::NoLocalPod => "no_local_pod",
        }
    }
}

/// One decision as the packet path produced it. Building it costs a few pointer copies;
/// everything derived (trace id, sentence, UIDs) is computed later, off the packet path, by
/// [`crate::EventBuilder`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDecision {
    /// The flow; `None` when the packet could not be parsed.
    pub flow: Option<Flow>,
    /// What this node decided, with the attribution of each direction it judged; `None` when
    /// the packet got the default verdict.
    pub judgement: Option<Judgement>,
    /// The verdict given to the packet.
    pub verdict: Verdict,
    /// The node that decided.
    pub node: Arc<str>,
    /// Queue, cache or default.
    pub source: DecisionSource,
    /// Why the default verdict applied, for [`DecisionSource::Default`].
    pub defaulted: Option<DefaultReason>,
    /// The queue the packet came from (none for a cached accept).
    pub queue: Option<u16>,
    /// The index generation the judgement was made on.
    pub generation: u64,
    /// What both nodes see in the first packet that tells this connection from an earlier one
    /// on the same 5-tuple: the TCP SYN's initial sequence number, or the SCTP INIT's initiate
    /// tag. `None` for UDP, ICMP and other protocols (see [`crate::trace`]).
    pub connection_token: Option<u32>,
    /// When the packet arrived (for a cached accept: the kernel's timestamp of the logged
    /// packet).
    pub received: SystemTime,
    /// From receiving the packet to giving its verdict (zero for a cached accept).
    pub hold: Duration,
}

impl NodeDecision {
    /// Whether this node judged at least one direction of the flow.
    pub fn owned(&self) -> bool {
        self.judgement.as_ref().is_some_and(Judgement::owned)
    }
}
