"""Words typed on a keyboard without their letters (indexer.spelling): `Mueller`
finds "Müller" and `Müller` "Mueller", `Soren` "Søren", `kirmizi` "kırmızı", `σοφος`
"σοφός"; the spelling typed ranks first, the word found is highlighted, and plain
English words with ae, oe, ue find no other words. An index made before gains it by
migration."""

from __future__ import annotations

import sqlite3

import pytest

from indexer import search as search_module
from indexer import store as store_module
from indexer.search import search
from indexer.spelling import other_spellings, spelling_terms
from indexer.store import Store


def _rec(n: int, summary: str, description: str = "") -> dict:
    return {
        "id": str(n),
        "key": f"SP-{n}",
        "project": "SP",
        "datasource": "work",
        "summary": summary,
        "description": description,
        "description_text": description,
        "issuetype": "Bug",
        "status": "Open",
        "priority": "Medium",
        "labels": [],
        "components": [],
        "created": "2024-01-01T10:00:00.000Z",
        "updated": f"2024-02-{n:02d}T10:00:00.000Z",
        "url": f"https://jira.example.com/browse/SP-{n}",
    }


RECORDS = [
    _rec(1, "Invoice of Hans Müller is missing", "Herr Müller called twice"),
    _rec(2, "Mueller reported the export error", "see the logs"),
    _rec(3, "Hans Muller Street address is wrong", "the street sign"),
    _rec(4, "Gödel numbering in the parser", "incompleteness"),
    _rec(5, "Ärger mit dem Drucker", "Papierstau"),
    _rec(6, "The blue button in the queue view", "Poe does an aeon of work, true"),
    _rec(7, "Søren asks for the Łódź office", "Kırmızı düğme çalışmıyor"),
    _rec(8, "ΣΟΦΟΣ ΑΝΘΡΩΠΟΣ", "κεφαλαία"),
    _rec(9, "Cæsar salad on the menu", "bon appétit"),
    _rec(10, "Größe des Fensters", "zu klein"),
    _rec(11, "Ένας σοφός άνθρωπος"),
]


def keys(store: Store, query: str) -> list[str]:
    return [hit.key for hit in search(store, query, limit=20)]


@pytest.fixture(params=["exact", "pooled"])
def store(request, tmp_path, monkeypatch):
    if request.param == "pooled":
        monkeypatch.setattr(search_module, "EXACT_MAX", 0)
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(RECORDS)
        yield s


def test_umlauts_and_their_digraphs_find_each_other(store):
    """German typed without umlauts (`Mueller`) missed "Müller", and `Müller` missed
    "Mueller"; the spelling typed ranks first, and a plain `Muller` is no Mueller."""
    assert keys(store, "Mueller")[:1] == ["SP-2"]
    assert set(keys(store, "Mueller")) == {"SP-1", "SP-2"}
    assert set(keys(store, "Müller")) == {"SP-1", "SP-2", "SP-3"}
    assert keys(store, "Goedel") == ["SP-4"]
    assert keys(store, "aerger drucker") == ["SP-5"]
    assert keys(store, "ÄRGER") == ["SP-5"]
    assert keys(store, "groesse") == ["SP-10"]  # ö as oe, ß as ss
    assert set(keys(store, "Muel*")) == {"SP-1", "SP-2"}
    assert keys(store, '"Hans Mueller"') == ["SP-1"]
    assert keys(store, 'summary:"hans mueller"') == ["SP-1"]
    assert set(keys(store, '"Hans Muller"')) == {"SP-1", "SP-3"}  # accents are ignored
    assert keys(store, "invoice -mueller") == []


def test_the_word_found_is_highlighted_as_written(store):
    hit = next(h for h in search(store, "Mueller") if h.key == "SP-1")
    assert hit.snippet == "Herr [[Müller]] called twice"
    hit = next(h for h in search(store, "Müller") if h.key == "SP-2")
    assert hit.snippet == "[[Mueller]] reported the export error"
    [hit] = search(store, '"hans mueller"')
    assert hit.snippet == "Invoice of [[Hans Müller]] is missing"
    hit = next(h for h in search(store, "muel*") if h.key == "SP-1")
    assert "[[Müller]]" in hit.snippet
    # `mueller` holds a digraph, yet a plain "Muller" is not marked for it
    hit = next(h for h in search(store, "mueller OR street") if h.key == "SP-3")
    assert "[[Muller]]" not in hit.snippet and "[[street]]" in hit.snippet


def test_a_word_found_by_its_letters_folded_is_still_marked(store):
    """`Müller` finds "Hans Muller" (accents are ignored), but its snippet lost the
    mark: the pattern of the other spelling, `m(?:ue|u)ller`, was tried first there,
    and refused ("Muller" is no Mueller), so the plain `muller` was never tried."""
    for query in ("Müller", "Müll*", '"Hans Müller"'):
        hit = next(h for h in search(store, query) if h.key == "SP-3")
        assert "[[Muller]]" in hit.snippet or "[[Hans Muller]]" in hit.snippet, query


def test_english_words_with_ae_oe_ue_find_no_other_words(store):
    for word in ("blue", "queue", "Poe", "aeon", "does", "true"):
        assert keys(store, word) == ["SP-6"], word
    assert keys(store, '"queue view"') == ["SP-6"]
    assert search(store, "does")[0].snippet == "Poe [[does]] an aeon of work, true"


def test_letters_without_a_plain_form_in_the_index(store):
    """unicode61 keeps ø, ł, ı and æ as they are, and Greek accents: `Soren`, `Lodz`,
    `kirmizi` (Turkish dotless ı), `caesar` and `σοφος` found nothing."""
    for query, expected, marked in [
        ("Soren", "SP-7", "[[Søren]]"),
        ("Soeren", "SP-7", "[[Søren]]"),
        ("lodz", "SP-7", "[[Łódź]]"),
        ("kirmizi dugme", "SP-7", "[[Kırmızı]] [[düğme]]"),
        ("KIRMIZI", "SP-7", "[[Kırmızı]]"),
        ("caesar", "SP-9", "[[Cæsar]]"),
    ]:
        hits = search(store, query)
        assert [h.key for h in hits] == [expected], query
        assert marked in hits[0].snippet, query
    for query in ("σοφος", "σοφός", "ΣΟΦΟΣ", '"σοφος ανθρωπος"', '"σοφός άνθρωπος"'):
        snippets = {h.key: h.snippet for h in search(store, query)}
        assert snippets.keys() == {"SP-8", "SP-11"}, query
        assert "[[ΣΟΦΟΣ" in snippets["SP-8"] and "[[σοφός" in snippets["SP-11"], query


def test_a_name_filter_takes_the_plain_letters_too(store):
    store.upsert_issues([{**RECORDS[6], "assignee": "Łukasz Søberg"}])
    assert keys(store, "assignee:lukasz") == ["SP-7"]
    assert keys(store, "assignee:soberg") == ["SP-7"]


@pytest.mark.parametrize("with_words", [False, True])
def test_a_name_filter_takes_the_digraphs_of_umlauts(store, with_words):
    """`assignee:mueller` found no "Jörg Müller" (name filters compare folded names:
    "muller"), nor `assignee:müller` a "Mueller"."""
    store.upsert_issues(
        [
            {**RECORDS[0], "assignee": "Jörg Müller", "description_text": "shared"},
            {**RECORDS[1], "assignee": "Tom Mueller", "description_text": "shared"},
            {**RECORDS[2], "assignee": "Ann Muller", "description_text": "shared"},
        ]
    )
    words = " shared" if with_words else ""  # the rows the words leave are checked
    for query, expected in [
        ("assignee:mueller", {"SP-1", "SP-2"}),
        ("assignee:müller", {"SP-1", "SP-2", "SP-3"}),
        ("assignee:joerg", {"SP-1"}),
        ('assignee:"jorg muller"', {"SP-1"}),
        ("-assignee:mueller assignee:m", {"SP-3"}),
    ]:
        assert set(keys(store, query + words)) == expected, query


def test_spelling_terms_and_other_spellings():
    assert spelling_terms("Hans Müller und Hans Müller") == "mueller"
    assert spelling_terms("Hans Mu\u0308ller") == "mueller"  # a decomposed ü
    assert spelling_terms("Søren") == "soeren soren" or spelling_terms("Søren") == "soren soeren"
    assert spelling_terms("café résumé naïve") == ""  # unicode61 folds them already
    assert spelling_terms("plain ascii text") == ""
    assert spelling_terms("x" * 100 + "ü") == ""  # a blob
    assert other_spellings("Müller") == ["mueller"]
    assert other_spellings("Mueller") == []
    assert other_spellings("σοφός") == ["σοφοσ"]


def test_an_index_made_before_gains_the_spellings_on_opening(tmp_path, monkeypatch):
    db = tmp_path / "index.db"
    monkeypatch.setattr(store_module, "spelling_terms", lambda text: "")
    with Store(db) as s:
        s.upsert_issues(RECORDS[:3])
        assert keys(s, "Mueller") == ["SP-2"]
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 5")
    conn.close()
    monkeypatch.undo()
    with Store(db) as s:
        assert s.schema_version == store_module.SCHEMA_VERSION
        assert set(keys(s, "Mueller")) == {"SP-1", "SP-2"}
        assert s.integrity_check() == []


def test_danish_spellings_full_width_letters_and_ligatures(tmp_path):
    """`Aarhus` missed "Århus" (Danish writes å as aa), `blabaergrod` "blåbærgrød"
    (å as a, æ as ae, ø as o); unicode61 keeps full-width letters and digits and
    ligatures, so `API` missed "ＡＰＩ" (typed with a Japanese IME), `ＡＰＩ` missed
    "API", `123` "１２３", and `file` missed "ﬁle" (text taken out of a PDF)."""
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                _rec(1, "Kontor i Århus", "blåbærgrød"),
                _rec(2, "ＡＰＩのエラー", "ポート１２３"),
                _rec(3, "The API gateway", "port 8080"),
                _rec(4, "Scanned manual", "the conﬁg ﬁle is missing"),
            ]
        )
        for query, expected in [
            ("aarhus", ["SP-1"]),
            ("Århus", ["SP-1"]),
            ("blabaergrod", ["SP-1"]),
            ("api", ["SP-3", "SP-2"]),
            ("ＡＰＩ", ["SP-2", "SP-3"]),
            ("123", ["SP-2"]),
            ('"config file"', ["SP-4"]),
        ]:
            assert keys(s, query) == expected, query
        assert search(s, "aarhus")[0].snippet == "Kontor i [[Århus]]"


def test_an_index_of_schema_6_gains_the_danish_and_full_width_spellings(tmp_path, monkeypatch):
    db = tmp_path / "index.db"
    monkeypatch.setattr(store_module, "spelling_terms", lambda text: "")
    with Store(db) as s:
        s.upsert_issues([_rec(1, "Kontor i Århus"), _rec(2, "ＡＰＩのエラー")])
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 6")
    conn.close()
    monkeypatch.undo()
    with Store(db) as s:
        assert keys(s, "aarhus") == ["SP-1"] and keys(s, "api") == ["SP-2"]
