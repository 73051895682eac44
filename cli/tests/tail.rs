//! `kubectl verdict tail --url` against the real dashboard router on port 0: history with
//! filters, every output format, a rejected filter, and `-f` resuming with Last-Event-ID after
//! its connection is cut.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use clap::Parser as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use verdict_cli::Error;
use verdict_cli::args::{Cli, Command, TailArgs};
use verdict_web::testing::{demo_index, scenario};
use verdict_web::{Hub, HubConfig, WebState, router};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn tail_args(args: &[&str]) -> TailArgs {
    let argv = ["kubectl-verdict", "tail"].iter().chain(args);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Tail(args) => *args,
        Command::Simulate(_) => unreachable!(),
    }
}

async fn serve(hub: Arc<Hub>) -> SocketAddr {
    let (tx, rx) = watch::channel(Some(Arc::new(demo_index())));
    std::mem::forget(tx);
    let app = router(WebState::new(hub, rx).keep_alive(Duration::from_millis(200)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn hub_with_scenario() -> Arc<Hub> {
    let hub = Hub::new(HubConfig::default());
    for e in scenario(&demo_index(), SystemTime::now()) {
        hub.publish(Arc::new(e));
    }
    hub
}

/// Drops the time column (local time) from compact lines.
fn untimed(line: &str) -> &str {
    line.split_once(' ').map_or(line, |(_, rest)| rest)
}

async fn run(args: &[&str]) -> (Result<(), Error>, Buf, Buf) {
    let (out, err) = (Buf::default(), Buf::default());
    let (mut o, mut e) = (out.clone(), err.clone());
    let result = verdict_cli::tail::run(&tail_args(args), &mut o, &mut e).await;
    (result, out, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_history_with_filters_in_every_format() {
    let url = format!("http://{}", serve(hub_with_scenario()).await);
    let (result, out, _) = run(&["--url", &url, "--action", "deny"]).await;
    result.unwrap();
    let lines = out.lines();
    assert_eq!(
        lines.iter().map(|l| untimed(l)).collect::<Vec<_>>(),
        [
            "n1 DENY  frontend/web-7d4b9c8f6-x2k9p 10.0.1.10:40000 -> backend/api-0 10.0.2.10:9999 TCP ingress isolated by backend/allow-web, backend/default-deny",
            "n1 DENY  frontend/web-7d4b9c8f6-x2k9p 10.0.1.10:40000 -> db/postgres-0 10.0.3.10:5432 TCP ingress isolated by db/allow-api",
            "n1 DENY  frontend/web-7d4b9c8f6-x2k9p 10.0.1.10:40000 -> 169.254.169.254:80 TCP egress anp/block-metadata rule 0 \"no-metadata\"",
            "n1 DENY  backend/worker-5c8f7b6d4-qwz2x 10.0.2.11:40000 -> backend/api-0 10.0.2.10:80 TCP ingress isolated by backend/allow-web, backend/default-deny",
        ]
    );

    let (result, out, _) = run(&[
        "--url",
        &url,
        "--last",
        "1",
        "--pod",
        "web-7d4b9c8f6-x2k9p",
        "-o",
        "wide",
    ])
    .await;
    result.unwrap();
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("egress anp/block-metadata rule 0"),
        "{lines:?}"
    );
    assert!(lines[0].contains(" via queue held 42us "), "{lines:?}");
    assert!(
        lines[1].starts_with("    ") && lines[1].contains("DENY"),
        "{lines:?}"
    );

    let (result, out, _) =
        run(&["--url", &url, "--policy", "backend/allow-web", "-o", "json"]).await;
    result.unwrap();
    let events: Vec<serde_json::Value> = out
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["ingress"]["policy"]["name"], "allow-web");
    assert_eq!(events[0]["ingress"]["rule"]["index"], 0);

    let (result, ..) = run(&["--url", &url, "--action", "maybe"]).await;
    match result {
        Err(Error::DashboardRejected {
            status: 400,
            message,
        }) => {
            assert!(message.contains("`action`"), "{message}")
        }
        other => panic!("expected the dashboard's 400, got {other:?}"),
    }
}

/// A TCP proxy whose connections the test can cut.
async fn proxy(to: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<JoinHandle<()>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
    let c = conns.clone();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            let task = tokio::spawn(async move {
                let mut server = TcpStream::connect(to).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
            c.lock().unwrap().push(task);
        }
    });
    (addr, conns)
}

async fn wait_for(buf: &Buf, n: usize) {
    for _ in 0..200 {
        if buf.lines().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} lines, got {:?}", buf.lines());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_and_resumes_after_a_cut_connection() {
    let hub = hub_with_scenario();
    let server = serve(hub.clone()).await;
    let (addr, conns) = proxy(server).await;
    let (out, err) = (Buf::default(), Buf::default());
    let args = tail_args(&["--url", &format!("http://{addr}"), "-f", "--last", "6"]);
    let (mut o, mut e) = (out.clone(), err.clone());
    let tail = tokio::spawn(async move { verdict_cli::tail::run(&args, &mut o, &mut e).await });
    wait_for(&out, 6).await;

    for c in conns.lock().unwrap().drain(..) {
        c.abort();
    }
    // Published while no stream is open: the resumed stream must bring them, once.
    let index = demo_index();
    for e in scenario(&index, SystemTime::now()).into_iter().take(2) {
        hub.publish(Arc::new(e));
    }
    wait_for(&out, 8).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = out.lines();
    assert_eq!(lines.len(), 8, "no repeats: {lines:?}");
    assert_eq!(untimed(&lines[6]), untimed(&lines[0]));
    assert_eq!(untimed(&lines[7]), untimed(&lines[1]));
    assert!(
        err.lines().iter().any(|l| l.contains("reconnecting")),
        "{:?}",
        err.lines()
    );
    tail.abort();
}
