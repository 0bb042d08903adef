"""A test install of the Widgets vendor: a dist-info that registers it in the
`reconciler.providers` entry-point group, as `pip install` of a company's package would."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.entrypoints import group
from reconciler.providers.registry import vendors

PLUGINS = Path(__file__).resolve().parent / "plugins"


def install(site: Path) -> str:
    """Write the distribution's metadata under `site`; return the PYTHONPATH that finds it."""
    info = site / "reconciler_widgets-0.1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: reconciler-widgets\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[reconciler.providers]\nwidgets = reconciler_widgets:VENDOR\n")
    return f"{site}:{PLUGINS}"


@contextmanager
def installed(site: Path) -> Iterator[None]:
    """The vendor registered in this process, and gone again afterwards."""
    paths = install(site).split(":")
    sys.path[:0] = paths
    vendors.cache_clear()
    group.cache_clear()
    try:
        yield
    finally:
        del sys.path[:len(paths)]
        vendors.cache_clear()
        group.cache_clear()
