"""The OData v4 feed against a running `dap demo`, read by a real OData v4 client from
PyPI (`python-odata`, which reflects `$metadata` and follows `@odata.nextLink`) and the
way Power Query reads it (plain HTTP with Basic auth, a personal access token as the
password, following next links): equal to a direct delta-rs read of the caller's rows."""

import json
import os
import urllib.request
import xml.etree.ElementTree as ET
from decimal import Decimal

import requests
from deltalake import DeltaTable
from odata import ODataService

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


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
        return {
            entity.get("Name"): [p.get("Name") for p in entity.iter(EDM + "Property")]
            for entity in root.iter(EDM + "EntityType")
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
