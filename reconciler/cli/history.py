"""history: every plan, apply and drift recorded in the state backend, read back.

Also `remember`, the one call plan, apply and drift make to record their run: a history
that cannot be written is a warning, never a failed run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reconciler.cli.app import Dir, app, err, handled
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from reconciler.engine import Workspace
    from reconciler.history.model import RunRecord
    from reconciler.history.store import HistoryStore


def remember(ws: Workspace, build: Callable[[], RunRecord]) -> None:
    """Record this run in the history; any failure to do so is only a warning."""
    try:
        from reconciler.history import record

        record(ws.backend, build(), ws.settings.history)
    except Exception as exc:  # the run succeeded or failed on its own
        err.print(f"Warning: this run was not recorded in the history: {exc}", markup=False)


class HistoryFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"


class RunKind(StrEnum):
    plan = "plan"
    apply = "apply"
    drift = "drift"


_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`2026-01-01`, `2026-01-01T08:00:00+01:00` (UTC when no offset), or a duration back
    from now: `30m`, `12h`, `7d`, `2w`."""
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither a date (2026-01-01, 2026-01-01T08:00) nor "
                                 "a duration (30m, 12h, 7d, 2w)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _store(directory: Path, sandbox: bool) -> HistoryStore | None:
    """The history of the directory's state backend (or of its --sandbox state); no vendor
    credentials needed, no sandbox started."""
    from reconciler.history import history_store
    from reconciler.manifest.settings import load_settings
    from reconciler.state.registry import BACKENDS

    settings = load_settings(directory, offline=True, need_state=not sandbox)
    if sandbox:
        from reconciler.engine.workspace import SANDBOX_STATE
        from reconciler.state.local import LocalBackend

        return history_store(LocalBackend(settings.sandbox_data / SANDBOX_STATE), settings.history)
    # Not the Workspace: reading history needs no vendor client (start-up: no httpx).
    backend = BACKENDS[settings.state.backend].open(settings.state, settings.directory)
    return history_store(backend, settings.history)


@app.command()
@handled
def history(
    directory: Dir = Path("."),
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DATE|DURATION",
        help="Only runs started since a date (2026-01-01) or for a duration back (7d, 12h)")] = None,
    address: Annotated[str | None, typer.Option(
        "--address", metavar="ADDR", help="Only the runs that changed (or found drifted) this "
        "address, with only its changes")] = None,
    kind: Annotated[RunKind | None, typer.Option(
        "--kind", metavar="plan|apply|drift", help="Only runs of this kind")] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", metavar="N", min=1, help="At most N runs (newest first)")] = None,
    fmt: Annotated[HistoryFormat, typer.Option(
        "--format", metavar="text|json|csv", help="Output format")] = HistoryFormat.text,
    sandbox: Annotated[bool, typer.Option(
        "--sandbox", help="The history of the --sandbox runs (kept in state/sandbox/)")] = False,
) -> None:
    """Show the recorded plan, apply and drift runs, newest first: who, when, which commit,
    what changed."""
    from reconciler.history.store import Query

    moment = parse_since(since) if since else None
    store = _store(directory, sandbox)
    if store is None:
        raise ConfigError("this state backend keeps no run history")
    runs = store.runs(Query(since=moment, address=address, kind=kind.value if kind else None,
                            limit=limit))
    if fmt is HistoryFormat.json:
        from pydantic_core import to_json  # indented, at C speed (the json module's indent is Python)

        typer.echo(to_json({"runs": [r.public() for r in runs]}, indent=2).decode())
    elif fmt is HistoryFormat.csv:
        typer.echo(_csv(runs), nl=False)
    else:
        typer.echo("\n".join(_text(runs)) if runs else "No runs recorded.")


CSV_COLUMNS = ("run_id", "kind", "environment", "started_at", "finished_at", "outcome", "actor",
               "commit", "branch", "address", "action", "status", "field", "before", "after")


def _csv(runs: list[RunRecord]) -> str:
    """One row per changed field (a change without fields, or a run without changes, is one
    row): a spreadsheet filters it as it is. Values are JSON."""
    import csv
    import io
    import json

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for run in runs:
        head = [run.id, run.kind, run.environment, run.started_at, run.finished_at, run.outcome,
                run.actor, run.commit or "", run.branch or ""]
        if not run.changes:
            writer.writerow([*head, "", "", "", "", "", ""])
        for change in run.changes:
            rows: list[tuple[str, str, str]] = [
                (f.field, json.dumps(f.before, ensure_ascii=False),
                 json.dumps(f.after, ensure_ascii=False)) for f in change.fields] or [("", "", "")]
            for field, before, after in rows:
                writer.writerow([*head, change.address, change.action, change.status, field,
                                 before, after])
    return out.getvalue()


_SYMBOL = {"create": "+", "update": "~", "delete": "-", "deactivate": "-", "adopt": "<=",
           "push": ">", "forget": "x", "move": "->", "drift": "~", "unmanaged": "?"}


def _value(value: Any) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def _text(runs: list[RunRecord]) -> list[str]:
    from reconciler.redact import clean

    lines: list[str] = []
    for run in runs:
        commit = f" commit {run.commit[:12]}" if run.commit else ""
        branch = f" ({run.branch})" if run.branch else ""
        counts = ", ".join(f"{n} {k}" for k, n in run.counts.items() if n)
        lines.append(clean(f"{run.started_at}  {run.kind} {run.outcome}  [{run.environment}]  "
                           f"by {run.actor}{commit}{branch}  id {run.id}"))
        if counts:
            lines.append(f"  {counts}")
        if run.error:
            lines.append(clean(f"  error: {run.error}"))
        for change in run.changes:
            status = "" if change.status in ("planned",) else f" ({change.status})"
            lines.append(clean(f"  {_SYMBOL.get(change.action, '*')} {change.address}  "
                               f"{change.action}{status}"))
            for f in change.fields:
                lines.append(clean(f"      {f.field}: {_value(f.before)} -> {_value(f.after)}"))
        lines.append("")
    return lines[:-1]
