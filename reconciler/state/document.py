"""The state document read from its JSON (a local file, a PostgreSQL row, `state push`):
streamed record by record so that a big state costs little, and diagnosed precisely when
it is not a state. Every backend reads through here."""

from __future__ import annotations

import io
import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import ijson  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler.errors import StateError
from reconciler.jsonread import MAX_DEPTH, JsonLimitError, TooDeepError, deeper_than, loads
from reconciler.perf import NO_SHARING, Sharing, key, paused_gc
from reconciler.state.base import (
    FORMAT_VERSION,
    NO_META,
    Pending,
    Resource,
    StateDoc,
)


def parse_document(data: str | bytes | Path, origin: str,
                   sharing: Sharing = NO_SHARING) -> StateDoc:
    """Build resources one at a time as the parser reaches them (from the file itself when
    given a path), and let a resource whose recorded attributes equal the declared ones
    share the declared dict: in the common case (nothing changed) a state of 300,000
    objects then costs a few hundred bytes per object, not a second copy of every
    manifest value. Only a document that fails is read again as a whole, to say
    precisely what is wrong with it."""
    try:
        with paused_gc():
            doc = _stream(data, sharing)
    except OSError as exc:
        raise StateError(f"{origin}: cannot read: {exc.strerror or exc}; check that state.path "
                         "in reconciler.yaml names a readable file") from None
    except TooDeepError as exc:
        raise StateError(f"{origin}: {exc}, the most a state is read with; restore it from "
                         f"{origin}.backup or from version control") from None
    except (ijson.JSONError, ValidationError, TypeError, ValueError, KeyError):
        raw = data.read_bytes() if isinstance(data, Path) else data
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            raise StateError(f"{origin}: not a state file (it is not UTF-8 text); restore it "
                             f"from {origin}.backup or from version control") from None
        return _diagnose(text, origin)
    if doc.version > FORMAT_VERSION:
        raise _newer(origin, doc.version)
    return doc


_HEAD = ("version", "lineage", "serial")
_SMALL = ("target", "forgotten")


@contextmanager
def _opened(data: str | bytes | Path) -> Iterator[BinaryIO]:
    if isinstance(data, Path):
        with data.open("rb") as handle:
            yield handle
    else:
        yield io.BytesIO(data.encode() if isinstance(data, str) else data)


def _stream(data: str | bytes | Path, sharing: Sharing) -> StateDoc:
    head: dict[str, Any] = {}
    keys: list[str] = []
    small: dict[str, ijson.ObjectBuilder] = {}  # target, forgotten: written before resources
    with _opened(data) as handle:
        for prefix, event, value in ijson.parse(handle, use_float=True):
            top = prefix.partition(".")[0]
            if prefix == "" and event == "map_key":
                keys.append(value)
                if value == "resources":
                    break
            elif prefix in _HEAD:
                head[prefix] = value
            elif top in _SMALL:
                small.setdefault(top, ijson.ObjectBuilder()).event(event, value)
            elif prefix == "" and event != "start_map":
                raise ValueError("not a JSON object")
    if not set(keys) <= set(StateDoc.model_fields):
        raise ValueError("unknown top-level field")
    if "resources" not in keys:  # no resources: small, validated whole
        with _opened(data) as handle:
            return StateDoc.model_validate_json(handle.read())
    doc = StateDoc.model_validate({**head, **{name: b.value for name, b in small.items()}})
    if doc.version > FORMAT_VERSION:
        return doc
    whole = _whole(data, sharing)
    if whole is not None:
        doc.resources, doc.pending = whole
        return doc
    with _opened(data) as handle:
        for address, body in ijson.kvitems(handle, "resources", use_float=True):
            resource = Resource(**body)  # validation copies the attributes
            if resource.remote_id is not None:  # one string with the listing's (providers/ids.py)
                resource.remote_id = sys.intern(resource.remote_id)
            attributes = resource.attributes
            resource.attributes = sharing.share(address, attributes)
            # A record equal to its manifest (the common case) is as shallow as the manifest;
            # any other is checked, so that nothing later recurses past Python's limit.
            if resource.attributes is attributes and deeper_than(attributes):
                raise TooDeepError(f"the record of {address} nests deeper than {MAX_DEPTH} levels")
            if not resource.meta:
                resource.meta = NO_META
            doc.resources[key(address)] = resource  # the manifests' address string
    with _opened(data) as handle:
        for address, body in ijson.kvitems(handle, "pending", use_float=True):
            doc.pending[address] = Pending.model_validate(body)
    return doc


WHOLE_MAX_BYTES = 4 << 20
"""A state up to this size has its records read in one call of pydantic's JSON reader: one
pass instead of two (`pending` follows the resources), 34 ms instead of 60 for the 6,000
records of the bench's no-op plan. Past it, records are streamed one at a time, which
holds at most one record's copy besides the shared ones (a 300,000-object state is ~100 MB)."""

_INT_LIMIT = 1 << 63


class _Records(BaseModel):
    """The records of a state, as the stream reads them (the head is read by the stream's
    first pass, as for any state)."""

    model_config = ConfigDict(extra="ignore")

    resources: dict[str, Resource] = {}
    pending: dict[str, Pending] = {}


def _whole(data: str | bytes | Path,
           sharing: Sharing) -> tuple[dict[str, Resource], dict[str, Pending]] | None:
    """The records of a small state read in one call, exactly as the stream would read
    them; None (the stream reads them) for a state where the two readers could differ or
    that has any problem, which the stream then reports as it always does."""
    if isinstance(data, Path):
        with data.open("rb") as handle:
            raw = handle.read(WHOLE_MAX_BYTES + 1)
    else:
        raw = data.encode() if isinstance(data, str) else data
    # Left to the stream: a key given twice (the stream reads both, a JSON object keeps the
    # last); \u escapes (a key could spell "resources" so; ijson reads a lone surrogate as
    # "?", pydantic refuses it); NaN and Infinity (ijson refuses them, pydantic reads them).
    # (A one-byte search first: memchr, several times faster than a search for a word.)
    if len(raw) > WHOLE_MAX_BYTES or (b"\\" in raw and b"\\u" in raw) \
            or (b"N" in raw and b"NaN" in raw) or (b"I" in raw and b"Infinity" in raw) \
            or raw.count(b'"resources"') != 1 or raw.count(b'"pending"') > 1:
        return None
    try:
        records = _Records.model_validate_json(raw)
    except ValueError:
        return None
    resources: dict[str, Resource] = {}
    for address, resource in records.resources.items():
        if not _streamable(resource.attributes) or (resource.meta and not _streamable(resource.meta)):
            return None
        if resource.remote_id is not None:
            resource.remote_id = sys.intern(resource.remote_id)
        resource.attributes = sharing.share(address, resource.attributes)
        if not resource.meta:
            resource.meta = NO_META
        resources[key(address)] = resource
    return resources, records.pending


def _streamable(value: Any, depth: int = 0) -> bool:
    """Whether the stream reads this value alike: ijson refuses an integer past 64 bits and a
    float past the largest (pydantic reads them: 1e999 as inf); and a value nesting deeper
    than MAX_DEPTH is the stream's to report."""
    if depth >= MAX_DEPTH:  # its items are deeper than MAX_DEPTH (jsonread.deeper_than)
        return False
    for child in value.values() if type(value) is dict else value:  # (as JSON gave them)
        kind = type(child)
        if kind is str or kind is bool or child is None:
            continue
        if kind is float:
            if not math.isfinite(child):
                return False
        elif kind is int:
            if not -_INT_LIMIT < child < _INT_LIMIT:
                return False
        elif not _streamable(child, depth + 1):  # a dict or a list: at most MAX_DEPTH deep
            return False
    return True


def _newer(origin: str, version: int) -> StateError:
    return StateError(f"{origin}: written by a newer reconciler (state format {version}, this one "
                      f"reads up to {FORMAT_VERSION}); upgrade reconciler")


def _diagnose(text: str, origin: str) -> StateDoc:
    try:
        raw = loads(text, origin)
    except JsonLimitError as exc:
        raise StateError(f"{exc}; restore it from {origin}.backup or from version control") from None
    except json.JSONDecodeError as exc:
        raise StateError(f"{origin}: not valid JSON (line {exc.lineno}, column {exc.colno}): the "
                         f"file is corrupt or truncated; restore it from {origin}.backup or from "
                         f"version control") from None
    if not isinstance(raw, dict):
        raise StateError(f"{origin}: not a reconciler state document (expected a JSON object with "
                         f"version, lineage, serial and resources); restore it from {origin}.backup "
                         "or from version control")
    version = raw.get("version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise _newer(origin, version)
    try:
        return StateDoc.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StateError(f"{origin}: invalid state document at {where}: {first['msg']}; restore "
                         f"it from {origin}.backup") from None
