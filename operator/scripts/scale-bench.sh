#!/usr/bin/env bash
# Operator scale benchmark: a NetworkPolicyEnforcer over NODES kwok nodes (default 1000).
# Prints the time to converge to Ready NODES/NODES and the reconcile count, for the initial
# rollout and for a spec change. Needs root and the control-plane binaries (e2e/k8s/build.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
nodes="${1:-1000}"
cargo build -q -p verdict-operator --example scale_bench
exec target/debug/examples/scale_bench "$nodes"
