"""Webex Campaign Notify Transaction State (docs/vendors/webex_campaign.md): tell Webex Campaign whether a
transaction of an External Action deployment succeeded (531) or failed (532).

It reports the outcome of work done elsewhere, so it must never hide that work's own
result: `notify_transaction_state` never raises for a vendor or network failure, it
returns `NotifyOutcome(ok=False, ...)` with a message saying what to do.

Choices where the document is silent:
- `responseTime` is now in UTC, "yyyy-MM-dd HH:mm:ss"; `additionalInfo` is the JSON *string*
  of {responseCode, responseDesc}, as in the document's example.
- The call is not retried after a 5xx or a connection lost after sending: a notification
  counted twice would skew the dashboard's counts, so the outcome is reported as unknown.
  A 429 is retried with backoff (nothing was recorded); Webex sends no Retry-After.
- Any 2xx is success (no page states the status); codes 1101-1108 are definite whatever
  the HTTP status (the table most likely gives them 500), so they are never "may or may
  not have been recorded".
- 2xx without a code is taken as success (only 1100 is documented); codes 1106 and 1107
  are not documented and are reported with the vendor's own description.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from reconciler.errors import AmbiguousWriteError, ReconcilerError, VendorError
from reconciler.providers.webex_campaign.datastore import OK
from reconciler.providers.webex_campaign.provider import (
    HINTS,
    WebexCampaignSettings,
    body_code,
    make_parser,
    vendor_client,
)

SUCCESS, FAILURE = "531", "532"
NOTIFIED = "1100"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
NOTIFY_HINTS: dict[str, str] = {
    **HINTS,
    "499": "Webex Campaign refused the notification; the description says why",
    "1101": "refTransId, deploymentId and responseState must not be empty",
    "1102": ("the deployment has no External Action mapped: notifications are only for "
             "External Action deployments; check the deployment id"),
    "1103": ("the External Action used has no action type (sync/async): set it in the "
             "action's definition in Webex Campaign"),
    "1104": "only asynchronous External Actions take notifications: make the action async",
    "1105": "only one-time and recurring deployments take notifications",
    "1108": "responseState must be 531 or 532: this is a bug in reconciler — please report it",
}
"""The document's notify codes, on top of the codes every Webex Campaign API shares."""
parse_notify_error = make_parser(NOTIFY_HINTS)


@dataclass(frozen=True)
class NotifyOutcome:
    """What Webex Campaign said: ok, its code, a readable message, and its transaction id."""

    ok: bool
    code: str | None
    message: str
    transaction_id: str | None


def notify_body(deployment_id: str, ref_trans_id: str, success: bool, response_code: str,
                response_desc: str) -> dict[str, str]:
    """The documented request body."""
    return {
        "responseState": SUCCESS if success else FAILURE,
        "refTransId": ref_trans_id,
        "deploymentId": deployment_id,
        "responseTime": datetime.now(UTC).strftime(TIME_FORMAT),
        "additionalInfo": json.dumps({"responseCode": response_code,
                                      "responseDesc": response_desc}),
    }


async def notify_transaction_state(settings: WebexCampaignSettings, deployment_id: str,
                                   ref_trans_id: str, success: bool, response_code: str,
                                   response_desc: str) -> NotifyOutcome:
    """POST the outcome to the tenant's notify_path; never raises for a vendor/network error."""
    what = (f"notify transaction {ref_trans_id!r} of deployment {deployment_id!r} "
            f"({'success' if success else 'failure'})")
    if not deployment_id.strip() or not ref_trans_id.strip():
        return NotifyOutcome(False, None, f"{what}: not sent: the deployment id and the "
                                          "transaction id must not be empty", None)
    body = notify_body(deployment_id, ref_trans_id, success, response_code, response_desc)
    try:
        client = vendor_client(settings, settings.tenant_url, parse=parse_notify_error)
    except ReconcilerError as exc:
        return NotifyOutcome(False, None, f"{what}: not sent: {exc}", None)
    try:
        response = await client.request("POST", settings.notify_path, json=body, ok=OK,
                                        idempotent=False)
    except VendorError as exc:
        unknown = (" (the notification may or may not have been recorded)"
                   if isinstance(exc, AmbiguousWriteError) else "")
        return NotifyOutcome(False, exc.code, f"{what} failed: {exc}{unknown}", None)
    except (ReconcilerError, httpx.HTTPError) as exc:
        detail = client.redact(f"{type(exc).__name__}: {exc}")
        return NotifyOutcome(False, None, f"{what} failed: {detail}", None)
    finally:
        await client.aclose()
    return _notified(response, what)


def _notified(response: httpx.Response, what: str) -> NotifyOutcome:
    code, text = body_code(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    transaction = body.get("transaction-id") if isinstance(body, dict) else None
    transaction = None if transaction is None else str(transaction)
    said = text or ("notified" if code == NOTIFIED else "no confirmation code in the answer")
    suffix = f" (transaction-id {transaction})" if transaction else ""
    return NotifyOutcome(True, code, f"{what}: Webex Campaign says: {said}{suffix}", transaction)
