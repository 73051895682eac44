//! Golden tests: run the real `kubectl-verdict` binary and compare with files in
//! `tests/golden/`.
//!
//! - `NAME.json`: JSON cases; the file is stdout exactly (exit 0 and an empty stderr are
//!   asserted too, and the output is checked against the JSON contract).
//! - `NAME.txt`: everything else; a transcript of the arguments, exit status, stdout and stderr.
//!
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test -p verdict-cli --test
//! golden`, then review the diff.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pretty_assertions::assert_eq;

/// One invocation of the binary.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    /// A file (relative to the crate) fed to standard input.
    stdin: Option<&'static str>,
    /// The expected exit status; the golden file records it too.
    exit: i32,
}

const fn case(name: &'static str, exit: i32, args: &'static [&'static str]) -> Case {
    Case {
        name,
        args,
        stdin: None,
        exit,
    }
}

const DEMO: &str = "../examples/demo";

// One row per case reads better than rustfmt's one-argument-per-line layout.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // Explain, one tier at a time.
    case("explain_np_deny", 0, &["simulate", "-f", "tests/fixtures/xy", "--from", "y/b", "--to", "x/a"]),
    case("explain_np_allow", 0, &["simulate", "-f", DEMO, "--from", "frontend/web-0", "--to", "backend/api-0", "--probe", "tcp/80"]),
    case("explain_np_deny_several_policies", 0, &["simulate", "-f", DEMO, "--from", "backend/api-1", "--to", "backend/api-0"]),
    case("explain_anp_allow", 0, &["simulate", "-f", DEMO, "--from", "monitoring/prometheus-0", "--to", "backend/api-0"]),
    case("explain_anp_egress_allow", 0, &["simulate", "-f", DEMO, "--from", "frontend/web-0", "--to", "kube-system/coredns-0", "--probe", "udp/53"]),
    case("explain_anp_deny", 0, &["simulate", "-f", DEMO, "--from", "kube-system/coredns-0", "--to", "data/postgres-0", "--probe", "tcp/5432"]),
    case("explain_anp_pass", 0, &["simulate", "-f", DEMO, "--from", "backend/api-0", "--to", "data/postgres-0", "--probe", "tcp/5432", "--probe", "tcp/80"]),
    case("explain_banp", 0, &["simulate", "-f", DEMO, "--from", "backend/api-0", "--to", "monitoring/prometheus-0", "--probe", "tcp/9090"]),
    case("explain_ipblock_external", 0, &["simulate", "-f", DEMO, "--from", "frontend/web-0", "--to", "203.0.113.10", "--probe", "tcp/443", "--probe", "tcp/80"]),
    case("explain_host_network_source", 0, &["simulate", "-f", DEMO, "--from", "monitoring/node-exporter-node-1", "--to", "backend/api-1"]),
    case("explain_host_network_source_allowed", 0, &["simulate", "-f", DEMO, "--from", "monitoring/node-exporter-node-1", "--to", "frontend/web-0", "--probe", "tcp/8080"]),
    case("explain_node_destination", 0, &["simulate", "-f", DEMO, "--from", "frontend/web-0", "--to", "172.18.0.12", "--probe", "tcp/10250"]),
    case("explain_anp_nodes_peer", 0, &["simulate", "-f", "tests/fixtures/anp-nodes.yaml", "--from", "apps/app", "--to", "192.0.2.1", "--probe", "tcp/6443"]),
    case("explain_anp_nodes_peer_other_node", 0, &["simulate", "-f", "tests/fixtures/anp-nodes.yaml", "--from", "apps/app", "--to", "192.0.2.21", "--probe", "tcp/10250"]),
    case("explain_ip_source", 0, &["simulate", "-f", DEMO, "--from", "10.244.1.10", "--to", "backend/api-0"]),
    case("explain_icmp", 0, &["simulate", "-f", "tests/fixtures/xy", "--from", "x/a", "--to", "y/a", "--probe", "ICMP"]),
    // JSON.
    case("json_single", 0, &["simulate", "-f", DEMO, "--from", "backend/api-0", "--to", "data/postgres-0", "--probe", "tcp/5432", "-o", "json"]),
    case("json_matrix", 0, &["simulate", "-f", "tests/fixtures/xy", "--matrix", "--probe", "tcp/80", "--probe", "icmp", "-o", "json"]),
    // Tables.
    case("table_matrix_demo", 0, &["simulate", "-f", DEMO, "--matrix", "--probe", "tcp/80", "--probe", "udp/53"]),
    case("table_matrix_probes", 0, &["simulate", "-f", "tests/fixtures/xy", "--matrix", "--probe", "tcp/80", "--probe", "udp/53", "--probe", "sctp/80", "--probe", "icmp"]),
    case("table_dual_stack", 0, &["simulate", "-f", "tests/fixtures/dual-stack.yaml", "--matrix"]),
    // Input forms.
    case("input_list", 0, &["simulate", "-f", "tests/fixtures/list.yaml", "--matrix"]),
    case("input_json", 0, &["simulate", "-f", "tests/fixtures/cluster.json", "--matrix"]),
    Case {
        name: "input_stdin",
        args: &["simulate", "-f", "-", "--from", "shop/cart", "--to", "shop/checkout"],
        stdin: Some("tests/fixtures/list.yaml"),
        exit: 0,
    },
    Case {
        name: "input_stdin_json_and_file",
        args: &["simulate", "-f", "tests/fixtures/xy/namespaces.yaml", "-f", "-", "--matrix"],
        stdin: Some("tests/fixtures/cluster.json"),
        exit: 0,
    },
    case("input_directory", 0, &["simulate", "-f", "tests/fixtures/xy", "--matrix", "--probe", "udp/53"]),
    case("input_several_files", 0, &["simulate", "-f", "tests/fixtures/xy/namespaces.yaml", "-f", "tests/fixtures/xy/pods.yaml", "--matrix"]),
    case("unknown_kind_warning", 0, &["simulate", "-f", "tests/fixtures/unknown-kinds.yaml", "--matrix"]),
    case("verbose_implicit_namespaces", 0, &["simulate", "-f", "tests/fixtures/implicit.yaml", "--matrix", "-v"]),
    case("quiet_implicit_namespaces", 0, &["simulate", "-f", "tests/fixtures/implicit.yaml", "--from", "infra/agent", "--to", "team-a/app"]),
    // Bad input: exit 2, naming the file, the document and the field (or the flag).
    case("bad_selector_operator", 2, &["simulate", "-f", "tests/fixtures/bad-selector-operator.yaml", "--matrix"]),
    case("bad_cidr", 2, &["simulate", "-f", "tests/fixtures/bad-cidr.yaml", "--matrix"]),
    case("bad_pod_without_ip", 2, &["simulate", "-f", "tests/fixtures/pod-without-ip.yaml", "--matrix"]),
    case("bad_unparseable_yaml", 2, &["simulate", "-f", "tests/fixtures/unparseable.yaml", "--matrix"]),
    case("bad_unparseable_json", 2, &["simulate", "-f", "tests/fixtures/unparseable.json", "--matrix"]),
    case("bad_field_type", 2, &["simulate", "-f", "tests/fixtures/wrong-type.yaml", "--matrix"]),
    case("bad_missing_name", 2, &["simulate", "-f", "tests/fixtures/missing-name.yaml", "--matrix"]),
    case("bad_missing_file", 2, &["simulate", "-f", "tests/fixtures/does-not-exist.yaml", "--matrix"]),
    case("bad_empty_directory", 2, &["simulate", "-f", "tests/fixtures/no-manifests", "--matrix"]),
    case("bad_unknown_from_pod", 2, &["simulate", "-f", "tests/fixtures/xy", "--from", "x/nope", "--to", "x/a"]),
    case("bad_unknown_to_pod", 2, &["simulate", "-f", "tests/fixtures/xy", "--from", "x/a", "--to", "z/a"]),
    case("bad_from_value", 2, &["simulate", "-f", "tests/fixtures/xy", "--from", "just-a-name", "--to", "x/a"]),
    case("bad_probe", 2, &["simulate", "-f", "tests/fixtures/xy", "--matrix", "--probe", "tcp/http"]),
    case("bad_probe_icmp_port", 2, &["simulate", "-f", "tests/fixtures/xy", "--matrix", "--probe", "icmp/8"]),
    case("bad_output_value", 2, &["simulate", "-f", "tests/fixtures/xy", "--matrix", "-o", "yaml"]),
    case("conflict_matrix_and_from", 2, &["simulate", "-f", "tests/fixtures/xy", "--matrix", "--from", "x/a", "--to", "x/b"]),
    case("conflict_explain_with_matrix", 2, &["simulate", "-f", "tests/fixtures/xy", "--matrix", "-o", "explain"]),
    case("conflict_table_for_one_flow", 2, &["simulate", "-f", "tests/fixtures/xy", "--from", "x/a", "--to", "x/b", "-o", "table"]),
    case("conflict_stdin_twice", 2, &["simulate", "-f", "-", "-f", "-", "--matrix"]),
    case("missing_from_and_matrix", 2, &["simulate", "-f", "tests/fixtures/xy"]),
    case("same_pod_twice", 2, &["simulate", "-f", "tests/fixtures/xy", "--from", "x/a", "--to", "x/a"]),
    case("warnings_then_error", 2, &["simulate", "-f", "tests/fixtures/unknown-kinds.yaml", "-f", "tests/fixtures/pod-without-ip.yaml", "--matrix"]),
    case("no_common_ip_family", 2, &["simulate", "-f", "tests/fixtures/dual-stack.yaml", "--from", "d/v4", "--to", "d/v6"]),
    case("help_simulate", 0, &["simulate", "--help"]),
];

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Run {
    exit: i32,
    stdout: String,
    stderr: String,
}

fn run(case: &Case) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-verdict"))
        .args(case.args)
        .current_dir(crate_dir())
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl-verdict");
    let input = case
        .stdin
        .map(|path| fs::read(crate_dir().join(path)).unwrap())
        .unwrap_or_default();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        exit: output.status.code().expect("exited by a signal"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn is_json(case: &Case) -> bool {
    case.args.windows(2).any(|w| w == ["-o", "json"])
}

fn golden_path(case: &Case) -> PathBuf {
    let ext = if is_json(case) { "json" } else { "txt" };
    crate_dir()
        .join("tests/golden")
        .join(format!("{}.{ext}", case.name))
}

fn transcript(case: &Case, run: &Run) -> String {
    let mut text = format!("$ kubectl-verdict {}", case.args.join(" "));
    if let Some(stdin) = case.stdin {
        text.push_str(&format!(" < {stdin}"));
    }
    text.push_str(&format!(
        "\nexit status: {}\n--- stdout\n{}--- stderr\n{}",
        run.exit, run.stdout, run.stderr
    ));
    text
}

/// `from`, `to`, `protocol`, `port` and `allowed` are a contract: check their presence and types.
fn check_json_contract(name: &str, stdout: &str) {
    let value: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("{name}: stdout is not one JSON value: {e}"));
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{name}: not an object"));
    assert_eq!(object.keys().collect::<Vec<_>>(), vec!["results"], "{name}");
    let results = object["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{name}: no results");
    for result in results {
        assert!(result["from"].is_string(), "{name}: from in {result}");
        assert!(result["to"].is_string(), "{name}: to in {result}");
        let protocol = result["protocol"].as_str().unwrap();
        assert!(
            ["TCP", "UDP", "SCTP", "ICMP"].contains(&protocol),
            "{name}: {protocol}"
        );
        if protocol == "ICMP" {
            assert!(result["port"].is_null(), "{name}: ICMP port in {result}");
        } else {
            assert!(result["port"].is_u64(), "{name}: port in {result}");
        }
        assert!(
            result["allowed"].is_boolean(),
            "{name}: allowed in {result}"
        );
        for direction in ["egress", "ingress"] {
            assert!(
                result[direction]["reason"].is_string(),
                "{name}: {direction} reason"
            );
            assert!(
                result[direction]["verdict"].is_string(),
                "{name}: {direction} verdict"
            );
        }
    }
}

#[test]
fn golden_outputs() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for case in CASES {
        let run = run(case);
        let path = golden_path(case);
        assert_eq!(
            run.exit, case.exit,
            "{}: exit status (stderr: {})",
            case.name, run.stderr
        );
        let actual = if is_json(case) {
            assert_eq!(run.stderr, "", "{}: stderr", case.name);
            check_json_contract(case.name, &run.stdout);
            run.stdout.clone()
        } else {
            transcript(case, &run)
        };
        if case.exit == 2 {
            assert_eq!(
                run.stdout, "",
                "{}: bad input must print nothing on stdout",
                case.name
            );
            let error = run.stderr.lines().find(|l| l.starts_with("error:"));
            assert!(
                error.is_some(),
                "{}: no error line in {}",
                case.name,
                run.stderr
            );
        }
        if update {
            fs::write(&path, &actual).unwrap();
            continue;
        }
        match fs::read_to_string(&path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{}: output differs from {}\n{}",
                case.name,
                path.display(),
                pretty_assertions::StrComparison::new(&expected, &actual)
            )),
            Err(_) => failures.push(format!(
                "{}: missing {} (run with UPDATE_GOLDEN=1)",
                case.name,
                path.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_golden_file_belongs_to_a_case() {
    let known: Vec<PathBuf> = CASES.iter().map(golden_path).collect();
    let stale: Vec<PathBuf> = fs::read_dir(crate_dir().join("tests/golden"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !known.contains(p))
        .collect();
    assert!(stale.is_empty(), "golden files without a case: {stale:?}");
}

/// Exit code 1 is for internal errors; output that cannot be written is one.
#[test]
fn unwritable_output_exits_1() {
    let Ok(full) = fs::File::create("/dev/full") else {
        eprintln!("skipping: /dev/full is not available on this system");
        return;
    };
    let output = Command::new(env!("CARGO_BIN_EXE_kubectl-verdict"))
        .args(["simulate", "-f", "tests/fixtures/xy", "--matrix"])
        .current_dir(crate_dir())
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot write output: No space left on device"),
        "{stderr}"
    );
}
