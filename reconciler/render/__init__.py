"""Renderers: a Plan or a report -> text for a terminal, JSON, or Markdown for a pull request."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from reconciler.redact import clean

if TYPE_CHECKING:
    from reconciler.drift.detect import DriftReport
    from reconciler.plan.model import Plan

Segment = tuple[str, str]  # (rich style or "", text)
Line = list[Segment]


def emit(lines: list[Line], color: bool, stream: TextIO | None = None) -> None:
    """Styled through Rich on a terminal; plain and fast (one write) when piped. Values came
    from vendors, files and manifests: their control characters and ANSI escapes are
    dropped, so a name cannot recolour, clear or forge the output."""
    stream = stream or sys.stdout
    if not color:
        stream.write(clean("".join("".join(text for _, text in line) + "\n" for line in lines),
                           newlines=True))
        stream.flush()
        return
    from rich.console import Console  # only for colour: piped output never pays Rich's import
    from rich.text import Text

    console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True)
    for line in lines:
        console.print(Text.assemble(*((clean(text), style) for style, text in line)))


def show(subject: Plan | DriftReport, fmt: str, color: bool, stream: TextIO | None = None) -> None:
    """The one place a plan or a drift report is printed, in the format asked for (text,
    json, markdown); each renderer is imported only when used."""
    from reconciler.plan.model import Plan

    stream = stream or sys.stdout
    if fmt == "json":
        from reconciler.render.json import drift_document, dumps, plan_document

        document = plan_document(subject) if isinstance(subject, Plan) else drift_document(subject)
        stream.write(dumps(document) + "\n")
    elif fmt == "markdown":
        from reconciler.render.drift import drift_markdown
        from reconciler.render.markdown import plan_markdown

        text = plan_markdown(subject) if isinstance(subject, Plan) else drift_markdown(subject)
        stream.write(text + "\n")
    elif isinstance(subject, Plan):  # a plan's text needs no drift (nor Markdown) renderer
        from reconciler.render.text import plan_lines

        emit(plan_lines(subject), color, stream)
        return
    else:
        from reconciler.render.drift import drift_lines

        emit(drift_lines(subject), color, stream)
        return
    stream.flush()
