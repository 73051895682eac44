#!/usr/bin/env bash
# `make demo`: build what is missing, then run the whole product on this machine (root):
# a local control plane with 2 netns nodes, the operator and the agents (run by the harness's
# stand-in kubelet, demo/test only), Jaeger, sample policies and live traffic.
#
#   scripts/demo.sh                 foreground until Ctrl-C; tears everything down
#   DEMO_FOR=60 scripts/demo.sh     headless for 60 s, then tears down and exits 0
#   scripts/demo.sh --help          the demo's own flags (ports, rate, --bin-dir)
#
# DEMO_PROFILE=debug builds and runs debug binaries (faster to build, slower to run).
# Work directories and logs go to ${VERDICT_E2E_DIR:-<repo>/.demo}/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
profile=${DEMO_PROFILE:-release}
target=${CARGO_TARGET_DIR:-$root/target}
case "$profile" in
  release) cargo_profile=(--release) ;;
  debug) cargo_profile=() ;;
  *) echo "demo.sh: DEMO_PROFILE must be release or debug, not $profile" >&2; exit 2 ;;
esac
if [[ $(id -u) != 0 ]]; then
  echo "demo.sh: the demo needs root (network namespaces, veths, nftables): run it with sudo" >&2
  exit 1
fi

t0=$SECONDS
echo "==> control-plane binaries (etcd, kube-apiserver, kubectl, jaeger; cached after the first build)" >&2
"$root/e2e/k8s/build.sh" >&2
echo "==> kube-verdict binaries ($profile: verdict-agent, verdict-operator, kubectl-verdict, verdict-demo)" >&2
cargo build "${cargo_profile[@]}" --manifest-path "$root/Cargo.toml" \
  -p verdict-agent --bin verdict-agent \
  -p verdict-operator --bin verdict-operator \
  -p verdict-cli --bin kubectl-verdict \
  -p verdict-e2e --bin verdict-demo >&2
echo "    built in $((SECONDS - t0))s" >&2

[[ -n "${DEMO_FOR:-}" ]] || unset DEMO_FOR
export VERDICT_E2E_DIR=${VERDICT_E2E_DIR:-$root/.demo}
mkdir -p "$VERDICT_E2E_DIR"
exec "$target/$profile/verdict-demo" --repo "$root" --bin-dir "$target/$profile" "$@"
