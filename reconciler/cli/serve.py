"""serve: drift on a schedule, a read-only dashboard, metrics and alerts (reconciler.service)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.app import Dir, SandboxOpt, app, err, handled
from reconciler.errors import ConfigError
from reconciler.net import is_loopback

if TYPE_CHECKING:  # start-up: logging is imported when the service runs
    import logging


def bearer_token(host: str, variable: str | None) -> str | None:
    """The access token: required to listen anywhere but loopback; read from the environment."""
    if variable is None:
        if not is_loopback(host):
            raise ConfigError(f"--host {host}: listening beyond this machine needs an access token; "
                              "put one in an environment variable and pass --auth-token-env VAR "
                              "(and serve it behind a TLS reverse proxy, see the README)")
        return None
    token = os.environ.get(variable, "").strip()
    if len(token) < 16:
        raise ConfigError(f"--auth-token-env {variable}: the variable is unset or shorter than 16 "
                          "characters; set it to a long random token (e.g. `openssl rand -hex 32`)")
    from reconciler.redact import register

    register([token])
    return token


@app.command()
@handled
def serve(
    directory: Dir = Path("."),
    env: Annotated[list[str] | None, typer.Option(
        "--env", "-e", metavar="NAME", envvar="RECONCILER_ENV", show_envvar=True,
        help="Environments to watch (repeatable; globs); every declared one by default")] = None,
    host: Annotated[str, typer.Option(
        "--host", metavar="ADDRESS",
        help="Address to listen on; beyond loopback needs --auth-token-env")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", min=0, max=65535,
                                             help="Port to listen on")] = 8080,
    drift_every: Annotated[str, typer.Option(
        "--drift-every", metavar="DURATION", help="How often each environment's drift runs "
        "(30s, 15m, 1h, 1d), jittered")] = "1h",
    auto_apply: Annotated[bool, typer.Option(
        "--auto-apply", help="When the manifests on disk change: plan, then apply within every "
        "safety rail (a blocked rail is reported, never forced)")] = False,
    poll_every: Annotated[str, typer.Option(
        "--poll-every", metavar="DURATION", help="How often the manifests (with --auto-apply) "
        "and a state lock held by another run are looked at again")] = "2s",
    auth_token_env: Annotated[str | None, typer.Option(
        "--auth-token-env", metavar="VAR", help="Environment variable holding the access token "
        "(clients send Authorization: Bearer <token>)")] = None,
    sandbox: SandboxOpt = False,
) -> None:
    """Run drift on a schedule and serve a dashboard, a JSON API and Prometheus metrics."""
    import logging
    import signal

    import uvicorn

    from reconciler.history import history_store
    from reconciler.service.archive import Archive
    from reconciler.service.claims import Claims
    from reconciler.service.duration import parse_duration
    from reconciler.service.environments import opened
    from reconciler.service.metrics import Metrics, drift_gauges
    from reconciler.service.notify import Notifier, targets
    from reconciler.service.scheduler import Scheduler
    from reconciler.service.web import build_app

    every = parse_duration(drift_every)
    poll = parse_duration(poll_every, "--poll-every")
    token = bearer_token(host, auth_token_env)

    def say(message: str) -> None:
        from datetime import UTC, datetime

        err.print(f"{datetime.now(UTC).isoformat(timespec='seconds')} {message}", markup=False,
                  soft_wrap=True)

    logging.getLogger("reconciler.serve").addHandler(_printed(say))
    logging.getLogger("reconciler.serve").setLevel(logging.INFO)
    with opened(directory, list(env or []), sandbox) as environments:
        opened_now = {e.name: e.open(say) for e in environments}
        archive = Archive({name: (e.vendors, history_store(opened_now[name].backend,
                                                           opened_now[name].settings.history))
                           for name, e in ((e.name, e) for e in environments)})
        first = opened_now[environments[0].name]

        metrics = Metrics(lambda: drift_gauges(archive))
        metrics.listen()
        notifier = Notifier(targets(first.settings.notify, os.environ))
        scheduler = Scheduler(environments, every, archive=archive, metrics=metrics,
                              notifier=notifier, claims=Claims(), auto_apply=auto_apply,
                              watch_every=poll, lock_poll=poll, say=say)

        def live() -> dict[str, dict[str, object]]:
            return {name: dict(vars(state)) for name, state in scheduler.live.items()}

        web = build_app(archive, metrics, live, lambda: scheduler.alive, token)
        config = uvicorn.Config(web, host=host, port=port, log_level="warning", access_log=False,
                                server_header=False, lifespan="off")
        server = uvicorn.Server(config)
        names = ", ".join(e.name for e in environments)
        say(f"serving http://{host}:{port}/ (environments: {names}; drift every {drift_every}"
            f"{'; auto-apply on' if auto_apply else ''}{'; bearer token required' if token else ''})")
        # uvicorn stops on SIGTERM, then raises it again for the handler it found: this one
        # ignores it, so that the scheduler below stops between runs (not in a write).
        signal.signal(signal.SIGTERM, lambda *_: None)
        scheduler.start()
        try:
            server.run()
        finally:
            scheduler.stop()
            metrics.stop_listening()
            archive.close()
            say("stopped")


def _printed(say: Callable[[str], None]) -> logging.Handler:
    """Log records of reconciler.serve (webhook warnings) printed like the service's lines."""
    import logging


    class Said(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            say(record.getMessage())

    return Said()
