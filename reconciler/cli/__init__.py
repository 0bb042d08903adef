"""The command line: one module per group of commands, wiring and printing only."""


def main() -> None:
    from reconciler.cli.app import app

    app()
