#!/usr/bin/env bash
# The web chat's end-to-end test drives Debian's Chromium (/usr/bin/chromium): install it when missing.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "The browser test needs Chromium at /usr/bin/chromium; install it with your package manager." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "Installing Chromium needs root: apt-get install -y chromium" >&2; exit 1; }
  sudo="sudo"
fi
echo "Installing Chromium for the browser test (apt-get install chromium)…" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
