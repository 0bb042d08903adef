# No consent purpose may be deleted, soft-deleted or deactivated in production: people's
# consents hang on it. Reads `reconciler plan --format json` (Terraform's shape), so the same
# rule shape works for Terraform plans.
package main

import rego.v1

default environment := "production"

environment := data.reconciler.environment

deny contains msg if {
	environment == "production"
	some rc in input.resource_changes
	rc.type == "superoffice_consent_purpose"
	"delete" in rc.change.actions
	mode := object.get(input, ["change_details", rc.address, "delete_mode"], "delete")
	msg := concat("", [
		rc.address, ": consent purposes are never removed in production (planned: ", mode,
		"); keep it in the manifests",
	])
}
