"""Built-in providers by name, open to third parties through the `reconciler.providers`
entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points

from reconciler.providers.base import Kind, Provider
from reconciler.providers.outreach.provider import OutreachProvider
from reconciler.providers.superoffice.provider import SuperOfficeProvider
from reconciler.providers.webex_campaign.provider import WebexCampaignProvider

BUILTIN: dict[str, type[Provider]] = {
    OutreachProvider.name: OutreachProvider,
    SuperOfficeProvider.name: SuperOfficeProvider,
    WebexCampaignProvider.name: WebexCampaignProvider,
}


def providers() -> dict[str, type[Provider]]:
    found = dict(BUILTIN)
    for entry in entry_points(group="reconciler.providers"):
        found.setdefault(entry.name, entry.load())
    return found


def kinds_by_collection(provider: type[Provider]) -> dict[str, type[Kind]]:
    return {kind.collection: kind for kind in provider.kinds}
