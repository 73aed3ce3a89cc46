"""indexer.suggest: the rest of the filter value being typed, as the search box shows it."""

from __future__ import annotations

import pytest

from indexer.store import Store
from indexer.suggest import complete_filter

VALUES = {
    "status": ["Done", "In Progress", "In Review", "To Do", "Résolu"],
    "issuetype": ["Bug", "Story"],
    "priority": ["High", "Highest"],
    "assignee": ["José Díaz", "Kwame Mensah"],
    "reporter": ["Ann O'Neil"],
    "labels": ["backend", 'say "hi"', 42, "backlog", "Émigré"],
    "components": ["api"],
    "project": ["OPS"],
    "datasource": ["work", "été"],
}


def finish(text: str) -> str | None:
    return complete_filter(text, lambda column: VALUES[column])


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("status:do", "status:done"),  # the typed letters keep their case
        ("crash status:D", "crash status:Done"),
        ('status:"in', 'status:"in Progress"'),  # the first value that goes on
        ('status:"in r', 'status:"in review"'),
        ('status:"Done', 'status:"Done"'),  # the closing quote
        ('status:"', 'status:"Done"'),
        ("-label:bac", "-label:backend"),
        ("(labels:backl", "(labels:backlog"),
        ("type:st", "type:story"),
        ("issuetype:B", "issuetype:Bug"),
        ("priority:high", "priority:highest"),
        ("assignee:kwa", "assignee:kwame"),  # part of a name: the word
        ("assignee:mens", "assignee:mensah"),
        ('assignee:"kwa', 'assignee:"kwame Mensah"'),
        ("assignee:jos", "assignee:josé"),  # accents ignored
        ("assignee:DI", "assignee:DIaz"),
        ("reporter:o'", "reporter:o'Neil"),
        ("component:a", "component:api"),
        ("project:o", "project:oPS"),
        ("datasource:w", "datasource:work"),
        ("status:Open,do", "status:Open,done"),  # a list: the value after the comma
        ('status:"Done,in p', 'status:"Done,in progress"'),
        ("label:ui,backe", "label:ui,backend"),
        # Accents count for these filters: a letter typed without its accent is
        # taken as the value spells it (datasource:eté would find nothing).
        ("datasource:e", "datasource:été"),
        ("datasource:ÉT", "datasource:ÉTé"),  # case only: as typed
        ("status:re", "status:Résolu"),
        ("label:EMI", "label:Émigré"),
        ('-status:"re', '-status:"Résolu"'),
    ],
)
def test_a_filter_value_is_finished_from_the_values(typed, suggested):
    assert finish(typed) == suggested


@pytest.mark.parametrize(
    "typed",
    [
        "crash",  # no filter
        "status:",  # nothing typed yet
        "status:in",  # "In Progress" needs its quote: the space would end the filter
        "status:done",  # already whole
        "status:x",  # no such value
        "summary:cra",  # a text field: any word
        "updated:2024",  # dates are not listed
        "unknown:do",
        "status:do ",  # the filter is finished
        'status:"Done" x',
        "label:say",  # a value with a quote in it is never offered
        'label:"say',
        "label:4",  # a value that is not text
        "status:Done,",  # a list waiting for its next value
        '"crash status:do',  # words of a phrase still open, not a filter
        '"a" "b status:D',
    ],
)
def test_nothing_is_suggested(typed):
    assert finish(typed) is None


def test_the_store_lists_each_label_and_component_once(tmp_path):
    def record(n: int, labels: list, components: list) -> dict:
        return {
            "id": str(n), "key": f"OPS-{n}", "project": "OPS", "datasource": "work",
            "summary": "s", "updated": f"2024-01-0{n}T00:00:00.000Z",
            "url": f"https://j.example.com/browse/OPS-{n}", "labels": labels,
            "components": components,
        }  # fmt: skip

    with Store(tmp_path / "index.db") as store:
        store.upsert_issues(
            [record(1, ["backend", "ui"], ["api"]), record(2, ["Backend", "été"], [])]
        )
        labels = store.distinct_names("labels")
        assert len(labels) == 3 and set(labels) in (
            {"backend", "été", "ui"},
            {"Backend", "été", "ui"},
        )
        assert store.distinct_names("components") == ["api"]
        store.upsert_issues([record(3, ["zeta"], ["db"])])  # the cache follows writes
        assert "zeta" in store.distinct_names("labels")
        assert store.distinct_names("components") == ["api", "db"]
        with pytest.raises(ValueError):
            store.distinct_names("summary")


def test_a_taken_suggestion_finds_the_issues_of_its_value(tmp_path):
    """The suggestion is a query that works: `datasource:e` + Right is `été`'s."""
    from indexer.search import search

    record = {
        "id": "1", "key": "OPS-1", "project": "OPS", "datasource": "été", "summary": "s",
        "updated": "2024-01-01T00:00:00.000Z", "url": "https://j.example.com/browse/OPS-1",
        "labels": ["émigré"], "components": [],
    }  # fmt: skip
    with Store(tmp_path / "index.db") as store:
        store.upsert_issues([record])
        for typed in ("datasource:e", "label:emi"):
            taken = complete_filter(typed, store.distinct_names)
            assert taken is not None
            assert [hit.key for hit in search(store, taken)] == ["OPS-1"], taken


def test_the_search_box_does_not_list_the_labels_again_for_each_key_during_a_sync(
    tmp_path, monkeypatch
):
    """A sync writes several times a second, and each write made the store list a
    column's values again: listing the labels walks every issue (0.3-0.7 s at 100k,
    under the store's lock), once per key typed in `label:...`."""
    from tui.widgets import filter_suggester

    def record(n: int, label: str) -> dict:
        return {
            "id": str(n), "key": f"OPS-{n}", "project": "OPS", "datasource": "work",
            "summary": "s", "updated": "2024-01-01T00:00:00.000Z",
            "url": f"https://j.example.com/browse/OPS-{n}", "labels": [label],
        }  # fmt: skip

    with Store(tmp_path / "index.db") as store:
        listed = []
        distinct_names = store.distinct_names
        store.distinct_names = lambda column: listed.append(column) or distinct_names(column)
        store.upsert_issues([record(1, "backend")])
        suggester = filter_suggester.FilterValueSuggester(lambda: store)
        for n, typed in enumerate(["label:b", "label:ba", "label:bac", "label:back"], start=2):
            assert suggester._suggest(typed) == "label:backend"
            store.upsert_issues([record(n, "backlog")])  # the sync goes on
        assert listed == ["labels"]
        # Once they are older than the time they are kept, they are read again.
        monkeypatch.setattr(filter_suggester, "VALUES_KEPT_S", 0.0, raising=False)
        assert suggester._suggest("label:backl") == "label:backlog"
        assert listed == ["labels", "labels"]
