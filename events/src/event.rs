//! The published decision: [`DecisionEvent`], one per judged connection, built once by
//! [`EventBuilder`] and read by every consumer (spans, metrics, the dashboard, `kubectl
//! verdict tail`). None of them computes anything of its own.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use verdict_engine::{DirectionDecision, Endpoint, Flow, Index, PolicyRef, Tier, Verdict};

use crate::attribution::CacheAttribution;
use crate::decision::{DecisionSource, DefaultReason, NodeDecision};
use crate::trace::{TraceId, TraceKey};

/// One decision, as everyone downstream of the packet path reads it.
///
/// JSON field names are the API's (`/api/decisions`, the SSE stream, `tail -o json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionEvent {
    /// Stable id, unique in the cluster: `<node>/<seq>`.
    pub id: String,
    /// Position in this node's stream (starts at 1, increases by one per event).
    pub seq: u64,
    /// When the packet arrived, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// The node that decided.
    pub node: Arc<str>,
    /// The verdict given to the packet.
    pub verdict: Verdict,
    /// The tier that decided (for a deny, the denying direction's tier).
    pub tier: Tier,
    /// Queue, cache or default.
    pub source: DecisionSource,
    /// Why the default verdict applied, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaulted: Option<DefaultReason>,
    /// The NFQUEUE the packet came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<u16>,
    /// The flow, when the packet could be parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
    /// What the source is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<Endpoint>,
    /// What the destination is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<Endpoint>,
    /// The source pod's UID, when the source is a pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_uid: Option<Arc<str>>,
    /// The destination pod's UID, when the destination is a pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_uid: Option<Arc<str>>,
    /// The source's egress, when this node judged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<DirectionDecision>,
    /// The destination's ingress, when this node judged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<DirectionDecision>,
    /// How long the packet was held for its verdict, in nanoseconds (0 for a cached accept).
    pub hold_ns: u64,
    /// The index generation the judgement was made on.
    pub generation: u64,
    /// The connection's trace id (the same on both nodes of a cross-node connection).
    pub trace_id: TraceId,
    /// The engine's explanation, in the words `kubectl-verdict simulate -o explain` uses.
    pub explanation: String,
}

impl DecisionEvent {
    /// The judged directions, egress first.
    pub fn directions(&self) -> impl Iterator<Item = &DirectionDecision> {
        self.egress.iter().chain(self.ingress.iter())
    }

    /// The direction that decided: the denying one for a deny, else the first decided by a
    /// policy, else the first judged.
    pub fn deciding(&self) -> Option<&DirectionDecision> {
        let judged = || self.directions();
        judged()
            .find(|d| d.verdict == Verdict::Deny)
            .or_else(|| judged().find(|d| d.tier != Tier::Default))
            .or_else(|| judged().next())
    }

    /// The policy that decided, if a policy rule decided.
    pub fn policy(&self) -> Option<&PolicyRef> {
        self.deciding().and_then(|d| d.policy.as_ref())
    }

    /// Every policy named by the decision: deciding, isolating and passing, each once.
    pub fn policies(&self) -> Vec<&PolicyRef> {
        let mut out: Vec<&PolicyRef> = Vec::new();
        for d in self.directions() {
            for p in d.policy.iter().chain(&d.isolated_by).chain(&d.passed_by) {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// The namespaces of the pods at either end (for access checks and filters).
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        [&self.src, &self.dst].into_iter().filter_map(|e| match e {
            Some(Endpoint::Pod { namespace, .. }) => Some(&**namespace),
            _ => None,
        })
    }

    /// When the packet arrived.
    pub fn time(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_nanos(self.time_unix_nano)
    }
}

/// Turns the packet path's [`NodeDecision`]s into [`DecisionEvent`]s: numbers them, derives
/// the trace id, looks up pod UIDs and renders the explanation. One per node, owned by the
/// telemetry fan-out task.
#[derive(Debug)]
pub struct EventBuilder {
    key: TraceKey,
    node: Arc<str>,
    seq: u64,
    cached: CacheAttribution,
    stale_cache_accepts: u64,
}

/// Classes the builder remembers for cached accepts (the kernel cache holds at most as many).
pub const DEFAULT_ATTRIBUTION_CAPACITY: usize = 65_536;

impl EventBuilder {
    /// A builder for `node`'s events, with the cluster's trace key.
    pub fn new(node: &str, key: TraceKey) -> Self {
        EventBuilder {
            key,
            node: Arc::from(node),
            seq: 0,
            cached: CacheAttribution::new(DEFAULT_ATTRIBUTION_CAPACITY),
            stale_cache_accepts: 0,
        }
    }

    /// The last sequence number handed out (0 before the first event).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Cached accepts whose judgement came from an older index than the current one: the
    /// kernel accepted them between an index change and the cache flush it causes.
    pub fn stale_cache_accepts(&self) -> u64 {
        self.stale_cache_accepts
    }

    /// Classes that could not be remembered for cached accepts because the table was full.
    pub fn attribution_full(&self) -> u64 {
        self.cached.full()
    }

    /// Builds the event for `decision`. `index` is the current index, used only for what the
    /// decision does not carry: the pods' UIDs and, for a defaulted packet, what its ends are.
    ///
    /// A queued allow is remembered for its flow class; a cached accept (which carries no
    /// judgement) gets the judgement, and generation, of the queued decision that put its
    /// class into the cache; it is never judged again.
    pub fn build(&mut self, decision: NodeDecision, index: &Index) -> DecisionEvent {
        self.seq += 1;
        let NodeDecision {
            flow,
            mut judgement,
            verdict,
            node: _,
            source,
            defaulted,
            queue,
            mut generation,
            connection_token,
            received,
            hold,
        } = decision;
        match (source, &flow, &judgement) {
            (DecisionSource::Queue, Some(f), Some(j)) => self.cached.remember(f, generation, j),
            (DecisionSource::Cache, Some(f), None) => {
                if let Some((g, j)) = self.cached.lookup(f) {
                    judgement = Some(j.clone());
                    if *g < index.generation() {
                        self.stale_cache_accepts += 1;
                    }
                    generation = *g;
                }
            }
            _ => {}
        }
        let trace_id = match &flow {
            Some(flow) => TraceId::derive(&self.key, flow, connection_token, received),
            // Nothing identifies an unparsable packet; give it a trace of its own.
            None => TraceId::derive(&self.key, &unparsed_flow(), Some(self.seq as u32), received),
        };
        let (src, dst, egress, ingress, tier) = match judgement {
            Some(j) => {
                let tier = j.tier();
                (Some(j.src), Some(j.dst), j.egress, j.ingress, tier)
            }
            None => match &flow {
                Some(f) => (
                    Some(index.endpoint(f.src_ip)),
                    Some(index.endpoint(f.dst_ip)),
                    None,
                    None,
                    Tier::Default,
                ),
                None => (None, None, None, None, Tier::Default),
            },
        };
        let uid = |ip: Option<IpAddr>, end: &Option<Endpoint>| match end {
            Some(Endpoint::Pod { .. }) => ip.and_then(|ip| index.pod_uid(ip)),
            _ => None,
        };
        let src_uid = uid(flow.map(|f| f.src_ip), &src);
        let dst_uid = uid(flow.map(|f| f.dst_ip), &dst);
        let mut event = DecisionEvent {
            id: format!("{}/{}", self.node, self.seq),
            seq: self.seq,
            time_unix_nano: received
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            node: self.node.clone(),
            verdict,
            tier,
            source,
            defaulted,
            queue,
            flow,
            src,
            dst,
            src_uid,
            dst_uid,
            egress,
            ingress,
            hold_ns: hold.as_nanos() as u64,
            generation,
            trace_id,
            explanation: String::new(),
        };
        event.explanation = explain(&event);
        event
    }
}

fn unparsed_flow() -> Flow {
    Flow {
        src_ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        src_port: 0,
        dst_ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        dst_port: 0,
        protocol: verdict_engine::Protocol::Icmp,
    }
}

/// The sentence for an event: the engine's explanation of each judged direction, or why the
/// default verdict applied.
fn explain(event: &DecisionEvent) -> String {
    let word = event.verdict.as_upper_str();
    if let Some(reason) = event.defaulted {
        let what = match reason {
            DefaultReason::Malformed => "the packet's headers could not be parsed",
            DefaultReason::Unsupported => "the packet's protocol cannot be judged",
            DefaultReason::EnginePanic => "the engine failed while judging it",
            DefaultReason::NoLocalPod => "neither end is a pod on this node",
        };
        return match &event.flow {
            Some(flow) => format!("{flow}: {word} by default: {what}."),
            None => format!("{word} by default: {what}."),
        };
    }
    let (Some(flow), Some(src), Some(dst)) = (&event.flow, &event.src, &event.dst) else {
        return format!("{word}.");
    };
    if event.source == DecisionSource::Cache && event.egress.is_none() && event.ingress.is_none() {
        return format!(
            "{src} -> {dst} {}: {word} from the kernel verdict cache; the judgement that cached \
             this flow class was not seen (lost at the handoff, or the attribution table was full).",
            flow.protocol
        );
    }
    let (src_label, dst_label) = (src.to_string(), dst.to_string());
    let named = |label, endpoint| verdict_engine::explain::Named {
        label,
        endpoint,
        host_network: false,
    };
    let judged: Vec<&verdict_engine::DirectionDecision> = event.directions().collect();
    verdict_engine::explain::line(
        flow,
        &named(&src_label, src),
        &named(&dst_label, dst),
        event.verdict,
        &judged,
    )
}
