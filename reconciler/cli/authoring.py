"""Commands for writing manifests: schema, fmt, init, docs. Parse, call one module, print."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import app, err, handled
from reconciler.errors import ConfigError
from reconciler.files import explain, write_output

OutOpt = Annotated[Path | None, typer.Option(
    "--out", metavar="FILE", help="Write to this file instead of stdout")]


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {explain(exc)}") from None
    write_output(out, text, str(out))
    err.print(f"Wrote {out}", markup=False)


@app.command()
@handled
def schema(
    out: OutOpt = None,
    config: Annotated[bool, typer.Option(
        "--config", help="The schema of reconciler.yaml instead of manifests")] = False,
) -> None:
    """Print the JSON Schema of manifests (or reconciler.yaml), for editors and CI."""
    from reconciler.authoring.schema import config_schema, manifest_schema, render

    _emit(render(config_schema() if config else manifest_schema()), out)


@app.command()
@handled
def fmt(
    target: Annotated[Path, typer.Argument(
        metavar="DIR|FILE", help="Manifest directory (or one file)")] = Path("."),
    check: Annotated[bool, typer.Option(
        "--check", help="Change nothing; exit 1 listing the files that are not formatted")] = False,
) -> None:
    """Lay manifests out canonically, keeping comments; lists the files it changes."""
    from reconciler.authoring.fmt import format_paths

    report = format_paths(target, write=not check)
    for name in report.changed:
        typer.echo(name)
    for problem in report.problems:
        err.print(f"Error: {problem}", markup=False)
    if check and report.changed:
        err.print(f"{len(report.changed)} file(s) not formatted; run: reconciler fmt {target}",
                  markup=False)
    if report.problems or (check and report.changed):
        raise typer.Exit(1)


@app.command()
@handled
def init(
    directory: Annotated[Path, typer.Argument(
        metavar="DIR", help="Directory to create or fill")] = Path("."),
    vendor: Annotated[list[str] | None, typer.Option(
        "--vendor", metavar="VENDOR",
        help="A vendor to set up (repeatable; default: every vendor)")] = None,
    backend: Annotated[str, typer.Option(
        "--backend", metavar="BACKEND",
        help="Where the state is kept: local (a file) or postgres (teams); see `reconciler docs`")] = "local",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files")] = False,
) -> None:
    """Scaffold a manifest directory: reconciler.yaml, an example per vendor, editor schemas."""
    from reconciler.authoring.scaffold import (
        choose_vendors,
        required_variables,
        scaffold,
        write_scaffold,
    )
    from reconciler.state.registry import BACKENDS

    if backend not in BACKENDS:
        raise ConfigError(f"--backend: unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    vendors = choose_vendors(vendor or [])
    files = scaffold(vendors, backend)
    for path in write_scaffold(directory, files, force):
        typer.echo(f"Wrote {path}")
    variables = required_variables(vendors)
    variables += re.findall(r"\$\{([A-Z0-9_]+)\}", "\n".join(BACKENDS[backend].init_lines))
    needed = f"set {', '.join(variables)} in the environment, then " if variables else ""
    typer.echo(f"\nNext: {needed}run:\n"
               f"  reconciler plan {directory}\n"
               f"Or try it now against local sandboxes of the vendors, no account needed:\n"
               f"  reconciler plan {directory} --sandbox")


@app.command()
@handled
def docs(out: OutOpt = None) -> None:
    """Print the manifest reference (Markdown), generated from the models."""
    from reconciler.authoring.docs import manifest_reference

    _emit(manifest_reference(), out)
