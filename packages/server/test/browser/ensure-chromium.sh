#!/usr/bin/env bash
# Makes sure the Chromium the browser tests drive (playwright-core, executablePath /usr/bin/chromium)
# is installed. playwright's own browser download is not used: Debian's package is the one known to
# work here. Installs it with apt-get when running as root; otherwise says what to do.
set -euo pipefail
CHROMIUM="${MILLRACE_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the browser tests (apt-get install chromium)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  if [ -x "$CHROMIUM" ]; then
    exit 0
  fi
  echo "apt-get installed chromium but $CHROMIUM is missing; set MILLRACE_CHROMIUM to its path" >&2
  exit 1
fi
echo "the browser tests need Chromium at $CHROMIUM: install it (Debian/Ubuntu: sudo apt-get install chromium)" >&2
echo "or set MILLRACE_CHROMIUM to a Chromium or Chrome executable" >&2
exit 1
