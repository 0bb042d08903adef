"""`notify:` in reconciler.yaml: where the service sends its alerts.

A webhook URL is a secret (whoever has it can post to the channel), so the file names the
environment variable that holds it, never the URL itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Event(StrEnum):
    drift_found = "drift_found"
    drift_resolved = "drift_resolved"
    apply_failed = "apply_failed"


EventName = Literal["drift_found", "drift_resolved", "apply_failed"]


class Webhook(BaseModel):
    """One webhook: a generic JSON body, or Slack's incoming-webhook form."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="What logs call this webhook")
    url_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description=(
        "The environment variable holding the webhook URL (https, or http to a loopback "
        "address); the URL is a secret and never written in this file"))
    format: Literal["json", "slack"] = Field("json", description=(
        "json: {event, environment, run, summary, addresses}; slack: {text}"))
    events: list[EventName] = Field(default_factory=lambda: [e.value for e in Event], description=(
        "Which events are sent (drift_found, drift_resolved, apply_failed); all by default"))
    timeout_s: float = Field(10.0, gt=0, le=120, description="Each attempt's timeout")
    attempts: int = Field(3, ge=1, le=10, description=(
        "Attempts in all (429, 5xx and network failures are retried with backoff)"))
