"""Every Outreach sandbox error path reaches the user as one clear line and exit 1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reconciler.errors import VendorError
from reconciler.providers.outreach.provider import (
    MEDIA_TYPE,
    CallPurposeKind,
    OutreachProvider,
    OutreachSettings,
)
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from tests.conftest import Project, Sandbox

ONE = """\
outreach:
  call_purposes:
    initial_contact:
      name: Intro
      order: 1
"""


def test_bad_token_is_a_clear_error(project: Project) -> None:
    project.write("purposes/outreach.yaml", ONE)
    result = project.plan(env={"OUTREACH_TOKEN": "wrong-token-value"})
    assert result.code == 1
    assert "outreach refused the request (HTTP 401 [unauthorized])" in result.err
    assert "Traceback" not in result.text and "wrong-token-value" not in result.text


@pytest.fixture
def sandbox_settings(tmp_path: Path) -> SandboxSettings:
    return SandboxSettings(data_dir=tmp_path / "data", outreach_name_max=10, superoffice_builtins=False)


def test_vendor_validation_error_names_address_and_pointer(project: Project) -> None:
    project.write("purposes/outreach.yaml", ONE.replace("Intro", "A name longer than ten"))
    result = project.apply()
    assert result.code == 1
    assert ("outreach.call_purpose.initial_contact: outreach refused the request (HTTP 422 [validationError]): "
            "Validation Error: name is too long (maximum is 10 characters): at /data/attributes/name") in result.err
    assert "Traceback" not in result.text


@contextmanager
def throttled_project(tmp_path: Path, limit: int, window_s: float, attempts: int) -> Iterator[Project]:
    with RunningSandbox(SandboxSettings(data_dir=tmp_path / "d", outreach_rate_limit=limit,
                                        outreach_rate_window_s=window_s, superoffice_builtins=False)) as running:
        root = tmp_path / "m"
        root.mkdir()
        project = Project(root, Sandbox(running))
        project.extra_provider_settings["outreach"] = f"    max_attempts: {attempts}\n"
        project.configure()
        yield project


def test_throttling_is_retried_honouring_retry_after(tmp_path: Path) -> None:
    with throttled_project(tmp_path, limit=4, window_s=0.5, attempts=8) as project:
        project.write("purposes/many.yaml", "outreach:\n  call_purposes:\n" + "".join(
            f"    p{i}: {{name: Purpose {i}, order: {i}}}\n" for i in range(12)))
        result = project.apply()
        assert result.code == 0, result.text
        assert sorted(p["attributes"]["order"] for p in project.sandbox.outreach_purposes()) == list(range(12))


def test_rate_limit_exhausted_surfaces_after_retries(tmp_path: Path) -> None:
    with throttled_project(tmp_path, limit=1, window_s=60, attempts=1) as project:
        project.write("p.yaml", ONE)
        assert project.plan().code == 2
        result = project.plan()
        assert result.code == 1
        assert "outreach refused the request (HTTP 429 [rateLimitExceeded]): Rate Limit Exceeded" in result.err


def _kind(sandbox_url: str, token: str, content_type: str) -> tuple[OutreachProvider, CallPurposeKind]:
    provider = OutreachProvider(OutreachSettings(base_url=sandbox_url, token=token))
    provider.client.http.headers["Content-Type"] = content_type
    kind = provider.kind_objects["call_purpose"]
    assert isinstance(kind, CallPurposeKind)
    return provider, kind


def test_wrong_content_type_gives_415_message(project: Project) -> None:
    o = project.sandbox.overrides["outreach"]

    async def run() -> VendorError:
        provider, kind = _kind(o["base_url"], o["token"], "application/json")
        try:
            await kind.create({"name": "x", "order": 1})
        except VendorError as exc:
            return exc
        finally:
            await provider.aclose()
        raise AssertionError("no error")

    error = asyncio.run(run())
    assert error.status == 415 and error.code == "unsupportedMediaType"
    assert "Content-Type must be application/vnd.api+json" in str(error)


def test_missing_object_reads_as_none_and_delete_of_gone_object_succeeds(project: Project) -> None:
    o = project.sandbox.overrides["outreach"]

    async def run() -> None:
        provider, kind = _kind(o["base_url"], o["token"], MEDIA_TYPE)
        try:
            assert await kind.read("999") is None
            await kind.delete("999", kind.delete_modes[0], None)
        finally:
            await provider.aclose()

    asyncio.run(run())


def test_saved_plan_refused_when_object_vanished(project: Project) -> None:
    project.write("p.yaml", ONE)
    assert project.apply().code == 0
    project.write("p.yaml", ONE.replace("order: 1", "order: 5"))
    plan_file = project.root.parent / "p.plan"
    assert project.plan("--out", str(plan_file)).code == 2
    remote_id = project.state()["resources"]["outreach.call_purpose.initial_contact"]["remote_id"]
    assert project.sandbox.outreach("DELETE", f"/callPurposes/{remote_id}").status_code == 204
    result = project.cli("apply", str(plan_file))
    assert result.code == 1
    assert "is gone since the plan was made" in result.err
