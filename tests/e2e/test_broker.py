"""dap behind a real OIDC provider: the npm package oidc-provider, configured as a
municipal broker that issues KOMBIT-style BPP privilege lists (tests/e2e/broker).

dap is configured with nothing but the broker's issuer URL (discovery finds the rest).
Tokens come from the broker over HTTP: the client-credentials grant for an integrator,
and the authorization-code flow (dap's /auth/login, the broker's login form, dap's
callback) for people.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import pytest
import requests
from deltalake import DeltaTable

from conftest import DAP_BIN, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
BROKER_DIR = os.path.join(HERE, "broker")
RESOURCE = "urn:dap:api"


def wait_for(url: str, process: subprocess.Popen, log: str, what: str):
    deadline = time.time() + 120
    while True:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        if process.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"{what} did not start: " + open(log).read()[-3000:])
        time.sleep(0.3)


@pytest.fixture(scope="module")
def stack():
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: the OIDC-provider end-to-end tests need it")
    if not os.path.isdir(os.path.join(BROKER_DIR, "node_modules", "oidc-provider")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROKER_DIR, check=True)
    work = tempfile.mkdtemp(prefix="dap-broker-e2e-")
    dap_port, broker_port = free_port(), free_port()
    dap_base = f"http://127.0.0.1:{dap_port}"
    broker_base = f"http://127.0.0.1:{broker_port}"

    broker_log = os.path.join(work, "broker.log")
    broker = subprocess.Popen(
        ["node", "broker.mjs"], cwd=BROKER_DIR,
        env={**os.environ, "PORT": str(broker_port), "DAP_CALLBACK": f"{dap_base}/auth/callback"},
        stdout=open(broker_log, "w"), stderr=subprocess.STDOUT,
    )
    wait_for(broker_base + "/.well-known/openid-configuration", broker, broker_log, "the broker")

    config = os.path.join(work, "dap.toml")
    with open(config, "w") as f:
        f.write(f'''public_url = "{dap_base}/"

[[issuers]]
issuer = "{broker_base}"
audience = "{RESOURCE}"
algorithms = ["RS256"]
typ = ["at+jwt"]
profile = "kombit"
leeway_secs = 0

[login]
issuer = "{broker_base}"
client_id = "dap-web"
client_secret = "dap-web-secret"
resource = "{RESOURCE}"
''')
    data_dir = os.path.join(work, "data")
    dap_log = os.path.join(work, "dap.log")
    dap = subprocess.Popen(
        [DAP_BIN, "demo", "--data-dir", data_dir, "--bind", f"127.0.0.1:{dap_port}",
         "--rows-per-municipality", "60", "--config", config],
        stdout=open(dap_log, "w"), stderr=subprocess.STDOUT,
    )
    wait_for(dap_base + "/health/ready", dap, dap_log, "dap")
    yield {"dap": dap_base, "broker": broker_base, "lake": os.path.join(data_dir, "lake")}
    for p in (dap, broker):
        p.terminate()
        p.wait(timeout=30)


def machine_token(stack, client="nightly-job") -> str:
    r = requests.post(stack["broker"] + "/token", auth=(client, f"{client}-secret"),
                      data={"grant_type": "client_credentials", "resource": RESOURCE}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def browser_login(stack, user: str) -> requests.Session:
    """Drives the authorization-code flow over HTTP as a browser would."""
    browser = requests.Session()
    r = browser.get(stack["dap"] + "/auth/login", params={"return_to": "/api/v1/me"},
                    allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    authorize = urllib.parse.urlparse(r.headers["Location"])
    query = urllib.parse.parse_qs(authorize.query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["response_type"] == ["code"] and query["nonce"][0] and query["state"][0]
    # The broker's login page (its development login form).
    r = browser.get(r.headers["Location"], timeout=10)
    assert r.status_code == 200 and "<form" in r.text, r.text[:500]
    action = re.search(r'<form[^>]*action="([^"]+)"', r.text).group(1)
    r = browser.post(urllib.parse.urljoin(r.url, action),
                     data={"prompt": "login", "login": user, "password": "test"},
                     allow_redirects=False, timeout=10)
    # Follow the broker's redirects until it sends the browser back to dap's callback.
    while r.status_code in (302, 303) and not r.headers["Location"].startswith(stack["dap"]):
        r = browser.get(urllib.parse.urljoin(r.url, r.headers["Location"]),
                        allow_redirects=False, timeout=10)
    assert r.status_code in (302, 303), r.text[:500]
    callback = r.headers["Location"]
    assert callback.startswith(stack["dap"] + "/auth/callback?"), callback
    r = browser.get(callback, allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == "/api/v1/me"
    cookie = next(c for c in browser.cookies if c.name == "dap_session")
    assert cookie.has_nonstandard_attr("HttpOnly") or "httponly" in r.headers["Set-Cookie"].lower()
    return browser


def lake_rows(stack, dataset: str, municipality: str):
    table = DeltaTable(os.path.join(stack["lake"], *dataset.split(".")))
    frame = table.to_pandas()
    return frame[frame["kommunekode"] == municipality]


def all_rows(session, base, dataset, params=None, headers=None):
    r = session.get(f"{base}/api/v1/datasets/{dataset}/export",
                    params={"format": "ndjson", **(params or {})}, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    import json
    return [json.loads(line) for line in r.text.splitlines() if line]


def test_client_credentials_token_of_frederikssund_sees_only_0250(stack):
    token = machine_token(stack)
    rows = all_rows(requests, stack["dap"], "oekonomi.posteringer",
                    headers={"Authorization": f"Bearer {token}"})
    expected = lake_rows(stack, "oekonomi.posteringer", "0250")
    assert {r["kommunekode"] for r in rows} == {"0250"}
    assert sorted(r["posteringsid"] for r in rows) == sorted(expected["posteringsid"].tolist())
    # The integrator's privileges do not include the elderly-care dataset.
    r = requests.get(stack["dap"] + "/api/v1/datasets/aeldre.hjemmepleje/rows",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 404 and r.json()["code"] == "dataset_not_found"


def test_an_expired_machine_token_is_refused_at_once(stack):
    token = machine_token(stack, "short-job")
    headers = {"Authorization": f"Bearer {token}"}
    r = requests.get(stack["dap"] + "/api/v1/datasets/oekonomi.posteringer/rows",
                     params={"limit": 1}, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    time.sleep(3.5)
    r = requests.get(stack["dap"] + "/api/v1/datasets/oekonomi.posteringer/rows",
                     params={"limit": 1}, headers=headers, timeout=10)
    assert r.status_code == 401
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="dap", error="invalid_token", error_description="')
    assert "has expired" in challenge and "has expired" in r.json()["message"]
    assert "rows" not in r.json()


def test_browser_login_then_session_personal_token_and_logout(stack):
    browser = browser_login(stack, "anna-frederikssund")
    me = browser.get(stack["dap"] + "/api/v1/me", timeout=10).json()
    assert me["subject"] == "anna-frederikssund"
    assert me["issuer"] == stack["broker"]
    assert list(me["grants"]) == ["0250"] and me["assurance_level"] == "Substantial"
    rows = browser.get(stack["dap"] + "/api/v1/datasets/aeldre.hjemmepleje/rows",
                       params={"limit": 100}, timeout=10).json()["rows"]
    assert rows and {r["kommunekode"] for r in rows} == {"0250"}

    # A personal access token for Power BI, made in the browser session.
    r = browser.post(stack["dap"] + "/api/v1/me/tokens",
                     json={"name": "Power BI", "datasets": ["oekonomi.posteringer"]}, timeout=10)
    assert r.status_code == 201, r.text
    created = r.json()
    pat = {"Authorization": f"Bearer {created['token']}"}
    rows = all_rows(requests, stack["dap"], "oekonomi.posteringer", headers=pat)
    assert {r["kommunekode"] for r in rows} == {"0250"}
    assert len(rows) == len(lake_rows(stack, "oekonomi.posteringer", "0250"))
    r = browser.delete(f"{stack['dap']}/api/v1/me/tokens/{created['id']}", timeout=10)
    assert r.status_code == 204, r.text
    r = requests.get(stack["dap"] + "/api/v1/datasets", headers=pat, timeout=10)
    assert r.status_code == 401, "a revoked token is refused at once"
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="dap", error="invalid_token"')
    assert "has been revoked" in r.headers["WWW-Authenticate"]

    r = browser.post(stack["dap"] + "/auth/logout", timeout=10)
    assert r.status_code == 204
    assert not any(c.name == "dap_session" for c in browser.cookies)
    assert browser.get(stack["dap"] + "/api/v1/me", timeout=10).status_code == 401


def test_a_replayed_session_cookie_is_dead_after_logout(stack):
    browser = browser_login(stack, "anna-frederikssund")
    value = next(c.value for c in browser.cookies if c.name == "dap_session")
    assert browser.post(stack["dap"] + "/auth/logout", timeout=10).status_code == 204
    r = requests.get(stack["dap"] + "/api/v1/me", cookies={"dap_session": value}, timeout=10)
    assert r.status_code == 401


def test_two_municipalities_each_only_when_named(stack):
    browser = browser_login(stack, "it-faellesskab")
    me = browser.get(stack["dap"] + "/api/v1/me", timeout=10).json()
    assert sorted(me["grants"]) == ["0101", "0250"]
    r = browser.get(stack["dap"] + "/api/v1/datasets/oekonomi.posteringer/rows", timeout=10)
    assert r.status_code == 400 and r.json()["code"] == "municipality_required"
    for code in ("0101", "0250"):
        rows = all_rows(browser, stack["dap"], "oekonomi.posteringer", {"municipality": code})
        assert {r["kommunekode"] for r in rows} == {code}
        assert len(rows) == len(lake_rows(stack, "oekonomi.posteringer", code))
    r = browser.get(stack["dap"] + "/api/v1/datasets/oekonomi.posteringer/rows",
                    params={"municipality": "0751"}, timeout=10)
    assert r.status_code == 403 and r.json()["code"] == "municipality_not_granted"


def test_low_assurance_is_refused_personal_data(stack):
    browser = browser_login(stack, "lav-sikring")
    r = browser.get(stack["dap"] + "/api/v1/datasets/aeldre.hjemmepleje/rows", timeout=10)
    assert r.status_code == 403 and r.json()["code"] == "insufficient_assurance"
    r = browser.get(stack["dap"] + "/api/v1/datasets/oekonomi.posteringer/rows", timeout=10)
    assert r.status_code == 200


def test_org_unit_constraint_becomes_a_row_filter(stack):
    browser = browser_login(stack, "leder-enhed")
    rows = all_rows(browser, stack["dap"], "personale.fravaer")
    expected = lake_rows(stack, "personale.fravaer", "0250")
    expected = expected[expected["organisationsenhed"].isin(["0250-org-01", "0250-org-03"])]
    assert rows and len(rows) == len(expected)
    assert {r["organisationsenhed"] for r in rows} == set(expected["organisationsenhed"])
    assert {r["organisationsenhed"] for r in rows} <= {"0250-org-01", "0250-org-03"}
    everything = lake_rows(stack, "personale.fravaer", "0250")
    assert len(rows) < len(everything), "the constraint hides the other units' rows"


def test_a_forged_state_is_refused(stack):
    browser = requests.Session()
    browser.get(stack["dap"] + "/auth/login", allow_redirects=False, timeout=10)
    r = browser.get(stack["dap"] + "/auth/callback", params={"code": "x", "state": "forged"},
                    allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "state" in r.json()["message"]
