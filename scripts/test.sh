#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
# The Kafka client's binding compiles against the system librdkafka (~2 min, once).
export CKJS_LINKING=dynamic
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# An install made without CKJS_LINKING (the README's `npm ci && npm run demo`) skips the optional
# Kafka client (its build fails without it): install again with it.
if ! (cd packages/kafka && node -e "require('@confluentinc/kafka-javascript')" >/dev/null 2>&1); then
  echo "building the Kafka client's native binding (CKJS_LINKING=dynamic npm ci, about 2 minutes)" >&2
  npm ci --no-audit --no-fund
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npx tsc -p tsconfig.json --noEmit
npx tsc -p packages/server/ui/tsconfig.json --noEmit   # the browser code (DOM types)
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }
npx vitest run --project unit --reporter=default --reporter=json --outputFile.json="$out/unit.json"
# The test matrix: the engine's fast suite again with 3 state partitions (every stateful operator
# behind an exchange), and a sample of the crash tests in that configuration. Worker threads have
# their own tests (workers.test.ts, partitions-workers.slow.test.ts, crash/workers-*).
MILLRACE_SHUFFLE_PARTITIONS=3 npx vitest run --project unit --reporter=dot --reporter=json --outputFile.json="$out/unit-partitions.json"
# The fast suite again on Node 24 (the `node` npm package provides it; packages declare >=20.19 and
# Node 20 is at end of life), so moving off Node 20 is tested.
npx -y node@24 node_modules/vitest/vitest.mjs run --project unit --reporter=dot --reporter=json \
  --outputFile.json="$out/unit-node24.json"
npx vitest run --project integration --reporter=default --reporter=json --outputFile.json="$out/integration.json"
bash packages/server/test/browser/ensure-chromium.sh   # Chromium for the browser tests
bash examples/resource-monitor/scripts/ensure-collectd.sh   # collectd for the collectd input test
# The slow files as two shards side by side (each file uses its own names on the shared services;
# most of their time is waiting on child processes and services), then those that must run alone.
npx vitest run --project slow --shard=1/2 --reporter=dot --reporter=json --outputFile.json="$out/slow-1.json" \
  > "$out/slow-1.log" 2>&1 &
shard1=$!
npx vitest run --project slow --shard=2/2 --reporter=default --reporter=json --outputFile.json="$out/slow-2.json" \
  || slow_failed=1
wait "$shard1" || slow_failed=1
cat "$out/slow-1.log"
if [ "${slow_failed:-0}" = 1 ]; then echo "slow tests failed (shard output above)" >&2; exit 1; fi
# The soak runs 60 s in CI (150 s by default; SOAK_SECONDS=600 for a longer one by hand).
SOAK_SECONDS="${SOAK_SECONDS:-60}" npx vitest run --project slow-serial --reporter=default --reporter=json \
  --outputFile.json="$out/slow-serial.json"
MILLRACE_SHUFFLE_PARTITIONS=3 npx vitest run --project slow packages/millrace/test/crash/windowed-aggregation.slow.test.ts \
  --reporter=default --reporter=json --outputFile.json="$out/slow-partitions.json"
npx tsx scripts/summarize-tests.ts "$out/unit.json" "$out/unit-partitions.json" "$out/unit-node24.json" "$out/integration.json" \
  "$out/slow-1.json" "$out/slow-2.json" "$out/slow-serial.json" "$out/slow-partitions.json"
