//! kwok fakes nodes for scale: a DaemonSet applied with kubectl gets exactly one pod bound per
//! kwok node (and kwok marks them Running), and deleting the namespace completes.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::Api;
use kube::api::ListParams;
use verdict_e2e::{
    ControlPlane, ControlPlaneOptions, KwokOptions, NODE_KIND_LABEL, skip_unless_e2e,
};

const NODES: usize = 20;

const DAEMONSET: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: ds-test
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: probe
  namespace: ds-test
spec:
  selector:
    matchLabels: {app: probe}
  template:
    metadata:
      labels: {app: probe}
    spec:
      nodeSelector:
        e2e.kube-verdict.io/node-kind: kwok
      containers:
      - name: probe
        image: kube-verdict.local/fake:e2e
"#;

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let t0 = Instant::now();
    let mut last = String::new();
    while t0.elapsed() < timeout {
        match check().await {
            Ok(true) => {
                eprintln!("{what} after {:.1}s", t0.elapsed().as_secs_f64());
                return;
            }
            Ok(false) => {}
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what} (last: {last})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_gets_one_pod_per_kwok_node_and_namespace_deletion_completes() {
    skip_unless_e2e!();
    let cp = ControlPlane::start(ControlPlaneOptions::named("kwok"))
        .await
        .unwrap();
    let t = Instant::now();
    cp.start_kwok(KwokOptions::default()).await.unwrap();
    let names = cp.create_kwok_nodes("kwok-node", NODES).await.unwrap();
    let client = cp.client().await.unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    let selector = ListParams::default().labels(&format!("{NODE_KIND_LABEL}=kwok"));
    wait_until(
        &format!("{NODES} kwok nodes Ready"),
        Duration::from_secs(60),
        || {
            let nodes = nodes.clone();
            let selector = selector.clone();
            async move {
                let list = nodes.list(&selector).await.map_err(|e| e.to_string())?;
                let ready = list
                    .items
                    .iter()
                    .filter(|n| {
                        n.status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|c| {
                                c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                            })
                    })
                    .count();
                Ok(ready == NODES)
            }
        },
    )
    .await;
    eprintln!(
        "kwok and {NODES} nodes up in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // A netns node and pod beside the kwok ones: kwok must leave them alone.
    let cluster = verdict_e2e::NetnsCluster::new(Some(client.clone()))
        .await
        .unwrap();
    cluster.add_node("netns-1").await.unwrap();
    let real = cluster
        .add_pod(
            verdict_e2e::PodSpec::new("default", "real")
                .node("netns-1")
                .serve(verdict_e2e::Port::tcp(80)),
        )
        .await
        .unwrap();

    let manifest = cp.work_dir().join("daemonset.yaml");
    std::fs::write(&manifest, DAEMONSET).unwrap();
    cp.kubectl_run(&["apply", "-f", &manifest.display().to_string()])
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "ds-test");
    wait_until(
        "one Running DaemonSet pod per kwok node",
        Duration::from_secs(90),
        || {
            let pods = pods.clone();
            let names = names.clone();
            async move {
                let list = pods
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let mut bound: Vec<String> = list
                    .items
                    .iter()
                    .filter(|p| {
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    })
                    .filter_map(|p| p.spec.as_ref()?.node_name.clone())
                    .collect();
                bound.sort();
                let mut want = names.clone();
                want.sort();
                if list.items.len() > names.len() {
                    return Err(format!(
                        "{} pods for {} nodes",
                        list.items.len(),
                        names.len()
                    ));
                }
                Ok(bound == want)
            }
        },
    )
    .await;
    // Fake pod IPs come from kwok's CIDR, apart from services and the netns ranges.
    let any = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .remove(0);
    let ip = any.status.unwrap().pod_ip.unwrap();
    assert!(
        ip.starts_with("10.244."),
        "kwok pod IP {ip} must come from 10.244.0.0/16"
    );

    // kwok did not take over the netns node or pod: our kubelet-like status is intact.
    let netns_node = nodes.get("netns-1").await.unwrap();
    let info = netns_node.status.unwrap().node_info.unwrap();
    assert_eq!(
        info.kubelet_version, "v1.36.3",
        "kwok rewrote a netns node's status"
    );
    let real_obj = Api::<Pod>::namespaced(client.clone(), "default")
        .get("real")
        .await
        .unwrap();
    let status = real_obj.status.unwrap();
    assert_eq!(status.pod_ip.as_deref(), Some(real.ip.to_string().as_str()));
    let container_id = status.container_statuses.unwrap()[0]
        .container_id
        .clone()
        .unwrap_or_default();
    assert!(
        container_id.starts_with("netns://"),
        "kwok rewrote a netns pod's status: {container_id}"
    );
    let ds_pods_on_netns = pods
        .list(&ListParams::default().fields("spec.nodeName=netns-1"))
        .await
        .unwrap();
    assert!(
        ds_pods_on_netns.items.is_empty(),
        "the kwok-only DaemonSet must skip netns nodes"
    );

    let t = Instant::now();
    cp.kubectl_run(&["delete", "namespace", "ds-test", "--wait=false"])
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    wait_until("namespace ds-test deleted", Duration::from_secs(90), || {
        let namespaces = namespaces.clone();
        async move {
            Ok(namespaces
                .get_opt("ds-test")
                .await
                .map_err(|e| e.to_string())?
                .is_none())
        }
    })
    .await;
    eprintln!(
        "namespace deletion completed in {:.1}s",
        t.elapsed().as_secs_f64()
    );
}

/// Scale: hundreds of kwok nodes and thousands of pods, all Running with an IP, in seconds.
/// Prints the rates; asserts only completeness (speed is for benchmarks, not assertions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_kwok_nodes_and_thousands_of_pods() {
    skip_unless_e2e!();
    const SCALE_NODES: usize = 200;
    const SCALE_PODS: usize = 2000;
    let cp = ControlPlane::start(ControlPlaneOptions {
        scheduler: false,
        ..ControlPlaneOptions::named("kwok-scale")
    })
    .await
    .unwrap();
    cp.start_kwok(KwokOptions::default()).await.unwrap();
    let t = Instant::now();
    let nodes = cp
        .create_kwok_nodes("scale-node", SCALE_NODES)
        .await
        .unwrap();
    eprintln!(
        "{SCALE_NODES} nodes created in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    cp.kubectl_run(&["create", "namespace", "scale"])
        .await
        .unwrap();
    let client = cp.client().await.unwrap();
    let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), "scale");
    wait_until(
        "ServiceAccount scale/default",
        Duration::from_secs(30),
        || {
            let sa = sa.clone();
            async move {
                Ok(sa
                    .get_opt("default")
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some())
            }
        },
    )
    .await;
    let t = Instant::now();
    let names = cp
        .create_kwok_pods("scale", "p", SCALE_PODS, &nodes, &[("app", "scale")])
        .await
        .unwrap();
    assert_eq!(names.len(), SCALE_PODS);
    eprintln!(
        "{SCALE_PODS} pods created in {:.1}s ({:.0} pods/s)",
        t.elapsed().as_secs_f64(),
        SCALE_PODS as f64 / t.elapsed().as_secs_f64()
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "scale");
    wait_until(
        &format!("{SCALE_PODS} kwok pods Running with an IP"),
        Duration::from_secs(300),
        || {
            let pods = pods.clone();
            async move {
                let list = pods
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let running = list
                    .items
                    .iter()
                    .filter(|p| {
                        let s = p.status.as_ref();
                        s.and_then(|s| s.phase.as_deref()) == Some("Running")
                            && s.and_then(|s| s.pod_ip.as_ref()).is_some()
                    })
                    .count();
                Ok(running == SCALE_PODS)
            }
        },
    )
    .await;
    eprintln!(
        "{SCALE_NODES} nodes and {SCALE_PODS} pods Running {:.1}s after pod creation began",
        t.elapsed().as_secs_f64()
    );
}
