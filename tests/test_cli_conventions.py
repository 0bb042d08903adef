"""What a Terraform user expects of the command line: exit codes, -h/--version/-v anywhere,
readable help, RECONCILER_* variables, validate offline, show, scoping errors, the user's words."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.state.local import LocalBackend
from tests.conftest import REPO, Project, run_cli

ONE = """\
outreach:
  call_purposes:
    intro: {name: Intro, order: 1}
"""
COMMANDS = [("validate",), ("plan",), ("show",), ("apply",), ("drift",), ("import",), ("dump",),
            ("force-unlock",), ("sandbox",), ("schema",), ("fmt",), ("init",), ("docs",),
            ("state", "list"), ("state", "show"), ("state", "rm"), ("state", "mv")]


def test_version_alone_and_after_a_command() -> None:
    for args in (("--version",), ("plan", "--version"), ("state", "list", "--version")):
        result = run_cli(*args)
        assert result.code == 0, (args, result.text)
        assert re.fullmatch(r"reconciler \d+\.\d+\.\d+\n", result.out), result.out


@pytest.mark.parametrize("command", [(), *COMMANDS[:3], ("state", "show")])
def test_short_help_alone_and_per_command(command: tuple[str, ...]) -> None:
    result = run_cli(*command, "-h")
    assert result.code == 0, result.text
    assert result.out.startswith(f"Usage: reconciler {' '.join(command)}".rstrip() + " ")


@pytest.mark.parametrize("args, says", [
    (("plan", "--bogus"), "No such option: --bogus"),
    (("import",), "Missing argument"),
    (("plan", ".", "--format", "xml"), "xml"),
    (("plna",), "No such command 'plna'"),
    (("apply", ".", "--lock-timeout", "soon"), "--lock-timeout"),
])
def test_usage_errors_exit_1_not_2(args: tuple[str, ...], says: str) -> None:
    """2 means "changes present" / "drift found": a typo in a CI script must not read as that."""
    result = run_cli(*args)
    assert result.code == 1, result.text
    assert says in result.err
    assert "Traceback" not in result.text


def test_verbose_and_no_color_are_accepted_before_and_after_the_command(project: Project) -> None:
    project.write("p.yaml", ONE)
    for args in (("-v", "--no-color", "validate", str(project.root)),
                 ("validate", str(project.root), "-v", "--no-color"),
                 ("validate", "--verbose", str(project.root))):
        result = project.cli(*args)
        assert result.code == 0, (args, result.text)
        assert "Valid: 1 object(s)" in result.out
    for args in (("state", "-v", "list", str(project.root)),
                 ("state", "list", str(project.root), "--no-color", "-v")):
        assert project.cli(*args).code == 0, args


def test_completion_is_installable() -> None:
    assert "--install-completion" in run_cli("--help").out
    script = Path(sys.executable).with_name("reconciler")
    shown = subprocess.run([str(script), "--show-completion", "bash"], capture_output=True,
                           text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "_RECONCILER_COMPLETE" in shown.stdout
    completed = subprocess.run(
        [str(script)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "_RECONCILER_COMPLETE": "complete_bash", "COMP_WORDS": "reconciler pl",
             "COMP_CWORD": "1"})
    assert "plan" in completed.stdout.split()


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_readable_metavars_and_explains_every_argument(command: tuple[str, ...]) -> None:
    text = run_cli(*command, "--help").out
    assert text.startswith("Usage: reconciler")
    for internal in ("<list[str]>", "<str>", "<float>", "<int>", "{"):
        assert internal not in text, (internal, text)
    usage = text.splitlines()[0]
    assert usage == usage.replace("directory", "").replace("address", ""), usage  # DIR, ADDR
    if "Arguments:" in text:
        section = text.split("Arguments:")[1].split("Options:")[0]
        entries = [line for line in section.splitlines() if re.match(r"^  \S", line)]
        assert entries
        for line in entries:  # NAME <type>  help...
            assert re.match(r"^  \S+( <\w+>)?\s{2,}\S", line), (command, line)


def test_environment_variables_terraform_users_expect_are_documented() -> None:
    text = run_cli("apply", "--help").out
    for variable in ("RECONCILER_LOCK_TIMEOUT", "RECONCILER_NO_COLOR", "RECONCILER_VERBOSE"):
        assert variable in text


def test_lock_wait_is_announced_with_its_holder_and_reads_reconciler_lock_timeout(
        project: Project) -> None:
    project.write("p.yaml", ONE)
    backend = LocalBackend(project.root / "state" / "default.json")
    env = {**os.environ, **project.sandbox.env(), "NO_COLOR": "1", "RECONCILER_LOCK_TIMEOUT": "120"}
    with backend.lock("test holder", 0) as held:
        proc = subprocess.Popen([sys.executable, "-m", "reconciler", "apply", str(project.root),
                                 "--auto-approve"], env=env, cwd=REPO, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        line = proc.stderr.readline()
    out, rest = proc.communicate(timeout=120)
    assert "Acquiring state lock" in line and "waiting up to 120s" in line, line + rest
    assert f"lock {held.id} held by" in line and "running 'test holder'" in line
    assert "State lock acquired." in rest
    assert proc.returncode == 0, out + rest
    assert "Apply complete!" in out


def test_validate_needs_no_credentials_and_no_network(tmp_path: Path) -> None:
    """A fork's pull request has no secrets: validate must still check everything it can."""
    root = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", root)
    config = root / "reconciler.yaml"
    config.write_text(config.read_text().replace(
        "state:\n  backend: local\n  path: ../../state/quickstart.json",
        "state:\n  backend: postgres\n  url: ${RECONCILER_STATE_URL}"))
    env = {"RECONCILER_STATE_URL": ""} if "RECONCILER_STATE_URL" in os.environ else {}
    result = run_cli("validate", str(root), env=env)  # run_cli drops every vendor's variables
    assert result.code == 0, result.text
    assert result.out.startswith("Valid: 13 object(s) in 3 file(s).")
    (root / "purposes" / "outreach.yaml").write_text(ONE.replace("order: 1", "order: first"))
    broken = run_cli("validate", str(root), env=env)
    assert broken.code == 1
    assert "outreach.yaml:3:" in broken.err and "expected an integer" in broken.err
    assert "not set" not in broken.err  # the unset credentials are not the problem reported


def test_show_prints_a_saved_plan_in_every_format(project: Project, tmp_path: Path) -> None:
    project.write("p.yaml", ONE)
    saved = tmp_path / "plan.json"
    planned = project.plan("--out", str(saved))
    assert planned.code == 2 and f"review it with: reconciler show {saved}" in planned.err
    text = run_cli("show", str(saved))
    assert text.code == 0, text.text
    assert "+ outreach.call_purpose.intro" in text.out
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in text.out
    as_json = run_cli("show", str(saved), "--format", "json")
    assert as_json.code == 0 and "outreach.call_purpose.intro" in json.dumps(json.loads(as_json.out))
    markdown = run_cli("show", str(saved), "--format", "markdown")
    assert markdown.code == 0 and "`outreach.call_purpose.intro`" in markdown.out
    saved.write_text(saved.read_text().replace("Intro", "Outro"))
    edited = run_cli("show", str(saved))
    assert edited.code == 1 and "Traceback" not in edited.text


def test_apply_of_a_saved_plan_prints_what_it_applies(project: Project, tmp_path: Path) -> None:
    project.write("p.yaml", ONE)
    saved = tmp_path / "plan.json"
    assert project.plan("--out", str(saved)).code == 2
    applied = project.cli("apply", str(saved))
    assert applied.code == 0, applied.text
    assert f"Applying the plan saved in {saved}" in applied.out
    assert "+ outreach.call_purpose.intro" in applied.out
    assert applied.out.index("+ outreach.call_purpose.intro") < applied.out.index("Apply complete!")


def test_the_plan_has_a_legend_for_the_symbols_it_uses(project: Project) -> None:
    project.write("p.yaml", ONE + "    rogue: {name: Rogue}\n")
    project.sandbox.outreach("POST", "/callPurposes",
                             {"data": {"type": "callPurpose", "attributes": {"name": "Rogue"}}})
    out = project.plan().out
    assert "Symbols: + create, <= adopt an existing remote object (not Terraform's read)\n" in out
    assert out.index("Symbols:") < out.index("Plan: 1 to import, 1 to add")


@pytest.mark.parametrize("option", ["--target", "--exclude"])
def test_a_pattern_that_matches_nothing_is_an_error_naming_it(project: Project,
                                                              option: str) -> None:
    project.write("p.yaml", ONE)
    missed = project.plan(option, "outreach.call_purpose.intro", option, "outreach.call_purose.*")
    assert missed.code == 1, missed.text
    assert f"{option} outreach.call_purose.*: matches no address" in missed.err
    assert "call_purpose.intro:" not in missed.err  # the pattern that matched is not named
    assert project.sandbox.writes() == 0
    assert project.plan(option, "outreach.*").code in (0, 2)


def test_ignore_unmanaged_hides_objects_from_plan_and_drift(project: Project) -> None:
    project.write("p.yaml", ONE)
    assert project.apply().code == 0
    for name in ("Rogue", "Built-in A"):
        project.sandbox.outreach("POST", "/callPurposes",
                                 {"data": {"type": "callPurpose", "attributes": {"name": name}}})
    drift = project.cli("drift", str(project.root))
    assert drift.code == 2 and "Rogue" in drift.out  # what the option changes
    project.extra_provider_settings["outreach"] = '    ignore_unmanaged: ["Built-in *"]\n'
    project.configure()
    drift = project.cli("drift", str(project.root))
    assert drift.code == 2 and "Rogue" in drift.out and "Built-in" not in drift.out
    project.extra_provider_settings["outreach"] = '    ignore_unmanaged: ["Built-in *", Rogue]\n'
    project.configure()
    drift = project.cli("drift", str(project.root))
    assert drift.code == 0, drift.text
    assert "No drift." in drift.out and "unmanaged" not in drift.out
    plan = project.plan()
    assert plan.code == 0 and "Unmanaged" not in plan.out and "Rogue" not in plan.out


def test_init_ignores_superoffice_builtins_so_a_scheduled_drift_passes(tmp_path: Path) -> None:
    root = tmp_path / "so"
    assert run_cli("init", str(root), "--vendor", "superoffice").code == 0
    assert 'ignore_unmanaged: ["#Process", "#Emarketing"]' in (root / "reconciler.yaml").read_text()
    assert run_cli("apply", str(root), "--sandbox", "--auto-approve").code == 0
    drift = run_cli("drift", str(root), "--sandbox")  # the sandbox seeds both built-ins
    assert drift.code == 0, drift.text
    assert "#Process" not in drift.text and "#Emarketing" not in drift.text


def test_messages_use_the_users_words(project: Project) -> None:
    project.write("p.yaml", ONE.replace("order: 1}", "order: 1, on_delete: deactivate}"))
    invalid = project.cli("validate", str(project.root))
    assert invalid.code == 1
    assert "cannot 'deactivate'; the valid value is delete" in invalid.err
    assert "hard" not in invalid.err
    project.write("p.yaml", "outreach:\n  call_purposes:\n    intro:\n      name:\n")
    empty = project.cli("validate", str(project.root))
    assert empty.code == 1 and "p.yaml:4:" in empty.err
    assert "None" not in empty.err
    project.write("p.yaml", ONE)
    dumped = project.cli("dump", str(project.root))
    assert dumped.code == 1 and "dump needs --vendor" in dumped.err and "''" not in dumped.err
    swapped = project.cli("state", "show", str(project.root), "outreach.call_purpose.intro")
    assert swapped.code == 1 and "swapped" in swapped.err, swapped.err
    assert "`reconciler state show ADDR DIR`" in swapped.err


def test_a_connection_failure_names_the_host(project: Project) -> None:
    project.write("p.yaml", ONE)
    project.extra_provider_settings["outreach"] = "    max_attempts: 1\n"
    project.configure()
    failed = project.plan(env={"OUTREACH_BASE_URL": "http://127.0.0.1:9/api/v2"})
    assert failed.code == 1, failed.text
    assert "cannot connect to http://127.0.0.1:9" in failed.err
