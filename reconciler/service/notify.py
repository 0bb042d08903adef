"""Alerts: drift found, drift resolved, apply failed, posted to the configured webhooks.

A webhook URL is a secret: it is read from the environment variable `notify:` names,
registered with the redactor (it never reaches a log or a page), and only https (or http
to a loopback address) is accepted. Like vendor calls, a redirect is never followed (an
answer may not send the alert, or the URL's secret path, elsewhere), each attempt has a
timeout, and 429, 5xx and network failures are retried a bounded number of times. A
webhook that keeps failing is a warning in the log, never a failed run.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from reconciler.errors import ConfigError
from reconciler.history.model import RunRecord
from reconciler.net import is_loopback
from reconciler.redact import REDACT, clean, register
from reconciler.service.settings import Event, Webhook

log = logging.getLogger("reconciler.serve")
MAX_ADDRESSES = 20
SUMMARIES = {
    Event.drift_found: "Drift found in {environment}: {detail}",
    Event.drift_resolved: "Drift resolved in {environment}: the vendors match the state again",
    Event.apply_failed: "Apply failed in {environment}: {detail}",
}


@dataclass(frozen=True)
class Target:
    hook: Webhook
    url: str


def targets(hooks: list[Webhook], env: Mapping[str, str]) -> list[Target]:
    """Each webhook with its URL from the environment; a missing or unsafe URL stops the start."""
    found = []
    for hook in hooks:
        url = env.get(hook.url_env, "").strip()
        where = f"notify: webhook {hook.name!r} (url_env: {hook.url_env})"
        if not url:
            raise ConfigError(f"{where}: the environment variable {hook.url_env} is not set; "
                              "set it to the webhook URL")
        register([url])
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (a port that is not a number raises here)
        except ValueError:
            raise ConfigError(f"{where}: not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{where}: not an http(s) URL")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigError(f"{where}: refusing plain http:// to a non-loopback host; use https://")
        found.append(Target(hook, url))
    return found


def body(hook: Webhook, event: Event, run: RunRecord, detail: str) -> dict[str, Any]:
    """The JSON posted: the generic form, or Slack's {"text": ...}. Addresses and counts only,
    never a field's value."""
    summary = REDACT(SUMMARIES[event].format(environment=run.environment, detail=detail))
    if hook.format == "slack":
        return {"text": summary}
    addresses = sorted({c.address for c in run.changes})
    return {"event": event.value, "environment": run.environment, "summary": summary,
            "run": {"id": run.id, "kind": run.kind, "outcome": run.outcome,
                    "started_at": run.started_at, "finished_at": run.finished_at,
                    "commit": run.commit, "counts": dict(run.counts)},
            "addresses": addresses[:MAX_ADDRESSES],
            "more_addresses": max(0, len(addresses) - MAX_ADDRESSES)}


class Notifier:
    def __init__(self, targets: list[Target], transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.targets = targets
        self.transport = transport

    async def send(self, event: Event, run: RunRecord, detail: str = "") -> None:
        chosen = [t for t in self.targets if event in t.hook.events]
        if chosen:
            await asyncio.gather(*(self._post(t, body(t.hook, event, run, detail)) for t in chosen))

    async def _post(self, target: Target, payload: dict[str, Any]) -> None:
        hook = target.hook
        problem = ""
        async with httpx.AsyncClient(timeout=httpx.Timeout(hook.timeout_s), follow_redirects=False,
                                     transport=self.transport, verify=True) as client:
            for attempt in range(1, hook.attempts + 1):
                try:
                    response = await client.post(target.url, json=payload)
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}"
                else:
                    if response.is_success:
                        return
                    problem = f"HTTP {response.status_code}"
                    if response.status_code != 429 and response.status_code < 500:
                        break  # the receiver refuses it: asking again changes nothing
                if attempt < hook.attempts:
                    await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), 10) + random.uniform(0, 0.2))
        log.warning("%s", REDACT(clean(f"notify: webhook {hook.name!r} did not take the "
                                       f"{payload.get('event', 'alert')} alert: {problem}")))
