//! Teardown leaves nothing behind: no processes, no network namespaces (so no veths and no
//! nftables tables), nothing new in the root namespace; and a run that was SIGKILLed is cleaned
//! by the next one.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use verdict_e2e::{
    ControlPlane, ControlPlaneOptions, NetnsCluster, PodSpec, Port, cleanup_stale, skip_unless_e2e,
};

/// The tests here run one at a time: starting a control plane cleans up stale runs, so a test
/// starting in parallel would clean the SIGKILLed run before the test that killed it can check
/// that the cleanup finds it.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn netns_with_prefix(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

fn root_links() -> BTreeSet<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

fn root_nft_tables() -> String {
    String::from_utf8_lossy(
        &Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

fn alive(pid: u32) -> bool {
    // A zombie is not a leak (its parent reaps it); anything else is.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_leaves_no_process_netns_link_or_table() {
    skip_unless_e2e!();
    let _serial = SERIAL.lock().await;
    let links_before = root_links();
    let tables_before = root_nft_tables();
    let cp = ControlPlane::start(ControlPlaneOptions {
        scheduler: false,
        ..ControlPlaneOptions::named("teardown")
    })
    .await
    .unwrap();
    let cluster = NetnsCluster::new(Some(cp.client().await.unwrap()))
        .await
        .unwrap();
    let node = cluster.add_node("node-1").await.unwrap();
    cluster.add_node("node-2").await.unwrap();
    cluster
        .add_pod(
            PodSpec::new("t", "a")
                .node("node-1")
                .serve_all(&[Port::tcp(80), Port::sctp(80)]),
        )
        .await
        .unwrap();
    cluster
        .add_pod(PodSpec::new("t", "b").node("node-2").serve(Port::udp(80)))
        .await
        .unwrap();
    cluster
        .add_pod(
            PodSpec::new("t", "h")
                .node("node-2")
                .host_network()
                .serve(Port::tcp(8080)),
        )
        .await
        .unwrap();
    // What an agent leaves: a process in the node netns and an nftables table there.
    let sleeper = cluster
        .spawn_in(
            &node.netns,
            "sleeper",
            Path::new("/bin/sleep"),
            &["300".into()],
            &[],
        )
        .unwrap();
    assert!(
        node.command("nft")
            .args(["add", "table", "inet", "verdict"])
            .status()
            .unwrap()
            .success()
    );

    let prefix = cluster.netns_prefix();
    let mut pids: Vec<u32> = cp.pids().into_iter().map(|(_, pid)| pid).collect();
    pids.push(sleeper);
    assert_eq!(
        netns_with_prefix(&prefix).len(),
        1 + 2 + 2,
        "underlay, 2 nodes, 2 pod netns"
    );
    assert!(pids.iter().all(|p| alive(*p)));
    let work_dir = cp.work_dir().to_path_buf();

    let t = Instant::now();
    drop(cluster);
    drop(cp);
    eprintln!("teardown took {:.1}s", t.elapsed().as_secs_f64());

    assert_eq!(
        netns_with_prefix(&prefix),
        Vec::<String>::new(),
        "netns left behind"
    );
    let leaked: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(leaked.is_empty(), "processes left behind: {leaked:?}");
    let new_links: Vec<String> = root_links().difference(&links_before).cloned().collect();
    assert!(
        new_links.is_empty(),
        "links left in the root netns: {new_links:?}"
    );
    assert_eq!(
        root_nft_tables(),
        tables_before,
        "root netns nftables tables changed"
    );
    assert!(!work_dir.exists(), "a passing test's work dir is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_run_leaves_no_process_and_is_cleaned_by_the_next() {
    skip_unless_e2e!();
    let _serial = SERIAL.lock().await;
    let dir = verdict_e2e::work_root().join(format!("crash-{}", verdict_e2e::new_run_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict-cluster"))
        .args([
            "--dir",
            &dir.display().to_string(),
            "up",
            "--nodes",
            "2",
            "--pods-per-node",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !dir.join("cluster.json").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "verdict-cluster up did not come up"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "verdict-cluster up exited early"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The run's state files name its processes and its netns prefix.
    let owner = child.id();
    let mut pids = Vec::new();
    let mut ids = Vec::new();
    for entry in std::fs::read_dir("/run/verdict-e2e").unwrap().flatten() {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
        if v["owner_pid"] == owner {
            ids.push(
                entry
                    .path()
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            pids.extend(
                v["pids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_u64().unwrap() as u32),
            );
        }
    }
    assert!(
        pids.len() >= 3,
        "etcd, apiserver, controller manager...: {pids:?}"
    );
    let netns_before: Vec<String> = ids
        .iter()
        .flat_map(|id| netns_with_prefix(&format!("vd{id}-")))
        .collect();
    assert_eq!(netns_before.len(), 1 + 2 + 2, "{netns_before:?}");

    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    // The parent-death signal takes the control plane down with it.
    let t0 = Instant::now();
    while pids.iter().any(|p| alive(*p)) && t0.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let leaked: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(
        leaked.is_empty(),
        "processes outlived their SIGKILLed owner: {leaked:?}"
    );

    let report = cleanup_stale().unwrap();
    for ns in &netns_before {
        assert!(report.netns.contains(ns), "{ns} not cleaned: {report:?}");
    }
    let left: Vec<String> = ids
        .iter()
        .flat_map(|id| netns_with_prefix(&format!("vd{id}-")))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The person's flow: `verdict-cluster up` prints a working kubeconfig, kubectl lists the nodes
/// and Running pods, the printed matrix is all reachable, and `verdict-cluster down` removes it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_up_then_down_for_a_person() {
    skip_unless_e2e!();
    let _serial = SERIAL.lock().await;
    let bin = env!("CARGO_BIN_EXE_verdict-cluster");
    let dir = verdict_e2e::work_root().join(format!("person-{}", verdict_e2e::new_run_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("up.out");
    let err_path = dir.join("up.err");
    let mut up = Command::new(bin)
        .args(["--dir", &dir.display().to_string(), "up"])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !dir.join("cluster.json").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "up did not finish: {}",
            std::fs::read_to_string(&err_path).unwrap()
        );
        assert!(
            up.try_wait().unwrap().is_none(),
            "up exited: {}",
            std::fs::read_to_string(&err_path).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "verdict-cluster up ready in {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    let kubeconfig = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("export KUBECONFIG="))
        .unwrap_or_else(|| panic!("no kubeconfig printed:\n{stdout}"))
        .to_string();
    // The no-policy matrix printed by `up` has no blocked cell.
    assert!(
        stderr.contains("tcp/80:") && !stderr.lines().any(|l| l.contains(" X ")),
        "{stderr}"
    );

    let kubectl = verdict_e2e::bins::binary("kubectl").unwrap();
    let get = Command::new(&kubectl)
        .args(["--kubeconfig", &kubeconfig, "get", "nodes,pods", "-A"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&get.stdout);
    assert!(
        get.status.success(),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    for want in ["node/node-1", "node/node-2", "pod/pod-1a", "pod/pod-2b"] {
        assert!(listing.contains(want), "{want} missing:\n{listing}");
    }
    assert_eq!(
        listing
            .lines()
            .filter(|l| l.contains("pod/") && l.contains("Running"))
            .count(),
        4,
        "{listing}"
    );

    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cluster.json")).unwrap()).unwrap();
    let netns: Vec<String> = state["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[3].as_str().unwrap().to_string())
        .collect();
    let down = Command::new(bin)
        .args(["--dir", &dir.display().to_string(), "down"])
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let status = up.wait().unwrap();
    assert!(status.success(), "up exited with {status} after down");
    for ns in &netns {
        assert!(
            !Path::new("/run/netns").join(ns).exists(),
            "{ns} left after down"
        );
    }
    let prefix = netns[0].split('-').next().unwrap().to_string() + "-";
    assert_eq!(netns_with_prefix(&prefix), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&dir);
}
