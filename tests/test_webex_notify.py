"""Notify Transaction State against the sandbox over loopback HTTP: the documented body, the
1100 confirmation, forced 1102..1105, and failures returned (never raised)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.providers.sandboxes import SandboxSettings, free_port
from reconciler.providers.webex_campaign.notify import (
    NotifyOutcome,
    notify_transaction_state,
    parse_notify_error,
)
from reconciler.providers.webex_campaign.provider import WebexCampaignSettings
from tests.conftest import Sandbox

FORCED = {"API_1102": 1102, "API_1103": 1103, "API_1104": 1104, "API_1105": 1105}


@pytest.fixture
def sandbox_settings(tmp_path: Path) -> SandboxSettings:
    return SandboxSettings(data_dir=tmp_path / "sandbox-data", superoffice_builtins=False,
                           webex_campaign_deployments=dict(FORCED))


def settings_for(sandbox: Sandbox, **extra: Any) -> WebexCampaignSettings:
    return WebexCampaignSettings(**{**sandbox.overrides["webex_campaign"], **extra})


def notify(settings: WebexCampaignSettings, deployment: str, ref: str, success: bool = True,
           code: str = "200", desc: str = "Delivered") -> NotifyOutcome:
    return asyncio.run(notify_transaction_state(settings, deployment, ref, success, code, desc))


def notifications(sandbox: Sandbox) -> list[dict[str, Any]]:
    return httpx.get(sandbox.url + "/_sandbox/webex_campaign/notifications").json()  # type: ignore[no-any-return]


def test_success_and_failure_are_recorded_with_1100(sandbox: Sandbox) -> None:
    settings = settings_for(sandbox)
    before = datetime.now(UTC).replace(microsecond=0)
    ok = notify(settings, "API_1605176965390000881", "CC02_1605176995001254571")
    failed = notify(settings, "API_1605176965390000881", "CC02_2", success=False, code="403",
                    desc="There was an error with the authentication token")
    for outcome in (ok, failed):
        assert outcome.ok and outcome.code == "1100"
        assert outcome.transaction_id and re.fullmatch(r"[0-9a-f]{32}", outcome.transaction_id)
    assert ok.message == ("notify transaction 'CC02_1605176995001254571' of deployment "
                          "'API_1605176965390000881' (success): Webex Campaign says: The Response "
                          f"has been notified successfully (transaction-id {ok.transaction_id})")
    stored = notifications(sandbox)
    assert [(n["responseState"], n["refTransId"], n["transaction-id"]) for n in stored] == [
        ("531", "CC02_1605176995001254571", ok.transaction_id), ("532", "CC02_2", failed.transaction_id)]
    assert json.loads(stored[1]["additionalInfo"]) == {
        "responseCode": "403", "responseDesc": "There was an error with the authentication token"}
    sent = datetime.strptime(stored[0]["responseTime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert before <= sent <= datetime.now(UTC)


@pytest.mark.parametrize(("deployment", "hint"), [
    ("API_1102", "the deployment has no External Action mapped: notifications are only for External "
                 "Action deployments; check the deployment id"),
    ("API_1103", "the External Action used has no action type (sync/async)"),
    ("API_1104", "only asynchronous External Actions take notifications"),
    ("API_1105", "only one-time and recurring deployments take notifications"),
])
def test_forced_codes_are_failures_with_a_clear_message(sandbox: Sandbox, deployment: str, hint: str) -> None:
    outcome = notify(settings_for(sandbox), deployment, "T1")
    assert (outcome.ok, outcome.code, outcome.transaction_id) == (False, str(FORCED[deployment]), None)
    assert outcome.message.startswith(f"notify transaction 'T1' of deployment '{deployment}' (success) "
                                      f"failed: webex_campaign refused the request (HTTP 200 [{FORCED[deployment]}])")
    assert hint in outcome.message
    assert notifications(sandbox) == []


def test_wrong_token_returns_a_failure_instead_of_raising(sandbox: Sandbox) -> None:
    outcome = notify(settings_for(sandbox, token="wrong-key-123"), "API_1", "T1")
    assert (outcome.ok, outcome.code) == (False, "430")
    assert "check the API key in providers.webex_campaign.token (e.g. WEBEX_CAMPAIGN_TOKEN)" in outcome.message
    assert "wrong-key-123" not in outcome.message
    assert notifications(sandbox) == []


def test_unreachable_tenant_returns_a_failure_instead_of_raising() -> None:
    url = f"http://127.0.0.1:{free_port()}/campaignapi/resources/v3"
    settings = WebexCampaignSettings(base_url=url, tenant_url=url, token="k", max_attempts=1)
    outcome = notify(settings, "API_1", "T1")
    assert (outcome.ok, outcome.code, outcome.transaction_id) == (False, None, None)
    assert "failed: webex_campaign refused the request (no response): POST /notifytransactionstate: " \
           "cannot connect to http://127.0.0.1:" in outcome.message  # the host is named
    assert "check providers.webex_campaign.tenant_url" in outcome.message  # the setting it used


def test_empty_ids_are_not_sent(sandbox: Sandbox) -> None:
    outcome = notify(settings_for(sandbox), " ", "T1")
    assert (outcome.ok, outcome.code) == (False, None)
    assert "not sent: the deployment id and the transaction id must not be empty" in outcome.message
    assert sandbox.requests() == {}


@pytest.mark.parametrize(("code", "hint"), [
    (1101, "refTransId, deploymentId and responseState must not be empty"),
    (1106, "Webex Campaign code 1106 is not documented; its description says why"),
    (1108, "responseState must be 531 or 532: this is a bug in reconciler — please report it"),
    (498, "the token is invalid or expired: renew the API key (or access token) in Webex Campaign and "
          "update providers.webex_campaign.token (e.g. WEBEX_CAMPAIGN_TOKEN); with client_id, "
          "client_secret and auth_key, a new token was minted once and refused too: check them"),
    (499, "Webex Campaign refused the notification; the description says why"),
])
def test_codes_no_correct_request_provokes(code: int, hint: str) -> None:
    response = httpx.Response(200, json={"code": code, "description": "text"},
                              request=httpx.Request("POST", "https://t/v3/notifytransactionstate"))
    assert parse_notify_error(response) == (str(code), f"POST /v3/notifytransactionstate: text — {hint}")
