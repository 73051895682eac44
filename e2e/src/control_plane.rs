//! A secure single-node control plane: etcd, kube-apiserver, kube-controller-manager and
//! kube-scheduler on 127.0.0.1, each a [`ManagedProcess`] with its own log file.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::bins::{self, binary};
use crate::error::{Error, Result};
use crate::kwok::KwokOptions;
use crate::pki::{Ca, CertPair};
use crate::process::ManagedProcess;
use crate::stale::{StateFile, cleanup_stale};
use crate::{kubeconfig, new_run_id, work_root};

/// Controllers kube-controller-manager runs: enough for namespaces, garbage collection,
/// DaemonSets/Deployments/ReplicaSets, service accounts and their tokens, the root CA ConfigMap
/// and EndpointSlices. Node lifecycle and IPAM stay off: netns and kwok nodes manage themselves.
pub const CONTROLLERS: &[&str] = &[
    "namespace-controller",
    "garbage-collector-controller",
    "daemonset-controller",
    "replicaset-controller",
    "deployment-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "endpointslice-controller",
];

/// How to start a [`ControlPlane`]. `Default` gives what the tests use.
#[derive(Debug, Clone)]
pub struct ControlPlaneOptions {
    /// A short name for the work directory and messages (e.g. the test name).
    pub name: String,
    /// The service ClusterIP range. Must not overlap kwok's pod CIDR or the netns ranges.
    pub service_cidr: String,
    /// Start kube-controller-manager.
    pub controller_manager: bool,
    /// Start kube-scheduler (needed for DaemonSet and Deployment pods to get bound).
    pub scheduler: bool,
    /// Extra kube-apiserver flags (`--flag=value`).
    pub extra_apiserver_args: Vec<String>,
    /// Where the work directory goes; `None` means [`crate::work_root`].
    pub work_root: Option<PathBuf>,
    /// How long to wait for each component to become ready.
    pub ready_timeout: Duration,
}

impl Default for ControlPlaneOptions {
    fn default() -> Self {
        ControlPlaneOptions {
            name: "e2e".into(),
            service_cidr: "10.96.0.0/16".into(),
            controller_manager: true,
            scheduler: true,
            extra_apiserver_args: Vec::new(),
            work_root: None,
            ready_timeout: Duration::from_secs(90),
        }
    }
}

impl ControlPlaneOptions {
    /// Default options with a name (used in the work directory name).
    pub fn named(name: &str) -> Self {
        ControlPlaneOptions {
            name: name.to_string(),
            ..Default::default()
        }
    }
}

/// Ports chosen at start, kept across apiserver restarts.
#[derive(Debug, Clone, Copy)]
struct Ports {
    etcd_client: u16,
    etcd_peer: u16,
    apiserver: u16,
    controller_manager: u16,
    scheduler: u16,
}

pub(crate) fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("binding a free port on", "127.0.0.1", e))?;
    let port = l
        .local_addr()
        .map_err(|e| Error::io("reading free port", "127.0.0.1", e))?
        .port();
    Ok(port)
}

/// A running local control plane. See the crate docs for the guarantees of dropping it.
#[derive(Debug)]
pub struct ControlPlane {
    id: String,
    name: String,
    work_dir: PathBuf,
    ports: Ports,
    options: ControlPlaneOptions,
    ca: Ca,
    processes: Mutex<Vec<ManagedProcess>>,
    state: StateFile,
    started: Instant,
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| Error::io("writing", path, e))
}

fn write_pair(dir: &Path, stem: &str, pair: &CertPair) -> Result<(PathBuf, PathBuf)> {
    let cert = dir.join(format!("{stem}.crt"));
    let key = dir.join(format!("{stem}.key"));
    write(&cert, &pair.cert_pem)?;
    write(&key, &pair.key_pem)?;
    Ok((cert, key))
}

impl ControlPlane {
    /// Starts etcd, kube-apiserver, then (per options) kube-controller-manager and
    /// kube-scheduler, waits for `/readyz` and for the `default` ServiceAccount (proof the
    /// controller manager works), and writes the admin kubeconfig.
    ///
    /// # Errors
    /// A missing binary, a component exiting early (the error names its log), or a timeout.
    pub async fn start(options: ControlPlaneOptions) -> Result<ControlPlane> {
        let t0 = Instant::now();
        if let Err(e) = cleanup_stale() {
            tracing::warn!(error = %e, "stale cleanup failed");
        }
        let id = new_run_id();
        let root = options.work_root.clone().unwrap_or_else(work_root);
        let work_dir = root.join(format!("{}-{id}", options.name));
        for sub in ["pki", "logs", "etcd"] {
            let dir = work_dir.join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        }
        let state = StateFile::create(&id, Some(&work_dir))?;
        let ports = Ports {
            etcd_client: free_port()?,
            etcd_peer: free_port()?,
            apiserver: free_port()?,
            controller_manager: free_port()?,
            scheduler: free_port()?,
        };
        let ca = Ca::generate(&format!("kube-verdict-e2e-ca-{id}"))?;
        let cp = ControlPlane {
            id,
            name: options.name.clone(),
            work_dir,
            ports,
            options,
            ca,
            processes: Mutex::new(Vec::new()),
            state,
            started: t0,
        };
        cp.write_pki()?;
        cp.start_etcd().await?;
        cp.start_apiserver().await?;
        cp.write_kubeconfig("admin", &["system:masters"], "admin.kubeconfig")?;
        if cp.options.controller_manager {
            cp.write_kubeconfig(
                "system:kube-controller-manager",
                &[],
                "controller-manager.kubeconfig",
            )?;
            cp.start_controller_manager()?;
        }
        if cp.options.scheduler {
            cp.write_kubeconfig("system:kube-scheduler", &[], "scheduler.kubeconfig")?;
            cp.start_scheduler()?;
        }
        if cp.options.controller_manager {
            cp.wait_for_default_service_account().await?;
        }
        eprintln!(
            "[e2e] control plane {} ready in {:.1}s: KUBECONFIG={}",
            cp.id,
            t0.elapsed().as_secs_f64(),
            cp.kubeconfig().display()
        );
        Ok(cp)
    }

    fn pki_dir(&self) -> PathBuf {
        self.work_dir.join("pki")
    }

    fn write_pki(&self) -> Result<()> {
        let dir = self.pki_dir();
        write(&dir.join("ca.crt"), &self.ca.pair.cert_pem)?;
        write(&dir.join("ca.key"), &self.ca.pair.key_pem)?;
        let serving = self.ca.serving(
            "kube-apiserver",
            &[
                "127.0.0.1",
                "localhost",
                "10.96.0.1",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
        )?;
        write_pair(&dir, "apiserver", &serving)?;
        // The front-proxy (request-header) CA: without it every component logs a missing
        // requestheader CA bundle, and aggregated APIs could not be added later.
        let front_proxy = Ca::generate(&format!("kube-verdict-e2e-front-proxy-ca-{}", self.id))?;
        write(&dir.join("front-proxy-ca.crt"), &front_proxy.pair.cert_pem)?;
        write_pair(
            &dir,
            "front-proxy-client",
            &front_proxy.client("front-proxy-client", &[])?,
        )?;
        let (sa_private, sa_public) = crate::pki::service_account_keys()?;
        write(&dir.join("sa.key"), &sa_private)?;
        write(&dir.join("sa.pub"), &sa_public)?;
        Ok(())
    }

    fn spawn(&self, name: &str, args: Vec<String>) -> Result<()> {
        let program = binary(name)?;
        let log = self.logs_dir().join(format!("{name}.log"));
        let process = ManagedProcess::spawn(name, &program, &args, &[], None, &log)?;
        if let Some(pid) = process.pid() {
            self.state.add_pid(pid)?;
        }
        self.processes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(process);
        Ok(())
    }

    /// Fails if the named component has exited.
    fn check_running(&self, name: &str) -> Result<()> {
        let mut processes = self.processes.lock().unwrap_or_else(|e| e.into_inner());
        match processes.iter_mut().find(|p| p.name() == name) {
            Some(p) => p.check_running(),
            None => Err(Error::Invalid(format!("{name} is not running"))),
        }
    }

    async fn start_etcd(&self) -> Result<()> {
        let t0 = Instant::now();
        let p = self.ports;
        let client = format!("http://127.0.0.1:{}", p.etcd_client);
        let peer = format!("http://127.0.0.1:{}", p.etcd_peer);
        self.spawn(
            "etcd",
            vec![
                "--name=default".into(),
                format!("--data-dir={}", self.work_dir.join("etcd").display()),
                format!("--listen-client-urls={client}"),
                format!("--advertise-client-urls={client}"),
                format!("--listen-peer-urls={peer}"),
                format!("--initial-advertise-peer-urls={peer}"),
                format!("--initial-cluster=default={peer}"),
                "--unsafe-no-fsync".into(),
                "--log-level=warn".into(),
            ],
        )?;
        // etcd serves /health on the client URL once it has a leader.
        let deadline = Instant::now() + self.options.ready_timeout;
        loop {
            self.check_running("etcd")?;
            if let Ok(body) = http_get_plain("127.0.0.1", p.etcd_client, "/health").await
                && body.contains("\"health\":\"true\"")
            {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: "etcd /health".into(),
                    seconds: t0.elapsed().as_secs_f64(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("[e2e] etcd ready in {:.1}s", t0.elapsed().as_secs_f64());
        Ok(())
    }

    fn apiserver_args(&self) -> Vec<String> {
        let pki = self.pki_dir();
        let f = |name: &str| pki.join(name).display().to_string();
        let mut args = vec![
            format!("--etcd-servers=http://127.0.0.1:{}", self.ports.etcd_client),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={}", self.ports.apiserver),
            format!("--cert-dir={}", pki.display()),
            format!("--tls-cert-file={}", f("apiserver.crt")),
            format!("--tls-private-key-file={}", f("apiserver.key")),
            format!("--client-ca-file={}", f("ca.crt")),
            "--authorization-mode=RBAC".into(),
            format!("--requestheader-client-ca-file={}", f("front-proxy-ca.crt")),
            "--requestheader-allowed-names=front-proxy-client".into(),
            "--requestheader-username-headers=X-Remote-User".into(),
            "--requestheader-group-headers=X-Remote-Group".into(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
            format!("--proxy-client-cert-file={}", f("front-proxy-client.crt")),
            format!("--proxy-client-key-file={}", f("front-proxy-client.key")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", f("sa.pub")),
            format!("--service-account-signing-key-file={}", f("sa.key")),
            format!("--service-cluster-ip-range={}", self.options.service_cidr),
            "--endpoint-reconciler-type=none".into(),
            "--allow-privileged=true".into(),
            "--profiling=false".into(),
        ];
        args.extend(self.options.extra_apiserver_args.iter().cloned());
        args
    }

    /// Starts kube-apiserver (again, after [`ControlPlane::stop_apiserver`]) on the same port
    /// with the same etcd data, and waits for `/readyz`.
    pub async fn start_apiserver(&self) -> Result<()> {
        let t0 = Instant::now();
        self.spawn("kube-apiserver", self.apiserver_args())?;
        self.wait_readyz(t0).await?;
        eprintln!(
            "[e2e] kube-apiserver ready in {:.1}s",
            t0.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Stops kube-apiserver (SIGTERM, then SIGKILL after 2 s), leaving etcd and the other components
    /// running, for outage tests. Clients see connection refused until
    /// [`ControlPlane::start_apiserver`].
    pub fn stop_apiserver(&self) {
        let t0 = Instant::now();
        let mut processes = self.processes.lock().unwrap_or_else(|e| e.into_inner());
        for p in processes
            .iter_mut()
            .filter(|p| p.name() == "kube-apiserver")
        {
            if let Some(pid) = p.pid() {
                self.state.remove_pid(pid);
            }
            // Open watches (controller manager, scheduler, agents) hold a graceful shutdown for
            // 10 s or more; an outage test wants the outage now, so the grace is short.
            p.stop(Duration::from_secs(2));
        }
        processes.retain(|p| p.name() != "kube-apiserver");
        eprintln!(
            "[e2e] kube-apiserver stopped in {:.1}s",
            t0.elapsed().as_secs_f64()
        );
    }

    async fn wait_readyz(&self, t0: Instant) -> Result<()> {
        // The admin client needs the kubeconfig; write it before the first readiness check.
        self.write_kubeconfig("admin", &["system:masters"], "admin.kubeconfig")?;
        let deadline = t0 + self.options.ready_timeout;
        let mut last = String::new();
        loop {
            self.check_running("kube-apiserver")?;
            if let Ok(client) = self.client().await {
                let req = http_request("/readyz");
                match client.request_text(req).await {
                    Ok(body) if body.trim() == "ok" => return Ok(()),
                    Ok(body) => last = body,
                    Err(e) => last = e.to_string(),
                }
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: format!("kube-apiserver /readyz (last answer: {last})"),
                    seconds: t0.elapsed().as_secs_f64(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn start_controller_manager(&self) -> Result<()> {
        let pki = self.pki_dir();
        let kubeconfig = self
            .work_dir
            .join("controller-manager.kubeconfig")
            .display()
            .to_string();
        self.spawn(
            "kube-controller-manager",
            vec![
                format!("--kubeconfig={kubeconfig}"),
                format!("--authentication-kubeconfig={kubeconfig}"),
                format!("--authorization-kubeconfig={kubeconfig}"),
                format!("--controllers={}", CONTROLLERS.join(",")),
                format!(
                    "--service-account-private-key-file={}",
                    pki.join("sa.key").display()
                ),
                format!("--root-ca-file={}", pki.join("ca.crt").display()),
                "--use-service-account-credentials=true".into(),
                "--leader-elect=false".into(),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={}", self.ports.controller_manager),
                format!("--cert-dir={}", pki.join("controller-manager").display()),
                format!("--service-cluster-ip-range={}", self.options.service_cidr),
            ],
        )
    }

    fn start_scheduler(&self) -> Result<()> {
        let pki = self.pki_dir();
        let kubeconfig = self
            .work_dir
            .join("scheduler.kubeconfig")
            .display()
            .to_string();
        self.spawn(
            "kube-scheduler",
            vec![
                format!("--kubeconfig={kubeconfig}"),
                format!("--authentication-kubeconfig={kubeconfig}"),
                format!("--authorization-kubeconfig={kubeconfig}"),
                "--leader-elect=false".into(),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={}", self.ports.scheduler),
                format!("--cert-dir={}", pki.join("scheduler").display()),
            ],
        )
    }

    async fn wait_for_default_service_account(&self) -> Result<()> {
        let t0 = Instant::now();
        let api: Api<ServiceAccount> = Api::namespaced(self.client().await?, "default");
        let deadline = t0 + self.options.ready_timeout;
        loop {
            self.check_running("kube-controller-manager")?;
            if self.options.scheduler {
                self.check_running("kube-scheduler")?;
            }
            if matches!(api.get_opt("default").await, Ok(Some(_))) {
                eprintln!(
                    "[e2e] controller manager ready in {:.1}s",
                    t0.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: "the default ServiceAccount (kube-controller-manager)".into(),
                    seconds: t0.elapsed().as_secs_f64(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Writes a kubeconfig for a client-cert identity `user` in `groups` into the work directory
    /// and returns its path. The cert is signed by the cluster CA, so the apiserver's x509
    /// authenticator accepts it (RBAC then decides what it may do).
    pub fn write_kubeconfig(
        &self,
        user: &str,
        groups: &[&str],
        file_name: &str,
    ) -> Result<PathBuf> {
        let stem = user.replace(':', "-");
        let pair = self.ca.client(user, groups)?;
        let (cert, key) = write_pair(&self.pki_dir(), &format!("client-{stem}"), &pair)?;
        let text = kubeconfig::render(
            &self.server_url(),
            &self.pki_dir().join("ca.crt"),
            &stem,
            Some((&cert, &key)),
        );
        let path = self.work_dir.join(file_name);
        write(&path, &text)?;
        Ok(path)
    }

    /// A kubeconfig with no credentials at all (requests are `system:anonymous`).
    pub fn anonymous_kubeconfig(&self) -> Result<PathBuf> {
        let text = kubeconfig::render(
            &self.server_url(),
            &self.pki_dir().join("ca.crt"),
            "anonymous",
            None,
        );
        let path = self.work_dir.join("anonymous.kubeconfig");
        write(&path, &text)?;
        Ok(path)
    }

    /// The admin (`system:masters`) kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.work_dir.join("admin.kubeconfig")
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports.apiserver)
    }

    /// The apiserver's port on 127.0.0.1 (see [`crate::NetnsCluster::forward_loopback_port`]).
    pub fn apiserver_port(&self) -> u16 {
        self.ports.apiserver
    }

    /// The CA certificate file clients must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.pki_dir().join("ca.crt")
    }

    /// An admin client.
    pub async fn client(&self) -> Result<kube::Client> {
        client_from(&self.kubeconfig(), "admin").await
    }

    /// A client for a given client-cert identity (see [`ControlPlane::write_kubeconfig`]).
    pub async fn client_as(&self, user: &str, groups: &[&str]) -> Result<kube::Client> {
        let file = format!("user-{}.kubeconfig", user.replace(':', "-"));
        let path = self.write_kubeconfig(user, groups, &file)?;
        client_from(&path, user).await
    }

    /// A client with no credentials.
    pub async fn anonymous_client(&self) -> Result<kube::Client> {
        client_from(&self.anonymous_kubeconfig()?, "anonymous").await
    }

    /// `kubectl` with `KUBECONFIG` set to the admin kubeconfig. Add args and run it.
    pub fn kubectl(&self) -> Command {
        let program = bins::bin_dir().join("kubectl");
        let mut cmd = Command::new(program);
        cmd.env("KUBECONFIG", self.kubeconfig());
        cmd
    }

    /// Runs `kubectl args...` (off the async runtime's workers) and returns stdout; fails with
    /// stderr on a non-zero exit.
    pub async fn kubectl_run(&self, args: &[&str]) -> Result<String> {
        let mut cmd = tokio::process::Command::from(self.kubectl());
        cmd.args(args);
        let out = cmd.output().await.map_err(|source| Error::Spawn {
            program: "kubectl".into(),
            source,
        })?;
        if !out.status.success() {
            return Err(Error::Command {
                command: format!("kubectl {}", args.join(" ")),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The run id (4 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The work directory (certs, kubeconfigs, etcd data, logs).
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// The directory holding one `<component>.log` per process.
    pub fn logs_dir(&self) -> PathBuf {
        self.work_dir.join("logs")
    }

    /// Pids of every running component, by name (for leak checks).
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.processes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|p| Some((p.name().to_string(), p.pid()?)))
            .collect()
    }

    /// Starts kwok managing nodes annotated [`crate::KWOK_NODE_ANNOTATION`].
    pub async fn start_kwok(&self, options: KwokOptions) -> Result<()> {
        let kubeconfig = self.write_kubeconfig("kwok", &["system:masters"], "kwok.kubeconfig")?;
        let args = crate::kwok::args(&options, &kubeconfig)?;
        self.spawn("kwok", args)?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.check_running("kwok")
    }

    /// Creates `count` kwok nodes named `<prefix>-0..` (kwok marks them Ready) and returns their
    /// names. Requires [`ControlPlane::start_kwok`].
    pub async fn create_kwok_nodes(&self, prefix: &str, count: usize) -> Result<Vec<String>> {
        crate::kwok::create_nodes(&self.client().await?, prefix, count).await
    }

    /// Creates `count` pods `<prefix>-0..` in `namespace` (which must exist), bound round-robin
    /// to `nodes` (kwok nodes), so scale tests skip the scheduler. kwok marks them Running with
    /// IPs from its CIDR. Returns their names.
    pub async fn create_kwok_pods(
        &self,
        namespace: &str,
        prefix: &str,
        count: usize,
        nodes: &[String],
        labels: &[(&str, &str)],
    ) -> Result<Vec<String>> {
        crate::kwok::create_pods(
            &self.client().await?,
            namespace,
            prefix,
            count,
            nodes,
            labels,
        )
        .await
    }

    /// Installs CRDs from YAML files (`kubectl apply --server-side`) and waits until each is
    /// Established.
    pub async fn install_crds(&self, paths: &[PathBuf]) -> Result<()> {
        crate::crds::install(self, paths).await
    }

    /// Installs kube-verdict's CRDs (`manifests/crds/`, if present) and the upstream
    /// AdminNetworkPolicy/BaselineAdminNetworkPolicy CRDs from the Go module cache. Where
    /// `manifests/crds/` carries a copy of an upstream file, the module cache's original wins.
    pub async fn install_project_crds(&self) -> Result<()> {
        let upstream = bins::upstream_crd_paths()?;
        let mut paths: Vec<PathBuf> = bins::project_crd_paths()
            .into_iter()
            .filter(|p| !upstream.iter().any(|u| u.file_name() == p.file_name()))
            .collect();
        paths.extend(upstream);
        self.install_crds(&paths).await
    }

    /// Stops everything now (what drop does).
    pub fn stop(self) {}
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let mut processes =
            std::mem::take(&mut *self.processes.lock().unwrap_or_else(|e| e.into_inner()));
        // Reverse start order: clients first, etcd last.
        while let Some(mut p) = processes.pop() {
            p.stop(Duration::from_secs(5));
        }
        let failed = std::thread::panicking();
        if failed || crate::keep_requested() {
            eprintln!(
                "[e2e] control plane {} ({}) {}; logs kept in {}:",
                self.id,
                self.name,
                if failed {
                    "torn down after a failure"
                } else {
                    "torn down"
                },
                self.logs_dir().display()
            );
            for entry in std::fs::read_dir(self.logs_dir())
                .into_iter()
                .flatten()
                .flatten()
            {
                eprintln!("[e2e]   {}", entry.path().display());
            }
            let _ = std::fs::remove_dir_all(self.work_dir.join("etcd"));
        } else {
            let _ = std::fs::remove_dir_all(&self.work_dir);
            eprintln!(
                "[e2e] control plane {} stopped after {:.1}s",
                self.id,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

pub(crate) async fn client_from(path: &Path, user: &str) -> Result<kube::Client> {
    let err = |source| Error::ClientConfig {
        user: user.to_string(),
        source,
    };
    let kc = Kubeconfig::read_from(path).map_err(|e| err(kube::Error::InferKubeconfig(e)))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| err(kube::Error::InferKubeconfig(e)))?;
    kube::Client::try_from(config).map_err(err)
}

fn http_request(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path)
        .body(Vec::new())
        .expect("a GET request with a static path is valid")
}

/// A minimal HTTP/1.0 GET over plain TCP (etcd's client port in tests has no TLS).
async fn http_get_plain(host: &str, port: u16, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await?;
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut body))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    Ok(body)
}
