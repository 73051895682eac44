//! The stream on a real socket (port 0): events arrive, filters apply, a client that stops
//! reading gets an explicit `dropped` event with a count, and `Last-Event-ID` resumes from the
//! ring.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;
use verdict_cli::sse::{Parser, SseEvent};
use verdict_web::testing::{demo_index, scenario};
use verdict_web::{Hub, HubConfig, WebState, router};

struct Client {
    reader: BufReader<TcpStream>,
    parser: Parser,
}

impl Client {
    /// HTTP/1.0, so the body is the raw event stream (no chunked encoding to undo).
    async fn connect(addr: std::net::SocketAddr, path: &str, last_id: Option<u64>) -> Client {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let last = last_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
        tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n{last}\r\n").as_bytes())
            .await
            .unwrap();
        let mut reader = BufReader::new(tcp);
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("HTTP/1.0 200"), "{line}");
        loop {
            line.clear();
            reader.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
        }
        Client {
            reader,
            parser: Parser::new(),
        }
    }

    async fn next(&mut self) -> SseEvent {
        let mut line = String::new();
        loop {
            line.clear();
            let n = timeout(Duration::from_secs(10), self.reader.read_line(&mut line))
                .await
                .expect("an event within 10 s")
                .unwrap();
            assert!(n > 0, "the stream ended");
            if let Some(e) = self.parser.line(&line) {
                return e;
            }
        }
    }

    async fn decisions(&mut self, n: usize) -> Vec<(u64, Value)> {
        let mut out = Vec::new();
        while out.len() < n {
            let e = self.next().await;
            assert_eq!(e.event, "decision", "{e:?}");
            out.push((
                e.id.unwrap().parse().unwrap(),
                serde_json::from_str(&e.data).unwrap(),
            ));
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_filtered_lag_is_reported_and_streams_resume() {
    let index = Arc::new(demo_index());
    let hub = Hub::new(HubConfig {
        history: 100,
        subscriber_buffer: 8,
    });
    let (_tx, rx) = watch::channel(Some(index.clone()));
    let app = router(WebState::new(hub.clone(), rx).keep_alive(Duration::from_millis(200)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Filters apply on the server.
    let mut denies = Client::connect(addr, "/api/decisions/stream?action=deny", None).await;
    assert_eq!(denies.next().await.event, "ready");
    let mut slow = Client::connect(addr, "/api/decisions/stream", None).await;
    assert_eq!(slow.next().await.event, "ready");
    let events = scenario(&index, SystemTime::now());
    for e in &events {
        hub.publish(Arc::new(e.clone()));
    }
    let got = denies.decisions(4).await;
    assert_eq!(
        got.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [2, 4, 5, 6],
        "only the denies, with the hub's ids"
    );
    assert!(got.iter().all(|(_, e)| e["verdict"] == "deny"));
    assert_eq!(got[0].1["dst"]["name"], "api-0");

    // Last-Event-ID resumes from the ring: everything after 3, then live.
    let mut resumed = Client::connect(addr, "/api/decisions/stream", Some(3)).await;
    assert_eq!(resumed.next().await.event, "ready");
    let got = resumed.decisions(3).await;
    assert_eq!(got.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [4, 5, 6]);

    // `slow` has not read anything since `ready`: flood past its buffer and the socket's.
    let flood = Arc::new(events[0].clone());
    for _ in 0..30_000 {
        hub.publish(flood.clone());
    }
    let mut lost = 0;
    let mut received = 0;
    while received + lost < 30_006 {
        let e = slow.next().await;
        match e.event.as_str() {
            "decision" => received += 1,
            "dropped" => {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                assert_eq!(v["reason"], "slow client");
                lost += v["count"].as_u64().unwrap();
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(lost > 0, "the slow client was told it lost events");
    assert_eq!(
        received + lost,
        30_006,
        "every event is either delivered or counted"
    );
    assert!(
        hub.lagged() >= lost,
        "and the loss is counted for /api/stats"
    );

    // A resume from before the ring's oldest entry is told how many it missed.
    let mut late = Client::connect(addr, "/api/decisions/stream?limit=5", Some(1)).await;
    assert_eq!(late.next().await.event, "ready");
    let dropped = late.next().await;
    assert_eq!(dropped.event, "dropped");
    let v: Value = serde_json::from_str(&dropped.data).unwrap();
    assert_eq!(v["reason"], "history");
    assert_eq!(
        v["count"],
        30_006 - 100 - 1,
        "seq 2 up to the ring's oldest"
    );
    let got = late.decisions(100).await;
    assert_eq!(got[0].0, 30_006 - 99);
    assert_eq!(got[99].0, 30_006);

    // Live events keep flowing to a resumed client.
    hub.publish(Arc::new(events[1].clone()));
    assert_eq!(late.decisions(1).await[0].0, 30_007);
    // The filtered client may have been overrun by the flood too (it is told so); then it
    // gets the next deny.
    let next = loop {
        let e = denies.next().await;
        if e.event == "decision" {
            break e;
        }
        assert_eq!(e.event, "dropped", "{e:?}");
    };
    assert_eq!(
        next.id.as_deref(),
        Some("30007"),
        "the flood was filtered out"
    );
}
