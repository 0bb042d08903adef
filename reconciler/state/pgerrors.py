"""What a PostgreSQL failure says, and how a connection string may be shown: never a
password, in whatever form it was written. The state backend and the history store both
say it this way."""

from __future__ import annotations

from urllib.parse import unquote

import psycopg
import psycopg.errors

from reconciler.errors import StateError
from reconciler.redact import Redactor, conninfo_secrets


def redact_url(url: str, text: str | None = None) -> str:
    """`text` with every password of `url` replaced by ***; by default the connection string
    itself, shown only as libpq parsed it (user, host, port, database, never a password), and
    not at all when it does not parse cleanly: an unescaped `@` or `/` in a password, a URL
    that does not parse, a misspelled `passwrd=` could otherwise put the password on screen."""
    if text is None:
        return shown_conninfo(url)
    return Redactor(conninfo_secrets(url))(text)


def shown_conninfo(url: str) -> str:
    """The connection string as it may be printed: rebuilt from libpq's own parse."""
    from psycopg.conninfo import conninfo_to_dict

    scheme, sep, rest = url.partition("://")
    try:
        parts = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except Exception:
        return (f"{scheme}://... (state.url; not shown: it does not parse)" if sep else
                "state.url (not shown: it does not parse)")
    if not sep:
        return " ".join(f"{k}={parts[k]}" for k in ("host", "port", "dbname", "user") if k in parts)
    tail = unquote(rest.rpartition("@")[2])  # where host, port and database are written
    if any(parts[k] not in tail for k in ("host", "port", "dbname") if k in parts) or (
            "user" in parts and not unquote(rest).startswith(parts["user"])):
        return (f"{scheme}://... (state.url; not shown: it does not parse as written; "
                "percent-encode any @, / or : in its password)")
    host = parts.get("host", "")
    host = f"[{host}]" if ":" in host else host
    user = parts.get("user", "")
    user += ":***" if "password" in parts else ""
    return (f"{scheme}://{user + '@' if user else ''}{host}"
            f"{':' + parts['port'] if 'port' in parts else ''}/{parts.get('dbname', '')}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect_error(url: str, exc: psycopg.Error) -> StateError:
    """A failed connection, said without what libpq may quote of the password."""
    shown = redact_url(url)
    # libpq may quote the conninfo, or a host it read out of a mistyped password
    message = "libpq's message is left out, as it may quote parts of the password" \
        if "not shown" in shown else redact_url(url, _first_line(exc))
    return StateError(f"cannot connect to the PostgreSQL state at {shown}: {message}")


def explain(exc: psycopg.Error, action: str, needs: str) -> str:
    """A psycopg error -> one line: what failed, why, what to do; `needs` names the privileges
    the action takes (said when the role lacks one)."""
    first = _first_line(exc)
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return (f"PostgreSQL state: {first} while {action}; the role needs {needs}. Ask the "
                "database owner to grant it (see the README's Reliability section)")
    if isinstance(exc, psycopg.errors.UntranslatableCharacter | psycopg.errors.CharacterNotInRepertoire):
        return (f"PostgreSQL state: a value holds a character PostgreSQL cannot store ({first}) "
                f"while {action}; most often a NUL character (\\u0000) in a vendor's object. "
                "Remove it at the vendor, or stop managing that object")
    if isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled):
        return f"PostgreSQL state: timed out while {action} ({first}); another session holds it: run again"
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return (f"PostgreSQL state: the connection was lost while {action} ({first}): the "
                "server ended the session or went away. Run the command again; an apply's "
                "finished changes are in the journal, and objects it created are adopted")
    code = f" [{exc.sqlstate}]" if exc.sqlstate else ""
    return f"PostgreSQL state: {first}{code} while {action}; check the database and run again"
