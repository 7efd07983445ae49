#!/usr/bin/env bash
# System packages the tests need beyond npm: librdkafka's headers (the Kafka client's native
# binding links against them), kcat (its mock cluster runs the Kafka tests) and promtool (Debian's
# prometheus package: the metrics test checks /metrics with `promtool check metrics`). Debian/Ubuntu
# with apt-get; elsewhere it says what is missing and leaves it to you.
set -euo pipefail
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
[ -f /usr/include/librdkafka/rdkafka.h ] || missing+=(librdkafka-dev)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${missing[*]} (apt-get)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  echo "installing ${missing[*]} (sudo apt-get)" >&2
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "the tests need: ${missing[*]} — install them with your package manager" >&2
  exit 1
fi
