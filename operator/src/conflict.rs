//! Which enforcers may run agents, so that no node ever gets two.
//!
//! Two enforcers conflict when their `nodeSelector`s could both match one node: no label key is
//! given different values by the two. The check is on the selectors, not on today's nodes, so a
//! node that joins later can't end up with two agents either. Tolerations only widen where a pod
//! may go, never narrow it, so they play no part.
//!
//! Enforcers are taken oldest first (creation time, then name). Each one runs unless its
//! selector overlaps one that already runs; then it is blocked by that one. A blocked enforcer
//! runs nothing, so it blocks nobody.

use std::collections::BTreeMap;

use verdict_crds::NetworkPolicyEnforcer;

/// Whether some node could carry labels that satisfy both selectors.
pub fn selectors_overlap(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    a.iter()
        .all(|(key, value)| b.get(key).is_none_or(|other| other == value))
}

/// What the plan says about one enforcer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// It may run its agents.
    Run,
    /// An older enforcer that runs has an overlapping selector; this one must not run.
    BlockedBy(String),
}

fn age_key(npe: &NetworkPolicyEnforcer) -> (Option<k8s_openapi::jiff::Timestamp>, String) {
    (
        npe.metadata.creation_timestamp.as_ref().map(|t| t.0),
        npe.metadata.name.clone().unwrap_or_default(),
    )
}

/// Decides the placement of `name` among `all` (which should include it).
///
/// # Guarantees
/// Among the enforcers that get [`Placement::Run`], no two selectors overlap; the result for one
/// enforcer depends only on the enforcers older than it.
pub fn placement<'a>(
    name: &str,
    all: impl IntoIterator<Item = &'a NetworkPolicyEnforcer>,
) -> Placement {
    let mut sorted: Vec<&NetworkPolicyEnforcer> = all.into_iter().collect();
    sorted.sort_by_key(|npe| age_key(npe));
    let mut running: Vec<&NetworkPolicyEnforcer> = Vec::new();
    for npe in sorted {
        let blocker = running
            .iter()
            .find(|r| selectors_overlap(&r.spec.node_selector, &npe.spec.node_selector));
        let this = npe.metadata.name.as_deref() == Some(name);
        match blocker {
            Some(b) if this => {
                return Placement::BlockedBy(b.metadata.name.clone().unwrap_or_default());
            }
            Some(_) => {}
            None if this => return Placement::Run,
            None => running.push(npe),
        }
    }
    // Not in the list: nothing can be said against it. Callers include the enforcer itself.
    Placement::Run
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn sel(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn npe(name: &str, created_s: i64, selector: &[(&str, &str)]) -> NetworkPolicyEnforcer {
        let mut n = NetworkPolicyEnforcer::new(name, serde_json::from_str("{}").unwrap());
        n.spec.node_selector = sel(selector);
        n.metadata.creation_timestamp = Some(Time(
            k8s_openapi::jiff::Timestamp::from_second(created_s).unwrap(),
        ));
        n
    }

    #[test]
    fn overlap_table() {
        type Labels<'a> = &'a [(&'a str, &'a str)];
        let cases: [(&str, Labels, Labels, bool); 6] = [
            ("both empty", &[], &[], true),
            ("empty matches all", &[], &[("pool", "a")], true),
            (
                "same key same value",
                &[("pool", "a")],
                &[("pool", "a")],
                true,
            ),
            (
                "same key other value",
                &[("pool", "a")],
                &[("pool", "b")],
                false,
            ),
            (
                "disjoint keys can meet",
                &[("pool", "a")],
                &[("zone", "z")],
                true,
            ),
            (
                "one differing key is enough",
                &[("pool", "a"), ("zone", "z")],
                &[("pool", "a"), ("zone", "y")],
                false,
            ),
        ];
        for (name, a, b, want) in cases {
            assert_eq!(selectors_overlap(&sel(a), &sel(b)), want, "{name}");
            assert_eq!(
                selectors_overlap(&sel(b), &sel(a)),
                want,
                "{name} (swapped)"
            );
        }
    }

    #[test]
    fn newer_overlapping_enforcer_is_blocked_by_the_older() {
        let all = [npe("old", 1, &[]), npe("new", 2, &[("pool", "a")])];
        assert_eq!(placement("old", &all), Placement::Run);
        assert_eq!(placement("new", &all), Placement::BlockedBy("old".into()));
    }

    #[test]
    fn disjoint_enforcers_both_run() {
        let all = [npe("a", 1, &[("pool", "a")]), npe("b", 2, &[("pool", "b")])];
        assert_eq!(placement("a", &all), Placement::Run);
        assert_eq!(placement("b", &all), Placement::Run);
    }

    #[test]
    fn a_blocked_enforcer_blocks_nobody() {
        // b overlaps a (blocked); c overlaps only b, so c runs.
        let all = [
            npe("a", 1, &[("pool", "a")]),
            npe("b", 2, &[("zone", "z")]),
            npe("c", 3, &[("pool", "c"), ("zone", "z")]),
        ];
        assert_eq!(placement("b", &all), Placement::BlockedBy("a".into()));
        assert_eq!(placement("c", &all), Placement::Run);
    }

    #[test]
    fn same_creation_time_is_broken_by_name() {
        let all = [npe("zeta", 5, &[]), npe("alpha", 5, &[])];
        assert_eq!(placement("alpha", &all), Placement::Run);
        assert_eq!(
            placement("zeta", &all),
            Placement::BlockedBy("alpha".into())
        );
    }

    #[test]
    fn deleting_the_blocker_unblocks() {
        let all = [npe("new", 2, &[])];
        assert_eq!(placement("new", &all), Placement::Run);
    }
}
