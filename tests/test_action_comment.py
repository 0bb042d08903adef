"""The Action's pull-request comment: composed by its own step (run as a runner runs it),
posted and kept up to date by a pinned sticky-comment action, and checked as GitHub renders
it (cmark-gfm): under 65,536 characters, cut only at a line, every <details> closed, every
table row whole, the counts of what was left out kept, no raw HTML, no live mention."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.plan.model import Action, Change, FieldDiff, Plan
from reconciler.render.markdown import plan_markdown
from tests.comment_checks import assert_comment
from tests.test_ci_examples import ACTION, load, run_action_step

RUN = ("https://github.com/acme/purposes/actions/runs/42",)  # the footer's link, the only one


def change(i: int, action: Action = Action.UPDATE, **kw: object) -> Change:
    values: dict[str, object] = {"reason": "fields differ @octocat | a", "remote_id": str(i),
                                 "diffs": [FieldDiff(("name",), f"old | name {i}" * 3, f"new name {i}" * 3)]}
    values.update(kw)
    return Change(address=f"outreach.call_purpose.p{i:05d}", vendor="outreach", kind="call_purpose",
                  action=action, **values)  # type: ignore[arg-type]


def compose(tmp_path: Path, plan: str, errors: str, code: str, directory: str = "manifests") -> str:
    report, stderr = tmp_path / "report.md", tmp_path / "stderr.txt"
    report.write_text(plan, encoding="utf-8")
    stderr.write_text(errors, encoding="utf-8")
    status, out, _ = run_action_step("Compose the plan comment", tmp_path, {
        "EXITCODE": code, "REPORT": str(report), "ERRORS": str(stderr), "DIRECTORY": directory,
        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/purposes",
        "GITHUB_RUN_ID": "42", "GITHUB_SHA": "0123456789abcdef"})
    assert status == 0
    return Path(out["body"]).read_text(encoding="utf-8")


def big_plan() -> str:
    deletes = [change(9000 + i, Action.DELETE, reason="removed from the manifests",
                      delete_mode="hard", diffs=[]) for i in range(5)]
    return plan_markdown(Plan([change(i) for i in range(2000)] + deletes, 0, "l", 3, "d", "/m"))


def test_a_full_plan_with_a_long_error_is_cut_at_a_line_and_keeps_its_folds_and_counts(tmp_path: Path) -> None:
    plan = big_plan()
    assert len(plan) > 60_000 and "more change(s) not shown" in plan
    stderr = "".join(f"Error: line {i} of a long stderr ```x```\n" for i in range(2000))
    body = compose(tmp_path, plan, stderr, "1")
    assert_comment(body, RUN)
    assert body.startswith("Directory `manifests`\n\n### reconciler plan failed (exit 1)")
    assert "Error: line 1999 of a long stderr" in body  # the last lines are the ones kept
    assert re.search(r"… \d+ earlier line\(s\) of stderr cut", body)
    assert "more line(s) of the plan" in body and "change row(s)" in body
    assert "more change(s) not shown" in body  # the plan's own count, kept
    for i in range(5):  # every delete is still named
        assert f"`outreach.call_purpose.p{9000 + i:05d}`" in body
    assert body.rindex("</details>") < body.index("_Commit 0123456"), "the footer is outside the fold"
    assert body.rstrip().endswith("[run 42](https://github.com/acme/purposes/actions/runs/42)._")


def test_a_plan_that_fits_is_posted_whole(tmp_path: Path) -> None:
    plan = plan_markdown(Plan([change(i) for i in range(20)], 0, "l", 3, "d", "/m"))
    body = compose(tmp_path, plan, "", "2", directory=".")
    assert body == plan.strip() + "\n\n_Commit 0123456, [run 42](https://github.com/acme/purposes/actions/runs/42)._"
    rendered = assert_comment(body, RUN)
    assert rendered.count("<tr>") == 21


def test_every_cut_point_keeps_the_comment_well_formed(tmp_path: Path) -> None:
    """Errors of many sizes move the cut through headings, lists, folds and table rows."""
    plan = big_plan()
    for size in (0, 7_000, 19_000, 33_000, 64_000):
        body = compose(tmp_path, plan, "e" * 70 + "\n" * 1 + ("x" * 99 + "\n") * (size // 100), "1")
        assert_comment(body, RUN)


def test_the_comment_is_kept_by_a_pinned_sticky_comment_action() -> None:
    steps = {s.get("name"): s for s in load(ACTION)["runs"]["steps"]}
    sticky = steps["Comment the plan on the pull request"]
    assert re.fullmatch(r"marocchino/sticky-pull-request-comment@[0-9a-f]{40}", sticky["uses"])
    assert sticky["with"]["path"] == "${{ steps.compose.outputs.body }}"
    assert "${{ inputs.directory }}" in sticky["with"]["header"]  # one comment per directory
    assert sticky["with"]["GITHUB_TOKEN"] == "${{ inputs.github-token }}"
    assert steps["Compose the plan comment"]["id"] == "compose"
