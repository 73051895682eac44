//! Shared by the operator's end-to-end tests and the scale benchmark: a control plane with the
//! install manifest applied, identities for the operator, and polling helpers.
#![allow(dead_code)] // Each test binary uses a different subset.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};
use verdict_crds::NetworkPolicyEnforcer;
use verdict_e2e::{ControlPlane, ControlPlaneOptions, KwokOptions};

/// Where the operator's owned namespaced objects go (install.yaml's namespace).
pub const NS: &str = "kube-verdict-system";
/// The operator's ServiceAccount user name, as RBAC sees it.
pub const OPERATOR_USER: &str = "system:serviceaccount:kube-verdict-system:verdict-operator";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Starts a control plane (controller manager and scheduler included) with kwok and `nodes`
/// kwok nodes named `kwok-0..`.
pub async fn control_plane(name: &str, nodes: usize) -> (ControlPlane, Vec<String>) {
    let cp = ControlPlane::start(ControlPlaneOptions::named(name))
        .await
        .expect("control plane starts");
    cp.start_kwok(KwokOptions::default())
        .await
        .expect("kwok starts");
    let names = if nodes > 0 {
        cp.create_kwok_nodes("kwok", nodes)
            .await
            .expect("kwok nodes")
    } else {
        Vec::new()
    };
    (cp, names)
}

/// Removes `node.kubernetes.io/not-ready:NoSchedule` from every node that has it.
pub async fn untaint_not_ready(cp: &ControlPlane) {
    let client = cp.client().await.expect("admin client");
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
    let list = nodes
        .list(&ListParams::default())
        .await
        .expect("list nodes");
    let mut tasks = futures::stream::FuturesUnordered::new();
    for node in list.items {
        let Some(taints) = node.spec.as_ref().and_then(|s| s.taints.clone()) else {
            continue;
        };
        let kept: Vec<_> = taints
            .into_iter()
            .filter(|t| t.key != "node.kubernetes.io/not-ready")
            .collect();
        let name = node.metadata.name.clone().unwrap_or_default();
        let nodes = nodes.clone();
        tasks.push(async move {
            let patch = serde_json::json!({"spec": {"taints": kept}});
            nodes
                .patch(
                    &name,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&patch),
                )
                .await
                .map(|_| ())
        });
        if tasks.len() >= 32 {
            use futures::StreamExt;
            if let Some(r) = tasks.next().await {
                r.expect("untaint node");
            }
        }
    }
    use futures::StreamExt;
    while let Some(r) = tasks.next().await {
        r.expect("untaint node");
    }
}

/// `kubectl apply -f manifests/install.yaml`, then waits for its CRDs to be Established.
pub async fn apply_install(cp: &ControlPlane) -> String {
    let install = root().join("manifests/install.yaml");
    let out = cp
        .kubectl_run(&["apply", "-f", install.to_str().unwrap()])
        .await
        .expect("kubectl apply -f manifests/install.yaml succeeds");
    cp.kubectl_run(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/networkpolicyenforcers.verdict.dev",
        "crd/adminnetworkpolicies.policy.networking.k8s.io",
        "crd/baselineadminnetworkpolicies.policy.networking.k8s.io",
    ])
    .await
    .expect("CRDs become Established");
    out
}

/// A kubeconfig that authenticates as the operator's ServiceAccount (client certificate with that
/// user name), so the operator under test has exactly the RBAC that install.yaml grants.
pub fn operator_kubeconfig(cp: &ControlPlane) -> PathBuf {
    cp.write_kubeconfig(
        OPERATOR_USER,
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:kube-verdict-system",
            "system:authenticated",
        ],
        "verdict-operator.kubeconfig",
    )
    .expect("operator kubeconfig")
}

/// Polls `check` every 200 ms until it returns `Some`, or panics after `timeout` with `what`
/// and the last thing `check` reported through `last`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The enforcer's condition `type_` as (status, reason, message).
pub fn condition(npe: &NetworkPolicyEnforcer, type_: &str) -> Option<(String, String, String)> {
    npe.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Short text of an enforcer's status for failure messages.
pub fn describe(npe: &NetworkPolicyEnforcer) -> String {
    let s = npe.status.clone().unwrap_or_default();
    let conds: Vec<String> = s
        .conditions
        .iter()
        .map(|c| format!("{}={} ({}: {})", c.type_, c.status, c.reason, c.message))
        .collect();
    format!(
        "gen {:?} observed {:?} desired {} ready {} updated {} [{}]",
        npe.metadata.generation,
        s.observed_generation,
        s.desired_nodes,
        s.ready_nodes,
        s.updated_nodes,
        conds.join("; ")
    )
}

/// Waits until enforcer `name` is Ready=True for its current generation with `nodes` desired,
/// ready and updated nodes.
pub async fn wait_ready(
    client: &Client,
    name: &str,
    nodes: i32,
    timeout: Duration,
) -> NetworkPolicyEnforcer {
    let api: Api<NetworkPolicyEnforcer> = Api::all(client.clone());
    wait_for(
        &format!("enforcer {name} Ready {nodes}/{nodes}"),
        timeout,
        || {
            let api = api.clone();
            async move {
                let npe = api.get(name).await.map_err(|e| e.to_string())?;
                let s = npe.status.clone().unwrap_or_default();
                let ready = condition(&npe, "Ready").is_some_and(|c| c.0 == "True");
                if ready
                    && s.observed_generation == npe.metadata.generation
                    && (s.desired_nodes, s.ready_nodes, s.updated_nodes) == (nodes, nodes, nodes)
                {
                    Ok(npe)
                } else {
                    Err(describe(&npe))
                }
            }
        },
    )
    .await
}

/// The agent pods of enforcer `name`.
pub async fn agent_pods(client: &Client, name: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    pods.list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={name}")))
        .await
        .expect("list agent pods")
        .items
}

/// The DaemonSet of enforcer `name`, if it exists.
pub async fn daemon_set(client: &Client, name: &str) -> Option<DaemonSet> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
    api.get_opt(&format!("verdict-agent-{name}"))
        .await
        .expect("get DaemonSet")
}

/// What one scale run measured.
#[derive(Debug)]
pub struct ScaleResult {
    /// kwok nodes.
    pub nodes: usize,
    /// From applying the enforcer to Ready with every count equal to `nodes`.
    pub converge: Duration,
    /// Reconciles run until then.
    pub reconciles: u64,
    /// From the spec change to Ready again at the new generation.
    pub rollout: Duration,
    /// Reconciles run during the rollout.
    pub rollout_reconciles: u64,
}

/// Starts a control plane with `nodes` kwok nodes, runs the controller in-process, applies the
/// sample enforcer and waits until its status says Ready `nodes`/`nodes`; then changes the spec
/// and waits for the rollout. Panics if the counts never converge within `timeout`.
pub async fn scale_run(nodes: usize, timeout: Duration) -> ScaleResult {
    let (cp, names) = control_plane("operator-scale", nodes).await;
    assert_eq!(names.len(), nodes);
    apply_install(&cp).await;
    cp.kubectl_run(&[
        "-n",
        NS,
        "scale",
        "deployment/verdict-operator",
        "--replicas=0",
    ])
    .await
    .expect("scale the manifest's Deployment down");
    let client = cp.client().await.expect("admin client");
    let metrics = verdict_operator::metrics::Metrics::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(verdict_operator::controller::run(
        client.clone(),
        NS,
        "scale-bench",
        metrics.clone(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let sample = root().join("manifests/samples/enforcer.yaml");
    let t0 = Instant::now();
    cp.kubectl_run(&["apply", "-f", sample.to_str().unwrap()])
        .await
        .expect("apply sample");
    let n = i32::try_from(nodes).unwrap();
    wait_ready(&client, "default", n, timeout).await;
    let converge = t0.elapsed();
    let reconciles = metrics.reconcile_count();

    let npes: Api<NetworkPolicyEnforcer> = Api::all(client.clone());
    let t1 = Instant::now();
    npes.patch(
        "default",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"spec": {"logLevel": "debug"}})),
    )
    .await
    .expect("change the spec");
    wait_for("rollout at scale", timeout, || {
        let npes = npes.clone();
        async move {
            let npe = npes.get("default").await.map_err(|e| e.to_string())?;
            let s = npe.status.clone().unwrap_or_default();
            let ready = condition(&npe, "Ready").is_some_and(|c| c.0 == "True");
            if ready
                && s.observed_generation == Some(2)
                && (s.desired_nodes, s.ready_nodes, s.updated_nodes) == (n, n, n)
            {
                Ok(())
            } else {
                Err(describe(&npe))
            }
        }
    })
    .await;
    let rollout = t1.elapsed();
    let rollout_reconciles = metrics.reconcile_count() - reconciles;
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), controller).await;
    ScaleResult {
        nodes,
        converge,
        reconciles,
        rollout,
        rollout_reconciles,
    }
}
