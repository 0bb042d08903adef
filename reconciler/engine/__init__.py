"""The engine: plan, apply, drift and import as an in-process API.

The CLI wires it and prints; environments and the service call it many times, side by side.
Everything a run needs (settings, state backend, live providers, what the manifests
declare) belongs to its Workspace, so two workspaces in one process share nothing mutable.

    with Workspace.session(Path("purposes"), sandbox=True) as ws:
        plan = run(ws.plan())  # asyncio.run, cheaper on the way out (engine/running.py)
        applied = run(ws.apply(plan=plan))
        report = run(ws.drift())
"""

from reconciler.engine.running import run
from reconciler.engine.workspace import Applied, Notice, Scope, Workspace

__all__ = ["Applied", "Notice", "Scope", "Workspace", "run"]
