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


def _files(folder):
    """Every file under `folder` with its bytes: an unchanged folder is an equal map."""
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def test_a_mirror_knows_what_it_mirrors_and_replace_swaps_it_in_one_commit(dap, tmp_path):
    """Another municipality into a mirror is refused and changes nothing; --replace makes the
    mirror exactly the other municipality in one overwrite commit, and any Delta reader sees
    the mirror's identity in its table properties."""
    mirror = tmp_path / "mirror"
    base = [DAP_BIN, "pull", "--server", dap.base, "--dataset", "oekonomi.posteringer", "--into", str(mirror)]
    first = {**os.environ, "DAP_TOKEN": dap.token("0101")}
    other = {**os.environ, "DAP_TOKEN": dap.token("0147")}
    subprocess.run(base, env=first, check=True, capture_output=True, text=True)
    before = _files(mirror)

    refused = subprocess.run(base, env=other, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "0101" in refused.stderr and "0147" in refused.stderr and "--replace" in refused.stderr
    assert _files(mirror) == before

    replaced = json.loads(subprocess.run(base + ["--replace"], env=other, check=True, capture_output=True, text=True).stdout)
    assert replaced["kind"] == "full"
    table = DeltaTable(str(mirror))
    properties = table.metadata().configuration
    assert properties["dap.mirror.municipality"] == "0147"
    assert properties["dap.mirror.dataset"] == "oekonomi.posteringer"
    assert properties["dap.mirror.server"].rstrip("/") == dap.base
    assert [c["name"] for c in json.loads(properties["dap.mirror.columns"])] == table.schema().to_arrow().names
    last = table.history(1)[0]
    assert last["operationParameters"]["mode"] == "Overwrite"
    assert table.version() == 1, "one commit per pull"

    source = DeltaTable(os.path.join(dap.data_dir, "lake", "oekonomi", "posteringer"))
    expected = sorted(source.to_pyarrow_table(filters=[("kommunekode", "=", "0147")]).to_pylist(), key=lambda r: r["posteringsid"])
    mirrored = sorted(table.to_pyarrow_table().to_pylist(), key=lambda r: r["posteringsid"])
    assert mirrored == expected
