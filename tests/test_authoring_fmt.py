"""`reconciler fmt`: canonical layout, comments and content kept, --check for CI."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.authoring.fmt import field_orders, format_paths, format_text
from reconciler.errors import ManifestError
from reconciler.providers.registry import BUILTIN
from tests.conftest import REPO, run_cli

ORDERS = field_orders(BUILTIN)


def fmt(text: str) -> str:
    out = format_text(textwrap.dedent(text), ORDERS)
    assert format_text(out, ORDERS) == out, "fmt must be idempotent"
    return out


def test_fields_follow_the_schema_order_and_comments_travel_with_them() -> None:
    out = fmt("""\
        # yaml-language-server: $schema=../schema/manifest.schema.json
        outreach:   # the vendor
          call_purposes:
            # the first purpose
            intro:
              prevent_destroy: true   # never delete it
              # shown in lists
              order: 1   # first
              # what reps see
              name: Intro

            follow_up: {order: 2, name: Follow Up}
        """)
    assert out == textwrap.dedent("""\
        # yaml-language-server: $schema=../schema/manifest.schema.json
        outreach:   # the vendor
          call_purposes:
            # the first purpose
            intro:
              # what reps see
              name: Intro
              # shown in lists
              order: 1   # first
              prevent_destroy: true   # never delete it

            follow_up: {name: Follow Up, order: 2}
        """)


def test_lifecycle_fields_go_last_and_unknown_fields_are_kept() -> None:
    out = fmt("""\
        superoffice:
          consent_purposes:
            news:
              on_delete: delete
              ignore_changes: [rank]
              colour: blue
              rank: 2
              key: "#News"
              name: News
        """)
    assert out.splitlines()[3:] == ["      name: News", '      key: "#News"', "      rank: 2",
                                    "      colour: blue", "      ignore_changes: [rank]",
                                    "      on_delete: delete"]


def test_indentation_is_two_spaces_with_list_items_under_their_key() -> None:
    out = fmt("""\
        webex_campaign:
            datastore_records:
                seed:
                    datastore_id: "1466"
                    feed_id: "1499"
                    records:
                    - {msisdn: "+442071234501", firstname: Alice}
                    # Bob joins later
                    - {msisdn: "+442071234502", firstname: Bob}
        """)
    assert out == textwrap.dedent("""\
        webex_campaign:
          datastore_records:
            seed:
              datastore_id: "1466"
              feed_id: "1499"
              records:
                - {msisdn: "+442071234501", firstname: Alice}
                # Bob joins later
                - {msisdn: "+442071234502", firstname: Bob}
        """)


def test_quotes_only_where_yaml_needs_them() -> None:
    out = fmt("""\
        superoffice:
          consent_purposes:
            news:
              name: 'News letter'
              key: '#News'
              consent_text: "yes"
              form_text: "it's: fine"
              tooltip: "07"
              privacy_statement_desc: 'O''Brien'
              privacy_statement_url: "https://example.com/p?a=b#c"
              rank: ~
        """)
    assert out.splitlines()[3:] == [
        "      name: News letter",
        '      key: "#News"',             # a comment otherwise
        '      consent_text: "yes"',      # a boolean to YAML 1.1 tools
        '      form_text: "it\'s: fine"',  # ": " would start a mapping
        '      tooltip: "07"',            # a number otherwise
        "      rank: null",
        "      privacy_statement_desc: O'Brien",
        "      privacy_statement_url: https://example.com/p?a=b#c",
    ]


def test_block_scalars_blank_lines_and_other_vendors_are_kept() -> None:
    text = textwrap.dedent("""\
        # top

        outreach:
          call_purposes:
            a:
              order: 1
              name: >-
                folded
                name

            b:
              name: B
        thirdparty:
          things: {x: {z: 1, a: 2}}
        # end
        """)
    out = fmt(text)
    assert "thirdparty:\n  things: {x: {z: 1, a: 2}}\n# end\n" in out
    assert "      name: >-\n        folded\n        name\n      order: 1\n\n    b:\n" in out
    assert out.startswith("# top\n\noutreach:\n")


def test_anchors_are_only_reindented() -> None:
    out = fmt("""\
        base: &base {order: 1}
        outreach:
            call_purposes:
                a:
                    <<: *base
                    name: 'A'
        """)
    assert out == "base: &base {order: 1}\noutreach:\n  call_purposes:\n    a:\n      <<: *base\n      name: 'A'\n"


def test_it_refuses_rather_than_lose_a_comment() -> None:
    with pytest.raises(ManifestError, match="would lose the comment"):
        format_text("outreach: {call_purposes: {a: {name: A,  # inside\n  order: 1}}}\n", ORDERS)


def test_the_examples_are_formatted() -> None:
    directories = [c.parent for c in (REPO / "examples").rglob("reconciler.yaml")]
    assert directories
    for directory in directories:
        report = format_paths(directory, write=False, registry=BUILTIN)
        assert report.changed == [] and report.problems == [], directory


def test_check_lists_and_exits_1_then_fmt_rewrites_keeping_comments(tmp_path: Path) -> None:
    root = tmp_path / "m"
    (root / "purposes").mkdir(parents=True)
    (root / "reconciler.yaml").write_text("providers:\n    outreach:\n        token: ${OUTREACH_TOKEN}\n")
    messy = "outreach:\n    call_purposes:\n        a:   # keep me\n            order: 1\n            name: 'A'\n"
    (root / "purposes" / "messy.yaml").write_text(messy)
    tidy = "outreach:\n  call_purposes:\n    a: {name: A, order: 1}\n"
    (root / "purposes" / "tidy.yaml").write_text(tidy)
    (root / "state").mkdir()
    (root / "state" / "ignored.yaml").write_text("a:    1\n")  # the local state folder is skipped

    check = run_cli("fmt", "--check", str(root))
    assert check.code == 1, check.text
    listed = check.out.split()
    assert len(listed) == 2 and listed[0].endswith("reconciler.yaml") and listed[1].endswith("messy.yaml")
    assert "2 file(s) not formatted" in check.err
    assert (root / "purposes" / "messy.yaml").read_text() == messy  # --check changes nothing

    done = run_cli("fmt", str(root))
    assert done.code == 0, done.text
    assert done.out.split() == listed
    assert (root / "purposes" / "messy.yaml").read_text() == (
        "outreach:\n  call_purposes:\n    a:   # keep me\n      name: A\n      order: 1\n")
    assert (root / "purposes" / "tidy.yaml").read_text() == tidy
    assert (root / "state" / "ignored.yaml").read_text() == "a:    1\n"
    assert format_paths(root, write=False).changed == []


def test_a_file_that_does_not_parse_is_refused_with_its_position(tmp_path: Path) -> None:
    bad = "outreach:\n  call_purposes:\n    a:\n      name: 'A\n"
    (tmp_path / "bad.yaml").write_text(bad)
    (tmp_path / "dup.yaml").write_text("outreach:\n  call_purposes: {}\n  call_purposes: {}\n")
    (tmp_path / "ok.yaml").write_text("outreach:\n    call_purposes: {}\n")
    report = format_paths(tmp_path, write=True)
    assert [str(p.source).split("/")[-1] for p in report.problems] == ["bad.yaml:5:1", "dup.yaml:3:3"]
    assert "YAML syntax error" in report.problems[0].message
    assert "duplicate key 'call_purposes'" in report.problems[1].message
    assert (tmp_path / "bad.yaml").read_text() == bad
    assert report.changed[0].endswith("ok.yaml")  # the others are still formatted
    assert (tmp_path / "ok.yaml").read_text() == "outreach:\n  call_purposes: {}\n"


def test_crlf_files_keep_their_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"outreach:\r\n    call_purposes: {}\r\n")
    assert format_paths(tmp_path, write=True).changed
    assert path.read_bytes() == b"outreach:\r\n  call_purposes: {}\r\n"
    assert not format_paths(tmp_path, write=False).changed
