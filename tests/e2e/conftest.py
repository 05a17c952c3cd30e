"""End-to-end fixtures: a real `dap demo` process on a free port, and demo tokens."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

DAP_BIN = os.environ.get("DAP_BIN", "target/debug/dap")
ALL_READ_ROLES = "laes-oekonomi,laes-personale,laes-borger,laes-aeldre,laes-infrastruktur"
# The session's shared demo process is read by every module in whatever order pytest runs
# them; the readers compare with the demo data as generated (60 rows per municipality). A
# test that writes to its lake (deliveries) writes only for one of these municipalities,
# which no test reads. The `dap` fixture checks at the end that nothing else changed.
WRITABLE_MUNICIPALITIES = ("0169", "0175", "0183")


# pyarrow's and the Rust extensions' native threads (deltalake, the Delta Sharing
# connector's kernel wrapper) can abort the interpreter's own teardown with "terminate
# called without an active exception" (delta-rs#2184), after every test has passed and the
# results are printed. The process then exits by signal and fails CI for nothing the tests
# are about. Both the connector's child scripts and the pytest process therefore leave with
# os._exit once their output is flushed; a crash before that still fails.
CONNECTOR_EXIT = "\nsys.stdout.flush(); sys.stderr.flush(); os._exit(0)\n"


def run_connector(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs `script` (which prints its result as the last line of stdout) with the Python of
    the official Delta Sharing connector's venv, which scripts/test.sh creates."""
    python = os.environ.get("DAP_SHARING_PYTHON")
    if not python:
        pytest.fail("DAP_SHARING_PYTHON must name the Python of the Delta Sharing connector's venv "
                    "(scripts/test.sh sets it)")
    run = subprocess.run([python, "-c", "import os, sys\n" + script + CONNECTOR_EXIT, *args],
                         capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"connector exited with {run.returncode}: {run.stderr[-3000:]}"
    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dap:
    def __init__(self, base: str, data_dir: str):
        self.base = base
        self.data_dir = data_dir

    def token(self, municipality: str = "0101", roles: str = ALL_READ_ROLES, loa: str = "Substantial") -> str:
        out = subprocess.run(
            [DAP_BIN, "token", "--data-dir", self.data_dir, "--municipality", municipality,
             "--roles", roles, "--loa", loa],
            check=True, capture_output=True, text=True,
        )
        return out.stdout.strip()

    def get_json(self, path: str, token: str | None = None):
        request = urllib.request.Request(self.base + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


def wait_ready(process, base: str, log_path: str, seconds: float) -> None:
    """Waits until `base` answers /health/ready; a process that exits or stays unready
    for `seconds` fails with the end of its log."""
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/health/ready", timeout=2)
            return
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError("dap demo did not become ready: " + open(log_path).read()[-3000:])
            time.sleep(0.3)


@pytest.fixture(scope="session")
def dap():
    data_dir = tempfile.mkdtemp(prefix="dap-e2e-")
    port = free_port()
    log = open(os.path.join(data_dir, "dap.log"), "w")
    process = subprocess.Popen(
        [DAP_BIN, "demo", "--data-dir", data_dir, "--bind", f"127.0.0.1:{port}",
         "--rows-per-municipality", "60"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    log.flush()
    wait_ready(process, base, log.name, 120)
    before = read_only_rows(data_dir)
    yield Dap(base, data_dir)
    process.terminate()
    process.wait(timeout=30)
    changed = sorted(table for table, rows in read_only_rows(data_dir).items() if rows != before.get(table))
    assert not changed, (
        f"a test changed rows outside {WRITABLE_MUNICIPALITIES} in the shared demo lake "
        f"({changed}): other modules compare with the generated data; deliver for one of "
        "WRITABLE_MUNICIPALITIES or start a dap process of your own")


def read_only_rows(data_dir: str) -> dict:
    """Per Delta table of the demo lake: the sorted rows of every municipality that no
    test may write, as a comparable fingerprint."""
    from deltalake import DeltaTable

    lake = os.path.join(data_dir, "lake")
    rows = {}
    for root, dirs, _files in os.walk(lake):
        if "_delta_log" in dirs:
            dirs.clear()
            table = DeltaTable(root).to_pyarrow_table()
            if "kommunekode" in table.column_names:
                records = [r for r in table.to_pylist() if r["kommunekode"] not in WRITABLE_MUNICIPALITIES]
            else:
                records = table.to_pylist()
            rows[os.path.relpath(root, lake)] = sorted(repr(sorted(r.items())) for r in records)
    return rows


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under scripts/test.sh (DAP_E2E_STRICT=1, the default there and in CI) a skipped test
    is a failure: a client or service that cannot start must not pass silently."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("DAP_E2E_STRICT") == "1":
        report.outcome = "failed"
        report.longrepr = f"skipped under DAP_E2E_STRICT=1: {report.longrepr}"


def pytest_sessionfinish(session, exitstatus):
    session.config._dap_exitstatus = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """See CONNECTOR_EXIT: the summary is printed and every fixture torn down by now."""
    if hasattr(config, "_dap_exitstatus"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config._dap_exitstatus)
