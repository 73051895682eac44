//! The agent's command line: every flag of the shared agent contract, each also read from an
//! environment variable, validated so that a bad value names its flag.
//!
//! ```text
//!   argv + env ──clap──► Args ──Config::from_args──► Config (validated, defaults resolved)
//!                   │                     │
//!                   └─ bad value ─────────┴──► message naming the flag, exit status 2
//! ```
//!
//! [`Config::parse`] is what `main` calls; [`Config::try_parse_from`] is the testable core.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::error::ErrorKind;
use clap::{ArgAction, CommandFactory, Parser};

/// The most queues (and verdict threads) the agent runs.
pub const MAX_QUEUES: u16 = 16;

/// The evaluators `--policies` can switch on, in evaluation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyApi {
    /// `admin-network-policy`: AdminNetworkPolicy objects are watched and enforced.
    AdminNetworkPolicy,
    /// `network-policy`: NetworkPolicy objects are watched and enforced.
    NetworkPolicy,
    /// `baseline-admin-network-policy`: the BaselineAdminNetworkPolicy is watched and enforced.
    BaselineAdminNetworkPolicy,
}

impl PolicyApi {
    /// Every evaluator, in evaluation order.
    pub const ALL: [PolicyApi; 3] = [
        PolicyApi::AdminNetworkPolicy,
        PolicyApi::NetworkPolicy,
        PolicyApi::BaselineAdminNetworkPolicy,
    ];

    /// The spelling used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyApi::AdminNetworkPolicy => "admin-network-policy",
            PolicyApi::NetworkPolicy => "network-policy",
            PolicyApi::BaselineAdminNetworkPolicy => "baseline-admin-network-policy",
        }
    }
}

/// Which evaluators run. An evaluator that is off has its objects neither watched nor indexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicySet {
    /// AdminNetworkPolicy tier.
    pub admin: bool,
    /// NetworkPolicy tier.
    pub network: bool,
    /// BaselineAdminNetworkPolicy tier.
    pub baseline: bool,
}

impl PolicySet {
    /// Every tier on.
    pub const ALL: PolicySet = PolicySet {
        admin: true,
        network: true,
        baseline: true,
    };

    /// Whether `api` is on.
    pub fn contains(self, api: PolicyApi) -> bool {
        match api {
            PolicyApi::AdminNetworkPolicy => self.admin,
            PolicyApi::NetworkPolicy => self.network,
            PolicyApi::BaselineAdminNetworkPolicy => self.baseline,
        }
    }
}

impl std::fmt::Display for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = PolicyApi::ALL
            .iter()
            .filter(|a| self.contains(**a))
            .map(|a| a.as_str())
            .collect();
        f.write_str(&names.join(","))
    }
}

/// The raw command line, as clap sees it. Per-value checks live in the `parse_*` functions so
/// that clap's message names the flag; cross-flag checks live in [`Config::from_args`].
#[derive(Debug, Parser)]
#[command(name = "verdict-agent", version, about = "kube-verdict node agent")]
struct Args {
    /// This node's name (downward API `spec.nodeName`).
    #[arg(long, env = "NODE_NAME", value_parser = parse_node_name)]
    node_name: String,

    /// Kubeconfig path; the in-cluster configuration is used when unset.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,

    /// First NFQUEUE number.
    #[arg(long, env = "VERDICT_QUEUE_BASE", default_value_t = 100)]
    queue_base: u16,

    /// Number of queues and verdict threads (1..=16); default: the number of CPUs, at most 16.
    #[arg(long, env = "VERDICT_QUEUES", value_parser = parse_queues)]
    queues: Option<u16>,

    /// Accept packets (bypass, fail-open queue) when no verdict can be had.
    #[arg(long, env = "VERDICT_FAIL_OPEN", default_value = "true", num_args = 0..=1,
          default_missing_value = "true", require_equals = true, action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    fail_open: bool,

    /// Delete the conntrack entries of local selected pods that the current index denies: once
    /// at start, then after every policy or label change.
    #[arg(long, env = "VERDICT_STRICT_MODE", default_value = "false", num_args = 0..=1,
          default_missing_value = "true", require_equals = true, action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    strict_mode: bool,

    /// Seconds a flow class judged allow stays in the kernel verdict cache (0 turns the cache
    /// off: every new connection goes to the queue). Any index change flushes the cache.
    #[arg(long, env = "VERDICT_VERDICT_CACHE_TTL", default_value = "30",
          value_parser = parse_cache_ttl)]
    verdict_cache_ttl: u64,

    /// nfnetlink_log group the verdict cache rules log to (read back to report cached accepts).
    #[arg(long, env = "VERDICT_VERDICT_CACHE_LOG_GROUP", default_value_t = 100)]
    verdict_cache_log_group: u16,

    /// nftables inet table name.
    #[arg(long, env = "VERDICT_TABLE_NAME", default_value = "kube-verdict",
          value_parser = parse_table_name)]
    table_name: String,

    /// Which of the NetworkPolicy and v1alpha1 admin evaluators run, comma separated.
    /// ClusterNetworkPolicy (v1beta1, or v1alpha2) is watched whenever its CRD is served.
    #[arg(long, env = "VERDICT_POLICIES",
          default_value = "admin-network-policy,network-policy,baseline-admin-network-policy",
          value_parser = parse_policies)]
    policies: PolicySet,

    /// Prometheus `/metrics` listen address.
    #[arg(long, env = "VERDICT_METRICS_ADDR", default_value = "0.0.0.0:9090")]
    metrics_addr: SocketAddr,

    /// `/healthz` and `/readyz` listen address.
    #[arg(long, env = "VERDICT_HEALTH_ADDR", default_value = "0.0.0.0:9091")]
    health_addr: SocketAddr,

    /// tracing filter, e.g. `info,verdict_agent=debug`.
    #[arg(long, env = "VERDICT_LOG_LEVEL", default_value = "info", value_parser = parse_log_level)]
    log_level: String,

    /// OTLP gRPC endpoint for decision spans.
    #[arg(long, env = "VERDICT_OTLP_ENDPOINT", value_parser = parse_otlp_endpoint)]
    otlp_endpoint: Option<String>,

    /// Fraction of allow decisions exported as spans (0.0..=1.0).
    #[arg(long, env = "VERDICT_ALLOW_SAMPLE_RATE", default_value_t = 1.0,
          value_parser = parse_sample_rate)]
    allow_sample_rate: f64,

    /// Export every deny decision.
    #[arg(long, env = "VERDICT_ALWAYS_SAMPLE_DENIES", default_value = "true", num_args = 0..=1,
          default_missing_value = "true", require_equals = true, action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    always_sample_denies: bool,

    /// Address of the live dashboard; off when unset.
    #[arg(long, env = "VERDICT_DASHBOARD_ADDR")]
    dashboard_addr: Option<SocketAddr>,

    /// The cluster-wide key the connection trace ids are derived from; every agent of a
    /// cluster must use the same one (the operator passes the enforcer's UID).
    #[arg(long, env = "VERDICT_TRACE_KEY", default_value = "kube-verdict")]
    trace_key: String,

    /// Spans this node exports per second at most (a token bucket with twice this burst).
    #[arg(long, env = "VERDICT_MAX_SPANS_PER_SECOND", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_spans_per_second: u32,

    /// Distinct `verdict_policy_hits_total` series at most; further rules are counted in
    /// `verdict_policy_hits_folded_total`.
    #[arg(long, env = "VERDICT_POLICY_HITS_CAP", default_value_t = 2000)]
    policy_hits_cap: usize,

    /// Decisions held between the verdict threads and the telemetry task.
    #[arg(long, env = "VERDICT_EVENT_BUFFER", default_value_t = 65536,
          value_parser = clap::value_parser!(u32).range(64..=4_194_304))]
    event_buffer: u32,

    /// The Jaeger UI's base URL, for the dashboard's trace links.
    #[arg(long, env = "VERDICT_JAEGER_UI_URL")]
    jaeger_ui_url: Option<String>,

    /// Decisions the dashboard keeps for `/api/decisions` and for resuming streams.
    #[arg(long, env = "VERDICT_DASHBOARD_HISTORY", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    dashboard_history: u32,

    /// A bearer token the dashboard's API requires; open when unset (the dashboard is
    /// read-only and binds only where `--dashboard-addr` says).
    #[arg(long, env = "VERDICT_DASHBOARD_TOKEN", hide_env_values = true)]
    dashboard_token: Option<String>,

    /// This agent's pod name (downward API), for the spans' resource.
    #[arg(long, env = "VERDICT_POD_NAME")]
    pod_name: Option<String>,

    /// This agent's pod namespace (downward API), for the spans' resource.
    #[arg(long, env = "VERDICT_POD_NAMESPACE")]
    pod_namespace: Option<String>,
}

/// The validated agent configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// This node's name.
    pub node_name: String,
    /// Kubeconfig path; `None` means in-cluster configuration.
    pub kubeconfig: Option<PathBuf>,
    /// First NFQUEUE number.
    pub queue_base: u16,
    /// Number of queues, 1..=16, with `queue_base + queues - 1` a valid queue number.
    pub queues: u16,
    /// Fail-open (true) or fail-closed (false).
    pub fail_open: bool,
    /// Strict mode: delete the conntrack entries the index denies (at start and on change).
    pub strict_mode: bool,
    /// Seconds a cached allow lives in the kernel; 0: no verdict cache.
    pub verdict_cache_ttl: u64,
    /// nfnetlink_log group of the verdict cache rules.
    pub verdict_cache_log_group: u16,
    /// nftables inet table name.
    pub table_name: String,
    /// Which evaluators run.
    pub policies: PolicySet,
    /// Metrics listen address.
    pub metrics_addr: SocketAddr,
    /// Health listen address.
    pub health_addr: SocketAddr,
    /// tracing filter directive.
    pub log_level: String,
    /// OTLP gRPC endpoint of the decision spans; `None`: no spans.
    pub otlp_endpoint: Option<String>,
    /// Fraction of allowed connections traced.
    pub allow_sample_rate: f64,
    /// Whether every denied connection is traced.
    pub always_sample_denies: bool,
    /// Dashboard address; `None`: no dashboard.
    pub dashboard_addr: Option<SocketAddr>,
    /// The cluster's trace-id key.
    pub trace_key: String,
    /// The per-node span cap, per second.
    pub max_spans_per_second: u32,
    /// Cap on distinct policy-hit series.
    pub policy_hits_cap: usize,
    /// Capacity of the decision handoff ring.
    pub event_buffer: usize,
    /// The Jaeger UI's base URL for trace links.
    pub jaeger_ui_url: Option<String>,
    /// Events the dashboard keeps.
    pub dashboard_history: usize,
    /// The dashboard's bearer token, if any.
    pub dashboard_token: Option<String>,
    /// This agent's pod name, when known.
    pub pod_name: Option<String>,
    /// This agent's pod namespace, when known.
    pub pod_namespace: Option<String>,
}

impl Config {
    /// Parses `std::env::args()` and the environment; on a bad value prints a message that names
    /// the flag and exits with status 2 (`--help` and `--version` exit 0).
    pub fn parse() -> Config {
        match Config::try_parse_from(std::env::args_os()) {
            Ok(config) => config,
            Err(e) => e.exit(),
        }
    }

    /// Parses the given arguments (the first is the program name) and the environment.
    ///
    /// # Errors
    /// A clap error naming the offending flag; its `exit()` uses status 2 for usage errors.
    pub fn try_parse_from<I, T>(args: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let args = Args::try_parse_from(args)?;
        Config::from_args(args, available_cpus())
    }

    fn from_args(args: Args, cpus: usize) -> Result<Config, clap::Error> {
        let queues = args.queues.unwrap_or_else(|| default_queues(cpus));
        if u32::from(args.queue_base) + u32::from(queues) - 1 > u32::from(u16::MAX) {
            return Err(Args::command().error(
                ErrorKind::ValueValidation,
                format!(
                    "invalid value for '--queues' with '--queue-base {}': queues {}..={} exceed \
                     the highest NFQUEUE number 65535",
                    args.queue_base,
                    args.queue_base,
                    u32::from(args.queue_base) + u32::from(queues) - 1
                ),
            ));
        }
        Ok(Config {
            node_name: args.node_name,
            kubeconfig: args.kubeconfig,
            queue_base: args.queue_base,
            queues,
            fail_open: args.fail_open,
            strict_mode: args.strict_mode,
            verdict_cache_ttl: args.verdict_cache_ttl,
            verdict_cache_log_group: args.verdict_cache_log_group,
            table_name: args.table_name,
            policies: args.policies,
            metrics_addr: args.metrics_addr,
            health_addr: args.health_addr,
            log_level: args.log_level,
            otlp_endpoint: args.otlp_endpoint,
            allow_sample_rate: args.allow_sample_rate,
            always_sample_denies: args.always_sample_denies,
            dashboard_addr: args.dashboard_addr,
            trace_key: args.trace_key,
            max_spans_per_second: args.max_spans_per_second,
            policy_hits_cap: args.policy_hits_cap,
            event_buffer: args.event_buffer as usize,
            jaeger_ui_url: args.jaeger_ui_url,
            dashboard_history: args.dashboard_history as usize,
            dashboard_token: args.dashboard_token,
            pod_name: args.pod_name,
            pod_namespace: args.pod_namespace,
        })
    }
}

fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The number of CPUs, clamped to 1..=16.
fn default_queues(cpus: usize) -> u16 {
    u16::try_from(cpus.clamp(1, usize::from(MAX_QUEUES))).unwrap_or(MAX_QUEUES)
}

fn parse_node_name(s: &str) -> Result<String, String> {
    // A node name is a DNS-1123 subdomain.
    if s.is_empty() || s.len() > 253 {
        return Err("must be 1 to 253 characters".into());
    }
    let ok = s.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')".into())
    }
}

fn parse_queues(s: &str) -> Result<u16, String> {
    let n: u16 = s
        .parse()
        .map_err(|_| format!("must be a whole number from 1 to {MAX_QUEUES}"))?;
    if (1..=MAX_QUEUES).contains(&n) {
        Ok(n)
    } else {
        Err(format!("must be from 1 to {MAX_QUEUES}"))
    }
}

fn parse_cache_ttl(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .parse()
        .map_err(|_| "must be a whole number of seconds (0 turns the cache off)".to_string())?;
    if n > 3600 {
        return Err("must be at most 3600 seconds".into());
    }
    Ok(n)
}

fn parse_table_name(s: &str) -> Result<String, String> {
    // The kernel takes any name up to 255 bytes; `nft` only parses identifiers, so insist on those
    // to keep the table listable and deletable by hand.
    let mut bytes = s.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !first_ok || !rest_ok || s.len() > 255 {
        return Err(
            "must start with a letter and contain only letters, digits, '-', '_' and \
                    '.', at most 255 characters"
                .into(),
        );
    }
    Ok(s.to_owned())
}

fn parse_policies(s: &str) -> Result<PolicySet, String> {
    let mut set = PolicySet {
        admin: false,
        network: false,
        baseline: false,
    };
    for item in s.split(',').map(str::trim) {
        match PolicyApi::ALL.iter().find(|a| a.as_str() == item) {
            Some(PolicyApi::AdminNetworkPolicy) => set.admin = true,
            Some(PolicyApi::NetworkPolicy) => set.network = true,
            Some(PolicyApi::BaselineAdminNetworkPolicy) => set.baseline = true,
            None => {
                return Err(format!(
                    "unknown policy API {item:?}; expected a comma-separated list of \
                     admin-network-policy, network-policy, baseline-admin-network-policy"
                ));
            }
        }
    }
    Ok(set)
}

fn parse_log_level(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("not a tracing filter: {e}"))
}

fn parse_otlp_endpoint(s: &str) -> Result<String, String> {
    let uri: axum::http::Uri = s.parse().map_err(|e| format!("not a URI: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("must be an http:// or https:// URI".into()),
    }
    if uri.authority().is_none() {
        return Err("must name a host, e.g. http://otel-collector:4317".into());
    }
    Ok(s.to_owned())
}

fn parse_sample_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .parse()
        .map_err(|_| "must be a number from 0.0 to 1.0".to_owned())?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err("must be from 0.0 to 1.0".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        use clap::FromArgMatches;
        let argv = std::iter::once("verdict-agent").chain(args.iter().copied());
        // Ignore the environment so that a NODE_NAME or KUBECONFIG set around the test run
        // cannot change the outcome.
        let matches = Args::command()
            .mut_args(|a| a.env(None))
            .try_get_matches_from(argv)?;
        Config::from_args(Args::from_arg_matches(&matches)?, 4)
    }

    fn defaults() -> Config {
        Config {
            node_name: "node-a".into(),
            kubeconfig: None,
            queue_base: 100,
            queues: 4,
            fail_open: true,
            strict_mode: false,
            verdict_cache_ttl: 30,
            verdict_cache_log_group: 100,
            table_name: "kube-verdict".into(),
            policies: PolicySet::ALL,
            metrics_addr: "0.0.0.0:9090".parse().unwrap(),
            health_addr: "0.0.0.0:9091".parse().unwrap(),
            log_level: "info".into(),
            otlp_endpoint: None,
            allow_sample_rate: 1.0,
            always_sample_denies: true,
            dashboard_addr: None,
            trace_key: "kube-verdict".into(),
            max_spans_per_second: 2000,
            policy_hits_cap: 2000,
            event_buffer: 65536,
            jaeger_ui_url: None,
            dashboard_history: 10_000,
            dashboard_token: None,
            pod_name: None,
            pod_namespace: None,
        }
    }

    /// A named case: extra flags, and how they change the defaults.
    type Accepted = (&'static str, Vec<&'static str>, Box<dyn Fn(&mut Config)>);

    #[test]
    fn accepted_values() {
        let cases: Vec<Accepted> = vec![
            ("defaults", vec![], Box::new(|_| {})),
            (
                "bare boolean is true",
                vec!["--strict-mode"],
                Box::new(|c| c.strict_mode = true),
            ),
            (
                "explicit false",
                vec!["--fail-open=false"],
                Box::new(|c| c.fail_open = false),
            ),
            (
                "boolish 0",
                vec!["--always-sample-denies=0"],
                Box::new(|c| {
                    c.always_sample_denies = false;
                }),
            ),
            (
                "queues",
                vec!["--queues", "16", "--queue-base", "0"],
                Box::new(|c| {
                    c.queues = 16;
                    c.queue_base = 0;
                }),
            ),
            (
                "highest queue range",
                vec!["--queue-base", "65534", "--queues", "2"],
                Box::new(|c| {
                    c.queue_base = 65534;
                    c.queues = 2;
                }),
            ),
            (
                "one policy API",
                vec!["--policies", "network-policy"],
                Box::new(|c| {
                    c.policies = PolicySet {
                        admin: false,
                        network: true,
                        baseline: false,
                    };
                }),
            ),
            (
                "table name",
                vec!["--table-name", "kv_test-1.a"],
                Box::new(|c| {
                    c.table_name = "kv_test-1.a".into();
                }),
            ),
            (
                "telemetry",
                vec![
                    "--otlp-endpoint",
                    "http://127.0.0.1:4317",
                    "--allow-sample-rate",
                    "0.25",
                    "--dashboard-addr",
                    "127.0.0.1:8080",
                ],
                Box::new(|c| {
                    c.otlp_endpoint = Some("http://127.0.0.1:4317".into());
                    c.allow_sample_rate = 0.25;
                    c.dashboard_addr = Some("127.0.0.1:8080".parse().unwrap());
                }),
            ),
            (
                "log filter",
                vec!["--log-level", "info,verdict_agent=debug"],
                Box::new(|c| {
                    c.log_level = "info,verdict_agent=debug".into();
                }),
            ),
            (
                "verdict cache off",
                vec!["--verdict-cache-ttl", "0", "--verdict-cache-log-group", "7"],
                Box::new(|c| {
                    c.verdict_cache_ttl = 0;
                    c.verdict_cache_log_group = 7;
                }),
            ),
            (
                "kubeconfig",
                vec!["--kubeconfig", "/tmp/kc"],
                Box::new(|c| {
                    c.kubeconfig = Some("/tmp/kc".into());
                }),
            ),
        ];
        for (name, extra, edit) in cases {
            let mut args = vec!["--node-name", "node-a"];
            args.extend(extra);
            let got = parse(&args).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut want = defaults();
            edit(&mut want);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn rejected_values_name_their_flag() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("missing node name", &[], "--node-name"),
            ("bad node name", &["--node-name", "Node_A"], "--node-name"),
            (
                "zero queues",
                &["--node-name", "a", "--queues", "0"],
                "--queues",
            ),
            (
                "too many queues",
                &["--node-name", "a", "--queues", "17"],
                "--queues",
            ),
            (
                "queues not a number",
                &["--node-name", "a", "--queues", "two"],
                "--queues",
            ),
            (
                "queue range overflows",
                &["--node-name", "a", "--queue-base", "65535", "--queues", "2"],
                "--queues",
            ),
            (
                "queue base too big",
                &["--node-name", "a", "--queue-base", "70000"],
                "--queue-base",
            ),
            (
                "cache ttl not a number",
                &["--node-name", "a", "--verdict-cache-ttl", "soon"],
                "--verdict-cache-ttl",
            ),
            (
                "cache ttl too long",
                &["--node-name", "a", "--verdict-cache-ttl", "86400"],
                "--verdict-cache-ttl",
            ),
            (
                "cache log group too big",
                &["--node-name", "a", "--verdict-cache-log-group", "70000"],
                "--verdict-cache-log-group",
            ),
            (
                "fail-open not boolean",
                &["--node-name", "a", "--fail-open=maybe"],
                "--fail-open",
            ),
            (
                "strict not boolean",
                &["--node-name", "a", "--strict-mode=2"],
                "--strict-mode",
            ),
            (
                "unknown policy API",
                &["--node-name", "a", "--policies", "network-policy,calico"],
                "--policies",
            ),
            (
                "empty policy list",
                &["--node-name", "a", "--policies", ""],
                "--policies",
            ),
            (
                "table name with space",
                &["--node-name", "a", "--table-name", "kube verdict"],
                "--table-name",
            ),
            (
                "table name starts with digit",
                &["--node-name", "a", "--table-name", "1kv"],
                "--table-name",
            ),
            (
                "metrics addr",
                &["--node-name", "a", "--metrics-addr", "9090"],
                "--metrics-addr",
            ),
            (
                "health addr",
                &["--node-name", "a", "--health-addr", "localhost:x"],
                "--health-addr",
            ),
            (
                "log filter",
                &["--node-name", "a", "--log-level", "info,[[["],
                "--log-level",
            ),
            (
                "otlp scheme",
                &["--node-name", "a", "--otlp-endpoint", "collector:4317"],
                "--otlp-endpoint",
            ),
            (
                "sample rate above 1",
                &["--node-name", "a", "--allow-sample-rate", "1.5"],
                "--allow-sample-rate",
            ),
            (
                "sample rate NaN",
                &["--node-name", "a", "--allow-sample-rate", "NaN"],
                "--allow-sample-rate",
            ),
            (
                "dashboard addr",
                &["--node-name", "a", "--dashboard-addr", "nowhere"],
                "--dashboard-addr",
            ),
        ];
        for (name, args, flag) in cases {
            let err = parse(args).expect_err(name);
            let text = err.to_string();
            assert!(text.contains(flag), "{name}: {text:?} does not name {flag}");
            assert_eq!(err.exit_code(), 2, "{name}: exit status");
        }
    }

    #[test]
    fn default_queue_count_follows_cpus() {
        let cases = [
            ("one cpu", 1, 1),
            ("two cpus", 2, 2),
            ("sixty-four cpus", 64, 16),
        ];
        for (name, cpus, want) in cases {
            assert_eq!(default_queues(cpus), want, "{name}");
        }
    }

    #[test]
    fn policy_set_displays_in_evaluation_order() {
        let set = parse_policies("baseline-admin-network-policy,admin-network-policy").unwrap();
        assert_eq!(
            set.to_string(),
            "admin-network-policy,baseline-admin-network-policy"
        );
    }
}
