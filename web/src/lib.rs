//! `verdict-web`: kube-verdict's live dashboard. [`router`] serves the decisions API and the
//! page that reads it; the agent serves it for its node, and the operator can serve it for a
//! merged cluster stream, because both only feed a [`Hub`]. Apache-2.0: it reads the event
//! type from `verdict-events` and the index from `verdict-engine`, never the agent.
//!
//! ```text
//!  telemetry fan-out ── Hub::publish ──► hub.rs: history ring + broadcast + stats.rs aggregates
//!  watch<Option<Arc<Index>>> ─────────┐          │
//!                                     ▼          ▼
//!  router (api.rs) ─ /api/decisions        history, filtered (filter.rs)
//!                  ─ /api/decisions/stream SSE: backlog/Last-Event-ID, then live; `dropped`
//!                  ─ /api/stats            rates, hits, drop counters
//!                  ─ /api/policies         engine catalog × hits (never-hit rules)
//!                  ─ /api/explain          live what-if with the CLI's renderers (explain.rs)
//!                  ─ /api/map              edges between workloads (map.rs, stats.rs)
//!                  ─ /, /assets/*          the page, embedded (assets.rs)
//! ```
//!
//! Start reading at [`router`] and [`Hub`].
#![forbid(unsafe_code)]

mod api;
pub mod assets;
pub mod error;
pub mod explain;
pub mod filter;
pub mod hub;
pub mod map;
pub mod stats;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use verdict_engine::Index;

pub use error::{Error, Result};
pub use filter::Filter;
pub use hub::{Entry, Hub, HubConfig};

/// Named drop counters that the embedding binary owns (the span exporter's, the queue's, the
/// fan-out's), read on every `/api/stats`.
pub type DropCounters = Arc<dyn Fn() -> Vec<(String, u64)> + Send + Sync>;

/// Everything the router reads.
#[derive(Clone)]
pub struct WebState {
    hub: Arc<Hub>,
    index: watch::Receiver<Option<Arc<Index>>>,
    node: Option<String>,
    jaeger_url: Option<String>,
    token: Option<String>,
    keep_alive: Duration,
    drops: Option<DropCounters>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState")
            .field("node", &self.node)
            .field("jaeger_url", &self.jaeger_url)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl WebState {
    /// State for a hub and the live index (the agent's `watch` of published snapshots).
    pub fn new(hub: Arc<Hub>, index: watch::Receiver<Option<Arc<Index>>>) -> Self {
        WebState {
            hub,
            index,
            node: None,
            jaeger_url: None,
            token: None,
            keep_alive: Duration::from_secs(15),
            drops: None,
        }
    }

    /// The node this dashboard serves (its policies view lists the pods each policy selects
    /// there).
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// The Jaeger UI's base URL, for the page's trace links.
    pub fn jaeger_url(mut self, url: impl Into<String>) -> Self {
        self.jaeger_url = Some(url.into().trim_end_matches('/').to_string());
        self
    }

    /// Requires `Authorization: Bearer <token>` (or `?access_token=<token>`, for the page's
    /// `EventSource`) on every `/api/` request.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How often an idle stream sends a keep-alive comment (default 15 s).
    pub fn keep_alive(mut self, every: Duration) -> Self {
        self.keep_alive = every;
        self
    }

    /// Drop counters of the embedding binary, shown under `dropped` in `/api/stats`.
    pub fn drop_counters(mut self, counters: DropCounters) -> Self {
        self.drops = Some(counters);
        self
    }

    /// The hub.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    fn index(&self) -> Result<Arc<Index>> {
        self.index.borrow().clone().ok_or(Error::IndexNotReady)
    }
}

/// The dashboard: the API under `/api/` and the page at `/`.
pub fn router(state: WebState) -> axum::Router {
    api::router(Arc::new(state))
}
