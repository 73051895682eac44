//! Reconcile against a mocked API server (kube's tower-test pair).
//!
//! A fake API server answers each request the way kube-apiserver would for the scenario under
//! test, and records every request, so that each test can assert what the operator asked for:
//! which objects it applied (and how), which status it wrote and which Events it published.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use verdict_crds::{NetworkPolicyEnforcer, NetworkPolicyEnforcerSpec};
use verdict_operator::metrics::Metrics;
use verdict_operator::reconcile::{Context, error_policy, reconcile};

const NS: &str = "kube-verdict-system";

/// How the fake API server behaves.
#[derive(Clone)]
enum Scenario {
    /// Every apply succeeds; the DaemonSet comes back with this status.
    Healthy { ds_status: Value },
    /// Applying the DaemonSet is forbidden.
    DaemonSetForbidden,
}

#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    query: String,
    body: Value,
}

struct FakeApi {
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeApi {
    /// A fake API server for `enforcer` alone.
    fn start(scenario: Scenario, enforcer: NetworkPolicyEnforcer) -> (Client, FakeApi) {
        Self::start_with(scenario, vec![enforcer])
    }

    /// A fake API server; `enforcers[0]` is the one under test, all of them are listed.
    fn start_with(scenario: Scenario, enforcers: Vec<NetworkPolicyEnforcer>) -> (Client, FakeApi) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        tokio::spawn(async move {
            while let Some((req, send)) = handle.next_request().await {
                let method = req.method().to_string();
                let path = req.uri().path().to_owned();
                let query = req.uri().query().unwrap_or_default().to_owned();
                let bytes = req.into_body().collect_bytes().await.unwrap();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let rec = Recorded {
                    method,
                    path,
                    query,
                    body,
                };
                log.lock().unwrap().push(rec.clone());
                let (code, answer) = answer(&scenario, &enforcers, &rec);
                let resp = Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap();
                send.send_response(resp);
            }
        });
        (Client::new(service, "default"), FakeApi { requests })
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn calls(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    fn status_written(&self) -> Option<Value> {
        self.requests()
            .into_iter()
            .find(|r| r.path.ends_with("/status"))
            .map(|r| r.body["status"].clone())
    }

    fn event_reasons(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.path.contains("/events"))
            .map(|r| r.body["reason"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn status_error(code: u16, reason: &str, message: &str) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(code).unwrap(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

/// What kube-apiserver would answer.
fn answer(
    scenario: &Scenario,
    enforcers: &[NetworkPolicyEnforcer],
    r: &Recorded,
) -> (StatusCode, Value) {
    let enforcer = &enforcers[0];
    let mut body = r.body.clone();
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/apis/verdict.dev/v1alpha1/networkpolicyenforcers") => (
            StatusCode::OK,
            json!({"apiVersion": "verdict.dev/v1alpha1", "kind": "NetworkPolicyEnforcerList",
                   "metadata": {"resourceVersion": "1"}, "items": enforcers}),
        ),
        ("PATCH", p) if p.ends_with("/status") => {
            let mut obj = serde_json::to_value(enforcer).unwrap();
            obj["status"] = body["status"].clone();
            (StatusCode::OK, obj)
        }
        ("PATCH", p) if p.contains("/daemonsets/") => match scenario {
            Scenario::DaemonSetForbidden => status_error(
                403,
                "Forbidden",
                "daemonsets.apps is forbidden: User cannot patch resource",
            ),
            Scenario::Healthy { ds_status } => {
                body["metadata"]["generation"] = json!(1);
                body["metadata"]["uid"] = json!("ds-uid");
                body["status"] = ds_status.clone();
                (StatusCode::OK, body)
            }
        },
        ("PATCH", _) => (StatusCode::OK, body),
        ("POST", p) if p.contains("/events") => (StatusCode::CREATED, body),
        ("DELETE", p) if p.contains("/daemonsets/") => {
            status_error(404, "NotFound", "daemonsets.apps not found")
        }
        _ => status_error(404, "NotFound", "unexpected request in fake API"),
    }
}

fn enforcer(name: &str, created_s: i64, spec: Value) -> NetworkPolicyEnforcer {
    let spec: NetworkPolicyEnforcerSpec = serde_json::from_value(spec).unwrap();
    let mut npe = NetworkPolicyEnforcer::new(name, spec);
    npe.metadata.uid = Some(format!("uid-{name}"));
    npe.metadata.generation = Some(1);
    npe.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created_s).unwrap()));
    npe
}

fn store_of(objects: &[&NetworkPolicyEnforcer]) -> Store<NetworkPolicyEnforcer> {
    let (reader, mut writer) = reflector::store();
    for obj in objects {
        writer.apply_watcher_event(&watcher::Event::Apply((*obj).clone()));
    }
    reader
}

fn ctx(client: Client, store: Store<NetworkPolicyEnforcer>) -> Arc<Context> {
    Arc::new(Context::new(
        client,
        NS,
        store,
        Metrics::default(),
        "test-replica",
    ))
}

fn ready_status(desired: i32, ready: i32, updated: i32) -> Value {
    json!({"observedGeneration": 1, "desiredNumberScheduled": desired, "numberReady": ready,
           "updatedNumberScheduled": updated, "numberAvailable": ready,
           "currentNumberScheduled": desired, "numberMisscheduled": 0})
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap()
}

#[tokio::test]
async fn create_applies_every_child_with_server_side_apply_and_reports_progress() {
    let npe = enforcer("prod", 10, json!({}));
    let scenario = Scenario::Healthy {
        ds_status: ready_status(3, 0, 0),
    };
    let (client, api) = FakeApi::start(scenario, npe.clone());
    let action = reconcile(Arc::new(npe.clone()), ctx(client, store_of(&[&npe])))
        .await
        .unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    let calls = api.calls();
    let applies: Vec<&str> = calls
        .iter()
        .filter(|c| c.starts_with("PATCH") && !c.ends_with("/status"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        applies,
        [
            "PATCH /api/v1/namespaces/kube-verdict-system/serviceaccounts/verdict-agent-prod",
            "PATCH /apis/rbac.authorization.k8s.io/v1/clusterroles/verdict-agent-prod",
            "PATCH /apis/rbac.authorization.k8s.io/v1/clusterrolebindings/verdict-agent-prod",
            "PATCH /api/v1/namespaces/kube-verdict-system/services/verdict-agent-prod",
            "PATCH /apis/apps/v1/namespaces/kube-verdict-system/daemonsets/verdict-agent-prod",
        ]
    );
    for r in api.requests().iter().filter(|r| r.method == "PATCH") {
        assert!(
            r.query.contains("fieldManager=verdict-operator") && r.query.contains("force=true"),
            "{} was not a forced server-side apply: {}",
            r.path,
            r.query
        );
        if !r.path.ends_with("/status") {
            assert_eq!(
                r.body["metadata"]["ownerReferences"][0]["name"], "prod",
                "{}",
                r.path
            );
        }
    }
    let status = api.status_written().expect("status written");
    assert_eq!(condition(&status, "Progressing")["status"], "True");
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert_eq!(status["desiredNodes"], 3);
    assert_eq!(status["readyNodes"], 0);
    assert_eq!(api.event_reasons(), ["Created"]);
}

#[tokio::test]
async fn finished_rollout_reports_ready_with_counts_and_image() {
    let mut npe = enforcer("prod", 10, json!({"agent": {"image": "example/agent:1"}}));
    // The status a previous reconcile wrote while rolling out.
    npe.status = Some(
        serde_json::from_value(json!({
        "observedGeneration": 1, "desiredNodes": 3, "readyNodes": 1, "updatedNodes": 3,
        "conditions": []}))
        .unwrap(),
    );
    let scenario = Scenario::Healthy {
        ds_status: ready_status(3, 3, 3),
    };
    let (client, api) = FakeApi::start(scenario, npe.clone());
    reconcile(Arc::new(npe.clone()), ctx(client, store_of(&[&npe])))
        .await
        .unwrap();
    let status = api.status_written().expect("status written");
    assert_eq!(condition(&status, "Ready")["status"], "True");
    assert_eq!(condition(&status, "Ready")["reason"], "RolledOut");
    assert_eq!(condition(&status, "Progressing")["status"], "False");
    assert_eq!(condition(&status, "Degraded")["status"], "False");
    assert_eq!(
        (
            status["desiredNodes"].as_i64(),
            status["readyNodes"].as_i64(),
            status["updatedNodes"].as_i64()
        ),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(status["agentImage"], "example/agent:1");
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(api.event_reasons(), ["RolledOut"]);
}

#[tokio::test]
async fn unchanged_status_is_not_written_again() {
    let npe = enforcer("prod", 10, json!({}));
    let scenario = Scenario::Healthy {
        ds_status: ready_status(2, 2, 2),
    };
    let (client, api) = FakeApi::start(scenario.clone(), npe.clone());
    reconcile(Arc::new(npe.clone()), ctx(client, store_of(&[&npe])))
        .await
        .unwrap();
    let mut settled = npe.clone();
    settled.status = Some(serde_json::from_value(api.status_written().unwrap()).unwrap());

    let (client, api) = FakeApi::start(scenario, settled.clone());
    reconcile(
        Arc::new(settled.clone()),
        ctx(client, store_of(&[&settled])),
    )
    .await
    .unwrap();
    assert_eq!(api.status_written(), None, "calls: {:?}", api.calls());
    assert!(api.event_reasons().is_empty());
}

#[tokio::test]
async fn newer_overlapping_enforcer_is_degraded_with_conflict_and_runs_nothing() {
    let older = enforcer("cluster-wide", 10, json!({}));
    let newer = enforcer("edge", 20, json!({"nodeSelector": {"pool": "edge"}}));
    let scenario = Scenario::Healthy {
        ds_status: ready_status(0, 0, 0),
    };
    let (client, api) = FakeApi::start_with(scenario, vec![newer.clone(), older.clone()]);
    let ctx = ctx(client, store_of(&[&older, &newer]));
    reconcile(Arc::new(newer.clone()), ctx).await.unwrap();
    let calls = api.calls();
    assert!(
        calls.contains(
            &"DELETE /apis/apps/v1/namespaces/kube-verdict-system/daemonsets/verdict-agent-edge"
                .to_owned()
        ),
        "{calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("PATCH") && c.contains("/daemonsets/")),
        "{calls:?}"
    );
    let status = api.status_written().expect("status written");
    let degraded = condition(&status, "Degraded");
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "Conflict");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .contains("\"cluster-wide\""),
        "{degraded}"
    );
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert_eq!(api.event_reasons(), ["Conflict"]);
}

#[tokio::test]
async fn older_enforcer_is_not_blocked_by_a_newer_one() {
    let older = enforcer("cluster-wide", 10, json!({}));
    let newer = enforcer("edge", 20, json!({"nodeSelector": {"pool": "edge"}}));
    let scenario = Scenario::Healthy {
        ds_status: ready_status(1, 1, 1),
    };
    let (client, api) = FakeApi::start(scenario, older.clone());
    reconcile(
        Arc::new(older.clone()),
        ctx(client, store_of(&[&older, &newer])),
    )
    .await
    .unwrap();
    let status = api.status_written().unwrap();
    assert_eq!(condition(&status, "Degraded")["status"], "False");
    assert!(
        api.calls()
            .iter()
            .any(|c| c.contains("/daemonsets/verdict-agent-cluster-wide"))
    );
}

#[tokio::test]
async fn deleting_enforcer_is_left_to_the_garbage_collector() {
    let mut npe = enforcer("prod", 10, json!({}));
    npe.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
    let scenario = Scenario::Healthy {
        ds_status: ready_status(0, 0, 0),
    };
    let (client, api) = FakeApi::start(scenario, npe.clone());
    let action = reconcile(Arc::new(npe.clone()), ctx(client, store_of(&[&npe])))
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    assert!(
        api.calls().is_empty(),
        "no API calls while deleting: {:?}",
        api.calls()
    );
}

#[tokio::test]
async fn apply_error_is_returned_recorded_on_status_and_backed_off() {
    let npe = enforcer("prod", 10, json!({}));
    let (client, api) = FakeApi::start(Scenario::DaemonSetForbidden, npe.clone());
    let metrics = Metrics::default();
    let ctx = Arc::new(Context::new(
        client,
        NS,
        store_of(&[&npe]),
        metrics.clone(),
        "r",
    ));
    let err = reconcile(Arc::new(npe.clone()), ctx.clone())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("apply DaemonSet kube-verdict-system/verdict-agent-prod")
            && msg.contains("forbidden"),
        "{msg}"
    );
    let status = api.status_written().expect("failure recorded on status");
    assert_eq!(condition(&status, "Degraded")["reason"], "ApplyFailed");
    assert!(api.event_reasons().contains(&"ApplyFailed".to_owned()));

    let first = error_policy(Arc::new(npe.clone()), &err, ctx.clone());
    let second = error_policy(Arc::new(npe.clone()), &err, ctx.clone());
    assert_eq!(first, Action::requeue(Duration::from_secs(1)));
    assert_eq!(second, Action::requeue(Duration::from_secs(2)));
    let text = metrics.render();
    assert!(
        text.contains("verdict_operator_reconcile_errors_total{error=\"kube\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("verdict_operator_reconciles_total{outcome=\"error\"} 1"),
        "{text}"
    );
    assert_eq!(npe.name_any(), "prod");
}

#[tokio::test]
async fn a_stale_cache_does_not_keep_an_enforcer_blocked() {
    // The cache still has the older enforcer, but the API server no longer does (just deleted).
    let older = enforcer("cluster-wide", 10, json!({}));
    let newer = enforcer("edge", 20, json!({"nodeSelector": {"pool": "edge"}}));
    let scenario = Scenario::Healthy {
        ds_status: ready_status(1, 1, 1),
    };
    let (client, api) = FakeApi::start_with(scenario, vec![newer.clone()]);
    reconcile(
        Arc::new(newer.clone()),
        ctx(client, store_of(&[&older, &newer])),
    )
    .await
    .unwrap();
    let calls = api.calls();
    assert!(
        calls
            .iter()
            .any(|c| c == "GET /apis/verdict.dev/v1alpha1/networkpolicyenforcers"),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("PATCH") && c.ends_with("/daemonsets/verdict-agent-edge")),
        "{calls:?}"
    );
    let status = api.status_written().unwrap();
    assert_eq!(condition(&status, "Degraded")["status"], "False");
}

#[tokio::test]
async fn spec_change_reports_rolling_out_until_every_node_is_updated() {
    let mut npe = enforcer("prod", 10, json!({"enforcement": {"strictMode": true}}));
    npe.metadata.generation = Some(2);
    npe.status = Some(
        serde_json::from_value(json!({
            "observedGeneration": 1, "desiredNodes": 3, "readyNodes": 3, "updatedNodes": 3,
            "conditions": [{"type": "Ready", "status": "True", "reason": "RolledOut",
                            "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}))
        .unwrap(),
    );
    // The DaemonSet controller has seen the new template; one node runs it so far.
    let scenario = Scenario::Healthy {
        ds_status: ready_status(3, 3, 1),
    };
    let (client, api) = FakeApi::start(scenario, npe.clone());
    reconcile(Arc::new(npe.clone()), ctx(client, store_of(&[&npe])))
        .await
        .unwrap();
    let ds_apply = api
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH" && r.path.ends_with("/daemonsets/verdict-agent-prod"))
        .unwrap();
    let args = &ds_apply.body["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--strict-mode=true"),
        "{args}"
    );
    let status = api.status_written().unwrap();
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(condition(&status, "Progressing")["status"], "True");
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert_eq!(
        condition(&status, "Ready")["message"],
        "3/3 nodes ready, 1/3 updated"
    );
    assert_eq!(status["updatedNodes"], 1);
    assert_eq!(api.event_reasons(), ["RollingOut"]);
}
