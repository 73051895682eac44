//! The kernel verdict cache: flow classes judged *allow* are accepted by the kernel itself on
//! later connections, and still reported.
//!
//! ```text
//!  worker judges a queued SYN: allow ──offer(key, generation)──► CacheFeed (lock-free ring)
//!                                                                   │ drained every tick (2 ms)
//!  index owner publishes snapshot ──generation──► CacheWriter ◄─────┘
//!                                     │ generation moved: flush both sets (one batch)
//!                                     │ then add the offers of the current generation
//!                                     ▼
//!  kernel: ct state new, saddr . daddr . l4proto . dport in @verdicts4/@verdicts6
//!          ──► log group G, accept        (no queue round trip for the connection)
//!                   │ nfnetlink_log, batched by the kernel (threshold 64 or 10 ms)
//!                   ▼
//!  CacheLogReader: parse ─► judge on the current index ─► counters + NodeDecision (cached)
//! ```
//!
//! A class is `(source, destination, protocol, destination port)`: everything NetworkPolicy
//! and AdminNetworkPolicy look at, so every connection of a class gets the same decision
//! while the index is unchanged. Only allows are cached (a denied connection keeps going to
//! the queue, so every deny is judged and attributed on its own), and only TCP, UDP and SCTP.
//!
//! Correctness rests on three rules: every index change flushes the cache before anything
//! judged on the new index is added; an offer judged on an older index is dropped; and the
//! table install (agent start or restart) flushes it. So a cached allow outlives the index that
//! produced it by at most one writer tick, the same bound as a worker that loaded the old
//! snapshot just before the change. Entries also expire after `--verdict-cache-ttl` (default
//! 30 s), which bounds how long a stopped agent's cache keeps accepting.

pub mod key;
pub mod log;
pub mod writer;

pub use key::CacheKey;
pub use log::CacheLogReader;
pub use writer::{CacheCounters, CacheFeed, CacheWriter, WriterConfig};
