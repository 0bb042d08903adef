"""The JSON Schemas: built from the models, committed, used by the examples, and in
agreement with the loader on what a manifest may hold."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from reconciler.authoring.schema import config_schema, manifest_schema
from reconciler.cli.app import app
from reconciler.errors import ManifestError
from reconciler.manifest import source as yamlsource
from reconciler.manifest.loader import load_desired, manifest_files
from reconciler.manifest.settings import load_settings
from reconciler.providers.registry import BUILTIN
from tests.conftest import REPO

MODELINE = "# yaml-language-server: $schema="
CONFIG = """\
providers:
  outreach: {base_url: "http://127.0.0.1:1", token: t}
  superoffice: {base_url: "http://127.0.0.1:1", token: t}
  webex_campaign: {base_url: "http://127.0.0.1:1", tenant_url: "http://127.0.0.1:1", token: t}
"""


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return manifest_schema(BUILTIN)


def validator(schema: dict[str, Any]) -> jsonschema.Draft7Validator:
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def test_the_schema_carries_descriptions_enums_and_limits(schema: dict[str, Any]) -> None:
    outreach = schema["properties"]["outreach"]["properties"]["call_purposes"]
    assert outreach["propertyNames"] == {"pattern": "^[a-z0-9][a-z0-9_-]*$"}
    purpose = outreach["additionalProperties"]
    assert purpose["properties"]["name"]["maxLength"] == 255
    assert "Outreach `name`" in purpose["properties"]["name"]["description"]
    assert purpose["required"] == ["name"]
    assert list(purpose["properties"])[-4:] == ["ignore_changes", "prevent_destroy", "on_delete",
                                                "environments"]
    assert purpose["properties"]["ignore_changes"]["items"]["enum"] == ["name", "order"]
    consent = schema["properties"]["superoffice"]["properties"]["consent_purposes"]["additionalProperties"]
    assert consent["properties"]["on_delete"]["anyOf"][0]["enum"] == ["delete", "deactivate"]
    webex = schema["properties"]["webex_campaign"]["properties"]["purposes"]["additionalProperties"]
    assert webex["properties"]["on_delete"]["type"] == "null"  # no delete API: nothing to choose
    # like the loader, nothing unknown anywhere: every object schema closes its properties
    for node in walk(schema):
        if node.get("type") == "object" and "properties" in node:
            assert node["additionalProperties"] is False, node.get("description")
    assert schema["additionalProperties"] is False


def test_the_config_schema_has_every_provider_setting_and_accepts_variables() -> None:
    schema = config_schema(BUILTIN)
    check = validator(schema)
    outreach = schema["properties"]["providers"]["properties"]["outreach"]
    assert "required" not in outreach  # token, or refresh_token with its application
    assert "page_size" in outreach["properties"] and "refresh_token" in outreach["properties"]
    good = {"state": {"backend": "local", "path": "state/x.json"},
            "providers": {"outreach": {"token": "${OUTREACH_TOKEN}", "concurrency": "${CONC:-4}",
                                       "ignore_changes": {"call_purposes": ["order"]}}}}
    assert not list(check.iter_errors(good))
    for bad in ({"providers": {"outreach": {"token": "t", "concurency": 4}}},
                {"providers": {"outreach": {"token": "t", "concurrency": "lots"}}},
                {"providers": {"outreach": {"token": "t", "ignore_changes": {"call_purposes": ["ordr"]}}}},
                {"providers": {"outreech": {"token": "t"}}},
                {"provider": {}}):
        assert list(check.iter_errors(bad)), bad


def example_manifests() -> list[Path]:
    found = []
    for config in sorted((REPO / "examples").rglob("reconciler.yaml")):
        found += [config, *manifest_files(config.parent)]
    return found


def test_every_example_manifest_names_the_schema_and_validates(schema: dict[str, Any]) -> None:
    checks = {"manifest": validator(schema), "config": validator(config_schema(BUILTIN))}
    files = example_manifests()
    assert len(files) >= 4
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(MODELINE), f"{path}: first line must be the yaml-language-server modeline"
        target = (path.parent / first.removeprefix(MODELINE)).resolve()
        kind = "config" if path.name == "reconciler.yaml" else "manifest"
        assert target == REPO / "schema" / f"{kind}.schema.json", path
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))  # as the editor sees it
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in checks[kind].iter_errors(data)]
        assert not errors, f"{path}: {errors}"


# Each document is a whole manifest file; the loader runs with every vendor configured.
AGREE: list[tuple[str, bool, str]] = [
    ("minimal", True, "outreach: {call_purposes: {a: {name: A}}}"),
    ("every-field", True, """\
        outreach:
          call_purposes:
            follow-up_2:
              name: Follow Up
              order: 0
              ignore_changes: [order]
              prevent_destroy: true
              on_delete: delete
        """),
    ("null-optional", True, "outreach: {call_purposes: {a: {name: A, on_delete: null}}}"),
    ("null-order", True, "outreach: {call_purposes: {a: {name: A, order: null}}}"),  # nullable
    ("empty-collection", True, "outreach: {call_purposes: {}}"),
    ("empty-document-mapping", True, "{}"),
    ("superoffice", True, """\
        superoffice:
          consent_purposes:
            news: {name: News, key: "#News", active: false, rank: 3, on_delete: deactivate,
                   privacy_statement_url: "https://example.com/p"}
        """),
    ("webex", True, """\
        webex_campaign:
          purposes: {m: {name: M, group: sales, description: x}}
          datastore_records:
            seed: {datastore_id: "1", feed_id: "2", records: [{msisdn: "+4412", name: Jo}]}
        """),
    ("unknown-vendor", False, "outreech: {call_purposes: {}}"),
    ("unknown-collection", False, "outreach: {call_purpose: {}}"),
    ("unknown-field", False, "outreach: {call_purposes: {a: {name: A, ordr: 1}}}"),
    ("missing-required", False, "outreach: {call_purposes: {a: {order: 1}}}"),
    ("too-long", False, f"outreach: {{call_purposes: {{a: {{name: {'x' * 256}}}}}}}"),
    ("empty-name", False, "outreach: {call_purposes: {a: {name: ''}}}"),
    ("below-minimum", False, "outreach: {call_purposes: {a: {name: A, order: -1}}}"),
    ("above-int32", False, "superoffice: {consent_purposes: {a: {name: A, rank: 2147483648}}}"),
    ("above-uint16", False, "superoffice: {consent_purposes: {a: {name: A, rank: 65536}}}"),
    ("negative-rank", False, "superoffice: {consent_purposes: {a: {name: A, rank: -3}}}"),
    ("string-for-int", False, "outreach: {call_purposes: {a: {name: A, order: '1'}}}"),
    ("int-for-string", False, "outreach: {call_purposes: {a: {name: 123}}}"),
    ("string-for-bool", False, "superoffice: {consent_purposes: {a: {name: A, active: 'true'}}}"),
    ("upper-case-key", False, "outreach: {call_purposes: {Intro: {name: A}}}"),
    ("key-starts-with-underscore", False, "outreach: {call_purposes: {_a: {name: A}}}"),
    ("vendor-null", True, "outreach:"),  # nothing declared, like {} (issue 24)
    ("collection-null", True, "outreach: {call_purposes: }"),
    ("collection-list", False, "outreach: {call_purposes: [a]}"),
    ("object-null", False, "outreach: {call_purposes: {a: }}"),
    ("top-level-list", False, "- outreach"),
    ("on-delete-unsupported-by-kind", False, "outreach: {call_purposes: {a: {name: A, on_delete: deactivate}}}"),
    ("on-delete-no-delete-api", False, "webex_campaign: {purposes: {a: {name: A, on_delete: delete}}}"),
    ("on-delete-unknown", False, "superoffice: {consent_purposes: {a: {name: A, on_delete: archive}}}"),
    ("ignore-unknown-field", False, "outreach: {call_purposes: {a: {name: A, ignore_changes: [ordr]}}}"),
    ("ignore-not-a-list", False, "outreach: {call_purposes: {a: {name: A, ignore_changes: order}}}"),
    ("prevent-destroy-string", False, "outreach: {call_purposes: {a: {name: A, prevent_destroy: 'yes'}}}"),
    ("records-empty", False, "webex_campaign: {datastore_records: {s: {datastore_id: '1', feed_id: '2', records: []}}}"),
    ("record-value-number", False, "webex_campaign: {datastore_records: {s: {datastore_id: '1', feed_id: '2', records: [{msisdn: 4412}]}}}"),
    ("record-empty-field-name", False, "webex_campaign: {datastore_records: {s: {datastore_id: '1', feed_id: '2', records: [{'': x}]}}}"),
]

# What a JSON Schema cannot express: the schema accepts, the loader refuses (see schema.py).
SCHEMA_IS_LOOSER: list[tuple[str, str]] = [
    ("blank-name-validator", "webex_campaign: {purposes: {a: {name: '   '}}}"),
    ("url-validator", "superoffice: {consent_purposes: {a: {name: A, privacy_statement_url: nope}}}"),
    ("record-size-validator", "webex_campaign: {datastore_records: {s: {datastore_id: '1', feed_id: '2', "
                              f"records: [{{note: {'x' * 70000}}}]}}}}}}"),
    ("duplicate-natural-key", "outreach: {call_purposes: {a: {name: Same}, b: {name: Same}}}"),
    ("json-thinks-1.0-is-an-integer", "outreach: {call_purposes: {a: {name: A, order: 1.0}}}"),
]


def loader_accepts(root: Path, text: str) -> tuple[bool, str]:
    root.mkdir()
    (root / "reconciler.yaml").write_text(CONFIG)
    (root / "p.yaml").write_text(textwrap.dedent(text) + "\n")
    try:
        load_desired(load_settings(root, env={}), env={})
    except ManifestError as exc:
        return False, str(exc)
    return True, ""


def schema_accepts(check: jsonschema.Draft7Validator, root: Path, text: str) -> tuple[bool, str]:
    data = yamlsource.load(root / "p.yaml", "p.yaml", {}).data
    errors = list(check.iter_errors(data))
    return not errors, "; ".join(e.message[:120] for e in errors)


@pytest.mark.parametrize(("name", "valid", "text"), AGREE, ids=[a[0] for a in AGREE])
def test_schema_and_loader_agree(name: str, valid: bool, text: str, tmp_path: Path,
                                 schema: dict[str, Any]) -> None:
    loader, why_loader = loader_accepts(tmp_path / "m", text)
    in_schema, why_schema = schema_accepts(validator(schema), tmp_path / "m", text)
    assert (loader, in_schema) == (valid, valid), f"loader: {why_loader!r} schema: {why_schema!r}"


@pytest.mark.parametrize(("name", "text"), SCHEMA_IS_LOOSER, ids=[a[0] for a in SCHEMA_IS_LOOSER])
def test_what_only_the_loader_can_check(name: str, text: str, tmp_path: Path,
                                        schema: dict[str, Any]) -> None:
    loader, _ = loader_accepts(tmp_path / "m", text)
    in_schema, why = schema_accepts(validator(schema), tmp_path / "m", text)
    assert in_schema and not loader, f"now caught by the schema too ({why}): move it to AGREE"


def test_the_schema_command_writes_both_schemas(tmp_path: Path) -> None:
    out = tmp_path / "out" / "m.json"
    result = CliRunner().invoke(app, ["schema", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == manifest_schema()
    result = CliRunner().invoke(app, ["schema", "--config"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == config_schema()


def test_a_key_ending_in_a_newline_is_refused(tmp_path: Path) -> None:
    accepted, _ = loader_accepts(tmp_path / "m", 'outreach: {call_purposes: {"a\\n": {name: A}}}')
    assert not accepted
