"""Who runs this, and from which commit: read from the CI's documented variables and .git.

Nothing here may fail a run: a missing or odd repository gives no commit, not an error.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

ACTOR_VARIABLES = (
    "RECONCILER_ACTOR",          # set it yourself where no CI variable says who
    "GITHUB_ACTOR",              # GitHub Actions
    "GITLAB_USER_LOGIN",         # GitLab CI/CD
    "BUILDKITE_BUILD_CREATOR",   # Buildkite (the creator's name)
    "CIRCLE_USERNAME",           # CircleCI
    "BUILD_REQUESTEDFOR",        # Azure Pipelines (Build.RequestedFor)
    "BITBUCKET_STEP_TRIGGERER_UUID",  # Bitbucket Pipelines
    "BUILD_USER_ID",             # Jenkins (build-user-vars plug-in)
)
BRANCH_VARIABLES = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME",
                    "BUILDKITE_BRANCH", "CIRCLE_BRANCH", "BUILD_SOURCEBRANCHNAME",
                    "BITBUCKET_BRANCH", "BRANCH_NAME")
"""A CI checks out a detached HEAD: the branch is then only in its variables."""
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")


def actor(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    for name in ACTOR_VARIABLES:
        if env.get(name, "").strip():
            return env[name].strip()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def git_revision(directory: Path, env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(commit, branch) of the repository holding `directory`, or (None, None). Read from
    .git itself (HEAD, loose refs, packed-refs, worktrees); `git` is asked (2 s at most) only
    when that does not answer."""
    env = os.environ if env is None else env
    try:
        commit, branch = _read_git(directory.resolve())
    except (OSError, ValueError, UnicodeDecodeError):  # a layout we do not read (reftable, ...)
        commit, branch = _ask_git(directory)
    if commit is not None and branch is None:
        branch = next((env[v] for v in BRANCH_VARIABLES if env.get(v)), None)
    return commit, branch


def _git_dir(directory: Path) -> Path | None:
    for folder in (directory, *directory.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dot.read_text(encoding="utf-8").strip()
            if text.startswith("gitdir:"):
                found = Path(text[len("gitdir:"):].strip())
                return found if found.is_absolute() else (folder / found).resolve()
    return None


def _read_git(directory: Path) -> tuple[str | None, str | None]:
    git = _git_dir(directory)
    if git is None:
        return None, None
    common = git
    if (git / "commondir").is_file():
        common = (git / (git / "commondir").read_text(encoding="utf-8").strip()).resolve()
    head = (git / "HEAD").read_text(encoding="utf-8").strip()
    if not head.startswith("ref:"):
        return (head, None) if _SHA.match(head) else (None, None)
    ref = head[len("ref:"):].strip()
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    for base in (git, common):
        loose = base / ref
        if loose.is_file():
            sha = loose.read_text(encoding="utf-8").strip()
            return (sha, branch) if _SHA.match(sha) else (None, branch)
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            parts = line.split(" ", 1)
            if len(parts) == 2 and parts[1] == ref and _SHA.match(parts[0]):
                return parts[0], branch
    return None, branch  # a branch with no commit yet


def _ask_git(directory: Path) -> tuple[str | None, str | None]:
    try:
        done = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD", "--abbrev-ref", "HEAD"],
                              capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None, None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2 or not _SHA.match(lines[0]):
        return None, None
    return lines[0], None if lines[1] == "HEAD" else lines[1]
