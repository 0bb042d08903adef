"""The one way a value becomes part of a request path: percent-encoded whole.

A remote id, a datastore id or any other value that did not come from the provider's own
code may hold `/`, `..`, `?` or `#`; put into a path raw, it would choose another endpoint
of the vendor's API (sent with our credentials). Every provider builds such paths with
`segment`, so one function decides how a value is quoted.
"""

from __future__ import annotations

from urllib.parse import quote


def segment(value: object) -> str:
    """`value` as one path segment: every character but letters, digits and `-._~`
    percent-encoded, so that it can never end the segment or start a query; `.` and `..`
    (which a URL resolves as "here" and "up") are spelled `%2E`."""
    text = str(value)
    if text in (".", ".."):  # the only segments that still move once encoded
        return text.replace(".", "%2E")
    return quote(text, safe="")


def under(base: str, value: object) -> str:
    """`base/<value>`, the value encoded as one segment."""
    return f"{base}/{segment(value)}"
