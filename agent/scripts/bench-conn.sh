#!/usr/bin/env bash
# New TCP connections/s and connect latency through (a) no rules, (b) ct state new accept,
# (c) kube-verdict (table + verdict cache + pinned verdict workers + engine + decision consumer),
# (d) the same without the verdict cache, one run.
# Needs root. Usage: agent/scripts/bench-conn.sh [--seconds 5] [--threads N] [--queues N]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo bench -p verdict-agent --bench conn -- "$@"
