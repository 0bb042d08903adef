"""The names of the files a configuration directory holds: one place for the loader, the
environments' reader, the authoring tools and the fleet, which all name them."""

CONFIG_FILE = "reconciler.yaml"
