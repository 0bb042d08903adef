"""The CI examples in examples/ci/: valid YAML, the expected jobs and triggers, and every
`reconciler ...` command they run exists with the flags it passes (checked against the real
`--help` output, so renaming a command or a flag breaks this test)."""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
CI = REPO / "examples" / "ci"
GITHUB = CI / "github-actions.yml"
GITLAB = CI / "gitlab-ci.yml"
FORMATS = {"text", "json", "markdown"}
SECRETS = ["OUTREACH_TOKEN", "WEBEX_CAMPAIGN_TOKEN", "WEBEX_CAMPAIGN_BASE_URL", "WEBEX_CAMPAIGN_TENANT_URL",
           "SUPEROFFICE_BASE_URL", "SUPEROFFICE_TOKEN", "RECONCILER_STATE_URL"]

# Shell operators end a command; these words start one when they come first.
OPERATORS = {";", ";;", "&&", "||", "|", "|&", "&", "(", ")", "((", "))"}
KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "time", "exec"}
# Redirections: `> f`, `>> "$X"`, `2> f`, `2>&1`, `>&2`, `< f`.
REDIRECTION = re.compile(r"(?<!\S)\d*(?:>>|>|<)(?:&\d+|\s*[^\s;|&]+)")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def load(path: Path) -> dict[str, Any]:
    doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{path}: not a mapping"
    return doc


# ---------------------------------------------------------------- scripts ----

def github_scripts(doc: dict[str, Any]) -> dict[str, list[str]]:
    """Every `run:` block, per job."""
    return {name: [step["run"] for step in job.get("steps", []) if "run" in step]
            for name, job in doc["jobs"].items()}


def gitlab_scripts(doc: dict[str, Any]) -> dict[str, list[str]]:
    """Every `before_script:` / `script:` / `after_script:` item, per job (default's included)."""
    default = doc.get("default", {})
    out: dict[str, list[str]] = {}
    for name, job in doc.items():
        if not isinstance(job, dict) or "script" not in job:
            continue
        items: list[str] = []
        for key in ("before_script", "script", "after_script"):
            value = job.get(key, default.get(key, []))
            items += [value] if isinstance(value, str) else list(value)
        out[name] = items
    return out


def reconciler_commands(script: str) -> list[list[str]]:
    """The argument lists of every `reconciler ...` (or `python -m reconciler ...`) command in a
    shell script: continuation lines joined, redirections dropped, pipes, `&&`, `|| code=$?`,
    `if ...; then ...` and leading VAR=value assignments understood."""
    joined = re.sub(r"\\\n\s*", " ", script)
    commands: list[list[str]] = []
    for line in joined.splitlines():
        if "reconciler" not in line:
            continue
        lexer = shlex.shlex(REDIRECTION.sub(" ", line), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        at_start, current = True, None
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token in OPERATORS:
                at_start, current = True, None
            elif current is not None:
                current.append(token)
            elif at_start and (token in KEYWORDS or ASSIGNMENT.match(token)):
                pass
            elif at_start and os.path.basename(token) == "reconciler":
                current = []
                commands.append(current)
            elif (at_start and os.path.basename(token).startswith("python")
                  and tokens[i + 1:i + 3] == ["-m", "reconciler"]):
                current = []
                commands.append(current)
                i += 2
            else:
                at_start = False
            i += 1
    return commands


def all_commands(scripts: dict[str, list[str]]) -> dict[str, list[list[str]]]:
    return {job: [c for s in items for c in reconciler_commands(s)] for job, items in scripts.items()}


def option_value(args: list[str], flag: str) -> str | None:
    """The value given to `flag` (`--flag V` or `--flag=V`), None when absent."""
    for i, arg in enumerate(args):
        if arg == flag:
            return args[i + 1] if i + 1 < len(args) else ""
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1:]
    return None


# ------------------------------------------------------- the real CLI help ----

@functools.cache
def help_text(*path: str) -> str:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run([sys.executable, "-m", "reconciler", *path, "--help"], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=60)
    assert proc.returncode == 0, f"reconciler {' '.join(path)} --help: {proc.stderr}"
    return proc.stdout


def section(text: str, title: str) -> list[str]:
    """The lines of a help section ("Options:", "Commands:") up to the next section."""
    lines: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.strip() == title:
            inside = True
        elif inside and line and not line[0].isspace():
            break
        elif inside:
            lines.append(line)
    return lines


def subcommands(text: str) -> set[str]:
    return {m.group(1) for line in section(text, "Commands:") if (m := re.match(r"\s+(\S+)", line))}


def options(text: str) -> dict[str, str]:
    """Each option (`--long`, `-s`) of a help text, mapped to its flag column (which holds its metavar)."""
    found: dict[str, str] = {}
    for line in section(text, "Options:"):
        if not line.lstrip().startswith("-"):
            continue  # a wrapped description
        column = re.split(r"\s{2,}", line.strip())[0]
        for flag in re.findall(r"(?<![\w-])--?[A-Za-z0-9][\w-]*", column):
            found[flag] = column
    return found


def format_choices(text: str) -> set[str]:
    column = options(text).get("--format", "")
    match = re.search(r"[<\[]([\w|]+)[>\]]", column)
    return set(match.group(1).split("|")) if match else set()


def problems(args: list[str]) -> list[str]:
    """What is wrong with one `reconciler ARGS...` command line: an unknown (sub)command, an
    unknown flag, or a --format value the command does not take."""
    shown = "reconciler " + " ".join(args)
    path: list[str] = []
    rest = list(args)
    while True:  # global options, then the (sub)command, descending into groups like `state`
        text = help_text(*path)
        commands = subcommands(text)
        if not commands:
            break  # a command: its options are checked below, wherever they stand
        flags = options(text)
        while rest and rest[0].startswith("-"):
            if rest[0].split("=")[0] not in flags:
                return [f"{shown}: unknown option {rest[0]} before the command"]
            rest.pop(0)
        if not rest or rest[0] not in commands:
            return [f"{shown}: unknown command {rest[0] if rest else '(none)'} (known: {sorted(commands)})"]
        path.append(rest.pop(0))
    text = help_text(*path)
    flags = options(text)
    found = []
    for i, arg in enumerate(rest):
        if not re.match(r"-[A-Za-z-]", arg):
            continue  # a positional argument or an option's value
        flag, _, inline = arg.partition("=")
        if flag not in flags:
            found.append(f"{shown}: `reconciler {' '.join(path)}` has no option {flag} "
                         f"(it has {sorted(flags)})")
        elif flag == "--format":
            value = inline or (rest[i + 1] if i + 1 < len(rest) else "")
            if value not in FORMATS or value not in format_choices(text):
                found.append(f"{shown}: --format {value!r} is not one of {sorted(FORMATS)}")
    return found


# ------------------------------------------------------------------ tests ----

def test_the_extractor_understands_the_shell_forms_the_pipelines_use() -> None:
    script = (
        "code=0\n"
        "reconciler plan manifests --out plan.json --format markdown --detailed-exitcode \\\n"
        "  > plan.md 2> plan.err || code=$?\n"
        "NO_COLOR=1 reconciler drift manifests --format=json | tee drift.json >&2\n"
        'if [ "$FORCE" = true ]; then reconciler apply plan.json --lock-timeout 300 --force; fi\n'
        "reconciler validate manifests && python -m reconciler state list manifests 2>&1\n"
        'echo "run reconciler apply by hand"  # a mention, not a command\n'
    )
    assert reconciler_commands(script) == [
        ["plan", "manifests", "--out", "plan.json", "--format", "markdown", "--detailed-exitcode"],
        ["drift", "manifests", "--format=json"],
        ["apply", "plan.json", "--lock-timeout", "300", "--force"],
        ["validate", "manifests"],
        ["state", "list", "manifests"],
    ]


def test_the_checker_catches_renamed_commands_flags_and_formats() -> None:
    assert problems(["plan", "manifests", "--out", "p.json", "--detailed-exitcode"]) == []
    assert problems(["-v", "drift", "manifests", "--format", "markdown"]) == []
    assert "no option --detailed-exit-code" in problems(["plan", "manifests", "--detailed-exit-code"])[0]
    assert "no option --out" in problems(["apply", "manifests", "--out", "x"])[0]
    assert "unknown command diff" in problems(["diff", "manifests"])[0]
    assert "--format 'html'" in problems(["drift", "manifests", "--format", "html"])[0]
    assert "--format 'html'" in problems(["drift", "--format=html", "manifests"])[0]


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_every_reconciler_command_the_pipelines_run_exists(path: Path) -> None:
    doc = load(path)
    per_job = all_commands(github_scripts(doc) if path == GITHUB else gitlab_scripts(doc))
    commands = [c for cs in per_job.values() for c in cs]
    assert {c[0] for c in commands} >= {"validate", "plan", "apply", "drift"}
    assert [p for c in commands for p in problems(c)] == []


def test_github_workflow_triggers_jobs_and_secrets() -> None:
    doc = load(GITHUB)
    on = doc.get("on", doc.get(True))  # `on` stays a string in YAML 1.2 (ruamel), not a boolean
    assert {"pull_request", "push", "schedule"} <= set(on)
    assert on["push"]["branches"] == ["main"]
    assert on["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # daily
    jobs = doc["jobs"]
    assert {"plan", "apply", "drift"} <= set(jobs)
    assert "pull_request" in jobs["plan"]["if"]
    assert "push" in jobs["apply"]["if"]
    assert "schedule" in jobs["drift"]["if"]
    assert jobs["apply"]["concurrency"]["cancel-in-progress"] is False
    for job in ("plan", "apply", "drift"):
        steps = jobs[job]["steps"]
        setup = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python"))
        assert str(setup["with"]["python-version"]) == "3.11"
        assert any("pip install reconciler" in s.get("run", "") for s in steps)
    plan_steps = jobs["plan"]["steps"]
    assert any(str(s.get("uses", "")).startswith("actions/github-script") and "createComment" in s["with"]["script"]
               for s in plan_steps)
    upload = next(s for s in plan_steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert "plan.json" in upload["with"]["path"]
    for name in SECRETS:
        assert doc["env"][name] == f"${{{{ secrets.{name} }}}}"


def test_gitlab_pipeline_stages_jobs_and_rules() -> None:
    doc = load(GITLAB)
    assert doc["stages"] == ["plan", "apply", "drift"]
    for job in ("plan", "apply", "drift"):
        assert doc[job]["stage"] == job
        assert doc[job]["rules"], job
    conditions = {job: " ".join(r.get("if", "") for r in doc[job]["rules"] if r.get("when") != "never")
                  for job in ("plan", "apply", "drift")}
    assert "merge_request_event" in conditions["plan"]
    assert "$CI_DEFAULT_BRANCH" in conditions["apply"]
    assert '"schedule"' in conditions["drift"]
    assert doc["apply"]["resource_group"]
    assert "plan.json" in doc["plan"]["artifacts"]["paths"]
    assert "pip install reconciler" in doc["default"]["before_script"]
    text = GITLAB.read_text(encoding="utf-8")
    assert "/merge_requests/$CI_MERGE_REQUEST_IID/notes" in text
    assert [name for name in SECRETS if name not in text] == []


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_pipelines_handle_exit_codes_and_apply_the_plan_they_saved(path: Path) -> None:
    doc = load(path)
    scripts = github_scripts(doc) if path == GITHUB else gitlab_scripts(doc)
    per_job = all_commands(scripts)
    for job in ("plan", "apply"):
        plans = [c for c in per_job[job] if c[0] == "plan"]
        assert plans and all("--detailed-exitcode" in c and option_value(c, "--out") for c in plans), job
        assert all(option_value(c, "--format") == "markdown" for c in plans), job
        assert any("|| code=$?" in s for s in scripts[job]), f"{job}: exit code 2 must not fail the job"
    saved = {option_value(c, "--out") for c in per_job["apply"] if c[0] == "plan"}
    applies = [c for c in per_job["apply"] if c[0] == "apply"]
    assert applies and all(c[1] in saved and option_value(c, "--lock-timeout") for c in applies)
    drifts = [c for c in per_job["drift"] if c[0] == "drift"]
    assert drifts and all(option_value(c, "--format") == "markdown" for c in drifts)
    assert any(re.search(r"\b2\)[^\n]*exit 2", s) for s in scripts["drift"]), "drift must fail the job on exit 2"


def test_the_pipelines_set_every_variable_the_quickstart_config_requires() -> None:
    config = (REPO / "examples" / "quickstart" / "reconciler.yaml").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)\}", config))  # no :-default
    assert required <= set(SECRETS)
