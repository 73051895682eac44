//! The network-policy-api v0.3.0 ClusterNetworkPolicy conformance tests (30 tests, 112
//! subtests, standard and experimental), one case per upstream `ConformanceTest`, run against
//! the engine. Set `VERDICT_CASE=<substring>` to run some cases only.

mod support;

use verdict_conformance::cnp;

#[test]
fn every_admin_tier_cluster_network_policy_conformance_test_passes() {
    let cases: Vec<_> = cnp::cases()
        .into_iter()
        .filter(|c| c.upstream.starts_with("CNPAdminTier"))
        .collect();
    let (ran, cells) = support::run_all(&cases);
    if std::env::var("VERDICT_CASE").is_err() {
        assert_eq!(ran, 16);
        assert!(cells > 0);
    }
}

#[test]
fn every_baseline_tier_cluster_network_policy_conformance_test_passes() {
    let cases: Vec<_> = cnp::cases()
        .into_iter()
        .filter(|c| c.upstream.starts_with("CNPBaselineTier"))
        .collect();
    let (ran, cells) = support::run_all(&cases);
    if std::env::var("VERDICT_CASE").is_err() {
        assert_eq!(ran, 14);
        assert!(cells > 0);
    }
}

/// The runner must fail on a wrong label step: with the blocked label never set, the
/// pod-selector case's "cedric-diggory-0 labelled blocked" step reports exactly that pod.
#[test]
fn a_skipped_label_change_is_reported() {
    let mut case = cnp::cases()
        .into_iter()
        .find(|c| c.upstream == "CNPAdminTierPodSelector")
        .expect("case exists");
    let step = case
        .steps
        .iter_mut()
        .find(|s| s.name.ends_with("cedric-diggory-0 labelled blocked"))
        .expect("step exists");
    step.actions.clear();
    let report = support::run(&case);
    assert!(!report.failures.is_empty());
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.contains("cedric-diggory-0")
                && f.contains("expected blocked, observed allowed")),
        "{:#?}",
        report.failures
    );
}
