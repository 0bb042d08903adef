"""The architecture, checked: data flows one way and nothing imports upwards.

A rule is (package, packages it must never import). The runtime check proves the pure
parts stay pure: importing them loads no HTTP client, no web server, no database driver.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "reconciler"
RULES: dict[str, tuple[str, ...]] = {
    # providers know their vendor and the HTTP client, nothing of the engine
    "reconciler.providers": ("reconciler.plan", "reconciler.apply", "reconciler.drift", "reconciler.cli",
                             "reconciler.manifest", "reconciler.render", "reconciler.state",
                             "reconciler.authoring"),
    "reconciler.plan": ("reconciler.apply", "reconciler.cli", "reconciler.render", "reconciler.drift",
                        "reconciler.authoring", "reconciler.sandbox"),
    # write-back edits manifests: that is authoring, which drift never imports
    "reconciler.drift": ("reconciler.apply", "reconciler.cli", "reconciler.render", "reconciler.sandbox",
                         "reconciler.authoring"),
    # the state knows nothing of manifests (importing an object is the engine's)
    "reconciler.state": ("reconciler.plan", "reconciler.apply", "reconciler.cli", "reconciler.render",
                         "reconciler.drift", "reconciler.sandbox", "reconciler.manifest"),
    # the settings know the backends by their registry only, never a backend itself
    "reconciler.manifest": ("reconciler.plan", "reconciler.apply", "reconciler.cli", "reconciler.render",
                            "reconciler.drift", "reconciler.state.base", "reconciler.state.local",
                            "reconciler.state.postgres", "reconciler.sandbox"),
    "reconciler.render": ("reconciler.apply", "reconciler.cli", "reconciler.providers", "reconciler.state",
                          "reconciler.sandbox"),
    "reconciler.apply": ("reconciler.cli", "reconciler.render", "reconciler.sandbox"),
    "reconciler.authoring": ("reconciler.cli", "reconciler.apply"),
    # history records what the engine made; it never prints, serves or opens a workspace
    "reconciler.history": ("reconciler.cli", "reconciler.render", "reconciler.sandbox"),
    # the machinery of the emulators; the registry hands the vendors' sandboxes over
    # (reconciler/providers/sandboxes.py composes them), so it never imports a provider
    "reconciler.sandbox": ("reconciler.cli", "reconciler.plan", "reconciler.apply", "reconciler.state",
                           "reconciler.manifest", "reconciler.engine", "reconciler.providers"),
    "reconciler.engine": ("reconciler.cli", "reconciler.render"),
    # each backend reads the document through state.document, never another backend
    "reconciler.state.postgres": ("reconciler.state.local",),
    # the service calls the engine like any front end; the CLI only wires it
    "reconciler.service": ("reconciler.cli", "reconciler.render", "reconciler.plan.builder",
                           "reconciler.apply.executor"),
}
PURE = ("reconciler.plan.builder", "reconciler.plan.model", "reconciler.plan.diff", "reconciler.plan.safety",
        "reconciler.drift.detect", "reconciler.manifest.loader")
HEAVY = ("httpx", "httpcore", "starlette", "uvicorn", "psycopg", "reconciler.providers.http",
         "reconciler.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def within(name: str, package: str | tuple[str, ...]) -> bool:
    packages = (package,) if isinstance(package, str) else package
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_nothing_imports_upwards() -> None:
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for package, forbidden in RULES.items():
            if within(module, package):
                broken += [f"{module} imports {name}" for name in sorted(imports(path))
                           if any(within(name, f) for f in forbidden)]
    assert not broken, "\n".join(broken)


def test_only_front_ends_use_the_engine() -> None:
    """The engine sits under the front ends (the CLI, the service) and over the rest."""
    users = [module_name(p) for p in PACKAGE.rglob("*.py")
             if any(within(n, "reconciler.engine") for n in imports(p))]
    assert all(within(u, ("reconciler.cli", "reconciler.service", "reconciler.engine")) for u in users), users


@pytest.mark.parametrize("module", PURE)
def test_pure_parts_load_no_io(module: str) -> None:
    probe = (f"import sys, {module}; "
             f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=REPO).stdout.split()
    assert not loaded, f"importing {module} loads {loaded}"
