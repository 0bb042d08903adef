"""Outreach as its public references describe it (docs/vendors/outreach.md), through the CLI
against the sandbox, under every reading of each ambiguity: absolute, path-absolute or
relative `links.next`, filters that read `,` and `..` as syntax or literally, error texts
in `detail` or `details`, access tokens that expire."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.providers.sandboxes import SandboxSettings
from tests.conftest import Project

REFRESH = ("sandbox-outreach-app", "sandbox-outreach-secret", "sandbox-outreach-refresh")


@pytest.fixture
def sandbox_settings(tmp_path: Path, request: pytest.FixtureRequest) -> SandboxSettings:
    return SandboxSettings(data_dir=tmp_path / "sandbox-data", superoffice_builtins=False,
                           options={"outreach": dict(getattr(request, "param", {}))})


def names(project: Project) -> list[tuple[Any, Any]]:
    """(name, order) of every call purpose the vendor holds, by id."""
    return [(p["attributes"]["name"], p["attributes"]["order"])
            for p in sorted(project.sandbox.outreach_purposes(), key=lambda p: p["id"])]


def purposes(**orders: int) -> str:
    body = "".join(f"    p{i}:\n      name: {name}\n      order: {order}\n"
                   for i, (name, order) in enumerate(orders.items()))
    return "outreach:\n  call_purposes:\n" + body


@pytest.mark.parametrize("sandbox_settings", [{"links": "absolute"}, {"links": "path"},
                                              {"links": "relative"}], indirect=True,
                         ids=["absolute", "path", "relative"])
def test_lifecycle_over_pages_whatever_links_next_looks_like(project: Project) -> None:
    """Pages of two: apply, no-op, update through a saved plan, delete; a relative
    links.next is resolved against the page, never appended to the API root."""
    project.extra_provider_settings["outreach"] = "    page_size: 2\n"
    project.configure()
    project.write("p.yaml", purposes(A=1, B=2, C=3, D=4, E=5))
    applied = project.apply()
    assert applied.code == 0, applied.text
    assert sorted(names(project)) == [("A", 1), ("B", 2), ("C", 3), ("D", 4), ("E", 5)]
    assert project.plan().code == 0
    project.write("p.yaml", purposes(A=1, B=20, C=3, D=4))
    plan_file = project.root.parent / "change.plan"
    assert project.plan("--out", str(plan_file)).code == 2
    saved = project.cli("apply", str(plan_file))
    assert saved.code == 0, saved.text
    assert sorted(names(project)) == [("A", 1), ("B", 20), ("C", 3), ("D", 4)]
    assert project.plan().code == 0


def test_order_null_clears_the_order(project: Project) -> None:
    """`order` is nullable (the vendor's OpenAPI description): `order: null` is a value to
    declare, sent as null, and then matches."""
    project.write("p.yaml", purposes(A=5))
    assert project.apply().code == 0
    project.write("p.yaml", "outreach:\n  call_purposes:\n    p0:\n      name: A\n"
                            "      order: null\n")
    planned = project.plan()
    assert planned.code == 2 and "order: 5 -> null" in planned.out, planned.text
    assert project.apply().code == 0
    assert names(project) == [("A", None)]
    assert project.plan().code == 0


@pytest.mark.parametrize("sandbox_settings", [
    {"filter_syntax": "outreach", "drop_creates": ["Sales, EMEA", "Q1..Q3"]},
    {"filter_syntax": "literal", "drop_creates": ["Sales, EMEA", "Q1..Q3"]}], indirect=True, ids=["syntax", "literal"])
def test_a_lost_create_is_adopted_only_by_exact_name(project: Project) -> None:
    """`Sales, EMEA` and `Q1..Q3` are created, but the answers are lost: the lookup that
    follows must find them exactly, not `Sales` or `Q2` that a filter would match."""
    for name in ("Sales", " EMEA", "Q2"):
        made = project.sandbox.outreach("POST", "/callPurposes", {
            "data": {"type": "callPurpose", "attributes": {"name": name}}})
        assert made.status_code == 201
    project.write("p.yaml", 'outreach:\n  call_purposes:\n    emea:\n      name: "Sales, EMEA"\n'
                            '    quarter:\n      name: Q1..Q3\n')
    applied = project.apply()
    assert applied.code == 0, applied.text
    assert sorted(n for n, _ in names(project)) == [" EMEA", "Q1..Q3", "Q2", "Sales",
                                                    "Sales, EMEA"]
    by_id = {str(p["id"]): p["attributes"]["name"] for p in project.sandbox.outreach_purposes()}
    state = project.state()["resources"]
    assert by_id[state["outreach.call_purpose.emea"]["remote_id"]] == "Sales, EMEA"
    assert by_id[state["outreach.call_purpose.quarter"]["remote_id"]] == "Q1..Q3"
    assert project.plan().code == 0


@pytest.mark.parametrize("sandbox_settings", [{"error_field": "detail", "name_max": 5},
                                              {"error_field": "details", "name_max": 5}],
                         indirect=True, ids=["detail", "details"])
def test_the_vendors_error_text_is_shown_from_detail_or_details(project: Project) -> None:
    project.write("p.yaml", purposes(Longer=1))
    result = project.apply()
    assert result.code == 1
    assert "name is too long (maximum is 5 characters)" in result.text, result.text


@pytest.mark.parametrize("sandbox_settings", [{"token_uses": 2}, {"token_uses": 0}],
                         indirect=True, ids=["expires-after-2-requests", "lasts-the-run"])
def test_a_run_starts_from_a_refresh_token_and_renews_on_401(
        project: Project, sandbox_settings: SandboxSettings) -> None:
    env = project.sandbox.env()
    client_id, secret, refresh = REFRESH
    (project.root / "reconciler.yaml").write_text(
        "state:\n  backend: local\n  path: state/default.json\nproviders:\n  outreach:\n"
        f"    base_url: {env['OUTREACH_BASE_URL']}\n    token_endpoint: {env['OUTREACH_TOKEN_ENDPOINT']}\n"
        "    refresh_token: ${OR_REFRESH}\n    client_id: ${OR_ID}\n"
        "    client_secret: ${OR_SECRET}\n    page_size: 1\n"
        "    concurrency: 1\n")  # a token expiring after N calls needs calls in order
    creds = {"OR_REFRESH": refresh, "OR_ID": client_id, "OR_SECRET": secret}
    project.write("p.yaml", purposes(A=1, B=2, C=3))
    applied = project.apply(env=creds)
    assert applied.code == 0, applied.text
    assert sorted(names(project)) == [("A", 1), ("B", 2), ("C", 3)]
    assert project.plan(env=creds).code == 0
    grants = project.sandbox.requests()["outreach POST"] - 3  # the rest went to token_endpoint
    expiring = sandbox_settings.options["outreach"]["token_uses"] == 2
    assert grants >= 3 if expiring else grants == 2  # else one per run
    state = (project.root / "state" / "default.json").read_text()
    for value in (secret, refresh):
        assert value not in applied.text + state


def test_the_list_asks_for_no_count(project: Project, tmp_path: Path) -> None:
    """As the Airbyte connector does: `count=false` and the largest page on the first page."""
    from tests.hostile_vendor import HostileVendor

    project.write("p.yaml", purposes(a=1))
    with HostileVendor("ok") as vendor:
        result = project.plan(env={"OUTREACH_BASE_URL": vendor.url + "/api/v2"})
    assert result.code == 2, result.text
    first = next(r for r in vendor.requests if r.path.endswith("/callPurposes"))
    assert "count=false" in first.query and "page%5Bsize%5D=1000" in first.query, first.query
