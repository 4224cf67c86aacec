#!/usr/bin/env bash
# Run uv, installing it first (into .tools/, a private venv) when the machine has none.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if command -v uv >/dev/null 2>&1; then
  exec uv "$@"
fi
if [ ! -x "$root/.tools/bin/uv" ]; then
  python3 -m venv "$root/.tools" >&2
  "$root/.tools/bin/pip" install --quiet uv >&2
fi
exec "$root/.tools/bin/uv" "$@"
