"""How reconciler reaches one SuperOffice tenant: its settings (root or tenant, the
Authorization scheme and its credentials, Accept-Language, delete policy), and error
messages that name the settings to check.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import httpx
from pydantic import Field, PrivateAttr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from reconciler.providers.base import DeleteMode, KindSpec, ProviderSettings
from reconciler.providers.http import ErrorParser
from reconciler.providers.superoffice.client import STATE_API

VENDOR = "superoffice"
MEDIA_TYPE = "application/json"
MAX_ERROR_TEXT = 300

AuthScheme = Literal["bearer", "soticket", "basic"]
CREDENTIALS: dict[str, tuple[str, ...]] = {
    "bearer": ("token",), "soticket": ("ticket", "app_token"), "basic": ("username", "password"),
}
"""The settings each Authorization scheme needs."""


class SuperOfficeSettings(ProviderSettings):
    """How to reach one SuperOffice tenant; credentials come from environment variables."""

    tenant: str | None = Field(None, description=(
        "Context identifier (Cust12345); with environment, the WebAPI root is found through "
        "the state API, and found again when the tenant moves (421)"))
    environment: str | None = Field(None, description=(
        "SuperOffice environment, the host prefix of the state API (sod, online, stage)"))
    state_api: str | None = Field(None, description=(
        "State API URL, default https://{environment}.superoffice.com/api/state/{tenant} "
        "({environment} and {tenant} are replaced)"))
    base_url: str | None = Field(None, validate_default=True, description=(
        "WebAPI root, https://{env}.superoffice.com/{tenant}/api/v1; optional with tenant and "
        "environment (then resolved through the state API)"))
    accept_language: str | None = Field("en", description=(
        "Sent as Accept-Language (SuperOffice's samples send en): multi-language values are "
        "read in this language; null sends none"))
    auth: AuthScheme = Field("bearer", description=(
        "Authorization scheme: bearer (token), soticket (ticket + app_token), basic "
        "(username + password)"))
    token: str | None = Field(None, validate_default=True, description=(
        "auth: bearer: OAuth access token; from an environment variable"))
    ticket: str | None = Field(None, validate_default=True, description=(
        "auth: soticket: the SOTicket credential; from an environment variable"))
    app_token: str | None = Field(None, validate_default=True, description=(
        "auth: soticket: the partner application token sent as SO-AppToken; from an "
        "environment variable"))
    username: str | None = Field(None, validate_default=True, description=(
        "auth: basic: the user name; from an environment variable"))
    password: str | None = Field(None, validate_default=True, description=(
        "auth: basic: the password; from an environment variable"))
    on_delete: Literal["deactivate", "delete"] = Field("deactivate", description=(
        "What removing a purpose from the manifests does: deactivate (PUT Active 0, the "
        "vendor's recommendation) or delete (DELETE: a soft delete, Deleted true); a purpose's "
        "own on_delete wins"))

    _claims: dict[tuple[str, str], str | None] = PrivateAttr(default_factory=dict)
    """(field, casefolded value) -> identity of the first purpose that declared it."""

    @field_validator("base_url")
    @classmethod
    def _root_or_tenant(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value and not (info.data.get("tenant") and info.data.get("environment")):
            raise PydanticCustomError("missing_root", (
                "set base_url (https://sod2.superoffice.com/Cust12345/api/v1), or tenant and "
                "environment so that it is found through the state API"))
        return value or None

    def state_url(self) -> str | None:
        """The state API URL, when the tenant is configured."""
        if not (self.tenant and self.environment):
            return None
        return (self.state_api or STATE_API).replace("{environment}", self.environment) \
            .replace("{tenant}", self.tenant)

    def loaded(self) -> None:
        self._claims.clear()  # 200,000 entries for 100,000 purposes: about 44 MB

    def claim(self, field: str, value: str, identity: str | None) -> str | None:
        """Who else declared this unique value (None: nobody, or this same purpose)."""
        # Read from pydantic's store of private values: `self._claims` goes through
        # BaseModel.__getattr__ (1.7 µs; two claims a purpose, 7 ms of 6,000 purposes' loading).
        claims: dict[tuple[str, str], str | None] = self.__pydantic_private__["_claims"]  # type: ignore[index]
        owner = claims.setdefault((field, value.casefold()), identity)
        return None if owner == identity else (owner or "another purpose")

    @field_validator("token", "ticket", "app_token", "username", "password")
    @classmethod
    def _needed_by_scheme(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A credential the chosen scheme needs must be set, so a typo fails before any call."""
        if "auth" not in info.data:
            return value  # auth itself is invalid; that error is enough
        scheme = info.data["auth"]
        needed = CREDENTIALS.get(scheme, ())
        if info.field_name in needed and not value:
            names = " and ".join(needed)
            raise PydanticCustomError("missing_credential", (
                f"required with auth: {scheme} (which needs {names}); set it from an environment "
                f"variable, e.g. {info.field_name}: ${{SUPEROFFICE_{str(info.field_name).upper()}}}"))
        return value

    def secrets(self) -> list[str]:
        """Every secret value, including the Basic header form of user:password. The user
        name alone is not scrubbed: it is an identifier, and scrubbing a common word from
        every message would garble them."""
        found = [v for v in (self.token, self.ticket, self.app_token, self.password) if v]
        if self.username and self.password:
            found.append(_basic(self.username, self.password))
        return found

    def default_delete_mode(self, kind: type[KindSpec]) -> DeleteMode | None:
        """Deactivate unless told otherwise: SuperOffice recommends it, and consents already
        given for a purpose keep pointing at a live item."""
        return DeleteMode.SOFT if self.on_delete == "delete" else DeleteMode.DEACTIVATE

    def headers(self) -> dict[str, str]:
        """The request headers for the chosen scheme (the validator made sure they are set)."""
        headers = {"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}
        if self.accept_language:
            headers["Accept-Language"] = self.accept_language
        if self.auth == "soticket":
            headers["Authorization"] = f"SOTicket {self.ticket}"
            headers["SO-AppToken"] = self.app_token or ""
        elif self.auth == "basic":
            headers["Authorization"] = f"Basic {_basic(self.username or '', self.password or '')}"
        else:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def _basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def parse_error(settings: SuperOfficeSettings) -> ErrorParser:
    """An error parser that knows the auth scheme, so a 401 says which settings to check."""

    def parse(response: httpx.Response) -> tuple[str | None, str]:
        code, message = vendor_message(response)
        if response.status_code == 401:
            names = " and ".join(f"providers.{VENDOR}.{n}" for n in CREDENTIALS[settings.auth])
            message += (f" (auth: {settings.auth} was used; check {names}, and the environment "
                        "variables they come from)")
        elif response.status_code == 403:
            message += (f" (the credentials of auth: {settings.auth} were accepted but may not "
                        "do this: the SuperOffice user needs the right to change lists)")
        return code, message

    return parse


def vendor_message(response: httpx.Response) -> tuple[str | None, str]:
    """The vendor's own (code, text) from any body: JSON Error/Message/message/ErrorType, else
    the raw text (cut short), else the HTTP reason. Never raises: the body is undocumented."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        text = next((str(body[k]) for k in ("Error", "Message", "message", "error")
                     if body.get(k)), "")
        code = body.get("ErrorType") or body.get("code")
        if text or code:
            return (str(code) if code else None), text or str(code)
    raw = response.text.strip()
    if len(raw) > MAX_ERROR_TEXT:
        raw = raw[:MAX_ERROR_TEXT] + "..."
    return None, raw or response.reason_phrase or f"HTTP {response.status_code}"
