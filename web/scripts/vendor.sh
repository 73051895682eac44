#!/usr/bin/env bash
# Refreshes the dashboard's vendored JavaScript from the npm registry: the built files the page
# imports, their licence texts, and web/assets/vendor/VERSIONS.md. Pin versions here; the page
# has no build step, so these committed files are exactly what the browser runs.
#
#   web/scripts/vendor.sh            # fetch the pinned versions
set -euo pipefail
cd "$(dirname "$0")/.."
out=assets/vendor
declare -A pins=(
  [preact]=11.2.0
  [htm]=3.1.1
  [uplot]=1.6.32
  [cytoscape]=3.35.0
)
# package → "source path in the package:file name in assets/vendor" ...
declare -A files=(
  [preact]="dist/preact.mjs:preact.mjs hooks/dist/hooks.mjs:preact-hooks.mjs"
  [htm]="dist/htm.mjs:htm.mjs"
  [uplot]="dist/uPlot.esm.js:uPlot.esm.js dist/uPlot.min.css:uPlot.min.css"
  [cytoscape]="dist/cytoscape.esm.min.mjs:cytoscape.esm.min.mjs"
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
{
  echo "# Vendored JavaScript"
  echo
  echo "Fetched from the npm registry by \`web/scripts/vendor.sh\`; do not edit these files by hand."
  echo "Every licence is permissive (MIT or Apache-2.0) and its text is kept beside the files."
  echo
  echo "| package | version | licence | files |"
  echo "|---|---|---|---|"
} > "$tmp/VERSIONS.md"
for pkg in htm preact uplot cytoscape; do
  version=${pins[$pkg]}
  (cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
  mkdir -p "$tmp/$pkg"
  tar -xzf "$tmp/$pkg-$version.tgz" -C "$tmp/$pkg"
  licence=$(node -p "require('$tmp/$pkg/package/package.json').license")
  case "$licence" in
    MIT|Apache-2.0|ISC|BSD-2-Clause|BSD-3-Clause) ;;
    *) echo "$pkg@$version has licence $licence, which is not on the permissive list" >&2; exit 1 ;;
  esac
  names=()
  for pair in ${files[$pkg]}; do
    src=${pair%%:*}; dst=${pair#*:}
    cp "$tmp/$pkg/package/$src" "$out/$dst"
    names+=("$dst")
  done
  for l in LICENSE LICENSE.md LICENSE.txt license; do
    if [[ -f "$tmp/$pkg/package/$l" ]]; then cp "$tmp/$pkg/package/$l" "$out/LICENSE.$pkg"; break; fi
  done
  [[ -f "$out/LICENSE.$pkg" ]] || { echo "$pkg@$version ships no licence file" >&2; exit 1; }
  echo "| $pkg | $version | $licence | ${names[*]} (LICENSE.$pkg) |" >> "$tmp/VERSIONS.md"
done
# The hooks module imports "preact"; the page's import map resolves it to the vendored file.
cp "$tmp/VERSIONS.md" "$out/VERSIONS.md"
echo "vendored into web/$out:"; cat "$out/VERSIONS.md"
