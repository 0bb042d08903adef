"""`reconciler init`: a scaffold that validates, plans against the sandboxes, and is safe to
run twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
from pydantic import Field
from ruamel.yaml import YAML

from reconciler import SCHEMA_BASE_URL
from reconciler.authoring.fmt import format_paths
from reconciler.authoring.scaffold import (
    connection_settings,
    required_variables,
    scaffold,
    write_scaffold,
)
from reconciler.authoring.schema import config_schema, manifest_schema
from reconciler.errors import ConfigError
from reconciler.providers.base import Kind, Provider, ProviderSettings, RemoteObject, Schema
from reconciler.providers.http import VendorClient
from reconciler.providers.registry import BUILTIN
from tests.conftest import Sandbox, run_cli

MODELINE = "# yaml-language-server: $schema="


def test_init_writes_a_directory_that_validates_and_plans_against_the_sandboxes(
        tmp_path: Path, sandbox: Sandbox) -> None:
    root = tmp_path / "new"
    result = run_cli("init", str(root))
    assert result.code == 0, result.text
    for name in ("reconciler.yaml", "purposes/outreach.yaml", "purposes/webex_campaign.yaml",
                 "purposes/superoffice.yaml", ".gitignore"):
        assert f"Wrote {root / name}" in result.out, name
    assert not (root / ".reconciler").exists()  # schemas referenced by $id, never copied
    assert "OUTREACH_TOKEN" in result.out and f"reconciler plan {root} --sandbox" in result.out
    config = (root / "reconciler.yaml").read_text()
    for line in ("token: ${OUTREACH_TOKEN}", "base_url: ${OUTREACH_BASE_URL:-https://api.outreach.io/api/v2}",
                 "tenant_url: ${WEBEX_CAMPAIGN_TENANT_URL}", "token: ${SUPEROFFICE_TOKEN}"):
        assert line in config
    assert "/state/" in (root / ".gitignore").read_text().splitlines()

    validated = run_cli("validate", str(root), env=sandbox.env())
    assert validated.code == 0, validated.text
    planned = run_cli("plan", str(root), "--detailed-exitcode", env=sandbox.env())
    assert planned.code == 2, planned.text
    assert "Plan: 4 to add, 0 to change, 0 to destroy" in planned.out
    assert sandbox.writes() == 0

    again = run_cli("init", str(root), "--vendor", "outreach")
    assert again.code == 1
    assert "would overwrite reconciler.yaml, purposes/outreach.yaml" in again.err
    assert "--force" in again.err


def test_the_scaffold_follows_its_schemas_and_is_formatted(tmp_path: Path) -> None:
    write_scaffold(tmp_path, scaffold(registry=BUILTIN), force=False)
    schemas = {"manifest": manifest_schema(BUILTIN), "config": config_schema(BUILTIN)}
    for path in [tmp_path / "reconciler.yaml", *sorted((tmp_path / "purposes").glob("*.yaml"))]:
        text = path.read_text()
        kind = "config" if path.name == "reconciler.yaml" else "manifest"
        schema_url = text.splitlines()[0].removeprefix(MODELINE)
        assert schema_url == schemas[kind]["$id"] == f"{SCHEMA_BASE_URL}{kind}.schema.json"
        jsonschema.validate(YAML(typ="safe").load(text), schemas[kind])
    report = format_paths(tmp_path, write=False, registry=BUILTIN)
    assert report.changed == [] and report.problems == []


def test_force_overwrites_and_gitignore_is_appended_to(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.pyc")
    (tmp_path / "reconciler.yaml").write_text("# mine\n")
    files = scaffold(["outreach"], registry=BUILTIN)
    with pytest.raises(ConfigError, match=r"would overwrite reconciler\.yaml;"):
        write_scaffold(tmp_path, files, force=False)
    assert (tmp_path / "reconciler.yaml").read_text() == "# mine\n"
    write_scaffold(tmp_path, files, force=True)
    assert "outreach:" in (tmp_path / "reconciler.yaml").read_text()
    assert not (tmp_path / "purposes" / "superoffice.yaml").exists()
    gitignore = (tmp_path / ".gitignore").read_text()
    assert gitignore.startswith("*.pyc\n") and gitignore.count("/state/") == 1
    write_scaffold(tmp_path, files, force=True)
    assert (tmp_path / ".gitignore").read_text() == gitignore  # not appended twice


def test_vendor_choice_backend_and_typos(tmp_path: Path) -> None:
    files = {f.path: f.text for f in scaffold(["webex_campaign"], "postgres", registry=BUILTIN)}
    assert set(files) == {"reconciler.yaml", "purposes/webex_campaign.yaml", ".gitignore"}
    assert "backend: postgres" in files["reconciler.yaml"] and "outreach" not in files["reconciler.yaml"]
    with pytest.raises(ConfigError, match="unknown vendor 'webex' — did you mean 'webex_campaign'"):
        scaffold(["webex"], registry=BUILTIN)
    assert required_variables(["superoffice"], BUILTIN) == ["SUPEROFFICE_BASE_URL", "SUPEROFFICE_TOKEN"]


class WidgetSettings(ProviderSettings):
    endpoint_url: str = Field("https://widgets.example/api", description="API root")
    api_key: str = Field(min_length=1, description="The key")
    region: str = Field("eu", description="Not needed to connect")


class Widget(Schema):
    """A widget."""

    label: str = Field(max_length=10, description="What it says")
    size: int | None = Field(None, description="How big")


class WidgetKind(Kind):
    vendor = "widgets"
    name = "widget"
    collection = "widgets"
    schema = Widget
    natural_key = "label"

    async def list(self) -> list[RemoteObject]:
        return []

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        raise NotImplementedError

    async def update(self, remote_id: str, attributes: dict[str, Any], changed: frozenset[str],
                     current: RemoteObject | None) -> RemoteObject:
        raise NotImplementedError


class WidgetProvider(Provider):
    name = "widgets"
    settings_model = WidgetSettings
    kinds: ClassVar[tuple[type[Kind], ...]] = (WidgetKind,)

    def make_client(self, settings: ProviderSettings) -> VendorClient:
        raise NotImplementedError


def test_a_provider_without_a_curated_example_gets_a_template(tmp_path: Path) -> None:
    registry = {**BUILTIN, "widgets": WidgetProvider}
    assert connection_settings("widgets", WidgetProvider) == {
        "endpoint_url": "${WIDGETS_ENDPOINT_URL:-https://widgets.example/api}",
        "api_key": "${WIDGETS_API_KEY}"}
    files = {f.path: f.text for f in scaffold(["widgets"], registry=registry)}
    example = files["purposes/widgets.yaml"]
    assert "  widgets: {}\n" in example and "#     label:   # required; What it says" in example
    schema = manifest_schema(registry)
    jsonschema.validate(YAML(typ="safe").load(example), schema)
    assert "widgets" in schema["properties"]
