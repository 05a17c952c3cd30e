"""Several replicas: three dap processes on one PostgreSQL database (a fresh one per
test module, created and dropped here) and one lake in Azure Blob Storage (Azurite),
sharing the demo issuer's key and the cursor key of one data directory.

What a replica caches and the bound each change reaches the others within
(`lake.refresh_secs` = 2 s here):
- personal tokens and machine clients: not cached, checked in PostgreSQL on every
  request, so a revocation on A refuses the token on B from the next request on;
- municipality settings, delegations, catalogue, key figures, signing keys: reloaded from
  PostgreSQL every `refresh_secs`;
- table versions: each open table is refreshed every `refresh_secs` (only new commits
  are read);
- Delta Sharing file links: nothing to share; a link carries its caller's roles and
  constraints in its municipality, signed, so any replica serves it.
Each check polls for at most 60 s (a guard against a hang, not the bound) and prints the
propagation time it measured. The audit chain stays one chain: every append takes the
chain head's row lock in PostgreSQL, whichever replica appends."""

import http.client
import http.server
import io
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pyarrow.parquet as pq
import pytest

from azurite_server import Azurite
from conftest import DAP_BIN, free_port, run_connector
from test_object_store import HEADER, Server

PG = os.environ.get("DAP_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
REFRESH_SECS = 2
GUARD_SECS = 60


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
                   check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def replicas():
    database = f"dap_replicas_{os.getpid()}_{time.time_ns() % 1_000_000}"
    psql(f"CREATE DATABASE {database}")
    azurite = Azurite()
    servers = []
    try:
        azurite.create_container("replicas")
        data_dir = tempfile.mkdtemp(prefix="dap-replicas-")
        config = os.path.join(data_dir, "dap.toml")
        with open(config, "w") as f:
            f.write(f'database_url = "{PG}/{database}"\n'
                    f'[lake]\nroot = "az://replicas/lake"\nrefresh_secs = {REFRESH_SECS}\n'
                    + azurite.storage_toml())
        # The first generates the demo data in Azurite and the catalogue in PostgreSQL;
        # the others find both there.
        servers.append(Server(data_dir, config))
        servers += [Server(data_dir, config), Server(data_dir, config)]
        yield servers, f"{PG}/{database}"
    finally:
        for server in servers:
            server.stop()
        azurite.stop()
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def status(server, path, token):
    try:
        server.fetch(path, token)
        return 200
    except urllib.error.HTTPError as e:
        return e.code


def until(what, done):
    """Polls `done()`; returns the seconds it took (the guard only stops a hang)."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > GUARD_SECS:
            raise AssertionError(f"{what}: not seen within {GUARD_SECS} s")
        time.sleep(0.1)
    took = time.monotonic() - start
    print(f"\n{what}: seen after {took:.2f} s (bound: {REFRESH_SECS} s refresh interval)")
    return took


def test_a_token_revoked_on_one_replica_is_refused_by_the_others_at_once(replicas):
    (a, b, c), _ = replicas
    owner = a.token("0101")
    body = json.dumps({"name": "Power BI", "datasets": ["oekonomi.posteringer"]}).encode()
    created = a.json("/api/v1/me/tokens", owner, method="POST", body=body)
    pat = created["token"]
    rows = "/api/v1/datasets/oekonomi.posteringer/rows?limit=1"
    assert [status(s, rows, pat) for s in (a, b, c)] == [200, 200, 200]
    a.fetch(f"/api/v1/me/tokens/{created['id']}", owner, method="DELETE")
    # The very next request on every other replica is refused: no polling.
    assert status(b, rows, pat) == 401
    assert status(c, rows, pat) == 401


def test_a_settings_change_on_one_replica_is_applied_by_the_others(replicas):
    (a, b, c), _ = replicas
    admin = a.token("0101", roles="it-administration", subject="admin-0101")
    reader = b.token("0101")
    path = "/api/v1/datasets/borger.befolkning"
    assert status(b, path, reader) == 200 and status(c, path, reader) == 200
    body = json.dumps({"disabled_datasets": ["borger.befolkning"]}).encode()
    a.fetch("/api/v1/admin/settings", admin, method="PUT", body=body)
    assert status(a, path, reader) == 404
    until("settings change (dataset disabled) on B", lambda: status(b, path, reader) == 404)
    until("settings change (dataset disabled) on C", lambda: status(c, path, reader) == 404)
    a.fetch("/api/v1/admin/settings", admin, method="PUT", body=json.dumps({"disabled_datasets": []}).encode())
    until("settings change (dataset enabled again) on B", lambda: status(b, path, reader) == 200)


def test_a_catalogue_change_on_one_replica_is_served_by_the_others(replicas):
    (a, b, c), _ = replicas
    operator = subprocess.run([DAP_BIN, "token", "--data-dir", a.data_dir, "--subject", "demo-operator"],
                              check=True, capture_output=True, text=True).stdout.strip()
    reader = a.token("0101")
    catalogue = a.json("/api/v1/admin/catalogue", operator)["datasets"]
    definition = next(d for d in catalogue if d["id"] == "borger.befolkning")
    title = f"Befolkning (ændret {time.time_ns()})"
    definition["title_da"] = definition["title_en"] = title
    a.fetch("/api/v1/admin/catalogue/borger.befolkning", operator, method="PUT",
            body=json.dumps(definition).encode())
    seen = lambda s: title in json.dumps(s.json("/api/v1/datasets/borger.befolkning", reader)["title"],
                                         ensure_ascii=False)
    assert seen(a)
    until("catalogue change on B", lambda: seen(b))
    until("catalogue change on C", lambda: seen(c))


def test_a_delivery_through_one_replica_is_served_by_the_others(replicas, tmp_path):
    (a, b, c), database_url = replicas
    created = json.loads(subprocess.run(
        [DAP_BIN, "client", "create", "--database-url", database_url, "--municipality", "0147",
         "--name", f"Delivery {time.time_ns()}", "--datasets", "oekonomi.posteringer", "--days", "1"],
        check=True, capture_output=True, text=True).stdout)
    admin = a.token("0147", roles="it-administration", subject="admin-0147")
    a.json("/api/v1/admin/delivery-rights", admin, method="POST",
           body=json.dumps({"dataset": "oekonomi.posteringer", "client_id": created["client_id"]}).encode())
    reader = a.token("0147")
    # Every replica has the table open before the delivery, so each has to notice.
    before = [s.json("/api/v1/datasets/oekonomi.posteringer", reader)["table_version"] for s in (a, b, c)]
    day = tmp_path / "day.csv"
    day.write_text(f"{HEADER}\n1799000001,2024,4,2024-04-30,5.22.07,1.0,42.50,OMK-9\n")
    env = {**os.environ, "DAP_CLIENT_ID": created["client_id"], "DAP_CLIENT_SECRET": created["client_secret"]}
    done = subprocess.run([DAP_BIN, "deliver", "--server", a.base, "--dataset", "oekonomi.posteringer",
                           "--file", str(day)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    version = json.loads(done.stdout)["table_version"]
    assert version > max(before)
    rows = "/api/v1/datasets/oekonomi.posteringer/rows?filter=posteringsid:eq:1799000001"
    for name, server in (("B", b), ("C", c)):
        until(f"delivered version on {name} (/rows)",
              lambda: server.json(rows, reader)["table_version"] == version)
        answer = server.json(rows, reader)
        assert [r["beloeb"] for r in answer["rows"]] == [42.5]
        feed = server.fetch(f"/api/v1/datasets/oekonomi.posteringer/changes?from_version={version}&format=ndjson",
                            reader).decode().splitlines()
        assert [(json.loads(l)["_change_type"], json.loads(l)["posteringsid"]) for l in feed if l] == [
            ("insert", 1799000001)]


def test_concurrent_requests_on_every_replica_keep_one_intact_audit_chain(replicas):
    servers, database_url = replicas
    token = servers[0].token("0101")
    before = subprocess.run([DAP_BIN, "audit", "verify", "--database-url", database_url],
                            capture_output=True, text=True, timeout=120)
    assert before.returncode == 0, before.stderr
    failures = []

    def hammer(server, n):
        for i in range(n):
            path = ("/api/v1/datasets/oekonomi.posteringer/rows?limit=5" if i % 2
                    else "/api/v1/datasets/borger.befolkning/versions")
            try:
                server.fetch(path, token)
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                failures.append(repr(e))

    threads = [threading.Thread(target=hammer, args=(s, 30)) for s in servers for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    verified = subprocess.run([DAP_BIN, "audit", "verify", "--database-url", database_url],
                              capture_output=True, text=True, timeout=300)
    assert verified.returncode == 0, verified.stderr
    assert "audit chain intact" in verified.stderr
    count = subprocess.run(["psql", database_url, "-Atc", "SELECT count(*), count(DISTINCT seq), "
                            "max(seq) - min(seq) + 1 FROM audit_events"],
                           check=True, capture_output=True, text=True).stdout.strip().split("|")
    total, distinct, span = map(int, count)
    # 360 requests appended 360 records at least; no position taken twice, none skipped.
    assert total >= 360 and total == distinct == span, count
    print(f"\naudit chain after 360 concurrent requests on 3 replicas: {total} records, intact")


class RoundRobin:
    """A load balancer without sticky sessions: each request goes to the next replica in
    turn, with its Host header kept (so dap's links point at the balancer). `log` holds
    (method, path, replica index) of every request, in order."""

    HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
           "proxy-authorization", "proxy-authenticate", "content-length"}

    def __init__(self, servers):
        self.servers = servers
        self.log = []
        self.turn = 0
        self.lock = threading.Lock()
        balancer = self

        class Forward(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def forward(self):
                with balancer.lock:
                    index = balancer.turn % len(balancer.servers)
                    balancer.turn += 1
                    balancer.log.append((self.command, self.path, index))
                backend = balancer.servers[index]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in RoundRobin.HOP}
                connection = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=120)
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in RoundRobin.HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", response.getheader("Content-Length", str(len(data)))
                                 if self.command == "HEAD" else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                connection.close()

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = forward

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Forward)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_delta_sharing_works_through_a_load_balancer_without_sticky_sessions(replicas, tmp_path):
    servers, _ = replicas
    owner = servers[0].token("0101")
    expected = sorted(json.loads(line)["posteringsid"] for line in servers[1].fetch(
        "/api/v1/datasets/oekonomi.posteringer/export?format=ndjson", owner).decode().splitlines() if line)
    assert expected
    balancer = RoundRobin(servers)
    try:
        request = urllib.request.Request(
            balancer.base + "/api/v1/me/sharing-profiles", method="POST",
            data=json.dumps({"name": f"Power BI {time.time_ns()}", "datasets": ["oekonomi.posteringer"]}).encode(),
            headers={"Authorization": f"Bearer {owner}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            profile = json.load(response)
        assert profile["endpoint"].startswith(balancer.base), profile["endpoint"]
        path = tmp_path / "dap.share"
        path.write_text(json.dumps(profile))

        # The links of one query, fetched alone (as clients do) from every replica.
        query = urllib.request.Request(
            profile["endpoint"] + "/shares/dap/schemas/oekonomi/tables/posteringer/query", method="POST",
            data=b"{}", headers={"Authorization": f"Bearer {profile['bearerToken']}",
                                 "Content-Type": "application/json"})
        with urllib.request.urlopen(query, timeout=60) as response:
            lines = [json.loads(line) for line in response.read().decode().splitlines()]
        links = [line["file"] for line in lines if "file" in line]
        assert links
        shared = []
        for link in links:
            suffix = link["url"][len(balancer.base):]
            bodies = {urllib.request.urlopen(server.base + suffix, timeout=60).read() for server in servers}
            assert len(bodies) == 1, "every replica serves the same bytes"
            body = bodies.pop()
            assert len(body) == link["size"]
            table = pq.read_table(io.BytesIO(body))
            assert set(table.column("kommunekode").to_pylist()) == {"0101"}
            shared += table.column("posteringsid").to_pylist()
        assert sorted(shared) == expected

        # The official connector, every request to the next replica in turn.
        balancer.log.clear()
        read = run_connector(
            "import json, delta_sharing\n"
            "df = delta_sharing.load_as_pandas(sys.argv[1] + '#dap.oekonomi.posteringer')\n"
            "print(json.dumps({'ids': sorted(int(i) for i in df['posteringsid']),"
            " 'municipalities': sorted(set(df['kommunekode']))}))",
            str(path))
        got = json.loads(read.stdout.strip().splitlines()[-1])
        assert got == {"ids": expected, "municipalities": ["0101"]}
        queried = {i for method, p, i in balancer.log if p.endswith("/query")}
        fetched = {i for method, p, i in balancer.log if "/files/" in p}
        assert fetched - queried, f"some file was read from a replica that did not answer the query: {balancer.log}"
        print(f"\nDelta Sharing through a round-robin balancer: query on replicas {sorted(queried)}, "
              f"file reads on {sorted(fetched)}, {len(got['ids'])} rows")
    finally:
        balancer.close()
