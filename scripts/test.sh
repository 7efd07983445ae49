#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npx tsc -p tsconfig.json --noEmit
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }
npx vitest run --project unit --reporter=default --reporter=json --outputFile.json="$out/unit.json"
npx vitest run --project slow --reporter=default --reporter=json --outputFile.json="$out/slow.json"
npx tsx scripts/summarize-tests.ts "$out/unit.json" "$out/slow.json"
