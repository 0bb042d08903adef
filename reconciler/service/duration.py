"""`--drift-every 30s | 15m | 1h | 1d`: a duration always says its unit."""

from __future__ import annotations

import re

from reconciler.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str = "--drift-every") -> float:
    """Seconds in `text`; a bare number is refused (is 60 minutes or seconds?)."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{option} {text!r}: give a positive duration with its unit: "
                          "30s, 15m, 1h or 1d")
    return float(match.group(1)) * _SECONDS[match.group(2)]
