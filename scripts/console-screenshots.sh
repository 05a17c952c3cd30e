#!/usr/bin/env bash
# Retakes the web console's screenshots in docs/ (shown in the README): the browser tests
# of tests/e2e/test_console.py save the main pages while they run. Installs what the
# tests need like scripts/test.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dap/target}"
cargo build --workspace --locked
VENV="${DAP_VENV:-$HOME/.cache/dap/venv}"
SHARING_VENV="${DAP_SHARING_VENV:-$HOME/.cache/dap/venv-sharing}"
if [ ! -x "$VENV/bin/pytest" ] || [ ! -x "$SHARING_VENV/bin/python" ]; then
  echo "run scripts/test.sh once first (it installs the venvs, Chromium and axe-core)" >&2
  exit 1
fi
(cd tests/e2e/axe && npm ci --no-audit --no-fund --loglevel=error)
DAP_SHARING_PYTHON="$SHARING_VENV/bin/python" DAP_CONSOLE_SCREENSHOTS="$PWD/docs" \
  DAP_BIN="$CARGO_TARGET_DIR/debug/dap" "$VENV/bin/pytest" tests/e2e/test_console.py -q
ls -1 docs/console-*.png
