//! The router without a socket (`oneshot`): every endpoint, and every bad parameter answered
//! with a 400 that names it.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use pretty_assertions::assert_eq;
use serde_json::Value;
use tokio::sync::watch;
use tower::ServiceExt;
use verdict_web::testing::{demo_index, scenario};
use verdict_web::{Hub, HubConfig, WebState, router};

fn state(index: bool) -> WebState {
    let demo = Arc::new(demo_index());
    let hub = Hub::new(HubConfig::default());
    for e in scenario(&demo, SystemTime::now()) {
        hub.publish(Arc::new(e));
    }
    let (_tx, rx) = watch::channel(index.then_some(demo));
    WebState::new(hub, rx)
        .node("n1")
        .jaeger_url("http://jaeger.example:16686/")
        .drop_counters(Arc::new(|| vec![("spans".to_string(), 3)]))
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

#[tokio::test]
async fn every_bad_parameter_is_a_400_that_names_it() {
    let app = router(state(true));
    let cases = [
        ("decisions: unknown", "/api/decisions?colour=red", "colour"),
        ("decisions: limit", "/api/decisions?limit=0", "limit"),
        ("decisions: since", "/api/decisions?since=soon", "since"),
        ("decisions: until", "/api/decisions?until=soon", "until"),
        ("decisions: action", "/api/decisions?action=drop", "action"),
        (
            "decisions: direction",
            "/api/decisions?direction=sideways",
            "direction",
        ),
        ("decisions: tier", "/api/decisions?tier=4", "tier"),
        (
            "decisions: namespace",
            "/api/decisions?namespace=",
            "namespace",
        ),
        ("decisions: pod", "/api/decisions?pod=", "pod"),
        ("decisions: node", "/api/decisions?node=", "node"),
        ("decisions: policy", "/api/decisions?policy=", "policy"),
        ("decisions: port", "/api/decisions?port=http", "port"),
        (
            "decisions: protocol",
            "/api/decisions?protocol=quic",
            "protocol",
        ),
        ("decisions: repeated", "/api/decisions?pod=a&pod=b", "pod"),
        ("stream: until", "/api/decisions/stream?until=5m", "until"),
        (
            "stream: last_event_id",
            "/api/decisions/stream?last_event_id=x",
            "last_event_id",
        ),
        (
            "stream: filter",
            "/api/decisions/stream?action=maybe",
            "action",
        ),
        ("stats: unknown", "/api/stats?verbose=1", "verbose"),
        ("policies: unknown", "/api/policies?kind=np", "kind"),
        (
            "explain: from missing",
            "/api/explain?to=backend/api-0",
            "from",
        ),
        (
            "explain: to missing",
            "/api/explain?from=backend/api-0",
            "to",
        ),
        (
            "explain: bad target",
            "/api/explain?from=nope&to=backend/api-0",
            "from",
        ),
        (
            "explain: unknown pod",
            "/api/explain?from=frontend/nope&to=backend/api-0",
            "from",
        ),
        (
            "explain: same pod",
            "/api/explain?from=backend/api-0&to=backend/api-0",
            "to",
        ),
        (
            "explain: probe",
            "/api/explain?from=backend/api-0&to=db/postgres-0&probe=tcp",
            "probe",
        ),
        (
            "explain: unknown",
            "/api/explain?from=backend/api-0&to=db/postgres-0&x=1",
            "x",
        ),
        ("map: window too long", "/api/map?window=2h", "window"),
        ("map: window garbage", "/api/map?window=wide", "window"),
        ("map: unknown", "/api/map?since=5m", "since"),
    ];
    for (name, uri, param) in cases {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert_eq!(body["parameter"], param, "{name}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains(&format!("`{param}`")),
            "{name}: {body}"
        );
    }
}

#[tokio::test]
async fn decisions_are_filtered_newest_last() {
    let app = router(state(true));
    let (status, body) = get(&app, "/api/decisions").await;
    assert_eq!(status, StatusCode::OK);
    let seqs: Vec<u64> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert_eq!(body["cursor"], 6);
    let (_, body) = get(&app, "/api/decisions?action=deny&limit=2").await;
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["seq"], 5, "the newest two denies, oldest first");
    assert_eq!(events[1]["verdict"], "deny");
    let (_, body) = get(
        &app,
        "/api/decisions?policy=backend/default-deny&action=deny",
    )
    .await;
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0]["ingress"]["isolated_by"][1]["name"], "default-deny",
        "a default deny names its isolating policies"
    );
    assert!(
        events[0]["explanation"]
            .as_str()
            .unwrap()
            .contains("isolated by")
    );
}

#[tokio::test]
async fn stats_count_rates_hits_and_drops() {
    let app = router(state(true));
    let (status, body) = get(&app, "/api/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["events"]["total"], 6);
    assert_eq!(body["events"]["deny"], 4);
    assert_eq!(body["by_source"]["queue"], 6);
    assert_eq!(
        body["dropped"]["spans"], 3,
        "the embedding binary's counters"
    );
    assert_eq!(body["dropped"]["stream"], 0);
    assert_eq!(body["series"].as_array().unwrap().len(), 60);
    assert_eq!(body["history"]["capacity"], 10_000);
    let hits = body["hits"].as_array().unwrap();
    assert!(
        hits.iter()
            .any(|h| h["name"] == "backend/allow-web (NetworkPolicy)"
                && h["kind"] == "rule"
                && h["rule"] == 0
                && h["count"] == 1)
    );
}

#[tokio::test]
async fn policies_flag_never_hit_rules() {
    let app = router(state(true));
    let (status, body) = get(&app, "/api/policies").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["node"], "n1");
    let policies = body["policies"].as_array().unwrap();
    let find = |name: &str| {
        policies
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    let allow_web = find("backend/allow-web (NetworkPolicy)");
    assert_eq!(allow_web["ingress"][0]["hits"], 1);
    assert_eq!(allow_web["ingress"][0]["never_hit"], false);
    assert_eq!(
        allow_web["ingress"][1]["never_hit"], true,
        "worker → 9090 never happened"
    );
    assert_eq!(allow_web["egress"], Value::Null, "not an egress policy");
    assert_eq!(
        allow_web["selected_pods"],
        serde_json::json!(["backend/api-0"])
    );
    let deny = find("backend/default-deny (NetworkPolicy)");
    assert_eq!(deny["isolation_denies"], 2);
    assert_eq!(deny["never_hit"], false);
    let anp = find("block-metadata (AdminNetworkPolicy)");
    assert_eq!(anp["priority"], 10);
    assert_eq!(anp["egress"][0]["name"], "no-metadata");
    assert_eq!(anp["egress"][0]["hits"], 1);

    let (status, body) = get(&router(state(false)), "/api/policies").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test]
async fn explain_answers_as_the_cli_does() {
    let app = router(state(true));
    let (status, body) = get(
        &app,
        "/api/explain?from=frontend/web-7d4b9c8f6-x2k9p&to=backend/api-0&probe=tcp/9999&probe=TCP/8080",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["from"], "frontend/web-7d4b9c8f6-x2k9p");
    assert_eq!(results[0]["to"], "backend/api-0");
    assert_eq!(results[0]["port"], 9999);
    assert_eq!(results[0]["allowed"], false);
    assert_eq!(results[1]["allowed"], true);
    assert_eq!(
        body["explain"][0],
        "frontend/web-7d4b9c8f6-x2k9p -> backend/api-0 TCP/9999: DENY. ingress: backend/api-0 is isolated by backend/allow-web (NetworkPolicy) and backend/default-deny (NetworkPolicy), and no rule allows frontend/web-7d4b9c8f6-x2k9p. egress: frontend/web-7d4b9c8f6-x2k9p is not egress-isolated."
    );
    let (status, body) = get(&app, "/api/explain?from=10.0.1.10&to=169.254.169.254").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(results.len(), 2);
    assert_eq!(
        body["results"][0]["allowed"], false,
        "the ANP denies metadata"
    );
}

#[tokio::test]
async fn map_aggregates_workloads() {
    let app = router(state(true));
    let (status, body) = get(&app, "/api/map?window=5m").await;
    assert_eq!(status, StatusCode::OK);
    let edges = body["edges"].as_array().unwrap();
    let edge = edges
        .iter()
        .find(|e| {
            e["source"] == "frontend/web" && e["target"] == "backend/api" && e["port"] == 8080
        })
        .expect("the web → api edge");
    assert_eq!(
        (edge["allow"].as_u64(), edge["deny"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(
        body["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == "db/postgres" && n["group"] == "db")
    );
}

#[tokio::test]
async fn the_page_and_its_assets_are_embedded() {
    let app = router(state(true));
    let cases = [
        (
            "page",
            "/",
            StatusCode::OK,
            "text/html; charset=utf-8",
            "importmap",
        ),
        (
            "app",
            "/assets/app.js",
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            "EventSource",
        ),
        (
            "preact",
            "/assets/vendor/preact.mjs",
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            "export",
        ),
        (
            "css",
            "/assets/style.css",
            StatusCode::OK,
            "text/css; charset=utf-8",
            "--deny",
        ),
        (
            "missing",
            "/assets/nope.js",
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "no such asset",
        ),
    ];
    for (name, uri, status, content_type, needle) in cases {
        let response = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{name}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            content_type,
            "{name}"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains(needle), "{name}");
    }
    let (_, config) = get(&app, "/api/config").await;
    assert_eq!(config["jaeger_url"], "http://jaeger.example:16686");
}

#[tokio::test]
async fn a_bearer_token_guards_the_api_only() {
    let app = router(state(true).bearer_token("s3cret"));
    let cases = [
        ("no token", "/api/stats", None, StatusCode::UNAUTHORIZED),
        (
            "wrong token",
            "/api/stats",
            Some("Bearer nope"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "header",
            "/api/stats",
            Some("Bearer s3cret"),
            StatusCode::OK,
        ),
        (
            "query (EventSource)",
            "/api/decisions?access_token=s3cret&limit=1",
            None,
            StatusCode::OK,
        ),
        (
            "stream too",
            "/api/decisions/stream",
            None,
            StatusCode::UNAUTHORIZED,
        ),
        ("the page holds no data", "/", None, StatusCode::OK),
    ];
    for (name, uri, auth, want) in cases {
        let mut request = Request::get(uri);
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), want, "{name}");
    }
}

#[tokio::test]
async fn the_stream_answers_sse_with_its_backlog() {
    let app = router(state(true));
    let response = app
        .clone()
        .oneshot(
            Request::get("/api/decisions/stream?action=deny&limit=2")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();
    let mut text = String::new();
    while text.matches("event: decision").count() < 2 {
        let frame = body.frame().await.unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(frame.data_ref().unwrap()));
    }
    assert!(text.starts_with("event: ready\n"), "{text}");
    assert!(
        text.contains("id: 5\n") && text.contains("id: 6\n"),
        "{text}"
    );
}
