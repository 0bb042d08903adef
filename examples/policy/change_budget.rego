# A plan may change at most `max_changes` objects unless the pull request carries the
# approval label. No-op entries (adoptions as they are, moves, state-only edits, refusals) do
# not count. `data.pull_request.labels` may hold label names (["large-change-approved"]) or
# GitHub's label objects as the pull_request event gives them ([{"name": "large-change-approved"}]),
# so the event's `pull_request` can be passed as data unchanged.
package main

import rego.v1

default max_changes := 20

max_changes := data.reconciler.max_changes

default label := "large-change-approved"

label := data.reconciler.large_change_label

default labels := []

labels := data.pull_request.labels

# The label names, from strings or from GitHub's label objects.
label_names contains name if {
	some name in labels
	is_string(name)
}

label_names contains name if {
	some entry in labels
	is_object(entry)
	name := entry.name
}

changes := [rc | some rc in input.resource_changes; rc.change.actions != ["no-op"]]

deny contains msg if {
	count(changes) > max_changes
	not label in label_names
	msg := concat("", [
		format_int(count(changes), 10), " changes, more than ", format_int(max_changes, 10),
		": add the '", label, "' label to the pull request once reviewed",
	])
}
