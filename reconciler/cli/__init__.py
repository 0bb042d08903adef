"""The command line: one module per group of commands, wiring and printing only."""


def main() -> None:
    from reconciler.redact import install

    install()  # every output (messages, logs, JSON, Markdown) passes through redaction
    from reconciler.cli.app import app

    app(prog_name="reconciler")  # also under `python -m reconciler`: help names the command
