//! What a kubelet would do for netns nodes and pods: write the Node and Pod objects with
//! kubelet-like status, and confirm and clean up pod deletions.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::NODE_KIND_LABEL;
use crate::cluster::{Inner, teardown_local};
use crate::error::{Error, Result};
use crate::topology::{NETNS_POD_IMAGE, TestNode, TestPod};

fn now() -> serde_json::Value {
    serde_json::to_value(Time(k8s_openapi::jiff::Timestamp::now())).unwrap_or_default()
}

/// What a kubelet does on pod deletion, for one netns node: a Pod marked for deletion is
/// confirmed (deleted with grace period 0), and a deleted Pod's netns and servers go away. This
/// is what lets namespace deletion complete with netns pods in it.
pub(crate) async fn kubelet_loop(client: kube::Client, node: TestNode, inner: Arc<Mutex<Inner>>) {
    use kube::runtime::WatchStreamExt;
    use kube::runtime::watcher::{self, Event};
    let api: Api<Pod> = Api::all(client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", node.name));
    let mut events = std::pin::pin!(watcher::watcher(api, config).default_backoff());
    while let Some(event) = events.next().await {
        let (pod, deleted) = match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => (pod, false),
            Ok(Event::Delete(pod)) => (pod, true),
            Ok(Event::Init | Event::InitDone) | Err(_) => continue,
        };
        let (Some(ns), Some(name), Some(uid)) = (
            pod.metadata.namespace.clone(),
            pod.metadata.name.clone(),
            pod.metadata.uid.clone(),
        ) else {
            continue;
        };
        let key = format!("{ns}/{name}");
        let ours = inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .owns(&key, &uid);
        if !ours {
            continue;
        }
        if deleted {
            if let Err(e) = teardown_local(&inner, &key, Some(&uid)) {
                tracing::warn!(pod = %key, error = %e, "tearing down a deleted pod");
            }
        } else if pod.metadata.deletion_timestamp.is_some() {
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(kube::api::Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..Default::default()
            };
            if let Err(e) = api.delete(&name, &params).await {
                tracing::debug!(pod = %key, error = %e, "confirming pod deletion");
            }
        }
    }
}

pub(crate) async fn create_node_object(client: &kube::Client, node: &TestNode) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let obj: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": {
                NODE_KIND_LABEL: "netns",
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "spec": { "podCIDR": node.pod_cidr.to_string(), "podCIDRs": [node.pod_cidr.to_string()] },
    }))
    .map_err(|source| Error::Json {
        what: format!("node {}", node.name),
        source,
    })?;
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(Error::kube(format!("creating node {}", node.name), e)),
    }
    let now = now();
    let status = json!({"status": {
        "addresses": [
            {"type": "InternalIP", "address": node.underlay_ip.to_string()},
            {"type": "Hostname", "address": node.name},
        ],
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "netns node managed by verdict-e2e",
            "lastHeartbeatTime": now, "lastTransitionTime": now,
        }],
        "nodeInfo": {
            "architecture": "amd64", "operatingSystem": "linux", "kernelVersion": "", "osImage": "netns",
            "containerRuntimeVersion": "netns://verdict-e2e", "kubeletVersion": "v1.36.3",
            "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": "",
        },
    }});
    api.patch_status(&node.name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .map_err(|e| Error::kube(format!("writing status of node {}", node.name), e))?;
    crate::kwok::remove_not_ready_taint(&api, &node.name).await
}

/// Creates the Pod object and writes its status; returns its uid.
pub(crate) async fn create_pod_object(
    client: &kube::Client,
    pod: &TestPod,
    node: &TestNode,
) -> Result<Option<String>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    let ports: Vec<serde_json::Value> = pod
        .ports
        .iter()
        .map(|p| {
            let mut v =
                json!({"name": pod.port_name(p), "containerPort": p.number, "protocol": p.protocol.k8s()});
            if pod.host_network {
                v["hostPort"] = json!(p.number);
            }
            v
        })
        .collect();
    let obj: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": pod.labels},
        "spec": {
            "nodeName": node.name,
            "hostNetwork": pod.host_network,
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "serve", "image": NETNS_POD_IMAGE, "ports": ports}],
        },
    }))
    .map_err(|source| Error::Json {
        what: format!("pod {}", pod.key()),
        source,
    })?;
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .map_err(|e| Error::kube(format!("creating pod {}", pod.key()), e))?;
    let now = now();
    let condition = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": now});
    let status = json!({"status": {
        "phase": "Running",
        "conditions": [condition("PodScheduled"), condition("Initialized"), condition("ContainersReady"), condition("Ready")],
        "podIP": pod.ip.to_string(),
        "podIPs": [{"ip": pod.ip.to_string()}],
        "hostIP": node.underlay_ip.to_string(),
        "hostIPs": [{"ip": node.underlay_ip.to_string()}],
        "startTime": now,
        "containerStatuses": [{
            "name": "serve", "ready": true, "started": true, "restartCount": 0,
            "image": NETNS_POD_IMAGE, "imageID": "", "containerID": format!("netns://{}", pod.netns),
            "state": {"running": {"startedAt": now}},
        }],
    }});
    api.patch_status(&pod.name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .map_err(|e| Error::kube(format!("writing status of pod {}", pod.key()), e))?;
    Ok(created.metadata.uid)
}
