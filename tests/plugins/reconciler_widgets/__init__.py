"""Widgets: a vendor that exists only in the tests, to prove the plug-in surface.

It is a separate package (never imported by reconciler itself), registered through the
`reconciler.providers` entry-point group by a test install (tests/plugin_install.py), and
touches no file under reconciler/.
"""

from reconciler.providers.plugin import Vendor

EXAMPLE = """\
{header}widgets:
  widgets:
    blue_widget:
      name: Blue widget
      colour: blue
      size: 3
"""

VENDOR = Vendor(
    name="widgets", title="Widgets",
    provider="reconciler_widgets.provider:WidgetsProvider",
    sandbox="reconciler_widgets.sandbox:SANDBOX",
    example=EXAMPLE,
)
