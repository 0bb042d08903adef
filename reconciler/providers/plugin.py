"""What a vendor declares about itself: the one plug-in surface.

A vendor is a package whose `__init__.py` defines `VENDOR = Vendor(...)`: the bundled
ones live under `reconciler/providers/`, a company's own ships as a separate
distribution registered in the `reconciler.providers` entry-point group
(`myvendor = "my_package:VENDOR"`). The core, `init`, the docs generator, the sandbox
server, the test fixtures and the benchmark all read vendors from the registry and
nothing else. The heavy parts (the HTTP provider, the sandbox app) are named as
"module:attribute" and imported only when a command uses them, so start-up stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from reconciler.providers.base import Provider, ProviderSettings
    from reconciler.sandbox.common import VendorSandbox


def load(reference: str) -> Any:
    """`package.module:attribute` -> the attribute, importing the module now."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Outcome:
    success: bool
    code: str  # HTTP-like: 200 done, 204 nothing to do, 500 failed
    description: str


class Report(Protocol):
    """One prepared hook: `send` tells the vendor, and says in words what happened."""

    async def send(self, outcome: Outcome) -> tuple[bool, str]: ...


HookFactory = Callable[["ProviderSettings | None", Mapping[str, str | None]], "Report | None"]
"""(the vendor's settings if configured, options from the command line) -> a Report, or None
when nobody asked for one; raises ConfigError when asked for but not possible."""


@dataclass(frozen=True)
class CliOption:
    """A command-line option a vendor offers on one of the commands (`--notify-webex-deployment
    ID` on apply, `--outreach-rate-limit N` on sandbox): the CLI adds it to the command and
    hands the value to the vendor under `key` (after-apply hook options, sandbox switches)."""

    flag: str
    key: str
    help: str
    metavar: str = "VALUE"
    type: type[str] | type[int] = str
    default: str | int | None = None


@dataclass(frozen=True)
class Vendor:
    name: str  # the key under `providers:` in reconciler.yaml and the first part of addresses
    provider: str | type[Provider]  # "module:ProviderClass" (or the class itself)
    sandbox: str | None = None  # "module:SANDBOX", a reconciler.sandbox.common.VendorSandbox
    example: str | None = None  # the manifest `init` writes ({header} is replaced); else a template
    title: str = ""  # how people call it: "Outreach", "Webex Campaign"
    after_apply: str | None = None  # "module:factory", a reconciler.apply.hooks.HookFactory
    # Options the vendor adds to commands, by command name ("apply": its hook's options,
    # "sandbox": its sandbox's switches); the CLI offers them, so no vendor word is in cli/.
    cli_options: Mapping[str, tuple[CliOption, ...]] = field(default_factory=dict)

    def load_provider(self) -> type[Provider]:
        found = load(self.provider) if isinstance(self.provider, str) else self.provider
        return found

    def load_sandbox(self) -> VendorSandbox | None:
        return None if self.sandbox is None else load(self.sandbox)
