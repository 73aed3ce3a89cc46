"""Code identifiers: `timeout` finds `getTimeout`, and the part is what is marked."""

from __future__ import annotations

import pytest

from indexer.camel import camel_split, camel_terms
from indexer.search import search
from indexer.store import Store


@pytest.mark.parametrize(
    "text, parts",
    [
        ("getTimeout", "get Timeout"),
        ("call HttpClient.get now", "Http Client.get"),  # with the names dotted to it
        ("see self._pool.getConnection().", "self._pool.get Connection"),
        ("FooService.flush_buffer fails", "Foo Service.flush_buffer"),
        ("see NetworkClient. Then", "Network Client"),  # a sentence's end is no dot
        ("XMLParser", "XML Parser"),
        ("base64Encode", "base64 Encode"),
        ("parse_configFile", "config File"),
        ("getV2Config", "get V2 Config"),
        ("fixed in v1.2.3.", "v 1.2.3"),
        ("Python3.12 or utf8", "Python 3.12"),
        # Not identifiers: plurals of acronyms, digits before capitals, prose.
        ("the APIs and IDs", ""),
        ("enable 2FA on 4K screens", ""),
        ("utf8 and x86 and 1.2.3", ""),
        ("Nothing Here At All", ""),
    ],
)
def test_identifier_parts(text, parts):
    assert camel_terms(text) == parts


def test_split_maps_every_character_back():
    text = "use getTimeout or XMLParser"
    split, where = camel_split(text)
    assert split == "use get Timeout or XML Parser"
    assert len(where) == len(split)
    added = {i for i in range(len(split) - 1) if where[i] == where[i + 1]}
    assert [split[i] for i in sorted(added)] == [" ", " "]
    assert "".join(c for i, c in enumerate(split) if i not in added) == text
    assert all(split[i] == text[where[i]] for i in range(len(split)) if i not in added)
    assert text[where[split.index("Parser")] :].startswith("Parser")


def _issue(n: int, **fields) -> dict:
    return {
        "id": str(100 + n),
        "key": f"CODE-{n}",
        "project": "CODE",
        "datasource": "work",
        "summary": f"Issue {n}",
        "description": "",
        "description_text": "",
        "labels": [],
        "components": [],
        "created": "2024-01-01T10:00:00.000Z",
        "updated": f"2024-01-{n + 1:02d}T10:00:00.000Z",
        "raw": {},
        **fields,
    }


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                _issue(1, summary="HttpClient drops the connection"),
                _issue(2, description_text="The call to getTimeout() returns 0 after reload"),
                _issue(
                    3,
                    comments=[{"id": "9", "body": "x", "body_text": "set connectionTimeout=30"}],
                ),
                _issue(4, summary="Timeout on export", description_text="plain timeout"),
                _issue(5, description_text="gettimeout is one word here"),
                _issue(6, summary="Crash after upgrading to v2.4.1"),
                _issue(7, summary="Works again in 2.4.10"),
            ]
        )
        yield s


def keys(store: Store, query: str) -> list[str]:
    return sorted(hit.key for hit in search(store, query))


def test_a_word_finds_the_identifiers_it_is_part_of(store):
    assert keys(store, "timeout") == ["CODE-2", "CODE-3", "CODE-4"]
    assert keys(store, "client") == ["CODE-1"]
    assert keys(store, "connection timeout") == ["CODE-3"]
    assert keys(store, '"connection timeout"') == ["CODE-3"]  # phrase over the parts


def test_the_identifier_as_typed_still_matches_whole(store):
    assert keys(store, "getTimeout") == ["CODE-2", "CODE-5"]
    assert keys(store, "httpclient") == ["CODE-1"]


def test_a_part_is_limited_to_its_field(store):
    assert keys(store, "description:timeout") == ["CODE-2", "CODE-4"]
    assert keys(store, "comment:timeout") == ["CODE-3"]
    assert keys(store, "summary:client") == ["CODE-1"]
    assert keys(store, "comment:client") == []


def test_the_word_typed_ranks_above_a_part_of_an_identifier(store):
    assert [hit.key for hit in search(store, "timeout")][0] == "CODE-4"


def test_the_part_is_marked_inside_its_identifier(store):
    hits = {hit.key: hit for hit in search(store, "timeout")}
    assert "get[[Timeout]]()" in hits["CODE-2"].snippet
    assert hits["CODE-3"].matched == "comment"
    assert "connection[[Timeout]]=30" in hits["CODE-3"].snippet


def test_a_version_finds_the_same_version_glued_to_a_letter(store):
    """`1.2.3` did not find `v1.2.3`: unicode61 reads `v1`, `2`, `3`."""
    assert keys(store, "2.4.1") == ["CODE-6"]
    assert keys(store, '"2.4.1"') == ["CODE-6"]
    assert keys(store, "v2.4.1") == ["CODE-6"]
    assert keys(store, "2.4.10") == ["CODE-7"]
    [hit] = search(store, "2.4.1")
    assert "v[[2.4.1]]" in hit.snippet


def test_an_identifier_finds_the_longer_identifiers_that_end_or_begin_with_it(tmp_path):
    """`HttpRequest` found no "XMLHttpRequest", nor `UserID` "getUserID", nor
    `getTimeout` "getTimeoutMillis", though `request` and `timeout` find them: an
    identifier typed is also looked for as its parts side by side in the parts of
    longer identifiers, ranked below itself, its part marked."""
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                _issue(1, summary="XMLHttpRequest fails with ECONNRESET"),
                _issue(2, summary="getUserID returns null"),
                _issue(3, description_text="call getTimeoutMillis() first"),
                _issue(4, summary="HttpRequest is retried"),
                _issue(5, summary="http request and user id in prose"),
            ]
        )
        assert [h.key for h in search(s, "HttpRequest")] == ["CODE-4", "CODE-1"]
        assert keys(s, "UserID") == ["CODE-2"]
        assert keys(s, "getTimeout") == ["CODE-3"]
        assert keys(s, "HttpReq*") == ["CODE-1", "CODE-4"]
        snippets = {h.key: h.snippet for h in search(s, "HttpRequest")}
        assert snippets["CODE-1"] == "XML[[HttpRequest]] fails with ECONNRESET"
        assert search(s, "getTimeout")[0].snippet == "call [[getTimeout]]Millis() first"


@pytest.fixture
def exceptions(tmp_path):
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                _issue(1, summary="NullPointerException in FooService"),
                _issue(2, description_text="The worker died: OutOfMemoryError after an hour"),
                _issue(3, summary="Null checks", description_text="a pointer is never null"),
                _issue(4, summary="Running out of memory on export"),
            ]
        )
        yield s


def test_the_start_of_an_identifier_finds_it(exceptions):
    """`NullPointer` and `OutOfMemory` found nothing: the index holds the whole
    token and its parts, and the typed piece is neither."""
    assert keys(exceptions, "NullPointer") == ["CODE-1"]
    assert keys(exceptions, "NullPoint*") == ["CODE-1"]
    assert keys(exceptions, "PointerException") == ["CODE-1"]
    assert keys(exceptions, "OutOfMemory") == ["CODE-2"]  # an identifier, not the prose
    assert keys(exceptions, "description:OutOfMemory") == ["CODE-2"]
    assert keys(exceptions, "NullPointerException") == ["CODE-1"]


def test_the_start_of_an_identifier_is_marked_inside_it(exceptions):
    [hit] = search(exceptions, "NullPointer")
    assert hit.snippet.startswith("[[NullPointer]]Exception")
    [hit] = search(exceptions, "description:OutOfMemory")
    assert "[[OutOfMemory]]Error" in hit.snippet


def test_a_dotted_name_finds_the_identifier_it_runs_into(tmp_path):
    """`Client.poll` found nothing in "NetworkClient.poll()" (the index holds
    `networkclient` and `poll`, and the parts "Network Client"), although
    `client.poll` finds "client.poll()"."""
    with Store(tmp_path / "index.db") as store:
        store.upsert_issues(
            [
                _issue(1, description_text="It hangs in NetworkClient.poll() after a reload"),
                _issue(2, summary="FooService.flush_buffer fails with OutOfMemoryError"),
                _issue(3, description_text="The client polls; poll the client later"),
            ]
        )
        assert keys(store, "Client.poll") == ["CODE-1"]
        assert keys(store, "Service.flush_buffer") == ["CODE-2"]
        assert keys(store, "FooService.flush") == ["CODE-2"]
        [hit] = search(store, "Client.poll")
        assert "Network[[Client.poll]]()" in hit.snippet


def test_an_index_of_schema_8_gains_the_dotted_names(tmp_path, monkeypatch):
    """Opened by this version, an index made before finds dotted names: no re-sync."""
    import sqlite3

    from indexer import camel as camel_module

    db = tmp_path / "index.db"
    dotted = camel_module._dotted
    monkeypatch.setattr(camel_module, "_dotted", lambda text, start, end: (start, end))
    with Store(db) as store:
        store.upsert_issues([_issue(1, description_text="It hangs in NetworkClient.poll()")])
        assert keys(store, "Client.poll") == []
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 8")
    conn.close()
    monkeypatch.setattr(camel_module, "_dotted", dotted)
    with Store(db) as store:
        assert keys(store, "Client.poll") == ["CODE-1"]
        assert store.integrity_check() == []


def test_the_start_of_an_identifier_in_the_summary_ranks_first_among_many(tmp_path, monkeypatch):
    """Past EXACT_MAX matches (`NullPointer` in the stack traces of thousands of
    issues) the pool is ranked by the summaries holding the words, then by date: the
    summary's "NullPointerException in FooService" did not count as holding
    `NullPointer`, and newer issues with it only in a log came first."""
    import indexer.search as search_module

    monkeypatch.setattr(search_module, "EXACT_MAX", 0)
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                _issue(1, summary="NullPointerException in FooService"),
                *(
                    _issue(n, description_text="log: java.lang.NullPointerException at Foo")
                    for n in range(2, 6)
                ),
            ]
        )
        assert [h.key for h in search(s, "NullPointer")][0] == "CODE-1"
