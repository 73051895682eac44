//! Network namespaces for privileged tests (ruleset and queue). Test-only.
//!
//! Tests that need root and netns run when `VERDICT_E2E` is set and not `0` (the same rule as
//! the e2e harness's [`verdict_e2e::e2e_enabled`]); otherwise they print why they skip and
//! return. With it set, any setup failure fails the test.

use std::fs::File;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sched::{CloneFlags, setns};

/// Whether privileged tests should run (`VERDICT_E2E` set and not `0`); prints the reason
/// when they skip.
pub fn enabled(test: &str) -> bool {
    if verdict_e2e::e2e_enabled() {
        return true;
    }
    eprintln!("SKIP {test}: needs root and network namespaces; set VERDICT_E2E=1 to run it");
    false
}

/// Runs a command and panics with its output when it fails.
pub fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A named network namespace, deleted on drop.
pub struct Netns {
    /// Its name under /run/netns.
    pub name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Netns {
    /// Creates `vt-<tag>-<pid>-<n>` with loopback up.
    pub fn new(tag: &str) -> Netns {
        let name = format!(
            "vt-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ...`.
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "-n", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// `ip netns exec NAME ...`.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs `f` on a thread that has entered this namespace (sockets made there stay in it).
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let fd = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                setns(&fd, CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .expect("netns thread panicked")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A "node" namespace and a "pod" namespace joined by a routed veth pair:
/// pod 10.77.0.2/24 + fd77::2/64 (eth0) ⟷ node 10.77.0.1/24 + fd77::1/64 (veth).
pub struct NodeAndPod {
    /// Where the table and the agent live.
    pub node: Netns,
    /// The pod.
    pub pod: Netns,
}

/// The pod's IPv4 address.
pub const POD_V4: &str = "10.77.0.2";
/// The node's IPv4 address on the pod link.
pub const NODE_V4: &str = "10.77.0.1";

impl NodeAndPod {
    /// Builds the pair.
    pub fn new(tag: &str) -> NodeAndPod {
        let node = Netns::new(&format!("{tag}n"));
        let pod = Netns::new(&format!("{tag}p"));
        node.ip(&[
            "link", "add", "veth", "type", "veth", "peer", "name", "eth0", "netns", &pod.name,
        ]);
        node.ip(&["addr", "add", "10.77.0.1/24", "dev", "veth"]);
        node.ip(&["addr", "add", "fd77::1/64", "dev", "veth", "nodad"]);
        node.ip(&["link", "set", "veth", "up"]);
        pod.ip(&["addr", "add", "10.77.0.2/24", "dev", "eth0"]);
        pod.ip(&["addr", "add", "fd77::2/64", "dev", "eth0", "nodad"]);
        pod.ip(&["link", "set", "eth0", "up"]);
        NodeAndPod { node, pod }
    }
}

/// A node namespace routing between two pod namespaces the way kindnet and Calico wire pods:
/// point-to-point veths with /32 addresses and host routes, node address 10.77.0.1 on both
/// node-side ends, pods 10.77.0.2 (`a`) and 10.77.0.3 (`b`), forwarding on.
pub struct RoutedPods {
    /// The node.
    pub node: Netns,
    /// Pod 10.77.0.2.
    pub a: Netns,
    /// Pod 10.77.0.3.
    pub b: Netns,
}

impl RoutedPods {
    /// Builds the three namespaces.
    pub fn new(tag: &str) -> RoutedPods {
        let node = Netns::new(&format!("{tag}n"));
        let a = Netns::new(&format!("{tag}a"));
        let b = Netns::new(&format!("{tag}b"));
        for (pod, dev, ip) in [(&a, "va", "10.77.0.2"), (&b, "vb", "10.77.0.3")] {
            node.ip(&[
                "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", &pod.name,
            ]);
            node.ip(&["addr", "add", "10.77.0.1/32", "dev", dev]);
            node.ip(&["link", "set", dev, "up"]);
            node.ip(&["route", "add", &format!("{ip}/32"), "dev", dev]);
            pod.ip(&["addr", "add", &format!("{ip}/32"), "dev", "eth0"]);
            pod.ip(&["link", "set", "eth0", "up"]);
            pod.ip(&["route", "add", "10.77.0.1/32", "dev", "eth0"]);
            pod.ip(&["route", "add", "default", "via", "10.77.0.1"]);
        }
        node.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        RoutedPods { node, a, b }
    }
}
