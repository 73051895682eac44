//! # verdict-e2e: a real local cluster for kube-verdict's end-to-end tests and demo
//!
//! The harness starts a secure Kubernetes control plane from pinned upstream binaries, fakes
//! hundreds of nodes with kwok, and builds *netns nodes and pods*: network namespaces wired like
//! kindnet/Calico wire pods, so test packets cross the same kernel hooks the agent enforces on.
//!
//! ```text
//!  ControlPlane::start ──► etcd ──► kube-apiserver (127.0.0.1, TLS, RBAC, SA keys)
//!        │                              ▲   ▲
//!        │              kube-controller-manager, kube-scheduler, kwok (fake nodes)
//!        ▼
//!  NetnsCluster ──► Node/Pod objects + status (as a kubelet would)
//!        │
//!        ├─ node netns "vd1a2b-n1" ── eth0 10.250.0.11/24 ─┐
//!        │     └─ vethX (10.251.1.1/32) ◄─p2p─► pod netns eth0 10.251.1.2/32
//!        ├─ node netns "vd1a2b-n2" ── eth0 10.250.0.12/24 ─┤  underlay bridge
//!        │     routes 10.251.N.0/24 via 10.250.0.(10+N)    │  (netns "vd1a2b-ul")
//!        └─ servers (TCP, UDP echo, SCTP) and probes run in-process, on sockets opened inside
//!           the pod's netns (setns on a throwaway thread)
//! ```
//!
//! Where to start reading: [`ControlPlane`] (control_plane.rs) and [`NetnsCluster`] (cluster.rs,
//! the kernel wiring; topology.rs has [`TestNode`]/[`TestPod`]/[`PodSpec`]; kubelet.rs writes
//! the API objects and handles deletions); [`probe`] has the probe semantics and the [`Matrix`]
//! type; servers.rs the TCP/UDP/SCTP servers; [`cleanup_stale`] (stale.rs) removes what a
//! crashed run left behind; process.rs is how every child is started and stopped.
//!
//! # Using it from a test
//!
//! ```no_run
//! use std::time::Duration;
//! use verdict_e2e::{ControlPlane, ControlPlaneOptions, Matrix, NetnsCluster, PodSpec, Port, TestPod};
//!
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn policy_blocks_what_it_says() {
//!     verdict_e2e::skip_unless_e2e!();
//!     let cp = ControlPlane::start(ControlPlaneOptions::named("my-test")).await.unwrap();
//!     cp.install_project_crds().await.unwrap();
//!     let cluster = NetnsCluster::new(Some(cp.client().await.unwrap())).await.unwrap();
//!     let n1 = cluster.add_node("node-1").await.unwrap();
//!     cluster.add_node("node-2").await.unwrap();
//!     // An agent inside the node's netns (killed when `cluster` drops):
//!     // cluster.spawn_in(&n1.netns, "agent-node-1", agent_bin, &args, &envs).unwrap();
//!     let ports = [Port::tcp(80), Port::udp(81), Port::sctp(82)];
//!     let a = cluster.add_pod(PodSpec::new("x", "a").label("pod", "a").node("node-1").serve_all(&ports)).await.unwrap();
//!     let b = cluster.add_pod(PodSpec::new("y", "b").label("pod", "b").node("node-2").serve_all(&ports)).await.unwrap();
//!     cp.kubectl_run(&["apply", "-f", "policy.yaml"]).await.unwrap();
//!     let pods = [a, b];
//!     let keys: Vec<String> = pods.iter().map(TestPod::key).collect();
//!     let mut expected = Matrix::filled(&keys, &ports, true);
//!     expected.set_to("y/b", Port::tcp(80), false);
//!     let observed = cluster.probe_matrix(&pods, &ports, Duration::from_secs(1)).await.unwrap();
//!     assert!(observed.diff(&expected).is_empty(), "{observed}");
//! }
//! ```
//!
//! The demo and its test add [`PodRunner`] (pod_runner.rs), a *stand-in kubelet for the demo
//! and tests only*: it runs kube-verdict's own pods (operator, agents) as local processes with
//! their spec's command, args and env, and writes their status. `bin/verdict-demo.rs` is
//! `make demo`.
//!
//! Outage tests: [`ControlPlane::stop_apiserver`] / [`ControlPlane::start_apiserver`] (same port,
//! same etcd data). Scale tests: [`ControlPlane::start_kwok`] and
//! [`ControlPlane::create_kwok_nodes`]; kwok nodes carry `NODE_KIND_LABEL=kwok` and netns nodes
//! `NODE_KIND_LABEL=netns`, so a DaemonSet meant only for one kind selects on it (netns nodes
//! have no kubelet, so a DaemonSet pod bound to one stays unstarted). Permission checks:
//! [`ControlPlane::client_as`] or `kubectl auth can-i --as=...` via [`ControlPlane::kubectl_run`].
//!
//! # Guarantees
//! Dropping a [`ControlPlane`] or a [`NetnsCluster`] stops every process it started and deletes
//! every network namespace it created, also when the test panics. Children carry a parent-death
//! signal, so even a SIGKILLed test binary leaves no process behind; its network namespaces are
//! removed by the next run's [`cleanup_stale`]. Component logs are kept, and their paths printed,
//! when the owning test panics (or when `VERDICT_E2E_KEEP` is set).
//!
//! # Environment
//! - `VERDICT_E2E`: run the privileged tests (root, netns, control-plane binaries). Unset, they
//!   print why they skip ([`skip_unless_e2e!`]).
//! - `VERDICT_BIN_DIR`: where kube-apiserver, etcd, kubectl, kwok live (default: the cache
//!   `e2e/k8s/build.sh` fills, see [`bins::bin_dir`]).
//! - `VERDICT_E2E_DIR`: where work directories (certs, etcd data, logs) go (default `e2e/logs/`).
//! - `VERDICT_E2E_KEEP`: keep work directories even when the test passes.

pub mod bins;
mod cluster;
mod control_plane;
mod crds;
mod error;
mod jaeger;
mod kubeconfig;
mod kubelet;
mod kwok;
mod netns;
pub mod pki;
mod pod_runner;
pub mod probe;
mod process;
pub mod sctp;
mod servers;
mod stale;
mod topology;

pub use cluster::NetnsCluster;
pub use control_plane::{ControlPlane, ControlPlaneOptions};
pub use error::{Error, Result};
pub use jaeger::Jaeger;
pub use kwok::{KWOK_NODE_ANNOTATION, KwokOptions};
pub use pod_runner::{PodRunner, PodRunnerOptions, RUNNABLE_BINARIES, RunPod, binary_for_image};
pub use probe::{Matrix, Port, Protocol};
pub use process::ManagedProcess;
pub use stale::{CleanupReport, cleanup_stale};
pub use topology::{NETNS_POD_IMAGE, PodSpec, TestNode, TestPod};

/// Runs `f` on a fresh thread inside the named network namespace and returns its result:
/// sockets it creates belong to that namespace (e.g. a client that must start inside a pod).
///
/// # Errors
/// The namespace does not exist, `setns` fails, or `f` fails.
pub fn run_in_netns<T, F>(netns: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    netns::in_netns(netns, f)
}

/// Label every node the harness creates carries: `netns` for netns nodes, `kwok` for fake ones.
pub const NODE_KIND_LABEL: &str = "e2e.kube-verdict.io/node-kind";

/// Whether the privileged end-to-end tests should run (`VERDICT_E2E` is set and not `0`).
pub fn e2e_enabled() -> bool {
    std::env::var("VERDICT_E2E").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Returns early from a test, printing why, unless `VERDICT_E2E` is set. With an argument, that
/// value is returned (for tests returning `Result`).
///
/// ```
/// fn my_test() {
///     verdict_e2e::skip_unless_e2e!();
///     // ... needs root and the control plane ...
/// }
/// ```
#[macro_export]
macro_rules! skip_unless_e2e {
    () => {
        $crate::skip_unless_e2e!(())
    };
    ($ret:expr) => {
        if !$crate::e2e_enabled() {
            // The enclosing function's path, e.g. `netns::nine_by_nine_matrix_...`.
            fn __here() {}
            let here = ::std::any::type_name_of_val(&__here);
            eprintln!(
                "SKIPPED {}: set VERDICT_E2E=1 to run this end-to-end test (needs root, network \
                 namespaces and the binaries from e2e/k8s/build.sh)",
                here.strip_suffix("::__here")
                    .unwrap_or(here)
                    .trim_end_matches("::{{closure}}")
            );
            return $ret;
        }
    };
}

/// A short random id (4 hex digits) that prefixes everything one harness instance creates
/// (`vd1a2b-...`), so parallel tests never collide and stale leftovers can be found.
pub fn new_run_id() -> String {
    loop {
        let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_else(|_| {
            format!(
                "{:08x}",
                std::process::id()
                    ^ std::time::UNIX_EPOCH
                        .elapsed()
                        .unwrap_or_default()
                        .subsec_nanos()
            )
        });
        let id: String = uuid
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(4)
            .collect();
        let prefix = format!("{}{id}-", netns::PREFIX);
        let taken = std::fs::read_dir(netns::NETNS_DIR)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            || stale::state_path(&id).exists();
        if !taken {
            return id;
        }
    }
}

/// The directory work directories are created in (`$VERDICT_E2E_DIR`, else `<repo>/e2e/logs`).
pub fn work_root() -> std::path::PathBuf {
    std::env::var_os("VERDICT_E2E_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("logs"))
}

/// Whether work directories should be kept after a passing test (`VERDICT_E2E_KEEP`).
pub(crate) fn keep_requested() -> bool {
    std::env::var("VERDICT_E2E_KEEP").is_ok_and(|v| !v.is_empty() && v != "0")
}
