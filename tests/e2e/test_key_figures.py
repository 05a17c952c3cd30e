"""Key figures, checked independently: the whole demo lake read directly with `deltalake`
and pandas, every seeded key figure recomputed for every municipality, region, size band
and the country, and compared with dap's answers for every comparison group. Suppressed
cells must really be small, dominated or complementary; published cells must have enough
contributing units. The CSV and XLSX exports are read back with pandas and openpyxl."""

import csv
import io
import json
import os
import urllib.request

import openpyxl
import pandas as pd
import pytest
from deltalake import DeltaTable

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOUNDS = [20_000, 40_000, 60_000, 100_000]
BAND_IDS = ["0-19999", "20000-39999", "40000-59999", "60000-99999", "100000-"]


def band_of(population: float) -> str:
    return BAND_IDS[sum(1 for b in BOUNDS if population >= b)]


def read(dap, dataset: str) -> pd.DataFrame:
    domain, name = dataset.split(".")
    return DeltaTable(os.path.join(dap.data_dir, "lake", domain, name)).to_pandas()


@pytest.fixture(scope="module")
def reference():
    with open(os.path.join(REPO, "schema", "data", "kommuner.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 98
    return {r["kommunekode"]: r["regionskode"] for r in rows}


@pytest.fixture(scope="module")
def lake(dap):
    return {d: read(dap, d) for d in [
        "oekonomi.posteringer", "personale.fravaer", "borger.befolkning",
        "aeldre.hjemmepleje", "infrastruktur.it_systemer"]}


@pytest.fixture(scope="module")
def bands(lake):
    """Band per (municipality, year) and per municipality for the latest year, from the
    fourth-quarter population."""
    pop = lake["borger.befolkning"]
    q4 = pop[pop["kvartal"] == 4].groupby(["kommunekode", "aar"])["antal"].sum()
    per_year = {(m, str(y)): band_of(p) for (m, y), p in q4.items()}
    latest_year = q4.index.get_level_values("aar").max()
    latest = {m: band_of(p) for (m, y), p in q4.items() if y == latest_year}
    return per_year, latest


# The four seeded key figures, written out here from their published descriptions.
FIGURES = {
    "nettoudgift-pr-indbygger": dict(
        data="oekonomi.posteringer", slice=["aar"], cat=["funktion"], unit="omkostningssted",
        min=3, per_year=True, factor=1.0),
    "fravaer-pr-aarsvaerk": dict(
        data="personale.fravaer", slice=["aar"], cat=["stillingskategori"],
        unit="organisationsenhed", min=3, per_year=True, factor=1.0, dominance=(1, 80.0)),
    "hjemmepleje-timer-pr-borger-67": dict(
        data="aeldre.hjemmepleje", slice=[], cat=["leverandoer"], unit="borger_id", min=5,
        per_year=False, factor=1.0),
    "infrastruktur-andel-domaener": dict(
        data="infrastruktur.it_systemer", slice=[], cat=["status"], unit="system", min=3,
        per_year=False, factor=100.0),
}


def numerator(fid, frame, keys):
    """(value, units, top-share) per group of `keys`, for key figure `fid`."""
    spec = FIGURES[fid]
    g = frame.groupby(keys, dropna=True)
    if fid == "nettoudgift-pr-indbygger":
        value = g["beloeb"].apply(lambda s: float(sum(float(x) for x in s)))
    elif fid == "fravaer-pr-aarsvaerk":
        value = g["fravaersdage"].sum()
    elif fid == "hjemmepleje-timer-pr-borger-67":
        value = g["visiterede_timer"].apply(lambda s: float(sum(float(x) for x in s)))
    else:
        value = g["domaene"].nunique().astype(float)
    # A unit counts where it contributes: a value for the measure, for a sum a non-zero one.
    measure = {"nettoudgift-pr-indbygger": "beloeb", "fravaer-pr-aarsvaerk": "fravaersdage",
               "hjemmepleje-timer-pr-borger-67": "visiterede_timer",
               "infrastruktur-andel-domaener": "domaene"}[fid]
    if fid == "infrastruktur-andel-domaener":
        contributes = frame[measure].notna()
    else:
        contributes = frame[measure].notna() & (frame[measure].astype(float) != 0)
    units = (frame[contributes].groupby(keys, dropna=True)[spec["unit"]].nunique()
             .reindex(value.index, fill_value=0))
    out = pd.DataFrame({"v": value, "u": units})
    if "dominance" in spec:
        col = "fravaersdage"
        per_unit = frame.assign(_a=frame[col].abs()).groupby(keys + [spec["unit"]])["_a"].sum()
        share = per_unit.groupby(level=list(range(len(keys)))).agg(
            lambda s: s.max() / s.sum() if s.sum() > 0 else 0.0)
        out["share"] = share
    return out


def denominator(fid, lake, frame, area_keys, slice_keys, cat_keys, befolkning):
    """Denominator per group (area keys + the dimensions it follows)."""
    if fid == "nettoudgift-pr-indbygger":
        pop = befolkning[befolkning["kvartal"] == 4]
        return pop.groupby(area_keys + ["aar"])["antal"].sum().astype(float), area_keys + ["aar"]
    if fid == "fravaer-pr-aarsvaerk":
        keys = area_keys + slice_keys + cat_keys
        return frame.groupby(keys)["aarsvaerk"].sum(), keys
    if fid == "hjemmepleje-timer-pr-borger-67":
        keys = area_keys + cat_keys
        if not keys:
            return float(frame["borger_id"].nunique()), []
        return frame.groupby(keys)["borger_id"].nunique().astype(float), keys
    keys = area_keys
    if not keys:
        return float(frame["domaene"].nunique()), []
    return frame.groupby(keys)["domaene"].nunique().astype(float), keys


def with_areas(fid, frame, reference, bands):
    spec = FIGURES[fid]
    per_year, latest = bands
    frame = frame.copy()
    frame["_region"] = frame["kommunekode"].map(reference)
    if spec["per_year"]:
        frame["_size"] = [per_year.get((m, str(y)), latest.get(m))
                          for m, y in zip(frame["kommunekode"], frame["aar"])]
    else:
        frame["_size"] = frame["kommunekode"].map(latest)
    return frame


def expected_cells(fid, lake, reference, bands):
    """Every cell: (area, slice values, category or None) -> (value, units, share)."""
    spec = FIGURES[fid]
    frame = lake[spec["data"]]
    if fid == "hjemmepleje-timer-pr-borger-67":
        frame = frame[frame["alder"] >= 67]
    frame = with_areas(fid, frame, reference, bands)
    befolkning = with_areas("nettoudgift-pr-indbygger", lake["borger.befolkning"], reference, bands)
    cells = {}
    for area, area_keys in [("M", ["kommunekode"]), ("R", ["_region"]), ("S", ["_size"]), ("C", [])]:
        for with_cat in [True, False]:
            dims = spec["slice"] + (spec["cat"] if with_cat else [])
            keys = area_keys + dims
            if not keys:
                num = numerator(fid, frame.assign(_all=1), ["_all"])
            else:
                num = numerator(fid, frame, keys)
            den, den_keys = denominator(fid, lake, frame, area_keys, spec["slice"],
                                        spec["cat"] if with_cat else [], befolkning)
            for key, row in num.iterrows():
                key = key if isinstance(key, tuple) else (key,)
                if not keys:
                    key = ()
                values = dict(zip(keys, key))
                if isinstance(den, float):
                    d = den
                else:
                    dk = tuple(values[k] for k in den_keys)
                    dk = dk if len(dk) > 1 else dk[0]
                    d = den.get(dk)
                value = None if d in (None, 0) else float(row["v"]) / float(d) * spec["factor"]
                area_id = str(values[area_keys[0]]) if area_keys else ""
                slice_values = tuple(str(values[s]) for s in spec["slice"])
                category = tuple(str(values[c]) for c in spec["cat"]) if with_cat else None
                cells[(area + area_id, slice_values, category)] = (
                    value, int(row["u"]), float(row.get("share", 0.0)))
    return cells


def key_of(fid, cell):
    spec = FIGURES[fid]
    area = {"municipality": "M" + (cell["municipality"] or ""),
            "region": "R" + (cell["area_id"] or ""),
            "size": "S" + (cell["area_id"] or ""),
            "country": "C"}[cell["area"]]
    dims = cell["dimensions"]
    slice_values = tuple(dims[s] for s in spec["slice"])
    category = None if cell["total"] else tuple(dims[c] for c in spec["cat"])
    return (area, slice_values, category)


def get(dap, path, token):
    """A GET with room for the first computation of a key figure (debug build, every
    partition read once per table version; later requests use the cached table)."""
    request = urllib.request.Request(dap.base + path)
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=180) as response:
        return json.load(response)


def answers(dap, fid, reference, bands):
    """dap's cells as every caller sees them: all; each region; each size band (per
    year: a caller for every band of every year)."""
    out = []
    out.append(get(dap, f"/api/v1/key-figures/{fid}?group=all", dap.token("0101", roles="")))
    by_region = {}
    for m, r in reference.items():
        by_region.setdefault(r, m)
    for m in by_region.values():
        out.append(get(dap, f"/api/v1/key-figures/{fid}?group=region", dap.token(m, roles="")))
    per_year, latest = bands
    wanted = {}
    for m in reference:
        if FIGURES[fid]["per_year"]:
            for (mm, y), b in per_year.items():
                if mm == m:
                    wanted.setdefault((y, b), m)
        wanted.setdefault(("latest", latest[m]), m)
    for m in sorted(set(wanted.values())):
        out.append(get(dap, f"/api/v1/key-figures/{fid}?group=size", dap.token(m, roles="")))
    return out


@pytest.mark.parametrize("fid", list(FIGURES))
def test_every_seeded_key_figure_equals_an_independent_computation(dap, lake, reference, bands, fid):
    spec = FIGURES[fid]
    expected = expected_cells(fid, lake, reference, bands)
    seen = {}
    # Why a cell is withheld is told to its own municipality only; every other caller
    # sees the cell withheld without a reason.
    reasons = {}
    for body in answers(dap, fid, reference, bands):
        assert body["disclosure"]["min_units"] == spec["min"]
        for cell in body["cells"]:
            key = key_of(fid, cell)
            state = (cell["status"], cell["value"])
            assert seen.setdefault(key, state) == state, f"{key} differs between requests"
            if cell["own"]:
                reasons[key] = cell["reason"]
            else:
                assert cell["reason"] is None, f"{key}: a reason on another's cell"
    published = {"M": 0, "R": 0, "S": 0, "C": 0}
    for key, (status, value) in seen.items():
        reason = reasons.get(key)
        assert key in expected, f"{fid}: dap shows a cell the lake does not have: {key}"
        want, units, share = expected[key]
        dominated = "dominance" in spec and share > spec["dominance"][1] / 100.0
        if status == "published":
            assert units >= spec["min"], f"{fid} {key}: published with {units} units"
            assert not dominated, f"{fid} {key}: published though dominated ({share:.2f})"
            assert want is not None
            assert value == pytest.approx(want, rel=1e-9, abs=1e-9), f"{fid} {key}"
            published[key[0][0]] += 1
        elif status == "suppressed":
            assert value is None
            if key not in reasons:
                pass  # not seen by its own municipality: no reason to check
            elif reason == "too_few_units":
                assert units < spec["min"], f"{fid} {key}: {units} units"
            elif reason == "dominance":
                assert dominated and units >= spec["min"], f"{fid} {key}"
            else:
                assert reason == "complementary", f"{fid} {key}: {reason}"
        else:
            assert status == "not_defined" and want is None, f"{fid} {key}"
        if units < spec["min"] or dominated:
            assert status == "suppressed", f"{fid} {key}: {units} units must be withheld"
    # Every cell of the lake was shown to some caller, and the figure means something.
    missing = set(expected) - set(seen)
    assert not missing, f"{fid}: {len(missing)} cells never shown, e.g. {sorted(missing)[:3]}"
    assert published["M"] > 0 and published["C"] > 0, f"{fid}: {published}"


def test_exports_show_markers_and_a_legend(dap):
    token = dap.token("0101", roles="")
    fid = "fravaer-pr-aarsvaerk"
    body = get(dap, f"/api/v1/key-figures/{fid}?year=2025&group=region", token)

    def download(fmt):
        request = urllib.request.Request(
            dap.base + f"/api/v1/key-figures/{fid}?year=2025&group=region&format={fmt}")
        request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=180) as response:
            return response.headers, response.read()

    headers, data = download("csv")
    assert headers["Content-Type"].startswith("text/csv")
    text = data.decode("utf-8")
    legend = [line for line in text.splitlines() if line.startswith("#")]
    assert any(".. = diskretioneret" in line for line in legend), legend
    frame = pd.read_csv(io.StringIO(text), sep=";", comment="#", dtype=str)
    assert len(frame) == len(body["cells"])
    for (_, row), cell in zip(frame.iterrows(), body["cells"]):
        if cell["status"] == "suppressed":
            assert row["vaerdi"] == ".."
        elif cell["status"] == "published":
            assert float(row["vaerdi"]) == pytest.approx(cell["value"])
    assert (frame["status"] == "suppressed").any()

    headers, data = download("xlsx")
    assert headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Noegletal", "Forklaring"]
    rows = list(book["Noegletal"].iter_rows(values_only=True))
    header, rows = rows[0], rows[1:]
    value_col = header.index("vaerdi")
    assert len(rows) == len(body["cells"])
    for row, cell in zip(rows, body["cells"]):
        if cell["status"] == "suppressed":
            assert row[value_col] == ".."
        elif cell["status"] == "published":
            assert row[value_col] == pytest.approx(cell["value"])
    legend = [r[0] for r in book["Forklaring"].iter_rows(values_only=True)]
    assert any(".. = diskretioneret" in (line or "") for line in legend), legend
