"""`history:` in reconciler.yaml: whether runs are recorded and how long they are kept."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HistorySettings(BaseModel):
    """Every plan, apply and drift is recorded in the state backend (see `reconciler history`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool = Field(True, description="Record every plan, apply and drift run")
    retention_days: int | None = Field(400, ge=1, le=36_500, description=(
        "Runs older than this are deleted when a run is recorded; null keeps every run"))
    max_file_mb: float = Field(16, gt=0, le=4096, description=(
        "local backend: the history file is rotated past this size"))
    keep_files: int = Field(5, ge=0, le=1000, description=(
        "local backend: rotated history files kept (state/NAME.history.jsonl.1 ...)"))
