"""The SuperOffice sandbox's data: the entity's fields, defaults and rights, the
reserved purposes, multi-language values, the error body, and how a saved body is read
(property names in any case, unknown and server-owned ones ignored, as the real API's
.NET binder does)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from reconciler.sandbox.common import Answer, Table, json_response

MEDIA_TYPE = "application/json; charset=utf-8"
MISSING_BODY = "Entity to save is not in request body"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

SANDBOX_ASSOCIATE: dict[str, Any] = {
    "AssociateId": 5, "Name": "SANDBOX", "FullName": "Sandbox API user", "Type": 1,
}
"""The associate every save is attributed to (`UpdatedBy`)."""

STRING_FIELDS = ("Name", "ConsentText", "FormText", "Key", "Tooltip",
                 "PrivacyStatementDesc", "PrivacyStatementUrl")
WRITABLE_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(STRING_FIELDS, ""), "Active": 1, "Deleted": False, "Rank": 0,
}
"""Client-writable fields and the value each takes when a POST or PUT body omits it."""

# (FieldType, FieldLength) per entity field. The document shows only the shape;
# the string lengths are the sandbox's guesses and are not enforced.
_FIELD_TYPES: dict[str, tuple[str, int]] = {
    "ConsentPurposeId": ("System.Int32", 0),
    "Name": ("System.String", 254),
    "ConsentText": ("System.String", 2047),
    "FormText": ("System.String", 2047),
    "Key": ("System.String", 254),
    "Tooltip": ("System.String", 254),
    "Active": ("System.Int32", 0),
    "UpdatedDate": ("System.DateTime", 0),
    "UpdatedBy": ("SuperOffice.CRM.Services.Associate", 0),
    "Deleted": ("System.Boolean", 0),
    "Rank": ("System.Int32", 0),
    "PrivacyStatementDesc": ("System.String", 254),
    "PrivacyStatementUrl": ("System.String", 1023),
}
FIELD_PROPERTIES: dict[str, Any] = {
    name: {"FieldRight": {"Mask": "FULL", "Reason": ""}, "FieldType": kind, "FieldLength": length}
    for name, (kind, length) in _FIELD_TYPES.items()
}
TABLE_RIGHT: dict[str, str] = {"Mask": "Select, Insert, Update, Delete", "Reason": ""}

_ERROR_TYPES = {400: "SoException", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                405: "MethodNotAllowed", 429: "TooManyRequests", 500: "SoException",
                503: "ServiceUnavailable"}
_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})

BUILTINS: tuple[dict[str, Any], ...] = (
    {"Key": "#Process", "Name": "Process", "ConsentText": "Storing and processing", "Rank": 1},
    {"Key": "#Emarketing", "Name": "E-marketing", "Rank": 2},
)
"""The reserved purposes a real tenant ships with (see `seed_builtins`)."""


@dataclass
class SuperOfficeSandboxConfig:
    """Credentials the sandbox accepts, one set per documented Authorization scheme, and
    the switches of the references' ambiguities (see the module docstring)."""

    bearer_tokens: set[str]
    tickets: set[str]
    app_tokens: set[str]
    basic_users: dict[str, str]
    read_only_bearer_tokens: set[str] = field(default_factory=set)
    list_deleted: bool = False
    mdo_deleted: bool = True
    unique_status: int = 400
    unique_case: str = "insensitive"
    links: bool = False
    last_put: dict[str, Any] = field(default_factory=dict)


LANGUAGES = {"en": "US", "de": "GE", "nb": "NO", "no": "NO", "sv": "SW", "da": "DA"}
_ML_PART = re.compile(r'([A-Z]{2}):"((?:[^"\\]|\\.)*)";?')


def in_language(value: Any, language: str | None) -> Any:
    """A multi-language value in the language asked for (whole when none is asked)."""
    if not isinstance(value, str) or not language:
        return value
    parts = dict(_ML_PART.findall(value))
    if not parts or "".join(m.group(0) for m in _ML_PART.finditer(value)) != value:
        return value
    wanted = LANGUAGES.get(language.split(",")[0].split("-")[0].strip().lower(), "US")
    return parts.get(wanted, next(iter(parts.values()), value))


def refused(status: int, message: str) -> Answer:
    """The vendor's error answer, raised early (sandbox.common.Answer)."""
    return Answer(error(status, message))


def error(status: int, message: str) -> Response:
    """The sandbox's error body; the real one is undocumented, so clients must parse leniently."""
    body = {"Error": message, "ErrorType": _ERROR_TYPES.get(status, "SoException"),
            "ErrorSource": "SandboxWebApi"}
    return json_response(body, status, MEDIA_TYPE)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _purposes(table: Table) -> dict[str, dict[str, Any]]:
    table.data.setdefault("next_id", 1)
    return table.data.setdefault("consent_purposes", {})  # type: ignore[no-any-return]


def _insert(table: Table, fields: dict[str, Any]) -> dict[str, Any]:
    """Store a new item under the next sequential id, stamped as saved now."""
    purposes = _purposes(table)
    pid = int(table.data["next_id"])
    table.data["next_id"] = pid + 1
    record = {"ConsentPurposeId": pid, **fields, "UpdatedDate": _now(),
              "UpdatedBy": dict(SANDBOX_ASSOCIATE)}
    purposes[str(pid)] = record
    return record


def seed_builtins(table: Table) -> None:
    """Add `#Process` and `#Emarketing`, as on a real tenant, but only into an empty table."""
    if _purposes(table):
        return
    for builtin in BUILTINS:
        _insert(table, {**WRITABLE_DEFAULTS, **builtin})
    table.save()


def _type_error(name: str, value: Any) -> str | None:
    """Why `value` cannot be stored in writable field `name`, or None when it can."""
    if name in STRING_FIELDS:
        return None if value is None or isinstance(value, str) else f"{name} must be a string"
    if name == "Deleted":
        return None if isinstance(value, bool) else "Deleted must be a boolean"
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name} must be an int32 integer"
    if not INT32_MIN <= value <= INT32_MAX:
        return f"{name} is outside the int32 range"
    return None


def parse_entity(body: Any) -> dict[str, Any] | str:
    """The writable fields of a POST/PUT body, defaults filled in, or an error message.

    Property names match case-insensitively and unknown or server-owned
    properties are ignored, as the .NET JSON binder behind the real API does.
    """
    if body is None:
        return MISSING_BODY
    if not isinstance(body, dict):
        return "Entity to save must be a JSON object"
    canonical = {name.lower(): name for name in WRITABLE_DEFAULTS}
    fields = dict(WRITABLE_DEFAULTS)
    for key, value in body.items():
        name = canonical.get(key.lower())
        if name is None:
            continue
        if problem := _type_error(name, value):
            return problem
        fields[name] = "" if value is None else value
    return fields
