"""Problems as GitHub Actions workflow commands (`validate --format github`).

`::error file=F,line=L,col=C,title=T::message` on stdout makes GitHub show the message on
that line of the pull request's diff. File names are as the messages name them: relative to
the working directory, which in a workflow is the repository root. Values are escaped the
way the runner reads them (`%`, CR, LF; in properties also `:` and `,`), so a message can
neither end the command early nor start another one.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.errors import ManifestError, ReconcilerError

TITLE = "reconciler validate"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(error: ReconcilerError, directory: Path) -> str:
    """One `::error` line per problem; a problem with no place is pinned to reconciler.yaml."""
    lines: list[str] = []
    problems = error.diagnostics if isinstance(error, ManifestError) else []
    for problem in problems:
        if problem.source is None:
            lines.append(f"::error title={_property(TITLE)}::{_data(problem.message)}")
            continue
        where = (f"file={_property(problem.source.file)},line={problem.source.line},"
                 f"col={problem.source.column}")
        lines.append(f"::error {where},title={_property(TITLE)}::{_data(problem.message)}")
    if isinstance(error, ManifestError) and error.more:
        lines.append(f"::error title={_property(TITLE)}::{_data(error.more_line())}")
    if not problems:
        lines.append(f"::error title={_property(TITLE)}::{_data(str(error))}")
    return "\n".join(lines)
