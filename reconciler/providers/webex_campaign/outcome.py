"""Webex Campaign's after-apply hook: the apply's outcome reported to the External Action
that started it (notifytransactionstate: 531 success, 532 failure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.errors import ConfigError
from reconciler.providers.base import ProviderSettings
from reconciler.providers.plugin import Outcome
from reconciler.providers.webex_campaign.notify import NotifyOutcome, notify_transaction_state
from reconciler.providers.webex_campaign.provider import WebexCampaignSettings


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


@dataclass(frozen=True)
class TransactionReport:
    target: NotifyTarget

    async def send(self, outcome: Outcome) -> tuple[bool, str]:
        told = await report(self.target, outcome)
        state = "success (531)" if outcome.success else "failure (532)"
        if told.ok:
            return True, f"Reported {state} to Webex Campaign deployment {self.target.deployment_id}."
        return False, f"Warning: could not report {state} to Webex Campaign: {told.message}"


def after_apply(settings: ProviderSettings | None,
                options: Mapping[str, str | None]) -> TransactionReport | None:
    """The hook: options `deployment` and `transaction` (--notify-webex-deployment/-transaction)."""
    providers = {} if settings is None else {"webex_campaign": settings}
    target = notify_target(providers, options.get("deployment"), options.get("transaction"))
    return None if target is None else TransactionReport(target)
