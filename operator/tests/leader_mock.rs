//! The Lease elector against a mocked API server: creating, renewing, losing a race (409) and
//! waiting while another replica holds a live lease.

use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use verdict_operator::leader::{LeaseConfig, LeaseElector};

/// What the fake API server holds and how it answers writes.
#[derive(Clone)]
struct Scenario {
    /// The stored lease (`None`: 404).
    lease: Option<Value>,
    /// Answer writes with 409 Conflict (another replica wrote first).
    conflict: bool,
}

/// Every request the fake API server saw: (method, body).
type RequestLog = Arc<Mutex<Vec<(String, Value)>>>;

fn fake(scenario: Scenario) -> (Client, RequestLog) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let method = req.method().to_string();
            let bytes = req.into_body().collect_bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            seen.lock().unwrap().push((method.clone(), body.clone()));
            let (code, answer) = match (method.as_str(), &scenario.lease) {
                ("GET", Some(lease)) => (StatusCode::OK, lease.clone()),
                ("GET", None) => (
                    StatusCode::NOT_FOUND,
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "reason": "NotFound", "code": 404, "message": "leases not found"}),
                ),
                (_, _) if scenario.conflict => (
                    StatusCode::CONFLICT,
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "reason": "Conflict", "code": 409, "message": "the object has been modified"}),
                ),
                (_, _) => (StatusCode::OK, body),
            };
            let resp = Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                .unwrap();
            send.send_response(resp);
        }
    });
    (Client::new(service, "default"), log)
}

fn lease(holder: &str, renewed: Timestamp) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": "verdict-operator", "namespace": "ns", "resourceVersion": "7"},
           "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                    "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}})
}

fn elector(client: Client) -> LeaseElector {
    LeaseElector::new(client, LeaseConfig::new("ns", "verdict-operator", "me"))
}

#[tokio::test]
async fn creates_a_missing_lease() {
    let (client, log) = fake(Scenario {
        lease: None,
        conflict: false,
    });
    assert!(elector(client).try_claim().await.unwrap());
    let log = log.lock().unwrap();
    let (method, body) = &log[1];
    assert_eq!(method, "POST");
    assert_eq!(body["spec"]["holderIdentity"], "me");
    assert_eq!(body["spec"]["leaseDurationSeconds"], 15);
}

#[tokio::test]
async fn renews_its_own_lease_with_the_resource_version_it_read() {
    let (client, log) = fake(Scenario {
        lease: Some(lease("me", Timestamp::now())),
        conflict: false,
    });
    assert!(elector(client).try_claim().await.unwrap());
    let log = log.lock().unwrap();
    let (method, body) = &log[1];
    assert_eq!(method, "PUT");
    assert_eq!(body["metadata"]["resourceVersion"], "7");
}

#[tokio::test]
async fn waits_while_another_replica_holds_a_live_lease() {
    let (client, log) = fake(Scenario {
        lease: Some(lease("other", Timestamp::now())),
        conflict: false,
    });
    assert!(!elector(client).try_claim().await.unwrap());
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "no write while the lease is held"
    );
}

#[tokio::test]
async fn takes_over_an_expired_lease() {
    let stale = Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(60);
    let (client, log) = fake(Scenario {
        lease: Some(lease("other", stale)),
        conflict: false,
    });
    assert!(elector(client).try_claim().await.unwrap());
    let log = log.lock().unwrap();
    assert_eq!(log[1].1["spec"]["holderIdentity"], "me");
    assert_eq!(log[1].1["spec"]["leaseTransitions"], 1);
}

#[tokio::test]
async fn losing_the_write_race_is_not_an_error() {
    let stale = Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(60);
    let (client, _) = fake(Scenario {
        lease: Some(lease("other", stale)),
        conflict: true,
    });
    assert!(!elector(client).try_claim().await.unwrap());
    let (client, _) = fake(Scenario {
        lease: None,
        conflict: true,
    });
    assert!(!elector(client).try_claim().await.unwrap());
}
