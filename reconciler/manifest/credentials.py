"""Credentials in reconciler.yaml: well formed, and nowhere but in their own settings.

A CI secret pasted with a trailing newline would otherwise fail deep in the HTTP library,
with the value in the message; a credential copied into a name or URL would be sent to a
vendor and shown in plans. Both are configuration errors that name the setting and the
environment variable, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from reconciler.errors import Diagnostic
from reconciler.manifest import source as yamlsource
from reconciler.providers.base import ProviderSettings
from reconciler.redact import MIN_SECRET, conninfo_secrets

CREDENTIAL_KEYS = frozenset({"token", "ticket", "app_token", "password", "api_key", "secret",
                             "client_secret", "refresh_token", "access_token", "auth_key"})
"""Keys under providers.<vendor> whose values are credentials, whatever the provider says
(so that they are redacted even when the settings fail validation)."""
LEAK = ("holds the value of a credential; credentials belong only in their own settings "
        "(token, password, ...), where they are never shown; remove it")
_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def raw_secrets(data: Any) -> list[str]:
    """Credential values in a parsed reconciler.yaml, before any validation."""
    found: list[str] = []
    if not isinstance(data, dict):
        return found
    for values in (data.get("providers") or {}).values() if isinstance(
            data.get("providers"), dict) else ():
        if isinstance(values, dict):
            found += [v for k, v in values.items() if k in CREDENTIAL_KEYS and isinstance(v, str)]
    state = data.get("state")
    if isinstance(state, dict) and isinstance(state.get("url"), str):
        found += conninfo_secrets(state["url"])
    return found


def credential_fields(settings: ProviderSettings) -> list[str]:
    """The settings fields that hold a credential of this provider."""
    secrets = set(settings.secrets())
    return [name for name, value in settings if isinstance(value, str) and value in secrets]


def malformed(value: str, spaces: bool = False) -> str | None:
    """What is wrong with a credential's characters, saying whether trimming would fix it.
    `spaces`: spaces inside are fine (a libpq `host=... password=...` string)."""
    inner = value.strip()
    if inner != value:
        around = "a trailing newline" if value.endswith(("\n", "\r")) else "spaces or newlines around it"
        if _bad(inner, spaces) is None:
            return f"has {around}; trimming it would fix it: set the variable again without them"
        return (f"has {around} and {_bad(inner, spaces)}; trimming would not fix it: copy the "
                "credential again")
    if (problem := _bad(value, spaces)) is not None:
        return f"has {problem}; trimming would not fix it: copy the credential again"
    return None


def _bad(value: str, spaces: bool = False) -> str | None:
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        return "control characters inside it"
    if not value.isascii() and not spaces:
        return "non-ASCII characters (HTTP headers carry ASCII only)"
    if not spaces and any(c.isspace() for c in value):
        return "spaces inside it"
    return None


def variable_of(document: yamlsource.Document, path: tuple[str | int, ...]) -> str:
    """How a message names where a setting's value came from: its ${VAR}, never the value."""
    written = yamlsource.written(document, path) or ""
    names = _NAME.findall(written)
    return f"the environment variable {' / '.join(names)}" if names else "the value in the file"


def check(document: yamlsource.Document, providers: dict[str, ProviderSettings],
          state_url: str | None, secrets: Iterable[str], hygiene: bool) -> list[Diagnostic]:
    """Malformed credentials (when `hygiene`), and any value outside a credential setting that
    contains a credential."""
    problems: list[Diagnostic] = []
    credential_paths: set[tuple[str | int, ...]] = {("state", "url")}
    for name, settings in providers.items():
        for field in credential_fields(settings):
            path: tuple[str | int, ...] = ("providers", name, field)
            credential_paths.add(path)
            value = getattr(settings, field)
            if hygiene and (problem := malformed(value)) is not None:
                problems.append(Diagnostic(yamlsource.locate(document, path), (
                    f"providers.{name}.{field}: the credential from {variable_of(document, path)} "
                    f"{problem} (the value is not shown)")))
    if hygiene and state_url and (problem := malformed(state_url, spaces=True)) is not None:
        problems.append(Diagnostic(yamlsource.locate(document, ("state", "url")), (
            f"state.url: the connection string from {variable_of(document, ('state', 'url'))} "
            f"{problem} (the value is not shown)")))
    whole = {s for secret in secrets for s in (secret, secret.strip()) if len(s) >= MIN_SECRET}
    for path, value in strings(document.data):
        if path not in credential_paths and any(s in value for s in whole):
            problems.append(Diagnostic(yamlsource.locate(document, path),
                                       f"{'.'.join(map(str, path))}: {LEAK}"))
    return problems


def strings(data: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string value in a parsed document, with its path."""
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from strings(value, (*path, index))
