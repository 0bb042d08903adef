"""The loader reads a valid object's values from the model itself when its schema dumps as
stored (loader.dumps_as_stored): that must give what model_dump() gives, field for field."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, computed_field, field_serializer

from reconciler.manifest.loader import Lifecycle, dumps_as_stored
from reconciler.providers.base import Schema
from reconciler.providers.registry import kinds_by_collection, providers

BODIES: dict[str, list[dict[str, Any]]] = {
    "call_purposes": [{"name": "Calls"}, {"name": "Calls", "order": 3}, {"order": None, "name": "x"}],
    "consent_purposes": [{"name": "Mail"}, {"name": "Mail", "key": "#m", "active": False, "rank": 2,
                                            "privacy_statement_url": "https://e.com/p",
                                            "form_text": None, "tooltip": ""}],
    "purposes": [{"name": "P"}, {"description": "d", "group": "G", "name": "P"}],
}


def test_the_bundled_kinds_read_as_dumped() -> None:
    checked = 0
    for provider in providers().values():
        for collection, kind in kinds_by_collection(provider).items():
            if not dumps_as_stored(kind.schema):
                continue
            for body in BODIES[collection]:
                model = kind.schema.model_validate(body)
                stored = [(k, type(v), v) for k, v in model.__dict__.items()]
                assert stored == [(k, type(v), v) for k, v in model.model_dump().items()], body
                checked += 1
    assert checked == 7


class _Plain(Schema):
    text: str
    number: int | None = None
    flag: bool = True
    choice: Literal["a", "b"] | None = None
    limited: Annotated[str, Field(max_length=3)] = "x"


class _Serialized(Schema):
    text: str

    @field_serializer("text")
    def _upper(self, value: str) -> str:
        return value.upper()


class _Computed(Schema):
    text: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def more(self) -> str:
        return self.text * 2


class _Extra(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: str


class _Excluded(Schema):
    text: str
    hidden: str = Field("h", exclude=True)


class _Annotated(Schema):
    text: Annotated[str, PlainSerializer(str.upper)]


class _Float(Schema):
    size: float


class _Listed(Schema):
    names: list[str]


def test_only_schemas_whose_dump_is_their_values_are_read_directly() -> None:
    assert dumps_as_stored(_Plain)
    for schema in (_Serialized, _Computed, _Extra, _Excluded, _Annotated, _Float, _Listed, Lifecycle):
        assert not dumps_as_stored(schema), schema
