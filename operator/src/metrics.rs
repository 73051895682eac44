//! The operator's Prometheus metrics and its small HTTP server (`/metrics`, `/healthz`).
//!
//! ```text
//!   reconcile / error_policy ──► Metrics (counters, histogram) ──► GET /metrics (text format)
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Reconcile metrics, cheap to clone (everything inside is shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    reconciles: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    duration: Histogram,
    leader: Gauge,
    ready: Arc<AtomicBool>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("verdict_operator");
        let reconciles = Family::<Labels, Counter>::default();
        let errors = Family::<Labels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        let leader = Gauge::default();
        registry.register(
            "reconciles",
            "Reconciles run, by outcome (ok, error)",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles, by error kind",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            duration.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconciles,
            errors,
            duration,
            leader,
            ready: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Metrics {
    /// Counts one finished reconcile.
    pub fn reconciled(&self, ok: bool, took: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.reconciles
            .get_or_create(&vec![("outcome".to_owned(), outcome.to_owned())])
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// Counts one reconcile error of kind `kind` (see [`crate::Error::metric_label`]).
    pub fn error(&self, kind: &str) {
        self.errors
            .get_or_create(&vec![("error".to_owned(), kind.to_owned())])
            .inc();
    }

    /// Reconciles run so far, both outcomes.
    pub fn reconcile_count(&self) -> u64 {
        ["ok", "error"]
            .iter()
            .map(|o| {
                self.reconciles
                    .get_or_create(&vec![("outcome".to_owned(), (*o).to_owned())])
                    .get()
            })
            .sum()
    }

    /// Records whether this replica leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Marks the operator ready (CRD found, controller started).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// `/metrics`, `/healthz` (the process is up) and `/readyz` (the controller runs).
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(serve_ready))
        .with_state(metrics)
}

async fn serve_metrics(State(m): State<Metrics>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
}

async fn serve_ready(State(m): State<Metrics>) -> impl IntoResponse {
    if m.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_up_in_the_text_format() {
        let m = Metrics::default();
        m.reconciled(true, Duration::from_millis(3));
        m.reconciled(false, Duration::from_millis(3));
        m.error("kube");
        m.set_leader(true);
        let text = m.render();
        for needle in [
            "verdict_operator_reconciles_total{outcome=\"ok\"} 1",
            "verdict_operator_reconcile_errors_total{error=\"kube\"} 1",
            "verdict_operator_leader 1",
            "verdict_operator_reconcile_duration_seconds_count 2",
        ] {
            assert!(
                text.lines().any(|l| l == needle),
                "{needle} missing in:\n{text}"
            );
        }
        assert_eq!(m.reconcile_count(), 2);
    }
}
