"""The provider conformance kit, run by every bundled vendor against its own sandbox."""

from __future__ import annotations

from typing import Any, ClassVar

from reconciler.testing import ProviderConformance


class TestOutreach(ProviderConformance):
    vendor = "outreach"


class TestWebexCampaign(ProviderConformance):
    vendor = "webex_campaign"


class TestSuperOffice(ProviderConformance):
    vendor = "superoffice"
    sandbox_options: ClassVar[dict[str, Any]] = {"builtins": False}
