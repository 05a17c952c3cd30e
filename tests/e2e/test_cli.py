"""The `dap` command as the README shows it, against a running `dap demo`: demo tokens
(operator, municipality names, unknown roles), machine clients with names (create, list,
rotate, delete, each audited) and `dap pull` with client credentials."""

import json
import os
import subprocess
import urllib.request

from conftest import DAP_BIN


def run(*args, env=None, check=True):
    return subprocess.run([DAP_BIN, *args], env={**os.environ, **(env or {})},
                          check=check, capture_output=True, text=True)


def get(dap, path, token):
    request = urllib.request.Request(dap.base + path)
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_demo_tokens_as_the_readme_shows_them(dap):
    operator = run("token", "--data-dir", dap.data_dir, "--subject", "demo-operator").stdout.strip()
    status, body = get(dap, "/api/v1/admin/catalogue", operator)
    assert status == 200, body

    by_name = run("token", "--data-dir", dap.data_dir, "--municipality", "København").stdout.strip()
    status, body = get(dap, "/api/v1/datasets/oekonomi.posteringer/rows?limit=2", by_name)
    assert status == 200, body
    assert {r["kommunekode"] for r in body["rows"]} == {"0101"}

    refused = run("token", "--data-dir", dap.data_dir, "--municipality", "0101",
                  "--roles", "laes-okonomi", check=False)
    assert refused.returncode != 0
    assert "'laes-okonomi'" in refused.stderr and "laes-oekonomi" in refused.stderr

    missing = run("token", "--data-dir", dap.data_dir, check=False)
    assert missing.returncode != 0 and "--municipality" in missing.stderr


def test_machine_clients_from_the_cli_and_a_pull_with_client_credentials(dap, tmp_path):
    created = json.loads(run(
        "client", "create", "--data-dir", dap.data_dir, "--municipality", "København",
        "--name", "Nightly DWH load", "--description", "ETL server dwh01",
        "--datasets", "oekonomi.posteringer", "--days", "30").stdout)
    client_id, secret = created["client_id"], created["client_secret"]
    assert created["name"] == "Nightly DWH load" and created["municipality"] == "0101"

    listed = json.loads(run("client", "list", "--data-dir", dap.data_dir, "--municipality", "0101").stdout)
    mine = [c for c in listed["clients"] if c["client_id"] == client_id]
    assert mine and mine[0]["name"] == "Nightly DWH load" and mine[0]["description"] == "ETL server dwh01"
    assert all("client_secret" not in c for c in listed["clients"])

    duplicate = run("client", "create", "--data-dir", dap.data_dir, "--municipality", "0101",
                    "--name", "Nightly DWH load", "--datasets", "oekonomi.posteringer", check=False)
    assert duplicate.returncode != 0 and "already has a client named" in duplicate.stderr

    # dap pull with the client's credentials: the secret from the environment.
    mirror = tmp_path / "mirror"
    pull = [DAP_BIN, "pull", "--server", dap.base, "--client-id", client_id,
            "--dataset", "oekonomi.posteringer", "--into", str(mirror)]
    done = subprocess.run(pull, env={**os.environ, "DAP_CLIENT_SECRET": secret, "DAP_TOKEN": ""},
                          check=True, capture_output=True, text=True)
    report = json.loads(done.stdout)
    assert report["kind"] == "full" and report["rows"] > 0
    assert report["estimated_rows"] == report["rows"]

    # rotate: the new secret works from a file, the old one is refused.
    rotated = json.loads(run("client", "rotate", "--data-dir", dap.data_dir, "--client-id", client_id).stdout)
    secret_file = tmp_path / "secret"
    secret_file.write_text(rotated["client_secret"] + "\n")
    again = subprocess.run(pull + ["--client-secret-file", str(secret_file)], check=True,
                           capture_output=True, text=True)
    assert json.loads(again.stdout)["kind"] == "up_to_date"
    old = subprocess.run(pull, env={**os.environ, "DAP_CLIENT_SECRET": secret}, capture_output=True, text=True)
    assert old.returncode != 0 and "401" in old.stderr
    assert secret not in old.stderr, "a secret is never printed"

    assert json.loads(run("client", "delete", "--data-dir", dap.data_dir, "--client-id", client_id).stdout) \
        == {"deleted": client_id}
    listed = json.loads(run("client", "list", "--data-dir", dap.data_dir).stdout)
    assert all(c["client_id"] != client_id for c in listed["clients"])

    # Every command is in the audit log, like the admin API's operations.
    admin = dap.token("0101", roles="it-administration")
    request = urllib.request.Request(dap.base + "/api/v1/admin/audit?format=ndjson")
    request.add_header("Authorization", f"Bearer {admin}")
    with urllib.request.urlopen(request, timeout=30) as response:
        records = [json.loads(line) for line in response.read().decode().splitlines() if line]
    actions = {r["action"] for r in records if r.get("caller_kind") == "cli"}
    for action in ["client create", "client list", "client rotate", "client delete"]:
        assert f"cli {action}" in actions, (action, sorted(actions))
