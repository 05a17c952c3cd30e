"""Delta Sharing with the official `delta-sharing` connector: what pandas gets through
dap's sharing endpoint equals a direct deltalake read of the caller's rows and visible
columns. The connector pins pandas < 3 and pyarrow <= 23, which the rest of the suite
does not, so it lives in its own venv (tests/e2e/sharing-requirements.txt), which
scripts/test.sh creates."""

import datetime
import decimal
import json
import os
import subprocess
import urllib.request

import pytest

import delta_sharing  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
from deltalake import DeltaTable  # noqa: E402

from conftest import DAP_BIN  # noqa: E402

# Without laes-foelsomme: the CPR column of aeldre.hjemmepleje is not visible.
ROLES = "laes-oekonomi,laes-aeldre"


def normalise(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (decimal.Decimal, float)):
        return f"{float(value):.2f}"
    if isinstance(value, (datetime.date, datetime.datetime, pd.Timestamp)):
        return str(value)[:10]
    if hasattr(value, "item"):
        return normalise(value.item())
    return value if isinstance(value, str) else int(value)


def rows(records, columns):
    return sorted((tuple(normalise(r[c]) for c in columns) for r in records), key=repr)


def lake(dap, dataset):
    return os.path.join(dap.data_dir, "lake", *dataset.split("."))


def oracle(dap, dataset, columns, version=None):
    table = DeltaTable(lake(dap, dataset), version=version)
    frame = table.to_pyarrow_table(filters=[("kommunekode", "=", "0101")])
    return rows(frame.to_pylist(), columns)


@pytest.fixture(scope="module")
def profile(dap, tmp_path_factory):
    token = dap.token("0101", roles=ROLES)
    body = json.dumps({"name": "pandas", "datasets": ["oekonomi.posteringer", "aeldre.hjemmepleje"]})
    request = urllib.request.Request(
        dap.base + "/api/v1/me/sharing-profiles", data=body.encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        content = json.load(response)
    assert content["shareCredentialsVersion"] == 1
    path = tmp_path_factory.mktemp("sharing") / "dap.share"
    path.write_text(json.dumps(content))
    return str(path)


def test_list_all_tables_is_the_profiles_datasets(profile):
    client = delta_sharing.SharingClient(profile)
    tables = sorted(f"{t.schema}.{t.name}" for t in client.list_all_tables())
    assert tables == ["aeldre.hjemmepleje", "oekonomi.posteringer"]


@pytest.mark.parametrize("dataset", ["oekonomi.posteringer", "aeldre.hjemmepleje"])
def test_load_as_pandas_is_the_callers_rows_and_visible_columns(dap, profile, dataset):
    frame = delta_sharing.load_as_pandas(f"{profile}#dap.{dataset}")
    columns = list(frame.columns)
    assert "cpr" not in columns
    assert set(frame["kommunekode"]) == {"0101"}
    assert rows(frame.to_dict("records"), columns) == oracle(dap, dataset, columns)


def test_limit_and_an_older_version(dap, profile):
    url = f"{profile}#dap.oekonomi.posteringer"
    limited = delta_sharing.load_as_pandas(url, limit=5)
    assert len(limited) == 5
    columns = list(limited.columns)
    assert set(rows(limited.to_dict("records"), columns)) <= set(oracle(dap, "oekonomi.posteringer", columns))
    old = delta_sharing.load_as_pandas(url, version=0)
    assert rows(old.to_dict("records"), columns) == oracle(dap, "oekonomi.posteringer", columns, version=0)


def test_table_changes_are_the_callers_change_feed(dap, profile):
    changes = delta_sharing.load_table_changes_as_pandas(
        f"{profile}#dap.aeldre.hjemmepleje", starting_version=0
    )
    assert "cpr" not in changes.columns
    columns = [c for c in changes.columns if c != "_commit_timestamp"]
    feed = pa.table(DeltaTable(lake(dap, "aeldre.hjemmepleje")).load_cdf(starting_version=0)).to_pylist()
    expected = rows([r for r in feed if r["kommunekode"] == "0101"], columns)
    assert rows(changes.to_dict("records"), columns) == expected
    assert {"insert", "delete"} <= set(changes["_change_type"])


def test_a_machine_client_reads_with_an_oauth_client_credentials_profile(dap, tmp_path):
    out = subprocess.run(
        [DAP_BIN, "client", "create", "--data-dir", dap.data_dir, "--municipality", "0101",
         "--name", "Delta Sharing job", "--datasets", "oekonomi.posteringer", "--days", "1"],
        check=True, capture_output=True, text=True,
    )
    client = json.loads(out.stdout.strip().splitlines()[-1])
    path = tmp_path / "machine.share"
    path.write_text(json.dumps({
        "shareCredentialsVersion": 2,
        "type": "oauth_client_credentials",
        "endpoint": dap.base + "/delta-sharing",
        "tokenEndpoint": dap.base + "/oauth/token",
        "clientId": client["client_id"],
        "clientSecret": client["client_secret"],
    }))
    tables = [f"{t.schema}.{t.name}" for t in delta_sharing.SharingClient(str(path)).list_all_tables()]
    assert tables == ["oekonomi.posteringer"]
    frame = delta_sharing.load_as_pandas(f"{path}#dap.oekonomi.posteringer")
    columns = list(frame.columns)
    assert rows(frame.to_dict("records"), columns) == oracle(dap, "oekonomi.posteringer", columns)
