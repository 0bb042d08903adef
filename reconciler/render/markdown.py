"""A Plan as Markdown for a pull-request comment: summary first, details folded, size-capped."""

from __future__ import annotations

from reconciler.plan.model import Plan
from reconciler.render.text import SYMBOLS, summary, value

LIMIT = 65_000  # GitHub refuses comments over 65,536 characters


def plan_markdown(plan: Plan, limit: int = LIMIT) -> str:
    head = ["### reconciler plan", ""]
    if plan.changes:
        head += [f"**{summary(plan)}**", "", f"Checksum: `{plan.checksum()}`", ""]
    else:
        head += ["**No changes.** The remote objects match the manifests.", ""]
    head += [f"- :no_entry: {r}" for r in plan.refusals]
    head += [f"- :no_entry: safety: {v['message']}" for v in plan.safety if v["blocked"]]
    head += [f"- :warning: {w}" for w in plan.warnings]
    if plan.unmanaged:
        head.append("- Unmanaged objects left alone: " + ", ".join(
            f"{v}: {len(o)}" for v, o in sorted(plan.unmanaged.items())))
    if plan.skipped:
        head.append(f"- Skipped {plan.skipped} object(s) outside --target/--exclude.")
    details: list[str] = []
    for change in plan.changes:
        symbol = SYMBOLS[change.action][0]
        line = f"| `{symbol}` | `{change.address}` | {change.action} | {change.reason}"
        fields = "<br>".join(f"`{d.field}`: {_cell(value(d.before))} → {_cell(value(d.after))}"
                             for d in change.diffs)
        details.append(f"{line} | {fields} |")
    if not details:
        return "\n".join(head) + "\n"
    open_ = ["", "<details><summary>Changes</summary>", "",
             "| | address | action | why | fields |", "|---|---|---|---|---|"]
    close = ["", "</details>", ""]
    budget = limit - len("\n".join(head + open_ + close)) - 200
    shown: list[str] = []
    for line in details:
        budget -= len(line) + 1
        if budget < 0:
            break
        shown.append(line)
    if len(shown) < len(details):
        close.insert(0, f"\n_…cut: {len(details) - len(shown)} more change(s) not shown (the "
                        "comment size limit); see the full plan in the job's JSON output._")
    return "\n".join(head + open_ + shown + close)


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."
