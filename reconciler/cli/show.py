"""show: a saved plan, read back for review (terraform show PLANFILE); no network, no state."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import Format, app, handled


@app.command()
@handled
def show(
    plan_file: Annotated[Path, typer.Argument(
        metavar="PLANFILE", help="A plan saved with `reconciler plan --out FILE`")],
    fmt: Annotated[Format, typer.Option(
        "--format", metavar="text|json|markdown", help="Output format")] = Format.text,
) -> None:
    """Show a saved plan as it will be applied (checksum verified); talks to no vendor."""
    from reconciler.cli.plan import print_plan
    from reconciler.plan.planfile import load_fleet_plan, load_plan

    if plan_file.is_file() and (plans := load_fleet_plan(plan_file)) is not None:
        from reconciler.cli.fleet import show_fleet

        show_fleet(plans, fmt)
        return
    print_plan(load_plan(plan_file), fmt)
