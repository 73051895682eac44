//! The agent's command line, generated from an enforcer's spec.
//!
//! This follows the agent flag contract (shared with `agent/`): every flag is passed as
//! `--flag=value`, and the node name comes from the downward API through `NODE_NAME`, which the
//! agent reads when `--node-name` is absent. Flags whose spec value equals nothing in particular
//! (queues count unset, no OTLP endpoint, dashboard off) are left out so the agent's own default
//! applies.

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector};
use verdict_crds::NetworkPolicyEnforcerSpec;

use crate::names::{HEALTH_PORT, METRICS_PORT};

/// The agent binary inside the agent image.
pub const AGENT_COMMAND: &str = "verdict-agent";
/// The environment variable the agent reads its node name from.
pub const NODE_NAME_ENV: &str = "NODE_NAME";

/// The agent's command-line arguments for `spec`, in a stable order.
pub fn args(spec: &NetworkPolicyEnforcerSpec) -> Vec<String> {
    let e = &spec.enforcement;
    let mut args = vec![
        format!("--queue-base={}", e.queues.base),
        format!("--fail-open={}", e.fail_open),
        format!("--strict-mode={}", e.strict_mode),
        format!("--policies={}", spec.policies.agent_flag()),
        format!("--metrics-addr=0.0.0.0:{METRICS_PORT}"),
        format!("--health-addr=0.0.0.0:{HEALTH_PORT}"),
        format!("--log-level={}", spec.log_level),
        format!("--allow-sample-rate={}", spec.tracing.allow_sample_rate),
        format!(
            "--always-sample-denies={}",
            spec.tracing.always_sample_denies
        ),
    ];
    if let Some(count) = e.queues.count {
        args.push(format!("--queues={count}"));
    }
    if let Some(endpoint) = &spec.tracing.otlp_endpoint {
        args.push(format!("--otlp-endpoint={endpoint}"));
    }
    if spec.dashboard.enabled {
        args.push(format!("--dashboard-addr=0.0.0.0:{}", spec.dashboard.port));
    }
    args
}

/// The agent's environment: the node name from the downward API.
pub fn env() -> Vec<EnvVar> {
    vec![EnvVar {
        name: NODE_NAME_ENV.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "spec.nodeName".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_crds::{DashboardSpec, PoliciesSpec, QueuesSpec};

    fn spec() -> NetworkPolicyEnforcerSpec {
        serde_json::from_str("{}").unwrap()
    }

    #[test]
    fn defaults_give_the_contract_defaults() {
        assert_eq!(
            args(&spec()),
            [
                "--queue-base=100",
                "--fail-open=true",
                "--strict-mode=false",
                "--policies=admin-network-policy,network-policy,baseline-admin-network-policy",
                "--metrics-addr=0.0.0.0:9090",
                "--health-addr=0.0.0.0:9091",
                "--log-level=info",
                "--allow-sample-rate=1",
                "--always-sample-denies=true",
            ]
        );
    }

    #[test]
    fn spec_fields_map_to_flags() {
        type Edit = fn(&mut NetworkPolicyEnforcerSpec);
        let cases: [(&str, Edit, &str); 8] = [
            (
                "fail closed",
                |s| s.enforcement.fail_open = false,
                "--fail-open=false",
            ),
            (
                "strict",
                |s| s.enforcement.strict_mode = true,
                "--strict-mode=true",
            ),
            (
                "queues",
                |s| {
                    s.enforcement.queues = QueuesSpec {
                        base: 7,
                        count: Some(4),
                    }
                },
                "--queues=4",
            ),
            (
                "queue base",
                |s| s.enforcement.queues.base = 7,
                "--queue-base=7",
            ),
            (
                "only NP",
                |s| {
                    s.policies = PoliciesSpec {
                        network_policy: true,
                        admin_network_policy: false,
                        baseline_admin_network_policy: false,
                    }
                },
                "--policies=network-policy",
            ),
            (
                "otlp",
                |s| s.tracing.otlp_endpoint = Some("http://jaeger:4317".into()),
                "--otlp-endpoint=http://jaeger:4317",
            ),
            (
                "sample rate",
                |s| s.tracing.allow_sample_rate = 0.25,
                "--allow-sample-rate=0.25",
            ),
            (
                "dashboard",
                |s| {
                    s.dashboard = DashboardSpec {
                        enabled: true,
                        port: 8088,
                    }
                },
                "--dashboard-addr=0.0.0.0:8088",
            ),
        ];
        for (name, edit, want) in cases {
            let mut s = spec();
            edit(&mut s);
            let got = args(&s);
            assert!(
                got.iter().any(|a| a == want),
                "{name}: {want} not in {got:?}"
            );
        }
    }

    #[test]
    fn optional_flags_are_absent_by_default() {
        let got = args(&spec());
        for flag in [
            "--queues=",
            "--otlp-endpoint=",
            "--dashboard-addr=",
            "--node-name",
        ] {
            assert!(
                !got.iter().any(|a| a.starts_with(flag)),
                "{flag} in {got:?}"
            );
        }
    }

    #[test]
    fn node_name_comes_from_the_downward_api() {
        let env = env();
        assert_eq!(env[0].name, "NODE_NAME");
        let field = env[0]
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref());
        assert_eq!(field.map(|f| f.field_path.as_str()), Some("spec.nodeName"));
    }
}
