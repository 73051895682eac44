//! Every network-policy-api v0.1.7 AdminNetworkPolicy and BaselineAdminNetworkPolicy
//! conformance case (ported in `verdict-conformance`) on real packets: the houses model over two
//! netns nodes (with the host-network centaurs on each node), one `verdict-agent` per node, each
//! step applied through the API server and every table probed until it matches or settles.
//! (That a deny is a silent drop, a timeout rather than a refusal, is checked separately in
//! `resilience.rs`.)
//! Needs root and the control-plane binaries; runs when `VERDICT_E2E` is set.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anp_and_banp_cases_on_real_packets() {
    verdict_e2e::skip_unless_e2e!();
    common::run_suite("agent-anp", "ANP/BANP", verdict_conformance::anp::cases()).await;
}
