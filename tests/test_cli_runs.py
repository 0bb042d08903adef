"""One process, several command lines (as the suite runs them, and a service later): each run
starts as a new process would. Its --verbose, --no-color and log handler, and the credentials
it registered for redaction, end with it."""

from __future__ import annotations

from tests.conftest import Project

ONE = """\
    outreach:
      call_purposes:
        intro: {name: %s}
    """


def test_verbose_logging_belongs_to_its_run(project: Project) -> None:
    project.write("p.yaml", ONE % "Intro")
    verbose = project.plan("-v")
    assert verbose.code == 2 and "GET /callPurposes" in verbose.err, verbose.text
    quiet = project.plan()
    assert quiet.code == 2 and "GET /callPurposes" not in quiet.err, quiet.text


def test_no_color_belongs_to_its_run(project: Project) -> None:
    project.write("p.yaml", ONE % "Intro")
    assert "\x1b[" not in project.plan("--no-color", env={"NO_COLOR": "", "FORCE_COLOR": "1"}).out
    coloured = project.plan(env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    assert coloured.code == 2 and "\x1b[" in coloured.out, coloured.text


def test_credentials_of_one_run_are_not_redacted_in_the_next(project: Project) -> None:
    """A value that was a credential of an earlier run is, in this run, just a name."""
    word = "Quarterly-review-7rt2"
    project.write("p.yaml", ONE % "Intro")
    assert project.cli("validate", str(project.root), env={"OUTREACH_TOKEN": word}).code == 0
    project.write("p.yaml", ONE % word)
    planned = project.plan()
    assert planned.code == 2 and word in planned.out, planned.text
