# A plan may change at most `max_changes` objects unless the pull request carries the
# approval label. No-op entries (adoptions as they are, moves, state-only edits) do not count.
package main

import rego.v1

default max_changes := 20

max_changes := data.reconciler.max_changes

default label := "large-change-approved"

label := data.reconciler.large_change_label

default labels := []

labels := data.pull_request.labels

changes := [rc | some rc in input.resource_changes; rc.change.actions != ["no-op"]]

deny contains msg if {
	count(changes) > max_changes
	not label in labels
	msg := concat("", [
		format_int(count(changes), 10), " changes, more than ", format_int(max_changes, 10),
		": add the '", label, "' label to the pull request once reviewed",
	])
}
