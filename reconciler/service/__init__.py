"""`reconciler serve`: drift on a schedule, a read-only dashboard, metrics and alerts.

    scheduler.py  each environment's drift (and, with --auto-apply, apply) on its schedule
    claims.py     one run per environment at a time, across replicas (PostgreSQL advisory locks)
    archive.py    what the pages read: the run history of every served environment
    web.py        the Starlette app: pages, JSON API, /metrics, /healthz, /readyz, auth
    pages.py      server-rendered HTML (every value escaped), chart.py its inline SVG
    metrics.py    Prometheus metrics (reconciler_*), and the vendor HTTP client's hook
    notify.py     webhooks (generic JSON, Slack) for drift found / resolved, apply failed

Importing this package loads nothing heavy: the CLI imports each module when it serves.
"""
