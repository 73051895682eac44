//! The stand-in kubelet, **for the demo and the tests only**: it runs kube-verdict's own pods
//! (the operator's Deployment pods, the agents' DaemonSet pods) as local processes on netns nodes.
//! Nothing here belongs in a real cluster, where the kubelet and a container runtime do this.
//!
//! ```text
//!  watch Pods ──► bound to one of our netns nodes, image .../verdict-agent or .../verdict-operator?
//!      │ yes: one supervisor task per pod uid
//!      ▼
//!  netns:       the node's (hostNetwork) or a new pod netns (NetnsCluster::add_pod_netns),
//!               with the apiserver's 127.0.0.1 port (and any loopback_ports) relayed into it
//!  credentials: TokenRequest for the pod's ServiceAccount, bound to the pod
//!               ──► <work>/<ns>_<pod>/kubeconfig ──► KUBECONFIG (both binaries read it)
//!  process:     command/args/env exactly as the container spec says (downward API resolved),
//!               the binary from the image name (bin_dir/verdict-agent), securityContext's
//!               uid/gid/capabilities/no_new_privs through setpriv, logs in <work>/logs
//!      │
//!      ├─ status: Pending ─► Running (podIP, hostIP, containerStatuses) ─► Ready by the
//!      │          container's own readinessProbe (HTTP GET inside the pod's netns)
//!      ├─ an exit or failed livenessProbe ─► restart by restartPolicy, restartCount, backoff
//!      └─ deletionTimestamp ─► SIGTERM, grace period, confirm the delete, remove the pod netns
//! ```
//!
//! Its processes cannot outlive it: each carries a parent-death signal (set again after
//! setpriv's credential change, which clears it), and each runs in a network namespace of the
//! [`NetnsCluster`], whose deletion (on drop, or by the next run's `cleanup_stale`) kills every
//! process inside.
//!
//! What it does not do, unlike a kubelet: pull images (the image name picks a binary built from
//! this workspace), mount volumes (an `emptyDir` at `/tmp` is the host's `/tmp`), enforce
//! `readOnlyRootFilesystem`, seccomp or resource limits, run init containers or more than one
//! container. Backoff is 1 s doubling to 30 s (the kubelet's is 10 s to 5 min), and probes run
//! every second until the first success, then at their `periodSeconds`, so a demo is ready in
//! seconds. Anything it cannot honour (an env source other than the downward API, an HTTPS or
//! exec probe) is written to the pod's status as a waiting reason instead of being ignored.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{
    Container, Pod, PodSecurityContext, Probe, SecurityContext, ServiceAccount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::watch;

use crate::cluster::NetnsCluster;
use crate::error::{Error, Result};
use crate::process::ManagedProcess;

/// Binaries the stand-in kubelet runs; an image runs one when its last path segment (without
/// tag or digest) is its name.
pub const RUNNABLE_BINARIES: &[&str] = &["verdict-agent", "verdict-operator"];

/// The binary an image maps to: `ghcr.io/kube-verdict/verdict-agent:0.1.0` → `verdict-agent`.
pub fn binary_for_image(image: &str) -> Option<&'static str> {
    let without_digest = image.split('@').next()?;
    let last = without_digest.rsplit('/').next()?;
    let name = last.split(':').next()?;
    RUNNABLE_BINARIES.iter().copied().find(|b| *b == name)
}

/// The longest a process gets between SIGTERM and SIGKILL when the runner shuts down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How a [`PodRunner`] runs pods.
#[derive(Debug, Clone)]
pub struct PodRunnerOptions {
    /// Directory holding `verdict-agent` and `verdict-operator` (e.g. `target/release`).
    pub bin_dir: PathBuf,
    /// The apiserver's port on 127.0.0.1 (relayed into each pod's netns).
    pub apiserver_port: u16,
    /// The CA certificate pods trust for the apiserver.
    pub ca_file: PathBuf,
    /// Where kubeconfigs and `logs/<ns>_<pod>.log` go.
    pub work_dir: PathBuf,
    /// More ports of this process's 127.0.0.1 to relay into every pod's netns, like the
    /// apiserver's (e.g. an OTLP collector the pods export to).
    pub loopback_ports: Vec<u16>,
}

/// One pod the runner is running now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Node.
    pub node: String,
    /// The network namespace it runs in (the node's for hostNetwork).
    pub netns: String,
    /// Its IP.
    pub ip: IpAddr,
    /// The process's pid (changes on restart).
    pub pid: Option<u32>,
    /// Its log file.
    pub log: PathBuf,
    /// Ready by its readiness probe.
    pub ready: bool,
    /// Restarts so far.
    pub restarts: u32,
}

struct Slot {
    updates: watch::Sender<Option<Pod>>,
    task: tokio::task::JoinHandle<()>,
    info: Arc<Mutex<Option<RunPod>>>,
}

struct Shared {
    cluster: Arc<NetnsCluster>,
    client: kube::Client,
    options: PodRunnerOptions,
    relayed: Mutex<HashSet<String>>,
    slots: Mutex<HashMap<String, Slot>>,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn relay_apiserver(&self, netns: &str) -> Result<()> {
        let mut relayed = self.relayed.lock().unwrap_or_else(|e| e.into_inner());
        if relayed.contains(netns) {
            return Ok(());
        }
        for port in std::iter::once(self.options.apiserver_port)
            .chain(self.options.loopback_ports.iter().copied())
        {
            self.cluster.forward_loopback_port(netns, port)?;
        }
        relayed.insert(netns.to_string());
        Ok(())
    }
}

/// The stand-in kubelet (demo and tests only; see the module docs). Dropping it kills its
/// processes; [`PodRunner::shutdown`] stops them gracefully first.
pub struct PodRunner {
    shared: Arc<Shared>,
    watch_task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PodRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodRunner")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl PodRunner {
    /// Starts watching pods. Must be called within a tokio runtime.
    ///
    /// # Errors
    /// The work directory or the state file cannot be created.
    pub fn start(
        cluster: Arc<NetnsCluster>,
        client: kube::Client,
        options: PodRunnerOptions,
    ) -> Result<PodRunner> {
        let logs = options.work_dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| Error::io("creating", &logs, e))?;
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            cluster,
            client,
            options,
            relayed: Mutex::default(),
            slots: Mutex::default(),
            shutdown,
        });
        let watch_task = tokio::spawn(watch_pods(Arc::clone(&shared)));
        Ok(PodRunner { shared, watch_task })
    }

    /// The pods it runs now.
    pub fn pods(&self) -> Vec<RunPod> {
        let slots = self.shared.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut pods: Vec<RunPod> = slots
            .values()
            .filter_map(|s| s.info.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect();
        pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        pods
    }

    /// Where a pod's process logs.
    pub fn log_path(&self, namespace: &str, name: &str) -> PathBuf {
        log_path(&self.shared.options.work_dir, namespace, name)
    }

    /// Stops watching, then stops every process (SIGTERM, its grace period capped at 10 s)
    /// and removes the pod network namespaces it made. Pod objects stay: the control plane is
    /// going away, or the caller deletes them.
    pub async fn shutdown(self) {
        self.watch_task.abort();
        let _ = self.shared.shutdown.send(true);
        let tasks: Vec<_> = {
            let mut slots = self.shared.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.drain().map(|(_, s)| s.task).collect()
        };
        let all = futures::future::join_all(tasks);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(5), all).await;
    }
}

impl Drop for PodRunner {
    fn drop(&mut self) {
        self.watch_task.abort();
        let _ = self.shared.shutdown.send(true);
        for (_, slot) in self
            .shared
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
        {
            slot.task.abort();
        }
    }
}

fn log_path(work_dir: &Path, namespace: &str, name: &str) -> PathBuf {
    work_dir
        .join("logs")
        .join(format!("{namespace}_{name}.log"))
}

/// Whether this runner should run `pod`: bound to one of our nodes, with a runnable image.
fn wants(shared: &Shared, pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else { return false };
    let Some(node) = &spec.node_name else {
        return false;
    };
    shared.cluster.node(node).is_some()
        && spec
            .containers
            .iter()
            .any(|c| c.image.as_deref().and_then(binary_for_image).is_some())
}

async fn watch_pods(shared: Arc<Shared>) {
    use kube::runtime::WatchStreamExt;
    use kube::runtime::watcher::{self, Event};
    let api: Api<Pod> = Api::all(shared.client.clone());
    let mut events =
        std::pin::pin!(watcher::watcher(api, watcher::Config::default()).default_backoff());
    while let Some(event) = events.next().await {
        let (pod, deleted) = match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => (pod, false),
            Ok(Event::Delete(pod)) => (pod, true),
            Ok(Event::Init | Event::InitDone) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "pod watch");
                continue;
            }
        };
        let Some(uid) = pod.metadata.uid.clone() else {
            continue;
        };
        let mut slots = shared.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|_, s| !s.task.is_finished());
        if let Some(slot) = slots.get(&uid) {
            let _ = slot.updates.send(if deleted { None } else { Some(pod) });
            continue;
        }
        if deleted || pod.metadata.deletion_timestamp.is_some() || !wants(&shared, &pod) {
            continue;
        }
        let (updates, rx) = watch::channel(Some(pod.clone()));
        let info = Arc::new(Mutex::new(None));
        let task = tokio::spawn(supervise(Arc::clone(&shared), pod, rx, Arc::clone(&info)));
        slots.insert(
            uid,
            Slot {
                updates,
                task,
                info,
            },
        );
    }
}

/// What the downward API can read of a pod.
#[derive(Debug, Clone, Default)]
pub(crate) struct PodFacts {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) node_name: String,
    pub(crate) service_account: String,
    pub(crate) pod_ip: String,
    pub(crate) host_ip: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
}

/// A downward-API field path's value, as the kubelet resolves it.
fn field_value(facts: &PodFacts, path: &str) -> std::result::Result<String, String> {
    let keyed = |prefix: &str, map: &BTreeMap<String, String>| {
        let key = path
            .strip_prefix(prefix)?
            .strip_suffix("']")
            .or_else(|| path.strip_prefix(prefix)?.strip_suffix("\"]"))?;
        Some(map.get(key).cloned().unwrap_or_default())
    };
    if let Some(v) = keyed("metadata.labels['", &facts.labels)
        .or_else(|| keyed("metadata.annotations['", &facts.annotations))
    {
        return Ok(v);
    }
    Ok(match path {
        "metadata.name" => facts.name.clone(),
        "metadata.namespace" => facts.namespace.clone(),
        "metadata.uid" => facts.uid.clone(),
        "spec.nodeName" => facts.node_name.clone(),
        "spec.serviceAccountName" => facts.service_account.clone(),
        "status.podIP" | "status.podIPs" => facts.pod_ip.clone(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.clone(),
        other => return Err(format!("unsupported downward-API field {other:?}")),
    })
}

/// The container's environment, in order, with `valueFrom.fieldRef` resolved and `$(VAR)`
/// references to earlier variables expanded (as the kubelet does).
pub(crate) fn resolve_env(
    container: &Container,
    facts: &PodFacts,
) -> std::result::Result<Vec<(String, String)>, String> {
    if container.env_from.as_ref().is_some_and(|e| !e.is_empty()) {
        return Err("envFrom is not supported by the stand-in kubelet".into());
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (_, Some(from)) => match &from.field_ref {
                Some(f) => field_value(facts, &f.field_path)?,
                None => {
                    return Err(format!(
                        "env {}: only fieldRef sources are supported by the stand-in kubelet",
                        var.name
                    ));
                }
            },
            (Some(v), None) => expand(v, &out),
            (None, None) => String::new(),
        };
        out.push((var.name.clone(), value));
    }
    Ok(out)
}

/// Expands `$(NAME)` from `env`; `$$(` stays a literal `$(`; unknown names stay as written.
pub(crate) fn expand(text: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(inner) = tail.strip_prefix("$(")
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&tail[..end + 3]),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The program and arguments for `container`: `command` replaces the image's entrypoint (its
/// first word must name a runnable binary), `args` follow, both with `$(VAR)` expanded.
pub(crate) fn command_line(
    container: &Container,
    env: &[(String, String)],
) -> std::result::Result<(&'static str, Vec<String>), String> {
    let image = container.image.as_deref().unwrap_or_default();
    let image_binary =
        binary_for_image(image).ok_or_else(|| format!("image {image:?} is not runnable here"))?;
    let mut words: Vec<String> = Vec::new();
    let binary = match container.command.as_deref() {
        Some([first, rest @ ..]) => {
            let base = first.rsplit('/').next().unwrap_or(first);
            let b = RUNNABLE_BINARIES
                .iter()
                .copied()
                .find(|b| *b == base)
                .ok_or_else(|| format!("command {first:?} is not a kube-verdict binary"))?;
            words.extend(rest.iter().map(|w| expand(w, env)));
            b
        }
        _ => image_binary,
    };
    words.extend(container.args.iter().flatten().map(|w| expand(w, env)));
    Ok((binary, words))
}

/// `setpriv` options that apply the securityContext (uid, gid, dropped/added capabilities,
/// `allowPrivilegeEscalation: false`); empty when there is nothing to apply.
pub(crate) fn setpriv_args(
    pod: Option<&PodSecurityContext>,
    container: Option<&SecurityContext>,
) -> Vec<String> {
    let mut args = Vec::new();
    let uid = container
        .and_then(|c| c.run_as_user)
        .or_else(|| pod.and_then(|p| p.run_as_user));
    let gid = container
        .and_then(|c| c.run_as_group)
        .or_else(|| pod.and_then(|p| p.run_as_group));
    if let Some(caps) = container.and_then(|c| c.capabilities.as_ref())
        && caps
            .drop
            .iter()
            .flatten()
            .any(|c| c.eq_ignore_ascii_case("ALL"))
    {
        let mut set = vec!["-all".to_string()];
        for cap in caps.add.iter().flatten() {
            let cap = cap.to_ascii_lowercase();
            set.push(format!("+{}", cap.strip_prefix("cap_").unwrap_or(&cap)));
        }
        args.push(format!("--bounding-set={}", set.join(",")));
        args.push("--inh-caps=-all".into());
    }
    if let Some(gid) = gid.filter(|g| *g != 0) {
        args.push(format!("--regid={gid}"));
    }
    if let Some(uid) = uid.filter(|u| *u != 0) {
        args.push(format!("--reuid={uid}"));
    }
    if uid.is_some_and(|u| u != 0) || gid.is_some_and(|g| g != 0) {
        args.push("--clear-groups".into());
    }
    if container.and_then(|c| c.allow_privilege_escalation) == Some(false) {
        args.push("--no-new-privs".into());
    }
    if !args.is_empty() {
        // A credential change clears the parent-death signal; set it again after it.
        args.push("--pdeathsig=KILL".into());
    }
    args
}

/// A probe the runner can run: HTTP GET `path` on `port` (resolved from a named container port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpProbe {
    pub(crate) port: u16,
    pub(crate) path: String,
    pub(crate) period: Duration,
    pub(crate) timeout: Duration,
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) initial_delay: Duration,
}

pub(crate) fn http_probe(
    container: &Container,
    probe: &Probe,
) -> std::result::Result<HttpProbe, String> {
    let get = probe
        .http_get
        .as_ref()
        .ok_or("only httpGet probes are supported by the stand-in kubelet")?;
    if get.scheme.as_deref().is_some_and(|s| s != "HTTP") {
        return Err("only HTTP probes are supported by the stand-in kubelet".into());
    }
    let port = match &get.port {
        IntOrString::Int(p) => u16::try_from(*p).map_err(|_| format!("probe port {p}"))?,
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| format!("probe port {name:?} names no container port"))?,
    };
    let secs = |v: Option<i32>, default: i32| {
        Duration::from_secs(u64::try_from(v.unwrap_or(default).max(0)).unwrap_or(0))
    };
    Ok(HttpProbe {
        port,
        path: get.path.clone().unwrap_or_else(|| "/".into()),
        period: secs(probe.period_seconds, 10).max(Duration::from_secs(1)),
        timeout: secs(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
        failure_threshold: u32::try_from(probe.failure_threshold.unwrap_or(3).max(1)).unwrap_or(3),
        success_threshold: u32::try_from(probe.success_threshold.unwrap_or(1).max(1)).unwrap_or(1),
        initial_delay: secs(probe.initial_delay_seconds, 0),
    })
}

/// HTTP GET from inside `netns`; success is a status in 200..400, as for the kubelet.
async fn probe_once(netns: &str, addr: SocketAddr, path: &str, timeout: Duration) -> bool {
    let path = path.to_string();
    let result = crate::netns::in_netns_async(netns, move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: kube-probe/verdict-e2e\r\n\r\n"
        )?;
        let mut head = [0u8; 64];
        let n = s.read(&mut head)?;
        let line = String::from_utf8_lossy(&head[..n]).to_string();
        Ok(line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok()))
    })
    .await;
    matches!(result, Ok(Some(code)) if (200..400).contains(&code))
}

/// Probe bookkeeping: consecutive results against the thresholds.
#[derive(Debug, Default)]
pub(crate) struct ProbeState {
    successes: u32,
    failures: u32,
}

impl ProbeState {
    /// Records one result; returns `Some(new verdict)` when the thresholds flip it.
    pub(crate) fn record(&mut self, probe: &HttpProbe, ok: bool, current: bool) -> Option<bool> {
        if ok {
            self.failures = 0;
            self.successes += 1;
            (!current && self.successes >= probe.success_threshold).then_some(true)
        } else {
            self.successes = 0;
            self.failures += 1;
            (current && self.failures >= probe.failure_threshold).then_some(false)
        }
    }
}

fn now() -> serde_json::Value {
    serde_json::to_value(Time(k8s_openapi::jiff::Timestamp::now())).unwrap_or_default()
}

/// The container's state, as the status reports it.
#[derive(Debug, Clone)]
pub(crate) enum State {
    Waiting { reason: String, message: String },
    Running { started_at: serde_json::Value },
    Terminated { exit_code: i32, reason: String },
}

/// The status patch for a one-container pod (phase, conditions, IPs, container status).
pub(crate) fn status_patch(
    facts: &PodFacts,
    container: &Container,
    state: &State,
    last: Option<&State>,
    ready: bool,
    restarts: u32,
    phase: &str,
) -> serde_json::Value {
    let t = now();
    let cond = |kind: &str, ok: bool| json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastTransitionTime": t});
    let state_json = |s: &State| match s {
        State::Waiting { reason, message } => {
            json!({"waiting": {"reason": reason, "message": message}})
        }
        State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        State::Terminated { exit_code, reason } => {
            json!({"terminated": {"exitCode": exit_code, "reason": reason, "finishedAt": t}})
        }
    };
    let started = matches!(state, State::Running { .. });
    let mut cs = json!({
        "name": container.name,
        "image": container.image.clone().unwrap_or_default(),
        "imageID": "",
        "containerID": format!("stand-in-kubelet://{}/{}", facts.namespace, facts.name),
        "ready": ready && started,
        "started": started,
        "restartCount": restarts,
        "state": state_json(state),
    });
    if let Some(last) = last {
        cs["lastState"] = state_json(last);
    }
    let ready = ready && started;
    let mut status = json!({
        "phase": phase,
        "conditions": [
            cond("PodScheduled", true), cond("Initialized", true),
            cond("ContainersReady", ready), cond("Ready", ready),
        ],
        "hostIP": facts.host_ip,
        "hostIPs": [{"ip": facts.host_ip}],
        "containerStatuses": [cs],
    });
    if !facts.pod_ip.is_empty() {
        status["podIP"] = json!(facts.pod_ip);
        status["podIPs"] = json!([{"ip": facts.pod_ip}]);
    }
    json!({ "status": status })
}

/// Everything a supervisor needs to (re)start the pod's process.
struct Prepared {
    container: Container,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    netns: String,
    readiness: Option<HttpProbe>,
    liveness: Option<HttpProbe>,
    restart_policy: String,
    grace: Duration,
}

async fn prepare(shared: &Shared, pod: &Pod, facts: &mut PodFacts) -> Result<Prepared, String> {
    let spec = pod.spec.clone().unwrap_or_default();
    if spec.containers.len() != 1 || spec.init_containers.as_ref().is_some_and(|c| !c.is_empty()) {
        return Err(
            "the stand-in kubelet runs exactly one container and no init containers".into(),
        );
    }
    let container = spec.containers[0].clone();
    let node = shared
        .cluster
        .node(&facts.node_name)
        .ok_or_else(|| format!("unknown node {}", facts.node_name))?;
    let host_network = spec.host_network == Some(true);
    let wired = shared
        .cluster
        .add_pod_netns(&facts.namespace, &facts.name, &node.name, host_network)
        .await
        .map_err(|e| format!("wiring the pod's network: {}", chain(&e)))?;
    facts.pod_ip = wired.ip.to_string();
    facts.host_ip = node.underlay_ip.to_string();
    shared
        .relay_apiserver(&wired.netns)
        .map_err(|e| format!("relaying the apiserver into {}: {}", wired.netns, chain(&e)))?;

    let mut env = resolve_env(&container, facts)?;
    let (binary, args) = command_line(&container, &env)?;
    let program = shared.options.bin_dir.join(binary);
    if !program.is_file() {
        return Err(format!(
            "{} is missing (build it, or point the demo's --bin-dir at it)",
            program.display()
        ));
    }
    if spec.automount_service_account_token != Some(false) {
        let kubeconfig = write_credentials(shared, facts, &spec)
            .await
            .map_err(|e| format!("service account credentials: {}", chain(&e)))?;
        env.push(("KUBECONFIG".into(), kubeconfig.display().to_string()));
    }
    let sp = setpriv_args(
        spec.security_context.as_ref(),
        container.security_context.as_ref(),
    );
    let (program, args) = if sp.is_empty() {
        (program, args)
    } else {
        let mut all = sp;
        all.push("--".into());
        all.push(program.display().to_string());
        all.extend(args);
        (PathBuf::from("setpriv"), all)
    };
    let readiness = container
        .readiness_probe
        .as_ref()
        .map(|p| http_probe(&container, p))
        .transpose()?;
    let liveness = container
        .liveness_probe
        .as_ref()
        .map(|p| http_probe(&container, p))
        .transpose()?;
    Ok(Prepared {
        program,
        args,
        env,
        netns: wired.netns,
        readiness,
        liveness,
        restart_policy: spec.restart_policy.unwrap_or_else(|| "Always".into()),
        grace: Duration::from_secs(
            u64::try_from(spec.termination_grace_period_seconds.unwrap_or(30).max(0)).unwrap_or(30),
        ),
        container,
    })
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A TokenRequest for the pod's ServiceAccount, bound to the pod (as the kubelet's projected
/// token is), written into a kubeconfig readable by the pod's user.
async fn write_credentials(
    shared: &Shared,
    facts: &PodFacts,
    spec: &k8s_openapi::api::core::v1::PodSpec,
) -> Result<PathBuf> {
    let sa = spec
        .service_account_name
        .clone()
        .unwrap_or_else(|| "default".into());
    let api: Api<ServiceAccount> = Api::namespaced(shared.client.clone(), &facts.namespace);
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: None,
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(facts.name.clone()),
                uid: Some(facts.uid.clone()),
            }),
            expiration_seconds: Some(24 * 3600),
        }),
        ..Default::default()
    };
    let token = api
        .create_token_request(&sa, &PostParams::default(), &request)
        .await
        .map_err(|e| Error::kube(format!("token for {}/{sa}", facts.namespace), e))?
        .status
        .and_then(|s| s.token)
        .unwrap_or_default();
    let dir = shared
        .options
        .work_dir
        .join(format!("{}_{}", facts.namespace, facts.name));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    let path = dir.join("kubeconfig");
    let text = crate::kubeconfig::render_token(
        &format!("https://127.0.0.1:{}", shared.options.apiserver_port),
        &shared.options.ca_file,
        &format!("system:serviceaccount:{}:{sa}", facts.namespace),
        &token,
    );
    std::fs::write(&path, text).map_err(|e| Error::io("writing", &path, e))?;
    // The pod may run as another user (the operator runs as 65532): let it read its own token.
    let uid = spec
        .containers
        .first()
        .and_then(|c| c.security_context.as_ref())
        .and_then(|c| c.run_as_user)
        .or_else(|| spec.security_context.as_ref().and_then(|p| p.run_as_user));
    if let Some(uid) = uid.and_then(|u| u32::try_from(u).ok()) {
        std::os::unix::fs::chown(&path, Some(uid), None)
            .map_err(|e| Error::io("chowning", &path, e))?;
    }
    Ok(path)
}

fn facts_of(pod: &Pod) -> PodFacts {
    let spec = pod.spec.clone().unwrap_or_default();
    PodFacts {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        node_name: spec.node_name.unwrap_or_default(),
        service_account: spec
            .service_account_name
            .unwrap_or_else(|| "default".into()),
        pod_ip: String::new(),
        host_ip: String::new(),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        annotations: pod.metadata.annotations.clone().unwrap_or_default(),
    }
}

/// How a supervisor's wait ended.
#[derive(Debug, PartialEq, Eq)]
enum Wake {
    Deleted,
    Shutdown,
}

async fn supervise(
    shared: Arc<Shared>,
    pod: Pod,
    mut updates: watch::Receiver<Option<Pod>>,
    info: Arc<Mutex<Option<RunPod>>>,
) {
    let mut facts = facts_of(&pod);
    let key = format!("{}/{}", facts.namespace, facts.name);
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), &facts.namespace);
    let patch_status = |value: serde_json::Value| {
        let api = api.clone();
        let key = key.clone();
        async move {
            if let Err(e) = api
                .patch_status(
                    key.split('/').nth(1).unwrap_or_default(),
                    &PatchParams::default(),
                    &Patch::Merge(value),
                )
                .await
            {
                tracing::debug!(pod = %key, error = %e, "writing pod status");
            }
        }
    };
    let mut shutdown = shared.shutdown.subscribe();
    let container0 = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first().cloned())
        .unwrap_or_default();
    let prepared = match prepare(&shared, &pod, &mut facts).await {
        Ok(p) => p,
        Err(message) => {
            tracing::warn!(pod = %key, %message, "the stand-in kubelet cannot run this pod");
            let state = State::Waiting {
                reason: "StandInKubeletError".into(),
                message,
            };
            patch_status(status_patch(
                &facts,
                &container0,
                &state,
                None,
                false,
                0,
                "Pending",
            ))
            .await;
            let wake = wait_for_end(&mut updates, &mut shutdown).await;
            finish(&shared, &api, &facts, wake).await;
            return;
        }
    };
    let log = log_path(&shared.options.work_dir, &facts.namespace, &facts.name);
    let c = &prepared.container;
    let mut restarts: u32 = 0;
    let mut last: Option<State> = None;
    let mut backoff = Duration::from_secs(1);
    loop {
        let started_at = now();
        let spawned = ManagedProcess::spawn(
            &key,
            &prepared.program,
            &prepared.args,
            &prepared.env,
            Some(&prepared.netns),
            &log,
        );
        let mut process = match spawned {
            Ok(p) => p,
            Err(e) => {
                let state = State::Waiting {
                    reason: "StartError".into(),
                    message: chain(&e),
                };
                patch_status(status_patch(
                    &facts, c, &state, None, false, restarts, "Pending",
                ))
                .await;
                let wake = wait_for_end(&mut updates, &mut shutdown).await;
                finish(&shared, &api, &facts, wake).await;
                return;
            }
        };
        let pid = process.pid();
        let running = State::Running {
            started_at: started_at.clone(),
        };
        let mut ready = prepared.readiness.is_none();
        *info.lock().unwrap_or_else(|e| e.into_inner()) = Some(RunPod {
            namespace: facts.namespace.clone(),
            name: facts.name.clone(),
            node: facts.node_name.clone(),
            netns: prepared.netns.clone(),
            ip: facts.pod_ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            pid,
            log: log.clone(),
            ready,
            restarts,
        });
        patch_status(status_patch(
            &facts,
            c,
            &running,
            last.as_ref(),
            ready,
            restarts,
            "Running",
        ))
        .await;

        // Probe and watch until the process exits, fails its liveness probe, or must stop.
        let t0 = Instant::now();
        let ip: IpAddr = facts.pod_ip.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let mut readiness_state = ProbeState::default();
        let mut liveness_state = ProbeState::default();
        let mut live = true;
        let mut next_readiness = t0
            + prepared
                .readiness
                .as_ref()
                .map_or(Duration::ZERO, |p| p.initial_delay);
        let mut next_liveness = t0
            + prepared
                .liveness
                .as_ref()
                .map_or(Duration::ZERO, |p| p.initial_delay);
        let ended: Option<Wake> = loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                r = updates.changed() => {
                    let gone = r.is_err() || updates.borrow().as_ref().is_none_or(|p| p.metadata.deletion_timestamp.is_some());
                    if gone { break Some(Wake::Deleted); }
                }
                _ = shutdown.changed() => break Some(Wake::Shutdown),
            }
            if process.exit_status().is_some() {
                break None;
            }
            let now_i = Instant::now();
            if let Some(p) = &prepared.readiness
                && now_i >= next_readiness
            {
                let ok = probe_once(
                    &prepared.netns,
                    SocketAddr::new(ip, p.port),
                    &p.path,
                    p.timeout,
                )
                .await;
                if let Some(flip) = readiness_state.record(p, ok, ready) {
                    ready = flip;
                    if let Some(i) = info.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                        i.ready = ready;
                    }
                    patch_status(status_patch(
                        &facts,
                        c,
                        &running,
                        last.as_ref(),
                        ready,
                        restarts,
                        "Running",
                    ))
                    .await;
                }
                // Every second until the first success, then at the probe's period.
                next_readiness = now_i
                    + if ready {
                        p.period
                    } else {
                        Duration::from_secs(1).min(p.period)
                    };
            }
            if let Some(p) = &prepared.liveness
                && now_i >= next_liveness
            {
                let ok = probe_once(
                    &prepared.netns,
                    SocketAddr::new(ip, p.port),
                    &p.path,
                    p.timeout,
                )
                .await;
                if let Some(flip) = liveness_state.record(p, ok, live) {
                    live = flip;
                }
                if !live {
                    tracing::warn!(pod = %key, "liveness probe failed; restarting");
                    break None;
                }
                next_liveness = now_i + p.period;
            }
        };
        if let Some(wake) = ended {
            let grace = match wake {
                Wake::Deleted => prepared.grace,
                Wake::Shutdown => prepared.grace.min(SHUTDOWN_GRACE),
            };
            stop_process(process, grace).await;
            finish(&shared, &api, &facts, wake).await;
            return;
        }
        // Exited (or killed for liveness): stop it for sure and decide on a restart.
        let status = process.exit_status();
        stop_process(process, Duration::from_secs(2)).await;
        let exit_code = status
            .and_then(|s| {
                use std::os::unix::process::ExitStatusExt;
                s.code().or_else(|| s.signal().map(|sig| 128 + sig))
            })
            .unwrap_or(137);
        let terminated = State::Terminated {
            exit_code,
            reason: if exit_code == 0 { "Completed" } else { "Error" }.into(),
        };
        let restart = match prepared.restart_policy.as_str() {
            "Never" => false,
            "OnFailure" => exit_code != 0,
            _ => true,
        };
        if !restart {
            let phase = if exit_code == 0 {
                "Succeeded"
            } else {
                "Failed"
            };
            patch_status(status_patch(
                &facts,
                c,
                &terminated,
                None,
                false,
                restarts,
                phase,
            ))
            .await;
            let wake = wait_for_end(&mut updates, &mut shutdown).await;
            finish(&shared, &api, &facts, wake).await;
            return;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        tracing::warn!(pod = %key, exit_code, ?backoff, "container exited; restarting");
        let waiting = State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: format!(
                "back-off {}s restarting the container (exit code {exit_code})",
                backoff.as_secs()
            ),
        };
        restarts += 1;
        patch_status(status_patch(
            &facts,
            c,
            &waiting,
            Some(&terminated),
            false,
            restarts,
            "Running",
        ))
        .await;
        last = Some(terminated);
        if let Some(wake) = back_off(backoff, &mut updates, &mut shutdown).await {
            finish(&shared, &api, &facts, wake).await;
            return;
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Waits out a restart backoff. Pod updates (our own status writes among them) do not cut it
/// short; a deletion or a shutdown does, and is returned.
async fn back_off(
    duration: Duration,
    updates: &mut watch::Receiver<Option<Pod>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Wake> {
    let until = tokio::time::Instant::now() + duration;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return None,
            r = updates.changed() => {
                let gone = r.is_err() || updates.borrow().as_ref().is_none_or(|p| p.metadata.deletion_timestamp.is_some());
                if gone { return Some(Wake::Deleted); }
            }
            _ = shutdown.changed() => return Some(Wake::Shutdown),
        }
    }
}

async fn stop_process(mut process: ManagedProcess, grace: Duration) {
    let _ = tokio::task::spawn_blocking(move || process.stop(grace)).await;
}

async fn wait_for_end(
    updates: &mut watch::Receiver<Option<Pod>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Wake {
    loop {
        tokio::select! {
            r = updates.changed() => {
                let gone = r.is_err() || updates.borrow().as_ref().is_none_or(|p| p.metadata.deletion_timestamp.is_some());
                if gone { return Wake::Deleted; }
            }
            _ = shutdown.changed() => return Wake::Shutdown,
        }
    }
}

/// After the process stopped: confirm a deletion (grace 0, as a kubelet does once its
/// containers are gone) and remove the pod's network.
async fn finish(shared: &Shared, api: &Api<Pod>, facts: &PodFacts, wake: Wake) {
    if matches!(wake, Wake::Deleted) {
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(kube::api::Preconditions {
                uid: Some(facts.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        if let Err(e) = api.delete(&facts.name, &params).await {
            tracing::debug!(pod = %facts.name, error = %e, "confirming pod deletion");
        }
    }
    match shared
        .cluster
        .remove_pod_netns(&facts.namespace, &facts.name)
    {
        Ok(_) => {}
        Err(e) => tracing::warn!(pod = %facts.name, error = %e, "removing the pod's network"),
    }
    // A pod netns is gone (its relay with it); a node's netns stays relayed.
    let pod_netns = format!(
        "{}{}-{}",
        shared.cluster.netns_prefix(),
        facts.namespace,
        facts.name
    );
    shared
        .relayed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&pod_netns);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Capabilities, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, ObjectFieldSelector,
    };

    #[tokio::test]
    async fn backoff_outlasts_pod_updates_but_not_a_deletion() {
        let pod = Pod::default();
        let (tx, mut updates) = watch::channel(Some(pod.clone()));
        let (_shutdown_tx, mut shutdown) = watch::channel(false);
        // Status writes come back as updates every 20 ms; a 500 ms backoff still lasts 500 ms.
        let writer = {
            let tx = tx.clone();
            let pod = pod.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let _ = tx.send(Some(pod.clone()));
                }
            })
        };
        let t0 = tokio::time::Instant::now();
        assert_eq!(
            back_off(Duration::from_secs(2), &mut updates, &mut shutdown).await,
            None
        );
        assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
        writer.abort();
        // A deletion ends it at once.
        let mut deleting = pod;
        deleting.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        let t1 = tokio::time::Instant::now();
        tx.send(Some(deleting)).unwrap();
        assert_eq!(
            back_off(Duration::from_secs(30), &mut updates, &mut shutdown).await,
            Some(Wake::Deleted)
        );
        assert!(t1.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn images_map_to_binaries() {
        let cases = [
            (
                "agent with tag",
                "ghcr.io/kube-verdict/verdict-agent:0.1.0",
                Some("verdict-agent"),
            ),
            (
                "operator, registry port",
                "localhost:5000/kube-verdict/verdict-operator:dev",
                Some("verdict-operator"),
            ),
            (
                "digest",
                "ghcr.io/kube-verdict/verdict-agent@sha256:abc",
                Some("verdict-agent"),
            ),
            ("bare name", "verdict-agent", Some("verdict-agent")),
            ("netns pod", crate::NETNS_POD_IMAGE, None),
            ("other image", "nginx:1.27", None),
            ("prefix only", "ghcr.io/x/verdict-agentx:1", None),
        ];
        for (name, image, want) in cases {
            assert_eq!(binary_for_image(image), want, "{name}");
        }
    }

    fn facts() -> PodFacts {
        PodFacts {
            namespace: "kube-verdict-system".into(),
            name: "verdict-agent-default-x1".into(),
            uid: "u-1".into(),
            node_name: "node-1".into(),
            service_account: "verdict-agent-default".into(),
            pod_ip: "10.250.0.11".into(),
            host_ip: "10.250.0.11".into(),
            labels: [("app".to_string(), "agent".to_string())].into(),
            annotations: BTreeMap::new(),
        }
    }

    fn field(name: &str, path: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: path.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn value(name: &str, v: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(v.into()),
            ..Default::default()
        }
    }

    #[test]
    fn env_resolves_the_downward_api() {
        type Case<'a> = (
            &'a str,
            Vec<EnvVar>,
            Result<Vec<(&'a str, &'a str)>, &'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                "node name",
                vec![field("NODE_NAME", "spec.nodeName")],
                Ok(vec![("NODE_NAME", "node-1")]),
            ),
            (
                "name and namespace",
                vec![
                    field("POD_NAME", "metadata.name"),
                    field("POD_NAMESPACE", "metadata.namespace"),
                ],
                Ok(vec![
                    ("POD_NAME", "verdict-agent-default-x1"),
                    ("POD_NAMESPACE", "kube-verdict-system"),
                ]),
            ),
            (
                "pod ip",
                vec![field("IP", "status.podIP")],
                Ok(vec![("IP", "10.250.0.11")]),
            ),
            (
                "label",
                vec![field("APP", "metadata.labels['app']")],
                Ok(vec![("APP", "agent")]),
            ),
            (
                "expansion of an earlier var",
                vec![
                    field("N", "spec.nodeName"),
                    value("WHERE", "on $(N), $$(N) stays, $(NOPE) too"),
                ],
                Ok(vec![
                    ("N", "node-1"),
                    ("WHERE", "on node-1, $(N) stays, $(NOPE) too"),
                ]),
            ),
            (
                "unknown field",
                vec![field("X", "spec.hostname")],
                Err("unsupported downward-API field"),
            ),
        ];
        for (name, env, want) in cases {
            let c = Container {
                env: Some(env),
                ..Default::default()
            };
            let got = resolve_env(&c, &facts());
            match want {
                Ok(want) => {
                    let want: Vec<(String, String)> = want
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    assert_eq!(got, Ok(want), "{name}");
                }
                Err(fragment) => {
                    let e = got.expect_err(name);
                    assert!(e.contains(fragment), "{name}: {e}");
                }
            }
        }
    }

    fn container(image: &str, command: Option<Vec<&str>>, args: Vec<&str>) -> Container {
        Container {
            image: Some(image.into()),
            command: command.map(|c| c.into_iter().map(String::from).collect()),
            args: Some(args.into_iter().map(String::from).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn command_lines_follow_the_container_spec() {
        let env = vec![("NODE_NAME".to_string(), "node-1".to_string())];
        let cases = [
            (
                "operator: image entrypoint, args",
                container(
                    "ghcr.io/kube-verdict/verdict-operator:0.1.0",
                    None,
                    vec!["--leader-elect=true"],
                ),
                Ok(("verdict-operator", vec!["--leader-elect=true"])),
            ),
            (
                "agent: command names the binary, args follow, expanded",
                container(
                    "ghcr.io/kube-verdict/verdict-agent:0.1.0",
                    Some(vec!["verdict-agent"]),
                    vec!["--node-name=$(NODE_NAME)"],
                ),
                Ok(("verdict-agent", vec!["--node-name=node-1"])),
            ),
            (
                "absolute command path, extra words",
                container(
                    "x/verdict-agent:1",
                    Some(vec!["/usr/local/bin/verdict-agent", "--a"]),
                    vec!["--b"],
                ),
                Ok(("verdict-agent", vec!["--a", "--b"])),
            ),
            (
                "command is not ours",
                container("x/verdict-agent:1", Some(vec!["sh", "-c"]), vec![]),
                Err("not a kube-verdict binary"),
            ),
            (
                "image is not ours",
                container("nginx", None, vec![]),
                Err("not runnable"),
            ),
        ];
        for (name, c, want) in cases {
            let got = command_line(&c, &env);
            match want {
                Ok((bin, args)) => {
                    let (b, a) = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(
                        (b, a.iter().map(String::as_str).collect::<Vec<_>>()),
                        (bin, args),
                        "{name}"
                    );
                }
                Err(fragment) => assert!(got.expect_err(name).contains(fragment), "{name}"),
            }
        }
    }

    #[test]
    fn security_context_maps_to_setpriv() {
        let caps = |drop: &[&str], add: &[&str]| Capabilities {
            drop: Some(drop.iter().map(|s| s.to_string()).collect()),
            add: Some(add.iter().map(|s| s.to_string()).collect()),
        };
        type Case<'a> = (
            &'a str,
            Option<PodSecurityContext>,
            Option<SecurityContext>,
            Vec<&'a str>,
        );
        let cases: [Case; 4] = [
            ("nothing", None, None, vec![]),
            (
                "operator: pod uid/gid, drop all, no escalation",
                Some(PodSecurityContext {
                    run_as_user: Some(65532),
                    run_as_group: Some(65532),
                    ..Default::default()
                }),
                Some(SecurityContext {
                    allow_privilege_escalation: Some(false),
                    capabilities: Some(caps(&["ALL"], &[])),
                    ..Default::default()
                }),
                vec![
                    "--bounding-set=-all",
                    "--inh-caps=-all",
                    "--regid=65532",
                    "--reuid=65532",
                    "--clear-groups",
                    "--no-new-privs",
                    "--pdeathsig=KILL",
                ],
            ),
            (
                "agent: root with NET_ADMIN only",
                None,
                Some(SecurityContext {
                    run_as_user: Some(0),
                    allow_privilege_escalation: Some(false),
                    capabilities: Some(caps(&["ALL"], &["NET_ADMIN", "CAP_NET_RAW"])),
                    ..Default::default()
                }),
                vec![
                    "--bounding-set=-all,+net_admin,+net_raw",
                    "--inh-caps=-all",
                    "--no-new-privs",
                    "--pdeathsig=KILL",
                ],
            ),
            (
                "container uid wins over the pod's",
                Some(PodSecurityContext {
                    run_as_user: Some(1),
                    ..Default::default()
                }),
                Some(SecurityContext {
                    run_as_user: Some(2),
                    ..Default::default()
                }),
                vec!["--reuid=2", "--clear-groups", "--pdeathsig=KILL"],
            ),
        ];
        for (name, pod, c, want) in cases {
            assert_eq!(setpriv_args(pod.as_ref(), c.as_ref()), want, "{name}");
        }
    }

    #[test]
    fn probes_resolve_named_ports_and_thresholds() {
        let c = Container {
            ports: Some(vec![ContainerPort {
                name: Some("metrics".into()),
                container_port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        };
        let probe = |port: IntOrString| Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/readyz".into()),
                port,
                ..Default::default()
            }),
            period_seconds: Some(5),
            failure_threshold: Some(2),
            ..Default::default()
        };
        let named = http_probe(&c, &probe(IntOrString::String("metrics".into()))).unwrap();
        assert_eq!(
            (named.port, named.path.as_str(), named.period),
            (8080, "/readyz", Duration::from_secs(5))
        );
        assert_eq!(
            http_probe(&c, &probe(IntOrString::Int(9091))).unwrap().port,
            9091
        );
        assert!(http_probe(&c, &probe(IntOrString::String("nope".into()))).is_err());
        assert!(
            http_probe(&c, &Probe::default())
                .unwrap_err()
                .contains("httpGet")
        );

        // Thresholds: ready after 1 success, unready after 2 consecutive failures.
        let mut s = ProbeState::default();
        let steps = [
            (false, false, None),
            (true, false, Some(true)),
            (false, true, None),
            (false, true, Some(false)),
        ];
        for (i, (ok, current, want)) in steps.into_iter().enumerate() {
            assert_eq!(s.record(&named, ok, current), want, "step {i}");
        }
    }

    #[test]
    fn status_reports_ready_only_while_running() {
        let c = container("x/verdict-agent:1", None, vec![]);
        let running = State::Running { started_at: now() };
        let waiting = State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: "m".into(),
        };
        let ready_of = |v: &serde_json::Value| {
            v["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "Ready")
                .unwrap()["status"]
                .clone()
        };
        let v = status_patch(&facts(), &c, &running, None, true, 0, "Running");
        assert_eq!(ready_of(&v), "True");
        assert_eq!(v["status"]["podIP"], "10.250.0.11");
        let v = status_patch(&facts(), &c, &waiting, Some(&running), true, 3, "Running");
        assert_eq!(ready_of(&v), "False");
        assert_eq!(v["status"]["containerStatuses"][0]["restartCount"], 3);
        assert!(v["status"]["containerStatuses"][0]["lastState"]["running"].is_object());
    }
}
