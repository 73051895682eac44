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

use crate::cache::{CacheCounters, CacheFeed, VerdictCache};
use crate::config::Config;
use crate::health::{Condition, Health};
use crate::metrics::{DataplaneSample, DataplaneSource, LatencySample, Metrics};
use crate::queue::{Counters, WorkerConfig, Workers};
use crate::ruleset::{RulesetConfig, Syncer, VerdictCacheSpec};
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
    metrics.set_dataplane(dataplane_source(counters.clone(), cache_counters.clone()));
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
    // Decisions have no consumer until the telemetry issue lands; the workers skip building
    // them when there is no channel.
    let workers = Workers::start(
        worker_config,
        published.snapshot.clone(),
        None,
        counters.clone(),
    )?;
    health.mark(Condition::WorkersRunning);

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
        )?),
        _ => None,
    };
    health.mark(Condition::RulesInstalled);
    metrics.set_ready(health.is_ready());
    tasks.spawn(
        sync_loop(
            syncer,
            published.selected.clone(),
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
    tokio::task::spawn_blocking(move || workers.stop())
        .await
        .ok();
    tasks.abort_all();
    outcome
}

/// Logs the configuration, and says which telemetry flags are accepted but not active yet.
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
    if config.otlp_endpoint.is_some() || config.dashboard_addr.is_some() {
        warn!(
            otlp_endpoint = config.otlp_endpoint.as_deref().unwrap_or("unset"),
            dashboard_addr = %config.dashboard_addr.map(|a| a.to_string()).unwrap_or_else(|| "unset".into()),
            allow_sample_rate = config.allow_sample_rate,
            always_sample_denies = config.always_sample_denies,
            "decision spans and the live dashboard are not active in this version; the flags are \
             accepted and validated only"
        );
    }
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
    metrics: Metrics,
    health: Health,
) {
    let mut retry = false;
    loop {
        if !retry && selected.changed().await.is_err() {
            return;
        }
        let desired = selected.borrow_and_update().clone();
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
                tokio::time::sleep(SYNC_RETRY).await;
            }
        }
    }
}

/// Reads the workers' counters for `/metrics`.
/// Starts the verdict cache's writer and log reader; dropping the result stops both.
fn start_verdict_cache(
    config: &Config,
    spec: VerdictCacheSpec,
    feed: &CacheFeed,
    snapshot: Arc<ArcSwap<Index>>,
    counters: Arc<Counters>,
) -> Result<VerdictCache> {
    let cache = VerdictCache::start(
        &config.table_name,
        spec,
        &config.node_name,
        feed,
        snapshot,
        counters,
        None,
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

fn dataplane_source(counters: Arc<Counters>, cache: Arc<CacheCounters>) -> DataplaneSource {
    use std::sync::atomic::Ordering::Relaxed;
    Arc::new(move || {
        let latency = counters.latency.snapshot();
        DataplaneSample {
            decisions: counters.decisions(),
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
            cache_hits_now_denied: counters.cache_hits_now_denied.load(Relaxed),
            cache_inserts: cache.inserted.load(Relaxed),
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
