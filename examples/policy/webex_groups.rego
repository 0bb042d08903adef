# Webex Campaign purposes may only be created in, adopted into or moved to an approved
# group (Webex compares group names without regard to case).
package main

import rego.v1

default groups := ["DEFAULT"]

groups := data.reconciler.approved_webex_groups

approved := {upper(g) | some g in groups}

deny contains msg if {
	some rc in input.resource_changes
	address := object.get(rc, "reconciler_address", rc.address)
	rc.type == "webex_campaign_purpose"
	rc.change.after != null
	group := upper(object.get(rc.change.after, "group", "DEFAULT"))
	not approved[group]
	msg := concat("", [
		address, ": group '", group, "' is not an approved Webex Campaign group (approved: ",
		concat(", ", sort(approved)), ")",
	])
}
