"""Start-up: `reconciler --help` imports nothing it does not print, and a command line builds
the options of the one command it runs, not of all of them (issue 23). No timings here: what
is loaded and what is built, which is what the time follows (bench/startup.py times it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from reconciler.cli.app import command
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parent.parent
# What no command list needs: I/O, data formats, the engine and everything under it.
NOT_FOR_HELP = ("socket", "logging", "tempfile", "json", "html", "httpx", "pydantic",
                "rich", "ruamel", "yaml", "psycopg", "reconciler.engine", "reconciler.manifest",
                "reconciler.providers", "reconciler.state", "reconciler.plan")


def imported(*args: str) -> set[str]:
    """The modules a fresh `python -m reconciler *args` imports (-X importtime's list)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "reconciler", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120, check=True)
    return {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:")}


def test_help_imports_nothing_it_does_not_print() -> None:
    modules = imported("--help")
    loaded = sorted(m for m in modules
                    if any(m == n or m.startswith(f"{n}.") for n in NOT_FOR_HELP))
    assert not loaded, f"reconciler --help imports {loaded}"


# A command's own help also lists the options vendors add to it (the vendor registry), but
# reads no manifest and checks no value.
NOT_FOR_COMMAND_HELP = ("httpx", "pydantic", "rich", "ruamel", "yaml", "psycopg",
                        "reconciler.engine", "reconciler.manifest", "reconciler.state")


@pytest.mark.parametrize("args", [("plan", "--help"), ("state", "--help"), ("state", "mv", "-h")])
def test_a_commands_help_checks_no_value(args: tuple[str, ...]) -> None:
    """Typer coerces a flag left at None (-h, --install-completion) through a pydantic
    TypeAdapter: importing pydantic for it would be most of the time help takes."""
    modules = imported(*args)
    loaded = sorted(m for m in modules
                    if any(m == n or m.startswith(f"{n}.") for n in NOT_FOR_COMMAND_HELP))
    assert not loaded, f"reconciler {' '.join(args)} imports {loaded}"


def test_validate_opens_no_connection_machinery() -> None:
    """validate reads manifests and settings only: the HTTP stack below httpx's API (httpcore,
    h11, anyio; the vendor clients' lanes) is loaded where a client is made."""
    modules = imported("validate", "examples/quickstart")
    assert "reconciler.manifest.loader" in modules  # it validated
    loaded = sorted(m for m in modules if m.split(".")[0] in ("httpcore", "h11", "anyio")
                    or m.startswith("reconciler.providers.lanes"))
    assert not loaded, f"reconciler validate imports {loaded}"


@pytest.mark.parametrize(("args", "built"), [
    (("--help",), []),
    (("validate", "--help"), ["validate"]),
    (("state", "mv", "--help"), ["mv"]),
    (("envs", "examples/quickstart"), ["envs"]),
])
def test_only_the_command_that_runs_is_built(monkeypatch: pytest.MonkeyPatch,
                                             args: tuple[str, ...], built: list[str]) -> None:
    """Typer builds a command's options from its signature (every annotation evaluated):
    the list of commands needs names and first lines of help only."""
    seen: list[str] = []
    build = typer.main.get_command_from_info

    def recorded(command_info: Any, **kwargs: Any) -> Any:
        command = build(command_info, **kwargs)
        if command_info.callback.__module__ != "reconciler.cli.app":  # not the shared options
            seen.append(command.name)
        return command

    monkeypatch.setattr(typer.main, "get_command_from_info", recorded)
    command.cache_clear()  # the click command of this process: built afresh, as a process does
    result = run_cli(*args)
    command.cache_clear()
    assert result.code == 0, result.text
    assert seen == built


def test_a_plan_imports_no_retry_or_drift_machinery(tmp_path: Path) -> None:
    """A plan whose requests all succeed imports no tenacity (the first retry does) and,
    printed as text, no drift renderer."""
    import shutil

    root = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", root)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "reconciler", "plan", "--sandbox",
                           str(root)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:")}
    assert "reconciler.engine" in modules  # the plan ran
    loaded = sorted(m for m in modules if m.split(".")[0] == "tenacity"
                    or m.startswith(("reconciler.drift", "reconciler.render.drift")))
    assert not loaded, f"reconciler plan imports {loaded}"


def test_the_installed_entry_points_are_scanned_once_for_every_group(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each scan reads every installed distribution's entry_points.txt; a run looks up two
    groups (vendors, state backends) from one scan."""
    import importlib.metadata

    from reconciler import entrypoints

    scans: list[int] = []

    def counted() -> Any:
        scans.append(1)
        return importlib.metadata.entry_points()

    monkeypatch.setattr(entrypoints, "entry_points", counted)
    entrypoints.group.cache_clear()
    try:
        providers = entrypoints.group("reconciler.providers")
        entrypoints.group("reconciler.state_backends")
        assert providers == tuple(importlib.metadata.entry_points(group="reconciler.providers"))
        assert {e.name for e in providers} >= {"outreach", "superoffice", "webex_campaign"}
        assert len(scans) == 1
    finally:
        entrypoints.group.cache_clear()
