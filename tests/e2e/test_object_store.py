"""The lake in Azure Blob Storage: `dap demo --config` with `lake.root = "az://…"` writes
the demo data straight into Azurite (tests/e2e/azurite_server.py) and serves it from
there. Every read path (REST rows, describe, versions, changes, every export format,
GraphQL, OData, Delta Sharing), a delivery and `dap pull` answer exactly as a second
`dap demo` on a local folder with the same (deterministic) demo data does. Commit times
differ between the two lakes by nature and are compared by shape only; ports are
replaced by a placeholder."""

import io
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from azurite_server import Azurite
from conftest import ALL_READ_ROLES, DAP_BIN, free_port

DATASETS = ["oekonomi.posteringer", "aeldre.hjemmepleje", "borger.befolkning"]
HEADER = "posteringsid,aar,maaned,bogfoeringsdato,funktion,art,beloeb,omkostningssted"
# An instant written by dap now (a commit time, an audit time), not a demo data value
# (those lie in 2023 to 2025).
NOW = re.compile(r"^20(2[6-9]|[3-9]\d)-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?$")
# The signature of a paging cursor: each data directory has its own cursor key.
SIGNATURE = re.compile(r"\.[A-Za-z0-9_-]{43}\b")


class Server:
    def __init__(self, data_dir: str, config: str | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(data_dir, f"dap-{self.port}.log")
        args = [DAP_BIN, "demo", "--data-dir", data_dir, "--bind", f"127.0.0.1:{self.port}",
                "--rows-per-municipality", "60"]
        if config:
            args += ["--config", config]
        self.process = subprocess.Popen(args, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 300
        while True:
            try:
                urllib.request.urlopen(self.base + "/health/ready", timeout=2)
                return
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("dap demo did not become ready: " + open(self.log).read()[-3000:])
                time.sleep(0.3)

    def token(self, municipality="0101", roles=ALL_READ_ROLES, subject="demo-analyst"):
        return subprocess.run(
            [DAP_BIN, "token", "--data-dir", self.data_dir, "--municipality", municipality,
             "--roles", roles, "--subject", subject],
            check=True, capture_output=True, text=True).stdout.strip()

    def fetch(self, path, token, method="GET", body=None, content_type="application/json"):
        request = urllib.request.Request(self.base + path, data=body, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        if body is not None:
            request.add_header("Content-Type", content_type)
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()

    def json(self, path, token, **kw):
        return json.loads(self.fetch(path, token, **kw))

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


def config_file(directory: str, text: str) -> str:
    path = os.path.join(directory, "dap.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def comparable(value, bases):
    """`value` with dap's own instants and the servers' addresses made alike."""
    if isinstance(value, dict):
        return {k: comparable(v, bases) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v, bases) for v in value]
    if isinstance(value, str):
        if NOW.match(value):
            return "<instant>"
        for base in bases:
            value = value.replace(base, "<base>")
        value = SIGNATURE.sub(".<signature>", value)
    return value


@pytest.fixture(scope="module")
def azurite():
    server = Azurite()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lakes(azurite):
    """(local, azure): two demo servers with the same demo data, one on a local folder,
    one on Azurite."""
    azurite.create_container("warehouse")
    local = Server(tempfile.mkdtemp(prefix="dap-local-"))
    az_dir = tempfile.mkdtemp(prefix="dap-az-")
    config = config_file(az_dir, '[lake]\nroot = "az://warehouse/dap/lake"\nrefresh_secs = 2\n'
                         + azurite.storage_toml())
    try:
        azure = Server(az_dir, config)
    except Exception:
        local.stop()
        raise
    yield local, azure
    local.stop()
    azure.stop()


def both(lakes, path, **kw):
    local, azure = lakes
    answers = []
    for server in (local, azure):
        answers.append(server.json(path, server.token(), **kw))
    bases = [local.base, azure.base]
    return comparable(answers[0], bases), comparable(answers[1], bases)


def test_the_demo_data_is_written_to_azurite_and_nothing_to_the_data_directory(lakes, azurite):
    _, azure = lakes
    blobs = azurite.blobs("warehouse", "dap/lake/")
    for dataset in DATASETS:
        prefix = "dap/lake/" + dataset.replace(".", "/") + "/"
        assert any(b.startswith(prefix + "_delta_log/") for b in blobs), dataset
        assert any(b.startswith(prefix + "kommunekode=0101/") and b.endswith(".parquet") for b in blobs)
    assert not os.path.exists(os.path.join(azure.data_dir, "lake"))
    # The account key appears nowhere in the server's log.
    assert "Eby8vdM02xNOcqFlqUwJ" not in open(azure.log).read()


@pytest.mark.parametrize("dataset", DATASETS)
def test_rest_reads_answer_as_on_a_local_folder(lakes, dataset):
    listing = both(lakes, "/api/v1/datasets")
    assert listing[0] == listing[1]
    describe = both(lakes, f"/api/v1/datasets/{dataset}")
    assert describe[0] == describe[1] and describe[0]["table_version"] >= 1
    versions = both(lakes, f"/api/v1/datasets/{dataset}/versions")
    assert versions[0] == versions[1] and len(json.dumps(versions[0])) > 50
    rows = both(lakes, f"/api/v1/datasets/{dataset}/rows?limit=200")
    assert rows[0] == rows[1] and len(rows[0]["rows"]) > 0
    filtered = both(lakes, f"/api/v1/datasets/{dataset}/rows?limit=50&filter=kommunekode:eq:0101")
    assert filtered[0] == filtered[1]


def _table(fmt, body):
    if fmt in ("parquet",):
        return pq.read_table(io.BytesIO(body))
    if fmt == "arrow":
        return pa.ipc.open_stream(body).read_all()
    raise AssertionError(fmt)


def _rows(table, drop=("_commit_timestamp",)):
    keep = [c for c in table.column_names if c not in drop]
    return sorted((json.dumps(r, sort_keys=True, default=str) for r in table.select(keep).to_pylist()))


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "json", "parquet", "arrow", "xlsx"])
def test_every_export_format_answers_as_on_a_local_folder(lakes, fmt):
    local, azure = lakes
    path = f"/api/v1/datasets/oekonomi.posteringer/export?format={fmt}"
    bodies = [s.fetch(path, s.token()) for s in (local, azure)]
    if fmt in ("parquet", "arrow"):
        tables = [_table(fmt, b) for b in bodies]
        assert tables[0].num_rows > 0
        assert tables[0].schema == tables[1].schema
        assert _rows(tables[0]) == _rows(tables[1])
    elif fmt == "xlsx":
        import openpyxl
        sheets = [list(openpyxl.load_workbook(io.BytesIO(b)).active.values) for b in bodies]
        assert len(sheets[0]) > 1 and sheets[0] == sheets[1]
    else:
        assert len(bodies[0]) > 1000 and bodies[0] == bodies[1]


def test_the_change_feed_answers_as_on_a_local_folder(lakes):
    local, azure = lakes
    for path in ["/api/v1/datasets/oekonomi.posteringer/changes?from_version=0&format=ndjson",
                 "/api/v1/datasets/aeldre.hjemmepleje/changes?from_version=1&format=ndjson"]:
        feeds = []
        for server in (local, azure):
            lines = server.fetch(path, server.token()).decode().splitlines()
            feeds.append(sorted(json.dumps(comparable(json.loads(l), []), sort_keys=True) for l in lines if l))
        assert feeds[0] and feeds[0] == feeds[1]
        assert any('"update_postimage"' in l or '"delete"' in l for l in feeds[0])


def test_graphql_answers_as_on_a_local_folder(lakes):
    query = """
    { oekonomi_posteringer(first: 40, orderBy: [{column: posteringsid}]) {
        tableVersion nodes { kommunekode posteringsid bogfoeringsdato beloeb } } }
    """
    answers = both(lakes, "/graphql", method="POST", body=json.dumps({"query": query}).encode())
    assert "errors" not in answers[0], answers[0]
    assert len(answers[0]["data"]["oekonomi_posteringer"]["nodes"]) == 40
    assert answers[0] == answers[1]


def test_odata_answers_as_on_a_local_folder(lakes):
    path = "/odata/oekonomi_posteringer?$top=20&$orderby=posteringsid&$filter=aar%20eq%202024"
    answers = both(lakes, path)
    assert len(answers[0]["value"]) == 20
    assert answers[0] == answers[1]


def _sharing_query(server):
    token = server.token(roles="laes-oekonomi")
    body = json.dumps({"name": f"pandas {time.time_ns()}", "datasets": ["oekonomi.posteringer"]}).encode()
    profile = server.json("/api/v1/me/sharing-profiles", token, method="POST", body=body)
    bearer = profile["profile"]["bearerToken"] if "profile" in profile else profile["bearerToken"]
    endpoint = (profile.get("profile") or profile)["endpoint"].rstrip("/")
    def get(url, method="GET", data=None):
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {bearer}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()
    tables = json.loads(get(endpoint + "/shares/" + json.loads(get(endpoint + "/shares"))["items"][0]["name"]
                            + "/all-tables"))["items"]
    table = next(t for t in tables if f"{t['schema']}.{t['name']}" == "oekonomi.posteringer"
                 or t["name"] == "posteringer")
    lines = get(f"{endpoint}/shares/{table['share']}/schemas/{table['schema']}/tables/{table['name']}/query",
                "POST", b"{}").decode().splitlines()
    answer = [json.loads(l) for l in lines if l]
    files = [a["file"] for a in answer if "file" in a]
    rows = []
    for f in files:
        # File URLs are dap's own (the lake's storage is never handed out).
        assert f["url"].startswith(server.base), f["url"]
        with urllib.request.urlopen(f["url"], timeout=60) as response:
            rows += _rows(pq.read_table(io.BytesIO(response.read())))
    return answer, sorted(rows)


def test_delta_sharing_answers_as_on_a_local_folder(lakes):
    local, azure = lakes
    (local_answer, local_rows), (azure_answer, azure_rows) = (_sharing_query(local), _sharing_query(azure))
    assert local_rows and local_rows == azure_rows
    metadata = [next(a["metaData"] for a in ans if "metaData" in a) for ans in (local_answer, azure_answer)]
    assert metadata[0]["schemaString"] == metadata[1]["schemaString"]


def _delivery_env(server, municipality):
    created = json.loads(subprocess.run(
        [DAP_BIN, "client", "create", "--data-dir", server.data_dir, "--municipality", municipality,
         "--name", f"Delivery {municipality} {time.time_ns()}", "--datasets", "oekonomi.posteringer",
         "--days", "1"], check=True, capture_output=True, text=True).stdout)
    admin = server.token(municipality, roles="it-administration", subject=f"admin-{municipality}")
    body = json.dumps({"dataset": "oekonomi.posteringer", "client_id": created["client_id"]}).encode()
    server.json("/api/v1/admin/delivery-rights", admin, method="POST", body=body)
    return {**os.environ, "DAP_CLIENT_ID": created["client_id"], "DAP_CLIENT_SECRET": created["client_secret"]}


def test_a_delivery_and_dap_pull_work_as_on_a_local_folder(lakes, tmp_path):
    day = tmp_path / "2024-03-31.csv"
    day.write_text(f"{HEADER}\n1699000001,2024,3,2024-03-31,5.22.07,1.0,100.25,OMK-1\n"
                   f"1690000000,2024,3,2024-03-31,5.22.07,1.0,-3.50,OMK-2\n")
    receipts, mirrors = [], []
    for server in lakes:
        env = _delivery_env(server, "0101")
        done = subprocess.run([DAP_BIN, "deliver", "--server", server.base, "--dataset",
                               "oekonomi.posteringer", "--file", str(day), "--delivery-id", "d1"],
                              env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr + open(server.log).read()[-3000:]
        receipt = json.loads(done.stdout)
        receipts.append({k: v for k, v in receipt.items() if k in ("rows_inserted", "rows_updated", "rows_deleted", "table_version")})
        mirror = tmp_path / f"mirror-{server.port}"
        pulled = subprocess.run([DAP_BIN, "pull", "--server", server.base, "--dataset", "oekonomi.posteringer",
                                 "--into", str(mirror)], env={**os.environ, "DAP_TOKEN": server.token()},
                                check=True, capture_output=True, text=True)
        assert json.loads(pulled.stdout)["to_version"] == receipt["table_version"]
        mirrors.append(_rows(DeltaTable(str(mirror)).to_pyarrow_table()))
    assert receipts[0] == receipts[1] and receipts[0]["rows_inserted"] == 2, receipts
    assert mirrors[0] and mirrors[0] == mirrors[1]
    assert any('"posteringsid": 1699000001' in r for r in mirrors[1])
    # The delivered version's changes, as the change feed gives them.
    feeds = []
    for server, receipt in zip(lakes, receipts):
        lines = server.fetch(f"/api/v1/datasets/oekonomi.posteringer/changes?from_version={receipt['table_version']}"
                             "&format=ndjson", server.token()).decode().splitlines()
        feeds.append(sorted((json.loads(l)["_change_type"], json.loads(l)["posteringsid"]) for l in lines if l))
    assert feeds[0] == feeds[1] == [("insert", 1690000000), ("insert", 1699000001)]


def test_a_lake_url_without_an_account_fails_at_startup_naming_the_setting(tmp_path):
    config = config_file(str(tmp_path), '[lake]\nroot = "az://warehouse/dap/lake"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    started = subprocess.run([DAP_BIN, "demo", "--data-dir", str(tmp_path), "--bind", "127.0.0.1:0",
                              "--config", config], env=env, capture_output=True, text=True, timeout=120)
    assert started.returncode != 0
    assert "lake.root az://warehouse/dap/lake" in started.stderr, started.stderr
    assert "account_name" in started.stderr, started.stderr


def test_dap_maintain_compacts_and_checkpoints_a_table_in_azurite(lakes, azurite):
    local, azure = lakes
    config = os.path.join(azure.data_dir, "maintain.toml")
    with open(config, "w") as f:
        f.write(f'database_url = "sqlite://{azure.data_dir}/dap.sqlite?mode=rwc"\n'
                '[lake]\nroot = "az://warehouse/dap/lake"\n' + azurite.storage_toml())
    done = subprocess.run([DAP_BIN, "maintain", "--config", config, "--dataset", "borger.befolkning"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[0])
    assert report["dataset"] == "borger.befolkning"
    assert report["files_after"] < report["files_before"], report
    checkpoint = f"dap/lake/borger/befolkning/_delta_log/{report['checkpoint']:020d}.checkpoint.parquet"
    assert checkpoint in azurite.blobs("warehouse", "dap/lake/borger/befolkning/_delta_log/")
    # The compacted table still answers as the local one.
    path = "/api/v1/datasets/borger.befolkning/rows?limit=200&order_by=aar,kvartal,alder,koen"
    answers = [s.json(path, s.token())["rows"] for s in (local, azure)]
    assert answers[0] and answers[0] == answers[1]
