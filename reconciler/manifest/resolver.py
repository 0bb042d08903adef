"""The tags YAML 1.2 gives plain scalars, as ruamel.yaml's resolver has them, without ruamel.

The plain reader (plain.py) needs only this table of ruamel's, and importing ruamel.yaml for
it costs a plan 16 ms (its C parser's module): a plan whose manifests are all plain never
imports ruamel. tests/test_plain_yaml.py checks that this table is ruamel's, entry for entry
(tag, expression, flags, order), and that every value resolves as ruamel resolves it.
"""

from __future__ import annotations

import re

TAG = "tag:yaml.org,2002:"
STR = TAG + "str"
"""What a plain scalar no expression matches is: ruamel's DEFAULT_SCALAR_TAG."""

IMPLICIT: tuple[tuple[str, str, re.RegexFlag, tuple[str, ...]], ...] = (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", re.X, tuple("tTfF")),
    ("float", r"""^(?:
         [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""", re.X, tuple("-+0123456789.")),
    ("int", r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0o?[0-7_]+
        |[-+]?[0-9_]+
        |[-+]?0x[0-9a-fA-F_]+)$""", re.X, tuple("-+0123456789")),
    ("merge", r"^(?:<<)$", re.NOFLAG, ("<",)),
    ("null", r"""^(?: ~
        |null|Null|NULL
        | )$""", re.X, ("~", "n", "N", "")),
    ("timestamp", r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
        (?:[Tt]|[ \t]+)[0-9][0-9]?
        :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
        (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""", re.X, tuple("0123456789")),
    ("value", r"^(?:=)$", re.NOFLAG, ("=",)),
    ("yaml", r"^(?:!|&|\*)$", re.NOFLAG, tuple("!&*")),
)
"""ruamel.yaml's implicit resolvers of YAML 1.2, in its order: (tag, expression, flags,
the first characters of the values it may match)."""


def _table() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    table: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for tag, expression, flags, firsts in IMPLICIT:
        compiled = re.compile(expression, flags)
        for first in firsts:
            table.setdefault(first, []).append((TAG + tag, compiled))
    return table


TABLE = _table()
"""First character of a value ("" for the empty one) -> the (tag, expression) pairs tried, in
order, as ruamel's VersionedResolver builds them for YAML 1.2."""


def resolve(value: str) -> str:
    """The tag of the plain scalar `value` (ruamel's `resolve` for an implicit plain scalar)."""
    for tag, expression in TABLE.get(value[:1], ()):
        if expression.match(value):
            return tag
    return STR
