"""The docs page renders in a real browser (Debian's Chromium, driven by Playwright)
and every request the page makes stays on localhost."""

import os
import re
import shutil
import tempfile

import pytest
from playwright.sync_api import sync_playwright

LOCAL = re.compile(r"^(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/")


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/test.sh installs Debian's chromium)")
        pytest.skip("chromium not installed: SKIPPED the browser check")
    return path


def test_docs_render_offline_in_chromium(dap):
    requested = []
    document = dap.get_json("/openapi.json")
    artifacts = os.environ.get("DAP_E2E_ARTIFACTS") or tempfile.mkdtemp(prefix="dap-docs-")
    screenshot = os.path.join(artifacts, "docs.png")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium(),
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{dap.base}/docs/", wait_until="networkidle")
        page.wait_for_selector(".opblock-summary-path", timeout=20000)
        rendered = page.eval_on_selector_all(
            ".opblock-summary-path", "els => els.map(e => e.getAttribute('data-path'))"
        )
        title = page.inner_text(".information-container .title")
        page.screenshot(path=screenshot, full_page=False)
        browser.close()

    assert sorted(set(rendered)) == sorted(document["paths"]), rendered
    assert "dap — direct data access" in title
    outside = sorted(u for u in requested if not LOCAL.match(u) and not u.startswith("data:"))
    assert outside == [], f"the docs page contacted other hosts: {outside}"
    assert any(u.endswith("/openapi.json") for u in requested), requested
    print(f"docs page: {len(rendered)} operations rendered, {len(requested)} requests, all on localhost; screenshot {screenshot}")
