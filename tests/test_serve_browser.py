"""The dashboard as people see it: Chromium (Debian's) driven by Playwright, against a
`reconciler serve` process watching a sandbox tenant. Pages render, their numbers are the
history's, a hostile vendor value shows as text, the chart has one point per drift run.
A screenshot of each page is kept in tests/artifacts/ (git-ignored).

The tests only read (pages, the history), so the tenant, its `serve` process and Chromium
are the module's; each test has a browser context of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from tests.conftest import Project, Sandbox
from tests.serving import ARTIFACTS, CHROMIUM_ARGS, Served, chromium_or_skip, serving

playwright_api = pytest.importorskip("playwright.sync_api")

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>&amp;"  # no quote: JSON shows it as is
PURPOSES = """\
outreach:
  call_purposes:
    intro: {name: Intro, order: 1}
    demo: {name: Demo, order: 2}
superoffice:
  consent_purposes:
    newsletter: {name: Newsletter, key: "#Newsletter", consent_text: Monthly news, active: true, rank: 3}
"""


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A tenant with managed objects, one drifted to a hostile name, one hostile unmanaged."""
    base = tmp_path_factory.mktemp("dashboard")
    settings = SandboxSettings(data_dir=base / "sandbox-data", superoffice_builtins=False)
    with RunningSandbox(settings) as running:
        (base / "manifests").mkdir()
        project = Project(base / "manifests", Sandbox(running))
        project.configure(("outreach", "superoffice"))
        project.write("purposes.yaml", PURPOSES)
        assert project.apply().code == 0
        intro = next(p for p in project.sandbox.outreach_purposes() if p["attributes"]["name"] == "Intro")
        body = {"data": {"type": "callPurpose", "id": int(intro["id"]), "attributes": {"name": HOSTILE}}}
        assert project.sandbox.outreach("PATCH", f"/callPurposes/{intro['id']}", body).status_code == 200
        made = project.sandbox.outreach("POST", "/callPurposes", {"data": {
            "type": "callPurpose", "attributes": {"name": HOSTILE + " rogue"}}})
        assert made.status_code in (200, 201)
        yield project


@pytest.fixture(scope="module")
def served(tenant: Project) -> Iterator[Served]:
    with serving(tenant.root, tenant.sandbox.env(), "--drift-every", "0.5s") as served:
        served.wait_runs(3)
        yield served


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    executable = chromium_or_skip()
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Any]:
    """A fresh context (cookies, cache, storage) in the module's Chromium, per test."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context
    finally:
        context.close()


def _history(project: Project) -> list[dict[str, Any]]:
    result = project.cli("history", str(project.root), "--format", "json")
    assert result.code == 0, result.text
    return json.loads(result.out)["runs"]  # type: ignore[no-any-return]


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def _open(browser: Any, url: str) -> Any:
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert "script-src" not in response.headers["content-security-policy"]  # no script at all
    return page


def _no_injection(page: Any) -> None:
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 0
    assert page.title().endswith("· reconciler")
    assert page.dialogs == []


def test_fleet_page_shows_the_history_numbers(served: Served, tenant: Project, browser: Any) -> None:
    page = _open(browser, served.url + "/")
    row = page.locator('#fleet tr[data-environment="default"]')
    assert row.count() == 1
    drift_id = row.get_attribute("data-drift-run")
    runs = {r["id"]: r for r in _history(tenant)}
    latest = runs[drift_id]
    # one changed (intro's name), one unmanaged, both at Outreach; SuperOffice in sync
    assert (latest["drifted"], latest["missing"], latest["unmanaged"]) == (1, 0, 1)
    outreach = row.locator('td[data-vendor="outreach"]')
    assert outreach.get_attribute("data-state") == "drifted"
    assert outreach.get_attribute("data-drift") == "2"
    assert row.locator('td[data-vendor="superoffice"]').get_attribute("data-state") == "in sync"
    assert row.locator("td[data-total]").inner_text() == str(
        latest["drifted"] + latest["missing"] + latest["unmanaged"])
    listed = page.locator("#runs tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert listed and all(run_id in runs for run_id in listed)
    _no_injection(page)
    _shot(page, "fleet")


def test_environment_page_escapes_hostile_values_and_charts_every_run(
        served: Served, tenant: Project, browser: Any) -> None:
    page = _open(browser, served.url + "/environments/default?days=1")
    drifted = page.locator("#drifted")
    text = drifted.inner_text()
    assert HOSTILE in text  # the vendor's value, shown as text
    assert "outreach.call_purpose.intro" in text
    _no_injection(page)
    points = page.locator("svg.chart circle.point").evaluate_all(
        "cs => cs.map(c => c.dataset.started)")
    assert len(points) == len(set(points)) >= 3
    newest = max(points)
    drift_runs = [r["started_at"] for r in _history(tenant)
                  if r["kind"] == "drift" and r["started_at"] <= newest]
    assert sorted(points) == sorted(drift_runs)  # one point per drift run, no more, no fewer
    _shot(page, "environment")


def test_run_and_address_pages(served: Served, tenant: Project, browser: Any) -> None:
    runs = _history(tenant)
    drift = next(r for r in runs if r["kind"] == "drift")
    page = _open(browser, served.url + f"/runs/{drift['id']}")
    changes = page.locator("#changes > tbody > tr")
    assert changes.count() == len(drift["changes"])
    assert HOSTILE in page.locator("#changes").inner_text()
    _no_injection(page)
    _shot(page, "run")

    apply = next(r for r in runs if r["kind"] == "apply")
    page = _open(browser, served.url + "/addresses/outreach.call_purpose.intro")
    rows = page.locator("#address-history > tbody > tr[data-run]")
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert apply["id"] in shown and drift["id"] in shown
    _no_injection(page)
    _shot(page, "address")

    page = _open(browser, served.url + "/runs")
    assert page.locator("#runs tbody tr").count() >= 4  # the apply and the drifts
    _shot(page, "runs")
