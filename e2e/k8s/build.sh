#!/usr/bin/env bash
# Builds the pinned control-plane and test binaries once and caches them outside git.
#
#   e2e/k8s/build.sh            build whatever is missing, print where everything is
#   e2e/k8s/build.sh --print    print the bin directory (builds nothing)
#
# Cache: ${VERDICT_BIN_CACHE:-~/.cache/kube-verdict/bin}/<component>-<version>/
# A component is rebuilt only when its directory (keyed by the version pinned in the wrapper's
# go.mod) lacks a binary. The last step links everything into .../current/ for the harness.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${VERDICT_BIN_CACHE:-$HOME/.cache/kube-verdict/bin}
current="$cache/current"

# component  wrapper-dir  module-whose-version-keys-the-cache  packages...
components=(
  "kubernetes|kubernetes|k8s.io/kubernetes|k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"
  "etcd|etcd|go.etcd.io/etcd/server/v3|go.etcd.io/etcd/server/v3"
  "kwok|kwok|sigs.k8s.io/kwok|sigs.k8s.io/kwok/cmd/kwok"
  "jaeger|jaeger|github.com/jaegertracing/jaeger|github.com/jaegertracing/jaeger/cmd/jaeger"
)
binary_name() { # package path -> installed binary name
  case "$1" in
    go.etcd.io/etcd/server/v3) echo etcd ;;
    *) basename "$1" ;;
  esac
}
pinned_version() { awk -v m="$2" '$1=="require" && $2==m {print $3} $1==m {print $2}' "$here/$1/go.mod" | head -1; }

if [[ "${1:-}" == "--print" ]]; then echo "$current"; exit 0; fi
command -v go >/dev/null || { echo "build.sh: go is not installed" >&2; exit 1; }
mkdir -p "$current"
start_all=$SECONDS
for entry in "${components[@]}"; do
  IFS='|' read -r name dir module packages <<<"$entry"
  version=$(pinned_version "$dir" "$module")
  [[ -n "$version" ]] || { echo "build.sh: no version of $module pinned in $dir/go.mod" >&2; exit 1; }
  out="$cache/$name-$version"
  missing=()
  for pkg in $packages; do [[ -x "$out/$(binary_name "$pkg")" ]] || missing+=("$pkg"); done
  if ((${#missing[@]} == 0)); then
    echo "[build] $name $version: cached in $out"
  else
    echo "[build] $name $version: building ${#missing[@]} binaries (a cold build takes minutes)..."
    t0=$SECONDS
    mkdir -p "$out.tmp"
    for pkg in "${missing[@]}"; do
      echo "[build]   go build $pkg"
      (cd "$here/$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOSUMDB=off \
        go build -trimpath -ldflags='-s -w' -o "$out.tmp/$(binary_name "$pkg")" "$pkg")
    done
    mkdir -p "$out" && mv "$out.tmp"/* "$out"/ && rmdir "$out.tmp"
    echo "[build] $name $version: done in $((SECONDS - t0))s"
  fi
  for pkg in $packages; do ln -sfn "$out/$(binary_name "$pkg")" "$current/$(binary_name "$pkg")"; done
done
echo "[build] all binaries ready in $current ($((SECONDS - start_all))s)"
