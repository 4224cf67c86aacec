#!/usr/bin/env bash
# Build the web chat widget (widget/dist) when it is missing or older than its sources; npm is used for
# the build only. Prints the widget's sizes when it builds.
set -euo pipefail
cd "$(dirname "$0")/../widget"
stamp=dist/manifest.json
if [ -f "$stamp" ] && [ -z "$(find src build.mjs package.json package-lock.json tsconfig.json -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "build-widget: npm is needed to build the web chat widget (Node.js 18+)" >&2
  exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent typecheck
npm run --silent build
