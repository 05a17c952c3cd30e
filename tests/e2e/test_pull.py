"""`dap pull` as an integrator runs it: the CLI mirrors a dataset into a Delta table that
another Delta reader (the deltalake Python package) reads back equal to the source."""

import json
import os
import subprocess

from deltalake import DeltaTable

from conftest import DAP_BIN


def test_the_pull_cli_mirrors_a_dataset(dap, tmp_path):
    token = dap.token("0147")
    mirror = tmp_path / "mirror"
    command = [DAP_BIN, "pull", "--server", dap.base, "--dataset", "aeldre.hjemmepleje", "--into", str(mirror)]
    env = {**os.environ, "DAP_TOKEN": token}
    first = json.loads(subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout)
    assert first["kind"] == "full"
    second = json.loads(subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout)
    assert second["kind"] == "up_to_date"

    source = DeltaTable(os.path.join(dap.data_dir, "lake", "aeldre", "hjemmepleje"))
    expected = source.to_pyarrow_table(filters=[("kommunekode", "=", "0147")]).drop_columns(["cpr"])
    expected = sorted(expected.to_pylist(), key=lambda r: r["visitationsid"])
    mirrored = sorted(DeltaTable(str(mirror)).to_pyarrow_table().to_pylist(), key=lambda r: r["visitationsid"])
    assert mirrored == expected
    assert len(mirrored) > 0
    assert all("cpr" not in r for r in mirrored), "the sensitive column was pulled without its role"


def test_a_killed_pull_resumes_to_the_same_mirror(dap, tmp_path):
    """SIGKILL the CLI at several moments; the next run still ends equal to the source."""
    import signal
    import time

    token = dap.token("0760")
    mirror = tmp_path / "mirror"
    command = [DAP_BIN, "pull", "--server", dap.base, "--dataset", "oekonomi.posteringer", "--into", str(mirror)]
    env = {**os.environ, "DAP_TOKEN": token}
    for delay in [0.01, 0.03, 0.06, 0.1, 0.2]:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
    final = json.loads(subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout)
    assert final["kind"] in ("full", "up_to_date")
    source = DeltaTable(os.path.join(dap.data_dir, "lake", "oekonomi", "posteringer"))
    expected = sorted(source.to_pyarrow_table(filters=[("kommunekode", "=", "0760")]).to_pylist(), key=lambda r: r["posteringsid"])
    mirrored = sorted(DeltaTable(str(mirror)).to_pyarrow_table().to_pylist(), key=lambda r: r["posteringsid"])
    assert mirrored == expected
