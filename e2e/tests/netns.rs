//! Netns nodes and pods carry real packets: with no policy, a 9×9 matrix of TCP, UDP and SCTP
//! probes between pods on two nodes is all reachable, and the API server shows the pods as a
//! kubelet would report them.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use verdict_e2e::{
    ControlPlane, ControlPlaneOptions, Matrix, NetnsCluster, PodSpec, Port, TestPod,
    skip_unless_e2e,
};

/// Upstream netpol e2e's shape: namespaces x, y, z with pods a, b, c, serving 80 and 81 on
/// every protocol.
fn ports() -> Vec<Port> {
    vec![
        Port::tcp(80),
        Port::tcp(81),
        Port::udp(80),
        Port::udp(81),
        Port::sctp(80),
        Port::sctp(81),
    ]
}

async fn nine_pods(cluster: &NetnsCluster) -> Vec<TestPod> {
    let mut pods = Vec::new();
    let mut i = 0;
    for ns in ["x", "y", "z"] {
        for name in ["a", "b", "c"] {
            let node = if i % 2 == 0 { "node-1" } else { "node-2" };
            i += 1;
            let spec = PodSpec::new(ns, name)
                .label("pod", name)
                .node(node)
                .serve_all(&ports());
            pods.push(cluster.add_pod(spec).await.unwrap());
        }
    }
    pods
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nine_by_nine_matrix_is_all_reachable_without_policy() {
    skip_unless_e2e!();
    let cp = ControlPlane::start(ControlPlaneOptions {
        scheduler: false,
        ..ControlPlaneOptions::named("netns")
    })
    .await
    .unwrap();
    let cluster = NetnsCluster::new(Some(cp.client().await.unwrap()))
        .await
        .unwrap();
    let t = Instant::now();
    let n1 = cluster.add_node("node-1").await.unwrap();
    let n2 = cluster.add_node("node-2").await.unwrap();
    cluster
        .ensure_namespace("x", &[("team", "blue")])
        .await
        .unwrap();
    let pods = nine_pods(&cluster).await;
    let ns_x: k8s_openapi::api::core::v1::Namespace =
        Api::all(cp.client().await.unwrap()).get("x").await.unwrap();
    let ns_labels = ns_x.metadata.labels.unwrap();
    assert_eq!(ns_labels["team"], "blue");
    assert_eq!(ns_labels["kubernetes.io/metadata.name"], "x");
    eprintln!(
        "2 nodes and 9 pods wired in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // The API server sees what a kubelet would have reported.
    let client = cp.client().await.unwrap();
    let node: Node = Api::all(client.clone()).get("node-2").await.unwrap();
    assert_eq!(
        node.spec.unwrap().pod_cidr.as_deref(),
        Some(n2.pod_cidr.to_string().as_str())
    );
    let status = node.status.unwrap();
    assert_eq!(
        status.addresses.unwrap()[0].address,
        n2.underlay_ip.to_string()
    );
    assert!(
        status
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
    for pod in &pods {
        let obj: Pod = Api::namespaced(client.clone(), &pod.namespace)
            .get(&pod.name)
            .await
            .unwrap();
        let status = obj.status.unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"), "{}", pod.key());
        assert_eq!(
            status.pod_ip.as_deref(),
            Some(pod.ip.to_string().as_str()),
            "{}",
            pod.key()
        );
        let host = if pod.node == n1.name {
            n1.underlay_ip
        } else {
            n2.underlay_ip
        };
        assert_eq!(
            status.host_ip.as_deref(),
            Some(host.to_string().as_str()),
            "{}",
            pod.key()
        );
        assert!(
            status
                .conditions
                .unwrap()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        );
        assert_eq!(
            obj.spec.unwrap().node_name.as_deref(),
            Some(pod.node.as_str())
        );
    }

    let keys: Vec<String> = pods.iter().map(TestPod::key).collect();
    let t = Instant::now();
    let observed = cluster
        .probe_matrix(&pods, &ports(), Duration::from_secs(5))
        .await
        .unwrap();
    eprintln!(
        "{} probes in {:.2}s",
        observed.cells.len(),
        t.elapsed().as_secs_f64()
    );
    let expected = Matrix::filled(&keys, &ports(), true);
    let diff = observed.diff(&expected);
    assert!(
        diff.is_empty(),
        "unexpected reachability:\n{}\n{observed}",
        diff.join("\n")
    );
    assert_eq!(observed.cells.len(), 9 * 9 * 6);

    // A process inside a node netns reaches the apiserver through the loopback relay, with the
    // admin kubeconfig unchanged.
    cluster
        .forward_loopback_port(&n1.netns, cp.apiserver_port())
        .unwrap();
    let kubectl = verdict_e2e::bins::binary("kubectl").unwrap();
    let out = n1
        .command(&kubectl)
        .args([
            "--kubeconfig",
            &cp.kubeconfig().display().to_string(),
            "get",
            "nodes",
            "-o",
            "name",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl in node netns: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("node/node-1") && text.contains("node/node-2"),
        "{text}"
    );

    // Relabelling replaces the label set in the API server, removing keys not given.
    let xa = cluster.pod("x", "a").unwrap();
    let relabelled = cluster.relabel_pod(&xa, &[("role", "web")]).await.unwrap();
    let obj: Pod = Api::namespaced(client.clone(), "x").get("a").await.unwrap();
    let labels = obj.metadata.labels.unwrap();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!(labels["role"], "web");
    assert_eq!(relabelled.labels, labels);

    // Deleting a namespace completes: the harness confirms pod deletion as a kubelet would, and
    // the pods' netns go with them.
    let t = Instant::now();
    cp.kubectl_run(&["delete", "namespace", "z", "--wait=true", "--timeout=60s"])
        .await
        .unwrap();
    eprintln!("namespace z deleted in {:.1}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    while cluster.pods().iter().any(|p| p.namespace == "z") {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "z pods still present in the harness"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for pod in pods.iter().filter(|p| p.namespace == "z") {
        assert!(
            !std::path::Path::new("/run/netns").join(&pod.netns).exists(),
            "{} netns left",
            pod.key()
        );
    }
    let rest: Vec<TestPod> = cluster.pods();
    assert_eq!(rest.len(), 6);
    let observed = cluster
        .probe_matrix(&rest, &[Port::tcp(80)], Duration::from_secs(5))
        .await
        .unwrap();
    assert!(observed.all(true), "{observed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_see_closed_ports_host_network_and_deleted_pods() {
    skip_unless_e2e!();
    // No API server: the kernel side alone.
    let cluster = NetnsCluster::new(None).await.unwrap();
    cluster.add_node("n1").await.unwrap();
    cluster.add_node("n2").await.unwrap();
    // A third node added later still gets routes both ways.
    cluster.add_node("n3").await.unwrap();
    let d = cluster
        .add_pod(PodSpec::new("w", "d").node("n3").serve(Port::udp(5353)))
        .await
        .unwrap();
    let a = cluster
        .add_pod(PodSpec::new("x", "a").node("n1").serve(Port::tcp(80)))
        .await
        .unwrap();
    let b = cluster
        .add_pod(PodSpec::new("x", "b").node("n2").serve_all(&[
            Port::tcp(80),
            Port::udp(53),
            Port::sctp(9),
        ]))
        .await
        .unwrap();
    let host = cluster
        .add_pod(
            PodSpec::new("kube-system", "agent")
                .node("n2")
                .host_network()
                .serve(Port::tcp(9100)),
        )
        .await
        .unwrap();
    assert_eq!(host.ip, cluster.node("n2").unwrap().underlay_ip);

    // Open paths get a generous timeout (this 2-core machine is shared with builds); blocked
    // ones a short one, since waiting it out is the cost of every negative probe.
    let open = Duration::from_secs(5);
    let blocked = Duration::from_millis(600);
    let cases = [
        ("tcp open across nodes", &a, b.ip, Port::tcp(80), true),
        ("tcp closed port is refused", &a, b.ip, Port::tcp(81), false),
        ("udp echo across nodes", &a, b.ip, Port::udp(53), true),
        ("udp closed port", &a, b.ip, Port::udp(54), false),
        ("sctp INIT arrives", &a, b.ip, Port::sctp(9), true),
        (
            "sctp to a port nobody serves",
            &a,
            b.ip,
            Port::sctp(10),
            false,
        ),
        (
            "pod to hostNetwork pod on the other node",
            &a,
            host.ip,
            Port::tcp(9100),
            true,
        ),
        (
            "hostNetwork pod to pod on its own node",
            &host,
            b.ip,
            Port::tcp(80),
            true,
        ),
        ("pod to its own IP", &a, a.ip, Port::tcp(80), true),
        ("node 1 pod to node 3 pod", &a, d.ip, Port::udp(5353), true),
        ("node 3 pod to node 2 pod", &d, b.ip, Port::tcp(80), true),
    ];
    for (name, from, to, port, want) in cases {
        let got = cluster
            .probe(from, to, port, if want { open } else { blocked })
            .await
            .unwrap();
        assert_eq!(got, want, "{name}");
    }

    // Every pod packet crosses the node's netfilter hooks: a drop rule in node n2's forward
    // chain blocks exactly what it names, and its counter saw the packets.
    let n2 = cluster.node("n2").unwrap();
    let nft = |script: &str| {
        let out = n2
            .command("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn();
        let mut child = out.unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "nft -f failed: {script}");
    };
    nft(
        "table inet e2e {\n chain probe_drop {\n type filter hook forward priority 0;\n \
         tcp dport 80 counter drop\n udp dport 53 counter drop\n meta l4proto sctp counter drop\n }\n}\n",
    );
    for (name, port) in [
        ("tcp", Port::tcp(80)),
        ("udp", Port::udp(53)),
        ("sctp", Port::sctp(9)),
    ] {
        assert!(
            !cluster.probe(&a, b.ip, port, blocked).await.unwrap(),
            "{name} must be dropped by the node"
        );
    }
    // hostNetwork traffic to n2 itself takes INPUT, not FORWARD.
    assert!(
        cluster
            .probe(&a, host.ip, Port::tcp(9100), open)
            .await
            .unwrap()
    );
    let listing = n2
        .command("nft")
        .args(["list", "table", "inet", "e2e"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for line in listing.lines().filter(|l| l.contains("counter")) {
        assert!(
            !line.contains("packets 0 "),
            "a drop rule saw no packets: {line}"
        );
    }
    nft("delete table inet e2e\n");
    assert!(cluster.probe(&a, b.ip, Port::tcp(80), open).await.unwrap());

    cluster.delete_pod(&b).await.unwrap();
    assert!(
        !cluster
            .probe(&a, b.ip, Port::tcp(80), blocked)
            .await
            .unwrap(),
        "deleted pod must be gone"
    );
    assert!(!std::path::Path::new("/run/netns").join(&b.netns).exists());
    // Its address is reused by the next pod on that node.
    let c = cluster
        .add_pod(PodSpec::new("x", "c").node("n2").serve(Port::tcp(80)))
        .await
        .unwrap();
    assert_eq!(c.ip, b.ip);
    assert!(cluster.probe(&a, c.ip, Port::tcp(80), open).await.unwrap());
}
