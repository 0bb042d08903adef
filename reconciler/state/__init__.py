"""Where the reconciler remembers what it manages: one document per workspace."""

from reconciler.state.base import Forgotten, Pending, Resource, StateBackend, StateDoc, StateWriter

__all__ = ["Forgotten", "Pending", "Resource", "StateBackend", "StateDoc", "StateWriter"]
