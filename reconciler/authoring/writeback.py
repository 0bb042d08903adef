"""Write remote values back into the manifests (drift --write-back), keeping comments and layout."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from reconciler.drift.detect import DriftItem
from reconciler.errors import ConfigError
from reconciler.files import atomic_write
from reconciler.manifest.loader import Desired
from reconciler.manifest.source import literal
from reconciler.providers.base import KindSpec


def round_trip_yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def put_in_order(entry: Any, name: str, value: Any, order: tuple[str, ...]) -> None:
    """Set a field; a new one goes where `fmt` puts it (schema order), not at the end."""
    if name in entry or name not in order:
        entry[name] = value
        return
    rank = order.index(name)
    keys = list(entry)
    before = [i for i, k in enumerate(keys) if k in order and order.index(k) < rank]
    entry.insert(before[-1] + 1 if before else 0, name, value)


def keep_formatted(original: str, written: str, display: str) -> str:
    """A file that passed `fmt --check` still does after the write-back (its quoting too)."""
    from reconciler.authoring.fmt import field_orders, format_text
    from reconciler.errors import ManifestError

    orders = field_orders()
    try:
        if format_text(original, orders, display) != original:
            return written  # not formatted before: leave its layout to the user
        return format_text(written, orders, display)
    except ManifestError:
        return written


def write_back(items: list[DriftItem], desired: Desired, kinds: Mapping[str, type[KindSpec]]) -> list[str]:
    """Set each drifted field in the manifest entry that declares it; returns the files changed."""
    edits: dict[str, list[tuple[tuple[str, str, str], str, Any]]] = defaultdict(list)
    for item in items:
        obj = desired.objects.get(item.address)
        if obj is None or item.remote is None:
            continue
        collection = kinds[obj.kind_address].collection
        for diff in item.diffs:
            name = diff.top
            edits[obj.source.file].append(((obj.vendor, collection, obj.key), name,
                                           item.remote.get(name)))
    from reconciler.authoring.fmt import field_orders

    yaml = round_trip_yaml()
    orders = field_orders()
    changed: list[str] = []
    for file, file_edits in sorted(edits.items()):
        document = desired.documents[file]
        original = document.path.read_text(encoding="utf-8")
        data = yaml.load(original)
        for (vendor, collection, key), name, value in file_edits:
            entry = data.get(vendor, {}).get(collection, {}).get(key)
            if entry is None:
                raise ConfigError(f"{file}: cannot find {vendor}.{collection}.{key} to write back")
            # `$` doubled: the vendor's text is never interpolated
            put_in_order(entry, name, literal(value), orders.get((vendor, collection), ()))
        text = io.StringIO()
        yaml.dump(data, text)
        text = io.StringIO(keep_formatted(original, text.getvalue(), file))
        try:  # all or nothing: a full disk or a crash leaves the file as it was
            atomic_write(Path(document.path), text.getvalue())
        except OSError as exc:
            raise ConfigError(f"{file}: cannot write the remote values back "
                              f"({exc.strerror or exc}); the file is unchanged") from None
        changed.append(file)
    return changed
