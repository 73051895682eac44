//! The DaemonSet the operator generates really starts a working agent.
//!
//! The operator (the real binary, as its ServiceAccount) turns the sample enforcer into a
//! DaemonSet. This test reads the agent container's command, args and env from that DaemonSet,
//! fills in the downward-API values a kubelet would (`NODE_NAME` = the node), and starts
//! `verdict-agent` with exactly those on a netns node of the harness, with the DaemonSet's
//! security context applied: only `CAP_NET_ADMIN` in the bounding set (so uid 0 gets nothing
//! else) and no_new_privs. The one substitution: there is no pod, so no in-cluster
//! ServiceAccount token; `KUBECONFIG` (an input of the agent flag contract) points at a client
//! certificate for the agent's ServiceAccount user instead, so the agent has exactly the RBAC
//! the operator granted it. The test then checks that the agent becomes ready and enforces a
//! NetworkPolicy on real packets.
//!
//! Needs `verdict-agent` built: the test runs `cargo build -p verdict-agent` (the binary lands in
//! `<target>/debug/verdict-agent`; set `VERDICT_AGENT_BIN` to use another one). Runs when
//! `VERDICT_E2E` is set.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::PostParams;
use support::*;
use verdict_e2e::{NetnsCluster, PodSpec, Port, TestNode};

const T: Duration = Duration::from_secs(90);

fn agent_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("VERDICT_AGENT_BIN") {
        return bin.into();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", "verdict-agent", "--bin", "verdict-agent"])
        .current_dir(root())
        .status()
        .expect("run cargo build -p verdict-agent");
    assert!(status.success(), "cargo build -p verdict-agent failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    target.join("debug/verdict-agent")
}

/// Runs `f` on a throwaway thread inside network namespace `netns`.
fn in_netns<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{netns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&path).expect("open netns");
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("netns thread")
    })
}

/// GET `path` on `addr` inside `netns`: the HTTP status.
fn http_status(netns: &str, addr: SocketAddr, path: &str) -> Option<u16> {
    let path = path.to_owned();
    in_netns(netns, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: agent\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.split_whitespace().nth(1)?.parse().ok()
    })
}

/// The process environment a kubelet would give `container` on `node`, in pod `pod` of
/// `namespace`.
fn container_env(
    container: &Container,
    node: &TestNode,
    pod: &str,
    namespace: &str,
) -> Vec<(String, String)> {
    container
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let value = match (&e.value, &e.value_from) {
                (Some(v), _) => v.clone(),
                (None, Some(from)) => {
                    let field = from.field_ref.as_ref().map(|f| f.field_path.as_str());
                    match field {
                        Some("spec.nodeName") => node.name.clone(),
                        Some("metadata.name") => pod.to_owned(),
                        Some("metadata.namespace") => namespace.to_owned(),
                        other => panic!("env {} uses an unsupported source {other:?}", e.name),
                    }
                }
                (None, None) => String::new(),
            };
            (e.name, value)
        })
        .collect()
}

/// `addr` from an agent flag like `--health-addr=0.0.0.0:9091`, as a loopback address.
fn flag_addr(args: &[String], flag: &str) -> SocketAddr {
    let value = args
        .iter()
        .find_map(|a| a.strip_prefix(&format!("{flag}=")))
        .unwrap_or_else(|| panic!("{flag} not in {args:?}"));
    let port: u16 = value.rsplit(':').next().unwrap().parse().unwrap();
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_set_starts_a_working_agent() {
    verdict_e2e::skip_unless_e2e!();
    let agent_bin = agent_binary();
    let (cp, _) = control_plane("operator-agent", 0).await;
    apply_install(&cp).await;
    let client = cp.client().await.expect("admin client");
    cp.kubectl_run(&[
        "-n",
        NS,
        "scale",
        "deployment/verdict-operator",
        "--replicas=0",
    ])
    .await
    .expect("scale the manifest's Deployment down");

    // The real operator, as its ServiceAccount, renders the sample.
    let log = std::fs::File::create(cp.logs_dir().join("operator.log")).unwrap();
    let _operator = tokio::process::Command::new(env!("CARGO_BIN_EXE_verdict-operator"))
        .args([
            format!("--kubeconfig={}", operator_kubeconfig(&cp).display()),
            format!("--namespace={NS}"),
            "--metrics-addr=127.0.0.1:0".to_owned(),
            "--leader-elect=false".to_owned(),
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start verdict-operator");
    let sample = root().join("manifests/samples/enforcer.yaml");
    cp.kubectl_run(&["apply", "-f", sample.to_str().unwrap()])
        .await
        .expect("apply sample");
    let ds = wait_for("the operator's DaemonSet", T, || {
        let client = client.clone();
        async move {
            daemon_set(&client, "default")
                .await
                .ok_or_else(|| "not yet".to_owned())
        }
    })
    .await;
    let pod = ds.spec.as_ref().unwrap().template.spec.clone().unwrap();
    let container = pod.containers[0].clone();
    let command = container.command.clone().unwrap();
    let args = container.args.clone().unwrap_or_default();
    assert_eq!(command, ["verdict-agent"], "the image's binary");
    let sc = container.security_context.clone().unwrap();
    let caps = sc.capabilities.clone().unwrap();
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_owned()][..]));
    let added: Vec<String> = caps.add.clone().unwrap_or_default();
    assert_eq!(sc.privileged, Some(false));

    // A netns node with two pods, and the agent started exactly as the DaemonSet says.
    let cluster = NetnsCluster::new(Some(client.clone()))
        .await
        .expect("netns cluster");
    let node = cluster.add_node("n1").await.expect("netns node");
    cluster
        .forward_loopback_port(&node.netns, cp.apiserver_port())
        .expect("apiserver relay in the node netns");
    cluster
        .ensure_namespace("x", &[("ns", "x")])
        .await
        .expect("namespace");
    let client_pod = cluster
        .add_pod(PodSpec::new("x", "a").label("pod", "a").node("n1"))
        .await
        .expect("pod a");
    let server_pod = cluster
        .add_pod(
            PodSpec::new("x", "b")
                .label("pod", "b")
                .node("n1")
                .serve(Port::tcp(80)),
        )
        .await
        .expect("pod b");

    let agent_user = "system:serviceaccount:kube-verdict-system:verdict-agent-default";
    let agent_kubeconfig = cp
        .write_kubeconfig(
            agent_user,
            &[
                "system:serviceaccounts",
                "system:serviceaccounts:kube-verdict-system",
                "system:authenticated",
            ],
            "verdict-agent.kubeconfig",
        )
        .unwrap();
    // No kubelet makes the pod: the test runs its container, named as the DaemonSet's pod on n1.
    let mut env = container_env(
        &container,
        &node,
        "verdict-agent-default-n1",
        "kube-verdict-system",
    );
    assert!(
        env.iter().any(|(k, v)| k == "NODE_NAME" && v == "n1"),
        "{env:?}"
    );
    assert!(
        env.iter().any(|(k, _)| k == "VERDICT_TRACE_KEY"),
        "the enforcer's UID is the agents' trace key: {env:?}"
    );
    env.push((
        "KUBECONFIG".to_owned(),
        agent_kubeconfig.display().to_string(),
    ));
    let bounding = std::iter::once("-all".to_owned())
        .chain(added.iter().map(|c| format!("+{}", c.to_lowercase())))
        .collect::<Vec<_>>()
        .join(",");
    let mut setpriv_args = vec![
        format!("--bounding-set={bounding}"),
        "--inh-caps=-all".to_owned(),
        "--no-new-privs".to_owned(),
        "--".to_owned(),
        agent_bin.display().to_string(),
    ];
    setpriv_args.extend(args.iter().cloned());
    let pid = cluster
        .spawn_in(
            &node.netns,
            "verdict-agent-n1",
            Path::new("/usr/bin/setpriv"),
            &setpriv_args,
            &env,
        )
        .expect("start the agent");
    let agent_log = cluster.logs_dir().join("verdict-agent-n1.log");

    let health = flag_addr(&args, "--health-addr");
    let deadline = Instant::now() + T;
    loop {
        if http_status(&node.netns, health, "/readyz") == Some(200) {
            break;
        }
        assert!(
            cluster.process_running(pid),
            "the agent exited; log:\n{}",
            std::fs::read_to_string(&agent_log).unwrap_or_default()
        );
        assert!(
            Instant::now() < deadline,
            "the agent is not ready after {T:?}; log:\n{}",
            std::fs::read_to_string(&agent_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let cap_eff = status
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .unwrap_or_default()
        .to_owned();
    // CAP_NET_ADMIN is bit 12: 0x1000.
    assert!(
        cap_eff.ends_with("0000000000001000"),
        "agent capabilities: {cap_eff}"
    );
    assert_eq!(http_status(&node.netns, health, "/healthz"), Some(200));

    // It enforces: open before, closed after a deny-all-ingress policy on b.
    let port = Port::tcp(80);
    let probe = || {
        cluster.probe(
            &client_pod,
            server_pod.ip,
            port,
            Duration::from_millis(1000),
        )
    };
    assert!(
        probe().await.expect("probe"),
        "a -> b:80 should be open without policies"
    );
    let policy: NetworkPolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "deny-b", "namespace": "x"},
        "spec": {"podSelector": {"matchLabels": {"pod": "b"}}, "policyTypes": ["Ingress"]}
    }))
    .unwrap();
    Api::<NetworkPolicy>::namespaced(client.clone(), "x")
        .create(&PostParams::default(), &policy)
        .await
        .expect("create policy");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if !probe().await.expect("probe") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a -> b:80 still open 20 s after deny-b; agent log:\n{}",
            std::fs::read_to_string(&agent_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        cluster.process_running(pid),
        "the agent died while enforcing"
    );
    cluster.stop_process(pid, Duration::from_secs(5));
}
