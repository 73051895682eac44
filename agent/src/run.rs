//! Wiring: builds every piece of the agent from its [`Config`] and runs them until a signal.
//!
//! ```text
//!  start ─► /healthz /readyz, /metrics servers
//!        ─► watchers + index owner ──(first full sync)──┐
//!                                                       ▼
//!        ─► verdict workers bound to their queues (read ArcSwap<Index>)
//!        ─► ruleset: detect queue statement, install or adopt the table with the selected IPs
//!        ─► ready ─► sync loop (watch<SelectedIps> ─► incremental set updates)
//!                 ─► strict mode (watch<Arc<Index>> ─► conntrack deletes), if enabled
//!  SIGTERM/SIGINT ─► stop workers, leave the table in place, exit 0
//! ```
//!
//! # Restart behaviour
//! The agent never deletes its table on exit, and a new agent adopts the table it finds without
//! flushing it, so established connections (accepted by `ct state established,related`) keep
//! flowing across a restart or a crash. Between the old agent's exit and the new agent binding
//! its queues, *new* connections of selected pods meet a queue with no listener:
//! - fail-open (`--fail-open=true`, the default): the queue rule carries `bypass`, so the kernel
//!   accepts them unjudged; when a queue overflows while the agent runs, fail-open accepts too;
//! - fail-closed (`--fail-open=false`): no `bypass`, so the kernel drops them, and a client
//!   retransmits until the new agent judges its connection.
//!
//! The workers are started only after the first full sync, so no packet is ever judged against
//! a half-listed cluster; until then the rule above applies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch as channel;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{Instrument, debug, error, info, info_span, warn};
use verdict_engine::{Index, SelectedIps};
use verdict_events::spans::{ExportConfig, SpanQueue, SpanResource};
use verdict_events::{EventBuilder, Sampler, SamplerConfig, TraceKey};
use verdict_web::{Hub, HubConfig, WebState};

use crate::cache::{CacheCounters, CacheFeed, VerdictCache};
use crate::config::Config;
use crate::health::{Condition, Health};
use crate::metrics::{DataplaneSample, DataplaneSource, LatencySample, Metrics};
use crate::queue::{Counters, DecisionSink, DecisionTap, WorkerConfig, Workers, handoff};
use crate::ruleset::{RulesetConfig, Syncer, VerdictCacheSpec};
use crate::telemetry::{self, Consumers};
use crate::{Error, Result, conntrack, health, metrics, watch};

/// How long the sync loop waits before retrying a refused ruleset update.
const SYNC_RETRY: Duration = Duration::from_secs(1);

/// Runs the agent until SIGTERM or SIGINT (`Ok`), or until a part of it fails (`Err`).
///
/// # Errors
/// See [`Error`]; each names what failed.
pub async fn run(config: Config) -> Result<()> {
    announce(&config);
    let mut signals = Signals::install()?;
    let client = client(&config).await?;
    let metrics = Metrics::new();
    let health = Health::new();
    let mut tasks = JoinSet::new();

    let health_listener = bind(config.health_addr, "health").await?;
    let metrics_listener = bind(config.metrics_addr, "metrics").await?;
    tasks.spawn(serve(
        health_listener,
        health::router(health.clone()),
        "health",
    ));
    tasks.spawn(serve(
        metrics_listener,
        metrics::router(metrics.clone()),
        "metrics",
    ));

    let published = watch::spawn(
        client,
        config.node_name.clone(),
        config.policies,
        metrics.clone(),
        health.clone(),
        &mut tasks,
    );

    // Nothing is enforced before the first full sync (see the module doc).
    let mut first = published.index.clone();
    tokio::select! {
        r = first.wait_for(Option::is_some) => {
            if r.is_err() {
                return Err(Error::TaskEnded("index owner".into()));
            }
        }
        name = signals.recv() => {
            info!(signal = name, "stopping before the initial sync");
            return Ok(());
        }
        Some(ended) = tasks.join_next() => return Err(ended_task(ended)),
    }

    let counters = Arc::new(Counters::new());
    let cache_counters = Arc::new(CacheCounters::default());
    metrics.set_dataplane(dataplane_source(
        counters.clone(),
        cache_counters.clone(),
        config.verdict_cache_ttl > 0,
    ));
    metrics.set_kernel_queues(config.queue_base, config.queues);
    let verdict_cache = (config.verdict_cache_ttl > 0).then(|| VerdictCacheSpec {
        ttl: Duration::from_secs(config.verdict_cache_ttl),
        log_group: config.verdict_cache_log_group,
    });
    let cache_feed = verdict_cache.map(|_| CacheFeed::new(cache_counters.clone()));
    let mut worker_config = WorkerConfig::new(
        &config.node_name,
        config.queue_base,
        config.queues,
        config.fail_open,
    );
    worker_config.verdict_cache = cache_feed.clone();
    let (decision_sink, decision_tap) = handoff(config.event_buffer);
    let dashboard = match config.dashboard_addr {
        Some(addr) => {
            let listener = bind(addr, "dashboard").await?;
            let (hub, router) = dashboard(&config, published.index.clone(), &metrics);
            tasks.spawn(serve(listener, router, "dashboard"));
            info!(%addr, "dashboard serving");
            Some(hub)
        }
        None => None,
    };
    let telemetry = start_telemetry(
        &config,
        decision_tap,
        published.snapshot.clone(),
        metrics.clone(),
        dashboard,
    )?;
    let workers = Workers::start(
        worker_config,
        published.snapshot.clone(),
        Some(decision_sink.clone()),
        counters.clone(),
    )?;
    health.mark(Condition::WorkersRunning);
    // A worker that panicked or exited is restarted by the supervisor; until it is, the node
    // is not ready (its queue is unbound: bypass when fail-open, a black hole when not).
    {
        let counters = counters.clone();
        health.add_check("verdict-workers", move || counters.all_workers_up());
    }
    {
        let health = health.clone();
        metrics.set_ready_source(Arc::new(move || health.is_ready()));
    }

    let ruleset_config = RulesetConfig {
        table_name: config.table_name.clone(),
        queue_base: config.queue_base,
        queues: config.queues,
        fail_open: config.fail_open,
        verdict_cache,
    };
    let selected = published.selected.borrow().clone();
    let started = Instant::now();
    let syncer =
        tokio::task::spawn_blocking(move || Syncer::install_or_adopt(&ruleset_config, &selected))
            .await
            .map_err(|e| Error::TaskEnded(format!("ruleset install ({e})")))??;
    metrics.observe_ruleset_sync(started.elapsed());
    metrics.set_queue_statement(syncer.queue_statement().as_str());
    // The cache writer's first act is a flush, so it starts once the table exists.
    let _verdict_cache = match (verdict_cache, &cache_feed) {
        (Some(spec), Some(feed)) => Some(start_verdict_cache(
            &config,
            spec,
            feed,
            published.snapshot.clone(),
            counters.clone(),
            decision_sink.clone(),
        )?),
        _ => None,
    };
    // The workers and the cache log reader hold the only sinks now; once they stop, the
    // telemetry task drains what is left and ends.
    drop(decision_sink);
    if _verdict_cache.is_some() {
        let cache = cache_counters.clone();
        health.add_check("verdict-cache", move || cache.healthy());
    }
    health.mark(Condition::RulesInstalled);
    metrics.set_ready(health.is_ready());
    tasks.spawn(
        sync_loop(
            syncer,
            published.selected.clone(),
            published.enforce_pending_since.clone(),
            metrics.clone(),
            health.clone(),
        )
        .instrument(info_span!("ruleset-sync")),
    );
    if config.strict_mode {
        tasks.spawn(
            conntrack::run(
                config.node_name.clone(),
                published.index.clone(),
                metrics.clone(),
            )
            .instrument(info_span!("strict-mode")),
        );
    }
    info!(ready = health.is_ready(), "agent running");

    let outcome = tokio::select! {
        name = signals.recv() => {
            info!(
                signal = name,
                table = %config.table_name,
                "shutting down; the nftables table stays in place for the next agent"
            );
            Ok(())
        }
        Some(ended) = tasks.join_next() => Err(ended_task(ended)),
    };
    health.unmark(Condition::WorkersRunning);
    metrics.set_ready(false);
    // Joins the worker threads; each notices the stop flag within its receive timeout.
    tokio::task::spawn_blocking(move || {
        workers.stop();
        drop(_verdict_cache);
    })
    .await
    .ok();
    telemetry.flush(TELEMETRY_FLUSH).await;
    tasks.abort_all();
    outcome
}

/// Logs the configuration, including where decision telemetry goes.
fn announce(config: &Config) {
    info!(
        node = %config.node_name,
        queues = %format!("{}..={}", config.queue_base, config.queue_base + config.queues - 1),
        fail_open = config.fail_open,
        strict_mode = config.strict_mode,
        table = %config.table_name,
        policies = %config.policies,
        "verdict-agent starting"
    );
    info!(
        otlp_endpoint = config.otlp_endpoint.as_deref().unwrap_or("off"),
        allow_sample_rate = config.allow_sample_rate,
        always_sample_denies = config.always_sample_denies,
        max_spans_per_second = config.max_spans_per_second,
        dashboard = %config.dashboard_addr.map_or_else(|| "off".to_owned(), |a| a.to_string()),
        "decision telemetry"
    );
}

async fn client(config: &Config) -> Result<Client> {
    let kube_config = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::incluster()
            .map_err(|e| Error::Kubeconfig(format!("in-cluster configuration: {e}")))?,
    };
    Client::try_from(kube_config).map_err(Error::Client)
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, what, source })
}

async fn serve(listener: tokio::net::TcpListener, router: axum::Router, what: &'static str) {
    if let Err(e) = axum::serve(listener, router).await {
        error!(server = what, error = %e, "HTTP server stopped");
    }
}

/// Keeps the kernel's pod sets equal to the published selected IPs.
async fn sync_loop(
    mut syncer: Syncer,
    mut selected: channel::Receiver<SelectedIps>,
    pending_since: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    metrics: Metrics,
    health: Health,
) {
    let mut retry = false;
    loop {
        if !retry && selected.changed().await.is_err() {
            return;
        }
        let desired = selected.borrow_and_update().clone();
        // Taken with the set it belongs to; a later change sets it again.
        let change_since = pending_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let started = Instant::now();
        let joined = tokio::task::spawn_blocking(move || {
            let result = syncer.sync(&desired);
            (syncer, result)
        })
        .await;
        let Ok((back, result)) = joined else {
            health.fail("the ruleset syncer panicked");
            return;
        };
        syncer = back;
        match result {
            Ok(outcome) => {
                metrics.observe_ruleset_sync(started.elapsed());
                if let Some(since) = change_since {
                    metrics.observe_enforce_latency(since.elapsed());
                }
                debug!(?outcome, "ruleset synced");
                if retry {
                    info!("ruleset update succeeded again");
                    health.mark(Condition::RulesInstalled);
                    metrics.set_ready(health.is_ready());
                }
                retry = false;
            }
            Err(e) => {
                if !retry {
                    error!(error = %e, "ruleset update failed; retrying");
                }
                health.unmark(Condition::RulesInstalled);
                metrics.set_ready(false);
                retry = true;
                // Not enforced yet: the retry's commit ends this change's latency.
                if let Some(since) = change_since {
                    let mut pending = pending_since.lock().unwrap_or_else(|e| e.into_inner());
                    *pending = Some(pending.map_or(since, |p| p.min(since)));
                }
                tokio::time::sleep(SYNC_RETRY).await;
            }
        }
    }
}

/// How long a shutdown waits for the last decisions and spans to go out.
const TELEMETRY_FLUSH: Duration = Duration::from_secs(5);

/// The running telemetry: the fan-out task and, with `--otlp-endpoint`, the span export task.
struct RunningTelemetry {
    fan_out: tokio::task::JoinHandle<()>,
    export: Option<tokio::task::JoinHandle<()>>,
}

impl RunningTelemetry {
    /// Waits, at most `limit` in all, for the fan-out to drain (the sinks are gone by now) and
    /// the exporter to send what it holds.
    async fn flush(self, limit: Duration) {
        let drained = async {
            let _ = self.fan_out.await;
            if let Some(export) = self.export {
                let _ = export.await;
            }
        };
        if tokio::time::timeout(limit, drained).await.is_err() {
            warn!(
                seconds = limit.as_secs(),
                "telemetry did not flush in time; the last spans are lost"
            );
        }
    }
}

/// The dashboard's hub and router, reading the live index and this node's drop counters.
fn dashboard(
    config: &Config,
    index: channel::Receiver<Option<Arc<Index>>>,
    metrics: &Metrics,
) -> (Arc<Hub>, axum::Router) {
    let hub = Hub::new(HubConfig {
        history: config.dashboard_history,
        ..HubConfig::default()
    });
    let mut state = WebState::new(hub.clone(), index).node(config.node_name.clone());
    if let Some(url) = &config.jaeger_ui_url {
        state = state.jaeger_url(url.clone());
    }
    if let Some(token) = &config.dashboard_token {
        state = state.bearer_token(token.clone());
    }
    let metrics = metrics.clone();
    state = state.drop_counters(Arc::new(move || metrics.drop_counts()));
    (hub, verdict_web::router(state))
}

/// Starts the fan-out task over `tap`, with the span pipeline when `--otlp-endpoint` is set.
fn start_telemetry(
    config: &Config,
    tap: DecisionTap,
    snapshot: Arc<ArcSwap<Index>>,
    metrics: Metrics,
    dashboard: Option<Arc<Hub>>,
) -> Result<RunningTelemetry> {
    metrics.set_policy_hits_cap(config.policy_hits_cap);
    let builder = EventBuilder::new(
        &config.node_name,
        TraceKey::from_cluster_id(&config.trace_key),
    );
    let mut export = None;
    let spans = match &config.otlp_endpoint {
        Some(endpoint) => {
            let sampler = Sampler::new(SamplerConfig {
                allow_rate: config.allow_sample_rate,
                always_sample_denies: config.always_sample_denies,
                max_spans_per_second: config.max_spans_per_second,
                burst: config.max_spans_per_second.saturating_mul(2),
            })
            .map_err(Error::Telemetry)?;
            let resource = SpanResource {
                service_name: "verdict-agent".into(),
                service_version: env!("CARGO_PKG_VERSION").into(),
                node_name: config.node_name.clone(),
                pod_name: config.pod_name.clone(),
                pod_namespace: config.pod_namespace.clone(),
            };
            let (queue, handle) = SpanQueue::start(ExportConfig::new(endpoint), &resource)
                .map_err(Error::Telemetry)?;
            export = Some(handle);
            Some((queue, sampler))
        }
        None => None,
    };
    let consumers = Consumers {
        spans,
        dashboard: dashboard.map(|hub| -> telemetry::Publish {
            // The hub never blocks on readers: a slow subscriber is told what it missed.
            Arc::new(move |event| {
                hub.publish(event);
                true
            })
        }),
    };
    let fan_out = tokio::spawn(
        telemetry::run(tap, snapshot, builder, consumers, metrics)
            .instrument(info_span!("telemetry")),
    );
    Ok(RunningTelemetry { fan_out, export })
}

/// Starts the verdict cache's writer and log reader; dropping the result stops both.
fn start_verdict_cache(
    config: &Config,
    spec: VerdictCacheSpec,
    feed: &CacheFeed,
    snapshot: Arc<ArcSwap<Index>>,
    counters: Arc<Counters>,
    decisions: DecisionSink,
) -> Result<VerdictCache> {
    let cache = VerdictCache::start(
        &config.table_name,
        spec,
        &config.node_name,
        feed,
        snapshot,
        counters,
        Some(decisions),
    )
    // The error names the nflog step but not whose group it is.
    .inspect_err(|_| {
        error!(
            log_group = spec.log_group,
            "could not start the verdict cache (is its log group held by another process?)"
        )
    })?;
    info!(
        ttl_seconds = spec.ttl.as_secs(),
        log_group = spec.log_group,
        "verdict cache on"
    );
    Ok(cache)
}

fn dataplane_source(
    counters: Arc<Counters>,
    cache: Arc<CacheCounters>,
    cache_on: bool,
) -> DataplaneSource {
    use std::sync::atomic::Ordering::Relaxed;
    Arc::new(move || {
        let latency = counters.latency.snapshot();
        DataplaneSample {
            malformed_packets: counters.malformed.load(Relaxed),
            queue_drops: counters.queue_drops(),
            dropped_decisions: counters.dropped_decisions.load(Relaxed),
            unsupported_packets: counters.unsupported.load(Relaxed),
            engine_panics: counters.engine_panics.load(Relaxed),
            decision_latency: Some(LatencySample {
                cumulative: latency.cumulative,
                sum_seconds: latency.sum_seconds,
                count: latency.count,
            }),
            cache_hits: counters.cache_hits.load(Relaxed),
            cache_inserts: cache.inserted.load(Relaxed),
            cache_log_overruns: counters.cache_log_overruns.load(Relaxed),
            worker_restarts: counters.worker_restarts.load(Relaxed),
            workers_down: counters.workers_down.load(Relaxed),
            cache_errors: cache.errors.load(Relaxed),
            cache_flush_errors: cache.flush_errors.load(Relaxed),
            cache_full: cache.full.load(Relaxed),
            cache_stale_offers: cache.stale.load(Relaxed),
            cache_offer_overflow: cache.overflow.load(Relaxed),
            cache_switched_off: cache.switched_off.load(Relaxed),
            cache_healthy: cache_on.then(|| cache.healthy()),
            cache_flushes: cache.flushes.load(Relaxed),
        }
    })
}

fn ended_task(ended: Result<(), tokio::task::JoinError>) -> Error {
    match ended {
        Ok(()) => Error::TaskEnded("a watcher, server or sync".into()),
        Err(e) => Error::TaskEnded(format!("a watcher, server or sync ({e})")),
    }
}

/// SIGTERM and SIGINT.
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(Error::Signal)?,
            int: signal(SignalKind::interrupt()).map_err(Error::Signal)?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
