"""Run history: every plan, apply and drift, recorded in the state backend.

    run = from_plan(plan, started_at=..., directory=...)   # or from_apply / from_drift / failed
    record(backend, run, settings.history)                  # one append per run

`history_store(backend, settings)` opens the store to read it back (reconciler/history/store.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reconciler.history.settings import HistorySettings

if TYPE_CHECKING:
    from reconciler.history.build import failed, from_apply, from_drift, from_plan
    from reconciler.history.model import ObjectChange, RunRecord, utc_now
    from reconciler.history.store import HistoryStore
    from reconciler.state.base import StateBackend

_LAZY = {"failed": "build", "from_apply": "build", "from_drift": "build", "from_plan": "build",
         "ObjectChange": "model", "RunRecord": "model", "utc_now": "model"}


def __getattr__(name: str) -> Any:
    """The builders and the model, imported on first use: reconciler.yaml's settings import
    this package, and `validate` records nothing."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"reconciler.history.{_LAZY[name]}"), name)
    raise AttributeError(name)

__all__ = ["HistorySettings", "ObjectChange", "RunRecord", "failed", "from_apply", "from_drift",
           "from_plan", "history_store", "record", "utc_now"]


def history_store(backend: StateBackend, settings: HistorySettings | None = None) -> HistoryStore | None:
    """The backend's history store, or None when the backend keeps none."""
    return backend.history(settings or HistorySettings())


def record(backend: StateBackend, run: RunRecord, settings: HistorySettings | None = None) -> None:
    """Append `run` to the backend's history (nothing when disabled or not supported).
    Raises what the store raises: callers turn that into a warning, never a failed run."""
    settings = settings or HistorySettings()
    if not settings.enabled:
        return
    store = history_store(backend, settings)
    if store is not None:
        store.append(run, settings.retention_days)
