"""Start-up (issue 23): what Python compiles from text at every start (each dataclass's
methods, each string annotation typing resolves) is compiled once and kept for the next
process (reconciler/cli/code_cache.py); what is made from the kept code is what Python makes."""

from __future__ import annotations

import dataclasses
import json
import marshal
import os
import re
import subprocess
import sys
import typing
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from reconciler.cli import code_cache

REPO = Path(__file__).resolve().parent.parent

# A fresh `reconciler ARGS...` that writes, as JSON, the module of the code that called
# compile() (or exec, eval on text) for each text compiled during the run, and each regular
# expression parsed (past the imports of the module under test, which come first).
_COUNTED = """
import json, re._parser, sys
import reconciler.cli.code_cache
callers, patterns = [], []
def hook(event, args):
    if event == "compile" and args[0] is not None:
        callers.append(sys._getframe(1).f_globals.get("__name__"))
sys.addaudithook(hook)
parse = re._parser.parse
def parsed(pattern, *args, **kwargs):
    patterns.append(pattern if isinstance(pattern, str) else pattern.decode("latin-1"))
    return parse(pattern, *args, **kwargs)
re._parser.parse = parsed
out, sys.argv = sys.argv[1], ["reconciler", *sys.argv[2:]]
from reconciler.cli import main
try:
    main()
except SystemExit:
    pass
with open(out, "w") as handle:
    json.dump([callers, patterns], handle)
"""


def compiled_in_a_run(tmp_path: Path, *args: str) -> tuple[list[str], list[str]]:
    """(the modules that compiled text, the regular expressions parsed)."""
    out = tmp_path / "compiled.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["NO_COLOR"] = "1"
    subprocess.run([sys.executable, "-c", _COUNTED, str(out), *args], cwd=REPO, env=env,
                   capture_output=True, timeout=300, check=True)
    callers, patterns = json.loads(out.read_text())
    return callers, patterns


def test_the_next_process_compiles_no_dataclass_method_annotation_or_pattern_again(
        tmp_path: Path) -> None:
    compiled_in_a_run(tmp_path, "validate", "examples/quickstart")  # may compile, and keeps
    callers, patterns = compiled_in_a_run(tmp_path, "validate", "examples/quickstart")
    compiled = sorted({m for m in callers if m in ("dataclasses", "typing", "inspect",
                                                   "collections", code_cache.__name__)})
    assert not compiled, f"compiled again by {compiled}"
    kept = code_cache._read(code_cache.CACHE)
    assert sum(k.startswith(code_cache._REGEX) for k in kept) > 50  # the run's patterns
    parsed = [p for p in patterns if code_cache.regex_compiled_once(p)]
    assert not parsed, f"parsed again: {parsed}"


def _variants() -> list[type[Any]]:
    """Dataclasses of every kind of generated method (and odd field names)."""

    @dataclasses.dataclass
    class Plain:
        a: int
        b: str = "x"
        c: list[int] = dataclasses.field(default_factory=list)
        d: ClassVar[int] = 3

    @dataclasses.dataclass(frozen=True, order=True)
    class Frozen:
        self: int  # a field named like the first argument
        other: float = 1.5
        hidden: str = dataclasses.field(default="h", repr=False, compare=False)

    @dataclasses.dataclass(slots=True, kw_only=True, unsafe_hash=True)
    class Slotted:
        name: str
        count: int = 0
        scale: dataclasses.InitVar[float] = 1.0

        def __post_init__(self, scale: float) -> None:
            self.count = int(self.count * scale)

    @dataclasses.dataclass(frozen=True)
    class Child(Frozen):
        extra: tuple[str, ...] = ()

    return [Plain, Frozen, Slotted, Child]


def _methods(cls: type[Any]) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, value in vars(cls).items():
        function = getattr(value, "__wrapped__", value)  # __repr__ is wrapped (recursion guard)
        if callable(function) and getattr(function, "__code__", None) is not None \
                and function.__code__.co_filename == "<string>":
            yield name, function


def _named(value: Any) -> Any:
    """A class made by each build is another object of the same name."""
    return value.__qualname__ if isinstance(value, type) else value


def test_dataclasses_made_from_kept_code_are_the_ones_python_makes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(dataclasses, "exec", raising=False)  # the builtin, as without the cache
    made = _variants()
    monkeypatch.setattr(code_cache, "_code", {})
    monkeypatch.setattr(code_cache, "_used", {})
    monkeypatch.setattr(dataclasses, "exec", code_cache.dataclasses_exec, raising=False)
    fresh, kept = _variants(), _variants()  # compiled, then taken from what was kept
    assert code_cache._code, "nothing went through the cache"
    for python, *ours in zip(made, fresh, kept, strict=True):
        expected = dict(_methods(python))
        assert expected, python
        for cls in ours:
            found = dict(_methods(cls))
            assert found.keys() == expected.keys()
            for name, function in found.items():
                model = expected[name]
                assert function.__code__ == model.__code__, (cls, name)
                assert function.__qualname__ == model.__qualname__
                assert function.__defaults__ == model.__defaults__
                assert function.__kwdefaults__ == model.__kwdefaults__
                assert function.__annotations__ == model.__annotations__
                assert function.__globals__ is model.__globals__
                cells = [_named(c.cell_contents) for c in function.__closure__ or ()]
                assert cells == [_named(c.cell_contents) for c in model.__closure__ or ()]
    plain, frozen, slotted, child = kept
    assert repr(plain(1)).endswith("Plain(a=1, b='x', c=[])")
    assert frozen(1) < frozen(2) and frozen(1, hidden="a") == frozen(1, hidden="b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen(1).other = 2.0  # type: ignore[misc]
    assert slotted(name="n", count=2, scale=2.0).count == 4
    assert hash(slotted(name="n")) == hash(slotted(name="n"))
    assert child(1, extra=("e",)) == child(1, extra=("e",))


def test_string_annotations_are_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code_cache, "_code", {})
    monkeypatch.setattr(code_cache, "_used", {})
    monkeypatch.setattr(typing, "compile", code_cache.typing_compile, raising=False)
    first, second = typing.ForwardRef("int | None"), typing.ForwardRef("int | None")
    assert first.__forward_code__ is second.__forward_code__
    # as typing compiles it: no __future__ flags (this module has some; typing none)
    assert first.__forward_code__ == compile("int | None", "<string>", "eval", dont_inherit=True)
    assert typing.get_type_hints(_annotated) == {"x": int | None, "return": list[str]}
    with pytest.raises(SyntaxError):
        typing.ForwardRef("not an expression(")


def _annotated(x: int | None) -> list[str]:
    return []


def test_evaluated_text_is_compiled_once_and_evaluates_as_eval_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """inspect's and collections' eval (string annotations for Typer, namedtuples)."""
    import collections
    import inspect

    monkeypatch.delattr(collections, "eval", raising=False)
    plain = collections.namedtuple("Pair", "left right")
    monkeypatch.setattr(code_cache, "_code", {})
    monkeypatch.setattr(code_cache, "_used", {})
    monkeypatch.setattr(collections, "eval", code_cache.cached_eval, raising=False)
    monkeypatch.setattr(inspect, "eval", code_cache.cached_eval, raising=False)
    first, second = (collections.namedtuple("Pair", "left right") for _ in range(2))
    assert first.__new__.__code__ is second.__new__.__code__
    assert first.__new__.__code__ == plain.__new__.__code__
    assert first(1, 2) == plain(1, 2) == (1, 2) and repr(first(1, 2)) == "Pair(left=1, right=2)"
    assert inspect.get_annotations(_annotated, eval_str=True) == {"x": int | None, "return": list[str]}
    here = 5  # noqa: F841  # read by the evaluated text, from this frame
    assert code_cache.cached_eval("  \there + 1") == eval("  \there + 1") == 6  # eval strips
    assert code_cache.cached_eval("here", {"here": 7}) == 7
    with pytest.raises(SyntaxError):
        code_cache.cached_eval("1 +")


PATTERNS: list[tuple[str | bytes, int]] = [
    (r"abc", 0), (r"(?P<word>\w+)\s+(?P=word)", 0), (r"^\d{4}-\d\d$", re.M),
    (r"(?<=a)b|(?<!c)d", 0), (r"[a-z0-9._%+-]+@[a-z]+", re.I), (r"(a)(b)?(?(2)c|d)", 0),
    (r"""(?x) \A \s* (?P<sign>[-+])?  # optional sign
        (?P<int>\d+) \Z""", 0), (r"\bcolou?r\b", re.I | re.A), (r".+", re.S),
    (rb"[\x00-\x1f]+|\r\n", 0), (rb"(?P<name>[^:]+):\s*(?P<value>.*)", 0),
    (r"[[a]]", 0), (r"[+--]", 0), (r"[a&&b]", 0), (r"\u00e9t\u00e9|\w+", re.U), ("caf\u00e9", re.I),
]


@pytest.mark.parametrize(("pattern", "flags"), PATTERNS)
def test_regular_expressions_from_kept_codes_are_the_ones_python_makes(
        monkeypatch: pytest.MonkeyPatch, pattern: str | bytes, flags: int) -> None:
    monkeypatch.setattr(code_cache, "_code", {})
    monkeypatch.setattr(code_cache, "_used", {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        python = code_cache.python_regex_compile(pattern, flags)
        fresh, kept = (code_cache.regex_compile(pattern, flags) for _ in range(2))
    for ours in (fresh, kept):  # a Pattern equals another of the same pattern, flags, codes
        assert ours == python
        assert (ours.flags, ours.groups, ours.groupindex) == (python.flags, python.groups,
                                                             python.groupindex)
    assert bool(code_cache._code) == code_cache.regex_compiled_once(pattern)


def test_a_pattern_that_warns_warns_in_every_process_at_its_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code_cache, "_code", {})
    monkeypatch.setattr(re._compiler, "compile", code_cache.regex_compile)  # type: ignore[attr-defined]
    for _ in range(2):
        re.purge()  # re's own cache: each time is a process's first
        with pytest.warns(FutureWarning, match="nested set") as caught:
            re.compile("[[a]]")
        assert caught[0].filename == __file__
    assert not [k for k in code_cache._code if k.endswith("\n[[a]]")]


def test_a_damaged_or_foreign_file_is_compiled_past(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    damaged = tmp_path / "compiled.bin"
    damaged.write_bytes(code_cache._HEADER + b"\xff\x00 not marshal data")
    assert code_cache._read(damaged) == {}
    damaged.write_bytes(b"another Python's header" + b"\x00" * 40)
    assert code_cache._read(damaged) == {}
    # Another patch release of the same Python (same magic number, same file name): its
    # entries are never read, so no code its compiler or re made meets this one's.
    other = code_cache._HEADER.replace(sys.version.encode(), b"3.11.0 (another build)")
    assert other != code_cache._HEADER
    damaged.write_bytes(other + marshal.dumps({"eval\n1 + 1": compile("2", "<string>", "eval")}))
    assert code_cache._read(damaged) == {}
    key = f"{code_cache._REGEX}0 s\nab+"
    monkeypatch.setattr(code_cache, "_code", {"eval\n1 + 1": "not code", key: (0, ["x"], 0, {}, ())})
    monkeypatch.setattr(code_cache, "_used", {})
    assert eval(code_cache.typing_compile("1 + 1", "<string>", "eval")) == 2
    assert code_cache.regex_compile("ab+") == code_cache.python_regex_compile("ab+", 0)


class _Shown(str):
    """A str that prints as something else: never a key (it would find another's code)."""

    def __format__(self, spec: str) -> str:
        return "x"

    def __str__(self) -> str:
        return "x"


def test_a_str_subclass_is_compiled_as_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code_cache, "_code", {})
    monkeypatch.setattr(code_cache, "_used", {})
    code_cache.regex_compile("x")  # what each would be taken for
    code_cache.typing_compile("x", "<string>", "eval")
    assert code_cache.regex_compile(_Shown("ab+")).fullmatch("abb")
    assert eval(code_cache.typing_compile(_Shown("2"), "<string>", "eval")) == 2
    assert code_cache.cached_eval(_Shown("3")) == 3


def _compiled_something(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    """This process has compiled one text, to be kept in `cache` at exit."""
    monkeypatch.setattr(code_cache, "CACHE", cache)
    monkeypatch.setattr(code_cache, "_code", {})
    monkeypatch.setattr(code_cache, "_used", {})
    monkeypatch.setattr(code_cache, "_compiled", 0)
    code_cache.typing_compile("1 + 2", "<string>", "eval")


def test_kept_like_bytecode_and_never_when_python_writes_none(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    cache = tmp_path / "__pycache__" / "compiled.bin"
    _compiled_something(monkeypatch, cache)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # PYTHONDONTWRITEBYTECODE, -B
    code_cache._save()
    assert not cache.exists()
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    code_cache._save()
    assert "eval\n1 + 2" in code_cache._read(cache)
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary file left


def test_a_directory_that_cannot_be_written_is_left_alone(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """An installation the user cannot write (a system site-packages, a read-only image):
    the command runs as before, nothing is raised or printed. (A file where the directory
    should be: tests run as root, whom a read-only mode would not stop.)"""
    blocker = tmp_path / "site-packages"
    blocker.write_text("not a directory")
    cache = blocker / "__pycache__" / "compiled.bin"
    _compiled_something(monkeypatch, cache)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    code_cache._save()
    assert blocker.read_text() == "not a directory"
    assert not list(tmp_path.glob("**/*.tmp"))


_WRITER = """
import sys
from pathlib import Path
from reconciler.cli import code_cache
code_cache.CACHE = Path(sys.argv[1])
sys.dont_write_bytecode = False
code_cache.install()
for i in range(200):  # texts of this process alone, then saved at exit like any command's
    code_cache.typing_compile(f"{sys.argv[2]} + {i}", "<string>", "eval")
"""


def test_processes_saving_at_once_leave_a_readable_file(tmp_path: Path) -> None:
    """Two commands ending together (a fleet's jobs, parallel CI steps) each merge what
    they compiled into the file and replace it whole: whichever wins, the file reads."""
    cache = tmp_path / "__pycache__" / "compiled.bin"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(cache), str(n)], cwd=REPO,
                                env=env, stderr=subprocess.PIPE) for n in range(6)]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
        assert not err
    kept = code_cache._read(cache)
    assert len(kept) >= 200  # at least the last writer's own texts, none damaged
    assert all(isinstance(code, type(compile("1", "<string>", "eval"))) for code in kept.values())
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary file left


def test_switched_off_with_bytecode(tmp_path: Path) -> None:
    """PYTHONDONTWRITEBYTECODE (or -B) turns it off: Python compiles as it always does, and a
    file an earlier process kept is not read."""
    probe = """
import dataclasses, re._compiler, typing
from reconciler.cli import code_cache
code_cache.install()
print(getattr(dataclasses, "exec", None) is None, getattr(typing, "compile", None) is None,
      re._compiler.compile is code_cache.python_regex_compile, len(code_cache._code))
"""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    shown = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120, check=True).stdout.split()
    assert shown == ["True", "True", "True", "0"]
    env.pop("PYTHONDONTWRITEBYTECODE")
    shown = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120, check=True).stdout.split()
    assert shown[:3] == ["False", "False", "False"]
