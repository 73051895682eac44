//! The network-policy-api v0.1.7 AdminNetworkPolicy and BaselineAdminNetworkPolicy
//! conformance tests, one case per upstream `ConformanceTest`, run against the engine. Set
//! `VERDICT_CASE=<substring>` to run some cases only.

mod support;

use verdict_conformance::anp;

#[test]
fn every_admin_network_policy_conformance_test_passes() {
    let cases: Vec<_> = anp::cases()
        .into_iter()
        .filter(|c| c.name.starts_with("anp/"))
        .collect();
    let (ran, cells) = support::run_all(&cases);
    if std::env::var("VERDICT_CASE").is_err() {
        assert_eq!(ran, 13);
        assert!(cells > 0);
    }
}

#[test]
fn every_baseline_admin_network_policy_conformance_test_passes() {
    let cases: Vec<_> = anp::cases()
        .into_iter()
        .filter(|c| c.name.starts_with("banp/"))
        .collect();
    let (ran, cells) = support::run_all(&cases);
    if std::env::var("VERDICT_CASE").is_err() {
        assert_eq!(ran, 11);
        assert!(cells > 0);
    }
}

/// The runner must be able to fail on a node column too: flip gryffindor's expected reach to a
/// host-network centaur in the node-peer test and exactly that cell is reported.
#[test]
fn the_runner_reports_a_wrong_node_expectation() {
    let mut case = anp::cases()
        .into_iter()
        .find(|c| c.name == "anp/admin-network-policy-egress-node-peers")
        .expect("case exists");
    let from = case.model.clients[0].clone();
    let to = case
        .model
        .servers
        .iter()
        .find(|p| p.name == "centaur-1")
        .expect("centaur")
        .clone();
    let reachability = &mut case.steps[0].expectations[0].reachability;
    assert!(
        reachability.get(&from, &to),
        "TCP 36363 to nodes is allowed upstream"
    );
    reachability.expect(&from, &to, false);
    let report = support::run(&case);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(report.failures[0].contains(&format!(
        "{from} -> {to}: expected blocked, observed allowed"
    )));
}
