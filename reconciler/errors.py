"""Every error a user can see, in one hierarchy.

    ReconcilerError            exit 1 unless said otherwise; message says what, where, what to do
     ├── ManifestError         one or more Diagnostics (file:line:column)
     ├── ConfigError           reconciler.yaml or command-line settings
     ├── StateError            unreadable, newer or conflicting state
     │    └── LockError        the workspace is locked by someone else
     ├── PlanError             a saved plan that can no longer be applied as approved
     ├── RefusedError          a plan that must not be applied (no delete API, ...)
     │    └── SafetyError      a safety rail blocked the apply (exit 3)
     └── VendorError           a vendor answered with an error we do not retry
          ├── AmbiguousWriteError   the outcome of a write is unknown
          ├── ConflictError         the object already exists
          └── OriginError           a link or redirect to another origin, not followed
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value came from: 1-based line and column, like an editor shows them."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    source: Source | None
    message: str
    path: tuple[str | int, ...] = ()  # where in the document, when known

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


class ReconcilerError(Exception):
    exit_code = 1

    def at(self, address: str) -> ReconcilerError:
        """The same error, of the same type, said about one address."""
        placed = Exception.__new__(type(self))  # the type (and its exit code), not its __init__
        Exception.__init__(placed, f"{address}: {self}")
        placed.__dict__.update(self.__dict__)
        return placed


MAX_SHOWN = 50
"""Problems listed at most, in every format; the rest are counted ("and N more")."""


class ManifestError(ReconcilerError):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        ordered = sorted(
            diagnostics,
            key=lambda d: (d.source.file, d.source.line, d.source.column) if d.source else ("", 0, 0),
        )
        self.diagnostics = ordered[:MAX_SHOWN]
        self.more = len(ordered) - len(self.diagnostics)
        super().__init__("\n".join([str(d) for d in self.diagnostics]
                                   + ([self.more_line()] if self.more else [])))

    def more_line(self) -> str:
        return (f"... and {self.more} more problem(s) ({MAX_SHOWN} shown): fix these and run "
                "again")


class ConfigError(ReconcilerError):
    pass


class StateError(ReconcilerError):
    pass


class LockError(StateError):
    pass


class PlanError(ReconcilerError):
    pass


class RefusedError(ReconcilerError):
    """A change the plan refuses (prevent_destroy, a delete the vendor cannot do) or a rail
    blocks: one exit code for all of them, plan and apply alike."""

    exit_code = 3


class SafetyError(RefusedError):
    exit_code = 3


class VendorError(ReconcilerError):
    """A vendor's refusal, with its own status and code, already redacted of secrets."""

    def __init__(self, vendor: str, status: int | None, code: str | None, message: str,
                 address: str | None = None) -> None:
        self.vendor = vendor
        self.status = status
        self.code = code
        self.detail = message
        self.address = address
        super().__init__(self.render())

    def render(self) -> str:
        where = f"{self.address}: " if self.address else ""
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" [{self.code}]" if self.code else ""
        return f"{where}{self.vendor} refused the request ({status}{code}): {self.detail}"

    def at(self, address: str) -> VendorError:
        return type(self)(self.vendor, self.status, self.code, self.detail, address)


class AnswerError(VendorError):
    """The vendor answered, but with what its API does not allow (an id of another shape, a
    non-finite number, an answer about another object, a loop): the answer is refused."""

    def render(self) -> str:
        where = f"{self.address}: " if self.address else ""
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{where}{self.vendor}'s answer is refused{status}: {self.detail}"


class AmbiguousWriteError(VendorError):
    """A write whose outcome is unknown (the connection broke after the request was sent)."""


class ConflictError(VendorError):
    """The vendor says the object already exists (a unique natural key is taken)."""


class OriginError(VendorError):
    """A vendor's answer sends us elsewhere (a link or redirect to another origin): refused,
    because the credentials would go with the request."""

    def render(self) -> str:
        where = f"{self.address}: " if self.address else ""
        return f"{where}{self.vendor}: {self.detail}"
