//! `verdict-agent`: the per-node enforcer. It watches the API server into the engine's index,
//! programs one nftables table over netlink, and judges the first packet of every new
//! connection that touches a policy-selected pod on this node.
//!
//! ```text
//!  kube-apiserver ──watch──► watch/ (trimmed objects) ──► engine::Index (one owner task)
//!                                                           │ publishes snapshots
//!                         ┌─────────────────────────────────┼──────────────────────┐
//!                         ▼                                 ▼                      ▼
//!   ruleset/ (rustables, atomic batches):      queue/ (one pinned thread     conntrack/
//!   inet table, pod-IP sets, chains,           per NFQUEUE, cpu-fanout):     strict mode:
//!   native `queue` or xt NFQUEUE target        packet/ parse ─► judge the    delete newly
//!        │                                     direction(s) this node owns   denied entries
//!        ▼                                     ─► verdict ─► Decision (try_send)
//!   kernel: ct new + selected pod ─► queue              │
//!                                              health.rs (/healthz, /readyz), metrics.rs (/metrics)
//! ```
//!
//! Start reading at [`run`] (the wiring and the restart behaviour), then [`watch`] and
//! [`queue`]. Pure pieces ([`packet`], the ruleset model and renderer, conntrack message
//! encoding, the watch-event step) are apart from I/O and tested table-driven; netlink and
//! real-packet tests run under `VERDICT_E2E=1`.
//!
//! Licence: the agent links rustables (GPL-3.0-or-later), so this binary as distributed is
//! GPL-3.0-or-later; see NOTICE.

// Dataplane half.
pub mod packet;
pub mod queue;
pub mod ruleset;

// Control half.
pub mod config;
pub mod conntrack;
pub mod health;
pub mod metrics;
pub mod run;
pub mod watch;
