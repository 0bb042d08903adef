"""A DriftReport as text or Markdown."""

from __future__ import annotations

from reconciler.drift.detect import DriftReport
from reconciler.render import Line
from reconciler.render.markdown import LIMIT, Budget, cell, code, escape
from reconciler.render.text import value


def drift_lines(report: DriftReport) -> list[Line]:
    lines: list[Line] = []
    for item in report.items:
        if item.status == "missing":
            lines.append([("red", f"  ! {item.address}"), ("dim", f" (id {item.remote_id})"),
                          ("", f" missing: {item.note}")])
            continue
        lines.append([("yellow", f"  ~ {item.address}"), ("dim", f" (id {item.remote_id})"),
                      ("", " changed outside reconciler")])
        lines += [[("yellow", f"      ~ {d.field}: "), ("", value(d.before)), ("", " -> "),
                   ("yellow", value(d.after))] for d in item.diffs]
    for vendor, objects in sorted(report.unmanaged.items()):
        lines.append([("", f"  ? {len(objects)} unmanaged {vendor} object(s) (never managed "
                           "by reconciler):")])
        lines += [[("dim", f"      {label}")] for label in objects[:20]]
        if len(objects) > 20:
            lines.append([("dim", f"      ... and {len(objects) - 20} more")])
    if report.forgotten:
        lines.append([("", f"  x {len(report.forgotten)} forgotten object(s) (let go with "
                           "--forget, left alone; `reconciler state unforget ADDR` manages "
                           "one again):")])
        lines += [[("dim", f"      {label}")] for label in report.forgotten[:20]]
        if len(report.forgotten) > 20:
            lines.append([("dim", f"      ... and {len(report.forgotten) - 20} more")])
    for kind in report.not_observable:
        lines.append([("dim", f"  {kind}: not observable (write-only API)")])
    if report.has_drift:
        unmanaged = sum(len(v) for v in report.unmanaged.values())
        lines.append([("bold", f"Drift: {len(report.items)} of {report.checked} managed object(s) "
                               f"changed or missing, {unmanaged} unmanaged.")])
    else:
        lines.append([("bold green", "No drift. "),
                      ("", f"{report.checked} managed object(s) match the state.")])
    return lines


def drift_markdown(report: DriftReport, limit: int = LIMIT) -> str:
    """For an issue or a comment: values escaped like the plan's, the body under `limit`."""
    out = ["### reconciler drift", ""]
    if not report.has_drift:
        return "\n".join([*out, f"**No drift.** {report.checked} managed object(s) match.", ""])
    out += [f"**{len(report.items)} of {report.checked} managed object(s) drifted.**", "",
            "| address | status | fields |", "|---|---|---|"]
    budget = Budget(limit - 600)
    shown = 0
    for item in report.items:
        fields = "<br>".join(f"{code(d.field)}: {escape(value(d.before))} → "
                             f"{escape(value(d.after))}" for d in item.diffs) or escape(item.note)
        if not budget.take(row := f"| {cell(code(item.address))} | {item.status} | {cell(fields)} |"):
            break
        out.append(row)
        shown += 1
    if shown < len(report.items):
        out.append(f"\n_…cut: {len(report.items) - shown} more drifted object(s) not shown (the "
                   "comment size limit); `reconciler drift DIR --format json` lists them all._")
    for vendor, objects in sorted(report.unmanaged.items()):
        out.append(f"\nUnmanaged {escape(vendor)} objects: {len(objects)}")
    return "\n".join(out) + "\n"
