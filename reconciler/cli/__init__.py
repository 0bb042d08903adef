"""The command line: one module per group of commands, wiring and printing only."""


def main() -> None:
    import sys

    if sys.argv[1:] == ["--version"]:  # start-up: the version alone needs no command line parser
        from reconciler import __version__

        sys.stdout.write(f"reconciler {__version__}\n")
        return
    # httpx imports its own command-line client (Rich, Pygments, Click: a third of its import
    # time) whenever those are installed; reconciler never runs it, so it is not loaded.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from reconciler.cli.code_cache import install as compile_once

    compile_once()  # before the first dataclass or annotation is made (start-up: issue 23)
    from reconciler.redact import install, run_scope

    install()  # every output (messages, logs, JSON, Markdown) passes through redaction
    from reconciler.cli.app import command, run

    with run_scope(), run():  # the run's credentials and options end with it
        command()(prog_name="reconciler")  # also under `python -m reconciler`: help names it
