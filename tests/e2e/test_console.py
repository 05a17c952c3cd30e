"""The web console in a real browser (Debian's Chromium driven by Playwright), against a
real `dap demo`: an analyst of 0101 finds, filters, pages and downloads a dataset (the
files equal the API's), creates and revokes a token, downloads a sharing profile that the
official Delta Sharing connector then reads, and opens a key-figure chart; an IT
administrator registers, rotates and disables a machine client and filters the audit log;
an analyst of 0751 never sees anything of 0101; the main flow works with the keyboard
alone; an IT administrator grants a delivery right (keyboard only) that a machine client
then delivers with, and revokes it; a form the server refuses shows the message next to
the field; a session left idle returns to sign-in and then to the page.
axe-core (tests/e2e/axe, installed with `npm ci`) runs on every page visited: no
serious or critical WCAG 2.1 A/AA violations. The browser must not report a CSP
violation, and every request stays on this dap."""

import csv
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess

import openpyxl
import pytest
import requests
from playwright.sync_api import sync_playwright

from conftest import ALL_READ_ROLES, WRITABLE_MUNICIPALITIES, run_connector

HERE = os.path.dirname(__file__)
AXE = os.path.join(HERE, "axe", "node_modules", "axe-core", "axe.min.js")
LOCAL = re.compile(r"^(https?)://(127\.0\.0\.1|localhost)(:\d+)?/")
READ_ROLES = ALL_READ_ROLES.split(",")
DATASET = "oekonomi.posteringer"
# The IT administrator who grants a delivery right delivers for a municipality no other
# module reads (conftest.WRITABLE_MUNICIPALITIES).
WRITER = WRITABLE_MUNICIPALITIES[2]
# Anything of Copenhagen (0101): its code as a number of its own, its name or its CVR.
# The pages whose screenshots are kept in docs/ (scripts/console-screenshots.sh).
SCREENSHOTS = {"sign-in", "catalogue", "dataset-filtered", "connect-token-created", "key-figure",
               "admin-client-registered", "audit-filtered", "admin-right-refused"}
OF_0101 = re.compile(r"(?<![\d.,:-])0101(?![\d.,:-])|Københavns|64942212")
# The catalogue's description of the municipality column names 0101 as an example.
CATALOGUE_EXAMPLE = "Kommunekode (fire cifre), fx 0101"


def of_0101(text):
    return OF_0101.findall(text.replace(CATALOGUE_EXAMPLE, ""))


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/test.sh installs Debian's chromium)")
        pytest.skip("chromium not installed: SKIPPED the browser check")
    return path


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(AXE):
        pytest.fail("axe-core is missing: run `npm ci` in tests/e2e/axe (scripts/test.sh does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium(),
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


class Visit:
    """A browser tab that checks every page it shows: axe (no serious or critical
    violations), no CSP violation in the console, every request to this dap."""

    def __init__(self, browser, base):
        self.base = base
        self.context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.csp_errors = []
        self.requests = []
        self.responses = []
        self.checked = []
        self.page.on("console", self._console)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("response", lambda r: self.responses.append(r))
        with open(AXE, encoding="utf-8") as f:
            self.axe_source = f.read()

    def _console(self, message):
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.csp_errors.append(message.text)

    def goto(self, path):
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("load")

    def check(self, name):
        """axe on the page as it is now (and a screenshot when asked for)."""
        page = self.page
        page.wait_for_load_state("load")
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(self.axe_source)
        result = page.evaluate(
            "() => axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        )
        assert len(result["passes"]) > 10, f"axe checked almost nothing on {name}"
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], f"axe on {name} ({page.url}): {bad}"
        assert self.csp_errors == [], f"CSP violations on {name}: {self.csp_errors}"
        outside = [u for u in self.requests if not LOCAL.match(u) and not u.startswith(("data:", "blob:"))]
        assert outside == [], f"{name} contacted other hosts: {outside}"
        self.checked.append(name)
        shots = os.environ.get("DAP_CONSOLE_SCREENSHOTS")
        if shots and name in SCREENSHOTS:
            os.makedirs(shots, exist_ok=True)
            page.screenshot(path=os.path.join(shots, f"console-{name}.png"), full_page=False)

    def sign_in(self, municipality, roles, subject="demo-analyst", path="/console/"):
        page = self.page
        self.goto(path)
        assert "/console/sign-in" in page.url, page.url
        page.fill("#subject", subject)
        page.select_option("#municipality", municipality)
        for box in page.query_selector_all("input[name=role]"):
            box.set_checked(box.get_attribute("value") in roles)
        page.click("form[action='/console/sign-in/demo'] button[type=submit]")
        page.wait_for_load_state("load")
        assert "/console/sign-in" not in page.url, page.inner_text("main")

    def close(self):
        self.context.close()


def api(dap, path, token, **params):
    response = requests.get(dap.base + path, headers={"Authorization": f"Bearer {token}"},
                            params=params, timeout=30)
    return response


def tab_to(page, selector, limit=400):
    """Presses Tab until `selector` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
    pytest.fail(f"Tab never reached {selector} on {page.url}")


def table_rows(page, selector):
    return page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))"
    )


def test_an_analyst_of_0101_finds_filters_pages_downloads_and_connects(dap, browser, tmp_path):
    token = dap.token("0101", roles=ALL_READ_ROLES)
    v = Visit(browser, dap.base)
    page = v.page
    # Straight to a page: sign-in first, then back to that page.
    v.sign_in("0101", READ_ROLES, path=f"/console/datasets/{DATASET}")
    assert page.url.endswith(f"/console/datasets/{DATASET}"), page.url
    v.goto("/console/")
    v.check("catalogue")
    # English on request, and back to Danish, on the same page.
    page.click("header a[lang=en]")
    page.wait_for_load_state("load")
    assert page.evaluate("() => document.documentElement.lang") == "en"
    assert "Datasets" in page.inner_text("h1")
    v.check("catalogue-en")
    page.click("header a[lang=da]")
    page.wait_for_load_state("load")
    assert page.evaluate("() => document.documentElement.lang") == "da"

    # Find the dataset.
    page.fill("#q", "posteringer")
    page.click("form[role=search] button[type=submit]")
    links = page.eval_on_selector_all("main article h3 a", "as => as.map(a => a.getAttribute('href'))")
    assert links == [f"/console/datasets/{DATASET}"], links
    assert "Bogført" in page.inner_text("main") or "posteringer" in page.inner_text("main")
    page.click(f"a[href='/console/datasets/{DATASET}']")
    v.check("dataset")

    # Filter and sort with the builder: amounts above 1000, largest first.
    page.select_option("#fc-0", "beloeb")
    page.select_option("#fo-0", "gt")
    page.fill("#fv-0", "1000")
    page.select_option("#sort", "beloeb")
    page.select_option("#dir", "desc")
    page.click("form.query button[type=submit]")
    page.wait_for_load_state("load")
    v.check("dataset-filtered")
    header = page.eval_on_selector_all("table.rows thead th", "ths => ths.map(t => t.textContent.trim())")
    ids = header.index("posteringsid")
    shown = [r[ids] for r in table_rows(page, "table.rows")]
    first = api(dap, f"/api/v1/datasets/{DATASET}/rows", token,
                filter="beloeb:gt:1000", order_by="beloeb:desc", limit=25).json()
    assert shown == [str(r["posteringsid"]) for r in first["rows"]]
    assert "1–25" in page.inner_text("#rows-status")

    # The next page is the API's next page.
    page.click("a[rel=next]")
    page.wait_for_load_state("load")
    second = api(dap, f"/api/v1/datasets/{DATASET}/rows", token, filter="beloeb:gt:1000",
                 order_by="beloeb:desc", limit=25, cursor=first["next_cursor"]).json()
    shown = [r[ids] for r in table_rows(page, "table.rows")]
    assert shown == [str(r["posteringsid"]) for r in second["rows"]]
    assert "26–" in page.inner_text("#rows-status")

    # Downloads: byte for byte the API's CSV; the same cells as the API's XLSX.
    with page.expect_download() as download:
        page.click("a[data-format='CSV']")
    csv_path = tmp_path / "console.csv"
    download.value.save_as(csv_path)
    api_csv = api(dap, f"/api/v1/datasets/{DATASET}/export", token, format="csv",
                  filter="beloeb:gt:1000", order_by="beloeb:desc")
    assert api_csv.status_code == 200
    assert csv_path.read_bytes() == api_csv.content
    assert csv_path.read_bytes().count(b"\n") > 26
    with page.expect_download() as download:
        page.click("a[data-format='XLSX (Excel)']")
    xlsx_path = tmp_path / "console.xlsx"
    download.value.save_as(xlsx_path)
    api_xlsx = api(dap, f"/api/v1/datasets/{DATASET}/export", token, format="xlsx",
                   filter="beloeb:gt:1000", order_by="beloeb:desc")

    def cells(data):
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
        return [list(row) for row in sheet.iter_rows(values_only=True)]

    mine = cells(xlsx_path.read_bytes())
    assert mine == cells(api_xlsx.content)
    code = mine[0].index("kommunekode")
    assert {row[code] for row in mine[1:]} == {"0101"}, "XLSX keeps 0101 as text"

    # Connect: create a personal token (shown once), use it, revoke it.
    v.goto(f"/console/connect?dataset={DATASET}")
    v.check("connect")
    page.fill("#token-name", "e2e Excel")
    page.click("form[action='/console/connect/tokens'] button[type=submit]")
    page.wait_for_load_state("load")
    secret = page.input_value("#secret-value")
    assert secret.startswith("dap_pat_")
    v.check("connect-token-created")
    assert api(dap, f"/api/v1/datasets/{DATASET}", secret).status_code == 200
    v.goto("/console/connect")
    assert secret not in page.content(), "the token is shown once only"
    page.click("tr:has(th:text-is('e2e Excel')) button:has-text('Træk tilbage')")
    page.wait_for_load_state("load")
    assert api(dap, f"/api/v1/datasets/{DATASET}", secret).status_code == 401

    # A Delta Sharing profile, downloaded, then read by the official connector.
    v.goto(f"/console/connect?dataset={DATASET}")
    page.fill("#sharing-name", "e2e Power BI")
    with page.expect_download() as download:
        page.click("form[action='/console/connect/sharing-profile'] button[type=submit]")
    profile_path = tmp_path / "dap.share"
    download.value.save_as(profile_path)
    profile = json.loads(profile_path.read_text())
    assert profile["shareCredentialsVersion"] == 1 and profile["endpoint"].startswith(dap.base)
    read = run_connector(
        "import json, delta_sharing\n"
        "df = delta_sharing.load_as_pandas(sys.argv[1] + '#dap.oekonomi.posteringer')\n"
        "print(json.dumps({'rows': len(df), 'municipalities': sorted(set(df['kommunekode']))}))",
        str(profile_path))
    got = json.loads(read.stdout.strip().splitlines()[-1])
    everything = api(dap, f"/api/v1/datasets/{DATASET}/export", token, format="ndjson")
    assert got == {"rows": len(everything.text.splitlines()), "municipalities": ["0101"]}

    # A key figure's chart: the same numbers as the API, suppressed cells as suppressed.
    v.goto("/console/key-figures")
    v.check("key-figures")
    page.click("a[href='/console/key-figures/nettoudgift-pr-indbygger']")
    page.wait_for_load_state("load")
    v.check("key-figure")
    figure = page.url.rsplit("/", 1)[-1].split("?")[0]
    assert page.query_selector("svg[role=img] title#chart-title") is not None
    table = api(dap, f"/api/v1/key-figures/{figure}", token).json()
    decimals = table["decimals"]
    slice_dim = next(d["column"] for d in table["dimensions"] if d["kind"] == "slice")
    has_category = any(d["kind"] == "category" for d in table["dimensions"])
    own = {c["dimensions"][slice_dim]: c for c in table["cells"]
           if c["own"] and (c["total"] or not has_category)}
    rows = table_rows(page, "table.figure-table")
    assert len(rows) == len(own) > 0
    for label, value, *_ in rows:
        cell = own[label]
        if cell["status"] == "published":
            assert value == f"{cell['value']:.{decimals}f}", (label, value, cell)
        else:
            assert "undertrykt" in value or "ikke defineret" in value, (label, value, cell)
    v.close()


def test_an_it_administrator_manages_a_machine_client_and_reads_the_audit_log(dap, browser):
    # Something to find in the log: an allowed read and a denied one of 0101.
    reader = dap.token("0101", roles="laes-oekonomi")
    assert api(dap, f"/api/v1/datasets/{DATASET}", reader).status_code == 200
    assert api(dap, "/api/v1/datasets/borger.befolkning", reader).status_code == 404

    v = Visit(browser, dap.base)
    page = v.page
    v.sign_in("0101", READ_ROLES + ["it-administration"], subject="demo-it")
    v.goto("/console/admin")
    v.check("admin")

    def token_with(client_id, secret):
        return requests.post(dap.base + "/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client_id, secret), timeout=30)

    page.fill("#client-name", "Nightly DWH load")
    page.check(f"input[id='client-{DATASET}']")
    page.click("form[action='/console/admin/clients'] button[type=submit]")
    page.wait_for_load_state("load")
    client_id = page.inner_text("[data-client-id]")
    secret = page.input_value("#secret-value")
    v.check("admin-client-registered")
    assert token_with(client_id, secret).status_code == 200
    v.goto("/console/admin")
    assert secret not in page.content(), "the secret is shown once only"

    page.click(f"tr[data-client='{client_id}'] button[data-action=rotate]")
    page.wait_for_load_state("load")
    rotated = page.input_value("#secret-value")
    assert rotated != secret
    assert token_with(client_id, secret).status_code == 401
    assert token_with(client_id, rotated).status_code == 200

    page.click(f"tr[data-client='{client_id}'] button[data-action=disable]")
    page.wait_for_load_state("load")
    assert page.inner_text(f"tr[data-client='{client_id}'] td.status") == "deaktiveret"
    assert token_with(client_id, rotated).status_code == 401

    v.goto("/console/admin/audit")
    v.check("audit")
    assert page.query_selector("[data-chain=intact]") is not None
    page.fill("#audit-dataset", DATASET)
    page.select_option("#outcome", "allowed")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("load")
    outcomes = page.eval_on_selector_all("table.audit tbody tr", "rs => rs.map(r => r.dataset.outcome)")
    datasets = [r[4] for r in table_rows(page, "table.audit")]
    assert outcomes and set(outcomes) == {"allowed"}
    assert set(datasets) == {DATASET}
    page.fill("#audit-dataset", "")
    page.select_option("#outcome", "denied")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("load")
    outcomes = page.eval_on_selector_all("table.audit tbody tr", "rs => rs.map(r => r.dataset.outcome)")
    assert outcomes and set(outcomes) == {"denied"}
    v.check("audit-filtered")
    # The export is the same selection, every record of it.
    with page.expect_download() as download:
        page.click("a[download]:text-is('CSV')")
    with open(download.value.path(), encoding="utf-8", newline="") as f:
        records = list(csv.DictReader(f))
    assert len(records) >= len(outcomes)
    assert {r["outcome"] for r in records} == {"denied"}
    v.close()


def test_an_analyst_of_0751_never_sees_anything_of_0101(dap, browser):
    v = Visit(browser, dap.base)
    page = v.page
    v.sign_in("0751", READ_ROLES, subject="aarhus-analyst")
    v.responses.clear()
    texts = {}
    v.goto("/console/datasets")
    texts["catalogue"] = page.inner_text("body")
    datasets = page.eval_on_selector_all("main article h3 a", "as => as.map(a => a.getAttribute('href'))")
    assert len(datasets) >= 4
    for href in datasets:
        v.goto(href)
        texts[href] = page.inner_text("body")
        assert "0751" in texts[href]
        if page.query_selector("a[rel=next]"):
            page.click("a[rel=next]")
            page.wait_for_load_state("load")
            texts[href + " page 2"] = page.inner_text("body")
    v.check("dataset-0751")
    for path in ["/console/connect?dataset=oekonomi.posteringer", "/console/key-figures"]:
        v.goto(path)
        texts[path] = page.inner_text("body")
    page.click("main article h2 a >> nth=0")
    page.wait_for_load_state("load")
    texts["key figure"] = page.inner_text("body")
    v.goto("/console/admin")
    texts["admin"] = page.inner_text("body")
    for name, text in texts.items():
        found = of_0101(text)
        assert found == [], f"0101 on {name}: {found}"
    assert len(v.responses) > 10
    for response in v.responses:
        try:
            body = response.body().decode("utf-8", "replace")
        except Exception:  # a redirect has no body
            continue
        found = of_0101(body)
        assert found == [], f"0101 in the response of {response.url}: {found}"
    v.close()


def test_the_main_flow_works_with_the_keyboard_alone(dap, browser):
    v = Visit(browser, dap.base)
    page = v.page
    keyboard = page.keyboard
    v.goto("/console/sign-in")
    v.check("sign-in")
    keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.classList.contains('skip')"), "the first stop skips to content"
    tab_to(page, "form[action='/console/sign-in/demo'] button[type=submit]")
    keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/$"))
    tab_to(page, "#q")
    keyboard.type("posteringer")
    keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*q=posteringer.*"))
    tab_to(page, f"a[href='/console/datasets/{DATASET}']")
    keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/console/datasets/{re.escape(DATASET)}$"))
    tab_to(page, "#fc-0")
    keyboard.type("beloeb")
    tab_to(page, "#fo-0")
    keyboard.type("gt")
    tab_to(page, "#fv-0")
    keyboard.type("1000")
    keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*fc=beloeb.*fo=gt.*fv=1000.*"))
    assert "1–25" in page.inner_text("#rows-status")
    tab_to(page, "a[rel=next]")
    keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*cursor=.*"))
    assert "26–" in page.inner_text("#rows-status")
    # Sign out with the keyboard too.
    tab_to(page, "form[action='/console/sign-out'] button")
    keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/sign-in$"))
    v.close()


def client_token(dap, client_id, secret):
    response = requests.post(dap.base + "/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client_id, secret), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_a_delivery_right_granted_in_the_console_lets_a_client_deliver(dap, browser):
    v = Visit(browser, dap.base)
    page = v.page
    keyboard = page.keyboard
    v.sign_in(WRITER, READ_ROLES + ["it-administration"], subject="demo-it-rights")
    v.goto("/console/admin")
    page.fill("#client-name", "Okonomisystem e2e")
    page.check(f"input[id='client-{DATASET}']")
    page.click("form[action='/console/admin/clients'] button[type=submit]")
    page.wait_for_load_state("load")
    client_id = page.inner_text("[data-client-id]")
    token = client_token(dap, client_id, page.input_value("#secret-value"))
    rows = "posteringsid,aar,maaned,bogfoeringsdato,funktion,art,beloeb,omkostningssted\n" \
           "990001,2024,3,2024-03-15,5.22.07,1.0,123.45,OMK-1\n"

    def deliver(delivery_id):
        return requests.post(dap.base + f"/api/v1/datasets/{DATASET}/deliveries",
                             params={"delivery_id": delivery_id}, data=rows.encode(),
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
                             timeout=60)

    assert deliver("e2e-before").status_code == 403, "no right yet"

    # A grant the server refuses: the message next to the field, what was entered kept.
    v.goto("/console/admin")
    page.fill("#right-issuer", "https://broker.example")
    page.click("form[action='/console/admin/delivery-rights'] button[type=submit]")
    page.wait_for_load_state("load")
    assert page.get_attribute("#right-subject", "aria-invalid") == "true"
    described = page.get_attribute("#right-subject", "aria-describedby").split()
    assert "issuer and subject" in page.inner_text(f"#{described[0]}")
    assert page.input_value("#right-issuer") == "https://broker.example"
    v.check("admin-right-refused")

    # Granted with the keyboard alone.
    v.goto("/console/admin")
    tab_to(page, "#right-dataset")
    keyboard.type(DATASET)
    assert page.input_value("#right-dataset") == DATASET
    tab_to(page, "#right-client")
    keyboard.type("Okonomisystem e2e")
    assert page.input_value("#right-client") == client_id
    tab_to(page, "form[action='/console/admin/delivery-rights'] button[type=submit]")
    with page.expect_navigation():
        keyboard.press("Enter")
    page.wait_for_load_state("load")
    assert page.query_selector(f"table.rights tr[data-grantee='{client_id}']") is not None
    v.check("admin-right-granted")

    # The client delivers through the API; the receipt is on the dataset page.
    delivered = deliver("e2e-granted")
    assert delivered.status_code == 200, delivered.text
    v.goto(f"/console/datasets/{DATASET}")
    assert page.query_selector("tr[data-delivery='e2e-granted']") is not None
    v.check("dataset-deliveries")

    # A filter the server refuses is marked next to its value.
    v.goto(f"/console/datasets/{DATASET}?fc=aar&fo=eq&fv=tyve")
    assert page.get_attribute("#fv-0", "aria-invalid") == "true"
    assert "aar" in page.inner_text("#fv-0-error")
    assert page.input_value("#fv-0") == "tyve"
    v.check("dataset-filter-refused")

    # Revoked in the console: the next delivery is refused.
    v.goto("/console/admin")
    page.click(f"table.rights tr[data-grantee='{client_id}'] button[type=submit]")
    page.wait_for_load_state("load")
    assert page.query_selector(f"table.rights tr[data-grantee='{client_id}']") is None
    assert deliver("e2e-after").status_code == 403
    v.close()


def test_an_idle_session_returns_to_sign_in_and_then_to_the_page(dap, browser):
    v = Visit(browser, dap.base)
    page = v.page
    path = f"/console/datasets/{DATASET}?fc=aar&fo=gte&fv=2020"
    v.sign_in("0101", READ_ROLES, subject="idle-analyst", path=path)
    assert page.url.endswith(path), page.url
    # The person leaves: the session's last use is moved back past the idle timeout
    # (instead of waiting half an hour).
    db = sqlite3.connect(os.path.join(dap.data_dir, "dap.sqlite"), timeout=30)
    moved = db.execute("UPDATE sessions SET last_seen_at = '2000' || substr(last_seen_at, 5) "
                       "WHERE subject = 'idle-analyst'").rowcount
    db.commit()
    db.close()
    assert moved == 1
    # Back at the page: sign-in first, with the reason shown, then the page again.
    v.goto(path)
    assert "/console/sign-in" in page.url and "return_to=" in page.url, page.url
    assert page.query_selector("main p.notice[role=status]") is not None
    v.check("sign-in-expired")
    v.sign_in("0101", READ_ROLES, subject="idle-analyst", path=path)
    assert page.url.endswith(path), page.url
    assert "1–" in page.inner_text("#rows-status")
    v.close()
