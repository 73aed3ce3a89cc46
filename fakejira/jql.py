"""The JQL subset fakejira understands, parsed into a flat AND of range/set filters.

Supported: project = K / in (..), key|issuekey = K / in (..) and > >= < <= K (the
numbers of one project, as Jira compares keys), id = N / in (..),
updated|created with = != > >= < <= against epoch milliseconds, "yyyy/MM/dd HH:mm",
"yyyy-MM-dd[ HH:mm]" (read in the user's time zone, as Jira does) or relative
"-5m"/"-2h"/"-1d"/"-1w"; AND; ORDER BY updated|created|key|id [ASC|DESC], ...
Anything else is a JQLError carrying a Jira-like message (the server answers 400).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo


class JQLError(ValueError):
    """Bad or unsupported JQL; str(e) is the Jira-style errorMessages entry."""


SORTABLE = {"updated", "created", "key", "id"}
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|=|>|<|~)|(?P<punct>[(),])"""
    r"""|(?P<word>[A-Za-z0-9_.\-:/+*]+))"""
)
_RELATIVE = re.compile(r"^([+-]?)(\d+)([mhdw])$")
_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@dataclass
class Query:
    projects: set[str] | None = None
    keys: set[str] | None = None
    ids: set[int] | None = None
    bounds: dict[str, list] = field(
        default_factory=lambda: {"updated": [None, None], "created": [None, None]}
    )
    not_equal: list[tuple[str, int]] = field(default_factory=list)
    key_range: tuple[str, int | None, int | None] | None = None  # project, lo, hi numbers
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, ascending)
    bounded: bool = False

    def narrow(self, name: str, lo: int | None = None, hi: int | None = None) -> None:
        cur = self.bounds[name]
        if lo is not None:
            cur[0] = lo if cur[0] is None else max(cur[0], lo)
        if hi is not None:
            cur[1] = hi if cur[1] is None else min(cur[1], hi)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            ch = text[pos:].strip()[:1]
            raise JQLError(
                f"Error in the JQL Query: The character '{ch}' is a reserved JQL character. "
                "You must enclose it in a string or use the escape '\\u0025' instead."
            )
        kind = m.lastgroup or "word"
        val = m.group(kind)
        if kind == "str":
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        out.append((kind, val))
        pos = m.end()
    return out


def to_epoch_ms(value: str, kind: str, name: str, tz: ZoneInfo, now_ms: int) -> int:
    """A JQL date operand as epoch ms; strings are wall-clock time in the user's zone."""
    if kind == "word" and value.isdigit():
        return int(value)
    rel = _RELATIVE.match(value)
    if rel:
        amount = int(rel.group(2)) * _UNIT_MS[rel.group(3)]
        return now_ms - amount if rel.group(1) == "-" else now_ms + amount
    for fmt in _DATE_FORMATS:
        try:
            naive = datetime.strptime(value, fmt)
        except ValueError:
            continue
        local = naive.replace(tzinfo=tz)
        # A wall-clock time inside a DST gap does not survive the round trip: Jira
        # rejects those, so do we.
        back = datetime.fromtimestamp(local.timestamp(), tz).replace(tzinfo=None)
        if back != naive:
            break
        return int(local.timestamp() * 1000)
    raise JQLError(
        f"Date value '{value}' for field '{name}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )


class _Parser:
    def __init__(self, text: str, tz: ZoneInfo, now_ms: int):
        self.toks = _tokens(text)
        self.i = 0
        self.tz = tz
        self.now_ms = now_ms
        self.q = Query()

    def peek(self, k: int = 0) -> tuple[str, str] | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise JQLError(
                "Error in the JQL Query: Expecting either a value, list or function but got end of query."
            )
        self.i += 1
        return tok

    def is_word(self, word: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok is not None and tok[0] == "word" and tok[1].lower() == word

    def parse(self) -> Query:
        if self.peek() is not None and not self.is_word("order"):
            self.conjunction()
        if self.is_word("order"):
            self.i += 1
            if not self.is_word("by"):
                raise JQLError("Error in the JQL Query: Expecting 'by' after 'order'.")
            self.i += 1
            self.order_by()
        if self.peek() is not None:
            raise JQLError(
                f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{self.peek()[1]}'."
            )
        return self.q

    def order_by(self) -> None:
        while True:
            kind, name = self.take()
            name_l = name.lower()
            if kind not in ("word", "str") or name_l not in SORTABLE | {"issuekey"}:
                raise JQLError(
                    f"Field '{name}' does not exist or you do not have permission to view it."
                )
            asc = True
            if self.is_word("asc") or self.is_word("desc"):
                asc = self.take()[1].lower() == "asc"
            self.q.order.append(("key" if name_l == "issuekey" else name_l, asc))
            if self.peek() == ("punct", ","):
                self.i += 1
                continue
            break
        if len(self.q.order) > 7:
            raise JQLError("Error in the JQL Query: ORDER BY accepts at most 7 fields.")

    def values(self) -> list[tuple[str, str]]:
        if self.peek() != ("punct", "("):
            raise JQLError("Error in the JQL Query: Expecting '(' after 'in'.")
        self.i += 1
        vals = []
        while True:
            kind, val = self.take()
            if kind not in ("word", "str"):
                raise JQLError(f"Error in the JQL Query: Expecting a value but got '{val}'.")
            vals.append((kind, val))
            sep = self.take()
            if sep == ("punct", ")"):
                return vals
            if sep != ("punct", ","):
                raise JQLError(f"Error in the JQL Query: Expecting ',' or ')' but got '{sep[1]}'.")

    def conjunction(self) -> None:
        """Clauses joined by AND; a parenthesised group is one more such chain."""
        self.clause()
        while self.is_word("and"):
            self.i += 1
            self.clause()
        if self.is_word("or"):
            raise JQLError(
                "Error in the JQL Query: fakejira supports only AND between clauses (found 'OR')."
            )

    def clause(self) -> None:
        if self.peek() == ("punct", "("):
            self.i += 1
            self.conjunction()
            if self.peek() != ("punct", ")"):
                raise JQLError("Error in the JQL Query: Expecting ')' to close '('.")
            self.i += 1
            return
        kind, name = self.take()
        if kind == "punct":
            raise JQLError(f"Error in the JQL Query: fakejira does not support '{name}' here.")
        fname = name.lower()
        if fname not in {
            "project",
            "key",
            "issuekey",
            "id",
            "updated",
            "created",
            "updateddate",
            "createddate",
        }:
            raise JQLError(
                f"Field '{name}' does not exist or you do not have permission to view it."
            )
        fname = {"issuekey": "key", "updateddate": "updated", "createddate": "created"}.get(
            fname, fname
        )
        if self.is_word("in"):
            self.i += 1
            op, vals = "in", self.values()
        elif self.is_word("not") and self.is_word("in", 1):
            raise JQLError("Error in the JQL Query: fakejira does not support 'not in'.")
        else:
            okind, op = self.take()
            if okind != "op" or op == "~":
                raise JQLError(f"The operator '{op}' is not supported by the '{name}' field.")
            vals = [self.take()]
        self.q.bounded = True
        if fname == "key" and op in (">", ">=", "<", "<="):
            self.key_bound(op, vals[0][1])
            return
        if fname in ("project", "key", "id"):
            if op not in ("=", "in"):
                raise JQLError(
                    f"The operator '{op}' is not supported by the '{name}' field in fakejira."
                )
            self.set_filter(fname, vals)
            return
        if op == "in":
            raise JQLError(f"The operator 'in' is not supported by the '{name}' field in fakejira.")
        ms = to_epoch_ms(vals[0][1], vals[0][0], fname, self.tz, self.now_ms)
        if op == "=":
            self.q.narrow(fname, ms, ms)
        elif op == "!=":
            self.q.not_equal.append((fname, ms))
        elif op == ">=":
            self.q.narrow(fname, lo=ms)
        elif op == ">":
            self.q.narrow(fname, lo=ms + 1)
        elif op == "<=":
            self.q.narrow(fname, hi=ms)
        elif op == "<":
            self.q.narrow(fname, hi=ms - 1)

    def key_bound(self, op: str, value: str) -> None:
        project, _, number = value.upper().rpartition("-")
        if not project or not number.isdigit():
            raise JQLError(f"The issue key '{value}' for field 'key' is invalid.")
        num = int(number) + {">": 1, "<": -1}.get(op, 0)
        lo, hi = (num, None) if op.startswith(">") else (None, num)
        if self.q.key_range is not None:
            same, old_lo, old_hi = self.q.key_range
            if same != project:
                lo, hi = 1, 0  # keys of two projects: nothing is in both ranges
            else:
                lo = old_lo if lo is None else lo if old_lo is None else max(lo, old_lo)
                hi = old_hi if hi is None else hi if old_hi is None else min(hi, old_hi)
        self.q.key_range = (project, lo, hi)

    def set_filter(self, fname: str, vals: list[tuple[str, str]]) -> None:
        if fname == "project":
            got = {v.upper() for _, v in vals}
            self.q.projects = got if self.q.projects is None else self.q.projects & got
        elif fname == "key":
            got = {v.upper() for _, v in vals}
            self.q.keys = got if self.q.keys is None else self.q.keys & got
        else:
            try:
                nums = {int(v) for _, v in vals}
            except ValueError:
                bad = next(v for _, v in vals if not v.isdigit())
                raise JQLError(f"The value '{bad}' is not a valid issue id.") from None
            self.q.ids = nums if self.q.ids is None else self.q.ids & nums


def parse(text: str | None, tz: ZoneInfo, now_ms: int) -> Query:
    """Parse JQL (None or "" is the unbounded empty query)."""
    return _Parser(text or "", tz, now_ms).parse()
