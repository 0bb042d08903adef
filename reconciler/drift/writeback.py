"""Write remote values back into the manifests (drift --write-back), keeping comments and layout."""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from reconciler.drift.detect import DriftItem
from reconciler.errors import ConfigError
from reconciler.manifest.loader import Desired
from reconciler.manifest.source import literal
from reconciler.providers.base import Kind
from reconciler.state.local import atomic_write


def round_trip_yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def write_back(items: list[DriftItem], desired: Desired, kinds: dict[str, type[Kind]]) -> list[str]:
    """Set each drifted field in the manifest entry that declares it; returns the files changed."""
    edits: dict[str, list[tuple[tuple[str, str, str], str, Any]]] = defaultdict(list)
    for item in items:
        obj = desired.objects.get(item.address)
        if obj is None or item.remote is None:
            continue
        collection = kinds[obj.kind_address].collection
        for diff in item.diffs:
            name = diff.field.split(".")[0].split("[")[0]
            edits[obj.source.file].append(((obj.vendor, collection, obj.key), name,
                                           item.remote.get(name)))
    yaml = round_trip_yaml()
    changed: list[str] = []
    for file, file_edits in sorted(edits.items()):
        document = desired.documents[file]
        data = yaml.load(document.path.read_text(encoding="utf-8"))
        for (vendor, collection, key), name, value in file_edits:
            entry = data.get(vendor, {}).get(collection, {}).get(key)
            if entry is None:
                raise ConfigError(f"{file}: cannot find {vendor}.{collection}.{key} to write back")
            entry[name] = literal(value)  # `$` doubled: the vendor's text is never interpolated
        text = io.StringIO()
        yaml.dump(data, text)
        try:  # all or nothing: a full disk or a crash leaves the file as it was
            atomic_write(Path(document.path), text.getvalue())
        except OSError as exc:
            raise ConfigError(f"{file}: cannot write the remote values back "
                              f"({exc.strerror or exc}); the file is unchanged") from None
        changed.append(file)
    return changed
