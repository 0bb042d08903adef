"""The dashboard's HTML, rendered on the server: no script, no front-end build.

Every value that came from a vendor, a manifest or the history goes through `e()` (HTML
escaping, quotes included); URLs are built with `quote`. The pages are read-only: links
only, no form that changes anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from reconciler.history.model import ObjectChange, RunRecord
from reconciler.history.store import DriftPoint
from reconciler.service.archive import Standing
from reconciler.service.chart import drift_chart

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:baseline}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700}
main{padding:16px 24px;max-width:1200px}
h1{font-size:20px;margin:8px 0 16px}h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:16px}
th,td{border:1px solid #dde1e6;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.state{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.state-in-sync,.outcome-ok{background:#d8f3dc;color:#1b4332}
.state-drifted,.outcome-drift,.outcome-changes{background:#fff3bf;color:#7a4f01}
.state-failing,.outcome-failed,.outcome-blocked{background:#ffd8d8;color:#8a1c1c}
.state-not-checked{background:#e9ecef;color:#495057}
.outcome{display:inline-block;padding:1px 6px;border-radius:8px;font-size:12px}
code,.value{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap;word-break:break-all}
.muted{color:#6c757d}.empty{color:#6c757d;font-style:italic}
svg.chart{background:#fff;border:1px solid #dde1e6}
svg.chart .axis{stroke:#adb5bd}svg.chart text{font-size:11px;fill:#495057}
svg.chart .line{fill:none;stroke:#e8590c;stroke-width:1.5}
svg.chart .point{fill:#e8590c}svg.chart .point.failed{fill:#c92a2a}
nav.periods a{margin-right:12px}
"""


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def when(stamp: str | None) -> str:
    if not stamp:
        return '<span class="muted">never</span>'
    return f'<time datetime="{e(stamp)}">{e(stamp[:19].replace("T", " "))} UTC</time>'


def value(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    if len(text) > 400:
        text = text[:397] + "..."
    return f'<span class="value">{e(text)}</span>'


def env_link(name: str) -> str:
    return f'<a href="/environments/{quote(name, safe="")}">{e(name)}</a>'


def run_link(run: RunRecord, text: str | None = None) -> str:
    return f'<a href="/runs/{quote(run.id, safe="")}">{e(text or run.id)}</a>'


def address_link(address: str) -> str:
    return f'<a href="/addresses/{quote(address, safe="")}">{e(address)}</a>'


def outcome(run: RunRecord) -> str:
    return f'<span class="outcome outcome-{e(run.outcome)}">{e(run.outcome)}</span>'


def page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>{e(title)} · reconciler</title><link rel="stylesheet" href="/assets/style.css">'
            f'</head><body><header><a class="brand" href="/">reconciler</a>'
            f'<a href="/">Fleet</a><a href="/runs">Runs</a></header><main>{body}</main></body></html>')


def _counts(run: RunRecord) -> str:
    return e(", ".join(f"{k} {v}" for k, v in run.counts.items() if v)) or '<span class="muted">—</span>'


def runs_table(runs: Iterable[RunRecord], table_id: str = "runs") -> str:
    rows = "".join(
        f'<tr data-run="{e(r.id)}" data-kind="{e(r.kind)}"><td>{run_link(r, r.id[:12])}</td>'
        f'<td>{e(r.kind)}</td><td>{env_link(r.environment)}</td><td>{when(r.started_at)}</td>'
        f'<td>{outcome(r)}</td><td>{e(r.actor)}</td><td><code>{e((r.commit or "")[:12])}</code></td>'
        f'<td>{_counts(r)}</td></tr>' for r in runs)
    if not rows:
        return '<p class="empty">No runs recorded yet.</p>'
    return (f'<table id="{e(table_id)}"><thead><tr><th>Run</th><th>Kind</th><th>Environment</th>'
            f'<th>Started</th><th>Outcome</th><th>Actor</th><th>Commit</th><th>Counts</th></tr>'
            f'</thead><tbody>{rows}</tbody></table>')


def fleet(standings: list[Standing], live: Mapping[str, Mapping[str, Any]],
          recent: list[RunRecord]) -> str:
    vendors = sorted({v for s in standings for v in s.vendors})
    head = "".join(f"<th>{e(v)}</th>" for v in vendors)
    rows = []
    for s in standings:
        cells = []
        for v in vendors:
            if v not in s.vendors:
                cells.append('<td class="muted">—</td>')
                continue
            state = s.vendor_state(v)
            n = sum(s.by_vendor.get(v, {}).values())
            extra = f" ({n})" if state == "drifted" else ""
            cells.append(f'<td class="cell" data-environment="{e(s.environment)}" data-vendor="{e(v)}" '
                         f'data-state="{e(state)}" data-drift="{n}"><span class="state state-'
                         f'{e(state.replace(" ", "-"))}">{e(state)}{extra}</span></td>')
        now = live.get(s.environment, {})
        doing = ("running " + e(now["running"])) if now.get("running") else \
            (f'waiting for the state lock ({e(now["waiting"])})' if now.get("waiting") else "")
        last = s.latest_run
        latest = f"{e(last.kind)} {outcome(last)} {when(last.started_at)}" if last else when(None)
        drift_run = f' data-drift-run="{e(s.latest_drift.id)}"' if s.latest_drift else ""
        rows.append(f'<tr data-environment="{e(s.environment)}"{drift_run}><td>{env_link(s.environment)}'
                    f'<div class="muted">{doing}</div></td>{"".join(cells)}'
                    f'<td class="num" data-total="{s.drift_total()}">{s.drift_total()}</td>'
                    f'<td>{latest}</td></tr>')
    body = (f'<h1>Fleet</h1><table id="fleet"><thead><tr><th>Environment</th>{head}'
            f'<th>Drifted objects</th><th>Last run</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<h2>Recent runs</h2>{runs_table(recent)}')
    return page("Fleet", body)


def _fields(change: ObjectChange, before: str = "Recorded", after: str = "Remote") -> str:
    if not change.fields:
        return f'<span class="muted">{e(change.note) or "—"}</span>'
    rows = "".join(f'<tr><td><code>{e(f.field)}</code></td><td>{value(f.before)}</td>'
                   f'<td>{value(f.after)}</td></tr>' for f in change.fields)
    return (f'<table class="fields"><thead><tr><th>Field</th><th>{e(before)}</th><th>{e(after)}'
            f'</th></tr></thead><tbody>{rows}</tbody></table>')


def bucket_for(days: int) -> str | None:
    """Up to a week, one point per drift run; beyond, one per hour (a month) or per day: a
    chart 700 pixels wide shows no more, and the page stays small."""
    return None if days <= 7 else "hour" if days <= 31 else "day"


def environment(name: str, latest: RunRecord | None, points: list[DriftPoint],
                runs: list[RunRecord], days: int, live: Mapping[str, Any]) -> str:
    periods = " ".join(f'<a href="?days={d}">{d} day{"s" if d > 1 else ""}</a>' for d in (1, 7, 30, 90))
    bucket = bucket_for(days)
    per = (f"one point per drift run ({len(points)})" if bucket is None else
           f"one point per {bucket}, its most drifted run ({len(points)})")
    chart = drift_chart(points, f"Drifted objects in {name}, last {days} days: {per}")
    if latest is None:
        drifted = '<p class="empty">No drift run recorded yet.</p>'
    elif latest.outcome == "failed":
        drifted = f'<p>The latest drift run failed: <code>{e(latest.error)}</code></p>'
    elif not latest.changes:
        drifted = '<p>In sync: the vendors match the state.</p>'
    else:
        rows = "".join(f'<tr data-address="{e(c.address)}"><td>{address_link(c.address)}</td>'
                       f'<td>{e(c.status)}</td><td><code>{e(c.remote_id)}</code></td>'
                       f'<td>{_fields(c)}</td></tr>' for c in latest.changes)
        drifted = (f'<table id="drifted"><thead><tr><th>Address</th><th>Status</th><th>Remote id</th>'
                   f'<th>Differences</th></tr></thead><tbody>{rows}</tbody></table>')
    next_at = live.get("next_drift")
    upcoming = (f'<p class="muted">Next drift run here: '
                f'{when(datetime.fromtimestamp(next_at, UTC).isoformat())}</p>' if next_at else "")
    checked = (f'<p>Latest drift run {run_link(latest)} {when(latest.started_at)} {outcome(latest)}</p>'
               if latest else "")
    body = (f'<h1>Environment {e(name)}</h1>{checked}{upcoming}'
            f'<h2>Drifted objects over time</h2><nav class="periods">{periods}</nav>'
            f'<p class="muted">{e(per)}</p>{chart}'
            f'<h2>Drifted objects now</h2>{drifted}<h2>Recent runs</h2>{runs_table(runs)}')
    return page(f"Environment {name}", body)


def run_page(run: RunRecord) -> str:
    head = (f'<table id="run"><tbody>'
            f'<tr><th>Id</th><td><code>{e(run.id)}</code></td></tr>'
            f'<tr><th>Kind</th><td>{e(run.kind)}</td></tr>'
            f'<tr><th>Environment</th><td>{env_link(run.environment)}</td></tr>'
            f'<tr><th>Started</th><td>{when(run.started_at)}</td></tr>'
            f'<tr><th>Finished</th><td>{when(run.finished_at)}</td></tr>'
            f'<tr><th>Outcome</th><td>{outcome(run)}</td></tr>'
            f'<tr><th>Actor</th><td>{e(run.actor)}</td></tr>'
            f'<tr><th>Commit</th><td><code>{e(run.commit)}</code> {e(run.branch)}</td></tr>'
            f'<tr><th>Counts</th><td>{_counts(run)}</td></tr>'
            + (f'<tr><th>Error</th><td><code>{e(run.error)}</code></td></tr>' if run.error else "")
            + '</tbody></table>')
    before, after = ("Recorded", "Remote") if run.kind == "drift" else ("Before", "After")
    rows = "".join(f'<tr data-address="{e(c.address)}"><td>{address_link(c.address)}</td>'
                   f'<td>{e(c.action)}</td><td>{e(c.status)}</td><td>{_fields(c, before, after)}</td></tr>'
                   for c in run.changes)
    changes = (f'<table id="changes"><thead><tr><th>Address</th><th>Action</th><th>Status</th>'
               f'<th>Fields</th></tr></thead><tbody>{rows}</tbody></table>' if rows
               else '<p class="empty">No object changed or drifted in this run.</p>')
    return page(f"Run {run.id}", f'<h1>{e(run.kind.capitalize())} run</h1>{head}<h2>Changes</h2>{changes}')


def address_page(address: str, runs: list[RunRecord]) -> str:
    rows = []
    for run in runs:
        for c in run.changes:
            before, after = ("Recorded", "Remote") if run.kind == "drift" else ("Before", "After")
            rows.append(f'<tr data-run="{e(run.id)}"><td>{when(run.started_at)}</td>'
                        f'<td>{run_link(run, run.id[:12])}</td><td>{e(run.kind)}</td>'
                        f'<td>{env_link(run.environment)}</td><td>{e(c.action)} ({e(c.status)})</td>'
                        f'<td>{e(run.actor)}</td><td><code>{e((run.commit or "")[:12])}</code></td>'
                        f'<td>{_fields(c, before, after)}</td></tr>')
    table = (f'<table id="address-history"><thead><tr><th>When</th><th>Run</th><th>Kind</th>'
             f'<th>Environment</th><th>What</th><th>Actor</th><th>Commit</th><th>Fields</th></tr>'
             f'</thead><tbody>{"".join(rows)}</tbody></table>' if rows
             else '<p class="empty">No run changed or found this address drifted.</p>')
    more = (f'<p class="muted">The latest {len(runs)} runs; <a href="?limit=1000">up to 1000</a>.</p>'
            if len(runs) >= 100 else "")
    return page(address, f'<h1>History of <code>{e(address)}</code></h1>{more}{table}')


def runs_page(runs: list[RunRecord], environment: str | None, kind: str | None) -> str:
    links = " ".join(f'<a href="/runs?kind={k}">{k}</a>' for k in ("plan", "apply", "drift"))
    scope = " ".join(x for x in (e(kind), "runs", f"in {e(environment)}" if environment else "") if x)
    return page("Runs", f'<h1>{scope.capitalize()}</h1><p>Only: {links} · <a href="/runs">all</a>'
                        f'</p>{runs_table(runs)}')


def not_found(what: str) -> str:
    return page("Not found", f'<h1>Not found</h1><p>{e(what)}</p>')
