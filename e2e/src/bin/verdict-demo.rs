//! `verdict-demo`: the whole product on this machine (`make demo` runs it through
//! `scripts/demo.sh`, which builds what is missing first). Demo only; it needs root.
//!
//! ```text
//!  preflight (root, netns, nfnetlink_queue, binaries, ports, a stale demo)
//!    ─► ControlPlane (etcd, kube-apiserver, controller-manager, scheduler on 127.0.0.1)
//!    ─► kubectl apply -f manifests/install.yaml          (CRDs, RBAC, operator Deployment)
//!    ─► Jaeger v2 on 127.0.0.1 (query API, OTLP gRPC relayed into every node)
//!    ─► NetnsCluster: node-1, node-2 ─► PodRunner, the stand-in kubelet (demo/test only):
//!         runs the operator's pods and then the agents' DaemonSet pods as processes
//!    ─► kubectl apply -f manifests/samples/enforcer-demo.yaml  (tracing + dashboard on)
//!    ─► wait: `kubectl get npe` Ready 2/2
//!    ─► examples/demo-cluster: namespaces, workload pods (netns), NP + ANP + BANP,
//!       every flow of traffic.yaml checked once, then traffic a few connections per second
//!    ─► relays 127.0.0.1:<port> ─► each node's dashboard and /metrics (and the operator's
//!       dashboard when its pod declares one)
//!    ─► prints URLs, kubectl commands and one machine-readable line; runs until Ctrl-C or
//!       --for/DEMO_FOR seconds; tears everything down and checks nothing is left.
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;
use verdict_e2e::{
    ControlPlane, ControlPlaneOptions, Jaeger, NetnsCluster, PodRunner, PodRunnerOptions, PodSpec,
    Port, TestNode, TestPod,
};

/// The agents' namespace (manifests/install.yaml).
const SYSTEM_NAMESPACE: &str = "kube-verdict-system";
/// The nodes examples/demo-cluster/workload.yaml places pods on.
const NODES: [&str; 2] = ["node-1", "node-2"];
/// Where each agent serves /metrics inside its node (the operator's agent flags).
const AGENT_METRICS_PORT: u16 = 9090;
/// How long one probe of the traffic generator waits (a deny is a silent drop).
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

#[derive(Parser, Debug)]
#[command(
    version,
    about = "kube-verdict's demo: a local cluster running the operator, the agents, Jaeger, \
             sample policies and live traffic"
)]
struct Cli {
    /// Run headless for this many seconds, then tear down and exit 0 (Ctrl-C otherwise).
    #[arg(long = "for", env = "DEMO_FOR", value_name = "SECONDS")]
    run_for: Option<u64>,
    /// Directory holding verdict-agent and verdict-operator (default: this binary's directory).
    #[arg(long, env = "VERDICT_DEMO_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// The repository root (manifests/, examples/).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.."))]
    repo: PathBuf,
    /// Host ports on 127.0.0.1: the cluster dashboard is BASE, node N's dashboard BASE+N, node
    /// N's metrics BASE+10+N.
    #[arg(long, env = "DEMO_PORT_BASE", default_value_t = 9400)]
    port_base: u16,
    /// Jaeger's query API port on 127.0.0.1.
    #[arg(long, env = "DEMO_JAEGER_PORT", default_value_t = 16686)]
    jaeger_port: u16,
    /// Jaeger's OTLP gRPC port on 127.0.0.1 (relayed to 127.0.0.1 inside every node).
    #[arg(long, env = "DEMO_OTLP_PORT", default_value_t = 4317)]
    otlp_port: u16,
    /// Connections per second the traffic generator opens, round robin over traffic.yaml's
    /// flows (6/s: each of its 9 flows every 1.5 s, so a policy change shows within 2 s).
    #[arg(long, default_value_t = 6)]
    rate: u32,
}

fn step(what: &str) -> Instant {
    eprintln!("==> {what}...");
    Instant::now()
}

fn done(t: Instant) {
    eprintln!("    done in {:.1}s", t.elapsed().as_secs_f64());
}

/// One flow of examples/demo-cluster/traffic.yaml.
#[derive(Debug, Clone, Deserialize)]
struct Flow {
    from: String,
    to: String,
    port: String,
    expect: Expect,
    why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Allow,
    Deny,
}

#[derive(Debug, Deserialize)]
struct TrafficFile {
    flows: Vec<Flow>,
}

/// `tcp/8080` → a port.
fn parse_port(text: &str) -> anyhow::Result<Port> {
    let (proto, number) = text
        .split_once('/')
        .with_context(|| format!("port {text:?}: want PROTO/NUMBER"))?;
    let number: u16 = number
        .parse()
        .with_context(|| format!("port {text:?}: bad number"))?;
    Ok(match proto.to_ascii_lowercase().as_str() {
        "tcp" => Port::tcp(number),
        "udp" => Port::udp(number),
        "sctp" => Port::sctp(number),
        other => bail!("port {text:?}: unknown protocol {other:?}"),
    })
}

/// The netns pods to create, from Pod manifests (name, namespace, labels, node, ports).
fn workload_specs(text: &str) -> anyhow::Result<Vec<PodSpec>> {
    let mut specs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let pod = Pod::deserialize(doc).context("a Pod in workload.yaml")?;
        let name = pod.metadata.name.clone().context("a pod without a name")?;
        let ns = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let spec = pod.spec.clone().unwrap_or_default();
        let node = spec
            .node_name
            .clone()
            .with_context(|| format!("pod {ns}/{name}: spec.nodeName is required"))?;
        let mut out = PodSpec::new(&ns, &name).node(&node);
        for (k, v) in pod.metadata.labels.iter().flatten() {
            out = out.label(k, v);
        }
        for c in &spec.containers {
            for p in c.ports.iter().flatten() {
                let number = u16::try_from(p.container_port)
                    .with_context(|| format!("pod {ns}/{name}: port {}", p.container_port))?;
                let port = match p.protocol.as_deref().unwrap_or("TCP") {
                    "TCP" => Port::tcp(number),
                    "UDP" => Port::udp(number),
                    "SCTP" => Port::sctp(number),
                    other => bail!("pod {ns}/{name}: protocol {other}"),
                };
                out = match &p.name {
                    Some(n) => out.serve_named(port, n),
                    None => out.serve(port),
                };
            }
        }
        specs.push(out);
    }
    Ok(specs)
}

/// What a crashed demo left: its pid and work directories.
#[derive(serde::Serialize, serde::Deserialize)]
struct DemoState {
    pid: u32,
    dirs: Vec<PathBuf>,
}

fn state_path() -> PathBuf {
    verdict_e2e::work_root().join("demo.json")
}

/// Running, not merely a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The demo needs root; checked before anything else.
fn check_root() -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "the demo needs root: it creates network namespaces, veths, routes and nftables \
             tables (run `sudo make demo`)"
        );
    }
    Ok(())
}

/// Checks what the demo needs before starting anything; each failure names what is missing.
/// Root is checked before, and a stale demo cleaned before, this (its leftovers could hold
/// the ports).
fn preflight(cli: &Cli, bin_dir: &Path) -> anyhow::Result<()> {
    // A network namespace on a throwaway thread: nothing to clean up afterwards.
    let netns = std::thread::spawn(|| nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET))
        .join()
        .map_err(|_| anyhow::anyhow!("netns check thread panicked"))?;
    if let Err(e) = netns {
        return Err(verdict_e2e::Error::MissingKernelFeature {
            feature: "network namespaces",
            detail: format!("unshare(CLONE_NEWNET) failed: {e} (CONFIG_NET_NS)"),
        }
        .into());
    }
    let nfq = Path::new("/proc/net/netfilter/nfnetlink_queue");
    if !nfq.exists() {
        let _ = std::process::Command::new("modprobe")
            .arg("nfnetlink_queue")
            .status();
    }
    if !nfq.exists() {
        return Err(verdict_e2e::Error::MissingKernelFeature {
            feature: "nfnetlink_queue",
            detail: format!(
                "{} does not exist, and `modprobe nfnetlink_queue` did not load it \
                 (CONFIG_NETFILTER_NETLINK_QUEUE): the agent queues new connections to it",
                nfq.display()
            ),
        }
        .into());
    }
    for name in verdict_e2e::RUNNABLE_BINARIES {
        let path = bin_dir.join(name);
        if !path.is_file() {
            bail!(
                "{} is missing: build it (`cargo build --release -p {}`), or pass --bin-dir",
                path.display(),
                name
            );
        }
    }
    for name in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubectl",
        "jaeger",
    ] {
        verdict_e2e::bins::binary(name).context("the control-plane binaries (e2e/k8s/build.sh)")?;
    }
    let mut wanted = vec![
        (cli.port_base, "the cluster dashboard".to_string()),
        (cli.jaeger_port, "Jaeger's query API".to_string()),
        (cli.otlp_port, "Jaeger's OTLP gRPC receiver".to_string()),
    ];
    for (i, node) in NODES.iter().enumerate() {
        let n = u16::try_from(i + 1).unwrap_or(1);
        wanted.push((cli.port_base + n, format!("{node}'s dashboard")));
        wanted.push((cli.port_base + 10 + n, format!("{node}'s metrics")));
    }
    for (port, what) in wanted {
        if !port_free(port) {
            bail!(
                "port 127.0.0.1:{port} ({what}) is already in use: stop what holds it (`ss -ltnp \
                 'sport = :{port}'`), or choose other ports (--port-base, --jaeger-port, \
                 --otlp-port)"
            );
        }
    }
    Ok(())
}

/// A demo from a crashed run is cleaned; a running one is an error.
fn handle_stale_demo() -> anyhow::Result<()> {
    let path = state_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let state: DemoState = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(_) => {
            let _ = std::fs::remove_file(&path);
            return Ok(());
        }
    };
    // Alive and a demo (not another process that got the pid since).
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", state.pid)).unwrap_or_default();
    let a_demo = String::from_utf8_lossy(&cmdline).contains("verdict-demo");
    if state.pid != std::process::id() && alive(state.pid) && a_demo {
        bail!(
            "a demo is already running (pid {}): stop it with Ctrl-C in its terminal, or `kill {}`",
            state.pid,
            state.pid
        );
    }
    let t = step(&format!(
        "cleaning up a stale demo from a crashed run (pid {})",
        state.pid
    ));
    let report = verdict_e2e::cleanup_stale()?;
    for dir in &state.dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
    let _ = std::fs::remove_file(&path);
    eprintln!(
        "    killed {} processes, removed {} network namespaces and {} work directories",
        report.killed.len(),
        report.netns.len(),
        state.dirs.len()
    );
    done(t);
    Ok(())
}

fn write_state(dirs: &[PathBuf]) -> anyhow::Result<()> {
    let path = state_path();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let state = DemoState {
        pid: std::process::id(),
        dirs: dirs.to_vec(),
    };
    std::fs::write(&path, serde_json::to_string(&state)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Everything the demo started, torn down in reverse order.
#[derive(Default)]
struct Parts {
    cp: Option<ControlPlane>,
    jaeger: Option<Jaeger>,
    cluster: Option<Arc<NetnsCluster>>,
    runner: Option<PodRunner>,
    traffic: Option<tokio::task::JoinHandle<()>>,
    /// What the traffic generator saw.
    stats: Option<Arc<Mutex<TrafficStats>>>,
    /// Work directories (removed at teardown).
    dirs: Vec<PathBuf>,
    /// The netns prefix, to check that none is left.
    netns_prefix: Option<String>,
}

impl Parts {
    async fn teardown(&mut self) -> anyhow::Result<()> {
        if let Some(t) = self.traffic.take() {
            t.abort();
            let _ = t.await;
        }
        if let Some(r) = self.runner.take() {
            r.shutdown().await;
        }
        if let Some(mut cluster) = self.cluster.take() {
            // Aborted tasks let go of their handles shortly; then the last one deletes the netns.
            for _ in 0..200 {
                match Arc::try_unwrap(cluster) {
                    Ok(c) => {
                        tokio::task::spawn_blocking(move || drop(c)).await?;
                        break;
                    }
                    Err(back) => {
                        cluster = back;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        if let Some(j) = self.jaeger.take() {
            tokio::task::spawn_blocking(move || drop(j)).await?;
        }
        if let Some(cp) = self.cp.take() {
            tokio::task::spawn_blocking(move || drop(cp)).await?;
        }
        for dir in self.dirs.drain(..) {
            let _ = std::fs::remove_dir_all(dir);
        }
        let _ = std::fs::remove_file(state_path());
        // Check, rather than trust, that nothing is left.
        if let Some(prefix) = self.netns_prefix.take() {
            let left: Vec<String> = std::fs::read_dir("/run/netns")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect();
            if !left.is_empty() {
                bail!("network namespaces left behind: {left:?}");
            }
        }
        Ok(())
    }
}

async fn kubectl(cp: &ControlPlane, args: &[&str]) -> anyhow::Result<String> {
    cp.kubectl_run(args)
        .await
        .with_context(|| format!("kubectl {}", args.join(" ")))
}

/// Polls `check` every 500 ms until it returns `Ok(Some(_))`, printing its last progress note.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Result<T, String>>>,
{
    let t0 = Instant::now();
    let mut last = String::new();
    loop {
        match check().await? {
            Ok(v) => return Ok(v),
            Err(note) => {
                if note != last {
                    eprintln!("    {note}");
                    last = note;
                }
            }
        }
        if t0.elapsed() > timeout {
            bail!(
                "timed out after {}s waiting for {what} (last: {last})",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A minimal HTTP/1.0 GET on 127.0.0.1; the status code and body.
async fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
            .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((code, body))
    };
    tokio::time::timeout(Duration::from_secs(3), fut)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// Counts of what the traffic generator saw.
#[derive(Debug, Default)]
struct TrafficStats {
    allowed: u64,
    denied: u64,
    /// Connections whose outcome differed from traffic.yaml (a policy changed since, or a bug).
    unexpected: u64,
}

struct ResolvedFlow {
    flow: Flow,
    from: TestPod,
    to: TestPod,
    port: Port,
}

fn resolve_flows(flows: &[Flow], pods: &[TestPod]) -> anyhow::Result<Vec<ResolvedFlow>> {
    let find = |key: &str| {
        pods.iter()
            .find(|p| p.key() == key)
            .cloned()
            .with_context(|| format!("traffic.yaml names pod {key}, which workload.yaml lacks"))
    };
    flows
        .iter()
        .map(|f| {
            Ok(ResolvedFlow {
                flow: f.clone(),
                from: find(&f.from)?,
                to: find(&f.to)?,
                port: parse_port(&f.port)?,
            })
        })
        .collect()
}

fn describe(f: &ResolvedFlow) -> String {
    format!(
        "{} ({}) -> {} ({}) {}",
        f.flow.from, f.from.node, f.flow.to, f.to.node, f.flow.port
    )
}

/// Probes every flow until each behaves as traffic.yaml says (enforcement settles within
/// seconds of the agents being ready), or fails naming the ones that do not.
async fn check_flows(cluster: &NetnsCluster, flows: &[ResolvedFlow]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let mut wrong = Vec::new();
        let results = futures::future::join_all(flows.iter().map(|f| async move {
            let ok = cluster.probe(&f.from, f.to.ip, f.port, PROBE_TIMEOUT).await;
            (f, ok)
        }))
        .await;
        for (f, result) in results {
            let reachable = result.with_context(|| format!("probing {}", describe(f)))?;
            let want = f.flow.expect == Expect::Allow;
            if reachable != want {
                wrong.push(format!(
                    "{}: expected {:?}, observed {} ({})",
                    describe(f),
                    f.flow.expect,
                    if reachable { "allow" } else { "deny" },
                    f.flow.why
                ));
            }
        }
        if wrong.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the policies are not enforced as examples/demo-cluster/traffic.yaml says:\n  {}",
                wrong.join("\n  ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn spawn_traffic(
    cluster: Arc<NetnsCluster>,
    flows: Vec<ResolvedFlow>,
    rate: u32,
    stats: Arc<Mutex<TrafficStats>>,
) -> tokio::task::JoinHandle<()> {
    let flows = Arc::new(flows);
    tokio::spawn(async move {
        let interval = Duration::from_secs(1) / rate.max(1);
        let mut tick = tokio::time::interval(interval);
        let mut i = 0usize;
        loop {
            tick.tick().await;
            let flows = Arc::clone(&flows);
            let cluster = Arc::clone(&cluster);
            let stats = Arc::clone(&stats);
            let n = i % flows.len();
            i += 1;
            tokio::spawn(async move {
                let f = &flows[n];
                let Ok(reachable) = cluster.probe(&f.from, f.to.ip, f.port, PROBE_TIMEOUT).await
                else {
                    return;
                };
                let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
                if reachable {
                    s.allowed += 1;
                } else {
                    s.denied += 1;
                }
                if reachable != (f.flow.expect == Expect::Allow) {
                    s.unexpected += 1;
                }
            });
        }
    })
}

/// The demo enforcer, with the OTLP endpoint pointed at this demo's Jaeger port.
fn enforcer_manifest(text: &str, otlp_port: u16) -> anyhow::Result<serde_json::Value> {
    let mut cr: serde_json::Value =
        serde_norway::from_str(text).context("parsing manifests/samples/enforcer-demo.yaml")?;
    cr["spec"]["tracing"]["otlpEndpoint"] = format!("http://127.0.0.1:{otlp_port}").into();
    Ok(cr)
}

/// The dashboard port the enforcer configures (its `spec.dashboard`), if enabled.
fn dashboard_port(cr: &serde_json::Value) -> Option<u16> {
    let d = &cr["spec"]["dashboard"];
    if d["enabled"].as_bool() != Some(true) {
        return None;
    }
    Some(
        d["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(9092),
    )
}

/// Whether the npe reports `want` ready nodes and Ready=True; otherwise a progress note.
fn npe_ready(json: &str, want: u64) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let ready = v["status"]["readyNodes"].as_u64().unwrap_or(0);
    let desired = v["status"]["desiredNodes"].as_u64().unwrap_or(0);
    let cond = v["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").to_string(),
                c["reason"].as_str().unwrap_or("").to_string(),
            )
        });
    match cond {
        Some((s, _)) if s == "True" && ready >= want => Ok(()),
        Some((s, reason)) => Err(format!(
            "enforcer default: Ready={s} ({reason}), {ready}/{desired} nodes ready"
        )),
        None => Err(format!(
            "enforcer default: no status yet ({ready}/{desired})"
        )),
    }
}

struct Urls {
    dashboard: String,
    jaeger: String,
    kubeconfig: PathBuf,
}

async fn up(cli: &Cli, bin_dir: &Path, parts: &mut Parts) -> anyhow::Result<Urls> {
    let t_all = Instant::now();
    let repo = std::fs::canonicalize(&cli.repo)
        .with_context(|| format!("the repository root {}", cli.repo.display()))?;
    let examples = repo.join("examples/demo-cluster");
    let traffic: TrafficFile = serde_norway::from_str(
        &std::fs::read_to_string(examples.join("traffic.yaml"))
            .context("reading examples/demo-cluster/traffic.yaml")?,
    )
    .context("parsing examples/demo-cluster/traffic.yaml")?;
    let workload = workload_specs(
        &std::fs::read_to_string(examples.join("workload.yaml"))
            .context("reading examples/demo-cluster/workload.yaml")?,
    )?;
    let enforcer = enforcer_manifest(
        &std::fs::read_to_string(repo.join("manifests/samples/enforcer-demo.yaml"))
            .context("reading manifests/samples/enforcer-demo.yaml")?,
        cli.otlp_port,
    )?;
    let agent_dashboard = dashboard_port(&enforcer);

    let t = step("starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler");
    let cp = ControlPlane::start(ControlPlaneOptions::named("demo"))
        .await
        .context("starting the control plane")?;
    parts.dirs.push(cp.work_dir().to_path_buf());
    write_state(&parts.dirs)?;
    let cp = parts.cp.insert(cp);
    done(t);

    let t = step("kubectl apply -f manifests/install.yaml (CRDs, RBAC, the operator)");
    let install = repo.join("manifests/install.yaml");
    kubectl(
        cp,
        &["apply", "--server-side", "-f", &install.to_string_lossy()],
    )
    .await?;
    kubectl(
        cp,
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ],
    )
    .await?;
    done(t);

    let t = step("starting Jaeger on 127.0.0.1");
    let jaeger = Jaeger::start_on(cli.jaeger_port, cli.otlp_port)
        .await
        .context("starting Jaeger")?;
    parts.dirs.push(jaeger.dir().to_path_buf());
    write_state(&parts.dirs)?;
    let jaeger_url = jaeger.query_url();
    parts.jaeger = Some(jaeger);
    done(t);

    let t = step("wiring 2 netns nodes and starting the stand-in kubelet");
    let client = cp.client().await?;
    let cluster = Arc::new(NetnsCluster::new(Some(client.clone())).await?);
    parts.netns_prefix = Some(cluster.netns_prefix());
    parts.dirs.push(cluster.logs_dir().to_path_buf());
    parts.cluster = Some(Arc::clone(&cluster));
    let mut nodes: Vec<TestNode> = Vec::new();
    for name in NODES {
        nodes.push(cluster.add_node(name).await?);
    }
    let kubelet_dir = cp.work_dir().join("stand-in-kubelet");
    let runner = PodRunner::start(
        Arc::clone(&cluster),
        client.clone(),
        PodRunnerOptions {
            bin_dir: bin_dir.to_path_buf(),
            apiserver_port: cp.apiserver_port(),
            ca_file: cp.ca_file(),
            work_dir: kubelet_dir.clone(),
            // The enforcer's otlpEndpoint is 127.0.0.1:<otlp> inside each node (and pod).
            loopback_ports: vec![cli.otlp_port],
        },
    )?;
    let runner = parts.runner.insert(runner);
    write_state(&parts.dirs)?;
    done(t);

    if operator_has_flag(bin_dir, "--otlp-endpoint") {
        let t = step("kubectl set env deployment/verdict-operator (its reconcile spans to Jaeger)");
        let endpoint = format!(
            "VERDICT_OPERATOR_OTLP_ENDPOINT=http://127.0.0.1:{}",
            cli.otlp_port
        );
        kubectl(
            cp,
            &[
                "-n",
                SYSTEM_NAMESPACE,
                "set",
                "env",
                "deployment/verdict-operator",
                &endpoint,
            ],
        )
        .await?;
        done(t);
    }
    let t = step("waiting for the operator's Deployment (run by the stand-in kubelet)");
    kubectl(
        cp,
        &[
            "-n",
            SYSTEM_NAMESPACE,
            "rollout",
            "status",
            "deployment/verdict-operator",
            "--timeout=120s",
        ],
    )
    .await
    .context(
        "the operator did not become ready (its pods' logs, stand-in-kubelet/logs/\
         kube-verdict-system_verdict-operator-*.log, are among the kept logs)",
    )?;
    done(t);

    let t =
        step("kubectl apply -f manifests/samples/enforcer-demo.yaml (tracing and dashboard on)");
    let enforcer_file = cp.work_dir().join("enforcer-demo.yaml");
    std::fs::write(&enforcer_file, serde_json::to_string_pretty(&enforcer)?)?;
    kubectl(cp, &["apply", "-f", &enforcer_file.to_string_lossy()]).await?;
    let cpr: &ControlPlane = cp;
    wait_for(
        "`kubectl get npe` Ready 2/2",
        Duration::from_secs(180),
        || async move {
            let out = kubectl(cpr, &["get", "npe", "default", "-o", "json"]).await?;
            Ok(npe_ready(&out, NODES.len() as u64))
        },
    )
    .await
    .context(
        "the agents did not become ready (their pods' logs, stand-in-kubelet/logs/\
         kube-verdict-system_verdict-agent-*.log, are among the kept logs)",
    )?;
    done(t);

    let t = step("examples/demo-cluster: namespaces, workload pods, policies");
    kubectl(
        cp,
        &[
            "apply",
            "-f",
            &examples.join("namespaces.yaml").to_string_lossy(),
        ],
    )
    .await?;
    let mut pods = Vec::new();
    for spec in workload {
        pods.push(cluster.add_pod(spec).await?);
    }
    kubectl(
        cp,
        &["apply", "-f", &examples.join("policies").to_string_lossy()],
    )
    .await?;
    done(t);

    let t = step(&format!(
        "checking the {} flows of traffic.yaml against the live agents",
        traffic.flows.len()
    ));
    let flows = resolve_flows(&traffic.flows, &pods)?;
    check_flows(&cluster, &flows).await?;
    for f in &flows {
        eprintln!(
            "    {:<5} {}  ({})",
            format!("{:?}", f.flow.expect).to_lowercase(),
            describe(f),
            f.flow.why
        );
    }
    done(t);

    let t = step("relaying the dashboards and metrics to 127.0.0.1");
    let mut node_lines = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let n = u16::try_from(i + 1).unwrap_or(1);
        let metrics = cluster
            .expose_port(
                &node.netns,
                SocketAddr::from((Ipv4Addr::LOCALHOST, AGENT_METRICS_PORT)),
                cli.port_base + 10 + n,
            )
            .await?;
        let dashboard = match agent_dashboard {
            Some(p) => Some(
                cluster
                    .expose_port(
                        &node.netns,
                        SocketAddr::from((Ipv4Addr::LOCALHOST, p)),
                        cli.port_base + n,
                    )
                    .await?,
            ),
            None => None,
        };
        node_lines.push((node.name.clone(), dashboard, metrics));
    }
    // The operator serves the cluster-wide dashboard when its pod declares a `dashboard` port.
    let operator_dashboard = operator_dashboard_port(&client).await;
    let mut cluster_dashboard = None;
    if let Some(port) = operator_dashboard
        && let Some(op) = runner
            .pods()
            .into_iter()
            .find(|p| p.namespace == SYSTEM_NAMESPACE && p.name.starts_with("verdict-operator"))
    {
        let target = SocketAddr::new(op.ip, port);
        cluster_dashboard = Some(
            cluster
                .expose_port(&op.netns, target, cli.port_base)
                .await?,
        );
    }
    done(t);

    let stats = Arc::new(Mutex::new(TrafficStats::default()));
    parts.traffic = Some(spawn_traffic(
        Arc::clone(&cluster),
        flows,
        cli.rate,
        Arc::clone(&stats),
    ));

    // What answers now (the dashboard may not be in this build of the agent yet).
    let answers = |port: u16| async move { http_get(port, "/").await.is_ok_and(|(c, _)| c == 200) };
    let kubectl_bin = verdict_e2e::bins::bin_dir().join("kubectl");
    let kc = cp.kubeconfig();
    println!();
    println!(
        "kube-verdict demo is running ({:.0}s to start).",
        t_all.elapsed().as_secs_f64()
    );
    println!();
    let mut first_dashboard = None;
    match cluster_dashboard {
        Some(port) => {
            let url = format!("http://127.0.0.1:{port}/");
            let state = if answers(port).await {
                ""
            } else {
                "  (not answering yet)"
            };
            println!("Cluster dashboard (operator): {url}{state}");
            first_dashboard = Some(url);
        }
        None => println!("Cluster dashboard (operator): not served by this build of the operator"),
    }
    for (name, dashboard, metrics) in &node_lines {
        let d = match dashboard {
            Some(port) => {
                let url = format!("http://127.0.0.1:{port}/");
                let note = if answers(*port).await {
                    ""
                } else {
                    "  (not answering: this build of the agent does not serve it yet)"
                };
                first_dashboard.get_or_insert(url.clone());
                format!("{url}{note}")
            }
            None => "off in the enforcer".into(),
        };
        println!("Node {name} dashboard:        {d}");
        println!("Node {name} metrics:          http://127.0.0.1:{metrics}/metrics");
    }
    let search = format!(
        "{jaeger_url}/api/traces?service=verdict-agent&tags=%7B%22verdict.action%22%3A%22deny%22%7D"
    );
    println!(
        "Jaeger query API:             {jaeger_url}  (API only: no prebuilt Jaeger UI is available)"
    );
    println!("  the denied decisions' traces: {search}");
    println!("Kubeconfig:                   {}", kc.display());
    println!();
    println!("Try:");
    println!("  export KUBECONFIG={}", kc.display());
    println!(
        "  {} get npe,pods -n {SYSTEM_NAMESPACE} -o wide",
        kubectl_bin.display()
    );
    println!(
        "  {} get networkpolicies,adminnetworkpolicies,baselineadminnetworkpolicies -A",
        kubectl_bin.display()
    );
    println!(
        "  {} apply -f {}   # shop/frontend -> shop/database turns from deny to allow, live",
        kubectl_bin.display(),
        examples
            .join("changes/allow-frontend-to-database.yaml")
            .display()
    );
    let tail = bin_dir.join("kubectl-verdict");
    if let (true, Some((_, Some(port), _))) = (tail.is_file(), node_lines.first()) {
        // The API server runs outside the nodes' network, so its service proxy cannot reach
        // the agents here; the relayed dashboard can.
        println!(
            "  {} tail --url http://127.0.0.1:{port} --action deny -f   # node-1's denies, live",
            tail.display()
        );
    }
    println!();
    println!(
        "kube-verdict demo run: netns_prefix={} pid={}",
        cluster.netns_prefix(),
        std::process::id()
    );
    for (name, dashboard, metrics) in &node_lines {
        println!(
            "kube-verdict demo node: name={name} dashboard={} metrics=http://127.0.0.1:{metrics}/metrics",
            dashboard.map_or_else(|| "off".into(), |p| format!("http://127.0.0.1:{p}/"))
        );
    }
    let urls = Urls {
        dashboard: first_dashboard.unwrap_or_else(|| "off".into()),
        jaeger: jaeger_url,
        kubeconfig: kc,
    };
    println!(
        "kube-verdict demo ready: dashboard={} jaeger={} kubeconfig={}",
        urls.dashboard,
        urls.jaeger,
        urls.kubeconfig.display()
    );
    parts.stats = Some(stats);
    Ok(urls)
}

/// The operator's cluster-wide dashboard port: a `dashboard` container port of its pod
/// template, else the port of a `--dashboard-addr` argument.
async fn operator_dashboard_port(client: &kube::Client) -> Option<u16> {
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let d = api.get("verdict-operator").await.ok()?;
    let pod = d.spec?.template.spec?;
    let named = pod
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some("dashboard"))
        .and_then(|p| u16::try_from(p.container_port).ok());
    named.or_else(|| {
        pod.containers
            .iter()
            .flat_map(|c| c.args.iter().flatten())
            .find_map(|a| a.strip_prefix("--dashboard-addr="))
            .and_then(|addr| addr.parse::<SocketAddr>().ok())
            .map(|a| a.port())
    })
}

/// Whether this build's operator has a flag (older builds have no `--otlp-endpoint`).
fn operator_has_flag(bin_dir: &Path, flag: &str) -> bool {
    std::process::Command::new(bin_dir.join("verdict-operator"))
        .arg("--help")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(flag))
}

/// Copies the logs of everything started into one directory that outlives the teardown.
fn preserve_logs(parts: &Parts) -> Option<PathBuf> {
    let dest = verdict_e2e::work_root().join(format!("demo-failed-{}", std::process::id()));
    std::fs::create_dir_all(&dest).ok()?;
    for dir in &parts.dirs {
        let _ = std::process::Command::new("cp")
            .arg("-r")
            .arg(dir)
            .arg(&dest)
            .status();
    }
    // The pods' last words, where a failed start usually explains itself.
    let pods_logs = std::process::Command::new("find")
        .arg(&dest)
        .args(["-path", "*stand-in-kubelet/logs/*.log"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for log in pods_logs.lines() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        eprintln!("--- last lines of {log}:");
        for line in tail.iter().rev() {
            eprintln!("    {line}");
        }
    }
    // etcd data is not a log.
    let _ = std::process::Command::new("find")
        .arg(&dest)
        .args([
            "-type", "d", "-name", "etcd", "-prune", "-exec", "rm", "-rf", "{}", "+",
        ])
        .status();
    Some(dest)
}

async fn wait_for_stop(run_for: Option<u64>) -> anyhow::Result<&'static str> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let timer = async {
        match run_for {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    Ok(tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = term.recv() => "SIGTERM",
        () = timer => "the --for time is up",
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,kube_client=off,kube_runtime=off")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let bin_dir = match &cli.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this binary's directory")?
            .to_path_buf(),
    };
    check_root()?;
    handle_stale_demo()?;
    preflight(&cli, &bin_dir)?;

    let mut parts = Parts::default();
    let started = {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = up(&cli, &bin_dir, &mut parts) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted by Ctrl-C while starting")),
            _ = term.recv() => Err(anyhow::anyhow!("interrupted by SIGTERM while starting")),
        }
    };
    let outcome = match started {
        Ok(_urls) => {
            if let Some(s) = cli.run_for {
                eprintln!("running headless for {s}s (DEMO_FOR)");
            } else {
                eprintln!("press Ctrl-C to stop and clean up");
            }
            let why = wait_for_stop(cli.run_for).await?;
            eprintln!("==> stopping ({why})");
            if let Some(stats) = &parts.stats {
                let s = stats.lock().unwrap_or_else(|e| e.into_inner());
                eprintln!(
                    "    traffic: {} connections, {} allowed, {} denied ({} not as traffic.yaml \
                     says, e.g. after a policy change)",
                    s.allowed + s.denied,
                    s.allowed,
                    s.denied,
                    s.unexpected
                );
            }
            Ok(())
        }
        Err(e) => {
            if let Some(dir) = preserve_logs(&parts) {
                eprintln!("the logs of every component are kept in {}", dir.display());
            }
            Err(e)
        }
    };
    let t = step("tearing down (processes, network namespaces, work directories)");
    let teardown = parts.teardown().await;
    done(t);
    outcome?;
    teardown?;
    println!("kube-verdict demo stopped; nothing left behind");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_e2e::Protocol;

    #[test]
    fn ports_parse() {
        let cases = [
            ("tcp", "tcp/8080", Some((Protocol::Tcp, 8080))),
            ("udp upper", "UDP/53", Some((Protocol::Udp, 53))),
            ("sctp", "sctp/9", Some((Protocol::Sctp, 9))),
            ("no slash", "8080", None),
            ("bad proto", "icmp/1", None),
            ("too big", "tcp/70000", None),
        ];
        for (name, text, want) in cases {
            let got = parse_port(text).ok().map(|p| (p.protocol, p.number));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn the_shipped_examples_parse_and_agree() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo-cluster");
        let specs =
            workload_specs(&std::fs::read_to_string(dir.join("workload.yaml")).unwrap()).unwrap();
        let nodes: Vec<&str> = specs.iter().map(|s| s.node.as_str()).collect();
        assert!(nodes.iter().all(|n| NODES.contains(n)), "{nodes:?}");
        let traffic: TrafficFile =
            serde_norway::from_str(&std::fs::read_to_string(dir.join("traffic.yaml")).unwrap())
                .unwrap();
        // Every flow names pods and ports the workload serves, and both verdicts occur.
        for f in &traffic.flows {
            let to = specs
                .iter()
                .find(|s| format!("{}/{}", s.namespace, s.name) == f.to)
                .unwrap_or_else(|| panic!("{} is not in workload.yaml", f.to));
            assert!(
                specs
                    .iter()
                    .any(|s| format!("{}/{}", s.namespace, s.name) == f.from)
            );
            assert!(to.ports.contains(&parse_port(&f.port).unwrap()), "{f:?}");
        }
        assert!(traffic.flows.iter().any(|f| f.expect == Expect::Allow));
        assert!(traffic.flows.iter().any(|f| f.expect == Expect::Deny));
        let enforcer = enforcer_manifest(
            &std::fs::read_to_string(dir.join("../../manifests/samples/enforcer-demo.yaml"))
                .unwrap(),
            14317,
        )
        .unwrap();
        assert_eq!(
            enforcer["spec"]["tracing"]["otlpEndpoint"],
            "http://127.0.0.1:14317"
        );
        assert_eq!(dashboard_port(&enforcer), Some(9092));
    }

    #[test]
    fn npe_readiness_reads_the_status() {
        let cases = [
            (
                "ready",
                r#"{"status":{"readyNodes":2,"desiredNodes":2,"conditions":[{"type":"Ready","status":"True","reason":"AllNodesReady"}]}}"#,
                true,
            ),
            (
                "one node",
                r#"{"status":{"readyNodes":1,"desiredNodes":2,"conditions":[{"type":"Ready","status":"True"}]}}"#,
                false,
            ),
            (
                "not ready",
                r#"{"status":{"readyNodes":2,"desiredNodes":2,"conditions":[{"type":"Ready","status":"False","reason":"Rolling"}]}}"#,
                false,
            ),
            ("no status", r#"{}"#, false),
        ];
        for (name, json, want) in cases {
            assert_eq!(npe_ready(json, 2).is_ok(), want, "{name}");
        }
    }
}
