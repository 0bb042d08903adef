"""Webex Campaign: purposes, datastore records, and transaction-state reports.

Everything reconciler knows about this vendor is in this package; `VENDOR` is what it
declares to the registry (see reconciler.providers.plugin).
"""

from reconciler.providers.plugin import CliOption, Vendor

EXAMPLE = """\
# Webex Campaign purposes: why a contact may be messaged (a campaign picks one).
# Webex Campaign has no delete API: removing a purpose from this file is refused at plan
# time; stop managing it with `reconciler plan --forget ADDR` (it stays in Webex Campaign).
{header}webex_campaign:
  purposes:
    marketing:
      name: Marketing_Purpose   # unique in the tenant; finds an existing purpose to adopt
      group: DEFAULT            # optional; sent as written, compared ignoring case
      description: Offers and news about our products
  # Datastore records are write-only: pushed again when their content changes. Quote every
  # value (phone numbers and ids are text):
  # datastore_records:
  #   test_contacts:
  #     datastore_id: "1466"
  #     feed_id: "1499"
  #     records:
  #       - {msisdn: "+442071234501", firstname: Alice Tester, emailid: alice@example.com}
"""
"""The manifest `reconciler init` writes for Webex Campaign."""

VENDOR = Vendor(
    name="webex_campaign", title="Webex Campaign",
    provider="reconciler.providers.webex_campaign.provider:WebexCampaignProvider",
    sandbox="reconciler.providers.webex_campaign.sandbox:SANDBOX",
    example=EXAMPLE,
    after_apply="reconciler.providers.webex_campaign.outcome:after_apply",
    cli_options={"apply": (
        CliOption("--notify-webex-deployment", "deployment", metavar="ID",
                  help="Report the outcome to this Webex Campaign deployment"),
        CliOption("--notify-webex-transaction", "transaction", metavar="ID",
                  help="The transaction id (refTransId) to report on"),
    )},
)
