#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need on a fresh Debian machine, then
# builds (or reuses from the cache) the pinned Kubernetes/etcd/kwok/Jaeger binaries.
# Idempotent: each step checks before it installs. Needs root for apt.
set -euo pipefail
cd "$(dirname "$0")/.."
phase() { printf '\n==> %s\n' "$*"; }
t0=$SECONDS

phase "system packages"
packages=(nftables iptables conntrack iproute2 util-linux libclang-dev clang jq chromium procps psmisc)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "all present: ${packages[*]}"
fi

phase "node (the dashboard's browser test drives Chromium with playwright-core, which needs Node >= 20)"
node_major=$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/' || true)
if [[ -z "$node_major" || "$node_major" -lt 20 ]]; then
  echo "Node >= 20 is needed (found: $(node --version 2>/dev/null || echo none)); Debian bookworm's nodejs is 18." >&2
  echo "Install Node 20 or newer (e.g. the nodesource packages) and run this again." >&2
  exit 1
fi
echo "node $(node --version), npm $(npm --version)"

phase "rust toolchain (rust-toolchain.toml)"
rustup show active-toolchain
rustup component add rustfmt clippy >/dev/null 2>&1 || true

phase "control-plane binaries (cached under ~/.cache/kube-verdict/bin)"
e2e/k8s/build.sh

phase "upstream Go modules read by the harness (CRD YAML, kwok stages)"
go mod download sigs.k8s.io/network-policy-api@v0.1.7 sigs.k8s.io/kwok@v0.8.0

echo
echo "setup done in $((SECONDS - t0))s"
