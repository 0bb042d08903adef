"""Renderers: a Plan or a report -> text for a terminal, JSON, or Markdown for a pull request."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.text import Text

Segment = tuple[str, str]  # (rich style or "", text)
Line = list[Segment]


def emit(lines: list[Line], color: bool, stream: TextIO | None = None) -> None:
    """Styled through Rich on a terminal; plain and fast (one write) when piped."""
    stream = stream or sys.stdout
    if not color:
        stream.write("".join("".join(text for _, text in line) + "\n" for line in lines))
        stream.flush()
        return
    console = Console(file=stream, highlight=False, soft_wrap=True)
    for line in lines:
        console.print(Text.assemble(*((text, style) for style, text in line)))
