"""What a pull-request comment must be once GitHub renders it, checked with GitHub's own
renderer (cmark-gfm, through the `cmarkgfm` package) rather than another Markdown parser.

`assert_comment(text)`: under GitHub's 65,536 characters; every `<details>` closed and
properly nested; every table row with its header's number of cells; no HTML but the
comment's own tags (so none from a name); no live `@mention`; no raw invisible or
direction-changing character (U+202E, U+200B, U+009B...) in what is posted.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

import cmarkgfm
from cmarkgfm.cmark import Options

GITHUB_LIMIT = 65_536
OWN_TAGS = {"h3", "h4", "p", "strong", "em", "code", "details", "summary", "table", "thead",
            "tbody", "tr", "th", "td", "br", "ul", "li", "hr", "pre", "blockquote"}
MENTION = re.compile(r"(?<![\w`/])@[A-Za-z0-9][A-Za-z0-9-]*(/[A-Za-z0-9][\w-]*)?")


def render(text: str) -> str:
    """GitHub's rendering, raw HTML kept (GitHub would sanitise it; we want to see it)."""
    return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)


class _Walk(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.open: list[str] = []
        self.rows: list[tuple[int, int]] = []  # (cells, cells of the table's header row)
        self.header = 0
        self.cells = 0
        self.in_code = 0
        self.text: list[str] = []
        self.comments: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")
            return
        self.tags.append(tag)
        if tag == "details":
            self.open.append(tag)
        if tag == "tr":
            self.cells = 0
        if tag in ("td", "th"):
            self.cells += 1
        if tag == "code":
            self.in_code += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            assert self.open, "a </details> closes nothing"
            self.open.pop()
        if tag == "tr":
            if self.header == 0:
                self.header = self.cells
            self.rows.append((self.cells, self.header))
        if tag == "table":
            self.header = 0
        if tag == "code":
            self.in_code -= 1

    def handle_data(self, data: str) -> None:
        if not self.in_code:
            self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def assert_comment(text: str, links: tuple[str, ...] = ()) -> str:
    """Every check above; the only links are the comment's own (`links`: their prefixes).
    Returns the rendered HTML for further checks."""
    assert len(text) < GITHUB_LIMIT, len(text)
    hidden = [f"U+{ord(ch):04X}" for ch in text
              if ch not in "\n\t" and unicodedata.category(ch)[0] in "CZ" and ch != " "]
    assert not hidden, hidden[:5]
    rendered = render(text)
    walk = _Walk()
    walk.feed(rendered)
    walk.close()
    assert set(walk.tags) <= OWN_TAGS, set(walk.tags) - OWN_TAGS
    assert not walk.comments, walk.comments[:3]
    stray = [href for href in walk.links if not href.startswith(links) or not links]
    assert not stray, stray[:3]
    assert walk.open == [], "a <details> is never closed"
    assert text.count("<details>") == text.count("</details>")
    broken = [row for row in walk.rows if row[0] != row[1]]
    assert not broken, broken[:3]
    mentions = MENTION.findall(" ".join(walk.text))
    assert not mentions, mentions[:3]
    return rendered
