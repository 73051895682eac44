//! The upstream sig-network NetworkPolicy e2e suite (kubernetes v1.36), every case on the full
//! 9×9 model, run against the engine. Set `VERDICT_CASE=<substring>` to run some cases only.

mod support;

use verdict_conformance::netpol;
use verdict_conformance::{Action, Probe};

#[test]
fn every_upstream_netpol_case_matches_its_truth_tables() {
    let cases = netpol::cases();
    let (ran, cells) = support::run_all(&cases);
    if std::env::var("VERDICT_CASE").is_err() {
        assert_eq!(ran, 50);
        // 9×9 minus 9 loopback cells per table, over every expectation of every step.
        let tables: usize = cases
            .iter()
            .flat_map(|c| &c.steps)
            .map(|s| s.expectations.len())
            .sum();
        assert_eq!(cells, tables * 72);
    }
}

/// The runner must be able to fail: flip one expected cell of a real case and it reports
/// exactly that cell.
#[test]
fn the_runner_reports_a_wrong_expectation() {
    let mut case = netpol::cases()
        .into_iter()
        .find(|c| c.name == "netpol/should-support-a-default-deny-ingress-policy")
        .expect("case exists");
    let expectation = &mut case.steps[0].expectations[0];
    assert_eq!(expectation.probe, Probe::tcp(80));
    let (from, to) = (case.model.clients[3].clone(), case.model.servers[0].clone());
    let was = expectation.reachability.get(&from, &to);
    expectation.reachability.expect(&from, &to, !was);
    let report = support::run(&case);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(
        report.failures[0].contains(&format!("{from} -> {to}")),
        "{}",
        report.failures[0]
    );
}

/// Relabels go through `apply_pod`/`apply_namespace` on the live index, not a rebuild.
#[test]
fn update_cases_carry_state_between_steps() {
    let cases = netpol::cases();
    let relabels = cases
        .iter()
        .flat_map(|c| &c.steps)
        .flat_map(|s| &s.actions)
        .filter(|a| matches!(a, Action::ApplyPod(_) | Action::ApplyNamespace(_)))
        .count();
    assert_eq!(
        relabels, 3,
        "updated namespace, updated pod (allow), updated pod (deny)"
    );
}

/// Not an upstream case: the delete-and-recreate-a-pod actions, on the netpol model. A deleted
/// pod's address belongs to nobody, so it is judged as an outside address (never isolated, and
/// only ipBlock peers could match it); recreated, it is isolated again.
#[test]
fn a_deleted_then_recreated_pod_is_released_and_isolated_again() {
    use verdict_conformance::fixture::netpol as np;
    use verdict_conformance::{Case, Expectation, Model, Peer, PodName, Step};

    let model = Model::netpol();
    let xa = PodName::new("x", "a");
    let mut isolated = model.table(true);
    isolated.expect_peer(&Peer::any(), &Peer::namespace("x"), false);
    // A pod's traffic to itself never crosses a policy hook, so it stays allowed.
    for to in isolated.tos().to_vec() {
        isolated.expect(&to, &to, true);
    }
    let mut released = isolated.clone();
    released.expect_all_ingress(&xa, true);
    let expect = |t: &verdict_conformance::TruthTable| {
        vec![Expectation {
            probe: Probe::tcp(80),
            reachability: t.clone(),
        }]
    };
    let case = Case {
        name: "local/delete-and-recreate-pod".into(),
        upstream: "(none)".into(),
        model: model.clone(),
        ignore_loopback: false,
        steps: vec![
            Step {
                name: "deny ingress to x".into(),
                actions: vec![Action::network_policy(np("x", "deny").ingress([]).build())],
                expectations: expect(&isolated),
            },
            Step {
                name: "delete x/a".into(),
                actions: vec![Action::DeletePod(xa.clone())],
                expectations: expect(&released),
            },
            Step {
                name: "recreate x/a".into(),
                actions: vec![Action::ApplyPod(Box::new(
                    model.pod(&xa).expect("x/a").clone(),
                ))],
                expectations: expect(&isolated),
            },
        ],
        gap: None,
    };
    let report = support::run(&case);
    assert!(report.failures.is_empty(), "{}", report.failures.join("\n"));
    assert_eq!(report.cells, 3 * 81);
}
