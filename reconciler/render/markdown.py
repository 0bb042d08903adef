r"""A Plan as Markdown for a pull-request comment: what can hurt first, details folded, size-capped.

Order: the summary, then blocked safety verdicts, deletes and refusals, which are never
crowded out by the rest (when even their one-line forms do not fit, every name that fits
is listed and the rest are counted); then warnings; then one fold per vendor with the
other changes, cut with a note when the comment is full. The whole body stays under
LIMIT (GitHub refuses a comment over 65,536 characters).

Every value that comes from a manifest, a vendor or the state is escaped: HTML (`<`, `>`,
`&`, quotes) so that `</details>` or `<img>` is shown, never rendered, and Markdown
punctuation so that `[link](...)`, `![image](...)` or `*` stay text. Code spans take a
fence longer than any backtick run in their content. `|` is escaped once, in table cells
only (GitHub's renderer, cmark-gfm, takes `\|` out of a cell before reading it, code spans
included; elsewhere a `\|` would show its backslash). `@user` and `@org/team` get a
zero-width space entity after the `@` (as Renovate does), so a name never notifies anyone;
a bare `https://` URL gets one after its colon, so a name never becomes a link.
Invisible and direction-changing characters (U+202E, U+200B, C1 controls such as U+009B)
are shown as `\u202e`, never raw.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

from reconciler.plan.model import Action, Change, Plan
from reconciler.render.text import SYMBOLS, summary, value

LIMIT = 65_000  # GitHub refuses comments over 65,536 characters; the rest is margin
CELL = 120  # characters of one value shown in a table cell, before escaping
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!~])")
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")  # GitHub links @user and @org/team
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp):(?=//)")  # GitHub links bare URLs, escapes or not
_ZWSP_ENTITY = "&#8203;"  # an entity, not the character: the source has no invisible text
_BACKTICKS = re.compile(r"`+")
_DELETE_VERBS = {"soft": "will be soft-deleted", "deactivate": "will be deactivated"}


def visible(text: str) -> str:
    """Control, format (bidi, zero-width) and separator characters as `\\uXXXX` text: a
    name cannot reorder, hide or split what the reviewer reads."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(ch if ch == " " or unicodedata.category(ch)[0] not in "CZ"
                   else f"\\u{ord(ch):04x}" for ch in text)


def escape(text: str) -> str:
    """Text shown as typed: lines joined, invisible characters made visible, Markdown
    punctuation backslash-escaped, HTML-escaped, then mentions defused."""
    flat = " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text
    escaped = html.escape(_MARKDOWN.sub(r"\\\1", visible(flat)), quote=False)  # never in an attribute
    if "@" in escaped:
        escaped = _MENTION.sub("@" + _ZWSP_ENTITY, escaped)
    return _AUTOLINK.sub(r"\1:" + _ZWSP_ENTITY, escaped) if "//" in escaped else escaped


def cell(markdown: str) -> str:
    """Finished Markdown put in a table cell: its pipes escaped once, code spans included."""
    return markdown.replace("|", "\\|")


def code(text: str) -> str:
    """An inline code span that no backtick in `text` can close early (mentions are not
    linked in code)."""
    flat = visible(" ".join(text.splitlines()))
    runs = [len(r) for r in _BACKTICKS.findall(flat)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if flat.startswith(("`", " ")) or flat.endswith(("`", " ")) else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _shown(v: object) -> str:
    text = value(v)
    return escape(text if len(text) <= CELL else text[:CELL - 1] + "…")


class Budget:
    """Characters left for the comment; sections take lines while they fit."""

    def __init__(self, chars: int) -> None:
        self.left = chars

    def take(self, line: str) -> bool:
        if len(line) + 1 > self.left:
            return False
        self.left -= len(line) + 1
        return True


def plan_markdown(plan: Plan, limit: int = LIMIT) -> str:
    head = _head(plan)
    budget = Budget(limit - sum(len(line) + 1 for line in head) - 200)
    out = list(head)
    out += _verdicts(plan, budget)
    out += _deletes(plan, budget)
    out += _refusals(plan, budget)
    out += _notes(plan, budget)
    out += _folds(plan, budget)
    return "\n".join(out) + "\n"


def _head(plan: Plan) -> list[str]:
    lines = ["### reconciler plan", ""]
    if plan.changes:
        lines += [f"**{escape(summary(plan))}**", "", f"Checksum: {code(plan.checksum())}", ""]
    else:
        lines += ["**No changes.** The remote objects match the manifests.", ""]
    return lines


def _section(title: str, full: list[str], names: list[str], budget: Budget, what: str) -> list[str]:
    """One line per item if all fit; else the names alone, as many as fit, the rest counted."""
    if not full:
        return []
    out = [title, ""]
    if not budget.take(title) or not budget.take(""):
        return [f"_{len(full)} {what} not shown: the comment is full._", ""]
    if sum(len(line) + 1 for line in full) <= budget.left - 100:
        for line in full:
            budget.take(line)
        return [*out, *full, ""]
    shown: list[str] = []
    budget.left -= 200  # the note below
    for name in names:
        if not budget.take(name + ", "):
            break
        shown.append(name)
    line = ", ".join(shown)
    rest = len(names) - len(shown)
    note = (f" _… and {rest} more (the comment size limit); the full list: "
            "`reconciler show PLANFILE`._") if rest else ""
    return [*out, f"All {len(names)} {what} (names only, to fit): {line}{note}", ""]


def _verdicts(plan: Plan, budget: Budget) -> list[str]:
    blocked = [v for v in plan.safety if v.blocked]
    full = [f"- :no_entry: {escape(v.message)}" for v in blocked]
    names = [escape(f"{v.vendor}: {v.rule}") for v in blocked]
    return _section("#### :no_entry: Blocked by a safety rail", full, names, budget, "verdict(s)")


def _deletes(plan: Plan, budget: Budget) -> list[str]:
    deletes = [c for c in plan.changes if c.action is Action.DELETE and not c.refused]
    full = [_delete_line(c) for c in deletes]
    names = [code(c.address) for c in deletes]
    return _section(f"#### :warning: {len(deletes)} to delete or deactivate", full, names,
                    budget, "delete(s)")


def _delete_line(change: Change) -> str:
    verb = _DELETE_VERBS.get(change.delete_mode or "", "will be deleted")
    remote = f" (id {escape(change.remote_id)})" if change.remote_id else ""
    blocked = f" **{escape(change.safety)}**" if change.safety != "ok" else ""
    return f"- {code(change.address)}{remote} {verb}: {escape(change.reason)}{blocked}"


def _refusals(plan: Plan, budget: Budget) -> list[str]:
    full, names = [], []
    for refusal in plan.refusals:
        address, sep, message = refusal.partition(": ")
        if sep and " " not in address:
            full.append(f"- {code(address)}: {escape(message)}")
            names.append(code(address))
        else:
            full.append(f"- {escape(refusal)}")
            names.append(escape(refusal[:60]))
    return _section(f"#### :no_entry: {len(full)} refused: the plan cannot be applied", full,
                    names, budget, "refusal(s)")


def _notes(plan: Plan, budget: Budget) -> list[str]:
    lines = [f"- :warning: {escape(w)}" for w in plan.warnings]
    if plan.unmanaged:
        lines.append("- Unmanaged objects left alone: " + ", ".join(
            f"{escape(v)}: {len(o)}" for v, o in sorted(plan.unmanaged.items())))
    if plan.skipped:
        lines.append(f"- Skipped {plan.skipped} object(s) outside --target/--exclude.")
    kept = [line for line in lines if budget.take(line)]
    if len(kept) < len(lines):
        kept.append(f"- _{len(lines) - len(kept)} note(s) not shown: the comment is full._")
    return [*kept, ""] if kept else []


def _folds(plan: Plan, budget: Budget) -> list[str]:
    """One fold per vendor with the changes not listed above; cut with a note when full."""
    by_vendor: dict[str, list[Change]] = defaultdict(list)
    for change in plan.changes:
        if not change.refused and change.action is not Action.DELETE:
            by_vendor[change.vendor].append(change)
    out: list[str] = []
    cut = 0
    for vendor, changes in sorted(by_vendor.items()):
        opening = [f"<details><summary>{html.escape(vendor)}: {_counts(changes)}</summary>", "",
                   "| | address | action | why | fields |", "|---|---|---|---|---|"]
        if not all(budget.take(line) for line in (*opening, "", "</details>", "")):
            cut += len(changes)
            continue
        shown: list[str] = []
        for change in changes:
            if not budget.take(row := _row(change)):
                break  # rows are a few hundred characters: the next one would not fit either
            shown.append(row)
        cut += len(changes) - len(shown)
        out += [*opening, *shown, "", "</details>", ""]
    if cut:
        out.append(f"_…cut: {cut} more change(s) not shown (the comment size limit); see the "
                   "full plan with `reconciler show PLANFILE` or the job's JSON output._")
    return out


def _counts(changes: Iterable[Change]) -> str:
    tally: dict[str, int] = defaultdict(int)
    for change in changes:
        tally[str(change.action)] += 1
    return ", ".join(f"{n} to {action}" for action, n in sorted(tally.items()))


def _row(change: Change) -> str:
    symbol = SYMBOLS[change.action][0] if change.action in SYMBOLS else str(change.action)
    fields = "<br>".join(f"{code(d.field)}: {_shown(d.before)} → {_shown(d.after)}"
                         for d in change.diffs)
    if change.action is Action.CREATE and change.attributes:
        fields = "<br>".join(f"{code(k)}: {_shown(v)}" for k, v in change.attributes.items())
    address = code(change.address)
    if change.moved_from:
        address = f"{code(change.moved_from)} → {address}"
    return (f"| {code(symbol)} | {cell(address)} | {escape(str(change.action))} | "
            f"{cell(escape(change.reason))} | {cell(fields)} |")
