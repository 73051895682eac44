//! Scale benchmark: one NetworkPolicyEnforcer over N kwok nodes (default 1,000).
//!
//! Prints the time from `kubectl apply` to a status of Ready N/N, the reconciles that took,
//! and the same for a spec change rolled out over all nodes. A benchmark, not a test: it
//! asserts only that the counts converge. Needs root and the control-plane binaries, like the
//! e2e tests. Run it with `operator/scripts/scale-bench.sh [NODES]`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nodes: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("NODES must be a number"))
        .unwrap_or(1000);
    let r = support::scale_run(nodes, Duration::from_secs(900)).await;
    println!("operator scale benchmark: {} kwok nodes", r.nodes);
    println!(
        "  create  -> Ready {n}/{n}: {:>7.1} s, {} reconciles",
        r.converge.as_secs_f64(),
        r.reconciles,
        n = r.nodes
    );
    println!(
        "  rollout -> Ready {n}/{n}: {:>7.1} s, {} reconciles (maxUnavailable 10%)",
        r.rollout.as_secs_f64(),
        r.rollout_reconciles,
        n = r.nodes
    );
}
