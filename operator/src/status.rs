//! The enforcer's status, computed from what the reconcile saw (pure).
//!
//! ```text
//!   Observation::RollingOut(DaemonSet) ─┐
//!   Observation::Blocked { by }        ─┼─► compute(…, previous status, now) ─► status
//!   Observation::ApplyFailed(message)  ─┘     (lastTransitionTime kept while a condition holds)
//! ```

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use verdict_crds::NetworkPolicyEnforcerStatus;
use verdict_crds::conditions::{
    DEGRADED, PROGRESSING, READY, REASON_APPLY_FAILED, REASON_AS_EXPECTED, REASON_CONFLICT,
    REASON_ROLLED_OUT, REASON_ROLLING_OUT,
};

use crate::children::daemon_set_image;

/// What one reconcile found.
#[derive(Clone, Debug)]
pub enum Observation<'a> {
    /// The DaemonSet as the API server returned it after the apply.
    Applied(&'a DaemonSet),
    /// An older enforcer with an overlapping selector runs; this one runs nothing.
    Blocked {
        /// The older enforcer's name.
        by: String,
    },
    /// Applying an owned object failed (the message says which and why).
    ApplyFailed(String),
}

/// Node counts of a DaemonSet rollout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rollout {
    /// Nodes that should run an agent.
    pub desired: i32,
    /// Nodes whose agent is ready.
    pub ready: i32,
    /// Nodes running the current pod template.
    pub updated: i32,
    /// Nodes whose agent has been ready for minReadySeconds.
    pub available: i32,
    /// The DaemonSet controller has seen the current DaemonSet spec.
    pub observed_current: bool,
}

impl Rollout {
    /// Reads the counts off a DaemonSet.
    pub fn of(ds: &DaemonSet) -> Self {
        let Some(st) = ds.status.as_ref() else {
            return Self::default();
        };
        let generation = ds.metadata.generation.unwrap_or(0);
        Self {
            desired: st.desired_number_scheduled,
            ready: st.number_ready,
            updated: st.updated_number_scheduled.unwrap_or(0),
            available: st.number_available.unwrap_or(0),
            observed_current: st.observed_generation.unwrap_or(0) >= generation,
        }
    }

    /// Every desired node runs a ready agent of the current template.
    pub fn done(&self) -> bool {
        self.observed_current
            && self.updated == self.desired
            && self.ready == self.desired
            && self.available == self.desired
    }
}

struct Conds {
    ready: (bool, &'static str, String),
    progressing: (bool, &'static str, String),
    degraded: (bool, &'static str, String),
}

/// Computes the status for an enforcer at `generation`.
///
/// # Guarantees
/// Exactly one of each of `Ready`, `Progressing` and `Degraded`, in that order. A condition's
/// `lastTransitionTime` is carried over from `previous` while its status does not change.
pub fn compute(
    generation: Option<i64>,
    observation: &Observation<'_>,
    previous: Option<&NetworkPolicyEnforcerStatus>,
    now: Timestamp,
) -> NetworkPolicyEnforcerStatus {
    let prev_counts = previous.cloned().unwrap_or_default();
    let (rollout, image) = match observation {
        Observation::Applied(ds) => (Rollout::of(ds), daemon_set_image(ds)),
        // Blocked: nothing runs. Failed: keep what was last seen.
        Observation::Blocked { .. } => (Rollout::default(), None),
        Observation::ApplyFailed(_) => (
            Rollout {
                desired: prev_counts.desired_nodes,
                ready: prev_counts.ready_nodes,
                updated: prev_counts.updated_nodes,
                available: prev_counts.ready_nodes,
                observed_current: false,
            },
            prev_counts.agent_image.clone(),
        ),
    };
    let conds = conditions(observation, &rollout, image.as_deref());
    let old = previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    let make = |type_: &str, (on, reason, message): (bool, &'static str, String)| {
        let status = if on { "True" } else { "False" };
        let since = old
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now));
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message,
            observed_generation: generation,
            last_transition_time: since,
        }
    };
    NetworkPolicyEnforcerStatus {
        observed_generation: generation,
        conditions: vec![
            make(READY, conds.ready),
            make(PROGRESSING, conds.progressing),
            make(DEGRADED, conds.degraded),
        ],
        desired_nodes: rollout.desired,
        ready_nodes: rollout.ready,
        updated_nodes: rollout.updated,
        agent_image: image,
    }
}

fn conditions(observation: &Observation<'_>, r: &Rollout, image: Option<&str>) -> Conds {
    let counts = format!(
        "{}/{} nodes ready, {}/{} updated",
        r.ready, r.desired, r.updated, r.desired
    );
    match observation {
        Observation::Blocked { by } => {
            let msg = format!(
                "spec.nodeSelector overlaps NetworkPolicyEnforcer {by:?}, which is older and runs \
                 agents; this enforcer runs none so that no node gets two agents. Make the node \
                 selectors disjoint or delete one of the two enforcers"
            );
            Conds {
                ready: (false, REASON_CONFLICT, msg.clone()),
                progressing: (
                    false,
                    REASON_CONFLICT,
                    format!("not rolling out: conflicts with {by:?}"),
                ),
                degraded: (true, REASON_CONFLICT, msg),
            }
        }
        Observation::ApplyFailed(err) => Conds {
            ready: (
                false,
                REASON_APPLY_FAILED,
                format!("{counts}; last apply failed: {err}"),
            ),
            progressing: (
                true,
                REASON_APPLY_FAILED,
                "retrying with backoff".to_owned(),
            ),
            degraded: (true, REASON_APPLY_FAILED, err.clone()),
        },
        Observation::Applied(_) if r.done() => {
            let msg = format!(
                "enforcing on {}/{} nodes with {}",
                r.ready,
                r.desired,
                image.unwrap_or("the agent")
            );
            Conds {
                ready: (true, REASON_ROLLED_OUT, msg),
                progressing: (false, REASON_ROLLED_OUT, "rollout complete".to_owned()),
                degraded: (false, REASON_AS_EXPECTED, String::new()),
            }
        }
        Observation::Applied(_) => Conds {
            ready: (false, REASON_ROLLING_OUT, counts.clone()),
            progressing: (true, REASON_ROLLING_OUT, counts),
            degraded: (false, REASON_AS_EXPECTED, String::new()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DaemonSetStatus;

    fn ds(generation: i64, observed: i64, desired: i32, ready: i32, updated: i32) -> DaemonSet {
        let mut ds = DaemonSet::default();
        ds.metadata.generation = Some(generation);
        ds.status = Some(DaemonSetStatus {
            observed_generation: Some(observed),
            desired_number_scheduled: desired,
            number_ready: ready,
            updated_number_scheduled: Some(updated),
            number_available: Some(ready),
            ..Default::default()
        });
        ds
    }

    fn cond<'a>(s: &'a NetworkPolicyEnforcerStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_000).unwrap()
    }

    #[test]
    fn rollout_table() {
        // (name, daemon set, ready, progressing, degraded, reason of Ready)
        let cases = [
            (
                "fresh, no status yet",
                DaemonSet::default(),
                "False",
                "True",
                "False",
                REASON_ROLLING_OUT,
            ),
            (
                "controller behind",
                ds(2, 1, 3, 3, 3),
                "False",
                "True",
                "False",
                REASON_ROLLING_OUT,
            ),
            (
                "pods not ready",
                ds(1, 1, 3, 1, 3),
                "False",
                "True",
                "False",
                REASON_ROLLING_OUT,
            ),
            (
                "old template on a node",
                ds(2, 2, 3, 3, 2),
                "False",
                "True",
                "False",
                REASON_ROLLING_OUT,
            ),
            (
                "done",
                ds(2, 2, 3, 3, 3),
                "True",
                "False",
                "False",
                REASON_ROLLED_OUT,
            ),
            (
                "no matching nodes",
                ds(1, 1, 0, 0, 0),
                "True",
                "False",
                "False",
                REASON_ROLLED_OUT,
            ),
        ];
        for (name, d, ready, progressing, degraded, reason) in cases {
            let s = compute(Some(4), &Observation::Applied(&d), None, now());
            assert_eq!(cond(&s, READY).status, ready, "{name}");
            assert_eq!(cond(&s, READY).reason, reason, "{name}");
            assert_eq!(cond(&s, PROGRESSING).status, progressing, "{name}");
            assert_eq!(cond(&s, DEGRADED).status, degraded, "{name}");
            assert_eq!(s.observed_generation, Some(4), "{name}");
        }
    }

    #[test]
    fn counts_come_from_the_daemon_set() {
        let s = compute(
            Some(1),
            &Observation::Applied(&ds(1, 1, 5, 4, 3)),
            None,
            now(),
        );
        assert_eq!((s.desired_nodes, s.ready_nodes, s.updated_nodes), (5, 4, 3));
        assert_eq!(cond(&s, READY).message, "4/5 nodes ready, 3/5 updated");
    }

    #[test]
    fn conflict_names_the_other_enforcer() {
        let s = compute(
            Some(1),
            &Observation::Blocked { by: "old".into() },
            None,
            now(),
        );
        let degraded = cond(&s, DEGRADED);
        assert_eq!(
            (degraded.status.as_str(), degraded.reason.as_str()),
            ("True", "Conflict")
        );
        assert!(degraded.message.contains("\"old\""), "{}", degraded.message);
        assert_eq!(cond(&s, READY).status, "False");
        assert_eq!(s.desired_nodes, 0);
    }

    #[test]
    fn apply_failure_is_degraded_and_keeps_counts() {
        let prev = compute(
            Some(1),
            &Observation::Applied(&ds(1, 1, 3, 3, 3)),
            None,
            now(),
        );
        let s = compute(
            Some(2),
            &Observation::ApplyFailed("apply DaemonSet x: forbidden".into()),
            Some(&prev),
            now(),
        );
        assert_eq!(cond(&s, DEGRADED).reason, REASON_APPLY_FAILED);
        assert_eq!(cond(&s, READY).status, "False");
        assert_eq!(s.ready_nodes, 3);
    }

    #[test]
    fn transition_time_is_kept_while_status_holds() {
        let first = compute(
            Some(1),
            &Observation::Applied(&ds(1, 1, 3, 1, 3)),
            None,
            now(),
        );
        let later = Timestamp::from_second(2_000).unwrap();
        let same = compute(
            Some(1),
            &Observation::Applied(&ds(1, 1, 3, 2, 3)),
            Some(&first),
            later,
        );
        assert_eq!(cond(&same, READY).last_transition_time.0, now());
        let flipped = compute(
            Some(1),
            &Observation::Applied(&ds(1, 1, 3, 3, 3)),
            Some(&same),
            later,
        );
        assert_eq!(cond(&flipped, READY).last_transition_time.0, later);
    }
}
