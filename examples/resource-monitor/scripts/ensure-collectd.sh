#!/bin/sh
# Installs Debian's collectd (the daemon and its plugins) when it is missing, so that
# examples/resource-monitor/collectd.slow.test.ts can run it. For CI and development machines:
#
#   sh examples/resource-monitor/scripts/ensure-collectd.sh
#
# Does nothing when `collectd` is already installed. Installs only as root with apt-get;
# otherwise says what to run and exits 1. The package's service is not started (the test runs
# its own `collectd -f -C <conf>`; in containers, policy-rc.d usually forbids starting it anyway).
set -eu

WRITE_HTTP=/usr/lib/collectd/write_http.so
write_http_ok() { [ -f "$WRITE_HTTP" ] && ! ldd "$WRITE_HTTP" 2>/dev/null | grep -q 'not found'; }

if { command -v collectd >/dev/null 2>&1 || [ -x /usr/sbin/collectd ]; } && write_http_ok; then
  echo "collectd: installed ($( (command -v collectd || echo /usr/sbin/collectd) ))"
  exit 0
fi

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "collectd (or a library of its write_http plugin) is missing and cannot be installed here (needs root and apt-get)." >&2
  echo "Install it yourself: sudo apt-get update && sudo apt-get install -y --no-install-recommends collectd" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Without recommends (they pull in ~60 libraries for other plugins), plus the two libraries the
# write_http plugin loads (collectd-core only *suggests* them): libcurl and libyajl (JSON).
apt-get install -y -qq --no-install-recommends collectd libcurl3-gnutls libyajl2 >/dev/null
if ! [ -x /usr/sbin/collectd ] || ! write_http_ok; then
  echo "apt-get install collectd finished but /usr/sbin/collectd or its write_http plugin is unusable" >&2
  exit 1
fi
echo "collectd: installed ($(/usr/sbin/collectd -h 2>/dev/null | grep -m1 '^collectd ' || true))"
