"""What an operator sees of a real `dap demo` process configured as in production:
`log_format = "json"` (every line a JSON object, every line of a request carrying its
request id, never a token), `X-Request-Id` (a load balancer's sane id kept, others
replaced), the request id in 5xx bodies and in the audit record, and `/metrics` on its
own listen address, parsed by the Prometheus project's own Python parser."""

import json
import os
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus_text

from conftest import ALL_READ_ROLES, DAP_BIN, free_port, wait_ready


@pytest.fixture(scope="module")
def observed():
    data_dir = tempfile.mkdtemp(prefix="dap-e2e-observe-")
    port, metrics_port = free_port(), free_port()
    config = os.path.join(data_dir, "dap.toml")
    with open(config, "w") as f:
        f.write(f'log_format = "json"\nmetrics_listen = "127.0.0.1:{metrics_port}"\n')
    log_path = os.path.join(data_dir, "dap.log")
    log = open(log_path, "w")
    process = subprocess.Popen(
        [DAP_BIN, "demo", "--data-dir", data_dir, "--bind", f"127.0.0.1:{port}",
         "--rows-per-municipality", "60", "--config", config],
        stdout=subprocess.DEVNULL, stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    wait_ready(process, base, log_path, 180)
    token = subprocess.run(
        [DAP_BIN, "token", "--data-dir", data_dir, "--municipality", "0101", "--roles", ALL_READ_ROLES],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    yield {"base": base, "metrics": f"http://127.0.0.1:{metrics_port}", "token": token,
           "data_dir": data_dir, "log": log_path, "process": process}
    process.terminate()
    process.wait(timeout=30)


def call(url: str, token: str | None = None, request_id: str | None = None, data: bytes | None = None):
    request = urllib.request.Request(url, data=data)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if request_id:
        request.add_header("X-Request-Id", request_id)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, lower(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, lower(error.headers), error.read()


def lower(headers) -> dict:
    return {k.lower(): v for k, v in headers.items()}


def log_lines(path: str) -> list[dict]:
    lines = []
    with open(path) as f:
        for line in f:
            if line.startswith("{"):
                lines.append(json.loads(line))
    return lines


def test_json_logs_carry_the_request_id_and_never_the_token(observed):
    base, token = observed["base"], observed["token"]
    status, headers, _ = call(f"{base}/api/v1/datasets/borger.befolkning/rows?limit=3",
                              token, request_id="lb-e2e-0001")
    assert status == 200
    assert headers["x-request-id"] == "lb-e2e-0001"
    status, headers, _ = call(f"{base}/api/v1/datasets", token, request_id="not sane\u00e6")
    assert status == 200
    replaced = headers["x-request-id"]
    assert replaced != "not sane\u00e6" and len(replaced) == 36

    time.sleep(0.5)
    with open(observed["log"]) as f:
        text = f.read()
    assert token not in text, "a token in the log"
    assert token.split(".")[2] not in text, "a token's signature in the log"
    lines = log_lines(observed["log"])
    assert lines, text[-2000:]
    for line in lines:
        assert {"timestamp", "level", "target"} <= line.keys(), line
    mine = [line for line in lines if line.get("request_id") == "lb-e2e-0001"]
    answered = [line for line in mine if line.get("message") == "request answered"]
    assert len(answered) == 1, mine
    assert answered[0]["route"] == "/api/v1/datasets/{id}/rows"
    assert answered[0]["status"] == 200
    assert any(line.get("request_id") == replaced for line in lines)

    db = sqlite3.connect(f"file:{os.path.join(observed['data_dir'], 'dap.sqlite')}?mode=ro", uri=True, timeout=30)
    try:
        actions = [row[0] for row in db.execute(
            "SELECT action FROM audit_events WHERE request_id = ?", ("lb-e2e-0001",))]
    finally:
        db.close()
    assert actions == ["GET /api/v1/datasets/{id}/rows"]


def test_a_5xx_body_names_the_request_id(observed):
    base, token = observed["base"], observed["token"]
    db = sqlite3.connect(os.path.join(observed["data_dir"], "dap.sqlite"), timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE audit_head SET seq = seq WHERE id = 1")
        status, headers, body = call(f"{base}/api/v1/datasets", token, request_id="lb-e2e-0503")
        db.execute("ROLLBACK")
    finally:
        db.close()
    assert status == 503, body
    answer = json.loads(body)
    assert answer["code"] == "audit_unavailable"
    assert answer["request_id"] == headers["x-request-id"] == "lb-e2e-0503"
    assert "retry-after" in headers


def test_metrics_parse_as_openmetrics_and_count_the_surfaces(observed):
    base, token = observed["base"], observed["token"]
    assert call(f"{base}/graphql", token, data=b'{"query": "{ me { subject } }"}')[0] == 200
    assert call(f"{base}/odata/", token)[0] == 200
    assert call(f"{base}/metrics")[0] == 404, "not on the public address"
    status, headers, body = call(f"{observed['metrics']}/metrics")
    assert status == 200
    assert headers["content-type"].startswith("application/openmetrics-text")
    text = body.decode()
    with open(os.path.join(observed["data_dir"], "metrics.txt"), "w") as f:
        f.write(text)
    families = {f.name: f for f in openmetrics(text)}
    assert families["dap_http_requests"].type == "counter"
    assert families["dap_http_request_duration_seconds"].type == "histogram"
    assert families["dap_table_refresh_lag_seconds"].type == "gauge"
    requests = {(s.labels["surface"], s.labels["route"], s.labels["status"]): s.value
                for s in families["dap_http_requests"].samples if s.name.endswith("_total")}
    assert requests[("graphql", "/graphql", "200")] >= 1
    assert requests[("odata", "/odata/", "200")] >= 1
    assert requests[("rest", "/api/v1/datasets/{id}/rows", "200")] >= 1
    assert requests[("health", "/health/ready", "200")] >= 1
    # The classic Prometheus text parser reads it as well.
    names = {f.name for f in prometheus_text(text.replace("# EOF\n", ""))}
    assert "dap_audit_append_failures" in names or "dap_audit_append_failures_total" in names
