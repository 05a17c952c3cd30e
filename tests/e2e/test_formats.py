"""Real readers (pandas, polars, DuckDB) read every export format and get exactly the
rows a direct delta-rs read gives for the caller's municipality."""

import datetime
import decimal
import io
import os
import urllib.request

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.ipc
import pytest
from deltalake import DeltaTable

DATASET = "oekonomi.posteringer"
COLUMNS = ["kommunekode", "posteringsid", "aar", "maaned", "bogfoeringsdato", "funktion", "art", "beloeb", "omkostningssted"]


def normalise(value):
    """One comparable form for every reader's value types."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (decimal.Decimal, float)):
        return f"{float(value):.2f}"
    if isinstance(value, (datetime.date, datetime.datetime, pd.Timestamp)):
        return str(value)[:10]
    if hasattr(value, "item"):
        return normalise(value.item())
    return str(value) if isinstance(value, str) else int(value)


def rows_of(records):
    rows = [tuple(normalise(r[c]) for c in COLUMNS) for r in records]
    return sorted(rows, key=lambda r: r[1])


@pytest.fixture(scope="module")
def oracle(dap):
    table = DeltaTable(os.path.join(dap.data_dir, "lake", "oekonomi", "posteringer"))
    frame = table.to_pyarrow_table(filters=[("kommunekode", "=", "0101")])
    return rows_of(frame.to_pylist())


@pytest.fixture(scope="module")
def download(dap):
    token = dap.token("0101")

    def get(query: str) -> bytes:
        request = urllib.request.Request(f"{dap.base}/api/v1/datasets/{DATASET}/export?{query}")
        request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()

    return get


def test_the_oracle_is_one_municipality(oracle):
    assert len(oracle) == 60
    assert {r[0] for r in oracle} == {"0101"}


def test_pandas_reads_every_format(download, oracle, tmp_path):
    ndjson = pd.read_json(io.BytesIO(download("format=ndjson")), lines=True, dtype=False)
    assert rows_of(ndjson.to_dict("records")) == oracle
    csv = pd.read_csv(io.BytesIO(download("format=csv")), dtype={"kommunekode": str, "funktion": str, "art": str})
    assert rows_of(csv.to_dict("records")) == oracle
    parquet = pd.read_parquet(io.BytesIO(download("format=parquet")))
    assert rows_of(parquet.to_dict("records")) == oracle
    arrow = pa.ipc.open_stream(download("format=arrow")).read_all().to_pandas()
    assert rows_of(arrow.to_dict("records")) == oracle
    xlsx = pd.read_excel(io.BytesIO(download("format=xlsx")), dtype={"kommunekode": str, "funktion": str, "art": str})
    assert rows_of(xlsx.to_dict("records")) == oracle


def test_polars_reads_every_format(download, oracle):
    frames = {
        "ndjson": pl.read_ndjson(io.BytesIO(download("format=ndjson"))),
        "csv": pl.read_csv(io.BytesIO(download("format=csv")), schema_overrides={"kommunekode": pl.Utf8, "funktion": pl.Utf8, "art": pl.Utf8}),
        "parquet": pl.read_parquet(io.BytesIO(download("format=parquet"))),
        "arrow": pl.read_ipc_stream(io.BytesIO(download("format=arrow"))),
    }
    for name, frame in frames.items():
        assert rows_of(frame.to_dicts()) == oracle, name


def test_duckdb_reads_every_format(download, oracle, tmp_path):
    con = duckdb.connect()
    for name, query, reader in [
        ("ndjson", "format=ndjson", "read_json_auto"),
        ("csv", "format=csv", "read_csv_auto"),
        ("parquet", "format=parquet", "read_parquet"),
    ]:
        path = tmp_path / f"export.{name}"
        path.write_bytes(download(query))
        options = ", types={'kommunekode': 'VARCHAR', 'funktion': 'VARCHAR', 'art': 'VARCHAR'}" if name == "csv" else ""
        assert rows_of(records(con.execute(f"SELECT * FROM {reader}('{path}'{options})"))) == oracle, name
    arrow = pa.ipc.open_stream(download("format=arrow")).read_all()
    con.register("arrow_export", arrow)
    assert rows_of(records(con.execute("SELECT * FROM arrow_export"))) == oracle


def records(cursor):
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def test_danish_excel_csv_round_trips_through_pandas(download, oracle):
    body = download("format=csv&delimiter=;&decimal=comma&bom=true")
    assert body.startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(io.BytesIO(body), sep=";", decimal=",", encoding="utf-8-sig",
                        dtype={"kommunekode": str, "funktion": str, "art": str})
    assert list(frame.columns) == COLUMNS
    assert frame["beloeb"].dtype == "float64"
    assert rows_of(frame.to_dict("records")) == oracle


def test_the_arrow_file_format_is_read_by_read_feather_and_read_ipc(download, oracle):
    body = download("format=arrow-file")
    assert body.startswith(b"ARROW1"), "an Arrow IPC file starts with its magic"
    feather = pd.read_feather(io.BytesIO(body))
    assert rows_of(feather.to_dict("records")) == oracle
    assert rows_of(pl.read_ipc(io.BytesIO(body)).to_dicts()) == oracle
    assert rows_of(pa.ipc.open_file(io.BytesIO(body)).read_all().to_pylist()) == oracle
    # The stream format stays what it was: read_feather cannot read it, as its name says.
    with pytest.raises(Exception):
        pd.read_feather(io.BytesIO(download("format=arrow")))


def test_the_xlsx_export_is_ready_for_excel(download, oracle):
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(download("format=xlsx")))
    assert workbook.sheetnames == [DATASET]
    sheet = workbook[DATASET]
    header = [cell.value for cell in sheet[1]]
    assert header == COLUMNS
    assert all(cell.font.b for cell in sheet[1]), "the header is bold"
    assert sheet.freeze_panes == "A2", "the header row is frozen"
    assert sheet.auto_filter.ref == f"A1:I{len(oracle) + 1}"
    row = {name: cell for name, cell in zip(header, sheet[2])}
    # Codes stay text, exactly as stored: Excel shows 0101, not 101, and 5.22.07 is no date.
    assert row["kommunekode"].data_type == "s" and row["kommunekode"].value == "0101"
    assert row["funktion"].data_type == "s"
    # Amounts are numbers with a number format; years are plain numbers.
    assert row["beloeb"].data_type == "n" and isinstance(row["beloeb"].value, (int, float))
    assert row["beloeb"].number_format == "#,##0.00"
    assert row["aar"].data_type == "n" and row["aar"].number_format == "General"
    assert row["bogfoeringsdato"].is_date
