"""The command line: one module per group of commands, wiring and printing only."""


def main() -> None:
    import sys

    if sys.argv[1:] == ["--version"]:  # answered before the app (and Typer) is imported
        from reconciler import __version__

        print(f"reconciler {__version__}")
        return
    # httpx imports its own command-line client (Rich, Pygments, Click: a third of its import
    # time) whenever those are installed; reconciler never runs it, so it is not loaded.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from reconciler.redact import install

    install()  # every output (messages, logs, JSON, Markdown) passes through redaction
    from reconciler.cli.app import app

    app(prog_name="reconciler")  # also under `python -m reconciler`: help names the command
