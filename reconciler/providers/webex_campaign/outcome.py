"""An apply's outcome, summarised for whoever asked for it (Webex Campaign's External Action).

Reporting never changes the apply's own result: a failed notification is a
warning, and the exit code stays the apply's.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.apply.executor import ApplyResult
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.providers.base import ProviderSettings
from reconciler.providers.webex_campaign.notify import NotifyOutcome, notify_transaction_state
from reconciler.providers.webex_campaign.provider import WebexCampaignSettings

MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class Outcome:
    success: bool
    code: str  # HTTP-like: 200 done, 204 nothing to do, 500 failed
    description: str


def summarise(result: ApplyResult | None, error: ReconcilerError | None) -> Outcome:
    if error is not None:
        return Outcome(False, "500", _cut(f"apply failed before any change: {error}"))
    if result is None:
        return Outcome(True, "204", "no changes")
    counts: dict[str, int] = {}
    for change in result.applied:
        counts[str(change.action)] = counts.get(str(change.action), 0) + 1
    done = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing applied"
    if result.ok:
        return Outcome(True, "200", _cut(f"applied: {done}"))
    return Outcome(False, "500", _cut(f"failed: {len(result.errors)} error(s), {done}; first "
                                      f"error: {result.errors[0]}"))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 3] + "..."


@dataclass(frozen=True)
class NotifyTarget:
    settings: WebexCampaignSettings
    deployment_id: str
    ref_trans_id: str


def notify_target(providers: dict[str, ProviderSettings], deployment_id: str | None,
                  ref_trans_id: str | None) -> NotifyTarget | None:
    """From the command line, else reconciler.yaml; None when nobody asked for a report."""
    settings = providers.get("webex_campaign")
    if isinstance(settings, WebexCampaignSettings):
        deployment_id = deployment_id or settings.notify_deployment_id
        ref_trans_id = ref_trans_id or settings.notify_ref_trans_id
    if not deployment_id and not ref_trans_id:
        return None
    if not isinstance(settings, WebexCampaignSettings):
        raise ConfigError("--notify-webex-deployment needs the webex_campaign provider in "
                          "reconciler.yaml (its tenant_url and token are used)")
    if not deployment_id or not ref_trans_id:
        raise ConfigError("reporting to Webex Campaign needs both the deployment id "
                          "(--notify-webex-deployment) and the transaction id "
                          "(--notify-webex-transaction)")
    return NotifyTarget(settings, deployment_id, ref_trans_id)


async def report(target: NotifyTarget, outcome: Outcome) -> NotifyOutcome:
    return await notify_transaction_state(target.settings, target.deployment_id,
                                          target.ref_trans_id, outcome.success, outcome.code,
                                          outcome.description)


__all__ = ["NotifyTarget", "Outcome", "notify_target", "report", "summarise"]
