//! `verdict-cluster`: the harness's cluster for people.
//!
//! `up` starts a control plane, installs the CRDs, builds netns nodes and a few pods, prints the
//! kubeconfig path and what to try next, and stays in the foreground until Ctrl-C, SIGTERM or
//! `verdict-cluster down`; then it tears everything down. `down` stops a running `up` and
//! removes anything a crashed one left.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use verdict_e2e::{
    ControlPlane, ControlPlaneOptions, KwokOptions, NetnsCluster, PodSpec, Port, TestPod,
};

#[derive(Parser)]
#[command(
    version,
    about = "A local kube-verdict test cluster: real control plane, netns nodes and pods, kwok"
)]
struct Cli {
    /// Directory for state, certs, kubeconfig and logs.
    #[arg(
        long,
        env = "VERDICT_CLUSTER_DIR",
        default_value = ".demo",
        global = true
    )]
    dir: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the cluster and keep it running in the foreground.
    Up {
        /// Netns nodes (real packets).
        #[arg(long, default_value_t = 2)]
        nodes: usize,
        /// Netns pods per node, in namespace `demo`, each serving tcp/80, udp/81 and sctp/82.
        #[arg(long, default_value_t = 2)]
        pods_per_node: usize,
        /// kwok fake nodes (0 = don't start kwok).
        #[arg(long, default_value_t = 0)]
        kwok_nodes: usize,
    },
    /// Stop a running `up` and clean up leftovers of crashed runs.
    Down,
    /// Say whether a cluster is running, and where its kubeconfig is.
    Status,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    pid: u32,
    kubeconfig: PathBuf,
    logs: PathBuf,
    pods: Vec<(String, String, String, String)>,
}

fn state_file(dir: &std::path::Path) -> PathBuf {
    dir.join("cluster.json")
}

fn read_state(dir: &std::path::Path) -> Option<State> {
    let text = std::fs::read_to_string(state_file(dir)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Running, not merely a zombie waiting for its parent to reap it.
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

fn step(what: &str) -> Instant {
    eprintln!("==> {what}...");
    Instant::now()
}

fn done(t: Instant) {
    eprintln!("    done in {:.1}s", t.elapsed().as_secs_f64());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // The client logs every refused connection while the apiserver is still starting; those are
    // expected, so they stay hidden unless RUST_LOG asks for them.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,kube_client=off"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.dir).with_context(|| format!("creating {}", cli.dir.display()))?;
    let dir = std::fs::canonicalize(&cli.dir)?;
    match cli.command {
        Cmd::Up {
            nodes,
            pods_per_node,
            kwok_nodes,
        } => up(&dir, nodes, pods_per_node, kwok_nodes).await,
        Cmd::Down => down(&dir),
        Cmd::Status => {
            match read_state(&dir) {
                Some(s) if alive(s.pid) => {
                    println!(
                        "running (pid {}); export KUBECONFIG={}",
                        s.pid,
                        s.kubeconfig.display()
                    );
                }
                _ => println!("not running"),
            }
            Ok(())
        }
    }
}

async fn up(
    dir: &std::path::Path,
    nodes: usize,
    pods_per_node: usize,
    kwok_nodes: usize,
) -> anyhow::Result<()> {
    if let Some(s) = read_state(dir)
        && alive(s.pid)
    {
        bail!(
            "a cluster is already running (pid {}); run `verdict-cluster down` first",
            s.pid
        );
    }
    if !nix::unistd::geteuid().is_root() {
        bail!("verdict-cluster needs root (network namespaces, veths, routes)");
    }
    let t_all = Instant::now();
    let t = step("starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler");
    let options = ControlPlaneOptions {
        work_root: Some(dir.to_path_buf()),
        ..ControlPlaneOptions::named("cluster")
    };
    let cp = ControlPlane::start(options)
        .await
        .context("starting the control plane")?;
    done(t);
    let t = step("installing CRDs (ours and network-policy-api's)");
    cp.install_project_crds().await.context("installing CRDs")?;
    done(t);
    if kwok_nodes > 0 {
        let t = step(&format!("starting kwok with {kwok_nodes} fake nodes"));
        cp.start_kwok(KwokOptions::default()).await?;
        cp.create_kwok_nodes("kwok-node", kwok_nodes).await?;
        done(t);
    }
    let t = step(&format!(
        "wiring {nodes} netns nodes and {} pods",
        nodes * pods_per_node
    ));
    let cluster = NetnsCluster::new(Some(cp.client().await?)).await?;
    let ports = [Port::tcp(80), Port::udp(81), Port::sctp(82)];
    let mut pods: Vec<TestPod> = Vec::new();
    for n in 1..=nodes {
        let node = cluster.add_node(&format!("node-{n}")).await?;
        for p in 0..pods_per_node {
            let name = format!("pod-{n}{}", (b'a' + p as u8) as char);
            let spec = PodSpec::new("demo", &name)
                .label("app", "demo")
                .label("pod", &name)
                .node(&node.name);
            pods.push(cluster.add_pod(spec.serve_all(&ports)).await?);
        }
    }
    done(t);
    let t = step("probing every pod pair (no policy: all reachable)");
    let matrix = cluster
        .probe_matrix(&pods, &ports, Duration::from_secs(1))
        .await?;
    done(t);
    eprint!("{matrix}");

    let state = State {
        pid: std::process::id(),
        kubeconfig: cp.kubeconfig(),
        logs: cp.logs_dir(),
        pods: pods
            .iter()
            .map(|p| (p.key(), p.ip.to_string(), p.node.clone(), p.netns.clone()))
            .collect(),
    };
    std::fs::write(state_file(dir), serde_json::to_string_pretty(&state)?)?;
    let kubectl = verdict_e2e::bins::bin_dir().join("kubectl");
    println!();
    println!("Cluster ready in {:.1}s.", t_all.elapsed().as_secs_f64());
    println!("  export KUBECONFIG={}", cp.kubeconfig().display());
    println!("  {} get nodes,pods -A -o wide", kubectl.display());
    println!("Pods (namespace/name  ip  node  netns):");
    for p in &pods {
        println!("  {}  {}  {}  {}", p.key(), p.ip, p.node, p.netns);
    }
    if let (Some(a), Some(b)) = (pods.first(), pods.last()) {
        println!("Try a probe by hand:");
        println!(
            "  ip netns exec {} bash -c 'exec 3<>/dev/tcp/{}/80 && echo reachable'",
            a.netns, b.ip
        );
    }
    println!("Component logs: {}", cp.logs_dir().display());
    println!("Stop with Ctrl-C, or `verdict-cluster down` from another shell.");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let t = step("tearing down");
    drop(cluster);
    drop(cp);
    let _ = std::fs::remove_file(state_file(dir));
    done(t);
    Ok(())
}

fn down(dir: &std::path::Path) -> anyhow::Result<()> {
    if let Some(state) = read_state(dir) {
        if alive(state.pid) {
            let t = step(&format!("stopping the cluster (pid {})", state.pid));
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(state.pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            )
            .context("signalling the cluster process")?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while alive(state.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if alive(state.pid) {
                bail!("pid {} did not stop within 60s", state.pid);
            }
            done(t);
        }
        let _ = std::fs::remove_file(state_file(dir));
    } else {
        eprintln!("no running cluster recorded in {}", dir.display());
    }
    let report = verdict_e2e::cleanup_stale()?;
    if !report.runs.is_empty() || !report.netns.is_empty() {
        eprintln!("cleaned up after crashed runs: {report:?}");
    }
    println!("cluster down");
    Ok(())
}
