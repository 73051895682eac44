//! Jaeger v2 (in-memory storage) on 127.0.0.1 free ports, for tests of the agent's OTLP spans.
//! Everything binds to loopback; the query API answers `GET /api/traces?service=...`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bins::binary;
use crate::control_plane::free_port;
use crate::error::{Error, Result};
use crate::process::ManagedProcess;
use crate::stale::StateFile;
use crate::{new_run_id, work_root};

/// A running Jaeger. Dropping it stops it; its log is kept (and printed) when the test panics.
#[derive(Debug)]
pub struct Jaeger {
    id: String,
    dir: PathBuf,
    otlp_grpc: u16,
    otlp_http: u16,
    query: u16,
    process: ManagedProcess,
    _state: StateFile,
}

fn config(health: u16, query_http: u16, query_grpc: u16, otlp_grpc: u16, otlp_http: u16) -> String {
    format!(
        r#"service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:{health}
  jaeger_query:
    # Otherwise the query service traces itself to 127.0.0.1:4317 and hangs on shutdown.
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query_http}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc}
      http:
        endpoint: 127.0.0.1:{otlp_http}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"#
    )
}

impl Jaeger {
    /// Starts Jaeger on free ports and waits until its health check and query API answer.
    pub async fn start() -> Result<Jaeger> {
        Jaeger::start_on(0, 0).await
    }

    /// Like [`Jaeger::start`], with the query API (and UI, when one is served) on
    /// `127.0.0.1:query` and OTLP gRPC on `127.0.0.1:otlp_grpc`; 0 picks a free port.
    ///
    /// # Errors
    /// [`Error::PortInUse`] names a port that is taken.
    pub async fn start_on(query: u16, otlp_grpc: u16) -> Result<Jaeger> {
        let t0 = Instant::now();
        let pick = |port: u16, what: &str| -> Result<u16> {
            if port == 0 {
                return free_port();
            }
            std::net::TcpListener::bind(("127.0.0.1", port))
                .map(|_| port)
                .map_err(|source| Error::PortInUse {
                    port,
                    what: what.to_string(),
                    source,
                })
        };
        let (query, otlp_grpc) = (
            pick(query, "Jaeger query API")?,
            pick(otlp_grpc, "Jaeger OTLP gRPC receiver")?,
        );
        let id = new_run_id();
        let dir = work_root().join(format!("jaeger-{id}"));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let state = StateFile::create(&id, Some(&dir))?;
        let (health, query_grpc, otlp_http) = (free_port()?, free_port()?, free_port()?);
        let config_path = dir.join("config.yaml");
        std::fs::write(
            &config_path,
            config(health, query, query_grpc, otlp_grpc, otlp_http),
        )
        .map_err(|e| Error::io("writing", &config_path, e))?;
        let mut process = ManagedProcess::spawn(
            "jaeger",
            &binary("jaeger")?,
            &["--config".into(), config_path.display().to_string()],
            &[],
            None,
            &dir.join("jaeger.log"),
        )?;
        process.set_stop_signal(nix::sys::signal::Signal::SIGINT);
        if let Some(pid) = process.pid() {
            state.add_pid(pid)?;
        }
        let mut jaeger = Jaeger {
            id,
            dir,
            otlp_grpc,
            otlp_http,
            query,
            process,
            _state: state,
        };
        loop {
            jaeger.process.check_running()?;
            if let Ok((200, _)) = http("GET", health, "/status", None).await
                && let Ok((200, _)) = http("GET", query, "/api/services", None).await
            {
                break;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                return Err(Error::Timeout {
                    what: "jaeger health".into(),
                    seconds: 30.0,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "[e2e] jaeger {} ready in {:.1}s (OTLP gRPC {})",
            jaeger.id,
            t0.elapsed().as_secs_f64(),
            jaeger.otlp_grpc_endpoint()
        );
        Ok(jaeger)
    }

    /// OTLP/gRPC endpoint, e.g. for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn otlp_grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.otlp_grpc)
    }

    /// OTLP/HTTP endpoint (POST `/v1/traces`).
    pub fn otlp_http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.otlp_http)
    }

    /// The query API base URL (`/api/services`, `/api/traces?service=...`).
    pub fn query_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.query)
    }

    /// Sends an OTLP/HTTP JSON export request (for tests of the query side).
    pub async fn post_otlp_json(&self, body: &serde_json::Value) -> Result<()> {
        let body = body.to_string();
        match http("POST", self.otlp_http, "/v1/traces", Some(&body)).await {
            Ok((200, _)) => Ok(()),
            Ok((status, text)) => Err(Error::Invalid(format!(
                "OTLP export answered {status}: {text}"
            ))),
            Err(e) => Err(Error::io("posting OTLP to", self.dir.join("jaeger.log"), e)),
        }
    }

    /// The traces Jaeger holds for `service` (the query API's `data` array; empty if none).
    pub async fn traces(&self, service: &str) -> Result<Vec<serde_json::Value>> {
        let path = format!("/api/traces?service={service}&limit=1000");
        let (status, body) = http("GET", self.query, &path, None)
            .await
            .map_err(|e| Error::io("querying", self.dir.join("jaeger.log"), e))?;
        if status != 200 {
            return Ok(Vec::new()); // unknown service
        }
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|source| Error::Json {
            what: format!("jaeger traces of {service}"),
            source,
        })?;
        Ok(v["data"].as_array().cloned().unwrap_or_default())
    }

    /// The work directory (config and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Jaeger {
    fn drop(&mut self) {
        self.process.stop(Duration::from_secs(5));
        if std::thread::panicking() || crate::keep_requested() {
            eprintln!(
                "[e2e] jaeger {} log kept: {}",
                self.id,
                self.dir.join("jaeger.log").display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A minimal HTTP/1.0 exchange on 127.0.0.1 (HTTP/1.0 keeps Go servers from chunking).
async fn http(
    method: &str,
    port: u16,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
