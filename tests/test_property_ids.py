"""Property (issue 21): whatever ids and names a vendor hands out -- Unicode, path characters,
names that begin like a credential, ids that are not ids -- every request goes to one of the
kind's own paths, and create -> state -> plan -> update -> delete converges (the plan after
each apply is empty).

A recording Outreach (`tests/hostile_vendor.py`, mode "recording") keeps the objects and
answers each create with the id the example drew. The CLI runs in-process (Typer's runner,
as tests/test_properties.py does); Hypothesis is derandomized with a small budget.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.hostile_vendor import HostileVendor
from tests.test_properties import TOKENS, run

SETTINGS = settings(derandomize=True, max_examples=12, deadline=None, database=None,
                    phases=(Phase.explicit, Phase.generate),  # a failure is shown, not shrunk
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
OWN = re.compile(r"/api/v2/callPurposes(/[1-9][0-9]*)?")
TOKEN = TOKENS["OUTREACH_TOKEN"]

GOOD_IDS = st.integers(min_value=1, max_value=2**53) | st.integers(1, 10**6).map(str)
BAD_IDS = st.sampled_from(["../../../admin/users/1", "1?filter=all", "1#x", "..", "1/2",
                           " 1", "01", "-1", "1e3", "%2e%2e", "\uff11"]) | st.floats() | st.booleans()
NAMES = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=24),
    st.sampled_from(["../x", "a/b", "?q=1", "#frag", "%2F", "é", "e\u0301", "Ⅻ", "名前"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), max_size=8).map(
        lambda rest: TOKEN[:9] + rest),  # begins like the credential
).filter(lambda n: n.strip() == n and n.strip() and TOKEN not in n)


def manifest(name: str, order: int | None) -> str:
    attributes: dict[str, Any] = {"name": name.replace("$", "$$")}
    if order is not None:
        attributes["order"] = order
    body = {"outreach": {"call_purposes": {"p": attributes}}} if order is not None else \
        {"outreach": {"call_purposes": {}}}
    return json.dumps(body, ensure_ascii=False)  # JSON is YAML; quotes and backslashes escaped


@pytest.fixture(scope="module")
def vendor() -> Iterator[HostileVendor]:
    with HostileVendor("recording", options={"store": {}, "ids": []}) as server:
        yield server


def project(root: Path, url: str) -> None:
    (root / "reconciler.yaml").write_text(
        "state:\n  backend: local\n  path: state/default.json\n"
        f"providers:\n  outreach:\n    base_url: {url}/api/v2\n    token: ${{OUTREACH_TOKEN}}\n"
        "    max_attempts: 1\n")


@SETTINGS
@given(name=NAMES, remote_id=GOOD_IDS | BAD_IDS, order=st.integers(0, 1000))
def test_vendor_ids_and_names_never_steer_a_request(vendor: HostileVendor, name: str,
                                                    remote_id: Any, order: int) -> None:
    vendor.options.update(store={}, ids=[remote_id])
    vendor.requests.clear()
    valid = not isinstance(remote_id, bool | float) and re.fullmatch(
        r"[1-9][0-9]*", str(remote_id)) is not None
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        project(root, vendor.url)
        (root / "p.yaml").write_text(manifest(name, order))
        code, out = run("apply", str(root), "--auto-approve")
        if not valid:
            assert code == 1 and "which is not an Outreach id" in out, out
            state = root / "state" / "default.json"
            assert not state.exists() or not json.loads(state.read_text())["resources"]
        else:
            assert code == 0, out
            recorded = json.loads((root / "state" / "default.json").read_text())["resources"]
            assert [r["attributes"]["name"] for r in recorded.values()] == [name]
            assert run("plan", str(root), "--detailed-exitcode")[0] == 0  # converged
            (root / "p.yaml").write_text(manifest(name, order + 1))
            assert run("apply", str(root), "--auto-approve")[0] == 0
            assert run("plan", str(root), "--detailed-exitcode")[0] == 0
            (root / "p.yaml").write_text(manifest(name, None))
            assert run("apply", str(root), "--auto-approve")[0] == 0
            assert vendor.options["store"] == {}
            assert run("plan", str(root), "--detailed-exitcode")[0] == 0
    for seen in vendor.requests:
        assert OWN.fullmatch(seen.path), f"{seen.method} {seen.path}?{seen.query}"
        assert seen.query in ("", "page%5Bsize%5D=1000&count=false"), seen.query
