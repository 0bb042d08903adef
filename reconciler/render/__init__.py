"""Renderers: a Plan or a report -> text for a terminal, JSON, or Markdown for a pull request."""

from __future__ import annotations

import sys
from typing import TextIO

from reconciler.redact import clean

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
