"""apply reports its outcome to a Webex Campaign External Action deployment (531 / 532)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Project

PURPOSES = """\
webex_campaign:
  purposes:
    marketing:
      name: Marketing_Purpose
      description: Marketing purpose
"""


def notifications(project: Project) -> list[dict[str, Any]]:
    return httpx.get(project.sandbox.url + "/_sandbox/webex_campaign/notifications").json()  # type: ignore[no-any-return]


def test_good_apply_reports_531(project: Project) -> None:
    project.configure(vendors=("webex_campaign",))
    project.write("p.yaml", PURPOSES)
    result = project.apply("--notify-webex-deployment", "API_1605176965390000881",
                           "--notify-webex-transaction", "CC02_1605176995001254571")
    assert result.code == 0, result.text
    assert "Reported success (531) to Webex Campaign deployment API_1605176965390000881" in result.err
    [sent] = notifications(project)
    assert sent["responseState"] == "531" and sent["refTransId"] == "CC02_1605176995001254571"
    assert sent["deploymentId"] == "API_1605176965390000881"
    assert '"responseCode": "200"' in sent["additionalInfo"] and "1 create" in sent["additionalInfo"]


def test_failed_apply_reports_532_and_still_exits_1(project: Project) -> None:
    project.configure(vendors=("webex_campaign", "outreach"))
    project.write("p.yaml", PURPOSES + "outreach:\n  call_purposes:\n    x: {name: X}\n")
    result = project.apply("--notify-webex-deployment", "D1", "--notify-webex-transaction", "T1",
                           env={"OUTREACH_TOKEN": "not-the-sandbox-token"})
    assert result.code == 1, result.text
    assert "Reported failure (532)" in result.err
    [sent] = notifications(project)
    assert sent["responseState"] == "532" and '"responseCode": "500"' in sent["additionalInfo"]
    assert "not-the-sandbox-token" not in sent["additionalInfo"]


def test_settings_in_reconciler_yaml_and_a_refused_notification(project: Project) -> None:
    project.extra_provider_settings["webex_campaign"] = (
        "    notify_deployment_id: NO_ACTIONS\n    notify_ref_trans_id: ${WEBEX_REF_TRANS_ID}\n")
    project.configure(vendors=("webex_campaign",))
    project.write("p.yaml", PURPOSES)
    result = project.apply(env={"WEBEX_REF_TRANS_ID": "T9"})
    assert result.code == 0, result.text
    [sent] = notifications(project)
    assert sent["deploymentId"] == "NO_ACTIONS" and sent["refTransId"] == "T9"


def test_notification_failure_never_hides_the_apply_result(project: Project) -> None:
    project.extra_provider_settings["webex_campaign"] = "    max_attempts: 2\n"  # not 8 tries' backoff
    project.configure(vendors=("webex_campaign",))
    project.write("p.yaml", PURPOSES)
    result = project.apply("--notify-webex-deployment", "D1", "--notify-webex-transaction", "T1",
                           env={"WEBEX_CAMPAIGN_TENANT_URL": "http://127.0.0.1:9/nothing-here"})
    assert result.code == 0, result.text
    assert "Warning: could not report success (531) to Webex Campaign" in result.err
    assert "Apply complete!" in result.out


def test_only_one_of_the_two_ids_is_an_error(project: Project) -> None:
    project.configure(vendors=("webex_campaign",))
    project.write("p.yaml", PURPOSES)
    result = project.apply("--notify-webex-deployment", "D1")
    assert result.code == 1 and "needs both the deployment id" in result.err
    assert project.sandbox.writes() == 0
