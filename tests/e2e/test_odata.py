"""The OData v4 feed against a running `dap demo`, read by two independent real OData v4
clients — `python-odata` from PyPI (reflects `$metadata`, follows `@odata.nextLink`,
Bearer) and `@odata/client` from npm (its own filter builder, `$top`/`$skip` paging,
Basic with a personal access token; tests/e2e/odata-client, installed as locked) — and
the way Power Query reads it (plain HTTP with Basic auth, following next links): equal to
a direct delta-rs read of the caller's rows."""

import json
import os
import shutil
import subprocess
import urllib.request
import xml.etree.ElementTree as ET
from decimal import Decimal

import requests
from deltalake import DeltaTable
from odata import ODataService

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
HERE = os.path.dirname(os.path.abspath(__file__))
NPM_CLIENT = os.path.join(HERE, "odata-client")


def oracle(dap, municipality):
    table = DeltaTable(os.path.join(dap.data_dir, "lake", "oekonomi", "posteringer"))
    frame = table.to_pandas(filters=[("kommunekode", "=", municipality)])
    return frame.sort_values("posteringsid").reset_index(drop=True)


def service(dap, token, page_size=7):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    # A small page so that the client must follow next links.
    session.headers["Prefer"] = f"odata.maxpagesize={page_size}"
    return ODataService(dap.base + "/odata/", session=session, reflect_entities=True)


def test_a_real_odata_client_pages_filters_and_selects_like_delta_rs(dap):
    odata = service(dap, dap.token("0751"))
    postings = odata.entities["oekonomi_posteringer"]

    everything = list(odata.query(postings).order_by(postings.posteringsid.asc()))
    filtered = list(
        odata.query(postings)
        .filter(postings.aar == 2024)
        .filter(postings.funktion.startswith("5."))
        .order_by(postings.posteringsid.asc())
    )

    expected = oracle(dap, "0751")
    assert len(everything) == len(expected) > 7
    assert {row.kommunekode for row in everything} == {"0751"}
    assert [row.posteringsid for row in everything] == [int(v) for v in expected["posteringsid"]]
    assert [Decimal(str(row.beloeb)) for row in everything] == [Decimal(str(v)) for v in expected["beloeb"]]
    assert [row.bogfoeringsdato for row in everything] == [str(v)[:10] for v in expected["bogfoeringsdato"]]
    chosen = expected[(expected["aar"] == 2024) & expected["funktion"].str.startswith("5.")]
    assert 0 < len(filtered) < len(expected)
    assert [row.posteringsid for row in filtered] == [int(v) for v in chosen["posteringsid"]]


def test_metadata_names_only_what_the_caller_may_see(dap):
    plain = dap.token("0101", roles="laes-aeldre")
    sensitive = dap.token("0101", roles="laes-aeldre,laes-foelsomme")

    def properties(token):
        request = urllib.request.Request(dap.base + "/odata/$metadata")
        request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            root = ET.fromstring(response.read())
        # Key figures (noegletal_…) are the same for every caller: datasets only here.
        return {
            entity.get("Name"): [p.get("Name") for p in entity.iter(EDM + "Property")]
            for entity in root.iter(EDM + "EntityType")
            if not entity.get("Name").startswith("noegletal_")
        }

    seen, seen_sensitive = properties(plain), properties(sensitive)

    assert list(seen) == ["aeldre_hjemmepleje"]
    assert "cpr" not in seen["aeldre_hjemmepleje"]
    assert [p for p in seen_sensitive["aeldre_hjemmepleje"] if p != "cpr"] == seen["aeldre_hjemmepleje"]
    assert "cpr" in seen_sensitive["aeldre_hjemmepleje"]


def test_basic_with_a_personal_access_token_like_excel_and_power_query(dap):
    created = requests.post(
        dap.base + "/api/v1/me/tokens",
        headers={"Authorization": f"Bearer {dap.token('0101')}"},
        json={"name": "Excel", "datasets": ["oekonomi.posteringer"]},
        timeout=10,
    ).json()
    auth = ("ignored-user", created["token"])

    prompt = requests.get(dap.base + "/odata/", timeout=10)
    url = dap.base + "/odata/oekonomi_posteringer?$select=posteringsid,beloeb&$orderby=posteringsid"
    rows, pages = [], 0
    while url:
        answer = requests.get(url, auth=auth, headers={"Prefer": "odata.maxpagesize=10"}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.headers["OData-Version"] == "4.0"
        body = answer.json(parse_float=Decimal)
        rows.extend(body["value"])
        url, pages = body.get("@odata.nextLink"), pages + 1

    expected = oracle(dap, "0101")
    assert prompt.status_code == 401
    assert prompt.headers["WWW-Authenticate"].startswith('Basic realm="dap"')
    assert pages > 1
    assert [r["posteringsid"] for r in rows] == [int(v) for v in expected["posteringsid"]]
    assert [Decimal(r["beloeb"]) for r in rows] == [Decimal(str(v)) for v in expected["beloeb"]]
    refused = requests.get(dap.base + "/odata/oekonomi_posteringer?$expand=x", auth=auth, timeout=10)
    assert refused.status_code == 501
    assert refused.json()["error"]["code"] == "not_implemented"
    assert json.dumps(refused.json()).count("supported") >= 1


def personal_access_token(dap, municipality):
    created = requests.post(
        dap.base + "/api/v1/me/tokens",
        headers={"Authorization": f"Bearer {dap.token(municipality)}"},
        json={"name": "JavaScript", "datasets": ["oekonomi.posteringer"]},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return created.json()["token"]


def read_with_the_npm_client(dap, pat, page_size):
    # Node.js is part of the suite (scripts/test.sh installs it): missing is a failure.
    assert shutil.which("node"), "Node.js is required for the @odata/client test"
    if not os.path.isdir(os.path.join(NPM_CLIENT, "node_modules", "@odata", "client")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NPM_CLIENT, check=True)
    done = subprocess.run(
        ["node", "read.mjs", dap.base + "/odata/", str(page_size)],
        cwd=NPM_CLIENT, env={**os.environ, "DAP_PAT": pat},
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_second_real_odata_client_from_npm_pages_filters_and_selects_like_delta_rs(dap):
    page_size = 9
    result = read_with_the_npm_client(dap, personal_access_token(dap, "0101"), page_size)

    expected = oracle(dap, "0101")
    dates = expected["bogfoeringsdato"].map(lambda v: str(v)[:10])
    months = dates.str.slice(5, 7).astype(int)
    chosen = {
        "everything": expected,
        "builder": expected[
            (expected["aar"] >= 2024)
            & ((expected["art"] != "1.0") | expected["art"].isna())
            & (dates >= "2024-03-01")
        ],
        "functions": expected[
            (expected["funktion"].str.contains("22", regex=False)
             | expected["funktion"].str.endswith("07"))
            & (months <= 9)
        ],
    }
    for name, frame in chosen.items():
        got = result[name]
        rows = got["rows"]
        assert [set(r) for r in rows] == [
            {"posteringsid", "kommunekode", "bogfoeringsdato", "funktion", "beloeb"}
        ] * len(rows), name
        assert [int(r["posteringsid"]) for r in rows] == [int(v) for v in frame["posteringsid"]], name
        assert {r["kommunekode"] for r in rows} <= {"0101"}, name
        assert [r["bogfoeringsdato"] for r in rows] == [str(v)[:10] for v in frame["bogfoeringsdato"]], name
        assert [r["funktion"] for r in rows] == list(frame["funktion"]), name
        # IEEE754Compatible=true: decimals arrive as exact strings.
        assert [Decimal(r["beloeb"]) for r in rows] == [Decimal(str(v)) for v in frame["beloeb"]], name
        assert int(got["count"]) == len(frame), name
        assert got["pages"] == len(frame) // page_size + 1, name
    assert len(chosen["everything"]) > page_size
    for name in ("builder", "functions"):
        assert 0 < len(chosen[name]) < len(expected), f"{name} tests nothing"
