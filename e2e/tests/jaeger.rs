//! Jaeger runs on loopback and returns the spans it was sent over OTLP.

use std::time::{Duration, Instant};

use verdict_e2e::{Jaeger, skip_unless_e2e};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_stores_an_otlp_span_and_returns_it() {
    skip_unless_e2e!();
    let jaeger = Jaeger::start().await.unwrap();
    let now = std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos();
    let span = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "verdict-e2e-probe"}}]},
        "scopeSpans": [{"scope": {"name": "e2e"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "name": "verdict",
            "kind": 1,
            "startTimeUnixNano": (now - 1_000_000).to_string(),
            "endTimeUnixNano": now.to_string(),
            "attributes": [{"key": "verdict", "value": {"stringValue": "allow"}}],
        }]}],
    }]});
    jaeger.post_otlp_json(&span).await.unwrap();
    let t = Instant::now();
    loop {
        let traces = jaeger.traces("verdict-e2e-probe").await.unwrap();
        if let Some(trace) = traces.first() {
            assert_eq!(trace["traceID"], "5b8efff798038103d269b633813fc60c");
            assert_eq!(trace["spans"][0]["operationName"], "verdict");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "span never showed up in Jaeger"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "span queryable {:.2}s after export",
        t.elapsed().as_secs_f64()
    );
    assert!(jaeger.otlp_grpc_endpoint().starts_with("http://127.0.0.1:"));
    let t = Instant::now();
    drop(jaeger);
    eprintln!("jaeger stopped in {:.2}s", t.elapsed().as_secs_f64());
}
