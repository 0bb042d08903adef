"""The pull-request comment as GitHub renders it (cmark-gfm): size limit, what comes first, no
raw HTML, no live mention, no invisible character, every fold closed and every row intact.

Big plans are built in-process (a Plan of 2,000 changes is data, not a mock); the
hostile-value plan is made by the real CLI against the Outreach sandbox, with purpose names
an attacker could put in a vendor tenant or a manifest.
"""

from __future__ import annotations

import html
import json
import re

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from reconciler.drift.detect import DriftItem, DriftReport
from reconciler.plan.model import Action, Change, FieldDiff, Plan, Verdict
from reconciler.render.drift import drift_markdown
from reconciler.render.markdown import LIMIT, code, plan_markdown
from tests.comment_checks import assert_comment
from tests.conftest import Project

GITHUB_LIMIT = 65_536
ALLOWED_HTML = re.compile(r"^(<details><summary>[^<>&]*</summary>|</details>|<br>)$")
HOSTILE = [
    "</details><img src=x onerror=alert(1)>",
    "[click me](javascript:alert(1))",
    "![pixel](https://tracker.example/p.png)",
    "a | b ` c ``` d",
    "<!-- hidden --><script>alert(2)</script>",
    "&lt;already escaped&gt; &amp;",
    "*bold* _em_ ~~gone~~ # not a heading",
    "ping @octocat and @acme/security-team",
    "bidi \u202eevil\u202c zero\u200bwidth csi\u009b[31m",
    "pipe | in | cells \\| and a backslash",
]


def parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def html_tokens(tokens: list[Token]) -> list[str]:
    found: list[str] = []
    for token in tokens:
        if token.type in ("html_block", "html_inline"):
            found.extend(part for part in token.content.splitlines() if part.strip())
        found.extend(html_tokens(token.children or []))
    return found


def assert_no_raw_html(text: str) -> str:
    """Only the comment's own tags are HTML, for two parsers (CommonMark's reference rules in
    markdown-it, and GitHub's cmark-gfm with every other comment check); returns GitHub's HTML."""
    md = parser()
    stray = [t for t in html_tokens(md.parse(text)) if not ALLOWED_HTML.match(t.strip())]
    assert stray == [], stray[:5]
    return assert_comment(text)


def change(i: int, action: Action = Action.UPDATE, vendor: str = "outreach", **kw: object) -> Change:
    kind = {"outreach": "call_purpose", "superoffice": "consent_purpose",
            "webex_campaign": "purpose"}[vendor]
    values: dict[str, object] = {"reason": "fields differ", "remote_id": str(i),
                                 "diffs": [FieldDiff(("name",), f"old name {i}" * 3, f"new name {i}" * 3)]}
    values.update(kw)
    return Change(address=f"{vendor}.{kind}.p{i:05d}", vendor=vendor, kind=kind, action=action,
                  **values)  # type: ignore[arg-type]


def test_2000_changes_keep_the_limit_and_name_every_delete_first() -> None:
    deletes = [change(9000 + i, Action.DELETE, reason="removed from the manifests",
                      delete_mode="hard", diffs=[], phase=2) for i in range(5)]
    plan = Plan([change(i) for i in range(2000)] + deletes, 0, "lineage", 3, "digest", "/m")
    text = plan_markdown(plan)
    assert len(text) <= LIMIT < GITHUB_LIMIT
    first_fold = text.index("<details>")
    for delete in deletes:  # sorted last in the plan, shown first in the comment
        assert text.index(f"`{delete.address}`") < first_fold
    assert "5 to delete" in text and "more change(s) not shown" in text
    assert "2000 to update" in text
    assert_no_raw_html(text)


def test_2000_refusals_keep_the_limit_and_deletes_stay_named() -> None:
    refused = [change(i, Action.DELETE, diffs=[], delete_mode="hard",
                      refused="cannot delete (webex_campaign has no delete API); keep it in the "
                              "manifests, or stop managing it with --forget " + "x" * 80,
                      vendor="webex_campaign") for i in range(2000)]
    deletes = [change(9000 + i, Action.DELETE, reason="removed from the manifests",
                      delete_mode="deactivate", diffs=[], vendor="superoffice") for i in range(3)]
    plan = Plan(refused + deletes + [change(i) for i in range(500)], 0, "l", 1, "d", "/m",
                refusals=[f"{c.address}: {c.refused}" for c in refused],
                warnings=["w" * 200] * 50)
    text = plan_markdown(plan)
    assert len(text) <= LIMIT  # was 436,578 characters: refusals were not counted
    for delete in deletes:
        assert f"`{delete.address}`" in text and "will be deactivated" in text
    assert "2000 refused" in text and "the comment size limit" in text
    assert text.index("refused") < text.index("<details>") if "<details>" in text else True
    assert_no_raw_html(text)


def test_blocked_safety_verdict_comes_before_the_changes() -> None:
    plan = Plan([change(i) for i in range(3000)], 0, "l", 1, "d", "/m", safety=[Verdict(
        "outreach", "threshold", True, True,
        "outreach: 3000 update(s)/delete(s) of 3000 managed object(s): blocked")])
    text = plan_markdown(plan)
    assert len(text) <= LIMIT
    assert text.index("Blocked by a safety rail") < text.index("<details>")


def test_one_fold_per_vendor() -> None:
    plan = Plan([change(1), change(2, vendor="superoffice"), change(3, vendor="webex_campaign")],
                0, "l", 1, "d", "/m")
    text = plan_markdown(plan)
    summaries = re.findall(r"<details><summary>([^<]*)</summary>", text)
    assert summaries == ["outreach: 1 to update", "superoffice: 1 to update",
                         "webex_campaign: 1 to update"]


@pytest.mark.parametrize("content", ["a`b", "``x``", "`edge`", "plain", "a ``` b"])
def test_code_spans_cannot_be_closed_early(content: str) -> None:
    [paragraph] = [t for t in parser().parse(code(content)) if t.type == "inline"]
    [span] = paragraph.children or []
    assert span.type == "code_inline" and span.content == content


def test_hostile_values_from_the_sandbox_are_text(project: Project) -> None:
    """Purpose names an attacker chose: in the vendor tenant (unmanaged, then adopted with a
    diff) and in a manifest (created)."""
    for i, name in enumerate(HOSTILE):
        project.sandbox.outreach("POST", "/callPurposes", {"data": {
            "type": "callPurpose", "attributes": {"name": name, "order": i}}})
    manifest = "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}: {{name: {_yaml(name)}, order: {i + 100}}}\n" for i, name in enumerate(HOSTILE))
    manifest += "".join(f"    n{i}: {{name: {_yaml(name + ' (new)')}}}\n"
                        for i, name in enumerate(HOSTILE))
    manifest += "    fresh: {name: " + _yaml("x\u2028</details>\n<b>bold</b>") + "}\n"
    project.write("purposes/outreach.yaml", manifest)
    result = project.plan("--format", "markdown")
    assert result.code == 2, result.text
    rendered = assert_no_raw_html(result.out)
    assert "<img" not in rendered and "<script" not in rendered and "<b>" not in rendered
    assert 'href="javascript' not in rendered and "<a " not in rendered
    text = html.unescape(re.sub(r"<[^>]+>", "", rendered)).replace("@\u200b", "@").replace(":\u200b//", "://")  # defused
    for name in HOSTILE:
        assert json.dumps(name + " (new)")[1:-1] in text, name  # shown as typed, never interpreted
    assert rendered.count("<details>") == rendered.count("</details>") == 1


def _yaml(text: str) -> str:
    quoted = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in quoted) + '"'


def test_drift_markdown_escapes_and_keeps_the_limit() -> None:
    items = [DriftItem(f"outreach.call_purpose.p{i}", "outreach", "call_purpose", "changed", str(i),
                       [FieldDiff(("name",), HOSTILE[i % len(HOSTILE)], "x" * 40)])
             for i in range(3000)]
    text = drift_markdown(DriftReport(items=items, checked=3000))
    assert len(text) <= LIMIT and "more drifted object(s) not shown" in text
    rendered = assert_no_raw_html(text)
    assert "<img" not in rendered and "<script" not in rendered
