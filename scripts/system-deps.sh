#!/usr/bin/env bash
# Install the Debian packages the test suite uses, when missing: chromium (browser tests) and
# postgresql (store tests on PostgreSQL). Needs root and apt-get; otherwise it says what is missing.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${need[*]} (install them with your package manager); those tests will skip" >&2
  exit 0
fi
echo "system-deps: apt-get install ${need[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
