"""The search query language: user text -> a safe FTS5 MATCH expression + SQL filters.

Syntax (ARCHITECTURE.md): words are ANDed; `"a phrase"`; `prefix*`; `a OR b` (OR binds
tighter than the implicit AND, so `crash OR hang login` means (crash OR hang) AND
login); parentheses group (`crash OR (hang login)`); `-word` or `NOT word` excludes,
`-(a b)` excludes issues holding both; field filters `project:KEY status:"In Progress"
assignee:NAME reporter:NAME label:X component:X type:Bug priority:High key:ABC-12
datasource:NAME updated:>=2024-01-01 created:<2024-06-01 updated:-7d`; text column
filters `summary:`/`title:`, `description:`, `comment:`, `attachment:`; a bare issue
key (`ABC-123`) finds that issue first. Repeating a filter ORs its values
(`status:Open status:Done`, also `status:Open,Done`); `-status:Done` negates one;
`status:Done OR priority:High` ORs two filters, `crash OR label:crash` a word and a
filter (ParsedQuery.mixed).

Every user term is emitted as a quoted FTS5 string, so no user text is ever read as
FTS5 syntax; `AND`, `NEAR` and stray operators are dropped; an unknown `name:value`
is searched as text (people paste `error: timeout` or URLs).

The query is read as an expression and brought to conjunctive normal form (an AND
of OR-groups, ParsedQuery.groups) by distribution: `crash OR (hang login)` becomes
(crash OR hang) AND (crash OR login), the shape the engine has always searched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from indexer.camel import camel_split, has_identifiers
from indexer.config import ISSUE_KEY_RE
from indexer.errors import QueryError
from indexer.localtime import AFTER_ALL, utc_text
from indexer.spelling import name_forms, name_wanted, other_spellings, undone_phrases
from indexer.stem import key_is_word, stem, stemmable
from indexer.store import CJK_RUN, TEXT_FIELDS, cjk_bigrams, cjk_form

MAX_QUERY_CHARS = 2000
MAX_TERMS = 40
_TOO_COMPLEX = (
    f"The query is too complex: its ORs and parentheses expand to more than {MAX_TERMS} "
    "words to look for; split it into several searches"
)

KEY_RE = ISSUE_KEY_RE  # a bare issue key in a query
_HAS_TOKEN = re.compile(r"[^\W_]")
_TOKEN = re.compile(r"[^\W_]+")
_FIELD_RE = re.compile(r"^([A-Za-z_]+):(.*)$", re.S)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_OPERATOR_ONLY = re.compile(r"^[<>=]*$")
_SURROGATE = re.compile("[\ud800-\udfff]")

# field name typed -> canonical filter name
FILTER_FIELDS = {
    "project": "project",
    "status": "status",
    "assignee": "assignee",
    "reporter": "reporter",
    "label": "label",
    "labels": "label",
    "component": "component",
    "components": "component",
    "type": "type",
    "issuetype": "type",
    "priority": "priority",
    "key": "key",
    "datasource": "datasource",
    "source": "datasource",
    "updated": "updated",
    "created": "created",
}
# field name typed -> FTS5 columns it restricts a text term to
TEXT_COLUMNS = {
    "summary": ("summary",),
    "title": ("summary",),
    "description": ("description",),
    "desc": ("description",),
    "comment": ("comments",),
    "comments": ("comments",),
    "attachment": ("attachments",),
    "attachments": ("attachments",),
}
_EXAMPLES = {
    "updated": "updated:>=2024-01-01",
    "created": "created:<2024-06-01",
    "status": 'status:"In Progress"',
}
_NOBODY = {"none", "unassigned", "nobody", "empty", "null"}
# The derived columns of issue_fts that hold the stems of all of its text fields
# (indexer.store.FTS_COLUMNS), where an unrestricted stem is looked for.
STEM_COLUMNS = tuple(f"{field}_stems" for field in TEXT_FIELDS)
# A word with more places where ss or ß is written looks for two spellings only
# (eszett_variants): every mix would be 2**places lookups.
MAX_ESZETT_SPOTS = 4


def eszett_variants(text: str) -> list[str]:
    """The other German spellings of text with ß or ss (`straße` <-> `strasse`):
    unicode61 folds accents but not ß, so `strasse` missed "Straße" and `schließen`
    missed a Swiss "schliessen". Each ss may be an ß or not, one by one: a word
    can hold both (`wasserstrasse` is "Wasserstraße", `schlossstrasse`
    "Schlossstraße"). Past MAX_ESZETT_SPOTS places, only all-ß and all-ss. (Most
    words with ss are English; their variants are no word of any index, and cost
    a lookup each.)"""
    low = text.lower()
    if "ß" not in low and "ss" not in low:
        return []
    plain = low.replace("ß", "ss")
    spots = [i for i in range(len(plain) - 1) if plain.startswith("ss", i)]
    spellings = {plain, plain.replace("ss", "ß")}
    if len(spots) <= MAX_ESZETT_SPOTS:
        for mask in range(1, 1 << len(spots)):
            chosen = [spot for bit, spot in enumerate(spots) if mask >> bit & 1]
            if all(b - a >= 2 for a, b in zip(chosen, chosen[1:], strict=False)):
                spelling = plain
                for spot in reversed(chosen):
                    spelling = spelling[:spot] + "ß" + spelling[spot + 2 :]
                spellings.add(spelling)
    spellings.discard(low)
    return sorted(spellings)


def term_spellings(text: str) -> list[str]:
    """The other spellings a word or phrase is looked for in: ß and ss (eszett_variants),
    and its letters a keyboard may lack written otherwise (indexer.spelling:
    `müller` is also `mueller`), ß and ss in those too."""
    found = set(eszett_variants(text))
    for other in other_spellings(text):
        found.add(other)
        found.update(eszett_variants(other))
    found.discard(text.lower())
    return sorted(found)


def _derived(columns: tuple[str, ...], kind: str) -> tuple[str, ...]:
    """The `kind` ("parts" or "stems") columns of these text columns."""
    return tuple(f"{column}_{kind}" for column in columns)


@dataclass
class Term:
    """One text term: a word, a phrase or a prefix, maybe limited to some columns."""

    text: str
    prefix: bool = False
    columns: tuple[str, ...] = ()
    exact: bool = False  # typed in quotes: no stemming

    def stem_key(self) -> str | None:
        """The stem this term also matches (indexer.stem), or None for a term that
        is not stemmed: a phrase, a prefix, a quoted word, an identifier, CJK."""
        if self.exact or self.prefix or not stemmable(self.text):
            return None
        return stem(self.text.lower())

    def fts(self, stem_columns: tuple[str, ...] = STEM_COLUMNS) -> str | None:
        """The FTS5 expression for this term, or None when it holds no searchable token.

        A term limited to fields (`comment:retry`) is looked for in their text
        columns and their own derived ones only (`comments`, `comments_parts`,
        `comments_stems`). A stemmed word matches its own text or its stem: the stem
        columns hold the stems of inflected words, and a stem that is the word
        inflected (`crash` for `crashes`) is in the text columns too. Both are OR-ed
        so the exact word, found in more (and heavier) columns, scores above an
        inflection. A stem that is another word (`not` for `notes`, see
        stem.key_is_word) is looked for in the stem columns only. `stem_columns`:
        those of the table searched, for an unrestricted term."""
        parts: list[str] = []
        # Where the term as typed may be: the fields' text and parts columns (none:
        # anywhere).
        words = (*self.columns, *_derived(self.columns, "parts"))
        rest = CJK_RUN.sub(" ", self.text)
        if _HAS_TOKEN.search(rest):
            key = self.stem_key()
            star = " *" if self.prefix else ""
            typed = " ".join(rest.split())
            phrase = _quote(typed) + star
            spellings = [phrase, *(_quote(other) + star for other in term_spellings(typed))]
            # A phrase typed `"hans mueller"`: "Hans Müller", when the parts column of
            # the same fields holds the digraph spelling of the word undone.
            parts_columns = _derived(self.columns, "parts") or tuple(
                c.replace("_stems", "_parts") for c in stem_columns
            )
            tokens = _TOKEN.findall(typed.lower()) if typed.isascii() else []
            for words_undone, changed in undone_phrases(tokens):
                checks = [
                    _in_columns(
                        parts_columns,
                        _quote(tokens[at]) + (star if at == len(tokens) - 1 else ""),
                    )
                    for at in changed
                ]
                spellings.append(
                    "(" + " AND ".join([_quote(" ".join(words_undone)) + star, *checks]) + ")"
                )
            # An identifier typed (`HttpRequest`): also its parts side by side in the
            # parts columns, where a longer identifier holds them ("XMLHttpRequest").
            if typed.isascii() and has_identifiers(typed):
                split = camel_split(typed)[0]
                spellings.append(_in_columns(parts_columns, _quote(split) + star))
            if len(spellings) > 1:
                phrase = "(" + " OR ".join(spellings) + ")"
            if key is None:
                parts.append(_in_columns(words, phrase))
            else:
                word = self.text.lower()
                stems = _derived(self.columns, "stems")
                if key != word and not key_is_word(word, key):
                    stem = _in_columns(stems or stem_columns, _quote(key))
                    parts.append(f"({_in_columns(words, phrase)} OR {stem})")
                else:
                    if key != word:
                        phrase = f"({phrase} OR {_quote(key)})"
                    parts.append(_in_columns((*words, *stems), phrase))
        for run in map(cjk_form, CJK_RUN.findall(self.text)):
            if len(run) == 1:
                parts.append(_in_columns(words, f"{_quote(run)} *"))
            else:
                parts.append(_in_columns(words, _quote(" ".join(cjk_bigrams(run)))))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


@dataclass
class Symbol:
    """A word of symbols only (an emoji, `->`, `#`), which the index holds no token
    of: looked for in the summaries as typed, where nothing else is searched for
    beside it (ParsedQuery.symbols: a query of symbols, maybe with filters) or as
    an alternative to a filter (`"->" OR status:Open`, ParsedQuery.mixed). Beside
    words to search for, it is passed over, as punctuation is."""

    text: str


@dataclass
class Filter:
    field: str
    values: list[str]
    negated: bool = False
    either: int = 0  # filters typed with OR between them share a number (0: none)
    text: str = ""  # as typed, for messages


@dataclass
class ParsedQuery:
    """A query ready for the engine: FTS5 groups (each an OR of terms), exclusions,
    filters and bare issue keys. `excluded_all`: sets of terms an issue holding all
    of one is left out for (`-(a b)`); a lone excluded term is in `excluded`."""

    text: str
    groups: list[list[Term]] = field(default_factory=list)
    excluded: list[Term] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    excluded_all: list[list[Term]] = field(default_factory=list)
    # ORs of words and filters (`crash OR label:crash`), or of words and excluded
    # words (from a negated group): conditions on the issues, the words looked up in
    # the FTS table as sets of issues (see _mixed_sql).
    mixed: list[list[Term | Filter | _Excluded | Symbol]] = field(default_factory=list)
    # Words of symbols AND-ed (each an OR of them), for the summaries (see Symbol).
    symbols: list[list[str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.groups
            or self.excluded
            or self.excluded_all
            or self.filters
            or self.keys
            or self.mixed
            or self.symbols
        )

    def highlighted_terms(self) -> list[Term]:
        """The words a hit may hold because of this query: the groups' and those
        ORed with a filter."""
        mixed = [t for clause in self.mixed for t in clause if isinstance(t, Term)]
        return [*(t for g in self.groups for t in g), *mixed]

    def highlighted_symbols(self) -> list[str]:
        """The words of symbols a hit's summary may hold because of this query (see
        Symbol): those looked for alone or with filters, and those ORed with one."""
        alone = [] if self.groups else [n for needles in self.symbols for n in needles]
        mixed = [s.text for clause in self.mixed for s in clause if isinstance(s, Symbol)]
        return [*alone, *mixed]

    def match(self) -> str | None:
        """FTS5 MATCH expression of the positive terms (None when there are none)."""
        parts = []
        for group in self.groups:
            exprs = [e for e in (t.fts() for t in group) if e]
            if len(exprs) == 1:
                parts.append(exprs[0])
            elif exprs:
                parts.append("(" + " OR ".join(exprs) + ")")
        return " AND ".join(parts) if parts else None

    def exclude_match(self) -> str | None:
        """FTS5 expression matching any excluded term or set of terms (None when there
        are none)."""
        exprs = [e for e in (t.fts() for t in self.excluded) if e]
        for terms in self.excluded_all:
            both = [e for e in (t.fts() for t in terms) if e]
            if both:
                exprs.append(both[0] if len(both) == 1 else "(" + " AND ".join(both) + ")")
        return " OR ".join(exprs) if exprs else None

    def full_match(self) -> str | None:
        positive, negative = self.match(), self.exclude_match()
        if positive and negative:
            return f"({positive}) NOT ({negative})"
        return positive

    def words(self) -> list[str]:
        """Positive text of the query, for highlighting outside FTS5 (CJK, keys)."""
        return [t.text for g in self.groups for t in g]

    def sql_filters(
        self,
        alias: str = "i",
        now: datetime | None = None,
        names: Callable[[str], list[str]] | None = None,
    ) -> tuple[str, list]:
        """SQL (ANDed conditions over the issues table) and its parameters.

        `names(column)`: the distinct names of assignee or reporter in the index
        (Store.distinct_names). Given, a name filter becomes a list of the names it
        matches, which an index can serve (see _filter_sql)."""
        clauses: list[str] = []
        params: list = []
        merged: dict[str, list[str]] = {}
        negated: list[Filter] = []
        either: dict[int, list[Filter]] = {}
        for f in self.filters:
            if f.either and not _one_value_list(f, self.filters):
                either.setdefault(f.either, []).append(f)
            elif f.negated:
                negated.append(f)
            else:
                merged.setdefault(f.field, []).extend(f.values)
        for name, values in merged.items():
            if name in ("updated", "created"):  # date bounds are ANDed
                for v in values:
                    sql, p = _filter_sql(name, v, alias, now, names)
                    clauses.append(sql)
                    params.extend(p)
                continue
            ors = []
            for v in values:
                sql, p = _filter_sql(name, v, alias, now, names)
                ors.append(sql)
                params.extend(p)
            clauses.append("(" + " OR ".join(ors) + ")" if len(ors) > 1 else ors[0])
        for f in negated:
            sql, p = _one_filter_sql(f, alias, now, names)
            clauses.append(sql)
            params.extend(p)
        for members in either.values():
            ors = []
            for f in members:
                sql, p = _one_filter_sql(f, alias, now, names)
                ors.append(sql)
                params.extend(p)
            clauses.append("(" + " OR ".join(ors) + ")")
        for clause in self.mixed:
            sql, p = _mixed_sql(clause, alias, now, names)
            clauses.append(sql)
            params.extend(p)
        if not self.groups:  # beside words to search for, symbols are passed over
            for needles in self.symbols:
                ors = [_CONTAINS.format(alias=alias)] * len(needles)
                clauses.append(ors[0] if len(ors) == 1 else "(" + " OR ".join(ors) + ")")
                params.extend(needles)
        return " AND ".join(clauses), params


def _is_bare_key(term: Term) -> bool:
    """A term typed as an issue key (`ABC-12`): it stands for that issue too."""
    return not term.columns and not term.prefix and bool(KEY_RE.match(term.text))


# An issue whose summary holds a word of symbols (Symbol) as typed.
_CONTAINS = "instr({alias}.summary, ?) > 0"
# The issues holding (or not holding) the words of an FTS5 expression, by rowid.
_MATCHING = "{alias}.rowid {op} (SELECT rowid FROM issue_fts WHERE issue_fts MATCH ?)"


def _mixed_sql(
    clause: list[Term | Filter | _Excluded | Symbol],
    alias: str,
    now: datetime | None,
    names: Callable[[str], list[str]] | None,
) -> tuple[str, list]:
    """SQL for an OR of words, filters and excluded words: the words (all of them in
    one match) as the set of issues holding any, beside each filter's condition.
    SQLite runs an uncorrelated IN subquery once, so a word costs one FTS lookup."""
    parts: list[str] = []
    params: list = []
    words = [e for e in (t.fts() for t in clause if isinstance(t, Term)) if e]
    if words:
        parts.append(_MATCHING.format(alias=alias, op="IN"))
        params.append(" OR ".join(words))
    for literal in clause:
        if isinstance(literal, Term) and _is_bare_key(literal):  # that issue, too
            parts.append(f"{alias}.key = ? COLLATE NOCASE")
            params.append(literal.text.upper())
        elif isinstance(literal, Filter):
            sql, p = _one_filter_sql(literal, alias, now, names)
            parts.append(sql)
            params.extend(p)
        elif isinstance(literal, Symbol):
            parts.append(_CONTAINS.format(alias=alias))
            params.append(literal.text)
        elif isinstance(literal, _Excluded):
            expr = literal.term.fts()
            if expr is None:  # not holding a word that is no token: every issue
                return "1", []
            parts.append(_MATCHING.format(alias=alias, op="NOT IN"))
            params.append(expr)
    if not parts:  # words without a searchable token: no issue holds them
        return "0", []
    return "(" + " OR ".join(parts) + ")", params


def _one_value_list(f: Filter, filters: list[Filter]) -> bool:
    """True when `f` is in an OR of values of its own field only (`status:Open OR
    status:Done`): that is the field's value list, which other values of the field
    typed beside it join (`... status:Closed`), as repeating a filter does."""
    if f.negated or f.field in ("updated", "created"):
        return False
    return all(g.field == f.field and not g.negated for g in filters if g.either == f.either)


def _one_filter_sql(
    f: Filter, alias: str, now: datetime | None, names: Callable[[str], list[str]] | None
) -> tuple[str, list]:
    """SQL for one filter as typed: its values OR-ed (date bounds AND-ed), or, negated,
    none of them."""
    parts: list[str] = []
    params: list = []
    for v in f.values:
        sql, p = _filter_sql(f.field, v, alias, now, names)
        parts.append(f"NOT coalesce({sql}, 0)" if f.negated else sql)
        params.extend(p)
    joiner = " AND " if f.negated or f.field in ("updated", "created") else " OR "
    return (parts[0] if len(parts) == 1 else "(" + joiner.join(parts) + ")"), params


def _in_columns(columns: tuple[str, ...], expr: str) -> str:
    """`expr` limited to some FTS5 columns (all of them when none are given)."""
    return "{" + " ".join(columns) + "} : " + expr if columns else expr


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


# --------------------------------------------------------------------------- lexing


def _lex(text: str) -> list[str]:
    """Split into raw tokens: whitespace separates, quotes group (an unbalanced quote
    runs to the end), and a parenthesis is a token of its own: `(`, `)`, or `-(` for
    one opened with `-` or `!` before it (`-(a b)`)."""
    tokens: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            buf.append('"' + text[i + 1 : end] + '"')
            i = end + 1
            continue
        if ch.isspace() or ch in "()":
            word = "".join(buf)
            buf = []
            if ch == "(" and word and set(word) <= set("-!+"):
                tokens.append("-(" if set(word) - {"+"} else "(")
                word = ch = ""
            if word:
                tokens.append(word)
            if ch in ("(", ")"):
                tokens.append(ch)
        else:
            buf.append(ch)
        i += 1
    if buf:
        tokens.append("".join(buf))
    return tokens


def _unquote(value: str) -> str:
    return " ".join(value.replace('"', " ").split())


def parse_query(text: str) -> ParsedQuery:
    """Parse user text; raises QueryError only for what cannot be read (a bad date,
    an empty filter value, an over-long query)."""
    # Control characters (NUL ends an FTS5 string early) separate words like spaces.
    text = _CONTROL.sub(" ", text or "")
    if _SURROGATE.search(text):  # bytes a non-UTF-8 terminal passed through argv
        raise QueryError("The query is not UTF-8 text: check the terminal's encoding")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"The query is too long ({len(text):,} characters; the limit is {MAX_QUERY_CHARS:,})"
        )
    query = ParsedQuery(text=text)
    # Term | Filter | "OR" | ("NOT", Term) | ("KEY", key) | ("(", negated) | ")"
    items: list[object] = []
    negate_next = False
    tokens = _lex(text)
    # `summary:(a OR b)`: the words of a group opened after a text field prefix are
    # looked for in that field, and `status:(Open Done)` reads each as a value of the
    # filter, any of them (as JQL's `status in (Open, Done)`). Innermost last: (the
    # paren depth it was opened at, its columns or its filter's name).
    field_groups: list[tuple[int, tuple[str, ...] | str]] = []
    depth = 0
    field_next: tuple[str, ...] | str = ()
    for at, raw in enumerate(tokens):
        if raw in ("OR", "||", "|"):
            items.append("OR")
            continue
        if raw in ("(", "-("):
            items.append(("(", negate_next or raw == "-("))
            negate_next = False
            depth += 1
            if field_next:
                field_groups.append((depth, field_next))
                field_next = ()
            continue
        if raw == ")":
            items.append(")")
            if field_groups and field_groups[-1][0] == depth:
                field_groups.pop()
            depth = max(0, depth - 1)
            continue
        scope = field_groups[-1][1] if field_groups else ()
        columns = scope if isinstance(scope, tuple) else ()
        if raw in ("AND", "&&", "&", "NEAR", "+"):
            continue
        if raw == "NOT":
            negate_next = True
            continue
        negated = negate_next
        negate_next = False
        while raw.startswith(("-", "!")):
            negated = True
            raw = raw[1:]
        raw = raw.lstrip("+")
        if not raw:
            continue
        if isinstance(scope, str):  # a value inside `status:( ... )`
            if items and isinstance(items[-1], Filter) and FILTER_FIELDS[scope] not in _DATES:
                # `status:(Open Done)` is either, as JQL's `in`; two bounds of a date
                # (`updated:(>=2024-01 <2024-03)`) are a range, as they are unbracketed.
                items.append("OR")
            items.append(_filter(scope, raw, negated, f"{scope}:{raw}"))
            continue
        m = _FIELD_RE.match(raw)
        if m and not raw.startswith('"'):
            name, value = m.group(1).lower(), m.group(2)
            following = tokens[at + 1] if at + 1 < len(tokens) else ""
            grouping = value in ("", "-", "!") and following in ("(", "-(")
            if grouping and name in (*FILTER_FIELDS, *TEXT_COLUMNS):
                # `status:(Open OR Done)`, `summary:(crash OR hang)`; `status:-(Done)`
                # is `-status:(Done)`
                field_next = name if name in FILTER_FIELDS else TEXT_COLUMNS[name]
                negate_next = negated != bool(value)
                continue
            if name in FILTER_FIELDS:
                items.append(_filter(name, value, negated, raw))
                continue
            if name in TEXT_COLUMNS:
                term = _term(value, TEXT_COLUMNS[name])
                symbol = _symbol(value) if TEXT_COLUMNS[name] == ("summary",) else None
                if term is None and symbol is not None and not negated:
                    items.append(symbol)  # `summary:🚀`
                    continue
                if term is None:  # `summary:` alone searched nothing, and said so not
                    raise QueryError(
                        f"{name}: needs a word to look for, for example {name}:timeout"
                    )
                items.append(("NOT", term) if negated else term)
                continue
        if KEY_RE.match(raw) and not negated and not columns:
            items.append(("KEY", raw.upper()))
        term = _term(raw, columns)
        if term:
            items.append(("NOT", term) if negated else term)
        elif not negated and columns in ((), ("summary",)):
            symbol = _symbol(raw)
            if symbol is not None:
                items.append(symbol)
    n_terms = sum(
        isinstance(i, Term | Symbol) or (isinstance(i, tuple) and i[0] == "NOT") for i in items
    )
    n_typed = n_terms + sum(isinstance(i, Filter) for i in items)
    cap = max(MAX_TERMS, n_typed)
    _fold(query, items, cap)
    if n_terms > MAX_TERMS:
        raise QueryError(f"The query has too many words ({n_terms}; the limit is {MAX_TERMS})")
    # Only distribution (_or) makes more terms than were typed.
    mixed_words = sum(not isinstance(x, Filter) for clause in query.mixed for x in clause)
    mixed_filters = sum(map(len, query.mixed)) - mixed_words
    expanded = sum(map(len, (*query.groups, *query.excluded_all))) + len(query.excluded)
    expanded += mixed_words
    if expanded > MAX_TERMS or expanded + len(query.filters) + mixed_filters > cap:
        raise QueryError(_TOO_COMPLEX)
    return query


_DATES = ("updated", "created")


def _filter(name: str, value: str, negated: bool, raw: str) -> Filter:
    """The filter `name:value` (`raw` as typed, for messages); QueryError for a value
    it cannot take."""
    canonical = FILTER_FIELDS[name]
    value = _unquote(value)
    example = _EXAMPLES.get(canonical, f"{name}:VALUE")
    if _OPERATOR_ONLY.match(value):
        raise QueryError(f"The filter {name}: needs a value, for example {example}")
    if canonical in _DATES:
        _date_bound(canonical, value, datetime.now(UTC))  # validate early
        values = [value]
    else:
        values = [v.strip() for v in value.split(",") if v.strip()]
        if not values:  # `status:,`
            raise QueryError(f"The filter {name}: needs a value, for example {example}")
    return Filter(canonical, values, negated, text=raw)


@dataclass
class _Excluded:
    """A term an issue must not hold, as one literal of a query in conjunctive form."""

    term: Term


_Literal = Term | Filter | _Excluded | Symbol
_CNF = list[list[_Literal]]  # an AND of OR-ed literals


@dataclass
class _Group:
    """A pair of parentheses being read (the query itself is the outermost). Words
    and filters are AND-ed; an OR joins the operand before it and the one after.
    An exclusion is AND-ed with the group and no OR's operand, as it has always
    been: an OR before it is dropped (`a OR -b c`: a, c, not b), one after it joins
    the operands around it (`a -b OR c`: a or c, not b)."""

    negated: bool = False  # `-(` or `NOT (`
    flipped: bool = False  # inside an odd number of negated groups
    operands: list[_CNF] = field(default_factory=list)  # the last one takes an OR
    exclusions: list[_CNF] = field(default_factory=list)
    pending_or: bool = False

    def add(self, cnf: _CNF, cap: int) -> None:
        if self.pending_or:
            self.operands[-1] = _or(self.operands[-1], cnf, cap)
        else:
            self.operands.append(cnf)
        self.pending_or = False

    def exclude(self, cnf: _CNF) -> None:
        self.exclusions.append(cnf)
        self.pending_or = False

    def cnf(self) -> _CNF:
        return [clause for part in (*self.operands, *self.exclusions) for clause in part]


def _fold(query: ParsedQuery, items: list[object], cap: int) -> None:
    """Fill the query from its items: read with parentheses (a missing `)` closes at
    the end, a stray one is ignored), without recursion (`((((` is no stack), in
    conjunctive form, then sorted into groups, exclusions and filters."""
    stack = [_Group()]
    for item in items:
        top = stack[-1]
        if isinstance(item, Symbol):
            if not any(group.negated for group in stack):  # `-(🚀 x)`: passed over
                top.add([[item]], cap)
        elif isinstance(item, Term | Filter):
            top.add([[item]], cap)
        elif item == "OR":
            top.pending_or = bool(top.operands)
        elif item == ")":
            if len(stack) > 1:
                _close(stack, cap)
        elif isinstance(item, tuple) and item[0] == "(":
            stack.append(_Group(item[1], top.flipped != item[1]))
        elif isinstance(item, tuple) and item[0] == "KEY":
            if not top.flipped:  # a key in `-(...)` is not looked for
                query.keys.append(item[1])
        elif isinstance(item, tuple) and item[0] == "NOT":
            top.exclude([[_Excluded(item[1])]])
    while len(stack) > 1:
        _close(stack, cap)
    _sort(query, stack[0].cnf())


def _close(stack: list[_Group], cap: int) -> None:
    """End the innermost group: it becomes an operand (or exclusion) of its parent."""
    group = stack.pop()
    cnf = group.cnf()
    if not cnf:  # `()`, `getTimeout()`: nothing to search
        return
    if group.negated:
        stack[-1].exclude(_negate(cnf, cap))
    else:
        stack[-1].add(cnf, cap)


def _or(a: _CNF, b: _CNF, cap: int) -> _CNF:
    """`a OR b` in conjunctive form: each clause of one OR-ed with each of the other.
    Refused when that makes more than `cap` literals: distribution multiplies."""
    if len(b) * sum(map(len, a)) + len(a) * sum(map(len, b)) > cap:
        raise QueryError(_TOO_COMPLEX)
    return [x + y for x in a for y in b]


def _negate(cnf: _CNF, cap: int) -> _CNF:
    """NOT of a conjunctive form, in conjunctive form (De Morgan, then _or)."""
    out: _CNF | None = None
    for clause in cnf:
        part: _CNF = [[_flip(literal)] for literal in clause]
        out = part if out is None else _or(out, part, cap)
    return out or []


def _flip(literal: _Literal) -> _Literal:
    if isinstance(literal, Filter):
        return replace(literal, negated=not literal.negated)
    if isinstance(literal, _Excluded):
        return literal.term
    return _Excluded(literal)


def _kind(literal: _Literal) -> str:
    if isinstance(literal, Filter):
        return "filter"
    if isinstance(literal, Symbol):
        return "symbol"
    return "excluded" if isinstance(literal, _Excluded) else "word"


def _sort(query: ParsedQuery, cnf: _CNF) -> None:
    """Put each clause where the engine takes it: words OR-ed are a group; filters
    OR-ed are either one (Filter.either); excluded words OR-ed exclude the issues
    holding them all; a clause mixing them is a condition of its own
    (ParsedQuery.mixed)."""
    ids = 0
    for clause in cnf:
        kinds = {_kind(literal) for literal in clause}
        if kinds == {"symbol"}:
            query.symbols.append([literal.text for literal in clause])
            continue
        if kinds == {"symbol", "word"}:  # `"->" OR crash`: the words, as beside words
            clause = [literal for literal in clause if not isinstance(literal, Symbol)]
            kinds = {"word"}
        if len(kinds) > 1:
            query.mixed.append(clause)
        elif "word" in kinds:
            query.groups.append(clause)
        elif "excluded" in kinds:
            terms = [literal.term for literal in clause]
            if len(terms) == 1:
                query.excluded.append(terms[0])
            else:
                query.excluded_all.append(terms)
        elif len(clause) == 1:
            query.filters.append(clause[0])
        else:
            ids += 1
            query.filters.extend(replace(f, either=ids) for f in clause)


_SYNTAX_CHARS = frozenset('"*-():')


def _symbol(raw: str) -> Symbol | None:
    """The word of symbols `raw` is (quotes and a trailing `*` aside), or None when it
    holds a letter or digit, or only characters of the query syntax."""
    body = _unquote(raw.rstrip("*"))
    if not body or _HAS_TOKEN.search(body) or set(body) <= _SYNTAX_CHARS | {" "}:
        return None
    return Symbol(body)


def _term(raw: str, columns: tuple[str, ...]) -> Term | None:
    exact = '"' in raw
    prefix = False
    body = raw
    if body.endswith("*"):
        body = body.rstrip("*")
        prefix = True
    body = body.lstrip("*")
    body = _unquote(body)
    if not _HAS_TOKEN.search(body):
        return None
    # A prefix only applies to a term whose last character is a word character.
    if prefix and not _HAS_TOKEN.match(body[-1]):
        prefix = False
    if prefix and CJK_RUN.search(body[-1]):
        prefix = False  # CJK terms already match inside runs
    return Term(body, prefix, columns, exact)


# --------------------------------------------------------------------------- filters


def _name_has(forms: str, wanted: list[str]) -> bool:
    return any(w in forms for w in wanted)


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_EQUAL_COLUMNS = {
    "project": "project",
    "status": "status",
    "type": "issuetype",
    "priority": "priority",
    "datasource": "datasource",
}


def _equal_sql(
    column: str, value: str, names: Callable[[str], list[str]] | None
) -> tuple[str, list]:
    """`column` equal to `value` but for case. NOCASE folds ASCII letters only, so
    `status:"à faire"` would miss "À faire" (a French Jira's To Do): a value with
    other letters is compared case-folded, among the distinct values (filters
    alone: the index then serves the rows), else on the rows whose value has
    such letters."""
    if value.isascii():
        return f"{column} = ? COLLATE NOCASE", [value]
    wanted = value.casefold()
    if names is not None:
        found = [v for v in names(column.split(".")[-1]) if v.casefold() == wanted]
        if not found:
            return "0", []
        return f"{column} COLLATE NOCASE IN ({','.join('?' * len(found))})", found
    return (
        f"({column} = ? COLLATE NOCASE OR ({column} GLOB '*[^ -~]*' "
        f"AND jx_casefold({column}) = ?))",
        [value, wanted],
    )


def _filter_sql(
    name: str,
    value: str,
    a: str,
    now: datetime | None,
    names: Callable[[str], list[str]] | None = None,
) -> tuple[str, list]:
    if name in _EQUAL_COLUMNS:  # case-insensitive (datasource names: as in --datasource)
        return _equal_sql(f"{a}.{_EQUAL_COLUMNS[name]}", value, names)
    if name == "key":
        return f"{a}.key = ?", [value.upper()]
    if name in ("assignee", "reporter"):
        if value.lower() in _NOBODY:
            return f"coalesce({a}.{name}, '') = ''", []
        if names is not None:
            # Filters alone: the names that match, found among the distinct ones;
            # the rows of a few names come by index, and no name is no row (a
            # check on every row walked all 300k issues for a name no one has).
            wanted = name_wanted(value)
            found = [n for n in names(name) if _name_has(name_forms(n), wanted)]
            if not found:
                return "0", []
            marks = ",".join("?" * len(found))
            return f"{a}.{name} COLLATE NOCASE IN ({marks})", found
        # LIKE folds ASCII case only: a name with other letters is also compared
        # folded and in its other spellings (assignee:jose finds José, assignee:zoe
        # ZOË, assignee:mueller Müller), in Python, so only those names pay for it
        # (and only on the rows the other terms leave).
        likes = [_like(w) for w in name_wanted(value)]
        plain = " OR ".join([f"{a}.{name} LIKE ? ESCAPE '\\'"] * len(likes))
        spelled = " OR ".join([f"jx_name_forms({a}.{name}) LIKE ? ESCAPE '\\'"] * len(likes))
        return (
            f"({plain} OR ({a}.{name} GLOB '*[^ -~]*' AND ({spelled})))",
            [*likes, *likes],
        )
    if name in ("label", "component"):
        column = "labels" if name == "label" else "components"
        if value.isascii():
            match, args = "value = ? COLLATE NOCASE", [value]
        else:  # NOCASE folds ASCII only (label:ÉTÉ, label:été)
            match, args = "jx_casefold(value) = ?", [value.casefold()]
        return f"EXISTS (SELECT 1 FROM json_each({a}.{column}) WHERE {match})", args
    if name in ("updated", "created"):
        return _date_bound(name, value, now or datetime.now(UTC), a)
    raise QueryError(f"Unknown filter {name}:")  # unreachable: names are checked


_AGE_RE = re.compile(r"^-?(\d{1,5})\s*([hdwmy])$", re.I)
_AGE_UNITS = {"h": 1 / 24, "d": 1, "w": 7, "m": 30, "y": 365}


def _iso(dt: datetime) -> str:
    """A UTC moment as stored-time text."""
    # Not strftime: glibc writes year 99 as "99", which sorts after "2024".
    day = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
    return f"{day}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.000Z"


def _date_bound(name: str, value: str, now: datetime, a: str = "i") -> tuple[str, list]:
    """SQL for one date condition; stored dates are ISO strings in UTC, so string
    comparison is chronological. A typed date is read in the local zone, as Jira
    reads JQL dates in the user's (indexer.localtime)."""
    m = re.match(r"^(>=|<=|=>|=<|>|<|=)?\s*(.+)$", value.strip())
    op = (m.group(1) or "") if m else ""
    op = {"=>": ">=", "=<": "<="}.get(op, op)
    body = (m.group(2) if m else value).strip()
    column = f"{a}.{name}"
    age = _AGE_RE.match(body)
    if age:
        days = int(age.group(1)) * _AGE_UNITS[age.group(2).lower()]
        try:
            bound = _iso(now - timedelta(days=days))
        except OverflowError:  # an age past year 1: every date is within it
            bound = _iso(datetime.min)
        if op in ("<", "<="):
            return f"{column} {op} ?", [bound]
        return f"{column} >= ?", [bound]
    start, end = _period(name, value, body)
    if op == ">=":
        return f"{column} >= ?", [start]
    if op == ">":
        return f"{column} >= ?", [end]
    if op == "<":
        return f"{column} < ?", [start]
    if op == "<=":
        return f"{column} < ?", [end]
    return f"({column} >= ? AND {column} < ?)", [start, end]


def _period(name: str, value: str, body: str) -> tuple[str, str]:
    """[start, end) of a typed date, a local year, month, day or moment, as UTC text."""
    formats = (
        ("%Y-%m-%dT%H:%M:%S", "second"),
        ("%Y-%m-%dT%H:%M", "minute"),
        ("%Y-%m-%d %H:%M", "minute"),
        ("%Y-%m-%d", "day"),
        ("%Y/%m/%d", "day"),
        ("%Y-%m", "month"),
        ("%Y", "year"),
    )
    for fmt, kind in formats:
        try:
            dt = datetime.strptime(body, fmt)
        except ValueError:
            continue
        if kind in ("second", "minute"):  # `T10:30` is that minute, as a day is a day
            return utc_text(dt), _later(dt, timedelta(**{f"{kind}s": 1}))
        if kind == "day":
            return utc_text(dt), _later(dt, timedelta(days=1))
        if kind == "month":  # the 1st plus 31 days is in the next month
            return utc_text(dt), _later(dt, timedelta(days=31), first_of_month=True)
        return utc_text(dt), _later(dt.replace(month=12, day=31), timedelta(days=1))
    raise QueryError(
        f"Cannot read the date in {name}:{value}: use YYYY-MM-DD (with >=, >, <, <= "
        "if you like) or an age such as 7d, 2w, 3m"
    )


def _later(dt: datetime, step: timedelta, *, first_of_month: bool = False) -> str:
    """The end of a period, `dt + step` (its month's 1st with `first_of_month`), as
    UTC text; past every date after year 9999."""
    try:
        end = dt + step
    except OverflowError:
        return AFTER_ALL
    return utc_text(end.replace(day=1) if first_of_month else end)
