"""The service's small parts, each checked directly: durations, the token rule, webhook
URLs (a secret), the chart and the pages' escaping, chart buckets."""

from __future__ import annotations

import pytest

from reconciler.cli.serve import bearer_token
from reconciler.errors import ConfigError
from reconciler.history.model import ObjectChange, RunRecord
from reconciler.history.store import DriftPoint
from reconciler.redact import REDACT
from reconciler.service import pages
from reconciler.service.archive import Standing, most_drifted
from reconciler.service.chart import drift_chart
from reconciler.service.duration import parse_duration
from reconciler.service.notify import body, targets
from reconciler.service.settings import Event, Webhook

HOSTILE = "<script>alert(1)</script>\"'&"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600),
                                               ("1d", 86400), ("1.5h", 5400)])
def test_durations_say_their_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "0s", "1w", "h", "-5m", ""])
def test_a_duration_without_a_unit_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="30s, 15m, 1h or 1d"):
        parse_duration(text)


def test_beyond_loopback_needs_a_long_token_that_is_then_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert bearer_token("127.0.0.1", None) is None and bearer_token("::1", None) is None
    with pytest.raises(ConfigError, match="--auth-token-env"):
        bearer_token("0.0.0.0", None)
    monkeypatch.setenv("SERVE_TOKEN", "short")
    with pytest.raises(ConfigError, match="shorter than 16"):
        bearer_token("0.0.0.0", "SERVE_TOKEN")
    token = "a-long-random-token-0123456789"
    monkeypatch.setenv("SERVE_TOKEN", token)
    assert bearer_token("10.0.0.5", "SERVE_TOKEN") == token
    assert token not in REDACT(f"Authorization: Bearer {token}")


def test_webhook_urls_come_from_the_environment_and_are_secrets() -> None:
    hook = Webhook(name="ops", url_env="OPS_HOOK")
    with pytest.raises(ConfigError, match="OPS_HOOK is not set"):
        targets([hook], {})
    secret = "http://hooks.example.com/T000/B000/s3cr3tpath"
    with pytest.raises(ConfigError, match="plain http") as refused:
        targets([hook], {"OPS_HOOK": secret})
    assert "s3cr3tpath" not in str(refused.value)
    assert "s3cr3tpath" not in REDACT(f"posting to {secret}")  # registered before any check
    [target] = targets([hook], {"OPS_HOOK": "http://127.0.0.1:9/hook"})  # loopback may be http
    assert target.url.endswith("/hook")


def _run(**counts: int) -> RunRecord:
    return RunRecord(id="r1", kind="drift", started_at="2026-12-07T06:00:00+00:00",
                     finished_at="2026-12-07T06:00:01+00:00", outcome="drift", actor="a",
                     counts=counts, changes=(ObjectChange("outreach.call_purpose.x", "drift", "changed"),))


def test_alert_bodies_carry_addresses_and_counts_only() -> None:
    run = _run(drifted=1, missing=0, unmanaged=0)
    generic = body(Webhook(name="j", url_env="J"), Event.drift_found, run, "1 drifted")
    assert generic["addresses"] == ["outreach.call_purpose.x"] and generic["run"]["counts"]["drifted"] == 1
    slack = body(Webhook(name="s", url_env="S", format="slack"), Event.drift_resolved, run, "")
    assert set(slack) == {"text"} and "Drift resolved in default" in slack["text"]


def _points(n: int, failed_at: int = -1) -> list[DriftPoint]:
    return [DriftPoint(HOSTILE, f"2026-12-07T{h:02d}:00:00+00:00", h % 3, 0, 1,
                       "failed" if h == failed_at else "drift") for h in range(n)]


def test_the_chart_has_one_point_per_run_and_escapes_what_it_shows() -> None:
    svg = drift_chart(_points(5, failed_at=2), f"Drifted objects in {HOSTILE}")
    assert svg.count("<circle") == 5 and svg.count('class="point failed"') == 1
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert drift_chart([], "x").startswith('<p class="empty">')


def test_buckets_keep_each_hours_most_drifted_run() -> None:
    points = [DriftPoint("e", f"2026-12-07T06:{m:02d}:00+00:00", d, 0, 0, "drift")
              for m, d in ((0, 1), (15, 4), (30, 2))]
    assert [p.drifted for p in most_drifted(points, 13)] == [4]


def test_pages_escape_environment_names_addresses_and_values() -> None:
    run = RunRecord(id=HOSTILE, kind="drift", started_at="2026-12-07T06:00:00+00:00",
                    finished_at="2026-12-07T06:00:01+00:00", outcome="drift", actor=HOSTILE,
                    environment=HOSTILE, commit=HOSTILE, counts={"drifted": 1},
                    changes=(ObjectChange(f"outreach.call_purpose.{HOSTILE}", "drift", "changed",
                                          HOSTILE, note=HOSTILE),))
    standing = Standing(HOSTILE, ("outreach",), run, run, {"outreach": {"drifted": 1}})
    for html in (pages.fleet([standing], {HOSTILE: {"waiting": HOSTILE}}, [run]),
                 pages.run_page(run), pages.address_page(HOSTILE, [run]),
                 pages.environment(HOSTILE, run, _points(3), [run], 1, {}),
                 pages.runs_page([run], HOSTILE, HOSTILE), pages.not_found(HOSTILE)):
        assert "<script>" not in html and HOSTILE not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
