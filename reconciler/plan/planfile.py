"""The saved plan file (`plan --out FILE`): reconciler's own document, read back by apply and show.

It is not the JSON display format (`plan --format json`, reconciler/render/json.py), which
follows Terraform's shape for policy tools and may grow with every minor version; the plan
file holds what apply needs (fingerprints, phases, the target it is bound to) and is
versioned on its own, by `plan_file_version`. Version 1 was the display document with a
`kind` field; version 2 is this one (same body, its own version, the tool's version).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.errors import PlanError
from reconciler.jsonread import JsonLimitError, loads
from reconciler.plan.model import PLAN_FORMAT_VERSION, Plan

PLAN_FILE_KIND = "reconciler-plan"
PLAN_FILE_VERSION = 2
_MAKE = "make one with `reconciler plan --out`"
_NEW = "make a new one with `reconciler plan --out`"


def encode(plan: Plan) -> str:
    """The file's text: kind and versions first, then the plan and its checksum."""
    document = {"kind": PLAN_FILE_KIND, "plan_file_version": PLAN_FILE_VERSION,
                "reconciler_version": __version__, **plan.to_dict()}
    return json.dumps(document, indent=1, default=str)


MAX_PLAN_MB = 1024
"""Largest plan file read (a plan of 300,000 objects is a few hundred MB)."""


def read(path: Path) -> bytes:
    """A plan file's bytes: a regular file of at most MAX_PLAN_MB, never a FIFO (which would
    block) or a device (/dev/zero never ends)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO does not block the open
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan file: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = "a directory" if stat.S_ISDIR(mode) else "a named pipe" if stat.S_ISFIFO(
                mode) else "a device or socket"
            raise PlanError(f"{path}: not a plan file but {what}; a plan file is the regular "
                            f"file that `reconciler plan --out FILE` wrote")
        data = handle.read(MAX_PLAN_MB * 2**20 + 1)
    if len(data) > MAX_PLAN_MB * 2**20:
        raise PlanError(f"{path}: larger than {MAX_PLAN_MB} MB, the most a plan file is read "
                        "with; not a plan file reconciler wrote")
    return data


def decode(raw: bytes, path: Path) -> Plan:
    """Parse and check a plan file's bytes; every problem is a PlanError naming the file."""
    data = _parse(raw, path)
    _check_kind(data, path)
    try:
        plan = Plan.from_dict(data)
    except KeyError as exc:
        raise PlanError(f"{path}: the plan file is damaged (field {exc.args[0]!r} is missing); "
                        f"{_NEW}") from None
    except (AttributeError, TypeError, ValueError) as exc:
        raise PlanError(f"{path}: the plan file is damaged ({exc}); {_NEW}") from None
    if plan.checksum() != data.get("checksum"):
        raise PlanError(f"{path}: the plan file was modified after it was made (its checksum "
                        "does not match); make a new plan instead of editing one")
    return plan


def _parse(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        data = loads(raw.decode("utf-8"), f"{path}")
    except JsonLimitError as exc:
        raise PlanError(f"{exc}; {_NEW}") from None
    except UnicodeDecodeError:
        raise PlanError(f"{path}: not a plan file (it is not UTF-8 text); {_MAKE}") from None
    except json.JSONDecodeError as exc:
        raise PlanError(f"{path}: not a plan file (invalid JSON at line {exc.lineno}, column "
                        f"{exc.colno}); {_NEW}") from None
    if not isinstance(data, dict):
        raise PlanError(f"{path}: not a reconciler plan file; {_MAKE}")
    return data


def _check_kind(data: dict[str, Any], path: Path) -> None:
    if data.get("kind") != PLAN_FILE_KIND:
        if "resource_changes" in data or "resource_drift" in data:
            raise PlanError(
                f"{path}: this is the JSON display of a plan or drift report (--format json), "
                "which is for reading, not applying; save the plan itself with "
                "`reconciler plan DIR --out FILE` and apply or show that file")
        raise PlanError(f"{path}: not a reconciler plan file; {_MAKE}")
    version = data.get("plan_file_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PlanError(f"{path}: the plan file is damaged (plan_file_version {version!r}); {_NEW}")
    inner = data.get("format_version")
    if version > PLAN_FILE_VERSION:
        _newer(path, f"plan file version {version}, this one reads up to {PLAN_FILE_VERSION}", data)
    if isinstance(inner, int) and not isinstance(inner, bool) and inner > PLAN_FORMAT_VERSION:
        _newer(path, f"plan format {inner}, this one reads up to {PLAN_FORMAT_VERSION}", data)


def _newer(path: Path, versions: str, data: dict[str, Any]) -> None:
    made_by = data.get("reconciler_version")
    by = f"; made by reconciler {made_by}" if isinstance(made_by, str) else ""
    raise PlanError(f"{path}: made by a newer reconciler ({versions}){by}; apply it with that "
                    "version, or make a new plan")


def save_plan(plan: Plan, path: Path) -> None:
    """Write the plan file atomically and readable by its owner only (0600): it names the
    targets and holds the planned values."""
    from reconciler.files import atomic_write

    try:
        atomic_write(path, encode(plan), mode=0o600, make_folder=True)  # as every --out
    except OSError as exc:
        raise PlanError(f"{path}: cannot write the plan file: {exc.strerror or exc}") from None


def load_plan(path: Path) -> Plan:
    """Read a plan file back, refusing anything that is not one, or that was edited."""
    return decode(read(path), path)


FLEET_FILE_KIND = "reconciler-fleet-plan"
"""A plan file holding one saved plan per environment (`plan --env ... --out FILE`)."""


class FleetPlanWriter:
    """Writes a fleet's plans into one file as each is made (nothing is held for the others),
    then puts the file in place atomically, readable by its owner only; each environment's
    plan is the single-plan document with its own checksum."""

    def __init__(self, path: Path) -> None:
        import os
        import tempfile

        self.path = path
        self.count = 0
        try:
            fd, self.temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                                  suffix=".tmp")
            os.fchmod(fd, 0o600)
            self.handle = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed in close)
        except OSError as exc:
            raise PlanError(f"{path}: cannot write the plan file: {exc.strerror or exc}") from None
        self.handle.write(json.dumps({"kind": FLEET_FILE_KIND, "plan_file_version": PLAN_FILE_VERSION,
                                      "reconciler_version": __version__})[:-1]
                          + ', "environments": {')

    def add(self, environment: str, plan: Plan) -> None:
        from reconciler.redact import refuse_credentials

        text = encode(plan)
        refuse_credentials(text, f"{self.path} (environment {environment})")  # never rewritten
        separator = ", " if self.count else ""
        self.handle.write(f"{separator}\n{json.dumps(environment)}: " + text)
        self.count += 1

    def close(self, keep: bool) -> None:
        import os

        self.handle.write("\n}}\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        if keep:
            os.replace(self.temporary, self.path)
        else:
            os.unlink(self.temporary)


def load_fleet_plan(path: Path) -> dict[str, Plan] | None:
    """The plans of a fleet plan file by environment, each checked as a single plan file is;
    None when `path` is a single plan file (or not a plan file: load_plan says why)."""
    raw = read(path)
    if FLEET_FILE_KIND.encode() not in raw[:200]:
        return None
    data = _parse(raw, path)
    if data.get("kind") != FLEET_FILE_KIND or not isinstance(data.get("environments"), dict):
        return None
    version = data.get("plan_file_version")
    if isinstance(version, int) and version > PLAN_FILE_VERSION:
        _newer(path, f"plan file version {version}, this one reads up to {PLAN_FILE_VERSION}", data)
    plans: dict[str, Plan] = {}
    for environment, document in sorted(data["environments"].items()):  # written as each finished
        where = Path(f"{path} (environment {environment})")
        plans[str(environment)] = decode(json.dumps(document).encode(), where)
    return plans
