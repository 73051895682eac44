//! The pure policy engine (skeleton: the engine helper replaces this doc and fills in index.rs).
#![forbid(unsafe_code)]

pub mod decision;
pub mod error;
pub mod flow;
pub mod index;

pub use decision::{
    Decision, Direction, DirectionDecision, Endpoint, PolicyKind, PolicyRef, RuleRef, Tier, Verdict,
};
pub use error::{Error, Result};
pub use flow::{Flow, Protocol};
pub use index::{ClusterObject, Index, SelectedIps};
