"""Where the reconciler remembers what it manages: one document per workspace."""

from reconciler.state.base import Pending, Resource, StateBackend, StateDoc, StateWriter

__all__ = ["Pending", "Resource", "StateBackend", "StateDoc", "StateWriter"]
