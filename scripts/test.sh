#!/usr/bin/env bash
# The whole test suite: unit tests, the integration-test binary (SQLite and PostgreSQL),
# and the end-to-end suite with real clients.
# Installs what it needs itself. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# The same target directory as the README's `cargo run --bin dap -- demo`: cargo's own
# default (./target) unless CARGO_TARGET_DIR says otherwise (CI may choose its own). Every
# cargo command here selects the whole workspace, as `cargo run` in the root does, so the
# features of the dependencies (DataFusion) are the same and nothing is built twice.
TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
# A service or client that cannot start is a failure, not a skip. Set DAP_REQUIRE_POSTGRES=0
# or DAP_E2E_STRICT=0 only to run a partial suite on a machine that lacks them.
export DAP_REQUIRE_POSTGRES="${DAP_REQUIRE_POSTGRES:-1}"
export DAP_E2E_STRICT="${DAP_E2E_STRICT:-1}"

# PostgreSQL for the control-plane tests: start the local cluster if it is installed but down.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    sleep 2
  fi
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if [ "${DAP_REQUIRE_POSTGRES:-0}" = "1" ]; then
    echo "PostgreSQL is required (DAP_REQUIRE_POSTGRES=1) but 127.0.0.1:5432 does not answer" >&2
    exit 1
  fi
  echo "NOTE: PostgreSQL at 127.0.0.1:5432 does not answer: the PostgreSQL tests will be SKIPPED" >&2
fi

cargo test --workspace --locked

# End-to-end against a real `dap demo` process, with real clients: schemathesis (contract
# fuzzing) and Chromium driven by Playwright (docs page offline). Installed here.
cargo build --workspace --locked --bin dap
VENV="${DAP_VENV:-$HOME/.cache/dap/venv}"
if [ ! -x "$VENV/bin/pytest" ] || ! cmp -s tests/e2e/requirements.txt "$VENV/requirements.txt"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
  cp tests/e2e/requirements.txt "$VENV/requirements.txt"
fi
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is not installed and cannot be installed here (not root or no apt-get): install Debian's chromium, or set DAP_E2E_STRICT=0 to skip the browser tests" >&2
    [ "$DAP_E2E_STRICT" = "1" ] && exit 1
  fi
fi
# Node.js packages of the end-to-end suite, installed exactly as locked: the municipal
# broker of the identity tests (oidc-provider, tests/e2e/broker/package-lock.json) and the
# second OData v4 client (@odata/client, tests/e2e/odata-client/package-lock.json).
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "Node.js/npm is not installed and cannot be installed here: install nodejs and npm, or set DAP_E2E_STRICT=0 to skip the tests that need them" >&2
    [ "$DAP_E2E_STRICT" = "1" ] && exit 1
  fi
fi
# axe-core for the console's accessibility checks, exactly as locked in
# tests/e2e/axe/package-lock.json. Azurite, the Azure Storage emulator the lake-on-object-
# storage and several-replicas tests start (tests/e2e/azurite/package-lock.json).
if command -v npm >/dev/null 2>&1; then
  (cd tests/e2e/broker && npm ci --no-audit --no-fund --loglevel=error)
  (cd tests/e2e/odata-client && npm ci --no-audit --no-fund --loglevel=error)
  (cd tests/e2e/axe && npm ci --no-audit --no-fund --loglevel=error)
  (cd tests/e2e/azurite && npm ci --no-audit --no-fund --loglevel=error)
fi
# The official Delta Sharing connector pins pandas < 3 and pyarrow <= 23: its own venv
# (test_sharing.py runs in it; test_console.py hands it a profile the console made).
SHARING_VENV="${DAP_SHARING_VENV:-$HOME/.cache/dap/venv-sharing}"
if [ ! -x "$SHARING_VENV/bin/pytest" ] || ! cmp -s tests/e2e/sharing-requirements.txt "$SHARING_VENV/requirements.txt"; then
  python3 -m venv "$SHARING_VENV"
  "$SHARING_VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/e2e/sharing-requirements.txt
  cp tests/e2e/sharing-requirements.txt "$SHARING_VENV/requirements.txt"
fi
export DAP_SHARING_PYTHON="$SHARING_VENV/bin/python"
DAP_BIN="$TARGET_DIR/debug/dap" "$VENV/bin/pytest" tests/e2e -q -rs --ignore=tests/e2e/test_sharing.py
DAP_BIN="$TARGET_DIR/debug/dap" "$SHARING_VENV/bin/pytest" tests/e2e/test_sharing.py -q -rs
