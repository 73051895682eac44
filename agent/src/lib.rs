//! kube-verdict node agent (being written; the crate doc is replaced when the pieces land).

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
