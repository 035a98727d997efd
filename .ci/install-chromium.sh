#!/usr/bin/env bash
# Debian's headless Chromium for the report tests (tests/report/test_browser.py).
# Idempotent: does nothing when a Chromium is already on PATH. Needs root (CI runs as root)
# or sudo; the report tests fail in CI (and skip elsewhere) without a browser.
set -euo pipefail
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then
    echo "chromium: $(command -v "$candidate") ($("$candidate" --version 2>/dev/null || true))"
    exit 0
  fi
done
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: need root or sudo to apt-get install chromium" >&2; exit 2; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null || true))"
