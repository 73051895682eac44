//! The nftables ruleset: what the kernel must hold, and the code that keeps it there.
//!
//! ```text
//!  RulesetConfig ─┐
//!                 ├─► model::Ruleset::desired (pure) ─► render::nft_text (golden tests, docs)
//!  QueueStatement ┘            │
//!                              ▼
//!  SelectedIps ──► diff::ElementDiff (pure) ─► encode (pure: rustables objects, Batch bytes)
//!   (watch channel              │
//!    from the index owner)      ▼
//!                       syncer::Syncer ──netlink batch (atomic)──► kernel: inet table
//!                       detect::detect_queue_statement (probe batch at startup)
//! ```
//!
//! One `inet` table (default name `kube-verdict`) holds two sets of this node's pod addresses
//! that at least one policy selects (`pods4`, `pods6`) and three base chains. Only new
//! connections (and packets conntrack cannot place in one) from or to those pods go to the
//! queue; everything else is accepted in the kernel:
//!
//! | chain | hook, priority | covers | rules |
//! |---|---|---|---|
//! | `forward` | forward, filter (0) | pod→pod on this node, pod↔remote pod, remote node→pod, pod→remote node | established/related accept; ICMPv6 ND accept; `ct state new` and flow class in the verdict cache → log + accept; `ct state invalid,new,untracked` and saddr or daddr in the sets → queue |
//! | `input` | input, filter (0) | pod→this node | established/related accept; ICMPv6 ND accept; `ct state new` and flow class in the verdict cache → log + accept; `ct state invalid,new,untracked` and saddr in the sets → queue |
//! | `output` | output, filter (0) | this node→its pods | established/related accept; daddr in the sets accept (the health-check exception) |
//!
//! Conntrack states: every packet is in exactly one of `established`, `related`, `new`,
//! `invalid` (conntrack has no entry it could create: a TCP ACK with no connection when
//! `nf_conntrack_tcp_loose` is 0, a bad checksum, UDP-Lite on kernels that check it as UDP) or
//! `untracked` (a `notrack` rule in a `raw`-priority chain of any table). The queue rules take
//! all three that are not established or related, so for a selected pod nothing reaches it
//! unjudged: an invalid or untracked packet is parsed and judged like the first packet of a
//! connection, and since conntrack keeps no entry for it, *every* such packet goes to the
//! queue (a `notrack` flow to a selected pod costs one queue round trip per packet). Only
//! `new` connections use the verdict cache. The chains' policy stays `accept`: packets that
//! touch no selected pod are none of this table's business.
//!
//! Why these priorities: Service DNAT runs at `dstnat` (-100) in prerouting and output, and
//! conntrack at -200, so at priority 0 the destination is already the backend pod and the
//! connection state is known. The node's own traffic to its pods (kubelet probes) is allowed
//! by the NetworkPolicy spec, so `output` never queues; a remote node's traffic to a pod is
//! judged on the pod's node in `forward`, as any other ingress.
//!
//! Who judges what: a connection is queued on the node of each local pod it touches, and the
//! verdict worker judges only the directions of the pods on its node (egress of a local
//! source, ingress of a local destination), so a cross-node connection is evaluated once per
//! direction, never twice in full.
//!
//! The queue statement is native `queue` where the kernel has it (`CONFIG_NFT_QUEUE`) and the
//! x_tables `NFQUEUE` target through `nft_compat` otherwise; [`detect_queue_statement`] probes
//! this at startup. Both spread new connections over `queue_base..queue_base+queues` by CPU
//! (`fanout`), and with fail-open both carry `bypass` (no listener: accept instead of drop).
//!
//! The verdict cache (on by default, `--verdict-cache-ttl 0` turns it off) is two more sets,
//! `verdicts4` and `verdicts6`, keyed by `saddr . daddr . l4proto . dport`. After the workers
//! judge a flow class *allow*, [`crate::cache`] adds it with a TTL, so later new connections of
//! the same class are accepted in the kernel and logged to an nfnetlink_log group (read back
//! in batches and reported like any other decision) instead of waiting for a queue round
//! trip. Every cached-allow rule also needs the packet's protocol in `cacheable`, the cache's
//! switch, which the writer fills when a flush succeeds and empties when one is refused. Every
//! change of the index flushes both sets, and installing or adopting the table flushes them
//! and switches the cache off until the new writer's first flush; how long a cached allow can
//! outlive a denying change (measured) is stated in [`crate::cache`].
//!
//! Start reading at [`model::Ruleset::desired`], then [`Syncer`].

pub mod detect;
pub mod diff;
pub mod encode;
pub mod model;
pub mod render;
pub mod syncer;

#[cfg(test)]
pub(crate) mod testns;
#[cfg(test)]
mod tests;

pub use detect::detect_queue_statement;
pub use model::{QueueStatement, RulesetConfig, VerdictCacheSpec};
pub use syncer::Syncer;

/// Name of the set of selected local IPv4 pod addresses.
pub const SET_V4: &str = "pods4";
/// Name of the set of selected local IPv6 pod addresses.
pub const SET_V6: &str = "pods6";
/// Name of the IPv4 verdict cache set (`ipv4_addr . ipv4_addr . inet_proto . inet_service`).
pub const CACHE_V4: &str = "verdicts4";
/// Name of the IPv6 verdict cache set (`ipv6_addr . ipv6_addr . inet_proto . inet_service`).
pub const CACHE_V6: &str = "verdicts6";
/// Name of the verdict cache's switch: a set of `inet_proto` that every cached-allow rule
/// looks the packet's protocol up in. The cache writer fills it (TCP, UDP, SCTP) in the batch
/// of each successful flush and empties it when a flush is refused or the writer dies, which
/// switches the cache off without touching the rules. Installing the table empties it: the
/// cache is off until the new writer's first flush.
pub const CACHE_SWITCH: &str = "cacheable";
/// Most elements in one set-element message: about 4,000 IPv4 elements overflow a 16-bit
/// netlink attribute length.
pub const ELEMENTS_PER_MESSAGE: usize = 1000;
