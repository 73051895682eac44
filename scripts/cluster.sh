#!/usr/bin/env bash
# A local kube-verdict cluster for people: real control plane, netns nodes and pods, optional kwok.
#
#   scripts/cluster.sh up [--nodes N] [--pods-per-node N] [--kwok-nodes N]   (foreground; Ctrl-C stops)
#   scripts/cluster.sh down                                                   (from another shell)
#   scripts/cluster.sh status
#
# State, certs, kubeconfig and logs go to ${VERDICT_CLUSTER_DIR:-.demo}/. Needs root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-up}
shift || true
if [[ "$cmd" == up ]]; then
  "$root/e2e/k8s/build.sh" >&2   # no-op when the binaries are cached
fi
cargo build --quiet --manifest-path "$root/Cargo.toml" -p verdict-e2e --bin verdict-cluster
exec "${CARGO_TARGET_DIR:-$root/target}/debug/verdict-cluster" --dir "${VERDICT_CLUSTER_DIR:-$root/.demo}" "$cmd" "$@"
