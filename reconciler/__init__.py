"""reconciler: keep the purposes in SaaS tools equal to YAML manifests in git."""

__version__ = "0.1.0"
