//! The kube-runtime watchers: one task per kind, each sending trimmed [`Update`]s to the owner.
//!
//! Watchers retry with [`RetryBackoff`] when the API server goes away; meanwhile nothing
//! reaches the owner, so the last published snapshot stays in force. On reconnect kube-runtime
//! relists, and the [`Mirror`](super::mirror::Mirror) deletes whatever vanished during the gap.
//! ANP and BANP are watched only while API discovery says their CRDs are served.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::utils::{Backoff, ResetTimerBackoff};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use verdict_engine::ClusterObject;

use super::{Kind, ObjectKey, Update};
use crate::metrics::Metrics;

/// API group and version of ANP and BANP.
pub const POLICY_API_VERSION: &str = "policy.networking.k8s.io/v1alpha1";

/// How often discovery looks again for a CRD that is not installed.
pub const CRD_RECHECK: Duration = Duration::from_secs(30);

/// The retry delays of a failing watch: exponential from 500 ms, doubling, capped at
/// [`RetryBackoff::MAX`], each with ±25 % jitter.
///
/// kube's `DefaultBackoff` caps at 30 s, so a policy change made right after an API server
/// outage could wait half a minute to be enforced; a 10 s cap bounds that, and the jitter keeps
/// a thousand agents from retrying in step.
#[derive(Debug, Clone)]
pub struct RetryBackoff {
    next: Duration,
}

impl RetryBackoff {
    /// The first delay.
    pub const INITIAL: Duration = Duration::from_millis(500);
    /// The longest delay (before jitter).
    pub const MAX: Duration = Duration::from_secs(10);
}

impl Default for RetryBackoff {
    fn default() -> Self {
        RetryBackoff {
            next: Self::INITIAL,
        }
    }
}

impl Iterator for RetryBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        use std::hash::{BuildHasher, Hasher};
        let base = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        // A fresh RandomState is randomly keyed: enough jitter without a rand dependency.
        let r = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let factor = 0.75 + (r % 1000) as f64 / 2000.0; // 0.75 ..= 1.2495
        Some(base.mul_f64(factor))
    }
}

impl Backoff for RetryBackoff {
    fn reset(&mut self) {
        self.next = Self::INITIAL;
    }
}

/// Tracks which watchers are failing, so that an API server outage is logged once when it starts
/// and once when it ends, not on every retry of every watcher.
#[derive(Debug)]
pub struct ApiState {
    any_failing: AtomicBool,
    failing: Mutex<BTreeSet<Kind>>,
    metrics: Metrics,
}

impl ApiState {
    /// Starts out reachable.
    pub fn new(metrics: Metrics) -> Self {
        metrics.set_apiserver_reachable(true);
        ApiState {
            any_failing: AtomicBool::new(false),
            failing: Mutex::default(),
            metrics,
        }
    }

    /// A watcher of `kind` failed.
    pub fn failed(&self, kind: Kind, error: &dyn std::fmt::Display) {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        let outage_starts = failing.is_empty();
        let newly = failing.insert(kind);
        self.any_failing.store(true, Ordering::Release);
        if outage_starts {
            warn!(%kind, %error, "lost the API server; enforcing the last known state and retrying");
            self.metrics.set_apiserver_reachable(false);
        } else if newly {
            debug!(%kind, %error, "watch failing too");
        } else {
            debug!(%kind, %error, "watch retry failed");
        }
    }

    /// A watcher of `kind` got an event.
    pub fn succeeded(&self, kind: Kind) {
        if !self.any_failing.load(Ordering::Acquire) {
            return;
        }
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        if failing.remove(&kind) && failing.is_empty() {
            self.any_failing.store(false, Ordering::Release);
            info!("API server reachable again; resynced watches take over");
            self.metrics.set_apiserver_reachable(true);
        }
    }
}

/// Everything a watcher task needs.
#[derive(Clone)]
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Where updates go.
    pub tx: mpsc::Sender<Update>,
    /// Metrics.
    pub metrics: Metrics,
    /// Shared outage state.
    pub api: Arc<ApiState>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// Why a watch ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The owner is gone; the agent is shutting down.
    Shutdown,
    /// The resource is no longer served (its CRD was deleted).
    NotFound,
}

/// Watches every object of `K`, trimming each with `strip` and wrapping it with `wrap`.
pub async fn watch_kind<K>(
    ctx: &Context,
    kind: Kind,
    strip: fn(&mut K),
    wrap: fn(K) -> ClusterObject,
) -> Ended
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let api: Api<K> = Api::all(ctx.client.clone());
    let stream = watcher(api).backoff(ResetTimerBackoff::new(
        RetryBackoff::default(),
        Duration::from_secs(120),
    ));
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        let update = match item {
            Ok(event) => {
                ctx.api.succeeded(kind);
                ctx.metrics.watch_event(kind);
                match event {
                    Event::Init => Update::Init(kind),
                    Event::InitApply(mut o) => {
                        strip(&mut o);
                        Update::InitApply(wrap(o))
                    }
                    Event::InitDone => Update::InitDone(kind),
                    Event::Apply(mut o) => {
                        strip(&mut o);
                        Update::Apply(wrap(o))
                    }
                    Event::Delete(o) => Update::Delete(kind, key_of(kind, &o)),
                }
            }
            Err(e) => {
                let crd_kind = matches!(
                    kind,
                    Kind::AdminNetworkPolicy | Kind::BaselineAdminNetworkPolicy
                );
                if crd_kind && is_not_found(&e) {
                    return Ended::NotFound;
                }
                ctx.api.failed(kind, &e);
                continue;
            }
        };
        if ctx.tx.send(update).await.is_err() {
            return Ended::Shutdown;
        }
    }
    Ended::Shutdown
}

fn watcher<K>(api: Api<K>) -> impl futures::Stream<Item = watcher::Result<Event<K>>> + Send
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    watcher::watcher(api, watcher::Config::default())
}

/// Watches a CRD-backed kind while its CRD is served; while it is not, reports it [`Absent`]
/// (no objects, synced) and checks discovery again every [`CRD_RECHECK`].
///
/// [`Absent`]: Update::Absent
pub async fn watch_crd_kind<K>(
    ctx: Context,
    kind: Kind,
    plural: &'static str,
    strip: fn(&mut K),
    wrap: fn(K) -> ClusterObject,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let mut absent_logged = false;
    loop {
        match served(&ctx.client, plural).await {
            Ok(true) => {
                ctx.api.succeeded(kind);
                info!(%kind, "CRD installed; watching");
                absent_logged = false;
                match watch_kind(&ctx, kind, strip, wrap).await {
                    Ended::Shutdown => return,
                    Ended::NotFound => info!(%kind, "CRD removed; the tier no longer applies"),
                }
            }
            Ok(false) => {
                ctx.api.succeeded(kind);
                if !absent_logged {
                    info!(
                        %kind,
                        recheck_secs = CRD_RECHECK.as_secs(),
                        "CRD not installed; the tier is inactive until it appears"
                    );
                    absent_logged = true;
                }
                if ctx.tx.send(Update::Absent(kind)).await.is_err() {
                    return;
                }
                tokio::time::sleep(CRD_RECHECK).await;
            }
            Err(e) => {
                ctx.api.failed(kind, &e);
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Whether the API server serves `plural` in [`POLICY_API_VERSION`].
async fn served(client: &Client, plural: &str) -> Result<bool, kube::Error> {
    served_in(client, POLICY_API_VERSION, plural).await
}

/// Whether the API server serves `plural` in `group_version`.
async fn served_in(
    client: &Client,
    group_version: &str,
    plural: &str,
) -> Result<bool, kube::Error> {
    match client.list_api_group_resources(group_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == plural)),
        // A group-version no CRD serves answers a plain-text "404 page not found", which kube
        // reports with a made-up reason, so `is_not_found()` (reason first) misses it.
        Err(kube::Error::Api(status)) if status.is_not_found() || status.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// The ClusterNetworkPolicy versions, in order of preference: v1beta1 is the storage version of
/// network-policy-api v0.3.0; v1alpha2 is what v0.2.x serves (the same schema).
pub const CNP_VERSIONS: [&str; 2] = [
    "policy.networking.k8s.io/v1beta1",
    "policy.networking.k8s.io/v1alpha2",
];

/// Watches ClusterNetworkPolicy in the most preferred version the API server serves (see
/// [`CNP_VERSIONS`]); while none is served, reports it [`Absent`](Update::Absent) and checks
/// discovery again every [`CRD_RECHECK`].
pub async fn watch_cluster_network_policies(ctx: Context) {
    let kind = Kind::ClusterNetworkPolicy;
    let plural = "clusternetworkpolicies";
    let mut absent_logged = false;
    loop {
        let mut served_version = None;
        let mut failed = None;
        for version in CNP_VERSIONS {
            match served_in(&ctx.client, version, plural).await {
                Ok(true) => {
                    served_version = Some(version);
                    break;
                }
                Ok(false) => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            ctx.api.failed(kind, &e);
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        ctx.api.succeeded(kind);
        let ended = match served_version {
            Some(version @ "policy.networking.k8s.io/v1beta1") => {
                info!(%kind, version, "CRD installed; watching");
                absent_logged = false;
                watch_kind::<verdict_crds::ClusterNetworkPolicy>(
                    &ctx,
                    kind,
                    super::strip::cluster_network_policy,
                    ClusterObject::ClusterNetworkPolicy,
                )
                .await
            }
            Some(version) => {
                info!(%kind, version, "CRD installed; watching (v1beta1 is not served)");
                absent_logged = false;
                watch_kind::<verdict_crds::cluster_network_policy::v1alpha2::ClusterNetworkPolicy>(
                    &ctx,
                    kind,
                    super::strip::cluster_network_policy_v1alpha2,
                    |o| ClusterObject::ClusterNetworkPolicy(o.into()),
                )
                .await
            }
            None => {
                if !absent_logged {
                    info!(
                        %kind,
                        recheck_secs = CRD_RECHECK.as_secs(),
                        "CRD not installed; ClusterNetworkPolicy is inactive until it appears"
                    );
                    absent_logged = true;
                }
                if ctx.tx.send(Update::Absent(kind)).await.is_err() {
                    return;
                }
                tokio::time::sleep(CRD_RECHECK).await;
                continue;
            }
        };
        match ended {
            Ended::Shutdown => return,
            Ended::NotFound => info!(%kind, "CRD removed; ClusterNetworkPolicy no longer applies"),
        }
    }
}

fn is_not_found(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.is_not_found(),
        watcher::Error::WatchError(s) => s.is_not_found(),
        _ => false,
    }
}

fn key_of<K: Resource>(kind: Kind, o: &K) -> ObjectKey {
    ObjectKey {
        namespace: if kind.namespaced() {
            o.namespace()
        } else {
            None
        },
        name: o.name_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_backoff_grows_to_its_cap_with_jitter_and_resets() {
        let mut b = RetryBackoff::default();
        let delays: Vec<Duration> = (&mut b).take(8).collect();
        let bases = [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000];
        for (i, (d, base)) in delays.iter().zip(bases).enumerate() {
            let base = Duration::from_millis(base);
            assert!(
                *d >= base.mul_f64(0.75) && *d <= base.mul_f64(1.25),
                "delay {i}: {d:?} not within 25 % of {base:?}"
            );
        }
        b.reset();
        assert!(
            b.next().unwrap() <= Duration::from_millis(625),
            "reset to the first delay"
        );
    }

    #[test]
    fn outage_state_transitions() {
        let metrics = Metrics::new();
        let api = ApiState::new(metrics.clone());
        let reachable = |m: &Metrics| m.render().contains("verdict_apiserver_reachable 1\n");
        assert!(reachable(&metrics), "starts reachable");
        api.failed(Kind::Pod, &"connection refused");
        api.failed(Kind::Node, &"connection refused");
        assert!(!reachable(&metrics), "down after the first failure");
        api.succeeded(Kind::Pod);
        assert!(
            !reachable(&metrics),
            "still down while the node watch fails"
        );
        api.succeeded(Kind::Namespace);
        assert!(
            !reachable(&metrics),
            "a kind that never failed does not end the outage"
        );
        api.succeeded(Kind::Node);
        assert!(reachable(&metrics), "up once every failing watch recovered");
    }
}
