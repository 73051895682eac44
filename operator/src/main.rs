//! `verdict-operator`: parses flags, checks the CRD, wins the leader lease, then runs the
//! controller and the metrics server until a signal or lost leadership stops it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;
use verdict_operator::leader::{LeaseConfig, LeaseElector};
use verdict_operator::metrics::{Metrics, router};
use verdict_operator::names::DEFAULT_NAMESPACE;
use verdict_operator::{Error, controller};

/// kube-verdict operator: runs verdict-agent on the nodes each NetworkPolicyEnforcer selects.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Namespace for the agents' DaemonSets, Services, ServiceAccounts and the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    /// kubeconfig path; in-cluster config when unset.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// `/metrics`, `/healthz` and `/readyz`.
    #[arg(
        long,
        env = "VERDICT_OPERATOR_METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    metrics_addr: SocketAddr,
    /// Take a Lease before reconciling, so that several replicas are safe.
    #[arg(long, env = "VERDICT_OPERATOR_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    leader_elect: bool,
    /// The leader Lease's name.
    #[arg(
        long,
        env = "VERDICT_OPERATOR_LEASE",
        default_value = "verdict-operator"
    )]
    lease_name: String,
    /// This replica's identity in the Lease and in Events (the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// tracing filter.
    #[arg(long, env = "VERDICT_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// OTLP gRPC endpoint for the operator's reconcile spans; off when unset.
    #[arg(long, env = "VERDICT_OPERATOR_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
}

/// Sets up logging and, with an OTLP endpoint, reconcile spans through tracing-opentelemetry.
/// The returned provider is shut down (flushed) on exit.
fn init_tracing(
    args: &Args,
) -> anyhow::Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>> {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_new(&args.log_level).context("--log-level")?;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let Some(endpoint) = &args.otlp_endpoint else {
        tracing_subscriber::registry().with(filter).with(fmt).init();
        return Ok(None);
    };
    // Built inside the tokio runtime: the tonic channel needs it.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .build()
        .with_context(|| format!("--otlp-endpoint {endpoint}"))?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder_empty()
                .with_service_name("verdict-operator")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .build();
    let tracer = provider.tracer("verdict-operator");
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .init();
    Ok(Some(provider))
}

async fn client(kubeconfig: Option<&PathBuf>) -> anyhow::Result<Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::incluster().context("no --kubeconfig and not running in a pod")?,
    };
    Ok(Client::try_from(config)?)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tracer_provider = init_tracing(&args)?;
    let outcome = operate(args).await;
    if let Some(provider) = tracer_provider
        && let Err(e) = provider.shutdown()
    {
        error!(error = %e, "flushing reconcile spans failed");
    }
    outcome
}

async fn operate(args: Args) -> anyhow::Result<()> {
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "verdict-operator".to_owned());
        format!("{host}-{}", std::process::id())
    });
    let client = client(args.kubeconfig.as_ref()).await?;
    controller::check_crd(&client).await?;

    let metrics = Metrics::default();
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|source| Error::MetricsServer {
            addr: args.metrics_addr.to_string(),
            source,
        })?;
    info!(addr = %args.metrics_addr, "serving /metrics, /healthz, /readyz");
    // Ready means "up and the CRD is there", not "leader": standbys must count as available,
    // or a Deployment rollout of two replicas would never finish.
    metrics.set_ready(true);
    let server = tokio::spawn(axum::serve(listener, router(metrics.clone())).into_future());

    let elector = args.leader_elect.then(|| {
        LeaseElector::new(
            client.clone(),
            LeaseConfig::new(&args.namespace, &args.lease_name, &identity),
        )
    });
    if let Some(elector) = &elector {
        tokio::select! {
            () = elector.acquire() => {}
            () = shutdown_signal() => { server.abort(); return Ok(()); }
        }
    }
    metrics.set_leader(true);

    let run = controller::run(
        client,
        &args.namespace,
        &identity,
        metrics.clone(),
        shutdown_signal(),
    );
    let outcome = match &elector {
        Some(elector) => tokio::select! {
            () = run => Ok(()),
            lost = elector.hold() => Err(lost),
        },
        None => {
            run.await;
            Ok(())
        }
    };
    metrics.set_leader(false);
    server.abort();
    match outcome {
        Ok(()) => {
            if let Some(elector) = &elector {
                elector.release().await;
            }
            info!("stopped");
            Ok(())
        }
        Err(lost) => {
            error!(error = %lost, "stopping: another replica takes over");
            Err(lost.into())
        }
    }
}
