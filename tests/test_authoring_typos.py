"""A typo gets the closest name: purpose fields, collections, vendors, settings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest.loader import load_desired
from reconciler.manifest.settings import load_settings

CONFIG = "providers:\n  outreach:\n    base_url: http://127.0.0.1:1\n    token: t\n"


def manifest_error(tmp_path: Path, manifest: str, config: str = CONFIG) -> str:
    (tmp_path / "reconciler.yaml").write_text(config)
    (tmp_path / "p.yaml").write_text(textwrap.dedent(manifest))
    with pytest.raises(ManifestError) as caught:
        load_desired(load_settings(tmp_path, env={}), env={})
    return str(caught.value)


def config_error(tmp_path: Path, config: str) -> str:
    (tmp_path / "reconciler.yaml").write_text(textwrap.dedent(config))
    with pytest.raises(ManifestError) as caught:
        load_settings(tmp_path, env={})
    return str(caught.value)


def test_a_purpose_field(tmp_path: Path) -> None:
    message = manifest_error(tmp_path, """\
        outreach:
          call_purposes:
            intro:
              name: Intro
              ordr: 1
        """)
    assert "p.yaml:5:7: call_purposes.intro.ordr: unknown field 'ordr' — did you mean 'order'?" in message


def test_a_collection(tmp_path: Path) -> None:
    message = manifest_error(tmp_path, "outreach:\n  call_purpose: {}\n")
    assert "p.yaml:2:3: outreach: unknown collection 'call_purpose' — did you mean 'call_purposes'?" in message


def test_a_vendor(tmp_path: Path) -> None:
    message = manifest_error(tmp_path, "outrech:\n  call_purposes: {}\n")
    assert "p.yaml:1:1: unknown vendor 'outrech' — did you mean 'outreach'?" in message


def test_a_provider_setting(tmp_path: Path) -> None:
    message = config_error(tmp_path, CONFIG + "    concurency: 4\n")
    assert "reconciler.yaml:5:5: providers.outreach.concurency: unknown field 'concurency' — did you " \
           "mean 'concurrency'?" in message


def test_a_state_setting_and_a_provider_name(tmp_path: Path) -> None:
    message = config_error(tmp_path, "state:\n  backnd: local\n" + CONFIG)
    assert "state.backnd: unknown field 'backnd' — did you mean 'backend'?" in message
    message = config_error(tmp_path, CONFIG.replace("outreach:", "outreech:"))
    assert "providers: unknown vendor 'outreech' — did you mean 'outreach'?" in message


def test_a_lifecycle_field(tmp_path: Path) -> None:
    message = manifest_error(tmp_path, "outreach:\n  call_purposes:\n    a:\n      name: A\n"
                                       "      prevent_destory: true\n")
    assert "did you mean 'prevent_destroy'?" in message
