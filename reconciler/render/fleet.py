"""A fleet's output: each environment under its own heading, then one summary table.

Environments are printed whole, one after the other (never interleaved), as each finishes;
the summary keeps one Row per environment, not its plan. Markdown puts the table first and
one collapsed section per environment under it, the whole within the comment limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from reconciler.render import Line
from reconciler.render.markdown import LIMIT, Budget, code, escape

COLUMNS = ("environment", "add", "change", "destroy", "import", "drift", "status")
_COUNTED = ("create", "update", "delete", "adopt")  # shown as add / change / destroy / import
_STYLE = {"failed": "bold red", "blocked": "bold red", "changes": "yellow", "drift": "yellow",
          "applied": "green", "no changes": "green", "no drift": "green", "skipped": "dim"}


class RowLike(Protocol):
    """reconciler.engine.fleet.Row, as the renderer reads it (render never imports the engine)."""

    environment: str
    status: Any
    counts: dict[str, int]
    drift: int | None
    error: str | None


def heading(environment: str) -> list[Line]:
    return [[("bold", f"=== Environment: {environment} " + "=" * max(3, 60 - len(environment)))], []]


def error_lines(row: RowLike) -> list[Line]:
    return [[("bold red", f"Error: {row.error}")]] if row.error else []


def _cells(row: RowLike) -> list[str]:
    counts = [str(row.counts[k]) if row.counts else "-" for k in _COUNTED]
    drift = "-" if row.drift is None else str(row.drift)
    return [row.environment, *counts, drift, str(row.status)]


def summary_line(rows: Sequence[RowLike], noun: str = "changes") -> str:
    changed = sum(1 for r in rows if str(r.status) in ("changes", "drift", "applied", "blocked"))
    blocked = sum(1 for r in rows if str(r.status) == "blocked")
    failed = sum(1 for r in rows if str(r.status) == "failed")
    skipped = sum(1 for r in rows if str(r.status) == "skipped")
    parts = [f"{len(rows)} environment{'s' if len(rows) != 1 else ''}", f"{changed} with {noun}"]
    parts += [f"{blocked} blocked"] if blocked else []
    parts += [f"{skipped} not started"] if skipped else []
    return "Fleet: " + ", ".join([*parts, f"{failed} failed"]) + "."


def summary_lines(rows: Sequence[RowLike], noun: str = "changes") -> list[Line]:
    table = [list(COLUMNS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in (0, len(cells) - 1) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    lines: list[Line] = [[("bold", "Fleet summary:")], [("bold", line(table[0]))]]
    for row, cells in zip(rows, table[1:], strict=True):
        lines.append([(_STYLE.get(str(row.status), ""), line(cells))])
    lines += [[], [("bold", summary_line(rows, noun))]]
    return lines


def fleet_document(format_version: str, documents: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """`--format json` over several environments: each one's single-environment document."""
    return {"format_version": format_version, "environments": dict(documents)}


def failed_document(row: RowLike) -> dict[str, Any]:
    return {"status": str(row.status), "error": row.error}


def fleet_markdown(title: str, rows: Sequence[RowLike], sections: dict[str, str],
                   noun: str = "changes", limit: int = LIMIT) -> str:
    """The summary table, then one collapsed section per environment that has something to
    show (failed and blocked ones first), as many as fit in `limit` (the rest are named)."""
    out = [f"### reconciler {title}: {len(rows)} environments", "",
           f"**{escape(summary_line(rows, noun))}**", "",
           "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join([code(c[0]), *c[1:]]) + " |" for c in (_cells(r) for r in rows)]
    budget = Budget(limit - sum(len(line) + 1 for line in out) - 300)
    left_out = []
    first = ("failed", "blocked")  # what can hurt first: never crowded out by the rest
    for row in sorted(rows, key=lambda r: str(r.status) not in first):
        body = sections.get(row.environment)
        if body is None:
            continue
        block = (f"\n<details><summary>{escape(row.environment)}: {escape(str(row.status))}"
                 f"</summary>\n\n{body.strip()}\n\n</details>")
        if not budget.take(block):
            left_out.append(row.environment)
            continue
        out.append(block)
    if left_out:
        out.append(f"\n_…{len(left_out)} environment(s) not shown (the comment size limit): "
                   f"{escape(', '.join(left_out[:50]))}{' …' if len(left_out) > 50 else ''}; "
                   "run the command with --env NAME to see one._")
    return "\n".join(out) + "\n"


def section_share(rows_with_sections: int, limit: int = LIMIT) -> int:
    """The characters each environment's section may take, so that all fit."""
    return max(600, (limit - 200 * rows_with_sections - 2_000) // max(rows_with_sections, 1))
