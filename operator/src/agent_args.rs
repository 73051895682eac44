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

/// The environment variable the agent reads the cluster's trace-id key from.
pub const TRACE_KEY_ENV: &str = "VERDICT_TRACE_KEY";

fn downward(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: field_path.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The agent's environment: the node name, its own pod name and namespace (for the spans'
/// resource) from the downward API, and the trace-id key: the enforcer's UID, which every
/// agent of the cluster shares, so both nodes of a connection derive the same trace id.
pub fn env(enforcer_uid: Option<&str>) -> Vec<EnvVar> {
    let mut env = vec![
        downward(NODE_NAME_ENV, "spec.nodeName"),
        downward("VERDICT_POD_NAME", "metadata.name"),
        downward("VERDICT_POD_NAMESPACE", "metadata.namespace"),
    ];
    if let Some(uid) = enforcer_uid {
        env.push(EnvVar {
            name: TRACE_KEY_ENV.to_owned(),
            value: Some(uid.to_owned()),
            ..Default::default()
        });
    }
    env
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
    fn env_carries_the_downward_api_and_the_trace_key() {
        let env = env(Some("4f2c-uid"));
        let field = |name: &str| {
            env.iter()
                .find(|e| e.name == name)
                .and_then(|e| e.value_from.as_ref())
                .and_then(|v| v.field_ref.as_ref())
                .map(|f| f.field_path.clone())
        };
        assert_eq!(field("NODE_NAME").as_deref(), Some("spec.nodeName"));
        assert_eq!(field("VERDICT_POD_NAME").as_deref(), Some("metadata.name"));
        assert_eq!(
            field("VERDICT_POD_NAMESPACE").as_deref(),
            Some("metadata.namespace")
        );
        let key = env.iter().find(|e| e.name == "VERDICT_TRACE_KEY");
        assert_eq!(key.and_then(|e| e.value.as_deref()), Some("4f2c-uid"));
        assert!(
            super::env(None)
                .iter()
                .all(|e| e.name != "VERDICT_TRACE_KEY"),
            "no uid, no key: the agent's default applies"
        );
    }
}
