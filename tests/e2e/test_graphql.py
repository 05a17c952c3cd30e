"""A real GraphQL client (`gql` from PyPI) against a running `dap demo`: pages and
aggregates equal a direct delta-rs read of the caller's municipality, and refusals
carry stable codes."""

import os
from decimal import Decimal

import pytest
from deltalake import DeltaTable
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError, TransportServerError
from gql.transport.requests import RequestsHTTPTransport

PAGE = gql(
    """
    query Page($after: String) {
      oekonomi_posteringer(first: 25, after: $after, orderBy: [{column: posteringsid}]) {
        tableVersion
        nodes { kommunekode posteringsid bogfoeringsdato beloeb }
        pageInfo { hasNextPage endCursor }
      }
    }
    """
)


def client(dap, token, fetch_schema=True):
    transport = RequestsHTTPTransport(
        url=dap.base + "/graphql",
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=30,
        retries=0,
    )
    return Client(transport=transport, fetch_schema_from_transport=fetch_schema)


def oracle(dap, municipality):
    table = DeltaTable(os.path.join(dap.data_dir, "lake", "oekonomi", "posteringer"))
    frame = table.to_pandas(filters=[("kommunekode", "=", municipality)])
    return frame.sort_values("posteringsid").reset_index(drop=True)


def test_pages_equal_the_delta_rs_read_of_the_callers_municipality(dap):
    # The client fetches the schema by introspection and validates the query locally.
    with client(dap, dap.token("0751")) as session:
        rows, after = [], None
        while True:
            PAGE.variable_values = {"after": after}
            page = session.execute(PAGE)["oekonomi_posteringer"]
            rows.extend(page["nodes"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    expected = oracle(dap, "0751")
    assert len(rows) == len(expected) > 25
    assert {r["kommunekode"] for r in rows} == {"0751"}
    assert [r["posteringsid"] for r in rows] == [int(v) for v in expected["posteringsid"]]
    assert [Decimal(r["beloeb"]) for r in rows] == [Decimal(str(v)) for v in expected["beloeb"]]
    assert [r["bogfoeringsdato"] for r in rows] == [str(v)[:10] for v in expected["bogfoeringsdato"]]
    rest = dap.get_json(
        "/api/v1/datasets/oekonomi.posteringer/rows?limit=25&order_by=posteringsid",
        dap.token("0751"),
    )
    assert [r["posteringsid"] for r in rest["rows"]] == [r["posteringsid"] for r in rows[:25]]


def test_aggregates_equal_pandas_over_the_delta_table(dap):
    query = gql(
        """
        { oekonomi_posteringer_aggregate(groupBy: [aar]) {
            groups { key { aar } count sum { beloeb } max { beloeb } } } }
        """
    )
    with client(dap, dap.token("0101")) as session:
        groups = session.execute(query)["oekonomi_posteringer_aggregate"]["groups"]
    frame = oracle(dap, "0101")
    expected = frame.groupby("aar").agg(n=("beloeb", "size"), s=("beloeb", "sum"), hi=("beloeb", "max"))
    assert [g["key"]["aar"] for g in groups] == [int(a) for a in expected.index]
    assert [g["count"] for g in groups] == [int(n) for n in expected["n"]]
    assert [Decimal(g["sum"]["beloeb"]) for g in groups] == [Decimal(str(s)) for s in expected["s"]]
    assert [Decimal(g["max"]["beloeb"]) for g in groups] == [Decimal(str(h)) for h in expected["hi"]]


@pytest.mark.parametrize(
    "query, code",
    [
        # A column the caller may not see is not in their schema: as one that does not exist.
        ("{ aeldre_hjemmepleje { nodes { cpr } } }", "invalid_query"),
        ('{ oekonomi_posteringer(where: {kommunekode: {eq: "0751"}}, municipality: "0751") { nodes { aar } } }',
         "municipality_not_granted"),
        ("{ oekonomi_posteringer(first: 100000) { nodes { posteringsid aar maaned funktion beloeb } } }",
         "query_too_complex"),
    ],
)
def test_refusals_carry_stable_codes(dap, query, code):
    # No local validation here: the server's answer is what is tested.
    with client(dap, dap.token("0101"), fetch_schema=False) as session:
        with pytest.raises(TransportQueryError) as refused:
            session.execute(gql(query))
    assert [e["extensions"]["code"] for e in refused.value.errors] == [code]
    assert "0751\"" not in str(refused.value.data)


def test_no_token_is_401(dap):
    with pytest.raises(TransportServerError) as refused:
        with client(dap, None, fetch_schema=False) as session:
            session.execute(gql("{ me { subject } }"))
    assert refused.value.code == 401
