"""A kind that changes what the state records says so with its schema version; a state
recorded at an older version is read in today's shape (Terraform's UpgradeResourceState)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from reconciler.engine.workspace import upgrade_state
from reconciler.errors import StateError
from reconciler.state.base import Resource, StateDoc
from tests.unit.memory_provider import GadgetKind


class GadgetV2(GadgetKind):
    """Version 1 recorded `colour`; version 2 records `color`."""

    schema_version: ClassVar[int] = 2

    @classmethod
    def upgrade(cls, attributes: dict[str, Any], version: int) -> dict[str, Any]:
        if version < 2 and "colour" in attributes:
            attributes["color"] = attributes.pop("colour")
        return attributes


def state(version: int) -> StateDoc:
    return StateDoc(lineage="l", serial=1, resources={"memory.gadget.a": Resource(
        vendor="memory", kind="gadget", remote_id="1", attributes={"name": "a", "colour": "red"},
        schema_version=version)})


def test_older_records_are_upgraded_when_read() -> None:
    doc = upgrade_state(state(1), {"memory.gadget": GadgetV2})
    resource = doc.resources["memory.gadget.a"]
    assert resource.attributes == {"name": "a", "color": "red"} and resource.schema_version == 2
    assert resource.to_dict()["schema_version"] == 2  # what the next write records


def test_current_records_are_left_alone() -> None:
    doc = upgrade_state(state(2), {"memory.gadget": GadgetV2})
    assert doc.resources["memory.gadget.a"].attributes == {"name": "a", "colour": "red"}


def test_a_record_newer_than_the_kind_is_refused() -> None:
    with pytest.raises(StateError, match=r"schema version 3 .* newer than this reconciler's"):
        upgrade_state(state(3), {"memory.gadget": GadgetV2})
