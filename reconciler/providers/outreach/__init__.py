"""Outreach API v2: call purposes (what a sales rep picks when logging a call).

Everything reconciler knows about this vendor is in this package; `VENDOR` is what it
declares to the registry (see reconciler.providers.plugin).
"""

from reconciler.providers.plugin import CliOption, Vendor

EXAMPLE = """\
# Outreach call purposes: what a sales rep picks when logging a call.
{header}outreach:
  call_purposes:
    initial_contact:          # the key: address outreach.call_purpose.initial_contact
      name: Initial Contact   # at most 255 characters; finds an existing purpose to adopt
      order: 1
    follow_up:
      name: Follow Up
      order: 2
      # prevent_destroy: true # refuse any plan that would delete it
"""
"""The manifest `reconciler init` writes for Outreach."""

VENDOR = Vendor(
    name="outreach", title="Outreach",
    provider="reconciler.providers.outreach.provider:OutreachProvider",
    sandbox="reconciler.providers.outreach.sandbox:SANDBOX",
    example=EXAMPLE,
    cli_options={"sandbox": (
        CliOption("--outreach-rate-limit", "rate_limit", metavar="N", type=int, default=10_000,
                  help="Outreach requests allowed per hour (the vendor's 10,000; 0 = unlimited)"),
    )},
)
