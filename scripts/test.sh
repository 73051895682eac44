#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, checks formatting and lints,
# then runs every test in the workspace. With VERDICT_E2E=1 the tests that need root, the local
# control plane, network namespaces or a browser run too; without it they print why they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -a timings=()
phase() {
  local name=$1; shift
  local t0=$SECONDS
  printf '\n==> %s\n' "$name"
  "$@"
  timings+=("$(printf '%-28s %5ss' "$name" $((SECONDS - t0)))")
}
report() {
  printf '\n==> phase timings\n'
  printf '  %s\n' "${timings[@]}"
}
trap report EXIT

if [[ "${VERDICT_E2E:-}" != "" ]]; then
  phase "setup" scripts/setup.sh
else
  echo "VERDICT_E2E is unset: privileged/cluster/browser tests will skip (set VERDICT_E2E=1 to run them)"
fi
phase "cargo fmt --check" cargo fmt --all -- --check
phase "cargo clippy -D warnings" cargo clippy --workspace --all-targets -- -D warnings
phase "cargo test" cargo test --workspace --no-fail-fast
