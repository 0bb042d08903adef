"""The generated reference and schemas: complete, and committed up to date."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from reconciler.authoring.docs import REGENERATE, manifest_reference, stale
from reconciler.cli.app import app
from reconciler.providers.base import ProviderSettings
from reconciler.providers.registry import BUILTIN
from tests.conftest import REPO


def test_the_committed_reference_and_schemas_are_up_to_date() -> None:
    outdated = stale(REPO)
    assert not outdated, (f"{', '.join(outdated)} out of date with the models; regenerate with "
                          f"`.venv/bin/{REGENERATE}` and commit the result")


def test_the_reference_covers_every_vendor_kind_field_and_setting() -> None:
    text = manifest_reference(BUILTIN)
    for field in ("ignore_changes", "prevent_destroy", "on_delete", "backend", "workspace",
                  *ProviderSettings.model_fields):
        assert f"| `{field}` |" in text, field
    for vendor, provider in BUILTIN.items():
        assert f"## `{vendor}`" in text
        for field in provider.settings_model.model_fields:
            assert f"| `{field}` |" in text, (vendor, field)
        for kind in provider.kinds:
            section = re.split(r"\n##+ ", text.split(f"### `{vendor}.{kind.name}`", 1)[1], maxsplit=1)[0]
            assert f"`{vendor}.{kind.name}.<key>`" in section
            assert f"`{kind.collection}:`" in section
            for field in kind.schema.model_fields:
                assert f"| `{field}` |" in section, (vendor, kind.name, field)
            for vendor_field in kind.read_only:
                assert f"`{vendor_field}`" in section
            assert ("write-only" in section) != kind.observable
    assert "| `name` | string | **required** | 1 to 255 characters | Display name (Outreach `name`" in text


def test_the_docs_command_prints_the_reference() -> None:
    result = CliRunner().invoke(app, ["docs"])
    assert result.exit_code == 0, result.output
    assert result.stdout == manifest_reference()
