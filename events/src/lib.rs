//! `verdict-events`: the one value every consumer of kube-verdict's decisions reads, and how
//! it becomes a span. Apache-2.0, with no dependency on the agent (GPL) or its dataplane, so
//! that the dashboard (`web/`), the CLI and the operator can use it too.
//!
//! ```text
//!  verdict thread / cache log reader
//!     │ NodeDecision (decision.rs): flow, judgement, source, generation, connection token,
//!     │                             arrival time, hold time ─ built on the packet path
//!     ▼ (bounded handoff, drained by one telemetry task)
//!  EventBuilder::build (event.rs) ─► DecisionEvent: + id, seq, trace id (trace.rs),
//!     │                                               pod UIDs, the engine's explanation
//!     ├──► metrics
//!     ├──► dashboard: history ring + broadcast (web/)
//!     └──► Sampler (sampler.rs): keep every deny, allows by trace-id ratio, per-node cap
//!              └──► spans (spans.rs): `verdict.decision` spans, one per judged direction
//! ```
//!
//! Start reading at [`NodeDecision`], then [`EventBuilder::build`] and [`trace`].
#![forbid(unsafe_code)]

pub mod attribution;
pub mod decision;
pub mod error;
pub mod event;
pub mod sampler;
pub mod spans;
pub mod trace;

pub use attribution::CacheAttribution;
pub use decision::{DecisionSource, DefaultReason, NodeDecision};
pub use error::{Error, Result};
pub use event::{DecisionEvent, EventBuilder};
pub use sampler::{SampleOutcome, Sampler, SamplerConfig};
pub use trace::{SpanId, TraceId, TraceKey};
