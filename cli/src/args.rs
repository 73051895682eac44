//! Command-line flags, and the checks clap cannot express.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{Error, Result};
use crate::probe::Probe;

/// The exit-code table, as a literal so that `concat!` can reuse it.
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  the evaluation ran (whether the flows were allowed or denied)
  1  internal error
  2  bad input or bad usage (the message names the file, document and field, or the flag)"
    };
}

/// kubectl-verdict: ask kube-verdict's engine what it would do, without a cluster.
#[derive(Debug, Parser)]
#[command(name = "kubectl-verdict", version, about, after_help = exit_codes!())]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate flows against Pods, Namespaces, Nodes and policies read from files.
    #[command(after_help = SIMULATE_HELP)]
    Simulate(SimulateArgs),
    /// Follow the agents' live decisions through the API server (or a dashboard's --url).
    #[command(after_help = TAIL_HELP)]
    Tail(Box<TailArgs>),
}

const TAIL_HELP: &str = "\
The dashboard is reached through the API server's service proxy with your kubeconfig, as
`kubectl get --raw` does: it needs `get` on services/proxy in the agent's namespace and no
port-forward. --url talks to a dashboard directly (with --token if it requires one).

Filters are the dashboard API's (a bad one is reported by name). A closed stream is resumed
with Last-Event-ID, so -f prints every decision once.

Examples:
  kubectl verdict tail -f --action deny
  kubectl verdict tail --namespace payments --last 50 -o wide
  kubectl verdict tail -f --url http://10.0.0.5:8088 --policy payments/default-deny -o json

Exit codes:
  0  done (without -f)
  1  the dashboard could not be reached or read, or an internal error
  2  bad usage, or a filter the dashboard rejected";

/// Flags of `tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// A dashboard's base URL (http://HOST:PORT), instead of the API server's service proxy.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Bearer token for a dashboard reached with --url.
    #[arg(long, env = "VERDICT_DASHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The kubeconfig file (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
    /// The agent Service's namespace.
    #[arg(long, default_value = "kube-verdict-system")]
    pub service_namespace: String,
    /// The agent Service (`verdict-agent-<enforcer name>`).
    #[arg(long, default_value = "verdict-agent-default")]
    pub service: String,
    /// The Service's dashboard port (name or number).
    #[arg(long, default_value = "dashboard")]
    pub service_port: String,

    /// Only decisions with a pod in this namespace at either end.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Only decisions with this pod (NS/NAME or NAME) at either end.
    #[arg(long)]
    pub pod: Option<String>,
    /// Only decisions made on this node.
    #[arg(long)]
    pub node: Option<String>,
    /// allow or deny.
    #[arg(long)]
    pub action: Option<String>,
    /// Only decisions that judged this direction: ingress or egress.
    #[arg(long)]
    pub direction: Option<String>,
    /// The deciding tier: anp, np, banp or default.
    #[arg(long)]
    pub tier: Option<String>,
    /// Only decisions that name this policy (NS/NAME or NAME): deciding, isolating or passing.
    #[arg(long)]
    pub policy: Option<String>,
    /// The source: NS/POD, NS/WORKLOAD, node/NAME or an address.
    #[arg(long)]
    pub src: Option<String>,
    /// The destination, the same way.
    #[arg(long)]
    pub dst: Option<String>,
    /// The destination port.
    #[arg(long)]
    pub port: Option<String>,
    /// tcp, udp, sctp or icmp.
    #[arg(long)]
    pub protocol: Option<String>,

    /// Start this far back (30s, 5m, 1h) or at this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Start with the last N matching decisions (at most 10000).
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    /// Keep following new decisions.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// compact (one line, with the policy and rule), wide (plus the explanation) or json
    /// (one event per line).
    #[arg(short = 'o', long = "output", value_enum, default_value = "compact")]
    pub output: TailFormat,
}

/// `tail -o` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TailFormat {
    /// One line per decision, naming the policy and rule.
    Compact,
    /// The compact line, source, hold time, generation, trace id and the explanation.
    Wide,
    /// The API's JSON event, one per line.
    Json,
}

impl TailArgs {
    /// The filters given, as the API's query parameters.
    pub fn filters(&self) -> Vec<(&'static str, &str)> {
        [
            ("namespace", &self.namespace),
            ("pod", &self.pod),
            ("node", &self.node),
            ("action", &self.action),
            ("direction", &self.direction),
            ("tier", &self.tier),
            ("policy", &self.policy),
            ("src", &self.src),
            ("dst", &self.dst),
            ("port", &self.port),
            ("protocol", &self.protocol),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

const SIMULATE_HELP: &str = concat!(
    "\
Flows are judged exactly as the kube-verdict agent judges a new connection: the source pod's
egress, then the destination pod's ingress, each through AdminNetworkPolicy, NetworkPolicy and
BaselineAdminNetworkPolicy. Simulated flows use source port 40000 (0 for ICMP).

Examples:
  kubectl verdict simulate -f examples/demo --from frontend/web-0 --to backend/api-0 --probe tcp/80
  kubectl verdict simulate -f examples/demo --matrix --probe tcp/80 --probe udp/53
  kubectl get ns,pods,nodes,netpol,anp,banp -A -o yaml | kubectl verdict simulate -f - --matrix

",
    exit_codes!()
);

/// Flags of `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Manifests to read: a YAML or JSON file, a directory (read recursively for *.yaml, *.yml
    /// and *.json, in sorted order) or - for standard input. Repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        required = true
    )]
    pub files: Vec<String>,

    /// Source of a single flow: a pod as NAMESPACE/NAME, or an IP address.
    #[arg(
        long,
        value_name = "NS/POD|IP",
        required_unless_present = "matrix",
        requires = "to"
    )]
    pub from: Option<Target>,

    /// Destination of a single flow: a pod as NAMESPACE/NAME, or an IP address.
    #[arg(
        long,
        value_name = "NS/POD|IP",
        required_unless_present = "matrix",
        requires = "from"
    )]
    pub to: Option<Target>,

    /// Evaluate every ordered pair of distinct pods (hostNetwork pods included).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub matrix: bool,

    /// Protocol and destination port: TCP/80, udp/53, sctp/9000 or icmp. Repeatable;
    /// defaults to TCP/80.
    #[arg(long = "probe", value_name = "PROTO/PORT")]
    pub probes: Vec<Probe>,

    /// Output format: explain (default for a single flow), table (default for --matrix), or
    /// json.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<OutputFormat>,

    /// Also report what the simulator assumed (implicit namespaces, hostNetwork addresses).
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// `-o` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The decision chain in plain words, one line per flow.
    Explain,
    /// One truth table per probe (only with --matrix).
    Table,
    /// One JSON object: {"results": [...]}.
    Json,
}

/// What `simulate` was asked to do, after the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One flow per probe.
    Single {
        /// The source.
        from: Target,
        /// The destination.
        to: Target,
    },
    /// Every ordered pair of distinct pods, per probe.
    Matrix,
}

impl SimulateArgs {
    /// The mode, output format and probes, with defaults applied.
    ///
    /// # Errors
    /// [`Error::Usage`] when the output format does not fit the mode.
    pub fn plan(&self) -> Result<(Mode, OutputFormat, Vec<Probe>)> {
        let mode = match (self.matrix, &self.from, &self.to) {
            (true, _, _) => Mode::Matrix,
            (false, Some(from), Some(to)) => Mode::Single {
                from: from.clone(),
                to: to.clone(),
            },
            _ => return Err(Error::Usage("give --from and --to, or --matrix".into())),
        };
        let output = match (&mode, self.output) {
            (Mode::Matrix, None) => OutputFormat::Table,
            (Mode::Single { .. }, None) => OutputFormat::Explain,
            (Mode::Matrix, Some(OutputFormat::Explain)) => {
                return Err(Error::Usage(
                    "-o explain describes a single flow: use it with --from/--to, or use -o table or -o json with --matrix".into(),
                ));
            }
            (Mode::Single { .. }, Some(OutputFormat::Table)) => {
                return Err(Error::Usage(
                    "-o table needs --matrix: use -o explain or -o json for a single flow".into(),
                ));
            }
            (_, Some(output)) => output,
        };
        let mut probes = Vec::new();
        for probe in &self.probes {
            if !probes.contains(probe) {
                probes.push(*probe);
            }
        }
        if probes.is_empty() {
            probes.push(Probe::DEFAULT);
        }
        Ok((mode, output, probes))
    }
}

/// `--from`/`--to`: a pod by name, or any address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `NAMESPACE/NAME`.
    Pod {
        /// The namespace.
        namespace: String,
        /// The pod's name.
        name: String,
    },
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            Target::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Target::Ip(ip));
        }
        match s.split_once('/') {
            Some((namespace, name))
                if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                Ok(Target::Pod {
                    namespace: namespace.into(),
                    name: name.into(),
                })
            }
            _ => Err("expected NAMESPACE/POD or an IP address".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn parse(args: &[&str]) -> std::result::Result<SimulateArgs, String> {
        let argv = ["kubectl-verdict", "simulate"].iter().chain(args);
        Cli::try_parse_from(argv)
            .map(|cli| match cli.command {
                Command::Simulate(args) => args,
                Command::Tail(_) => unreachable!("only simulate is parsed here"),
            })
            .map_err(|e| e.kind().to_string())
    }

    #[test]
    fn plans_apply_defaults() {
        let cases = [
            (
                "single defaults to explain and TCP/80",
                vec!["-f", "x", "--from", "x/a", "--to", "10.0.0.1"],
                "Single explain [TCP/80]",
            ),
            (
                "matrix defaults to table",
                vec![
                    "-f", "x", "--matrix", "--probe", "udp/53", "--probe", "UDP/53",
                ],
                "Matrix table [UDP/53]",
            ),
            (
                "json for both",
                vec!["-f", "x", "--matrix", "-o", "json"],
                "Matrix json [TCP/80]",
            ),
        ];
        for (name, args, want) in cases {
            let (mode, output, probes) = parse(&args).unwrap().plan().unwrap();
            let mode = if mode == Mode::Matrix {
                "Matrix"
            } else {
                "Single"
            };
            let output = format!("{output:?}").to_lowercase();
            let probes: Vec<String> = probes.iter().map(ToString::to_string).collect();
            assert_eq!(
                format!("{mode} {output} [{}]", probes.join(",")),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn conflicting_flags_are_rejected() {
        let clap_cases = [
            (
                "matrix with from",
                vec!["-f", "x", "--matrix", "--from", "x/a", "--to", "x/b"],
                "an argument cannot be used with one or more of the other specified arguments",
            ),
            (
                "from without to",
                vec!["-f", "x", "--from", "x/a"],
                "one or more required arguments were not provided",
            ),
            (
                "nothing to do",
                vec!["-f", "x"],
                "one or more required arguments were not provided",
            ),
            (
                "no file",
                vec!["--matrix"],
                "one or more required arguments were not provided",
            ),
            (
                "bad probe",
                vec!["-f", "x", "--matrix", "--probe", "tcp"],
                "invalid value for one of the arguments",
            ),
            (
                "bad target",
                vec!["-f", "x", "--from", "nope", "--to", "x/b"],
                "invalid value for one of the arguments",
            ),
        ];
        for (name, args, want) in clap_cases {
            assert_eq!(parse(&args).unwrap_err(), want, "{name}");
        }
        let plan_cases = [
            (
                "explain with matrix",
                vec!["-f", "x", "--matrix", "-o", "explain"],
            ),
            (
                "table for one flow",
                vec!["-f", "x", "--from", "x/a", "--to", "x/b", "-o", "table"],
            ),
        ];
        for (name, args) in plan_cases {
            let error = parse(&args).unwrap().plan().unwrap_err();
            assert!(matches!(error, Error::Usage(_)), "{name}: {error:?}");
        }
    }

    #[test]
    fn targets_parse() {
        let cases = [
            (
                "pod",
                "x/a",
                Ok(Target::Pod {
                    namespace: "x".into(),
                    name: "a".into(),
                }),
            ),
            (
                "ipv4",
                "10.0.0.1",
                Ok(Target::Ip("10.0.0.1".parse().unwrap())),
            ),
            (
                "ipv6",
                "fd00::1",
                Ok(Target::Ip("fd00::1".parse().unwrap())),
            ),
            (
                "bare name",
                "a",
                Err("expected NAMESPACE/POD or an IP address".to_string()),
            ),
            (
                "too many parts",
                "x/a/b",
                Err("expected NAMESPACE/POD or an IP address".to_string()),
            ),
            (
                "empty namespace",
                "/a",
                Err("expected NAMESPACE/POD or an IP address".to_string()),
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(input.parse::<Target>(), want, "{name}");
        }
    }
}
