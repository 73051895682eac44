//! kwok: fake nodes and pods at scale, kept away from the netns nodes by an annotation selector.

use std::path::Path;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

use crate::NODE_KIND_LABEL;
use crate::bins::kwok_stage_paths;
use crate::error::{Error, Result};

/// The annotation (key=value) that makes kwok manage a node. Netns nodes never carry it.
pub const KWOK_NODE_ANNOTATION: (&str, &str) = ("kwok.x-k8s.io/node", "fake");

/// How to run kwok.
#[derive(Debug, Clone)]
pub struct KwokOptions {
    /// Pod CIDR kwok assigns fake pod IPs from. Keep it apart from the service range
    /// (10.96.0.0/16) and the netns ranges (10.250.0.0/24, 10.251.0.0/16).
    pub cidr: String,
    /// The IP kwok reports for its nodes.
    pub node_ip: String,
}

impl Default for KwokOptions {
    fn default() -> Self {
        KwokOptions {
            cidr: "10.244.0.0/16".into(),
            node_ip: "10.249.0.1".into(),
        }
    }
}

pub(crate) fn args(options: &KwokOptions, kubeconfig: &Path) -> Result<Vec<String>> {
    let (key, value) = KWOK_NODE_ANNOTATION;
    let mut args = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--manage-all-nodes=false".into(),
        format!("--manage-nodes-with-annotation-selector={key}={value}"),
        format!("--cidr={}", options.cidr),
        format!("--node-ip={}", options.node_ip),
    ];
    for stage in kwok_stage_paths()? {
        args.push(format!("--config={}", stage.display()));
    }
    Ok(args)
}

/// A kwok-managed Node object.
pub(crate) fn node(name: &str) -> Node {
    let (key, value) = KWOK_NODE_ANNOTATION;
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": { key: value, "node.alpha.kubernetes.io/ttl": "0" },
            "labels": {
                "type": "kwok",
                NODE_KIND_LABEL: "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
            },
        },
        "spec": {},
    }))
    .expect("a static node object is valid")
}

/// Drops the `node.kubernetes.io/not-ready` taint that admission puts on every new Node. The
/// node-lifecycle controller would remove it once the node is Ready; it does not run here (it
/// would also evict netns nodes, which have no kubelet heartbeat), so the harness does.
pub(crate) async fn remove_not_ready_taint(api: &Api<Node>, name: &str) -> Result<()> {
    let patch = serde_json::json!({"spec": {"taints": null}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|e| Error::kube(format!("removing not-ready taint of node {name}"), e))?;
    Ok(())
}

pub(crate) async fn create_nodes(
    client: &kube::Client,
    prefix: &str,
    count: usize,
) -> Result<Vec<String>> {
    let api: Api<Node> = Api::all(client.clone());
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    // Creating nodes one by one is the slow part at scale; keep a few requests in flight.
    use futures::StreamExt;
    let results: Vec<Result<()>> = futures::stream::iter(names.clone())
        .map(|name| {
            let api = api.clone();
            async move {
                match api.create(&PostParams::default(), &node(&name)).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => return Err(Error::kube(format!("creating kwok node {name}"), e)),
                }
                remove_not_ready_taint(&api, &name).await
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(names)
}

/// A pod bound to a kwok node (no scheduler round trip); kwok reports it Running with an IP from
/// its CIDR.
pub(crate) fn pod(namespace: &str, name: &str, node: &str, labels: &[(&str, &str)]) -> Pod {
    let labels: std::collections::BTreeMap<&str, &str> = labels.iter().copied().collect();
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "nodeName": node,
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "fake", "image": "kube-verdict.local/fake:e2e"}],
        },
    }))
    .expect("a static pod object is valid")
}

pub(crate) async fn create_pods(
    client: &kube::Client,
    namespace: &str,
    prefix: &str,
    count: usize,
    nodes: &[String],
    labels: &[(&str, &str)],
) -> Result<Vec<String>> {
    use futures::StreamExt;
    if nodes.is_empty() {
        return Err(Error::Invalid(
            "create_kwok_pods needs at least one kwok node".into(),
        ));
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods: Vec<Pod> = (0..count)
        .map(|i| {
            pod(
                namespace,
                &format!("{prefix}-{i}"),
                &nodes[i % nodes.len()],
                labels,
            )
        })
        .collect();
    let results: Vec<Result<String>> = futures::stream::iter(pods)
        .map(|pod| {
            let api = api.clone();
            async move {
                let name = pod.metadata.name.clone().unwrap_or_default();
                match api.create(&PostParams::default(), &pod).await {
                    Ok(_) => Ok(name),
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(name),
                    Err(e) => Err(Error::kube(
                        format!("creating kwok pod {namespace}/{name}"),
                        e,
                    )),
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect()
}
