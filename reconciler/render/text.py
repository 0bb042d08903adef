"""A Plan as Terraform-like text: `+` create, `~` update, `-` delete, `<=` adopt."""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan.model import Action, Change, Plan, Reason
from reconciler.plan.safety import BLOCKED, FORCED
from reconciler.render import Line

SYMBOLS: dict[Action, tuple[str, str, str]] = {
    Action.CREATE: ("+", "green", "will be created"),
    Action.UPDATE: ("~", "yellow", "will be updated in place"),
    Action.DELETE: ("-", "red", "will be deleted"),
    Action.ADOPT: ("<=", "cyan", "will be adopted (an existing remote object)"),
    Action.PUSH: (">", "magenta", "will be pushed"),
    Action.FORGET: ("x", "blue", "will be forgotten (removed from state only)"),
    Action.MOVE: ("->", "cyan", "has moved (state only: no vendor call)"),
    Action.REPLACE: ("-/+", "magenta", "will be replaced (deleted, then created again)"),
}
MAX_UNMANAGED_SHOWN = 20
# The legend's words; `<=` is Terraform's "read", so it is spelled out.
LEGEND: dict[Action, str] = {
    Action.CREATE: "create", Action.UPDATE: "update in place",
    Action.DELETE: "delete (or deactivate, as its line says)",
    Action.ADOPT: "adopt an existing remote object (not Terraform's read)",
    Action.PUSH: "push write-only content", Action.FORGET: "forget (state only)",
    Action.REPLACE: "replace (delete, then create)",
}


def value(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, default=str)


def change_lines(change: Change, forced: bool = False) -> list[Line]:
    """`forced`: shown by an apply given --force, which lifts the threshold it reports."""
    symbol, style, verb = SYMBOLS[change.action]
    if change.action is Action.DELETE and change.delete_mode not in (None, "hard"):
        verb = {"soft": "will be soft-deleted (the vendor keeps it, marked deleted)",
                "deactivate": "will be deactivated (kept, switched off)"}.get(
                    change.delete_mode, verb)
    where = f"  ({change.source})" if change.source else ""
    remote = f" (id {change.remote_id})" if change.remote_id else ""
    if change.action is Action.MOVE and not change.state_only:
        verb = "has moved, and will be updated in place"
    if change.why is Reason.UPDATE_STATE_REFRESH:
        verb = "will have its state record refreshed (state only: no vendor call)"
    if change.refused:
        verb = f"is refused: it cannot be {verb.removeprefix('will be ')}, nothing is done"
    lines: list[Line] = [
        [("bold", f"  # {change.address}"), ("", f" {verb}"), ("dim", where)],
        [(style, f"  {symbol} {change.address}" if change.moved_from is None
          else f"  {change.moved_from} {symbol} {change.address}"),
         ("dim", remote), ("dim", f"  {change.reason}")],
    ]
    if change.action is Action.CREATE and change.attributes:
        width = max(len(k) for k in change.attributes)
        lines += [[(style, f"      + {k.ljust(width)} = "), ("", value(v))]
                  for k, v in change.attributes.items()]
    for diff in change.diffs:
        lines.append([("yellow", f"      ~ {diff.field}: "), ("red", value(diff.before)),
                      ("", " -> "), ("green", value(diff.after))])
    if change.refused:
        lines.append([("bold red", f"      ! refused: {change.refused}")])
    elif change.safety == "blocked: threshold" and forced:
        lines.append([("yellow", "      ! over the threshold: applied because --force was given")])
    elif change.safety != "ok":
        lines.append([("bold red", f"      ! {change.safety}")])
    lines.append([])
    return lines


def summary(plan: Plan) -> str:
    """Terraform's closing line, in its words, so that tools that read it (Atlantis, tfcmt)
    count right: `Plan: 1 to import, 2 to add, 1 to change, 1 to destroy.` ("to import" only
    when there are imports, ", N to forget" only when there are forgets, as Terraform 1.5+ and
    1.7+ print them). A deactivation is counted as a destroy (the JSON shows it as a delete);
    our own counts (moves, pushes, state-only edits, refusals) follow in a second sentence."""
    counts = plan.counts()
    replaced = counts["replace"]  # Terraform counts a replacement as one add and one destroy
    destroy = counts["delete"] + counts["deactivate"] + replaced
    text = "Plan: " + (f"{counts['adopt']} to import, " if counts["adopt"] else "")
    text += f"{counts['create'] + replaced} to add, {counts['update']} to change, {destroy} to destroy"
    text += f", {counts['forget']} to forget." if counts["forget"] else "."
    extras = [f"{counts[a]} to {a}" for a in ("move", "push", "replace") if counts[a]]
    extras += [f"{counts['state_only']} state-only"] if counts["state_only"] else []
    extras += [f"{counts['refused']} refused"] if counts["refused"] else []
    if counts["deactivate"]:
        extras.append(f"{counts['deactivate']} of the destroys deactivate (kept, switched off)")
    return f"{text} Also: {', '.join(extras)}." if extras else text


def legend(plan: Plan) -> Line:
    """One line naming the symbols this plan uses, in the order of SYMBOLS; empty if none."""
    present = {change.action for change in plan.changes}
    parts = [f"{symbol} {LEGEND.get(action, str(action))}"
             for action, (symbol, _, _) in SYMBOLS.items() if action in present]
    if plan.unmanaged:
        parts.append("? unmanaged, left alone")
    return [("dim", "Symbols: " + ", ".join(parts))] if parts else []


def plan_lines(plan: Plan, checksum: bool = True, forced: bool = False) -> list[Line]:
    lines: list[Line] = []
    if plan.changes:
        lines.append([("", "reconciler will perform the following actions:")])
        lines.append([])
        for change in plan.changes:
            lines.extend(change_lines(change, forced))
    for vendor, objects in sorted(plan.unmanaged.items()):
        lines.append([("dim", f"Unmanaged: {len(objects)} {vendor} object(s) never managed by "
                              "reconciler are left alone (import them, or set prune: true)")])
        lines += [[("dim", f"  ? {label}")] for label in objects[:MAX_UNMANAGED_SHOWN]]
        if len(objects) > MAX_UNMANAGED_SHOWN:
            lines.append([("dim", f"  ... and {len(objects) - MAX_UNMANAGED_SHOWN} more")])
    for kind in plan.not_observable:
        lines.append([("dim", f"Note: {kind} is write-only: its remote content is not "
                              "observable, so it is compared with the state only")])
    for warning in plan.warnings:
        lines.append([("yellow", f"Warning: {warning}")])
    if plan.skipped:
        lines.append([("dim", f"Skipped {plan.skipped} object(s) outside --target/--exclude.")])
    if symbols := legend(plan):
        lines.append(symbols)
    if not plan.changes:
        lines.append([("bold green", "No changes. "), ("", "The remote objects match the manifests.")])
    else:
        lines.append([("bold", summary(plan))])
    if checksum and plan.changes:
        lines.append([("dim", f"Plan checksum: {plan.checksum()}")])
    for verdict in plan.safety:
        if verdict.blocked and forced and verdict.overridable:
            lines.append([("yellow", "Safety: " + verdict.message.replace(BLOCKED, FORCED))])
        elif verdict.blocked:
            lines.append([("bold red", f"Safety: {verdict.message}")])
    for refusal in plan.refusals:
        lines.append([("bold red", f"Error: {refusal}")])
    return lines
