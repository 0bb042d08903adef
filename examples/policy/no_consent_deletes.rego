# No consent purpose may be deleted, soft-deleted or deactivated in production: people's
# consents hang on it. Reads `reconciler plan --format json` (Terraform's shape), so the same
# rule shape works for Terraform plans (there, `address` is Terraform's own).
package main

import rego.v1

default environment := "production"

environment := data.reconciler.environment

deny contains msg if {
	environment == "production"
	some rc in input.resource_changes
	address := object.get(rc, "reconciler_address", rc.address)
	rc.type == "superoffice_consent_purpose"
	"delete" in rc.change.actions
	mode := object.get(input, ["change_details", address, "delete_mode"], "delete")
	msg := concat("", [
		address, ": consent purposes are never removed in production (planned: ", mode,
		"); keep it in the manifests",
	])
}
