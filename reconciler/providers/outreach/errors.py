"""Outreach's error answers (JSON:API `errors`), read into one line: what the vendor
client reports for the API and the token grant alike."""

from __future__ import annotations

import httpx


def parse_error(response: httpx.Response) -> tuple[str | None, str]:
    """JSON:API errors -> one line: error id, title, detail, source.pointer."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, response.text[:300] or response.reason_phrase
    first = errors[0]
    parts = [str(first.get(k)) for k in ("title", "detail", "details") if first.get(k)]
    source = first.get("source")
    pointer = source.get("pointer") if isinstance(source, dict) else None
    if pointer:
        parts.append(f"at {pointer}")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return first.get("id"), ": ".join(parts) + more
