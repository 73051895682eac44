//! `/healthz` (liveness) and `/readyz` (readiness) on `--health-addr`.
//!
//! ```text
//!  watch owner ──mark(Synced)──┐
//!  ruleset syncer ─mark(RulesInstalled)─► Health (atomics) ◄── GET /readyz, /healthz
//!  queue workers ─mark(WorkersRunning)─┘        ▲ ▲
//!  any task ── fail("why") ─────────────────────┘ │ (liveness goes 500: restart me)
//!  add_check("name", || ok) ──────────────────────┘ polled on every GET /readyz
//!    (a worker is down and restarting; the verdict cache cannot be flushed or its writer died)
//! ```
//!
//! Readiness means the agent enforces the cluster's current policy: every watcher has finished its
//! first list, the verdict workers are bound to their queues, the ruleset is installed, and no
//! registered check fails. Checks are pulled rather than pushed so that the dataplane pieces
//! (workers, cache) only keep their own state in atomics and never depend on this module.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

/// One condition of readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Every watcher finished its first list and the first snapshot is published.
    Synced,
    /// The verdict workers are bound to their queues.
    WorkersRunning,
    /// The nftables table, chains, rules and pod IP sets are installed.
    RulesInstalled,
}

impl Condition {
    const ALL: [Condition; 3] = [
        Condition::Synced,
        Condition::WorkersRunning,
        Condition::RulesInstalled,
    ];

    fn name(self) -> &'static str {
        match self {
            Condition::Synced => "synced",
            Condition::WorkersRunning => "workers-running",
            Condition::RulesInstalled => "rules-installed",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// Shared health state; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    conditions: [AtomicBool; 3],
    failure: Mutex<Option<String>>,
    checks: Mutex<Vec<Check>>,
}

/// A named readiness check: `ok()` false makes the agent not ready.
struct Check {
    name: &'static str,
    ok: Box<dyn Fn() -> bool + Send + Sync>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

impl Health {
    /// A fresh state: not ready, alive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks one readiness condition as met.
    pub fn mark(&self, condition: Condition) {
        self.inner.conditions[condition.slot()].store(true, Ordering::Release);
    }

    /// Marks one readiness condition as no longer met.
    pub fn unmark(&self, condition: Condition) {
        self.inner.conditions[condition.slot()].store(false, Ordering::Release);
    }

    /// Adds a readiness check, evaluated on every readiness query: while `ok` returns false the
    /// agent is not ready, and `/readyz` names the check. `ok` must be cheap (an atomic load).
    pub fn add_check(&self, name: &'static str, ok: impl Fn() -> bool + Send + Sync + 'static) {
        self.inner
            .checks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Check {
                name,
                ok: Box::new(ok),
            });
    }

    /// Whether every readiness condition is met.
    pub fn is_ready(&self) -> bool {
        self.missing().is_empty()
    }

    /// The readiness conditions not met yet, then the checks that fail.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing: Vec<&'static str> = Condition::ALL
            .iter()
            .filter(|c| !self.inner.conditions[c.slot()].load(Ordering::Acquire))
            .map(|c| c.name())
            .collect();
        let checks = self.inner.checks.lock().unwrap_or_else(|e| e.into_inner());
        missing.extend(checks.iter().filter(|c| !(c.ok)()).map(|c| c.name));
        missing
    }

    /// Records a failure the agent cannot recover from; liveness then fails so that the kubelet
    /// restarts the agent. The first failure is kept.
    pub fn fail(&self, why: impl Into<String>) {
        let mut failure = self.inner.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.get_or_insert_with(|| why.into());
    }

    /// The recorded failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.inner
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The `/healthz` and `/readyz` routes.
pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health)
}

async fn healthz(State(health): State<Health>) -> (StatusCode, String) {
    match health.failure() {
        None => (StatusCode::OK, "ok\n".into()),
        Some(why) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed: {why}\n"),
        ),
    }
}

async fn readyz(State(health): State<Health>) -> (StatusCode, String) {
    let missing = health.missing();
    if missing.is_empty() {
        (StatusCode::OK, "ready\n".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: waiting for {}\n", missing.join(", ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(health: &Health, path: &str) -> (StatusCode, String) {
        let response = router(health.clone())
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readiness_needs_every_condition() {
        let cases: &[(&str, &[Condition], StatusCode, &str)] = &[
            (
                "nothing yet",
                &[],
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: waiting for synced, workers-running, rules-installed\n",
            ),
            (
                "synced only",
                &[Condition::Synced],
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: waiting for workers-running, rules-installed\n",
            ),
            (
                "rules missing",
                &[Condition::Synced, Condition::WorkersRunning],
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: waiting for rules-installed\n",
            ),
            ("all", &Condition::ALL, StatusCode::OK, "ready\n"),
        ];
        for (name, marks, status, body) in cases {
            let health = Health::new();
            for c in *marks {
                health.mark(*c);
            }
            assert_eq!(
                get(&health, "/readyz").await,
                (*status, (*body).to_owned()),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn liveness_fails_after_a_fatal_error_only() {
        let health = Health::new();
        assert_eq!(
            get(&health, "/healthz").await,
            (StatusCode::OK, "ok\n".into()),
            "fresh"
        );
        health.fail("queue 100: socket closed");
        health.fail("a later failure is not reported");
        assert_eq!(
            get(&health, "/healthz").await,
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed: queue 100: socket closed\n".into()
            )
        );
    }

    #[tokio::test]
    async fn unmark_makes_the_agent_unready_again() {
        let health = Health::new();
        for c in Condition::ALL {
            health.mark(c);
        }
        health.unmark(Condition::RulesInstalled);
        assert!(!health.is_ready());
        assert_eq!(
            get(&health, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(get(&health, "/nope").await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_failing_check_makes_the_agent_unready_until_it_passes() {
        use std::sync::atomic::AtomicBool;
        let health = Health::new();
        for c in Condition::ALL {
            health.mark(c);
        }
        let worker_up = Arc::new(AtomicBool::new(true));
        let up = worker_up.clone();
        health.add_check("verdict-workers", move || up.load(Ordering::Relaxed));
        health.add_check("verdict-cache", || true);
        assert_eq!(
            get(&health, "/readyz").await,
            (StatusCode::OK, "ready\n".into())
        );
        worker_up.store(false, Ordering::Relaxed);
        assert_eq!(
            get(&health, "/readyz").await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: waiting for verdict-workers\n".into()
            )
        );
        health.unmark(Condition::Synced);
        assert_eq!(
            get(&health, "/readyz").await.1,
            "not ready: waiting for synced, verdict-workers\n"
        );
        health.mark(Condition::Synced);
        worker_up.store(true, Ordering::Relaxed);
        assert!(health.is_ready());
    }
}
