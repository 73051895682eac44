//! The HTTP handlers. Each parses its query (a 400 names the bad parameter), reads the hub or
//! the index, and answers JSON; the stream answers SSE.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use verdict_engine::Direction;
use verdict_engine::catalog::RuleInfo;

use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::hub::Entry;
use crate::stats::{HitKey, HitKind};
use crate::{WebState, assets, explain};

type Shared = Arc<WebState>;
type Pairs = Query<Vec<(String, String)>>;

pub(crate) fn router(state: Shared) -> axum::Router {
    let api = axum::Router::new()
        .route("/api/config", get(config))
        .route("/api/decisions", get(decisions))
        .route("/api/decisions/stream", get(stream))
        .route("/api/stats", get(stats))
        .route("/api/policies", get(policies))
        .route("/api/explain", get(what_if))
        .route("/api/map", get(map))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth));
    axum::Router::new()
        .merge(api)
        .route("/", get(assets::index))
        .route("/assets/{*path}", get(assets::asset))
        .with_state(state)
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn auth(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let query = request.uri().query().and_then(|q| {
        url_pairs(q)
            .into_iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v)
    });
    let ok = header.is_some_and(|h| same(h.as_bytes(), token.as_bytes()))
        || query.is_some_and(|q| same(q.as_bytes(), token.as_bytes()));
    if ok {
        next.run(request).await
    } else {
        Error::Unauthorized.into_response()
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .expect("a path and query form a URI"),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

async fn config(State(state): State<Shared>) -> Json<Value> {
    let hub = state.hub.config();
    Json(json!({
        "node": state.node,
        "jaeger_url": state.jaeger_url,
        "history": hub.history,
        "subscriber_buffer": hub.subscriber_buffer,
    }))
}

/// `{"events": [...], "cursor": N}`: the matching events newest last, and the stream position
/// to resume from (`/api/decisions/stream?last_event_id=N`) without a gap or a repeat.
async fn decisions(State(state): State<Shared>, Query(pairs): Pairs) -> Result<Json<Value>> {
    let filter = Filter::parse(&pairs, SystemTime::now(), false)?;
    let (.., newest) = state.hub.ring_status();
    let entries = state.hub.history(&filter);
    let events: Vec<&verdict_events::DecisionEvent> = entries.iter().map(|e| &*e.event).collect();
    Ok(Json(json!({ "events": events, "cursor": newest })))
}

fn decision_event(entry: &Entry) -> Event {
    Event::default()
        .id(entry.seq.to_string())
        .event("decision")
        .json_data(&*entry.event)
        .expect("a DecisionEvent serializes")
}

fn dropped_event(count: u64, reason: &str) -> Event {
    Event::default()
        .event("dropped")
        .json_data(json!({ "count": count, "reason": reason }))
        .expect("JSON serializes")
}

struct StreamState {
    state: Shared,
    rx: tokio::sync::broadcast::Receiver<Entry>,
    pending: VecDeque<Event>,
    last: u64,
    filter: Filter,
}

/// SSE: `ready` first (with the newest position), then the backlog (`since`/`limit`, or
/// everything after `Last-Event-ID` still in the ring), then live `decision` events. A
/// `dropped` event says how many events this stream lost: older than the ring on resume, or
/// overrun while the client was slow.
async fn stream(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    let mut last_id = None;
    let mut rest = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        if k == "last_event_id" {
            last_id = Some(v.parse::<u64>().map_err(|_| {
                Error::bad("last_event_id", format!("{v:?} is not a stream position"))
            })?);
        } else {
            rest.push((k, v));
        }
    }
    if let Some(h) = headers.get("last-event-id") {
        let v = h.to_str().unwrap_or_default();
        last_id =
            Some(v.trim().parse::<u64>().map_err(|_| {
                Error::bad("Last-Event-ID", format!("{v:?} is not a stream position"))
            })?);
    }
    let filter = Filter::parse(&rest, SystemTime::now(), true)?;
    let (rx, mut backlog, missed) = state.hub.resume(last_id);
    backlog.retain(|e| filter.matches(&e.event));
    if last_id.is_none() && (filter.since.is_some() || filter.limit.is_some()) {
        backlog = state.hub.history(&filter);
    }
    let (.., newest) = state.hub.ring_status();
    let mut pending = VecDeque::new();
    pending.push_back(
        Event::default()
            .event("ready")
            .json_data(json!({ "cursor": newest }))
            .expect("JSON serializes"),
    );
    if missed > 0 {
        pending.push_back(dropped_event(missed, "history"));
    }
    let mut last = last_id.unwrap_or(0);
    for e in &backlog {
        pending.push_back(decision_event(e));
        last = last.max(e.seq);
    }
    let keep_alive = state.keep_alive;
    let st = StreamState {
        state,
        rx,
        pending,
        last,
        filter,
    };
    let events = futures::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(e) = st.pending.pop_front() {
                return Some((Ok(e), st));
            }
            match st.rx.recv().await {
                Ok(entry) if entry.seq <= st.last => {}
                Ok(entry) => {
                    st.last = entry.seq;
                    if st.filter.matches(&entry.event) {
                        return Some((Ok(decision_event(&entry)), st));
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    st.state.hub.count_lagged(n);
                    return Some((Ok(dropped_event(n, "slow client")), st));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive)))
}

fn no_params(pairs: &[(String, String)], known: &[&'static str]) -> Result<()> {
    for (k, _) in pairs {
        if k != "access_token" && !known.contains(&k.as_str()) {
            return Err(Error::bad(
                k.as_str(),
                if known.is_empty() {
                    "unknown parameter (this endpoint takes none)".to_string()
                } else {
                    format!("unknown parameter (known: {})", known.join(", "))
                },
            ));
        }
    }
    Ok(())
}

async fn stats(State(state): State<Shared>, Query(pairs): Pairs) -> Result<Json<Value>> {
    no_params(&pairs, &[])?;
    let now = now_ns();
    let now_sec = now / 1_000_000_000;
    let (held, capacity, oldest, newest) = state.hub.ring_status();
    let mut dropped = BTreeMap::new();
    dropped.insert("stream".to_string(), state.hub.lagged());
    if let Some(drops) = &state.drops {
        for (name, n) in drops() {
            dropped.insert(name, n);
        }
    }
    let body = state.hub.with_aggregates(|a| {
        let (allow_1, deny_1) = a.rates(now_sec, 1);
        let (allow_10, deny_10) = a.rates(now_sec, 10);
        let hits: Vec<Value> = a
            .hits()
            .into_iter()
            .map(|(k, h)| {
                json!({
                    "policy": k.policy, "name": k.policy.to_string(), "direction": k.direction,
                    "kind": k.kind, "rule": k.rule, "count": h.count,
                    "last_hit_unix_nano": h.last_unix_nano,
                })
            })
            .collect();
        json!({
            "now_unix_nano": now,
            "events": { "total": a.total, "allow": a.allow, "deny": a.deny },
            "by_source": a.by_source,
            "by_tier": a.by_tier,
            "rate": {
                "allow_per_s_1s": allow_1, "deny_per_s_1s": deny_1,
                "allow_per_s_10s": allow_10, "deny_per_s_10s": deny_10,
            },
            "series": a.series(now_sec, 60),
            "hits": hits,
            "folded": { "hits": a.hits_folded, "edges": a.edges_folded },
        })
    });
    let mut body = body;
    body["dropped"] = json!(dropped);
    body["history"] =
        json!({ "held": held, "capacity": capacity, "oldest": oldest, "newest": newest });
    body["subscribers"] = json!(state.hub.subscribers());
    Ok(Json(body))
}

fn rules_json(
    a: &crate::stats::Aggregates,
    policy: &verdict_engine::PolicyRef,
    direction: Direction,
    rules: &Option<Vec<RuleInfo>>,
) -> Value {
    let Some(rules) = rules else {
        return Value::Null;
    };
    rules
        .iter()
        .map(|r| {
            let hit = a
                .hit(&HitKey {
                    policy: policy.clone(),
                    direction,
                    kind: HitKind::Rule,
                    rule: Some(r.rule.index),
                })
                .unwrap_or_default();
            json!({
                "index": r.rule.index, "name": r.rule.name, "action": r.action,
                "hits": hit.count,
                "last_hit_unix_nano": (hit.count > 0).then_some(hit.last_unix_nano),
                "never_hit": hit.count == 0,
            })
        })
        .collect()
}

/// Every policy of the live index, each rule with its hits; never-hit rules flagged.
async fn policies(State(state): State<Shared>, Query(pairs): Pairs) -> Result<Json<Value>> {
    no_params(&pairs, &[])?;
    let index = state.index()?;
    let selected = state
        .node
        .as_deref()
        .map(|n| index.selected_pods(n))
        .unwrap_or_default();
    let list: Vec<Value> = state.hub.with_aggregates(|a| {
        index
            .policies()
            .into_iter()
            .map(|p| {
                let kinds = |kind| {
                    [Direction::Egress, Direction::Ingress]
                        .into_iter()
                        .filter_map(|direction| {
                            a.hit(&HitKey {
                                policy: p.policy.clone(),
                                direction,
                                kind,
                                rule: None,
                            })
                        })
                        .fold((0, 0), |(c, l), h| (c + h.count, l.max(h.last_unix_nano)))
                };
                let (isolation, isolation_last) = kinds(HitKind::Isolation);
                let (passes, pass_last) = kinds(HitKind::Pass);
                let ingress = rules_json(a, &p.policy, Direction::Ingress, &p.ingress);
                let egress = rules_json(a, &p.policy, Direction::Egress, &p.egress);
                let rule_hits: u64 = [&ingress, &egress]
                    .iter()
                    .filter_map(|v| v.as_array())
                    .flatten()
                    .map(|r| r["hits"].as_u64().unwrap_or(0))
                    .sum();
                let rule_last = [&ingress, &egress]
                    .iter()
                    .filter_map(|v| v.as_array())
                    .flatten()
                    .filter_map(|r| r["last_hit_unix_nano"].as_u64())
                    .max()
                    .unwrap_or(0);
                let total = rule_hits + isolation + passes;
                let last = rule_last.max(isolation_last).max(pass_last);
                json!({
                    "policy": p.policy,
                    "name": p.policy.to_string(),
                    "priority": p.priority,
                    "hits": total,
                    "last_hit_unix_nano": (total > 0).then_some(last),
                    "never_hit": total == 0,
                    "isolation_denies": isolation,
                    "passes": passes,
                    "ingress": ingress,
                    "egress": egress,
                    "selected_pods": selected.get(&p.policy).cloned().unwrap_or_default(),
                })
            })
            .collect()
    });
    Ok(Json(json!({
        "node": state.node,
        "generation": index.generation(),
        "policies": list,
    })))
}

async fn what_if(State(state): State<Shared>, Query(pairs): Pairs) -> Result<Json<Value>> {
    let query = explain::Query::parse(&pairs)?;
    let index = state.index()?;
    let outcomes = explain::outcomes(&index, &query)?;
    Ok(Json(explain::answer(&index, &outcomes)?))
}

/// The longest map window: the aggregates keep one hour.
const MAX_WINDOW: Duration = Duration::from_secs(3600);

async fn map(State(state): State<Shared>, Query(pairs): Pairs) -> Result<Json<Value>> {
    let mut window = Duration::from_secs(300);
    for (k, v) in &pairs {
        match k.as_str() {
            "window" => {
                let d: jiff::SignedDuration = v.parse().map_err(|_| {
                    Error::bad("window", format!("{v:?} is not a duration (30s, 5m, 1h)"))
                })?;
                window = Duration::try_from(d)
                    .ok()
                    .filter(|d| !d.is_zero() && *d <= MAX_WINDOW)
                    .ok_or_else(|| Error::bad("window", "must be more than 0 and at most 1h"))?;
            }
            "access_token" => {}
            other => return Err(Error::bad(other, "unknown parameter (known: window)")),
        }
    }
    let now_sec = now_ns() / 1_000_000_000;
    let edges = state
        .hub
        .with_aggregates(|a| a.edges(now_sec, window.as_secs().max(1)));
    let mut nodes: BTreeMap<&str, &str> = BTreeMap::new();
    for e in &edges {
        nodes.insert(&e.source, &e.source_group);
        nodes.insert(&e.target, &e.target_group);
    }
    let nodes: Vec<Value> = nodes
        .into_iter()
        .map(|(id, group)| json!({ "id": id, "group": group }))
        .collect();
    Ok(Json(json!({
        "window_seconds": window.as_secs(),
        "bucket_seconds": crate::stats::BUCKET_SECS,
        "nodes": nodes,
        "edges": edges,
    })))
}
