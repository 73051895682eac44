//! Netns nodes and pods, and the Node/Pod objects that describe them in the API server.
//!
//! Wiring (what kindnet's ptp plugin and Calico do, so every pod packet crosses the node's
//! netfilter hooks without a bridge):
//! - underlay: netns `vd<id>-ul` with bridge `br0`; node N's `eth0` is `10.250.0.(10+N)/24`;
//! - node N owns pod CIDR `10.251.N.0/24` and routes every other node's CIDR via that node's
//!   underlay address; `ip_forward=1`, `rp_filter=0`;
//! - pod: netns `vd<id>-<ns>-<pod>`, `eth0` with `10.251.N.K/32`, default route via the gateway
//!   `10.251.N.1` (link scope); the node side of the veth holds `10.251.N.1/32` and a `/32` host
//!   route to the pod;
//! - a hostNetwork pod is the node's netns and address.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use crate::error::{Error, Result};
use crate::kubelet::{create_node_object, create_pod_object, kubelet_loop};
use crate::netns::{self, PREFIX, ip_batch};
use crate::probe::{self, Matrix, Port};
use crate::process::ManagedProcess;
use crate::servers::{self, SctpRegistry, ServerSet};
use crate::stale::{StateFile, cleanup_stale};
use crate::topology::{PodSpec, TestNode, TestPod};
use crate::{new_run_id, work_root};

#[derive(Debug)]
pub(crate) struct PodEntry {
    pod: TestPod,
    _servers: ServerSet,
    veth: Option<String>,
    /// The Pod object's uid, once created: a delete event for an older object with the same
    /// name must not tear down its successor.
    uid: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    nodes: Vec<TestNode>,
    pods: BTreeMap<String, PodEntry>,
    processes: Vec<ManagedProcess>,
    used_ips: HashSet<Ipv4Addr>,
    veth_counter: u32,
    namespaces: HashSet<String>,
}

impl Inner {
    /// Whether pod `key` exists here as the API object with `uid`.
    pub(crate) fn owns(&self, key: &str, uid: &str) -> bool {
        self.pods
            .get(key)
            .is_some_and(|e| e.uid.as_deref() == Some(uid))
    }
}

/// Netns nodes and pods joined by an underlay, mirrored as Node/Pod objects in the API server
/// (when given a client). See the module docs for the wiring.
///
/// # Guarantees
/// Dropping it stops its servers and the processes started with [`NetnsCluster::spawn_in`],
/// and deletes every network namespace it created (and with them their veths and nftables
/// tables). API objects are left to the control plane's own teardown.
pub struct NetnsCluster {
    id: String,
    client: Option<kube::Client>,
    underlay: String,
    registry: Arc<SctpRegistry>,
    inner: Arc<Mutex<Inner>>,
    /// One "kubelet" watch per node (see `kubelet_loop`).
    watchers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    logs_dir: PathBuf,
    state: StateFile,
}

impl std::fmt::Debug for NetnsCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetnsCluster")
            .field("id", &self.id)
            .field("with_api", &self.client.is_some())
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl NetnsCluster {
    /// An empty cluster (just the underlay). With `client`, nodes and pods are also created as
    /// API objects with kubelet-like status; without, only the kernel side exists.
    pub async fn new(client: Option<kube::Client>) -> Result<NetnsCluster> {
        if let Err(e) = cleanup_stale() {
            tracing::warn!(error = %e, "stale cleanup failed");
        }
        let id = new_run_id();
        let logs_dir = work_root().join(format!("pods-{id}"));
        std::fs::create_dir_all(&logs_dir).map_err(|e| Error::io("creating", &logs_dir, e))?;
        let state = StateFile::create(&id, Some(&logs_dir))?;
        let underlay = format!("{PREFIX}{id}-ul");
        let cluster = NetnsCluster {
            id,
            client,
            underlay: underlay.clone(),
            registry: Arc::default(),
            inner: Arc::default(),
            watchers: Mutex::default(),
            logs_dir,
            state,
        };
        netns::create(&underlay)?;
        ip_batch(
            &underlay,
            &["link add br0 type bridge".into(), "link set br0 up".into()],
        )?;
        Ok(cluster)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run id; every netns is named `vd<id>-...`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The prefix of every network namespace this cluster creates.
    pub fn netns_prefix(&self) -> String {
        format!("{PREFIX}{}-", self.id)
    }

    /// The nodes added so far.
    pub fn nodes(&self) -> Vec<TestNode> {
        self.lock().nodes.clone()
    }

    /// The pods that exist now.
    pub fn pods(&self) -> Vec<TestPod> {
        self.lock().pods.values().map(|e| e.pod.clone()).collect()
    }

    /// One node by name.
    pub fn node(&self, name: &str) -> Option<TestNode> {
        self.lock().nodes.iter().find(|n| n.name == name).cloned()
    }

    /// One pod by namespace and name.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<TestPod> {
        self.lock()
            .pods
            .get(&format!("{namespace}/{name}"))
            .map(|e| e.pod.clone())
    }

    /// Adds a netns node joined to the underlay with routes to every other node's pod CIDR,
    /// and (with a client) a Ready Node object with that podCIDR and InternalIP.
    pub async fn add_node(&self, name: &str) -> Result<TestNode> {
        let (node, others) = {
            let inner = self.lock();
            if inner.nodes.iter().any(|n| n.name == name) {
                return Err(Error::Invalid(format!("node {name} already exists")));
            }
            let index = u8::try_from(inner.nodes.len() + 1)
                .ok()
                .filter(|i| *i <= 200)
                .ok_or_else(|| Error::Invalid("at most 200 netns nodes".into()))?;
            let node = TestNode {
                name: name.to_string(),
                netns: format!("{PREFIX}{}-{name}", self.id),
                underlay_ip: Ipv4Addr::new(10, 250, 0, 10 + index),
                pod_cidr: Ipv4Net::new(Ipv4Addr::new(10, 251, index, 0), 24)
                    .expect("/24 is a valid prefix"),
                index,
            };
            (node, inner.nodes.clone())
        };
        netns::create(&node.netns)?;
        let ul_if = format!("n{}", node.index);
        ip_batch(
            &self.underlay,
            &[
                format!(
                    "link add {ul_if} type veth peer name eth0 netns {}",
                    node.netns
                ),
                format!("link set {ul_if} master br0"),
                format!("link set {ul_if} up"),
            ],
        )?;
        let mut cmds = vec![
            format!("addr add {}/24 dev eth0", node.underlay_ip),
            "link set eth0 up".into(),
        ];
        for other in &others {
            cmds.push(format!(
                "route add {} via {}",
                other.pod_cidr, other.underlay_ip
            ));
        }
        ip_batch(&node.netns, &cmds)?;
        for other in &others {
            ip_batch(
                &other.netns,
                &[format!(
                    "route add {} via {}",
                    node.pod_cidr, node.underlay_ip
                )],
            )?;
        }
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv4.conf.all.send_redirects", "0"),
        ] {
            netns::sysctl(&node.netns, key, value)?;
        }
        self.lock().nodes.push(node.clone());
        if let Some(client) = &self.client {
            create_node_object(client, &node).await?;
            let task = tokio::spawn(kubelet_loop(
                client.clone(),
                node.clone(),
                Arc::clone(&self.inner),
            ));
            self.watchers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task);
        }
        Ok(node)
    }

    /// Creates a namespace (with labels) in the API server if it does not exist, and waits for
    /// its `default` ServiceAccount so pods can be admitted. Labels are server-side applied by
    /// the field manager `verdict-e2e`, so calling it again *sets* the labels this harness owns
    /// (those not given are removed; labels set by others stay). Call it before the first
    /// [`NetnsCluster::add_pod`] in a namespace that needs labels for `namespaceSelector`s.
    pub async fn ensure_namespace(&self, name: &str, labels: &[(&str, &str)]) -> Result<()> {
        let Some(client) = &self.client else {
            return Ok(());
        };
        if self.lock().namespaces.contains(name) && labels.is_empty() {
            return Ok(());
        }
        let api: Api<Namespace> = Api::all(client.clone());
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}});
        api.patch(
            name,
            &PatchParams::apply("verdict-e2e").force(),
            &Patch::Apply(&ns),
        )
        .await
        .map_err(|e| Error::kube(format!("applying namespace {name}"), e))?;
        let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
        let t0 = Instant::now();
        while !matches!(sa.get_opt("default").await, Ok(Some(_))) {
            if t0.elapsed() > Duration::from_secs(30) {
                return Err(Error::Timeout {
                    what: format!("ServiceAccount {name}/default"),
                    seconds: 30.0,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.lock().namespaces.insert(name.to_string());
        Ok(())
    }

    /// Creates a pod: its netns and veth (unless hostNetwork), its servers, and (with a client)
    /// the Pod object bound to its node with Running/Ready status, podIP(s) and hostIP(s).
    pub async fn add_pod(&self, spec: PodSpec) -> Result<TestPod> {
        let pod = self.add_pod_local(&spec).await?;
        if let Some(client) = &self.client {
            self.ensure_namespace(&spec.namespace, &[]).await?;
            let node = self
                .node(&pod.node)
                .ok_or_else(|| Error::Invalid(format!("unknown node {}", pod.node)))?;
            let uid = create_pod_object(client, &pod, &node).await?;
            if let Some(entry) = self.lock().pods.get_mut(&pod.key()) {
                entry.uid = uid;
            }
        }
        Ok(pod)
    }

    /// Wires the network side of a pod whose Pod object exists already and whose container the
    /// stand-in kubelet ([`crate::PodRunner`]) runs as a process: its netns, veth and address
    /// (or the node's netns and address for a hostNetwork pod). No servers, no API writes; the
    /// kubelet loop leaves it alone (it records no uid). Undo with
    /// [`NetnsCluster::remove_pod_netns`].
    pub async fn add_pod_netns(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
        host_network: bool,
    ) -> Result<TestPod> {
        let mut spec = PodSpec::new(namespace, name).node(node);
        spec.host_network = host_network;
        self.add_pod_local(&spec).await
    }

    /// Removes what [`NetnsCluster::add_pod_netns`] wired. Returns whether it existed.
    pub fn remove_pod_netns(&self, namespace: &str, name: &str) -> Result<bool> {
        teardown_local(&self.inner, &format!("{namespace}/{name}"), None)
    }

    /// The kernel side of [`NetnsCluster::add_pod`]: address, netns, veth and servers.
    async fn add_pod_local(&self, spec: &PodSpec) -> Result<TestPod> {
        let key = format!("{}/{}", spec.namespace, spec.name);
        let (node, ip, veth) = {
            let mut inner = self.lock();
            if inner.pods.contains_key(&key) {
                return Err(Error::Invalid(format!("pod {key} already exists")));
            }
            let node = inner
                .nodes
                .iter()
                .find(|n| n.name == spec.node)
                .cloned()
                .ok_or_else(|| {
                    Error::Invalid(format!("pod {key}: unknown node {:?}", spec.node))
                })?;
            if spec.host_network {
                (node.clone(), node.underlay_ip, None)
            } else {
                let ip = node
                    .pod_cidr
                    .hosts()
                    .skip(1) // .1 is the gateway
                    .find(|ip| !inner.used_ips.contains(ip))
                    .ok_or_else(|| Error::Invalid(format!("pod CIDR of {} is full", node.name)))?;
                inner.used_ips.insert(ip);
                inner.veth_counter += 1;
                (node, ip, Some(format!("veth{:x}", inner.veth_counter)))
            }
        };
        let pod_netns = if spec.host_network {
            node.netns.clone()
        } else {
            format!("{PREFIX}{}-{}-{}", self.id, spec.namespace, spec.name)
        };
        let result = self
            .wire_and_serve(spec, &node, ip, &pod_netns, veth.as_deref())
            .await;
        let servers = match result {
            Ok(servers) => servers,
            Err(e) => {
                if !spec.host_network {
                    let _ = netns::delete(&pod_netns);
                }
                self.lock().used_ips.remove(&ip);
                return Err(e);
            }
        };
        let pod = TestPod {
            namespace: spec.namespace.clone(),
            name: spec.name.clone(),
            ip,
            netns: pod_netns,
            node: node.name.clone(),
            host_network: spec.host_network,
            ports: spec.ports.clone(),
            port_names: spec.port_names.clone(),
            labels: spec.labels.clone(),
        };
        self.lock().pods.insert(
            key,
            PodEntry {
                pod: pod.clone(),
                _servers: servers,
                veth,
                uid: None,
            },
        );
        Ok(pod)
    }

    async fn wire_and_serve(
        &self,
        spec: &PodSpec,
        node: &TestNode,
        ip: Ipv4Addr,
        pod_netns: &str,
        veth: Option<&str>,
    ) -> Result<ServerSet> {
        if let Some(veth) = veth {
            let gw = node.gateway();
            netns::create(pod_netns)?;
            ip_batch(
                &node.netns,
                &[format!(
                    "link add {veth} type veth peer name eth0 netns {pod_netns}"
                )],
            )?;
            ip_batch(
                pod_netns,
                &[
                    format!("addr add {ip}/32 dev eth0"),
                    "link set eth0 up".into(),
                    format!("route add {gw} dev eth0 scope link"),
                    format!("route add default via {gw} dev eth0"),
                ],
            )?;
            ip_batch(
                &node.netns,
                &[
                    format!("addr add {gw}/32 dev {veth}"),
                    format!("link set {veth} up"),
                    format!("route add {ip}/32 dev {veth} scope link src {gw}"),
                ],
            )?;
        }
        servers::start(pod_netns, ip, &spec.ports, &self.registry).await
    }

    /// Replaces a pod's labels (in the API server and in [`TestPod::labels`]).
    pub async fn relabel_pod(&self, pod: &TestPod, labels: &[(&str, &str)]) -> Result<TestPod> {
        let new: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(client) = &self.client {
            let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
            let current = api
                .get(&pod.name)
                .await
                .map_err(|e| Error::kube(format!("reading pod {}", pod.key()), e))?
                .metadata
                .labels
                .unwrap_or_default();
            let mut patch = serde_json::Map::new();
            for k in current.keys().filter(|k| !new.contains_key(*k)) {
                patch.insert(k.clone(), serde_json::Value::Null);
            }
            for (k, v) in &new {
                patch.insert(k.clone(), json!(v));
            }
            api.patch(
                &pod.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": patch}})),
            )
            .await
            .map_err(|e| Error::kube(format!("relabelling pod {}", pod.key()), e))?;
        }
        let mut inner = self.lock();
        let entry = inner
            .pods
            .get_mut(&pod.key())
            .ok_or_else(|| Error::Invalid(format!("unknown pod {}", pod.key())))?;
        entry.pod.labels = new;
        Ok(entry.pod.clone())
    }

    /// Deletes a pod: the API object (grace period 0, as a kubelet confirms), its servers, and
    /// its netns and veth.
    pub async fn delete_pod(&self, pod: &TestPod) -> Result<()> {
        if let Some(client) = &self.client {
            let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
            match api
                .delete(
                    &pod.name,
                    &DeleteParams {
                        grace_period_seconds: Some(0),
                        ..Default::default()
                    },
                )
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(Error::kube(format!("deleting pod {}", pod.key()), e)),
            }
        }
        teardown_local(&self.inner, &pod.key(), None)?;
        Ok(())
    }

    /// Probes `to:port` from inside `from`'s network namespace. See [`crate::probe`] for what
    /// reachable means per protocol.
    pub async fn probe(
        &self,
        from: &TestPod,
        to: Ipv4Addr,
        port: Port,
        timeout: Duration,
    ) -> Result<bool> {
        probe::probe(&from.netns, to, port, timeout, &self.registry).await
    }

    /// Probes every (from, to, port) over `pods` concurrently (pods probe themselves too), and
    /// returns the observed matrix.
    pub async fn probe_matrix(
        &self,
        pods: &[TestPod],
        ports: &[Port],
        timeout: Duration,
    ) -> Result<Matrix> {
        let keys: Vec<String> = pods.iter().map(TestPod::key).collect();
        let mut matrix = Matrix::filled(&keys, ports, false);
        let mut jobs = Vec::new();
        for from in pods {
            for to in pods {
                for port in ports {
                    jobs.push((from.clone(), to.clone(), *port));
                }
            }
        }
        let results: Vec<(String, String, Port, Result<bool>)> = futures::stream::iter(jobs)
            .map(|(from, to, port)| async move {
                let r = self.probe(&from, to.ip, port, timeout).await;
                (from.key(), to.key(), port, r)
            })
            .buffer_unordered(128)
            .collect()
            .await;
        for (from, to, port, r) in results {
            matrix.set(&from, &to, port, r?);
        }
        Ok(matrix)
    }

    /// Starts `program args...` inside a network namespace (a node's, for an agent), logging to
    /// `<logs>/<name>.log`; it is killed when the cluster is dropped or on
    /// [`NetnsCluster::stop_process`]. Returns its pid.
    pub fn spawn_in(
        &self,
        netns: &str,
        name: &str,
        program: &Path,
        args: &[String],
        envs: &[(String, String)],
    ) -> Result<u32> {
        let log = self.logs_dir.join(format!("{name}.log"));
        let process = ManagedProcess::spawn(name, program, args, envs, Some(netns), &log)?;
        let pid = process
            .pid()
            .ok_or_else(|| Error::Invalid(format!("{name} has no pid")))?;
        self.state.add_pid(pid)?;
        self.lock().processes.push(process);
        Ok(pid)
    }

    /// Stops a process started with [`NetnsCluster::spawn_in`] (SIGTERM, then SIGKILL after
    /// `grace`).
    pub fn stop_process(&self, pid: u32, grace: Duration) {
        let process = {
            let mut inner = self.lock();
            let i = inner.processes.iter().position(|p| p.pid() == Some(pid));
            i.map(|i| inner.processes.remove(i))
        };
        if let Some(mut p) = process {
            p.stop(grace);
            self.state.remove_pid(pid);
        }
    }

    /// Whether a process started with [`NetnsCluster::spawn_in`] is still running.
    pub fn process_running(&self, pid: u32) -> bool {
        let mut inner = self.lock();
        inner
            .processes
            .iter_mut()
            .any(|p| p.pid() == Some(pid) && p.exited().is_none())
    }

    /// Makes `127.0.0.1:<port>` inside `netns` reach `127.0.0.1:<port>` of the test process's
    /// own network namespace, through a TCP relay run by this process. With the apiserver's
    /// port, a process in a node netns (an agent) uses the admin kubeconfig unchanged, and the
    /// serving cert's `127.0.0.1` SAN still matches. The relay stops when the cluster drops.
    /// Must be called within a tokio runtime.
    pub fn forward_loopback_port(&self, netns: &str, port: u16) -> Result<()> {
        let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let listener = netns::in_netns(netns, move || {
            let l = std::net::TcpListener::bind(upstream)?;
            l.set_nonblocking(true)?;
            Ok(l)
        })?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| Error::netns("registering loopback relay", netns, e))?;
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        self.watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
        Ok(())
    }

    /// The reverse of [`NetnsCluster::forward_loopback_port`]: listens on `127.0.0.1:host_port`
    /// of this process's own network namespace (0 picks a free port) and relays each connection
    /// to `target` as seen from inside `netns` (e.g. an agent's dashboard on `127.0.0.1:9092` of
    /// a node). Returns the port it listens on. The relay stops when the cluster drops. Must be
    /// called within a tokio runtime.
    ///
    /// # Errors
    /// [`Error::PortInUse`] when `host_port` is taken.
    pub async fn expose_port(
        &self,
        netns: &str,
        target: std::net::SocketAddr,
        host_port: u16,
    ) -> Result<u16> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", host_port))
            .await
            .map_err(|source| Error::PortInUse {
                port: host_port,
                what: format!("relay to {target} in {netns}"),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("reading the address of", "a relay listener", e))?
            .port();
        let netns = netns.to_string();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let netns = netns.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = netns::in_netns_async(&netns, move || {
                        let s =
                            std::net::TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
                        s.set_nonblocking(true)?;
                        Ok(s)
                    })
                    .await
                    else {
                        return;
                    };
                    if let Ok(mut outbound) = tokio::net::TcpStream::from_std(outbound) {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        self.watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
        Ok(port)
    }

    /// Where [`NetnsCluster::spawn_in`] processes log.
    pub fn logs_dir(&self) -> &Path {
        &self.logs_dir
    }
}

impl Drop for NetnsCluster {
    fn drop(&mut self) {
        for task in self
            .watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        let mut inner = std::mem::take(&mut *self.lock());
        for mut p in inner.processes.drain(..) {
            p.stop(Duration::from_secs(3));
        }
        let pods = std::mem::take(&mut inner.pods);
        drop(pods); // closes the servers' sockets
        for ns in netns::list_with_prefix(&self.netns_prefix()) {
            if let Err(e) = netns::delete(&ns) {
                eprintln!("[e2e] could not delete netns {ns}: {e}");
            }
        }
        let failed = std::thread::panicking();
        let has_logs = std::fs::read_dir(&self.logs_dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if (failed || crate::keep_requested()) && has_logs {
            eprintln!(
                "[e2e] netns cluster {} logs kept in {}",
                self.id,
                self.logs_dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.logs_dir);
        }
    }
}

/// Removes a pod's kernel side: servers, veth, netns and address. With `uid`, only if the
/// recorded Pod object has that uid. Returns whether it removed anything.
pub(crate) fn teardown_local(inner: &Mutex<Inner>, key: &str, uid: Option<&str>) -> Result<bool> {
    let lock = || inner.lock().unwrap_or_else(|e| e.into_inner());
    let (veth, pod_netns, node) = {
        let inner = lock();
        let Some(entry) = inner
            .pods
            .get(key)
            .filter(|e| uid.is_none() || e.uid.as_deref() == uid)
        else {
            return Ok(false);
        };
        let node = inner
            .nodes
            .iter()
            .find(|n| n.name == entry.pod.node)
            .cloned();
        (entry.veth.clone(), entry.pod.netns.clone(), node)
    };
    // Kernel side first, bookkeeping last: once a pod is gone from `pods()`, its netns is gone.
    if let Some(veth) = &veth {
        // Delete the veth now: the netns itself may outlive `ip netns del` for a moment (closing
        // sockets), and its /32 route must not block the address's next owner. A concurrent
        // teardown may have deleted it already.
        if let Some(node) = node
            && let Err(e) = ip_batch(&node.netns, &[format!("link del {veth}")])
            && Path::new(netns::NETNS_DIR).join(&pod_netns).exists()
        {
            return Err(e);
        }
        netns::delete(&pod_netns)?;
    }
    let entry = {
        let mut inner = lock();
        let entry = inner.pods.remove(key);
        if let Some(entry) = &entry
            && entry.veth.is_some()
        {
            inner.used_ips.remove(&entry.pod.ip);
        }
        entry
    };
    Ok(entry.is_some())
}
