//! The one task that owns the engine [`Index`]: it applies updates, debounces bursts, and
//! publishes snapshots once every watched kind has finished its first list.
//!
//! # Guarantees
//! - Nothing is published before the first full sync, so the verdict workers never judge with a
//!   half-listed cluster.
//! - While the API server is away nothing arrives, and the last snapshot stays in force.
//! - A burst of events (a relist, a rollout) becomes one snapshot: the owner keeps taking events
//!   until [`QUIET`] passes without one, or [`MAX_DELAY`] after the first.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};
use verdict_crds::{AdminNetworkPolicy, BaselineAdminNetworkPolicy};
use verdict_engine::{ClusterObject, Index, SelectedIps};

use super::mirror::Mirror;
use super::sources::{self, ApiState, Context};
use super::{Kind, Update, strip};
use crate::config::{PolicyApi, PolicySet};
use crate::health::{Condition, Health};
use crate::metrics::Metrics;

/// How long the owner waits for a further event before publishing.
pub const QUIET: Duration = Duration::from_millis(5);
/// The longest a snapshot is held back by a continuous stream of events.
pub const MAX_DELAY: Duration = Duration::from_millis(50);

/// What the owner publishes.
#[derive(Clone, Debug)]
pub struct Published {
    /// The current index, for the verdict workers (lock-free reads). Empty until the first sync;
    /// the workers are started only after it.
    pub snapshot: Arc<ArcSwap<Index>>,
    /// The current index; `None` until the first full sync. For strict mode and other
    /// subscribers that want to be woken on change.
    pub index: watch::Receiver<Option<Arc<Index>>>,
    /// The addresses of this node's pods that some policy selects, for the ruleset syncer.
    /// Updated only when they change, and only after the first sync.
    pub selected: watch::Receiver<SelectedIps>,
    /// When the oldest watch event whose change still waits for a ruleset batch arrived; the
    /// ruleset syncer takes it when it commits the batch, to time policy change → enforced.
    pub enforce_pending_since: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// Starts every watcher and the owner task on `tasks`, and returns what they publish.
pub fn spawn(
    client: Client,
    node_name: String,
    policies: PolicySet,
    metrics: Metrics,
    health: Health,
    tasks: &mut JoinSet<()>,
) -> Published {
    let (tx, rx) = mpsc::channel(1024);
    let api = Arc::new(ApiState::new(metrics.clone()));
    let ctx = Context {
        client,
        tx,
        metrics: metrics.clone(),
        api,
    };

    spawn_kind(
        tasks,
        &ctx,
        Kind::Namespace,
        strip::namespace,
        ClusterObject::Namespace,
    );
    spawn_kind(tasks, &ctx, Kind::Pod, strip::pod, ClusterObject::Pod);
    spawn_kind(tasks, &ctx, Kind::Node, strip::node, ClusterObject::Node);
    if policies.contains(PolicyApi::NetworkPolicy) {
        spawn_kind::<NetworkPolicy>(
            tasks,
            &ctx,
            Kind::NetworkPolicy,
            strip::network_policy,
            ClusterObject::NetworkPolicy,
        );
    }
    if policies.contains(PolicyApi::AdminNetworkPolicy) {
        let c = ctx.clone();
        tasks.spawn(
            sources::watch_crd_kind::<AdminNetworkPolicy>(
                c,
                Kind::AdminNetworkPolicy,
                "adminnetworkpolicies",
                strip::admin_network_policy,
                ClusterObject::AdminNetworkPolicy,
            )
            .instrument(info_span!("watch", kind = "AdminNetworkPolicy")),
        );
    }
    if policies.contains(PolicyApi::BaselineAdminNetworkPolicy) {
        let c = ctx.clone();
        tasks.spawn(
            sources::watch_crd_kind::<BaselineAdminNetworkPolicy>(
                c,
                Kind::BaselineAdminNetworkPolicy,
                "baselineadminnetworkpolicies",
                strip::baseline_admin_network_policy,
                ClusterObject::BaselineAdminNetworkPolicy,
            )
            .instrument(info_span!("watch", kind = "BaselineAdminNetworkPolicy")),
        );
    }
    {
        let c = ctx.clone();
        tasks.spawn(
            sources::watch_cluster_network_policies(c)
                .instrument(info_span!("watch", kind = "ClusterNetworkPolicy")),
        );
    }
    info!(%policies, "watching the API server");
    let (owner, published) = Owner::new(node_name, watched_kinds(policies), metrics, health);
    drop(ctx);
    tasks.spawn(owner.run(rx).instrument(info_span!("index-owner")));
    published
}

fn spawn_kind<K>(
    tasks: &mut JoinSet<()>,
    ctx: &Context,
    kind: Kind,
    strip: fn(&mut K),
    wrap: fn(K) -> ClusterObject,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let ctx = ctx.clone();
    tasks.spawn(
        async move {
            sources::watch_kind(&ctx, kind, strip, wrap).await;
        }
        .instrument(info_span!("watch", kind = kind.name())),
    );
}

/// The kinds whose first list gates publishing, given the enabled evaluators.
pub fn watched_kinds(policies: PolicySet) -> Vec<Kind> {
    let mut kinds = vec![Kind::Namespace, Kind::Pod, Kind::Node];
    for (api, kind) in [
        (PolicyApi::NetworkPolicy, Kind::NetworkPolicy),
        (PolicyApi::AdminNetworkPolicy, Kind::AdminNetworkPolicy),
        (
            PolicyApi::BaselineAdminNetworkPolicy,
            Kind::BaselineAdminNetworkPolicy,
        ),
    ] {
        if policies.contains(api) {
            kinds.push(kind);
        }
    }
    // ClusterNetworkPolicy has both tiers; it is watched whenever its CRD is served (absent
    // counts as synced), whatever `--policies` says about the v1alpha1 kinds.
    kinds.push(Kind::ClusterNetworkPolicy);
    kinds
}

/// The index owner. Public so that it can be driven without an API server in tests.
#[derive(Debug)]
pub struct Owner {
    mirror: Mirror<Index>,
    node_name: String,
    kinds: Vec<Kind>,
    snapshot: Arc<ArcSwap<Index>>,
    index_tx: watch::Sender<Option<Arc<Index>>>,
    selected_tx: watch::Sender<SelectedIps>,
    metrics: Metrics,
    health: Health,
    dirty: bool,
    published_once: bool,
    enforce_pending_since: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl Owner {
    /// An owner for `node_name` that publishes once every kind in `kinds` has synced.
    pub fn new(
        node_name: String,
        kinds: Vec<Kind>,
        metrics: Metrics,
        health: Health,
    ) -> (Owner, Published) {
        let snapshot = Arc::new(ArcSwap::from_pointee(Index::new()));
        let (index_tx, index) = watch::channel(None);
        let (selected_tx, selected) = watch::channel(SelectedIps::default());
        let enforce_pending_since = Arc::new(std::sync::Mutex::new(None));
        let owner = Owner {
            mirror: Mirror::new(Index::new()),
            node_name,
            kinds,
            snapshot: snapshot.clone(),
            index_tx,
            selected_tx,
            metrics,
            health,
            dirty: false,
            published_once: false,
            enforce_pending_since: enforce_pending_since.clone(),
        };
        (
            owner,
            Published {
                snapshot,
                index,
                selected,
                enforce_pending_since,
            },
        )
    }

    /// Consumes updates until every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Update>) {
        while let Some(first) = rx.recv().await {
            let started = Instant::now();
            self.handle(first);
            let deadline = started + MAX_DELAY;
            let mut closed = false;
            loop {
                let wake = (Instant::now() + QUIET).min(deadline);
                match tokio::time::timeout_at(wake, rx.recv()).await {
                    Ok(Some(update)) => self.handle(update),
                    Ok(None) => {
                        closed = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.publish_if_due(started);
            if closed {
                break;
            }
        }
    }

    /// Applies one update to the index (not yet published).
    pub fn handle(&mut self, update: Update) {
        let outcome = self.mirror.handle(update);
        if let Some((kind, key, reason)) = outcome.rejected {
            warn!(%kind, object = %key, %reason, "object rejected by the engine; not enforced");
            self.metrics.rejected(kind);
        }
        if let Some(kind) = outcome.first_sync {
            info!(%kind, objects = self.mirror.count(kind), "initial list complete");
        }
        self.dirty |= outcome.changed;
    }

    /// Publishes a snapshot if anything changed since the last one and every kind has synced.
    /// `started` is when the first update of this batch arrived.
    pub fn publish_if_due(&mut self, started: tokio::time::Instant) {
        let latency = started.elapsed();
        if !self.dirty || !self.mirror.synced(&self.kinds) {
            return;
        }
        self.dirty = false;
        let index = Arc::new(self.mirror.sink().clone());
        self.snapshot.store(index.clone());
        self.index_tx.send_replace(Some(index.clone()));
        let selected = index.selected_pod_ips(&self.node_name);
        let needs_batch = self.selected_tx.send_if_modified(|current| {
            if *current == selected {
                false
            } else {
                *current = selected;
                true
            }
        });
        if !self.published_once {
            // The first snapshot is enforced by the install, not by a change.
        } else if needs_batch {
            // Enforced once the syncer commits the batch for these pod sets.
            let mut pending = self
                .enforce_pending_since
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let started = started.into_std();
            *pending = Some(pending.map_or(started, |p| p.min(started)));
        } else {
            // The workers read the new snapshot with their next packet: enforced now.
            self.metrics.observe_enforce_latency(latency);
        }
        self.metrics.set_generation(index.generation());
        for kind in &self.kinds {
            self.metrics.set_objects(*kind, self.mirror.count(*kind));
        }
        self.metrics.observe_sync_latency(latency);
        if !self.published_once {
            self.published_once = true;
            self.health.mark(Condition::Synced);
            info!(
                generation = index.generation(),
                pods = self.mirror.count(Kind::Pod),
                "initial sync complete; first snapshot published"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_kinds_follow_the_policy_flag() {
        let cases = [
            ("all", PolicySet::ALL, 7),
            (
                "network policy only",
                PolicySet {
                    admin: false,
                    network: true,
                    baseline: false,
                },
                5,
            ),
            (
                "admin tiers only",
                PolicySet {
                    admin: true,
                    network: false,
                    baseline: true,
                },
                6,
            ),
        ];
        for (name, set, want) in cases {
            let kinds = watched_kinds(set);
            assert_eq!(kinds.len(), want, "{name}: {kinds:?}");
            assert!(
                kinds.contains(&Kind::Pod) && kinds.contains(&Kind::Namespace),
                "{name}"
            );
        }
    }

    #[test]
    fn nothing_is_published_before_every_kind_synced() {
        let (mut owner, published) = Owner::new(
            "n1".into(),
            vec![Kind::Namespace, Kind::Pod],
            Metrics::new(),
            Health::new(),
        );
        owner.handle(Update::Init(Kind::Namespace));
        owner.handle(Update::InitDone(Kind::Namespace));
        owner.publish_if_due(tokio::time::Instant::now());
        assert!(published.index.borrow().is_none(), "pods not listed yet");
        assert!(owner.dirty, "the change is kept for later");
    }

    #[tokio::test]
    async fn a_change_is_enforced_at_publish_or_when_its_ruleset_batch_is_due() {
        let metrics = Metrics::new();
        let (mut owner, published) = Owner::new(
            "n1".into(),
            vec![Kind::Namespace, Kind::Pod, Kind::NetworkPolicy],
            metrics.clone(),
            Health::new(),
        );
        fn object<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
            serde_json::from_value(v).unwrap()
        }
        for kind in [Kind::Namespace, Kind::Pod, Kind::NetworkPolicy] {
            owner.handle(Update::Init(kind));
            owner.handle(Update::InitDone(kind));
        }
        owner.handle(Update::Apply(ClusterObject::Namespace(object(
            serde_json::json!({
                "metadata": {"name": "x", "labels": {"team": "a"}}
            }),
        ))));
        owner.handle(Update::Apply(ClusterObject::Pod(object(
            serde_json::json!({
                "metadata": {"name": "s", "namespace": "x", "uid": "u1"},
                "spec": {"nodeName": "n1", "containers": []},
                "status": {"podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}], "phase": "Running"}
            }),
        ))));
        owner.publish_if_due(tokio::time::Instant::now());
        assert!(published.index.borrow().is_some(), "first sync published");
        let pending = || *published.enforce_pending_since.lock().unwrap();
        assert!(
            pending().is_none(),
            "the first snapshot is enforced by the install"
        );

        // A policy that selects the pod changes the kernel's pod sets: enforced by a batch.
        owner.handle(Update::Apply(ClusterObject::NetworkPolicy(object(
            serde_json::json!({
                "metadata": {"name": "deny", "namespace": "x"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
            }),
        ))));
        owner.publish_if_due(tokio::time::Instant::now());
        assert!(pending().is_some(), "waits for the ruleset batch");

        // A label change that selects nothing new is enforced by the snapshot alone.
        owner.handle(Update::Apply(ClusterObject::Namespace(object(
            serde_json::json!({
                "metadata": {"name": "x", "labels": {"team": "b"}}
            }),
        ))));
        owner.publish_if_due(tokio::time::Instant::now());
        assert!(
            metrics
                .render()
                .lines()
                .any(|l| l == "verdict_policy_enforce_latency_seconds_count 1"),
            "{}",
            metrics.render()
        );
    }
}
