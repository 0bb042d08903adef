"""Where a host is: loopback or not (plain-HTTP vendors, sandboxes, the service, webhooks)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1 (brackets allowed); anything else, names included, is not."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
