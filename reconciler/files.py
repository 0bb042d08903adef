"""Writing the files a user asks for (plans, dumps, schemas), and saying clearly why one
could not be written: a missing folder, a directory, a full disk, a read-only file system.

Regular files are replaced whole (temp file, fsync, rename): a full disk or a crash leaves
the previous file. A path naming a device or a FIFO is written in place (an atomic rename
would replace the device node); a directory is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from reconciler.errors import ConfigError
from reconciler.redact import refuse_credentials

_HINTS = {
    errno.ENOENT: "the folder {parent} does not exist; create it or choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EEXIST: "it exists and is not a folder; choose another path",
    errno.EISDIR: "it is a directory; give a file name",
    errno.ENOSPC: "no space left on the device; free some space and run again",
    errno.EDQUOT: "the disk quota is exceeded; free some space and run again",
    errno.EROFS: "the file system is read-only; choose a writable place",
    errno.EACCES: "permission denied; choose a place you may write to, or fix its permissions",
    errno.EPERM: "operation not permitted; choose a place you may write to",
    errno.ENAMETOOLONG: "the file name is too long; choose a shorter one",
    errno.EFBIG: "the file is too large for this file system",
    errno.EIO: "an input/output error on the device; check the disk",
}


def explain(exc: OSError, path: Path | str | None = None) -> str:
    """One line: which file, what went wrong, what to do (never the Python exception)."""
    where = path if path is not None else exc.filename
    parent = Path(where).parent if where is not None else "the folder"
    template = _HINTS.get(exc.errno or 0, "{strerror}")
    if exc.errno == errno.ENOENT and where is not None and Path(parent).is_dir():
        template = "cannot be created there ({strerror}); choose another path"
    hint = template.format(parent=parent, strerror=(exc.strerror or str(exc)).lower())
    return f"{where}: {hint}" if where is not None else hint


def check_writable_target(path: Path) -> None:
    """Raise OSError for an existing path that is not a regular file (a directory, a device,
    a FIFO): a temp file renamed over it would replace a device node, or block on a FIFO."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "it is a directory; give a file name", str(path))
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "not a regular file (a device or a named pipe); give the "
                                    "name of a file to write", str(path))


def write_output(path: Path, text: str, what: str) -> None:
    """Write `text` to `path` (a file a command was asked to produce), or raise ConfigError
    naming the file, the cause and the remedy."""
    try:
        try:
            current = os.stat(path).st_mode
        except FileNotFoundError:
            current = None
        if current is None or stat.S_ISREG(current):
            # A new file is the owner's only (0600): a dump or a plan may describe what a team
            # keeps private; an existing file keeps its mode. Whole or not at all: a full disk
            # or a crash leaves the previous file. One rule for every --out: missing folders
            # are made.
            atomic_write(path, text, make_folder=True)
            return
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # e.g. /dev/stdout: written in place
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ConfigError(f"cannot write {what}: {explain(exc, path)}") from None


def atomic_write(path: Path, text: str, backup: bool = False, mode: int | None = None,
                 make_folder: bool = False, ours: bool = True) -> None:
    """Temp file in the same directory, fsync, rename, fsync the directory: a crash or a full
    disk leaves the old file or the new one, never half of one. The file keeps its mode
    (a new one gets `mode`, 0600 by default); `mode` given for an existing file wins. What
    is written (state, plan files, write-back, dumps) is written as given, or refused whole
    when it holds a credential of the run (CredentialInFileError): never redacted.
    A missing folder is created only with `make_folder` (the state's own folder); a file a
    user named goes nowhere it was not asked to. `ours=False`: a file that is not ours to
    police (a sandbox's vendor data holds whatever a vendor would). Raises OSError;
    `write_output` says it in words."""
    if ours:
        refuse_credentials(text, str(path))  # one scan; never rewritten
    check_writable_target(path)
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = 0o600
    import tempfile  # start-up: only a command that writes a file needs it

    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with open(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())  # a full disk shows here, not after we said "Wrote"
        if backup and path.exists():
            os.replace(path, path.with_name(path.name + ".backup"))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
