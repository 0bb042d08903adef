"""After-apply hooks: a vendor that wants to hear how an apply ended says so in its
`Vendor.after_apply` ("module:factory"); the CLI prepares every hook before the apply
(so a misconfigured one stops the run before any write) and reports to each afterwards.

Reporting never changes the apply's own result: a failed report is a warning, and the
exit code stays the apply's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler.errors import ReconcilerError
from reconciler.providers.plugin import HookFactory, Outcome, Report, load
from reconciler.providers.registry import vendors

if TYPE_CHECKING:
    from reconciler.apply.executor import ApplyResult
    from reconciler.providers.base import ProviderSettings

MAX_DESCRIPTION = 500


def summarise(result: ApplyResult | None, error: ReconcilerError | None) -> Outcome:
    if error is not None:
        return Outcome(False, "500", _cut(f"apply failed before any change: {error}"))
    if result is None:
        return Outcome(True, "204", "no changes")
    done = ", ".join(f"{n} {verb}" for verb, n in result.tally().items() if n) or "nothing applied"
    if result.ok:
        return Outcome(True, "200", _cut(f"applied: {done}"))
    return Outcome(False, "500", _cut(f"failed: {len(result.errors)} error(s), {done}; first "
                                      f"error: {result.errors[0]}"))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 3] + "..."


def prepare(providers: Mapping[str, ProviderSettings],
            options: Mapping[str, Mapping[str, str | None]]) -> list[Report]:
    reports: list[Report] = []
    for name, vendor in vendors().items():
        if vendor.after_apply is None:
            continue
        factory: HookFactory = load(vendor.after_apply)
        report = factory(providers.get(name), options.get(name, {}))
        if report is not None:
            reports.append(report)
    return reports


def send_all(reports: list[Report], outcome: Outcome) -> list[tuple[bool, str]]:
    async def main() -> list[tuple[bool, str]]:
        return list(await asyncio.gather(*(report.send(outcome) for report in reports)))

    return asyncio.run(main()) if reports else []
