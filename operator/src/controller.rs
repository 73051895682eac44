//! Wires the reconciler to the API server: watches, the startup CRD check and the run loop.
//!
//! ```text
//!   watch NetworkPolicyEnforcers ─────────────────────────────┐
//!   watch DaemonSets (managed-by=verdict-operator) ─► owner ──┼─► Controller ─► reconcile
//!   any enforcer changes ─► every other enforcer (conflicts) ─┘
//! ```
//!
//! The DaemonSets are namespaced and their owner is cluster-scoped, so kube-runtime's `owns()`
//! (which assumes the owner shares the child's namespace) would look the owner up under the
//! wrong key; [`owner_of_daemon_set`] maps them instead.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use kube::api::ListParams;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, ResourceExt};
use tracing::{debug, info, warn};
use verdict_crds::NetworkPolicyEnforcer;

use crate::children::controlling_enforcer;
use crate::metrics::Metrics;
use crate::names::managed_selector;
use crate::reconcile::{Context, error_policy, reconcile};
use crate::{Error, Result};

/// Fails with a sentence that says what to do when the NetworkPolicyEnforcer CRD is missing.
///
/// # Errors
/// [`Error::CrdMissing`] on 404; [`Error::Kube`] for other failures (RBAC, connectivity).
pub async fn check_crd(client: &Client) -> Result<()> {
    let api: Api<NetworkPolicyEnforcer> = Api::all(client.clone());
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(Error::CrdMissing {
            source: kube::Error::Api(s),
        }),
        Err(source) => Err(Error::Kube {
            action: "list NetworkPolicyEnforcers (startup check)".to_owned(),
            source,
        }),
    }
}

/// The enforcer to reconcile when one of its DaemonSets changes.
pub fn owner_of_daemon_set(ds: &DaemonSet) -> Option<ObjectRef<NetworkPolicyEnforcer>> {
    controlling_enforcer(ds).map(|name| ObjectRef::new(&name))
}

/// Every enforcer other than `changed`: any change can start or end a conflict elsewhere.
pub fn others(
    store: &Store<NetworkPolicyEnforcer>,
    changed: &NetworkPolicyEnforcer,
) -> Vec<ObjectRef<NetworkPolicyEnforcer>> {
    let name = changed.name_any();
    store
        .state()
        .iter()
        .filter(|o| o.name_any() != name)
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    namespace: &str,
    identity: &str,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let enforcers: Api<NetworkPolicyEnforcer> = Api::all(client.clone());
    let daemon_sets: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    let controller = Controller::new(enforcers.clone(), watcher::Config::default().any_semantic());
    let store = controller.store();
    let ctx = Arc::new(Context::new(
        client,
        namespace,
        store.clone(),
        metrics.clone(),
        identity,
    ));
    info!(namespace, "controller starting");
    controller
        .watches(
            daemon_sets,
            watcher::Config::default().labels(&managed_selector()),
            |ds| owner_of_daemon_set(&ds),
        )
        .watches(enforcers, watcher::Config::default(), move |npe| {
            others(&store, &npe)
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(enforcer = %obj.name, "reconciled"),
                Err(err) => warn!(error = %err, "controller error"),
            }
        })
        .await;
    info!("controller stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector;

    fn npe(name: &str) -> NetworkPolicyEnforcer {
        let mut n = NetworkPolicyEnforcer::new(name, serde_json::from_str("{}").unwrap());
        n.metadata.uid = Some(format!("uid-{name}"));
        n
    }

    #[test]
    fn daemon_set_maps_to_its_cluster_scoped_enforcer() {
        let children = crate::children::build(&npe("prod"), "kube-verdict-system").unwrap();
        let owner = owner_of_daemon_set(&children.daemon_set).expect("owner");
        // No namespace: the enforcer is cluster-scoped, whatever the child's namespace.
        assert_eq!(owner, ObjectRef::new("prod"));
        assert_eq!(owner.namespace, None);
        assert_eq!(owner_of_daemon_set(&DaemonSet::default()), None);
    }

    #[test]
    fn a_change_to_one_enforcer_requeues_every_other() {
        let (store, mut writer) = reflector::store();
        for name in ["a", "b", "c"] {
            writer.apply_watcher_event(&watcher::Event::Apply(npe(name)));
        }
        let mut names: Vec<String> = others(&store, &npe("b"))
            .into_iter()
            .map(|r| r.name)
            .collect();
        names.sort();
        assert_eq!(names, ["a", "c"]);
    }
}
