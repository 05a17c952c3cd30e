"""Deliveries as a municipality's source system makes them: a machine client with a
delivery right runs `dap deliver`; a second dap process (another replica on the same
control plane and lake) serves the delivered rows on /rows, /changes and to `dap pull`
within the stated bound (lake.refresh_secs = 5 s in the demo, polled here for at most
60 s). A server killed mid-delivery leaves no commit or exactly one, and the retried
delivery applies once."""

import json
import os
import signal
import subprocess
import time
import urllib.request

from deltalake import DeltaTable

from conftest import DAP_BIN, WRITABLE_MUNICIPALITIES, free_port

# Each test delivers for a municipality of its own that no other module reads.
PULLED, KILLED = WRITABLE_MUNICIPALITIES[0], WRITABLE_MUNICIPALITIES[1]
HEADER = "posteringsid,aar,maaned,bogfoeringsdato,funktion,art,beloeb,omkostningssted"


def _start(data_dir):
    port = free_port()
    log = open(os.path.join(data_dir, f"dap-{port}.log"), "w")
    process = subprocess.Popen(
        [DAP_BIN, "demo", "--data-dir", data_dir, "--bind", f"127.0.0.1:{port}",
         "--rows-per-municipality", "60"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(base + "/health/ready", timeout=2)
            return process, base
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError("dap demo did not become ready: " + open(log.name).read()[-3000:])
            time.sleep(0.3)


def _request(base, path, token, method="GET", body=None, content_type=None):
    request = urllib.request.Request(base + path, data=body, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _delivery_client(dap, municipality):
    """A machine client of `municipality` with a delivery right for postings, granted by
    the municipality's IT administrator over the admin API."""
    created = json.loads(subprocess.run(
        [DAP_BIN, "client", "create", "--data-dir", dap.data_dir, "--municipality", municipality,
         "--name", f"Daily delivery {municipality} {time.time_ns()}",
         "--datasets", "oekonomi.posteringer", "--days", "1"],
        check=True, capture_output=True, text=True).stdout)
    admin = subprocess.run(
        [DAP_BIN, "token", "--data-dir", dap.data_dir, "--municipality", municipality,
         "--roles", "it-administration", "--subject", f"admin-{municipality}"],
        check=True, capture_output=True, text=True).stdout.strip()
    body = json.dumps({"dataset": "oekonomi.posteringer", "client_id": created["client_id"]}).encode()
    _request(dap.base, "/api/v1/admin/delivery-rights", admin, "POST", body, "application/json")
    return {**os.environ, "DAP_CLIENT_ID": created["client_id"], "DAP_CLIENT_SECRET": created["client_secret"]}


def _deliver(base, env, path, *extra):
    return subprocess.run(
        [DAP_BIN, "deliver", "--server", base, "--dataset", "oekonomi.posteringer", "--file", str(path), *extra],
        env=env, capture_output=True, text=True)


def test_a_delivery_is_served_by_another_replica_and_pulled(dap, tmp_path):
    env = _delivery_client(dap, PULLED)
    other, other_base = _start(dap.data_dir)
    try:
        reader = dap.token(PULLED)
        # Open the table on the other replica before the delivery, so it has to notice.
        before = _request(other_base, "/api/v1/datasets/oekonomi.posteringer", reader)["table_version"]
        mirror = tmp_path / "mirror"
        pull = [DAP_BIN, "pull", "--server", other_base, "--dataset", "oekonomi.posteringer", "--into", str(mirror)]
        pull_env = {**os.environ, "DAP_TOKEN": reader}
        subprocess.run(pull, env=pull_env, check=True, capture_output=True, text=True)

        day = tmp_path / "2024-03-31.csv"
        day.write_text(f"{HEADER}\n1699000001,2024,3,2024-03-31,5.22.07,1.0,100.25,OMK-1\n"
                       f"1690000000,2024,3,2024-03-31,5.22.07,1.0,-3.50,OMK-2\n")
        done = _deliver(dap.base, env, day, "--delivery-id", "2024-03-31")
        assert done.returncode == 0, done.stderr
        receipt = json.loads(done.stdout)
        assert receipt["rows_inserted"] == 1 and receipt["rows_updated"] == 1, receipt
        assert receipt["table_version"] > before

        deadline = time.time() + 60
        while True:
            rows = _request(other_base, "/api/v1/datasets/oekonomi.posteringer/rows?filter=posteringsid:eq:1699000001", reader)
            if rows["rows"] or time.time() > deadline:
                break
            time.sleep(0.5)
        assert [r["beloeb"] for r in rows["rows"]] == [100.25]
        assert rows["table_version"] == receipt["table_version"]

        changes = urllib.request.Request(
            other_base + f"/api/v1/datasets/oekonomi.posteringer/changes?from_version={receipt['table_version']}&format=ndjson")
        changes.add_header("Authorization", f"Bearer {reader}")
        with urllib.request.urlopen(changes, timeout=30) as response:
            feed = [json.loads(line) for line in response.read().decode().splitlines() if line]
        kinds = sorted((c["_change_type"], c["posteringsid"]) for c in feed)
        assert kinds == [("insert", 1699000001), ("update_postimage", 1690000000), ("update_preimage", 1690000000)]

        pulled = json.loads(subprocess.run(pull, env=pull_env, check=True, capture_output=True, text=True).stdout)
        assert pulled["kind"] == "changes" and pulled["to_version"] == receipt["table_version"]
        mirrored = {r["posteringsid"]: r for r in DeltaTable(str(mirror)).to_pyarrow_table().to_pylist()}
        assert str(mirrored[1699000001]["beloeb"]) == "100.25"
        assert str(mirrored[1690000000]["beloeb"]) == "-3.50"

        # The retried delivery is not applied again.
        again = _deliver(dap.base, env, day, "--delivery-id", "2024-03-31")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["replayed"] is True
        assert DeltaTable(os.path.join(dap.data_dir, "lake", "oekonomi", "posteringer")).version() == receipt["table_version"]
    finally:
        other.terminate()
        other.wait(timeout=30)


def test_a_server_killed_mid_delivery_commits_nothing_or_once(dap, tmp_path):
    """SIGKILL the serving replica at several moments of a large delivery; then retry it
    on a fresh replica: the table holds the delivery exactly once."""
    env = _delivery_client(dap, KILLED)
    rows = 40000
    big = tmp_path / "big.csv"
    with open(big, "w") as f:
        f.write(HEADER + "\n")
        for i in range(rows):
            f.write(f"{1759000000 + i},2024,3,2024-03-31,5.22.07,1.0,{i}.00,OMK-{i % 7}\n")
    table_path = os.path.join(dap.data_dir, "lake", "oekonomi", "posteringer")
    for delay in [0.2, 0.6, 1.2, 2.5]:
        server, base = _start(dap.data_dir)
        client = subprocess.Popen(
            [DAP_BIN, "deliver", "--server", base, "--dataset", "oekonomi.posteringer", "--file", str(big),
             "--delivery-id", "big-1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        server.send_signal(signal.SIGKILL)
        server.wait()
        client.wait(timeout=60)
        count = DeltaTable(table_path).to_pyarrow_table(
            filters=[("kommunekode", "=", KILLED), ("posteringsid", ">=", 1759000000)], columns=["posteringsid"]).num_rows
        assert count in (0, rows), f"a partial delivery after SIGKILL at {delay}s: {count} rows"
    server, base = _start(dap.data_dir)
    try:
        done = _deliver(base, env, big, "--delivery-id", "big-1")
        assert done.returncode == 0, done.stderr
        table = DeltaTable(table_path)
        delivered = table.to_pyarrow_table(
            filters=[("kommunekode", "=", KILLED), ("posteringsid", ">=", 1759000000)], columns=["posteringsid"])
        assert delivered.num_rows == rows
        assert len(set(delivered.column("posteringsid").to_pylist())) == rows
    finally:
        server.terminate()
        server.wait(timeout=30)
