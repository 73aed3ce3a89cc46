"""Parentheses group, as in JQL: `crash OR (hang login)` is crash, or hang and login
together. They were ignored, so that query read (crash OR hang) AND login. The query
is brought to an AND of OR-groups by distribution; OR still binds tighter than the
implicit AND outside parentheses."""

from __future__ import annotations

import random

import pytest

from indexer import search as search_module
from indexer.errors import QueryError
from indexer.query import Term, parse_query
from indexer.search import search
from indexer.store import Store


def _issue(n: int, summary: str, status: str, issuetype: str, priority: str, labels=()):
    return {
        "id": str(500 + n),
        "key": f"BUG-{n}",
        "project": "BUG",
        "datasource": "work",
        "summary": summary,
        "description": "",
        "description_text": "",
        "status": status,
        "issuetype": issuetype,
        "priority": priority,
        "labels": list(labels),
        "components": [],
        "created": "2024-01-01T10:00:00.000Z",
        "updated": f"2024-01-{n + 1:02d}T10:00:00.000Z",
        "raw": {},
    }


ISSUES = [
    _issue(1, "Crash on startup", "Open", "Bug", "High"),
    _issue(2, "Hang during login", "Done", "Bug", "Low", ["ui"]),
    _issue(3, "Hang at shutdown", "Open", "Task", "Low", ["ui"]),
    _issue(4, "Login page broken", "Done", "Story", "High"),
    _issue(5, "Crash after login", "Done", "Task", "Low", ["ui"]),
    _issue(6, "Export retry (3 times) fails", "Open", "Story", "Medium"),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with Store(tmp_path_factory.mktemp("groups") / "index.db") as s:
        s.upsert_issues(ISSUES)
        yield s


@pytest.fixture(params=["exact", "pooled"])
def mode(request, monkeypatch):
    """Both ranking paths: bm25 over every match, and the one for huge match sets."""
    if request.param == "pooled":
        monkeypatch.setattr(search_module, "EXACT_MAX", 0)
    return request.param


def found(store: Store, query: str) -> set[int]:
    return {int(hit.key.split("-")[1]) for hit in search(store, query, limit=50)}


def texts(groups: list[list[Term]]) -> list[list[str]]:
    return [[term.text for term in group] for group in groups]


# --------------------------------------------------------------------------- parser


@pytest.mark.parametrize(
    "text, groups",
    [
        ("crash OR (hang login)", [["crash", "hang"], ["crash", "login"]]),
        ("(a b) OR c", [["a", "c"], ["b", "c"]]),
        ("a (b (c OR (d e)))", [["a"], ["b"], ["c", "d"], ["c", "e"]]),
        ("((a OR b) (c OR d)) OR e", [["a", "b", "e"], ["c", "d", "e"]]),
        # unbalanced: a missing `)` closes at the end, a stray one is ignored
        ("a OR (b c", [["a", "b"], ["a", "c"]]),
        (") a OR (b c))", [["a", "b"], ["a", "c"]]),
        ("a OR ((((b c", [["a", "b"], ["a", "c"]]),
        # a phrase keeps its parentheses; empty ones group nothing
        ('x OR ("retry (3" y)', [["x", "retry (3"], ["x", "y"]]),
        ("getTimeout() OR (a b)", [["getTimeout", "a"], ["getTimeout", "b"]]),
    ],
)
def test_parentheses_group_the_words(text, groups):
    assert texts(parse_query(text).groups) == groups


def test_outside_parentheses_or_still_binds_tighter_than_and():
    assert texts(parse_query("crash OR (hang login)").groups) != texts(
        parse_query("crash OR hang login").groups
    )
    assert texts(parse_query("crash OR hang login").groups) == [["crash", "hang"], ["login"]]
    assert texts(parse_query("(crash OR hang) login").groups) == [["crash", "hang"], ["login"]]


def test_a_negated_group_excludes_the_issues_matching_all_of_it():
    parsed = parse_query("x -(a (b OR c))")
    assert texts(parsed.groups) == [["x"]]
    assert parsed.excluded == []
    assert texts(parsed.excluded_all) == [["a", "b"], ["a", "c"]]
    a, b, c, x = (Term(w).fts() for w in "abcx")
    assert parsed.full_match() == f"({x}) NOT (({a} AND {b}) OR ({a} AND {c}))"
    # `-(a OR b)` is `-a -b`; `NOT (...)` is `-(...)`
    assert texts([parse_query("-(a OR b)").excluded]) == [["a", "b"]]
    assert texts(parse_query("NOT (a b)").excluded_all) == [["a", "b"]]


def test_a_key_in_a_negated_group_is_not_looked_for():
    assert parse_query("hang -(BUG-2)").keys == []
    assert parse_query("hang -(-(BUG-2))").keys == ["BUG-2"]


def test_filters_in_parentheses_or_as_filters_do():
    parsed = parse_query("(status:Done label:ui) OR type:Story")
    assert [(f.field, f.either) for f in parsed.filters] == [
        ("status", 1),
        ("type", 1),
        ("label", 2),
        ("type", 2),
    ]
    parsed = parse_query("-(status:Done priority:Low)")
    assert [(f.field, f.negated, f.either) for f in parsed.filters] == [
        ("status", True, 1),
        ("priority", True, 1),
    ]


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize(
    "text, expected",
    [
        ("crash OR (hang login)", {1, 2, 5}),
        ("(crash login) OR shutdown", {3, 5}),
        ("startup OR (hang (login OR shutdown))", {1, 2, 3}),
        # unbalanced parentheses read as a person means them
        ("crash OR (hang login", {1, 2, 5}),
        ("login) OR (crash startup", {1, 2, 4, 5}),
        pytest.param("(" * 900 + "crash OR (" + "(" * 900 + "hang login", {1, 2, 5}, id="deep"),
        # a phrase keeps its parentheses
        ('startup OR ("retry (3 times)" export)', {1, 6}),
        # negated groups
        ("login -(crash login)", {2, 4}),
        ("NOT (hang login) hang", {3}),
        ("-(crash OR hang)", {4, 6}),
        ("crash -(BUG-2)", {1, 5}),  # no key looked for: BUG-2 is no hit
        # filters
        ("(status:Done label:ui) OR type:Story", {2, 4, 5, 6}),
        ("-(status:Done priority:Low)", {1, 3, 4, 6}),
        # words OR filters, and words OR excluded words (these were refused)
        ("crash OR status:Done", {1, 2, 4, 5}),
        ("status:Done OR crash", {1, 2, 4, 5}),
        ("crash OR (hang status:Open)", {1, 3, 5}),
        ("crash OR (hang -login)", {1, 3, 5}),
        ("login (startup OR label:ui)", {2, 5}),
        ("crash OR -status:Done", {1, 3, 5, 6}),
        ("-(crash status:Done)", {1, 2, 3, 4, 6}),
        ("-(login -hang)", {1, 2, 3, 6}),
        ("(crash OR label:ui) (hang OR priority:High)", {1, 2, 3}),
        ("summary:crash OR type:Story", {1, 4, 5, 6}),
        ("crash OR BUG-3", {1, 3, 5}),
    ],
)
def test_search_follows_the_parentheses(store, mode, text, expected):
    assert found(store, text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        # distribution multiplies: capped, however many pairs are OR-ed
        ("(a b) OR (c d) OR (e f) OR (g h)", "The query is too complex"),
        ("(a b c d e f g) OR (h i j k l m n)", "The query is too complex"),
        pytest.param(
            " OR ".join(f"(a{i} b{i})" for i in range(20)), "The query is too complex", id="2**20"
        ),
        ("-((a OR b) (c OR d) (e OR f) (g OR h) (i OR j) (k OR l))", "The query is too complex"),
    ],
)
def test_what_cannot_be_searched_is_one_clear_line(store, text, message):
    with pytest.raises(QueryError) as info:
        search(store, text)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- property

WORDS = ["crash", "hang", "login", "startup", "shutdown", "export"]
FILTERS = ["status:Done", "label:ui", "type:Task", "-status:Done"]


def _random_tokens(rng: random.Random) -> list[str]:
    """A random query as tokens: words, exclusions, filters, OR and parentheses
    (balanced or not, negated or not)."""
    tokens: list[str] = []
    for _ in range(rng.randint(1, 9)):
        roll = rng.random()
        if roll < 0.35:
            tokens.append(rng.choice(WORDS))
        elif roll < 0.45:
            tokens.append("-" + rng.choice(WORDS))
        elif roll < 0.55:
            tokens.append(rng.choice(FILTERS))
        elif roll < 0.7:
            tokens.append("OR")
        elif roll < 0.82:
            tokens.append(rng.choice(["(", "(", "-(", "NOT ("]))
        else:
            tokens.append(")")
    return tokens


def _evaluate(tokens: list[str], sets: dict[str, set[int]], every: set[int]) -> set[int] | None:
    """What the query means, worked out on sets of issues, apart from the parser: OR
    binds tighter than AND, parentheses group, an exclusion is AND-ed with its group
    (an OR before it is dropped, one after it joins the operands around it), a
    negated group is its complement. None: nothing to search."""
    stack = [{"negated": False, "operands": [], "excluded": [], "pending": False}]

    def value(group) -> set[int] | None:
        if not group["operands"] and not group["excluded"]:
            return None
        out = set(every)
        for part in group["operands"]:
            out &= part
        for part in group["excluded"]:
            out -= part
        return out

    def add(group, part: set[int]) -> None:
        if group["pending"]:
            group["operands"][-1] = group["operands"][-1] | part
        else:
            group["operands"].append(part)
        group["pending"] = False

    def close() -> None:
        group = stack.pop()
        part = value(group)
        if part is None:
            return
        if group["negated"]:
            stack[-1]["excluded"].append(part)
            stack[-1]["pending"] = False
        else:
            add(stack[-1], part)

    for token in tokens:
        top = stack[-1]
        if token == "OR":
            top["pending"] = bool(top["operands"])
        elif token in ("(", "-(", "NOT ("):
            stack.append(
                {"negated": token != "(", "operands": [], "excluded": [], "pending": False}
            )
        elif token == ")":
            if len(stack) > 1:
                close()
        elif token.startswith("-") and token[1:] in sets and ":" not in token:
            top["excluded"].append(sets[token[1:]])
            top["pending"] = False
        else:
            add(top, sets[token])
    while len(stack) > 1:
        close()
    return value(stack[0])


def test_random_queries_with_parentheses_find_what_they_mean(store):
    every = {int(issue["key"].split("-")[1]) for issue in ISSUES}
    sets = {atom: found(store, atom) for atom in (*WORDS, *FILTERS)}
    rng = random.Random(2024)
    checked = 0
    for _ in range(1500):
        tokens = _random_tokens(rng)
        text = " ".join(tokens)
        try:
            parsed = parse_query(text)
        except QueryError:
            continue  # too complex
        expected = _evaluate(tokens, sets, every)
        if parsed.empty:
            assert expected is None, text
            continue
        assert found(store, text) == expected, text
        checked += 1
    assert checked > 1000


# --------------------------------------------------------------------------- field groups


def test_a_text_field_before_parentheses_limits_every_word_inside(mode):
    """`summary:(crash OR hang)` said "summary: needs a word to look for"; JQL users
    write `summary ~ "(crash OR hang)"`. A text field prefix on a group now applies to
    each word in it (nested groups too), and nothing outside it."""
    with Store(":memory:") as s:
        s.upsert_issues(
            [
                {**_issue(1, "Crash on startup", "Open", "Bug", "High")},
                {**_issue(2, "Login page", "Open", "Bug", "High"), "description_text": "hang"},
                {**_issue(3, "Hang at login", "Open", "Bug", "High")},
                {**_issue(4, "Export", "Open", "Bug", "High"), "description_text": "crash login"},
            ]
        )
        assert found(s, "summary:(crash OR hang)") == {1, 3}
        assert found(s, "summary:(hang login)") == {3}
        assert found(s, "summary:(crash OR (hang login))") == {1, 3}
        assert found(s, "description:(crash OR hang)") == {2, 4}
        assert found(s, "summary:(crash OR hang) login") == {3}  # login: anywhere
        assert found(s, "login -summary:(hang OR crash)") == {2, 4}
        assert found(s, "summary:(crash OR hang") == {1, 3}  # a missing ) closes at the end
    groups = parse_query("summary:(crash OR hang) login").groups
    assert [[t.columns for t in g] for g in groups] == [[("summary",), ("summary",)], [()]]


def test_a_filter_before_parentheses_takes_any_of_the_values_inside(store, mode):
    """`status:(Open OR Done)` said "The filter status: needs a value". A filter
    prefix on a group now reads each word in it as one of its values, any of them
    (`status:(Open Done)` too, as JQL's `status in (Open, Done)`), quoted values and
    exclusion included; a word ORed with the group is either."""
    assert found(store, "status:(Open OR Done)") == {1, 2, 3, 4, 5, 6}
    assert found(store, "type:(Task Story)") == {3, 4, 5, 6}
    assert found(store, "hang type:(Bug Story)") == {2}
    assert found(store, "-type:(Task Story)") == {1, 2}
    assert found(store, "type:-(Task Story)") == {1, 2}  # searched status "-" and the words
    assert found(store, "label:(ui) login") == {2, 5}
    assert found(store, 'priority:("Low" OR Medium) crash') == {5}
    assert found(store, "crash OR type:(Task Story)") == {1, 3, 4, 5, 6}
    # Two bounds of a date are a range, as without the parentheses (helper-54 found
    # them ORed: every issue matched); an OR between them is typed.
    assert found(store, "updated:(>=2024-01-03 <2024-01-05)") == {2, 3}
    assert found(store, "updated:>=2024-01-03 updated:<2024-01-05") == {2, 3}
    assert found(store, "updated:(<2024-01-03 OR >=2024-01-07)") == {1, 6}
    with pytest.raises(QueryError, match="Cannot read the date in updated:soon"):
        parse_query("updated:(soon)")
