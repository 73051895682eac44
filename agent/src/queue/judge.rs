//! Judging one flow on one node. The judgement and the decision record live outside the agent
//! (the engine and `verdict-events`), so the dashboard and the CLI read the same values
//! without linking the dataplane; they are re-exported here for the agent's own code.

pub use verdict_engine::{Judgement, judge};
pub use verdict_events::NodeDecision;
