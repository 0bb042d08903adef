"""reconciler: keep the purposes in SaaS tools equal to YAML manifests in git."""

__version__ = "0.1.0"
SCHEMA_BASE_URL = "https://raw.githubusercontent.com/reconciler-dev/reconciler/main/schema/"
"""Where the JSON Schemas are published: each schema's `$id`, and what `init` and `dump` reference."""
