"""The line-by-line reader of plain manifests (reconciler/manifest/plain.py) against ruamel.

The reader may decline any file (ruamel then reads it); what it accepts must read exactly as
ruamel's composed nodes do: the same values of the same types, in the same order, at the same
positions. Generated documents sit on the subset's edges (indicators, quotes, comments,
indentation, YAML's typed words), and some are broken on purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.reader import ReaderError

from reconciler.errors import Source
from reconciler.manifest import plain
from reconciler.manifest.source import (
    MAX_DEPTH,
    _Converter,
    compose,
    credential_search,
    load,
    plain_tag,
)

ENV = {"TEAM": "sales", "EMPTY": ""}
QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart" / "purposes"


def _converter(mark_depth: int) -> _Converter:
    made = _Converter("f.yaml", ENV, mark_depth)
    made.holding = credential_search(("s3cr3t-token",))
    return made


def by_ruamel(text: str, mark_depth: int = MAX_DEPTH) -> tuple[str, Any, dict[Any, Any], list[Any]]:
    try:
        node = compose(text)
    except (MarkedYAMLError, ReaderError) as exc:
        return "error", type(exc).__name__, {}, []
    if node is None:
        return "empty", None, {}, []
    converter = _converter(mark_depth)
    data = converter.convert(node, ())
    return "read", data, converter.marks, converter.diagnostics


def by_lines(text: str, mark_depth: int = MAX_DEPTH) -> tuple[Any, dict[Any, Any]] | None:
    converter = _converter(mark_depth)
    data = plain.read(text, converter, plain_tag, MAX_DEPTH)
    return None if data is None else (data, converter.marks)


def typed(value: Any) -> Any:
    """A value with its types spelled out (1, 1.0 and True compare equal in Python)."""
    if isinstance(value, dict):
        return [(k, typed(v)) for k, v in value.items()]
    return (type(value).__name__, repr(value))


def check_agrees(text: str, mark_depth: int = MAX_DEPTH) -> bool:
    """Whether the line reader took the file; when it did, it read it as ruamel does."""
    fast = by_lines(text, mark_depth)
    if fast is None:
        return False
    outcome, data, marks, diagnostics = by_ruamel(text, mark_depth)
    assert outcome == "read", (text, outcome, data)
    assert diagnostics == [], (text, diagnostics)
    assert typed(fast[0]) == typed(data), text
    assert fast[1] == marks, text
    return True


# ---------------------------------------------------------------- generated documents ----

TRICKY = ["", "yes", "no", "on", "off", "true", "True", "FALSE", "null", "Null", "~", "0", "-1",
          "+1", "007", "0x1F", "0o17", "0b101", "1_000", "1e3", "1.5", "-.5", ".inf", "-.inf",
          ".nan", "2001-12-14", "12:30", "=", "<<", "a: b", "a:b", "a #b", "a#b", "#b", "-", "- a",
          "-a", "--", "---", "...", "?", "? a", ":a", "a:", "&a", "*a", "!a", "!!str a", "|", ">",
          "%a", "@a", "`a", "[a]", "{a: 1}", "a, b", "a [b]", "a {b}", "'a'", '"a"', "a'b", 'a"b',
          "a  b", " a", "a ", "${TEAM}", "x ${TEAM} y", "${MISSING}", "${TEAM:-dev}", "$$", "${ TEAM }",
          "https://example.com/a?b=c#d", "é", "日本", "\\n", "a\\tb", "s3cr3t-token",
          "x s3cr3t-token y", "\x00", "\u0085", "\u2028", "\t", "\ufeff"]
KEYS = ["a", "b", "name", "order", "p1", "0", "1", "yes", "null", "a.b", "a-b", "_x", "Key",
        "x" * 1100]
SCALAR_ALPHABET = (" :#'\"-?,[]{}&*!|>%@`$~\\é日aZ09._/\t\x00\x7f\x85\xa0\u2028\ufeff\U0001f600"
                   "\ud7ff\ue000\ufffd")
"""Every YAML indicator, letters and digits, and characters YAML treats apart (tab, NUL,
DEL, NEL, NBSP, line separator, BOM, an astral one, the edges of the allowed ranges)."""


FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
MANIFEST_TEXT = "abcXYZ019 ,'._/:-"
"""What manifest values are mostly made of (cheap to draw: no regular expression)."""
KEY_TEXT = "abz09_.-"


@st.composite
def scalars(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 3)):  # mostly what manifests hold, so that most files are taken
        text = draw(st.sampled_from(FIRST)) + draw(st.text(MANIFEST_TEXT, max_size=12))
    else:
        text = draw(st.one_of(st.sampled_from(TRICKY), st.text(SCALAR_ALPHABET, max_size=12)))
    style = draw(st.sampled_from(["plain", "plain", "single", "double"]))
    if style == "single":
        text = "'" + text.replace("'", "''") + "'"
    elif style == "double":
        text = '"' + text + '"'
    trailer = draw(st.sampled_from(["", "", "", " ", "  # note", " #", "#x", " # a: b"]))
    return text + trailer


@st.composite
def mappings(draw: st.DrawFn, depth: int = 0, indent: int = 0) -> list[str]:
    lines: list[str] = []
    step = draw(st.integers(1, 4))
    keys = draw(st.lists(st.one_of(st.sampled_from(KEYS),
                                   st.builds(str.__add__, st.sampled_from(FIRST.lower()),
                                             st.text(KEY_TEXT, max_size=6))),
                         min_size=1, max_size=3))
    for key in keys:
        if draw(st.integers(0, 6)) == 0:
            lines.append(" " * draw(st.integers(0, indent + 2)) + draw(st.sampled_from(
                ["# comment", "", "   ", "#", "# - a: b"])))
        head = " " * indent + key + ":"
        if depth < 3 and draw(st.booleans()):
            lines.append(head + draw(st.sampled_from(["", "", " ", "  # nested"])))
            lines.extend(draw(mappings(depth + 1, indent + step)))
        elif draw(st.integers(0, 5)) == 0:
            lines.append(head + draw(st.sampled_from(["", " ", " # empty"])))
        else:
            lines.append(head + " " * draw(st.integers(1, 2)) + draw(scalars()))
    return lines


ODD_LINES = ["- a", "  - a", "  continued text", "key:value", "? a", "---", "...", "%YAML 1.2",
             "a: &x 1", "b: *x", "\ta: 1", "a : 1", "a: |", "  block", "a: >-", "a: [1, 2]",
             "a: {b: 1}", "  b: 1", " c: 2", "a:", "a: 'unterminated", 'a: "unterminated',
             "a: 'x' y", "a: \"x\" # ok", "a: !!int 1", "a: !custom x", "a: \"\\u00e9\"", ""]


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = draw(mappings())
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(ODD_LINES)))
    if draw(st.integers(0, 5)) == 0:
        lines.insert(0, draw(st.sampled_from(["# header", "", "---", "%YAML 1.1\n---"])))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n", "\n# end"]))


@settings(max_examples=900, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.sampled_from([0, 2, 3, 4, MAX_DEPTH]))
def test_what_the_line_reader_takes_reads_as_ruamel_reads_it(text: str, mark_depth: int) -> None:
    check_agrees(text, mark_depth)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.sampled_from([0, 1, 2, 5, 17, 40]))
def test_a_file_read_in_chunks_of_lines_reads_as_a_whole(text: str, chunk: int) -> None:
    """The reader matches a big file's lines a chunk at a time (plain.CHUNK characters, then
    to the end of the line): line numbers, marks and values run on across chunks."""
    whole = by_lines(text)
    kept = plain.CHUNK
    plain.CHUNK = chunk
    try:
        assert by_lines(text) == whole, text
        check_agrees(text)
    finally:
        plain.CHUNK = kept


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*"ab1 :#'\"-\n\t{}[]&*!|>?%@`$\\é.~", "yes", "  ", "\n  ", "a: "]),
               max_size=40).map("".join))
def test_arbitrary_text_reads_as_ruamel_reads_it_or_goes_to_ruamel(text: str) -> None:
    check_agrees(text)


WORDS = ["", "~", "null", "Null", "NULL", "nul", "true", "True", "TRUE", "tRue", "false", "yes", "no",
         "on", "y", "0", "-0", "+1", "007", "0o17", "0x1F", "0b101", "1_000", "1.5", "-.5", ".5", "1e3",
         "1E-3", "6.02e+23", ".inf", "-.Inf", ".NaN", ".nan", "1.", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
         "2001-1-1", "12:30", "1:2:3", "<<", "=", "!x", "&a", "*a", "Marketing", "p000001", "-", "1-2",
         "1.2.3", "0xZZ", "٣"]


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.sampled_from(WORDS), st.integers().map(str), st.floats().map(str),
                 st.text("0123456789+-._eExXoObB:tT", max_size=12),
                 st.text("0123456789_.", min_size=60, max_size=90)))  # past plain_tag's cache
def test_a_plain_scalars_tag_is_the_one_ruamel_resolves(value: str) -> None:
    """plain_tag reads the resolver's table itself (faster); it must say what `resolve` says."""
    from ruamel.yaml.nodes import ScalarNode

    from reconciler.manifest.composing import _Resolver
    from reconciler.manifest.source import _resolved_tag

    resolved = str(_Resolver().resolve(ScalarNode, value, (True, False)))
    assert _resolved_tag(value) == resolved  # uncached
    assert plain_tag(value) == resolved


def test_plain_manifests_take_the_line_reader() -> None:
    """The speed is real: the common shape of a manifest is inside the subset."""
    for name in ("outreach.yaml", "superoffice.yaml"):
        assert check_agrees((QUICKSTART / name).read_text()), name
    generated = "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i:06}:\n      name: \"Purpose {i:06}\"\n      order: {i}\n" for i in range(1, 200))
    assert check_agrees(generated)


def test_files_outside_the_subset_go_to_ruamel() -> None:
    assert by_lines((QUICKSTART / "webex.yaml").read_text()) is None  # its records are lists
    for text in ["a:\n  - 1\n", "a: &x 1\nb: *x\n", "a: 1\na: 2\n", "a: \"\\x41\"\n", "---\na: 1\n",
                 "a:\n  b: 1\n c: 2\n", "a: b\n  c\n", "# only a comment\n", "a: ${MISSING}\n",
                 "a: x s3cr3t-token\n", "a: !!int 1\n", "a:\tb\n", "\ufeffa: 1\n", "a: 1\r\nb: 2\r\n"]:
        assert by_lines(text) is None, text


def test_a_problem_in_a_plain_file_is_placed_by_ruamel(tmp_path: Path) -> None:
    manifest = tmp_path / "p.yaml"
    manifest.write_text("outreach:\n  call_purposes:\n    a:\n      name: ${UNDECLARED}\n"
                        "      name: twice\n")
    document = load(manifest, "p.yaml", ENV, variables=["TEAM"])
    where = sorted((d.source.line, d.source.column, d.message[:40]) for d in document.diagnostics)
    assert where == [(4, 13, "${UNDECLARED}: not a declared variable; "),
                     (5, 7, "duplicate key 'name' (first defined at l")], where


def test_a_text_holding_any_credential_is_refused_whatever_its_characters() -> None:
    """The credentials are searched for with one regular expression: their characters are
    taken literally, and a text holding any one of them is refused."""
    made = _Converter("f.yaml", ENV, 3)
    made.holding = credential_search(("p4ss+word(1)", "tok.en*[x]|y", "s3cr3t-token"))
    for text, refused in [("x p4ss+word(1) y", True), ("tok.en*[x]|y", True), ("tokXen", False),
                          ("p4sssword1", False), ("..s3cr3t-token..", True), ("y", False)]:
        made.diagnostics.clear()
        value = made.scalar("", text, True, None, ())
        assert (value == "" and len(made.diagnostics) == 1) is refused, text
    made.holding = credential_search(())
    assert made.scalar("", "s3cr3t-token", True, None, ()) == "s3cr3t-token"


def test_values_alone_on_their_line_read_as_ruamel_reads_them() -> None:
    """A "text" or a number alone on its line is read without the converter's checks when the
    whole file has nothing for them to find: a `$` or a credential anywhere sends every
    value through them (or the file to ruamel), a NUL or a backslash sends the file away."""
    for value in ['"${TEAM}"', '"x ${TEAM} y"', '"${TEAM:-dev}"', '"$$"', '"a $ b"', '"s3cr3t-token"',
                  '"x s3cr3t-token y"', "0", "7", "007", "10", "123456789012345678",
                  "1234567890123456789012", "-1", "+1", "1_000", '"a"', '""', "'a'"]:
        for text in [f"a: {value}\n", f"a:\n  b: {value}\n  c: \"plain\"\n",
                     f"a:\n  b: \"plain\"\n  c: {value}\n", f"a: \"s3cr3t-\"\nb: {value}\n"]:
            check_agrees(text)
            check_agrees(text, 0)
    assert by_lines('a: "x s3cr3t-token y"\n') is None
    assert by_lines('a: "${MISSING}"\n') is None
    assert by_lines('a: "${TEAM}"\n') == ({"a": "sales"}, {(): Source("f.yaml", 1, 1),
                                                           ("a",): Source("f.yaml", 1, 4)})


def test_the_plain_readers_table_is_ruamels() -> None:
    """resolver.py's copy of ruamel's YAML 1.2 table, entry for entry, in ruamel's order."""
    from reconciler.manifest.composing import _Resolver
    from reconciler.manifest.resolver import TABLE

    theirs = _Resolver().versioned_resolver
    assert list(TABLE) == list(theirs)
    for first, entries in theirs.items():
        assert [(tag, r.pattern, r.flags) for tag, r in TABLE[first]] == [
            (str(tag), r.pattern, r.flags) for tag, r in entries], first


def test_a_plan_of_plain_manifests_never_imports_ruamel(tmp_path: Path) -> None:
    """ruamel.yaml (16 ms to import) is imported by the first file outside the subset only."""
    import subprocess
    import sys

    plain_file, other = tmp_path / "plain.yaml", tmp_path / "other.yaml"
    plain_file.write_text((QUICKSTART / "outreach.yaml").read_text())
    other.write_text("outreach:\n  call_purposes: {a: {name: A}}\n")
    script = (f"import sys\nfrom pathlib import Path\nfrom reconciler.manifest import loader, source\n"
              f"document = source.load(Path({str(plain_file)!r}), 'plain.yaml', {{}})\n"
              f"assert document.data and not document.diagnostics, document\n"
              f"print(any(m.startswith('ruamel') for m in sys.modules))\n"
              f"document = source.load(Path({str(other)!r}), 'other.yaml', {{}})\n"
              f"assert document.data == {{'outreach': {{'call_purposes': {{'a': {{'name': 'A'}}}}}}}}\n"
              f"print(any(m.startswith('ruamel') for m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"], done.stderr
