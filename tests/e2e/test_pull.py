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
