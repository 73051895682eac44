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
//!   inet table, pod-IP sets, verdict cache     per NFQUEUE, cpu-fanout,      strict mode:
//!   sets, chains, native `queue` or the        supervised): packet/ parse    delete what the
//!   xt NFQUEUE target                          ─► judge the direction(s)     index denies (at
//!        │                                     this node owns ─► verdict     start, on change)
//!        ▼                                        │ allow: offer the flow class
//!   kernel: ct new + cached class ─► log, accept  ▼
//!           ct new/invalid/untracked           cache/ (writer: flush on index change, add
//!             + selected pod ─► queue          offers; log reader: cached accepts)
//!                                                 │ NodeDecision (bounded handoff ring)
//!                                                 ▼
//!                    telemetry.rs: DecisionEvent ─► metrics.rs (/metrics), the dashboard
//!                                                   (verdict-web), OTLP spans (verdict-events)
//!                    health.rs (/healthz, /readyz: conditions + worker and cache checks)
//! ```
//!
//! Start reading at [`run`] (the wiring and the restart behaviour), then [`watch`],
//! [`queue`] and [`telemetry`]. Pure pieces ([`packet`], the ruleset model and renderer, conntrack message
//! encoding, the watch-event step) are apart from I/O and tested table-driven; netlink and
//! real-packet tests run under `VERDICT_E2E=1`.
//!
//! Licence: the agent links rustables (GPL-3.0-or-later), so this binary as distributed is
//! GPL-3.0-or-later; see NOTICE.

pub mod error;

// Dataplane half.
pub mod cache;
pub mod packet;
pub mod queue;
pub mod ruleset;

// Control half.
pub mod config;
pub mod conntrack;
pub mod health;
pub mod metrics;
mod netlink;
pub mod nflog;
pub mod run;
pub mod telemetry;
pub mod watch;

pub use error::{Error, Result};
