//! `make demo`, headless, checked from the outside: `verdict-demo --for 60` must come up, print
//! its URLs and the machine-readable line, show the agents Running and `kubectl get npe` Ready
//! 2/2, count allowed and denied connections in each agent's `/metrics`, answer on the Jaeger
//! API, exit 0, and leave no process, network namespace, nftables table or work file behind;
//! then a second run is stopped with Ctrl-C (SIGINT) and must leave nothing behind either.
//!
//! The dashboards and the decision spans too: every printed dashboard serves `/api/decisions`
//! with allows and denies naming the right policies, a printed policy change shows there within
//! 2 s, and Jaeger holds denied and allowed traces naming their policies, a cross-node deny with
//! both halves. `VERDICT_DEMO_TELEMETRY_OPTIONAL=1` lets those skip, with a note, for a build of
//! the agent older than its dashboard and spans.
//!
//! Cost: about 95 s measured (start ~15 s, 60 s headless, teardown ~3 s, the Ctrl-C run ~16 s;
//! the refusal cases ~2 s), plus building the debug `verdict-agent` and `verdict-operator` into
//! this test's target directory if the workspace build has not already (under `cargo test
//! --workspace` it has).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RUN_FOR: u64 = 60;
const PORT_BASE: u16 = 19400;
const JAEGER_PORT: u16 = 26686;
const OTLP_PORT: u16 = 24317;

/// `VERDICT_DEMO_TELEMETRY_OPTIONAL=1` lets the span and dashboard checks skip (with a note)
/// for builds of the agent older than its dashboard and spans; by default they must pass.
fn telemetry_optional() -> bool {
    std::env::var("VERDICT_DEMO_TELEMETRY_OPTIONAL").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The directory holding this test's sibling binaries (`target/debug`), with the agent and the
/// operator built there if they are missing.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VERDICT_DEMO_BIN_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf();
    let missing = ["verdict-agent", "verdict-operator"]
        .iter()
        .any(|b| !profile_dir.join(b).is_file());
    if missing {
        let target = profile_dir.parent().expect("target dir");
        let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
            .args([
                "build",
                "-p",
                "verdict-agent",
                "--bin",
                "verdict-agent",
                "-p",
                "verdict-operator",
                "--bin",
                "verdict-operator",
            ])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building the agent and the operator");
    }
    profile_dir
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new(verdict_e2e::bins::bin_dir().join("kubectl"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("running kubectl");
    assert!(
        out.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// GET on a `http://127.0.0.1:<port>/...` URL: status and body.
fn http_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((code, body))
}

/// `key=value` pairs of a machine-readable line.
fn fields(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Sum of `verdict_decisions_total` samples by action (`verdict=` today, `action=` after the
/// telemetry issue).
fn decisions(metrics: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("verdict_decisions_total{"))
    {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let action = ["action=\"", "verdict=\""].iter().find_map(|k| {
            let rest = &labels[labels.find(k)? + k.len()..];
            Some(rest[..rest.find('"')?].to_string())
        });
        if let (Some(a), Ok(v)) = (action, value.parse::<f64>()) {
            *out.entry(a).or_insert(0.0) += v;
        }
    }
    out
}

/// Processes whose command line or environment names `dir` (the control plane names its work
/// directory in its flags; the stand-in kubelet's pods carry a KUBECONFIG under it).
fn processes_naming(dir: &Path) -> Vec<(u32, String)> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmd.contains(&needle) || String::from_utf8_lossy(&environ).contains(&needle) {
            out.push((pid, cmd));
        }
    }
    out
}

fn host_nft_tables() -> String {
    Command::new("nft")
        .args(["list", "tables"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn netns_names() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The demo process; a failing test stops it (SIGTERM: the demo tears down), so no demo
/// outlives its test.
struct DemoChild(std::process::Child);

impl Drop for DemoChild {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn demo_runs_headless_and_leaves_nothing_behind() {
    verdict_e2e::skip_unless_e2e!();
    let bins = bin_dir();
    let work = verdict_e2e::work_root().join(format!("demo-test-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let nft_before = host_nft_tables();

    let t0 = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_verdict-demo"))
        .args(["--for", &RUN_FOR.to_string()])
        .arg("--bin-dir")
        .arg(&bins)
        .args(["--port-base", &PORT_BASE.to_string()])
        .args(["--jaeger-port", &JAEGER_PORT.to_string()])
        .args(["--otlp-port", &OTLP_PORT.to_string()])
        // Each of the 9 flows about once a second, so a policy change shows within 2 s.
        .args(["--rate", "10"])
        .env("VERDICT_E2E_DIR", &work)
        .env_remove("DEMO_FOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting verdict-demo");
    let mut child = DemoChild(child);
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("[demo] {line}");
            let _ = tx.send(line);
        }
    });

    // Up to the machine-readable line.
    let mut nodes: Vec<BTreeMap<String, String>> = Vec::new();
    let mut run: BTreeMap<String, String> = BTreeMap::new();
    let mut printed = Vec::new();
    let ready = loop {
        match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(line) => {
                printed.push(line.clone());
                if let Some(rest) = line.strip_prefix("kube-verdict demo run: ") {
                    run = fields(rest);
                }
                if let Some(rest) = line.strip_prefix("kube-verdict demo node: ") {
                    nodes.push(fields(rest));
                }
                if let Some(rest) = line.strip_prefix("kube-verdict demo ready: ") {
                    break fields(rest);
                }
            }
            Err(_) => {
                panic!(
                    "the demo never printed its ready line; it printed:\n{}",
                    printed.join("\n")
                );
            }
        }
    };
    let startup = t0.elapsed();
    eprintln!("demo ready after {:.1}s", startup.as_secs_f64());
    let kubeconfig = PathBuf::from(&ready["kubeconfig"]);
    assert!(kubeconfig.is_file(), "{ready:?}");
    assert_eq!(nodes.len(), 2, "one line per node: {nodes:?}");
    assert!(
        printed
            .iter()
            .any(|l| l.contains("kubectl") && l.contains("allow-frontend-to-database.yaml")),
        "a printed command changes a policy"
    );

    // The enforcer is Ready 2/2 and the agents are Running and Ready.
    let npe: serde_json::Value = serde_json::from_str(&kubectl(
        &kubeconfig,
        &["get", "npe", "default", "-o", "json"],
    ))
    .unwrap();
    assert_eq!(npe["status"]["readyNodes"], 2, "{npe}");
    assert_eq!(npe["status"]["desiredNodes"], 2, "{npe}");
    let pods: serde_json::Value = serde_json::from_str(&kubectl(
        &kubeconfig,
        &["get", "pods", "-n", "kube-verdict-system", "-o", "json"],
    ))
    .unwrap();
    let items = pods["items"].as_array().unwrap();
    let running_ready = |prefix: &str| {
        items
            .iter()
            .filter(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(prefix)
            })
            .filter(|p| p["status"]["phase"] == "Running")
            .filter(|p| {
                p["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
            .count()
    };
    assert_eq!(
        running_ready("verdict-agent-default-"),
        2,
        "agent pods Running and Ready: {pods}"
    );
    assert!(
        running_ready("verdict-operator-") >= 1,
        "an operator pod Running and Ready: {pods}"
    );
    let during = processes_naming(&work);
    assert!(
        during
            .iter()
            .filter(|(_, c)| c.contains("verdict-agent"))
            .count()
            >= 2,
        "two agent processes run: {during:?}"
    );

    // Allows and denies, counted by the agents themselves.
    let deadline = Instant::now() + Duration::from_secs(20);
    let totals = loop {
        let mut totals: BTreeMap<String, f64> = BTreeMap::new();
        for n in &nodes {
            if let Some((200, body)) = http_get(&n["metrics"]) {
                for (k, v) in decisions(&body) {
                    *totals.entry(k).or_insert(0.0) += v;
                }
            }
        }
        if totals.get("allow").copied().unwrap_or(0.0) > 0.0
            && totals.get("deny").copied().unwrap_or(0.0) > 0.0
        {
            break totals;
        }
        assert!(
            Instant::now() < deadline,
            "no allow and deny in the agents' verdict_decisions_total: {totals:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("verdict_decisions_total across nodes: {totals:?}");

    // The stand-in kubelet restarts a killed agent (restartPolicy Always) and reports it.
    let (victim, _) = during
        .iter()
        .find(|(_, c)| c.contains("verdict-agent") && !c.contains("setpriv"))
        .cloned()
        .expect("an agent process");
    let _ = Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pods: serde_json::Value = serde_json::from_str(&kubectl(
            &kubeconfig,
            &["get", "pods", "-n", "kube-verdict-system", "-o", "json"],
        ))
        .unwrap();
        let restarted_and_ready = pods["items"].as_array().unwrap().iter().any(|p| {
            let cs = &p["status"]["containerStatuses"][0];
            p["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .starts_with("verdict-agent-default-")
                && cs["restartCount"].as_u64().unwrap_or(0) >= 1
                && cs["ready"] == true
        });
        let npe: serde_json::Value = serde_json::from_str(&kubectl(
            &kubeconfig,
            &["get", "npe", "default", "-o", "json"],
        ))
        .unwrap();
        if restarted_and_ready && npe["status"]["readyNodes"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed agent (pid {victim}) was not restarted and Ready again: {pods}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("killed agent pid {victim}: restarted, Ready, npe Ready 2/2 again");

    // Jaeger's API answers and holds the agents' decision spans.
    let jaeger = &ready["jaeger"];
    let (code, services) = http_get(&format!("{jaeger}/api/services")).expect("Jaeger answers");
    assert_eq!(code, 200, "{services}");
    let deadline = Instant::now() + Duration::from_secs(if telemetry_optional() { 5 } else { 20 });
    let mut exported = false;
    while Instant::now() < deadline {
        if http_get(&format!("{jaeger}/api/services"))
            .is_some_and(|(_, b)| b.contains("verdict-agent"))
        {
            exported = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if exported {
        for (action, policy) in [("deny", "protect-database"), ("allow", "backend-ingress")] {
            let url = format!(
                "{jaeger}/api/traces?service=verdict-agent&limit=200&tags=%7B%22verdict.action%22%3A%22{action}%22%7D"
            );
            let (code, body) = http_get(&url).expect("Jaeger search");
            assert_eq!(code, 200, "{body}");
            assert!(
                body.contains(policy),
                "a {action} trace naming {policy}: {}",
                &body[..body.len().min(2000)]
            );
        }
        // A cross-node connection denied by the destination's ingress: one trace holds both
        // halves, the egress allowed on one node and the ingress denied on the other.
        let url = format!(
            "{jaeger}/api/traces?service=verdict-agent&limit=200&tags=%7B%22verdict.action%22%3A%22deny%22%7D"
        );
        let (_, body) = http_get(&url).expect("Jaeger search");
        let traces: serde_json::Value = serde_json::from_str(&body).expect("Jaeger JSON");
        let halves = |t: &serde_json::Value| -> Vec<(String, String, String)> {
            let node_of = |pid: &str| {
                t["processes"][pid]["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|x| x["key"] == "k8s.node.name")
                    .and_then(|x| x["value"].as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let tag = |s: &serde_json::Value, k: &str| {
                s["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|x| x["key"] == k)
                    .and_then(|x| x["value"].as_str())
                    .unwrap_or("")
                    .to_string()
            };
            t["spans"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    (
                        node_of(s["processID"].as_str().unwrap_or("")),
                        tag(s, "verdict.direction"),
                        tag(s, "verdict.action"),
                    )
                })
                .collect()
        };
        let both = traces["data"].as_array().into_iter().flatten().any(|t| {
            let h = halves(t);
            h.iter().any(|(n1, d1, a1)| {
                d1 == "egress"
                    && a1 == "allow"
                    && h.iter()
                        .any(|(n2, d2, a2)| d2 == "ingress" && a2 == "deny" && n2 != n1)
            })
        });
        assert!(
            both,
            "no denied trace holds an allowed egress and a denied ingress on another node"
        );
        eprintln!(
            "Jaeger holds deny and allow traces naming their policies, and a cross-node deny with both halves"
        );
    } else {
        assert!(
            telemetry_optional(),
            "Jaeger has no verdict-agent service: {services}"
        );
        eprintln!("NOTE: this build exports no decision spans yet; span checks skipped");
    }

    // The dashboards: the printed one and each node's (a node's dashboard shows the decisions
    // judged on that node).
    let mut dashboards: Vec<String> = vec![ready["dashboard"].clone()];
    dashboards.extend(nodes.iter().map(|n| n["dashboard"].clone()));
    dashboards.retain(|d| d != "off");
    dashboards.dedup();
    let serving: Vec<&String> = dashboards
        .iter()
        .filter(|d| http_get(&format!("{d}api/decisions?limit=1")).is_some_and(|(c, _)| c == 200))
        .collect();
    let decisions_of = |action: &str| -> String {
        serving
            .iter()
            .filter_map(|d| http_get(&format!("{d}api/decisions?action={action}&limit=2000")))
            .map(|(_, body)| body)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        telemetry_optional() || serving.len() == dashboards.len(),
        "every dashboard serves /api/decisions: {serving:?} of {dashboards:?}"
    );
    if serving.is_empty() {
        assert!(
            telemetry_optional(),
            "no dashboard serves /api/decisions: {dashboards:?}"
        );
        eprintln!(
            "NOTE: this build serves no dashboard API yet ({dashboards:?}); dashboard checks skipped"
        );
    } else {
        // Allows and denies, each naming the policy that decided it (the agent killed above
        // starts with an empty history, so give the traffic a few rounds).
        for (action, policy) in [
            ("deny", "protect-database"),
            ("deny", "database-egress"),
            ("allow", "backend-ingress"),
            ("allow", "monitoring-scrape"),
        ] {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let body = decisions_of(action);
                if body.contains(&format!("\"name\":\"{policy}\"")) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "no {action} decision naming {policy} on {serving:?}: {}",
                    &body[..body.len().min(2000)]
                );
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        // A printed command changes a policy; the dashboard shows its effect within 2 s.
        let change = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/demo-cluster/changes/allow-frontend-to-database.yaml"
        );
        assert!(
            printed
                .iter()
                .any(|l| l.contains("changes/allow-frontend-to-database.yaml"))
        );
        kubectl(&kubeconfig, &["apply", "-f", change]);
        let applied = Instant::now();
        loop {
            if decisions_of("allow").contains("\"name\":\"database-from-frontend\"") {
                break;
            }
            assert!(
                applied.elapsed() < Duration::from_secs(2),
                "the policy change did not show on the dashboard within 2 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "policy change visible on the dashboard after {:.2}s",
            applied.elapsed().as_secs_f64()
        );
    }

    // It stops by itself, exits 0 and leaves nothing behind.
    let deadline = Instant::now() + Duration::from_secs(RUN_FOR + 90);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            panic!("the demo did not stop after --for {RUN_FOR}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    reader.join().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "the demo exited with {status}");
    assert!(
        rest.iter().any(|l| l.contains("nothing left behind")),
        "{rest:?}"
    );
    let prefix = run
        .get("netns_prefix")
        .expect("the demo printed its netns prefix");
    assert_nothing_left(&work, prefix, &nft_before);

    // Ctrl-C: a second, interactive run stops on SIGINT and leaves nothing behind either.
    let t1 = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_verdict-demo"))
        .arg("--bin-dir")
        .arg(&bins)
        .args(["--port-base", &PORT_BASE.to_string()])
        .args(["--jaeger-port", &JAEGER_PORT.to_string()])
        .args(["--otlp-port", &OTLP_PORT.to_string()])
        .env("VERDICT_E2E_DIR", &work)
        .env_remove("DEMO_FOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting verdict-demo");
    let mut child = DemoChild(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut prefix = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("kube-verdict demo run: ") {
            prefix = fields(rest).get("netns_prefix").cloned();
        }
        if line.starts_with("kube-verdict demo ready: ") {
            break;
        }
    }
    let prefix = prefix.expect("the second run printed its netns prefix");
    let _ = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.0.wait().unwrap();
    assert!(
        status.success(),
        "after Ctrl-C the demo exited with {status}"
    );
    assert!(
        rest.iter().any(|l| l.contains("nothing left behind")),
        "{rest:?}"
    );
    assert_nothing_left(&work, &prefix, &nft_before);
    eprintln!(
        "Ctrl-C run: up and down in {:.1}s",
        t1.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir(&work);
    eprintln!("demo test took {:.1}s", t0.elapsed().as_secs_f64());
}

/// No process naming the work directory, no netns with the run's prefix, the host's nftables
/// tables as they were, and an empty work directory.
fn assert_nothing_left(work: &Path, netns_prefix: &str, nft_before: &str) {
    let left = processes_naming(work);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let demo_netns: Vec<String> = netns_names()
        .into_iter()
        .filter(|n| n.starts_with(netns_prefix))
        .collect();
    assert!(
        demo_netns.is_empty(),
        "network namespaces left behind: {demo_netns:?}"
    );
    assert_eq!(
        host_nft_tables(),
        nft_before,
        "the host's nftables tables changed"
    );
    let files: Vec<PathBuf> = std::fs::read_dir(work)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(files.is_empty(), "work files left behind: {files:?}");
}

/// How one refusal case sets the stage: extra demo flags, a port to hold, a state file to plant.
struct Refusal {
    name: &'static str,
    args: Vec<String>,
    as_nobody: bool,
    hold_port: Option<u16>,
    /// A `demo.json` naming this pid (`None`: no state file; `Some(0)`: a pid that is gone).
    planted_pid: Option<u32>,
    want: String,
}

/// The demo refuses to start, saying why, before it creates anything: not root, a taken port, a
/// running demo, a missing binary; a crashed demo's leftovers are cleaned first. (A missing
/// kernel feature cannot be staged here; its check names `network namespaces` or
/// `nfnetlink_queue` the same way.) Cost: about a second.
#[test]
fn demo_refuses_with_clear_errors() {
    verdict_e2e::skip_unless_e2e!();
    let bins = bin_dir();
    let port = 29400;
    // Something alive whose command line says verdict-demo, as a running demo's does.
    let mut running_demo = Command::new("bash")
        .args(["-c", "exec -a verdict-demo sleep 60"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let cases = [
        Refusal {
            name: "not root",
            args: vec![],
            as_nobody: true,
            hold_port: None,
            planted_pid: None,
            want: "the demo needs root".into(),
        },
        Refusal {
            name: "port in use",
            args: vec![],
            as_nobody: false,
            hold_port: Some(port + 12),
            planted_pid: None,
            want: "port 127.0.0.1:29412 (node-2's metrics) is already in use".into(),
        },
        Refusal {
            name: "a demo is running",
            args: vec![],
            as_nobody: false,
            hold_port: None,
            planted_pid: Some(running_demo.id()),
            want: format!("a demo is already running (pid {})", running_demo.id()),
        },
        Refusal {
            name: "missing binary",
            args: vec!["--bin-dir".into(), "/nonexistent".into()],
            as_nobody: false,
            hold_port: None,
            planted_pid: None,
            want: "/nonexistent/verdict-agent is missing".into(),
        },
        Refusal {
            name: "stale demo cleaned, then the port refusal",
            args: vec![],
            as_nobody: false,
            hold_port: Some(port),
            planted_pid: Some(0),
            want: "cleaning up a stale demo from a crashed run".into(),
        },
    ];
    let mut nobody_copy: Option<PathBuf> = None;
    for case in cases {
        let work = verdict_e2e::work_root().join(format!("demo-refusal-{}", std::process::id()));
        std::fs::create_dir_all(&work).unwrap();
        let leftover = work.join("leftover-of-a-crashed-demo");
        if let Some(pid) = case.planted_pid {
            let pid = if pid == 0 {
                let mut gone = Command::new("true").spawn().unwrap();
                let pid = gone.id();
                gone.wait().unwrap();
                pid
            } else {
                pid
            };
            std::fs::create_dir_all(&leftover).unwrap();
            let state = serde_json::json!({"pid": pid, "dirs": [leftover]});
            std::fs::write(work.join("demo.json"), state.to_string()).unwrap();
        }
        let _held = case
            .hold_port
            .map(|p| std::net::TcpListener::bind(("127.0.0.1", p)).expect("holding a port"));
        let mut cmd = if case.as_nobody {
            // A copy nobody can reach (the target directory may sit under /root).
            let copy = std::env::temp_dir().join(format!("verdict-demo-{}", std::process::id()));
            std::fs::copy(env!("CARGO_BIN_EXE_verdict-demo"), &copy).unwrap();
            std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            nobody_copy = Some(copy.clone());
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
            c.arg(copy);
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_verdict-demo"))
        };
        // Ports nothing else here uses, so only the held one is taken.
        if !case.args.iter().any(|a| a == "--bin-dir") {
            cmd.arg("--bin-dir").arg(&bins);
        }
        cmd.args(["--port-base", &port.to_string(), "--jaeger-port", "29486"])
            .args(["--otlp-port", "29487"])
            .args(&case.args);
        let out = cmd
            .env("VERDICT_E2E_DIR", &work)
            .env_remove("DEMO_FOR")
            .output()
            .expect("running verdict-demo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{}: it started anyway:\n{stderr}",
            case.name
        );
        assert!(
            stderr.contains(&case.want),
            "{}: want {:?} in:\n{stderr}",
            case.name,
            case.want
        );
        if case.planted_pid == Some(0) {
            assert!(
                !leftover.exists(),
                "{}: the stale work directory is still there",
                case.name
            );
            assert!(
                !work.join("demo.json").exists(),
                "{}: the stale state is still there",
                case.name
            );
            assert!(
                stderr.contains("is already in use"),
                "{}: then the port refusal:\n{stderr}",
                case.name
            );
        }
        let _ = std::fs::remove_dir_all(&work);
        if let Some(copy) = nobody_copy.take() {
            let _ = std::fs::remove_file(copy);
        }
    }
    let _ = running_demo.kill();
    let _ = running_demo.wait();
}
