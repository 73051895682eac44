//! The operator against a real control plane (kube-apiserver, controller manager, scheduler) with
//! kwok nodes. Runs when `VERDICT_E2E` is set; skips, saying why, otherwise.
//!
//! One control plane is shared by the phases below (starting one costs tens of seconds on the
//! project's 2-core machines); each phase says what it proves.
//!
//! The operator runs as a local process (the real binary, pointed at a kubeconfig), authenticated
//! as its ServiceAccount, so it has exactly the RBAC that `manifests/install.yaml` grants.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use support::*;
use verdict_crds::NetworkPolicyEnforcer;
use verdict_e2e::ControlPlane;

const T: Duration = Duration::from_secs(90);

struct Operator {
    child: tokio::process::Child,
    metrics_port: u16,
    log: PathBuf,
}

impl Operator {
    fn spawn(kubeconfig: &Path, identity: &str, log: PathBuf, extra: &[String]) -> Operator {
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let file = std::fs::File::create(&log).expect("operator log");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_verdict-operator"))
            .args([
                format!("--kubeconfig={}", kubeconfig.display()),
                format!("--namespace={NS}"),
                format!("--metrics-addr=127.0.0.1:{metrics_port}"),
                format!("--identity={identity}"),
                "--log-level=info,verdict_operator=debug".to_owned(),
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("start verdict-operator");
        Operator {
            child,
            metrics_port,
            log,
        }
    }

    /// GET /metrics (None while the server is not up).
    fn metrics(&self) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.metrics_port)).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    fn is_leader(&self) -> bool {
        self.metrics()
            .is_some_and(|m| m.lines().any(|l| l.trim() == "verdict_operator_leader 1"))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn terminate(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

async fn kubectl_err(cp: &ControlPlane, args: &[&str]) -> String {
    match cp.kubectl_run(args).await {
        Ok(out) => panic!(
            "kubectl {} should have failed, printed: {out}",
            args.join(" ")
        ),
        Err(e) => e.to_string(),
    }
}

async fn can_i(
    cp: &ControlPlane,
    user: &str,
    verb: &str,
    resource: &str,
    ns: Option<&str>,
) -> bool {
    let mut cmd = tokio::process::Command::from(cp.kubectl());
    cmd.args(["auth", "can-i", verb, &format!("--as={user}")]);
    match resource.split_once('/') {
        Some((res, sub)) => cmd.args([res, &format!("--subresource={sub}")]),
        None => cmd.arg(resource),
    };
    match ns {
        Some(ns) => cmd.args(["-n", ns]),
        None => cmd.arg("--all-namespaces"),
    };
    let out = cmd.output().await.expect("kubectl auth can-i");
    String::from_utf8_lossy(&out.stdout).trim() == "yes"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_end_to_end() {
    verdict_e2e::skip_unless_e2e!();
    let (cp, nodes) = control_plane("operator", 3).await;
    let client = cp.client().await.expect("admin client");
    let logs = cp.logs_dir();

    // 1. Without the CRD the operator refuses to start and says what to do.
    {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_verdict-operator"))
            .args([
                format!("--kubeconfig={}", cp.kubeconfig().display()),
                "--leader-elect=false".to_owned(),
                "--metrics-addr=127.0.0.1:0".to_owned(),
            ])
            .output()
            .await
            .expect("run verdict-operator");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "operator started without its CRD: {stderr}"
        );
        assert!(
            stderr.contains("CRD (networkpolicyenforcers.verdict.dev) is not installed")
                && stderr.contains("kubectl apply -f manifests/install.yaml"),
            "unhelpful message: {stderr}"
        );
    }

    // 2. kubectl apply -f manifests/install.yaml works; its Deployment is valid and schedules
    //    (kwok nodes "run" its pods; there is no image to run them for real).
    let applied = apply_install(&cp).await;
    for needle in [
        "customresourcedefinition.apiextensions.k8s.io/networkpolicyenforcers.verdict.dev",
        "namespace/kube-verdict-system",
        "deployment.apps/verdict-operator",
    ] {
        assert!(
            applied.contains(needle),
            "install.yaml did not create {needle}: {applied}"
        );
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    wait_for("operator Deployment 2/2 available on kwok nodes", T, || {
        let deployments = deployments.clone();
        async move {
            let d = deployments
                .get("verdict-operator")
                .await
                .map_err(|e| e.to_string())?;
            let available = d
                .status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0);
            if available == 2 {
                Ok(())
            } else {
                Err(format!("{:?}", d.status))
            }
        }
    })
    .await;
    // Scale it to zero so that only the operator under test acts (kwok pods do nothing, but
    // this keeps the picture clean).
    cp.kubectl_run(&[
        "-n",
        NS,
        "scale",
        "deployment/verdict-operator",
        "--replicas=0",
    ])
    .await
    .expect("scale the manifest's Deployment down");

    // 3. The operator's RBAC allows exactly what it needs.
    let op = OPERATOR_USER;
    let allowed = [
        ("list", "networkpolicyenforcers.verdict.dev", None),
        ("patch", "networkpolicyenforcers.verdict.dev/status", None),
        ("create", "daemonsets.apps", Some(NS)),
        ("delete", "daemonsets.apps", Some(NS)),
        ("patch", "services", Some(NS)),
        ("patch", "serviceaccounts", Some(NS)),
        ("create", "clusterroles.rbac.authorization.k8s.io", None),
        (
            "patch",
            "clusterrolebindings.rbac.authorization.k8s.io",
            None,
        ),
        ("create", "events.events.k8s.io", Some("default")),
        ("create", "leases.coordination.k8s.io", Some(NS)),
        ("list", "pods", None),
    ];
    let denied = [
        ("get", "secrets", Some(NS)),
        ("list", "secrets", None),
        ("create", "daemonsets.apps", Some("default")),
        ("delete", "clusterroles.rbac.authorization.k8s.io", None),
        ("create", "pods", Some(NS)),
        ("delete", "networkpolicyenforcers.verdict.dev", None),
        ("escalate", "clusterroles.rbac.authorization.k8s.io", None),
        ("update", "configmaps", Some(NS)),
    ];
    for (verb, res, ns) in allowed {
        assert!(
            can_i(&cp, op, verb, res, ns).await,
            "operator should be allowed to {verb} {res} in {ns:?}"
        );
    }
    for (verb, res, ns) in denied {
        assert!(
            !can_i(&cp, op, verb, res, ns).await,
            "operator must not {verb} {res} in {ns:?}"
        );
    }

    // 4. The operator (as its ServiceAccount) turns the sample into a DaemonSet whose pods land on
    //    the 3 kwok nodes, and the status reaches Ready 3/3.
    let kubeconfig = operator_kubeconfig(&cp);
    // Replica A traces its reconciles to a real Jaeger.
    let jaeger = verdict_e2e::Jaeger::start().await.expect("jaeger");
    let first = Operator::spawn(
        &kubeconfig,
        "replica-a",
        logs.join("operator-a.log"),
        &[format!("--otlp-endpoint={}", jaeger.otlp_grpc_endpoint())],
    );
    wait_for("replica-a leads", T, || async {
        if first.is_leader() {
            Ok(())
        } else {
            Err(first.log_text())
        }
    })
    .await;
    let sample = root().join("manifests/samples/enforcer.yaml");
    cp.kubectl_run(&["apply", "-f", sample.to_str().unwrap()])
        .await
        .expect("apply sample");
    let npe = wait_ready(&client, "default", 3, T).await;
    // The reconciles of that rollout are spans in Jaeger (the batch exporter sends every 5 s).
    wait_for("reconcile spans in Jaeger", T, || async {
        let traces = jaeger
            .traces("verdict-operator")
            .await
            .map_err(|e| e.to_string())?;
        let reconcile = traces.iter().any(|t| {
            t["spans"].as_array().is_some_and(|spans| {
                spans.iter().any(|s| {
                    s["operationName"] == "reconcile"
                        && s["tags"].as_array().is_some_and(|tags| {
                            tags.iter()
                                .any(|t| t["key"] == "enforcer" && t["value"] == "default")
                        })
                })
            })
        });
        if reconcile {
            Ok(())
        } else {
            Err(format!(
                "{} traces, none with a reconcile span of enforcer default",
                traces.len()
            ))
        }
    })
    .await;
    assert_eq!(
        npe.status.as_ref().unwrap().agent_image.as_deref(),
        Some("ghcr.io/kube-verdict/verdict-agent:0.1.0")
    );
    let pods = agent_pods(&client, "default").await;
    let bound: BTreeSet<String> = pods
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    assert_eq!(
        bound,
        nodes.iter().cloned().collect::<BTreeSet<_>>(),
        "one agent per kwok node"
    );
    assert_eq!(pods.len(), 3, "never two agents on one node");
    let table = cp
        .kubectl_run(&["get", "npe"])
        .await
        .expect("kubectl get npe");
    let row = table
        .lines()
        .find(|l| l.starts_with("default"))
        .unwrap_or_default();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cols[..4],
        ["default", "True", "3", "3"],
        "kubectl get npe:\n{table}"
    );
    assert!(
        table.lines().next().unwrap().contains("READY NODES"),
        "{table}"
    );

    // 5. The agent's RBAC: read what it indexes, nothing else.
    let agent = "system:serviceaccount:kube-verdict-system:verdict-agent-default";
    for (verb, res) in [
        ("watch", "pods"),
        ("list", "namespaces"),
        ("get", "nodes"),
        ("watch", "networkpolicies.networking.k8s.io"),
        ("list", "adminnetworkpolicies.policy.networking.k8s.io"),
        (
            "watch",
            "baselineadminnetworkpolicies.policy.networking.k8s.io",
        ),
        ("watch", "clusternetworkpolicies.policy.networking.k8s.io"),
    ] {
        assert!(
            can_i(&cp, agent, verb, res, None).await,
            "agent should {verb} {res}"
        );
    }
    for (verb, res) in [
        ("get", "secrets"),
        ("list", "configmaps"),
        ("create", "pods"),
        ("patch", "nodes"),
        ("delete", "networkpolicies.networking.k8s.io"),
        ("list", "networkpolicyenforcers.verdict.dev"),
    ] {
        assert!(
            !can_i(&cp, agent, verb, res, None).await,
            "agent must not {verb} {res}"
        );
    }

    // 6. A spec change rolls the agents: Progressing until every node runs the new template,
    //    then Ready again at the new generation.
    let npes: Api<NetworkPolicyEnforcer> = Api::all(client.clone());
    let before = daemon_set(&client, "default").await.unwrap();
    npes.patch(
        "default",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"enforcement": {"strictMode": true}}})),
    )
    .await
    .expect("change the spec");
    let saw_progressing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let npe = wait_for("rollout of generation 2", T, || {
        let npes = npes.clone();
        let saw = saw_progressing.clone();
        async move {
            let npe = npes.get("default").await.map_err(|e| e.to_string())?;
            let s = npe.status.clone().unwrap_or_default();
            if s.observed_generation == Some(2)
                && condition(&npe, "Progressing").is_some_and(|c| c.0 == "True")
            {
                saw.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            let ready = condition(&npe, "Ready").is_some_and(|c| c.0 == "True");
            if ready
                && s.observed_generation == Some(2)
                && s.updated_nodes == 3
                && s.ready_nodes == 3
            {
                Ok(npe)
            } else {
                Err(describe(&npe))
            }
        }
    })
    .await;
    assert!(
        saw_progressing.load(std::sync::atomic::Ordering::Relaxed),
        "status never showed Progressing during the rollout: {}",
        describe(&npe)
    );
    let after = daemon_set(&client, "default").await.unwrap();
    assert!(after.metadata.generation > before.metadata.generation);
    let args = after
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .args
        .clone()
        .unwrap();
    assert!(args.contains(&"--strict-mode=true".to_owned()), "{args:?}");
    let events = cp
        .kubectl_run(&[
            "get",
            "events.events.k8s.io",
            "-n",
            "default",
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .await
        .expect("events");
    for reason in ["Created", "RolledOut", "RollingOut"] {
        assert!(events.contains(reason), "no {reason} Event in: {events}");
    }

    // 7. An invalid enforcer is rejected by kubectl apply, with messages that say why.
    let invalid = root().join("manifests/samples/invalid-enforcer.yaml");
    let err = kubectl_err(&cp, &["apply", "-f", invalid.to_str().unwrap()]).await;
    for needle in [
        "policies: enable at least one of networkPolicy, adminNetworkPolicy, baselineAdminNetworkPolicy",
        "queues.base + queues.count must be at most 65536",
    ] {
        assert!(err.contains(needle), "rejection lacks {needle:?}: {err}");
    }
    let bad_objects = [
        (
            r#"{"apiVersion":"verdict.dev/v1alpha1","kind":"NetworkPolicyEnforcer","metadata":{"name":"bad-queues"},"spec":{"enforcement":{"queues":{"count":17}}}}"#,
            "should be less than or equal to 16",
        ),
        (
            r#"{"apiVersion":"verdict.dev/v1alpha1","kind":"NetworkPolicyEnforcer","metadata":{"name":"bad-port"},"spec":{"dashboard":{"enabled":true,"port":9091}}}"#,
            "dashboard.port must not be 9090 or 9091",
        ),
        (
            r#"{"apiVersion":"verdict.dev/v1alpha1","kind":"NetworkPolicyEnforcer","metadata":{"name":"bad-otlp"},"spec":{"tracing":{"otlpEndpoint":"jaeger:4317"}}}"#,
            "tracing.otlpEndpoint must be an http:// or https:// URL",
        ),
        (
            r#"{"apiVersion":"verdict.dev/v1alpha1","kind":"NetworkPolicyEnforcer","metadata":{"name":"bad-rate"},"spec":{"tracing":{"allowSampleRate":1.5}}}"#,
            "should be less than or equal to 1",
        ),
        (
            r#"{"apiVersion":"verdict.dev/v1alpha1","kind":"NetworkPolicyEnforcer","metadata":{"name":"this-name-is-much-too-long-for-an-enforcer-object"},"spec":{}}"#,
            "metadata.name must be at most 40 characters",
        ),
        (
            r#"{"apiVersion":"verdict.dev/v1alpha1","kind":"NetworkPolicyEnforcer","metadata":{"name":"bad-pull"},"spec":{"agent":{"imagePullPolicy":"Sometimes"}}}"#,
            "Unsupported value: \"Sometimes\"",
        ),
    ];
    for (i, (json, needle)) in bad_objects.iter().enumerate() {
        let path = cp.work_dir().join(format!("invalid-{i}.json"));
        std::fs::write(&path, json).unwrap();
        let err = kubectl_err(&cp, &["apply", "-f", path.to_str().unwrap()]).await;
        assert!(
            err.contains(needle),
            "rejection of {json} lacks {needle:?}: {err}"
        );
    }

    // 8. Two enforcers whose node selectors overlap: the newer one is Degraded/Conflict, names
    //    the other, and runs no agents.
    let edge = cp.work_dir().join("edge.yaml");
    std::fs::write(
        &edge,
        "apiVersion: verdict.dev/v1alpha1\nkind: NetworkPolicyEnforcer\nmetadata:\n  name: edge\nspec:\n  nodeSelector:\n    type: kwok\n",
    )
    .unwrap();
    cp.kubectl_run(&["apply", "-f", edge.to_str().unwrap()])
        .await
        .expect("apply edge");
    let npe = wait_for("edge Degraded/Conflict", T, || {
        let npes = npes.clone();
        async move {
            let npe = npes.get("edge").await.map_err(|e| e.to_string())?;
            match condition(&npe, "Degraded") {
                Some((s, r, _)) if s == "True" && r == "Conflict" => Ok(npe),
                _ => Err(describe(&npe)),
            }
        }
    })
    .await;
    let (_, _, message) = condition(&npe, "Degraded").unwrap();
    assert!(
        message.contains("\"default\""),
        "conflict message does not name the other: {message}"
    );
    assert!(
        daemon_set(&client, "edge").await.is_none(),
        "a conflicting enforcer got a DaemonSet"
    );
    assert_eq!(agent_pods(&client, "edge").await.len(), 0);

    // 9. Leader election: a second replica waits while the first holds the Lease, and takes
    //    over when the first stops.
    let second = Operator::spawn(&kubeconfig, "replica-b", logs.join("operator-b.log"), &[]);
    wait_for("replica-b serves metrics", T, || async {
        second
            .metrics()
            .map(|_| ())
            .ok_or_else(|| second.log_text())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    if second.is_leader() {
        let lease = cp
            .kubectl_run(&["-n", NS, "get", "lease", "verdict-operator", "-o", "yaml"])
            .await
            .unwrap_or_default();
        panic!(
            "two leaders at once; b metrics (port {}):\n{:?}\nlease:\n{lease}\nreplica-a:\n{}\nreplica-b:\n{}",
            second.metrics_port,
            second.metrics(),
            first.log_text(),
            second.log_text()
        );
    }
    assert!(first.is_leader());
    first.terminate().await;
    wait_for("replica-b takes over", T, || async {
        if second.is_leader() {
            Ok(())
        } else {
            Err(second.log_text())
        }
    })
    .await;

    // 10. Deleting the older enforcer unblocks the newer one, which rolls out on the kwok nodes
    //     (its selector type=kwok matches all three).
    npes.delete("default", &DeleteParams::default())
        .await
        .expect("delete default");
    wait_ready(&client, "edge", 3, T).await;

    // 11. Deleting the last enforcer garbage-collects everything it owned.
    npes.delete("edge", &DeleteParams::default())
        .await
        .expect("delete edge");
    let c = client.clone();
    wait_for("owned objects garbage-collected", T, || {
        let c = c.clone();
        async move {
            let mut left = Vec::new();
            for name in ["verdict-agent-default", "verdict-agent-edge"] {
                if Api::<DaemonSet>::namespaced(c.clone(), NS)
                    .get_opt(name)
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some()
                {
                    left.push(format!("DaemonSet {name}"));
                }
                if Api::<Service>::namespaced(c.clone(), NS)
                    .get_opt(name)
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some()
                {
                    left.push(format!("Service {name}"));
                }
                if Api::<ServiceAccount>::namespaced(c.clone(), NS)
                    .get_opt(name)
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some()
                {
                    left.push(format!("ServiceAccount {name}"));
                }
                if Api::<ClusterRole>::all(c.clone())
                    .get_opt(name)
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some()
                {
                    left.push(format!("ClusterRole {name}"));
                }
                if Api::<ClusterRoleBinding>::all(c.clone())
                    .get_opt(name)
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some()
                {
                    left.push(format!("ClusterRoleBinding {name}"));
                }
            }
            let pods = agent_pods(&c, "edge").await.len() + agent_pods(&c, "default").await.len();
            if pods > 0 {
                left.push(format!("{pods} agent pods"));
            }
            if left.is_empty() {
                Ok(())
            } else {
                Err(left.join(", "))
            }
        }
    })
    .await;
    second.terminate().await;
}
