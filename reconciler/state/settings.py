"""What every state backend's settings share (see reconciler.state.registry)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class BackendSettings(BaseModel):
    """What every backend's settings share: the name that chose it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    backend: str

    def folder(self, directory: Path) -> Path | None:
        """The folder the state is kept in on this machine (the manifest loader skips it), if any."""
        return None

    def credential(self) -> str | None:
        """The setting that holds a credential (a connection string), to redact and check."""
        return None

    def missing(self) -> str | None:
        """A setting this backend cannot go without, said as an error message; None when complete."""
        return None
