//! Table-driven unit tests of the engine's semantics, built from the `testing` fixtures.

mod admin;
mod cluster;
mod errors;
mod incremental;
mod network_policy;
mod ports;
mod reasons;
mod selector;

use crate::testing::*;
use crate::{ClusterObject, Decision, Index, Verdict};

/// The cluster most tests start from:
///
/// ```text
/// namespace x (team=a):  x/a 10.0.0.1 (pod=a, node n1)   x/b 10.0.0.2 (pod=b, node n1)
/// namespace y (team=b):  y/a 10.0.1.1 (pod=a, node n2)   y/b 10.0.1.2 (pod=b, node n2)
/// node n1 192.168.0.1 (zone=1), node n2 192.168.0.2 (zone=2)
/// ```
pub(crate) fn base() -> Vec<ClusterObject> {
    vec![
        namespace("x").labels([("team", "a")]).into(),
        namespace("y").labels([("team", "b")]).into(),
        node("n1").labels([("zone", "1")]).ip("192.168.0.1").into(),
        node("n2").labels([("zone", "2")]).ip("192.168.0.2").into(),
        pod("x", "a")
            .labels([("pod", "a")])
            .ip("10.0.0.1")
            .node("n1")
            .into(),
        pod("x", "b")
            .labels([("pod", "b")])
            .ip("10.0.0.2")
            .node("n1")
            .into(),
        pod("y", "a")
            .labels([("pod", "a")])
            .ip("10.0.1.1")
            .node("n2")
            .into(),
        pod("y", "b")
            .labels([("pod", "b")])
            .ip("10.0.1.2")
            .node("n2")
            .into(),
    ]
}

/// `base()` plus `extra`.
pub(crate) fn cluster(extra: impl IntoIterator<Item = ClusterObject>) -> Index {
    let mut objects = base();
    objects.extend(extra);
    index_of(objects)
}

pub(crate) const XA: &str = "10.0.0.1";
pub(crate) const XB: &str = "10.0.0.2";
pub(crate) const YA: &str = "10.0.1.1";
pub(crate) const YB: &str = "10.0.1.2";
pub(crate) const N1: &str = "192.168.0.1";
pub(crate) const N2: &str = "192.168.0.2";
pub(crate) const OUTSIDE: &str = "203.0.113.9";

/// Asserts a verdict and prints the explain line on failure.
#[track_caller]
pub(crate) fn expect(case: &str, decision: &Decision, want: Verdict) {
    assert_eq!(
        decision.verdict,
        want,
        "case {case:?}: {}",
        decision.explain()
    );
}
