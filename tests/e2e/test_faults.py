"""Faults of a production gateway, against a real `dap demo` process: clients that open
exports and never read are cut off by the send timeout (and the server's memory is
measured before, during and after), and a shutdown records every export it cuts off.

The demo table `oekonomi.posteringer` is grown to about a million rows for 0101 with
`deltalake`, so one export is far larger than the sockets' buffers."""

import os
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.request

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from conftest import ALL_READ_ROLES, DAP_BIN, free_port

EXPORT = "/api/v1/datasets/oekonomi.posteringer/export?format=csv"


def token(data_dir: str, subject: str, municipality: str = "0101") -> str:
    out = subprocess.run(
        [DAP_BIN, "token", "--data-dir", data_dir, "--subject", subject,
         "--municipality", municipality, "--roles", ALL_READ_ROLES],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def start(data_dir: str, config: str | None = None):
    port = free_port()
    log = open(os.path.join(data_dir, f"dap-{port}.log"), "w")
    args = [DAP_BIN, "demo", "--data-dir", data_dir, "--bind", f"127.0.0.1:{port}",
            "--rows-per-municipality", "60"]
    if config:
        args += ["--config", config]
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(base + "/health/ready", timeout=2)
            return process, port
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError("dap demo did not start: " + open(log.name).read()[-3000:])
            time.sleep(0.3)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def stalled_export(port: int, bearer: str) -> socket.socket:
    """Asks for an export with a tiny receive buffer and never reads it."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(
        f"GET {EXPORT} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {bearer}\r\n\r\n".encode()
    )
    return s


def full_export(port: int, bearer: str) -> int:
    """Reads a whole export; returns its lines."""
    with urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{port}{EXPORT}",
                               headers={"Authorization": f"Bearer {bearer}"}),
        timeout=300,
    ) as response:
        assert response.status == 200
        return sum(1 for _ in response)


def closing_records(data_dir: str, reasons: tuple[str, ...]) -> list[tuple]:
    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'dap.sqlite')}?mode=ro", uri=True, timeout=30)
    try:
        marks = ",".join("?" * len(reasons))
        return db.execute(
            f"SELECT outcome, reason, rows_returned, subject FROM audit_events WHERE reason IN ({marks})",
            reasons,
        ).fetchall()
    finally:
        db.close()


# A stalled export ends either by the send timeout (the export notices its client has not
# asked for more) or, when the socket's send buffer was still filling, by the kernel
# aborting the connection (TCP_USER_TIMEOUT): the client is then gone.
STALLED = ("export_send_timeout", "export_aborted")


def wait_for(what: str, done, bound: float = 180):
    """Waits until `done()`; the bound only guards against a hang."""
    deadline = time.time() + bound
    while not done():
        if time.time() > deadline:
            raise AssertionError(f"{what} did not happen")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def big_lake():
    """A demo data directory whose 0101 postings are about a million rows."""
    data_dir = tempfile.mkdtemp(prefix="dap-faults-")
    process, _ = start(data_dir)
    process.terminate()
    process.wait(timeout=60)
    path = os.path.join(data_dir, "lake", "oekonomi", "posteringer")
    own = DeltaTable(path).to_pyarrow_table(filters=[("kommunekode", "=", "0101")])
    assert own.num_rows > 0
    copies = max(1, 1_000_000 // own.num_rows)
    write_deltalake(path, pa.concat_tables([own] * copies), mode="append")
    return data_dir


def config(data_dir: str, text: str) -> str:
    path = os.path.join(data_dir, f"dap-{time.time_ns()}.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_clients_that_never_read_are_cut_off_and_their_memory_released(big_lake):
    cfg = config(big_lake, "[exports]\nmax_concurrent = 40\nmax_per_caller = 40\nsend_timeout_secs = 3\n")
    process, port = start(big_lake, cfg)
    try:
        bearer = token(big_lake, "stalling-client")
        # Warm up (the table's snapshot and caches), then take the idle figure.
        assert full_export(port, bearer) > 1_000_000
        idle = rss_mb(process.pid)
        sockets = [stalled_export(port, bearer) for _ in range(20)]
        peak = idle
        def all_cut_off():
            nonlocal peak
            peak = max(peak, rss_mb(process.pid))
            return len([r for r in closing_records(big_lake, STALLED) if r[3] == "stalling-client"]) >= 20
        wait_for("20 stalled exports ended", all_cut_off)
        cut_off = rss_mb(process.pid)
        # The kernel then aborts the stalled connections (TCP_USER_TIMEOUT, twice the
        # send timeout and 10 s), which frees what the server still buffered for them,
        # and the memory goes back to the system (jemalloc purges freed pages in the
        # background): wait for it, bounded, and log the figures.
        margin = 64
        try:
            wait_for("memory back near idle", lambda: rss_mb(process.pid) <= idle + margin, bound=120)
        finally:
            after = rss_mb(process.pid)
            print(f"\nserver RSS: idle {idle:.0f} MB, peak with 20 stalled exports {peak:.0f} MB, "
                  f"when they were cut off {cut_off:.0f} MB, after {after:.0f} MB")
        records = [r for r in closing_records(big_lake, STALLED) if r[3] == "stalling-client"]
        assert len(records) == 20, records
        assert {r[0] for r in records} == {"interrupted"}
        print("ended by:", {reason: sum(1 for r in records if r[1] == reason) for reason in STALLED})
        # The places are free again: the same caller's next export is served whole.
        assert full_export(port, bearer) > 1_000_000
        for s in sockets:
            s.close()
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_a_shutdown_records_every_export_it_cuts_off(big_lake):
    cfg = config(big_lake, "shutdown_timeout_secs = 2\n[exports]\nsend_timeout_secs = 600\n")
    process, port = start(big_lake, cfg)
    sockets = []
    try:
        for n in range(3):
            bearer = token(big_lake, f"shutdown-client-{n}")
            sockets.append(stalled_export(port, bearer))
        # Each export is under way once its opening record is written.
        def opened():
            db = sqlite3.connect(f"file:{os.path.join(big_lake, 'dap.sqlite')}?mode=ro", uri=True, timeout=30)
            try:
                return db.execute(
                    "SELECT count(*) FROM audit_events WHERE subject LIKE 'shutdown-client-%' "
                    "AND outcome = 'allowed'"
                ).fetchone()[0] >= 3
            finally:
                db.close()
        wait_for("three exports under way", opened)
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
        for s in sockets:
            s.close()
    records = [r for r in closing_records(big_lake, ("export_shutdown",)) if r[3].startswith("shutdown-client-")]
    assert len(records) == 3, records
    assert {r[0] for r in records} == {"interrupted"}
    assert all(r[2] is not None for r in records)
