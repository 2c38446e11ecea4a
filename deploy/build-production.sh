#!/usr/bin/env bash
# Builds the production install of phcc-fed into a fresh folder: the package's files (dist/, bin/,
# configs/, deploy/ — package.json "files"), its production dependencies exactly as locked
# (npm ci --omit=dev, no dev tool, no install script) and better-sqlite3's native addon. The result
# runs with `node OUT/bin/phcc-fed.js …` and needs neither the sources nor a compiler.
#
#   deploy/build-production.sh OUT_DIR [--no-build] [--compile-native]
#
# Run it in a checkout where `npm ci` has been run (the build needs the dev dependencies).
#   --no-build        dist/ is already built from these sources (skips `npm run build`)
#   --compile-native  compile better-sqlite3 in OUT_DIR (needs python3, make, g++) instead of
#                     copying the addon this checkout compiled; use it when OUT_DIR will run on
#                     another Node major version or C library than this machine's
# deploy/docker/Dockerfile runs exactly this script; test/production-layout.e2e-spec.ts tests it.
set -euo pipefail

usage() {
  echo "usage: deploy/build-production.sh OUT_DIR [--no-build] [--compile-native]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
out=$1
shift
build=1
compile_native=0
for arg in "$@"; do
  case $arg in
    --no-build) build=0 ;;
    --compile-native) compile_native=1 ;;
    *) usage ;;
  esac
done
fail() {
  echo "build-production: $*" >&2
  exit 2
}

root=$(cd "$(dirname "$0")/.." && pwd)
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  fail "$out is not empty: install into a fresh folder (switch a symlink to upgrade; deploy/README.md §6)"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root"
[ -f node_modules/typescript/package.json ] || fail "no dev dependencies in $root: run npm ci there first"

# 1. dist/ from the sources (tsc + the dashboard bundle).
if [ "$build" = 1 ]; then npm run --silent build; fi
[ -f dist/apps/cli/src/main.js ] && [ -f dist/ui/app.js ] || fail "dist/ is incomplete: run npm run build"
# The SIMD helpers' binaries for the text dist/ was compiled from (their names carry its hash):
# the install has no assembler (wabt is a dev dependency), so it must ship them.
node -e "const m = require('./dist/libs/compute/src/wasm/simd/module.js');
  for (const v of m.SIMD_VARIANTS) require('fs').accessSync(require('path').join(m.SIMD_WASM_DIR, m.simdWasmFileName(v)));" 2>/dev/null ||
  fail "dist/wasm/ lacks the SIMD helpers for these sources: run npm run build"

# 2. The package's files, as `npm pack` selects them (without its prepare script, which builds).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tarball=$(npm pack --ignore-scripts --silent --pack-destination "$tmp" | tail -n 1)
tar -xzf "$tmp/$tarball" -C "$out" --strip-components 1 --no-same-owner
cp package-lock.json "$out/"

# 3. Production dependencies only, at the lock's versions, with no install script run.
(cd "$out" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)

# 4. better-sqlite3's native addon (the one dependency with compiled code).
addon=node_modules/better-sqlite3/build/Release/better_sqlite3.node
if [ "$compile_native" = 1 ]; then
  (cd "$out" && npm rebuild better-sqlite3 --loglevel=error)
else
  version() { node -p "require('$1/node_modules/better-sqlite3/package.json').version"; }
  [ -f "$addon" ] || fail "$root/$addon is missing (npm ci compiles it); or use --compile-native"
  [ "$(version "$root")" = "$(version "$out")" ] ||
    fail "better-sqlite3 differs between $root and the lock; run npm ci in $root"
  mkdir -p "$out/$(dirname "$addon")"
  cp "$addon" "$out/$addon"
fi
(cd "$out" && node -e "new (require('better-sqlite3'))(':memory:').close()") ||
  fail "better-sqlite3 does not load in $out with $(node --version); use --compile-native"

# Nobody but the owner writes the code that runs (the service user only reads it).
chmod -R go-w "$out"
echo "production install in $out ($(du -sh "$out" | cut -f1)); run: node $out/bin/phcc-fed.js --help"
