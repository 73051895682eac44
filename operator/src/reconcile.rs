//! One reconcile of one NetworkPolicyEnforcer, and the error policy.
//!
//! ```text
//!   reconcile(npe)
//!     ├─ being deleted? ──► nothing to do: owner references let the garbage collector clean up
//!     ├─ conflict::placement ── BlockedBy (confirmed on a fresh list) ──► delete our DaemonSet,
//!     │                                                                   status Degraded/Conflict
//!     └─ Run ──► apply ServiceAccount, ClusterRole, ClusterRoleBinding, Service, DaemonSet
//!                  (server-side apply, field manager "verdict-operator", forced)
//!                ──► status::compute(DaemonSet) ──► apply status (only when it changed)
//!                ──► Events on transitions (Created, RollingOut, RolledOut, Conflict, ApplyFailed)
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{info, instrument, warn};
use verdict_crds::conditions::{DEGRADED, READY, REASON_CONFLICT};
use verdict_crds::{NetworkPolicyEnforcer, NetworkPolicyEnforcerStatus};

use crate::conflict::{Placement, placement};
use crate::metrics::Metrics;
use crate::names::{FIELD_MANAGER, owned_name};
use crate::status::{Observation, compute};
use crate::{Error, Result, children};

/// How long to wait before looking again when nothing is pending. Watches on the enforcers and
/// the DaemonSets trigger reconciles as things change; this is only a safety net.
pub const RESYNC: Duration = Duration::from_secs(300);
/// How soon a blocked enforcer looks again without any trigger (changes to other enforcers
/// trigger it at once; this bounds the wait if such a trigger is ever missed).
pub const BLOCKED_RESYNC: Duration = Duration::from_secs(60);
/// The first retry delay after an error; it doubles per consecutive failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Where namespaced owned objects go.
    pub namespace: String,
    /// Every enforcer the controller has seen (for conflict checks).
    pub store: Store<NetworkPolicyEnforcer>,
    /// Publishes Events.
    pub recorder: Recorder,
    /// Reconcile metrics.
    pub metrics: Metrics,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context; `identity` names this replica in Events.
    pub fn new(
        client: Client,
        namespace: &str,
        store: Store<NetworkPolicyEnforcer>,
        metrics: Metrics,
        identity: &str,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance: Some(identity.to_owned()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            namespace: namespace.to_owned(),
            store,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        // A poisoned map only holds retry counters; keep using it.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The retry delay after `failures` consecutive failures: 1 s, 2 s, 4 s … capped at 5 min.
pub fn backoff(failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
}

/// Reconciles one enforcer.
///
/// # Errors
/// Any failed API call; the controller then calls [`error_policy`].
#[instrument(skip_all, fields(enforcer = %npe.name_any()))]
pub async fn reconcile(npe: Arc<NetworkPolicyEnforcer>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let result = reconcile_inner(&npe, &ctx).await;
    ctx.metrics.reconciled(result.is_ok(), started.elapsed());
    if result.is_ok() {
        ctx.failures().remove(&npe.name_any());
    }
    result
}

/// Decides when to retry a failed reconcile: exponential backoff per enforcer, and a metric.
pub fn error_policy(npe: Arc<NetworkPolicyEnforcer>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(err.metric_label());
    let name = npe.name_any();
    let failures = {
        let mut map = ctx.failures();
        let n = map.entry(name.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    let delay = backoff(failures);
    warn!(enforcer = %name, error = %err, failures, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn reconcile_inner(npe: &NetworkPolicyEnforcer, ctx: &Context) -> Result<Action> {
    let name = npe.metadata.name.clone().ok_or(Error::Unnamed)?;
    if npe.metadata.deletion_timestamp.is_some() {
        // Owned objects carry owner references; the garbage collector removes them.
        return Ok(Action::await_change());
    }
    let mut all: Vec<Arc<NetworkPolicyEnforcer>> = ctx
        .store
        .state()
        .into_iter()
        .filter(|o| o.metadata.name.as_deref() != Some(name.as_str()))
        .collect();
    all.push(Arc::new(npe.clone()));
    match placement(&name, all.iter().map(|a| a.as_ref())) {
        Placement::Run => run(npe, &name, ctx).await,
        // The cache may lag the change that triggered this reconcile (the older enforcer was
        // just deleted or narrowed), so confirm a conflict against a fresh list before acting.
        Placement::BlockedBy(_) => {
            match placement(&name, fresh_enforcers(npe, ctx).await?.iter()) {
                Placement::Run => run(npe, &name, ctx).await,
                Placement::BlockedBy(other) => blocked(npe, &name, &other, ctx).await,
            }
        }
    }
}

/// Every enforcer as the API server has it now (with `npe` itself as this reconcile sees it).
async fn fresh_enforcers(
    npe: &NetworkPolicyEnforcer,
    ctx: &Context,
) -> Result<Vec<NetworkPolicyEnforcer>> {
    let api: Api<NetworkPolicyEnforcer> = Api::all(ctx.client.clone());
    let mut all: Vec<NetworkPolicyEnforcer> = api
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("list NetworkPolicyEnforcers (conflict check)"))?
        .items
        .into_iter()
        .filter(|o| o.metadata.name != npe.metadata.name)
        .collect();
    all.push(npe.clone());
    Ok(all)
}

async fn blocked(
    npe: &NetworkPolicyEnforcer,
    name: &str,
    other: &str,
    ctx: &Context,
) -> Result<Action> {
    let ds_api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let ds_name = owned_name(name);
    match ds_api.delete(&ds_name, &DeleteParams::background()).await {
        Ok(_) => {
            info!(daemonset = %ds_name, blocked_by = %other, "deleted the DaemonSet of a conflicting enforcer")
        }
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(source) => {
            return Err(Error::Kube {
                action: format!("delete DaemonSet {}/{ds_name}", ctx.namespace),
                source,
            });
        }
    }
    let was_conflict = npe
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == DEGRADED))
        .is_some_and(|c| c.status == "True" && c.reason == REASON_CONFLICT);
    let status = compute(
        npe.metadata.generation,
        &Observation::Blocked {
            by: other.to_owned(),
        },
        npe.status.as_ref(),
        Timestamp::now(),
    );
    if !was_conflict {
        let note = status
            .conditions
            .iter()
            .find(|c| c.type_ == DEGRADED)
            .map(|c| c.message.clone());
        publish(ctx, npe, EventType::Warning, REASON_CONFLICT, "Block", note).await;
    }
    write_status(npe, &status, ctx).await?;
    Ok(Action::requeue(BLOCKED_RESYNC))
}

async fn run(npe: &NetworkPolicyEnforcer, name: &str, ctx: &Context) -> Result<Action> {
    let children = children::build(npe, &ctx.namespace)?;
    let applied = apply_children(&children, ctx).await;
    let ds = match applied {
        Ok(ds) => ds,
        Err(err) => {
            let status = compute(
                npe.metadata.generation,
                &Observation::ApplyFailed(err.to_string()),
                npe.status.as_ref(),
                Timestamp::now(),
            );
            publish(
                ctx,
                npe,
                EventType::Warning,
                "ApplyFailed",
                "Apply",
                Some(err.to_string()),
            )
            .await;
            // Best effort: the apply error is what the caller needs to see.
            if let Err(status_err) = write_status(npe, &status, ctx).await {
                warn!(error = %status_err, "could not record the apply failure on the status");
            }
            return Err(err);
        }
    };
    let status = compute(
        npe.metadata.generation,
        &Observation::Applied(&ds),
        npe.status.as_ref(),
        Timestamp::now(),
    );
    transition_events(npe, name, &status, ctx).await;
    write_status(npe, &status, ctx).await?;
    Ok(Action::requeue(RESYNC))
}

async fn apply_children(c: &children::Children, ctx: &Context) -> Result<DaemonSet> {
    let ns = ctx.namespace.as_str();
    let client = &ctx.client;
    apply(
        Api::<ServiceAccount>::namespaced(client.clone(), ns),
        &c.service_account,
    )
    .await?;
    apply(Api::<ClusterRole>::all(client.clone()), &c.cluster_role).await?;
    apply(
        Api::<ClusterRoleBinding>::all(client.clone()),
        &c.cluster_role_binding,
    )
    .await?;
    apply(Api::<Service>::namespaced(client.clone(), ns), &c.service).await?;
    apply(
        Api::<DaemonSet>::namespaced(client.clone(), ns),
        &c.daemon_set,
    )
    .await
}

/// Server-side applies `obj` with the operator's field manager, taking over conflicting fields.
async fn apply<K>(api: Api<K>, obj: &K) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = obj.meta().name.clone().ok_or(Error::Unnamed)?;
    let what = match obj.meta().namespace.as_deref() {
        Some(ns) => format!("{} {ns}/{name}", K::kind(&())),
        None => format!("{} {name}", K::kind(&())),
    };
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
    .map_err(Error::kube(format!("apply {what}")))
}

async fn write_status(
    npe: &NetworkPolicyEnforcer,
    status: &NetworkPolicyEnforcerStatus,
    ctx: &Context,
) -> Result<()> {
    if npe.status.as_ref() == Some(status) {
        return Ok(());
    }
    let name = npe.name_any();
    let api: Api<NetworkPolicyEnforcer> = Api::all(ctx.client.clone());
    let body = serde_json::json!({
        "apiVersion": NetworkPolicyEnforcer::api_version(&()),
        "kind": NetworkPolicyEnforcer::kind(&()),
        "status": status,
    });
    api.patch_status(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(Error::kube(format!(
        "apply status of NetworkPolicyEnforcer {name}"
    )))?;
    Ok(())
}

async fn transition_events(
    npe: &NetworkPolicyEnforcer,
    name: &str,
    status: &NetworkPolicyEnforcerStatus,
    ctx: &Context,
) {
    let prev = npe.status.as_ref();
    let ready_now = status
        .conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True");
    let ready_before = prev.is_some_and(|p| {
        p.conditions
            .iter()
            .any(|c| c.type_ == READY && c.status == "True")
    });
    let prev_generation = prev.and_then(|p| p.observed_generation);
    let ds = format!("{}/{}", ctx.namespace, owned_name(name));
    if prev.is_none() {
        let note = format!("applied DaemonSet {ds} and its ServiceAccount, RBAC and Service");
        publish(ctx, npe, EventType::Normal, "Created", "Apply", Some(note)).await;
    } else if prev_generation != npe.metadata.generation {
        let note = format!(
            "spec generation {} applied to DaemonSet {ds}; rolling out",
            npe.metadata.generation.unwrap_or(0)
        );
        publish(
            ctx,
            npe,
            EventType::Normal,
            "RollingOut",
            "Apply",
            Some(note),
        )
        .await;
    }
    if ready_now && !ready_before {
        let note = format!(
            "enforcing on {}/{} nodes",
            status.ready_nodes, status.desired_nodes
        );
        publish(
            ctx,
            npe,
            EventType::Normal,
            "RolledOut",
            "Rollout",
            Some(note),
        )
        .await;
    }
}

async fn publish(
    ctx: &Context,
    npe: &NetworkPolicyEnforcer,
    type_: EventType,
    reason: &str,
    action: &str,
    note: Option<String>,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note,
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &npe.object_ref(&())).await {
        // Events are advisory; a failure to publish must not fail the reconcile.
        warn!(error = %err, reason, "could not publish an Event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let cases = [
            (1, 1),
            (2, 2),
            (3, 4),
            (6, 32),
            (9, 256),
            (10, 300),
            (40, 300),
        ];
        for (failures, secs) in cases {
            assert_eq!(
                backoff(failures),
                Duration::from_secs(secs),
                "{failures} failures"
            );
        }
    }
}
