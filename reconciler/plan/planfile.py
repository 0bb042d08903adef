"""The saved plan file (`plan --out FILE`): reconciler's own document, read back by apply and show.

It is not the JSON display format (`plan --format json`, reconciler/render/json.py), which
follows Terraform's shape for policy tools and may grow with every minor version; the plan
file holds what apply needs (fingerprints, phases, the target it is bound to) and is
versioned on its own, by `plan_file_version`. Version 1 was the display document with a
`kind` field; version 2 is this one (same body, its own version, the tool's version).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.errors import PlanError
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
        data = json.loads(raw.decode("utf-8"))
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
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan file: {exc.strerror or exc}") from None
    return decode(raw, path)
