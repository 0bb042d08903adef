"""SuperOffice CRM Online: consent purposes.

Everything reconciler knows about this vendor is in this package; `VENDOR` is what it
declares to the registry (see reconciler.providers.plugin).
"""

from reconciler.providers.plugin import Vendor

EXAMPLE = """\
# SuperOffice consent purposes: why a person's consent is asked.
# #Process and #Emarketing ship with every tenant: declare them with that key to manage
# their texts (they are adopted, not duplicated). Removing a purpose from this file
# deactivates it; `on_delete: delete` on a purpose soft-deletes it instead.
{header}superoffice:
  consent_purposes:
    newsletter:
      name: Newsletter
      key: "#Newsletter"        # stable key; finds an existing purpose to adopt
      consent_text: I want to receive the monthly newsletter
      form_text: Our newsletter comes once a month; every issue has an unsubscribe link.
      rank: 3
      privacy_statement_desc: Privacy statement
      privacy_statement_url: https://example.com/privacy
"""
"""The manifest `reconciler init` writes for SuperOffice."""

VENDOR = Vendor(
    name="superoffice", title="SuperOffice",
    provider="reconciler.providers.superoffice.provider:SuperOfficeProvider",
    sandbox="reconciler.providers.superoffice.sandbox:SANDBOX",
    example=EXAMPLE,
)
