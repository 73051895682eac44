//! `kubectl verdict tail`: follows a dashboard's decisions, like `hubble observe -f`.
//!
//! ```text
//!  kubeconfig (the user's credentials) ─► API server ─► /api/v1/namespaces/NS/services/SVC:PORT/proxy
//!  or --url (a dashboard directly, optional bearer token)                     │
//!       GET /api/decisions?filters          (history; without -f)             ▼
//!       GET /api/decisions/stream?filters   (-f; reconnects with Last-Event-ID) ─► sse::Parser
//!                                                      ─► DecisionEvent ─► compact | wide | json
//! ```
//!
//! Through the service proxy, access is what RBAC grants on `services/proxy` in the agent's
//! namespace; no port-forward is needed. The filters are the dashboard API's and are checked by
//! it: a bad one comes back as the API's message naming the parameter.

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use verdict_engine::{DirectionDecision, Endpoint, PolicyKind, PolicyRef, Verdict};
use verdict_events::DecisionEvent;

use crate::args::{TailArgs, TailFormat};
use crate::error::{Error, Result};
use crate::sse::Parser;

/// Where the dashboard is and how to reach it.
struct Target {
    client: kube::Client,
    /// Path prefix before `/api/...`.
    base: String,
    /// For messages.
    shown: String,
}

fn dashboard_error(shown: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Dashboard {
        url: shown.to_string(),
        source: Box::new(e),
    }
}

async fn target(args: &TailArgs) -> Result<Target> {
    if let Some(url) = &args.url {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| Error::Usage(format!("--url {url}: not a URL")))?;
        let base = uri.path().trim_end_matches('/').to_string();
        let origin: http::Uri = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority()
                .ok_or_else(|| Error::Usage(format!("--url {url}: no host")))?
        )
        .parse()
        .map_err(|_| Error::Usage(format!("--url {url}: not a URL")))?;
        let mut config = kube::Config::new(origin);
        if let Some(token) = &args.token {
            config.auth_info.token = Some(token.clone().into());
        }
        let client = kube::Client::try_from(config).map_err(|e| dashboard_error(url, e))?;
        return Ok(Target {
            client,
            base,
            shown: url.clone(),
        });
    }
    let options = kube::config::KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| dashboard_error(&path.display().to_string(), e))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        None => kube::Config::from_kubeconfig(&options).await,
    }
    .map_err(|e| dashboard_error("kubeconfig", e))?;
    let base = format!(
        "/api/v1/namespaces/{}/services/{}:{}/proxy",
        args.service_namespace, args.service, args.service_port
    );
    let shown = format!(
        "{}{base}",
        config.cluster_url.to_string().trim_end_matches('/')
    );
    let client = kube::Client::try_from(config).map_err(|e| dashboard_error(&shown, e))?;
    Ok(Target {
        client,
        base,
        shown,
    })
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The API query for the filters (and, for the first request, `--since`/`--last`).
fn query(args: &TailArgs, backlog: bool) -> String {
    let mut pairs: Vec<(&str, &str)> = args.filters();
    if backlog && let Some(since) = &args.since {
        pairs.push(("since", since));
    }
    let last = args.last.map(|n| n.to_string());
    if backlog && let Some(last) = &last {
        pairs.push(("limit", last));
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Sends a GET; a non-2xx answer becomes the API's own message.
async fn get(target: &Target, path: &str, last_id: Option<&str>) -> Result<http::Response<Body>> {
    let mut request = Request::get(format!("{}{path}", target.base));
    if let Some(id) = last_id {
        request = request.header("Last-Event-ID", id);
    }
    let request = request
        .body(Body::from(Vec::new()))
        .expect("a GET with a path is a valid request");
    let response = target
        .client
        .send(request)
        .await
        .map_err(|e| dashboard_error(&target.shown, e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.trim().to_string());
    Err(Error::DashboardRejected {
        status: status.as_u16(),
        message: match status {
            StatusCode::FORBIDDEN => {
                format!(
                    "{message} (through the service proxy you need `get` on services/proxy in the agent's namespace)"
                )
            }
            _ => message,
        },
    })
}

/// Runs `tail`: prints the history (or, with `-f`, follows the stream) to `out`; notices
/// (reconnects, dropped events) go to `err`.
///
/// # Errors
/// [`Error::DashboardRejected`] when the dashboard refuses the request (a bad filter names
/// the parameter), [`Error::Dashboard`] when it cannot be reached at all (without `-f`; with
/// `-f` a lost connection is retried), [`Error::Output`].
pub async fn run(
    args: &TailArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<()> {
    let target = target(args).await?;
    if !args.follow {
        let q = query(args, true);
        let response = get(&target, &format!("/api/decisions?{q}"), None).await?;
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| dashboard_error(&target.shown, e))?
            .to_bytes();
        #[derive(serde::Deserialize)]
        struct History {
            events: Vec<DecisionEvent>,
        }
        let history: History =
            serde_json::from_slice(&bytes).map_err(|e| dashboard_error(&target.shown, e))?;
        for event in &history.events {
            print(out, args.output, event)?;
        }
        return Ok(());
    }
    follow(&target, args, out, err).await
}

async fn follow(
    target: &Target,
    args: &TailArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<()> {
    let mut last_id: Option<String> = None;
    let mut backoff = Duration::from_millis(250);
    let mut first = true;
    loop {
        let q = query(args, first && last_id.is_none());
        match get(
            target,
            &format!("/api/decisions/stream?{q}"),
            last_id.as_deref(),
        )
        .await
        {
            Ok(response) => {
                first = false;
                backoff = Duration::from_millis(250);
                let mut parser = Parser::new();
                let mut body = response.into_body();
                let mut pending: Vec<u8> = Vec::new();
                'read: loop {
                    let frame = match body.frame().await {
                        Some(Ok(frame)) => frame,
                        Some(Err(e)) => {
                            notice(err, &format!("stream interrupted: {e}"))?;
                            break 'read;
                        }
                        None => break 'read,
                    };
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    pending.extend_from_slice(&data);
                    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        let Some(event) = parser.line(&String::from_utf8_lossy(&line)) else {
                            continue;
                        };
                        match event.event.as_str() {
                            "decision" => {
                                let decision: DecisionEvent = serde_json::from_str(&event.data)
                                    .map_err(|e| dashboard_error(&target.shown, e))?;
                                print(out, args.output, &decision)?;
                                last_id = event.id.clone();
                            }
                            "dropped" => {
                                let v: serde_json::Value =
                                    serde_json::from_str(&event.data).unwrap_or_default();
                                notice(
                                    err,
                                    &format!(
                                        "{} decisions were dropped ({})",
                                        v["count"],
                                        v["reason"].as_str().unwrap_or("unknown reason")
                                    ),
                                )?;
                            }
                            _ => {}
                        }
                    }
                }
                notice(err, "the stream closed; reconnecting")?;
            }
            Err(e @ Error::DashboardRejected { .. }) => return Err(e),
            Err(e) => notice(err, &format!("{}; retrying in {backoff:?}", e.chain()))?,
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

fn notice(err: &mut (dyn Write + Send), message: &str) -> Result<()> {
    writeln!(err, "tail: {message}").map_err(Error::Output)
}

fn print(out: &mut (dyn Write + Send), format: TailFormat, event: &DecisionEvent) -> Result<()> {
    let line = match format {
        TailFormat::Json => serde_json::to_string(event).map_err(Error::Serialize)?,
        TailFormat::Compact => compact(event),
        TailFormat::Wide => wide(event),
    };
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// `ns/name` for a NetworkPolicy, `anp/name`, `banp/name`, ... otherwise.
pub fn short_policy(p: &PolicyRef) -> String {
    match (&p.namespace, p.kind) {
        (Some(ns), _) => format!("{ns}/{}", p.name),
        (None, PolicyKind::AdminNetworkPolicy) => format!("anp/{}", p.name),
        (None, PolicyKind::BaselineAdminNetworkPolicy) => format!("banp/{}", p.name),
        (None, PolicyKind::ClusterNetworkPolicy) => format!("cnp/{}", p.name),
        (None, kind) => format!("{kind:?}/{}", p.name),
    }
}

/// What decided, in a few words: `ingress backend/allow-web rule 0`, `ingress isolated by
/// backend/default-deny`, `egress anp/block rule 0 "no-metadata"`, `default: no local pod`.
pub fn attribution(event: &DecisionEvent) -> String {
    if let Some(reason) = event.defaulted {
        return format!("default: {}", reason.as_str().replace('_', " "));
    }
    let Some(d) = event.deciding() else {
        return "not judged".into();
    };
    let dir = match d.direction {
        verdict_engine::Direction::Egress => "egress",
        verdict_engine::Direction::Ingress => "ingress",
    };
    let mut out = format!("{dir} ");
    out.push_str(&decided_by(d));
    if !d.passed_by.is_empty() {
        let _ = write!(
            out,
            " (passed by {})",
            d.passed_by
                .iter()
                .map(short_policy)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}

fn decided_by(d: &DirectionDecision) -> String {
    match (&d.policy, &d.rule) {
        (Some(p), Some(r)) => match &r.name {
            Some(name) => format!("{} rule {} \"{name}\"", short_policy(p), r.index),
            None => format!("{} rule {}", short_policy(p), r.index),
        },
        (Some(p), None) => short_policy(p),
        (None, _) if d.verdict == Verdict::Deny && !d.isolated_by.is_empty() => format!(
            "isolated by {}",
            d.isolated_by
                .iter()
                .map(short_policy)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (None, _) => "not isolated".into(),
    }
}

fn end(endpoint: Option<&Endpoint>, ip: Option<std::net::IpAddr>, port: Option<u16>) -> String {
    let addr = match (ip, port) {
        (Some(ip), Some(port)) if ip.is_ipv6() => format!("[{ip}]:{port}"),
        (Some(ip), Some(port)) => format!("{ip}:{port}"),
        (Some(ip), None) => ip.to_string(),
        _ => "?".into(),
    };
    match endpoint {
        Some(Endpoint::External { .. }) | None => addr,
        Some(e) => format!("{e} {addr}"),
    }
}

fn time(event: &DecisionEvent) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(event.time_unix_nano))
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%H:%M:%S%.3f")
                .to_string()
        })
        .unwrap_or_else(|_| "?".into())
}

/// One line: time, node, verdict, source → destination, protocol, what decided.
pub fn compact(event: &DecisionEvent) -> String {
    let flow = event.flow.as_ref();
    let ports = flow.is_some_and(|f| f.protocol.has_ports());
    let src = end(
        event.src.as_ref(),
        flow.map(|f| f.src_ip),
        flow.filter(|_| ports).map(|f| f.src_port),
    );
    let dst = end(
        event.dst.as_ref(),
        flow.map(|f| f.dst_ip),
        flow.filter(|_| ports).map(|f| f.dst_port),
    );
    format!(
        "{} {} {:<5} {src} -> {dst} {} {}",
        time(event),
        event.node,
        event.verdict.as_upper_str(),
        flow.map_or("?".to_string(), |f| f.protocol.to_string()),
        attribution(event)
    )
}

/// The compact line plus source, hold time, generation and trace id, then the explanation.
pub fn wide(event: &DecisionEvent) -> String {
    format!(
        "{} via {} held {}us gen {} trace {}\n    {}",
        compact(event),
        event.source.as_str(),
        event.hold_ns / 1_000,
        event.generation,
        event.trace_id,
        event.explanation
    )
}
