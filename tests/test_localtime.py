"""Times shown, and dates typed, in the user's zone (indexer.localtime), as Jira does.

Zones are POSIX TZ strings so the tests need no tz database: JST-9 is UTC+9 all
year, HST10 is UTC-10, and CET-1CEST,... is Paris with its summer time.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest
from cli_runner import run

from indexer.issue_view import issue_markdown
from indexer.localtime import shown_day, shown_time
from indexer.search import search
from indexer.store import Store

TOKYO = "JST-9"
HONOLULU = "HST10"
PARIS = "CET-1CEST,M3.5.0,M10.5.0/3"


@pytest.fixture
def zone(monkeypatch):
    """zone("JST-9") makes that the local zone for the rest of the test."""

    def use(tz: str) -> None:
        monkeypatch.setenv("TZ", tz)
        time.tzset()

    return use


def record(key: str, updated: str, created: str = "2024-01-01T00:00:00.000Z") -> dict:
    return {
        "id": key.split("-")[1],
        "key": key,
        "project": "OPS",
        "datasource": "work",
        "summary": f"Issue {key}",
        "description": "",
        "description_text": "",
        "issuetype": "Bug",
        "status": "Open",
        "status_category": "To Do",
        "priority": "Medium",
        "assignee": None,
        "reporter": None,
        "labels": [],
        "components": [],
        "created": created,
        "updated": updated,
        "url": f"https://jira.example.com/browse/{key}",
        "raw": None,
        "comments": [
            {
                "id": "7",
                "author": "Ann",
                "created": updated,
                "updated": updated,
                "body": "hi",
                "body_text": "hi",
            }
        ],
    }


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "index.db")
    s.upsert_issues(
        [
            # 20:00 UTC on May 1st is 05:00 on May 2nd in Tokyo, 10:00 on May 1st in Honolulu
            record("OPS-1", "2024-05-01T20:00:00.000Z"),
            # 22:30 UTC on June 30th is 00:30 on July 1st in Paris (summer time, UTC+2)
            record("OPS-2", "2024-06-30T22:30:00.000Z"),
            # 23:30 UTC on Dec 31st is 2025 in Tokyo
            record("OPS-3", "2024-12-31T23:30:00.000Z"),
        ]
    )
    yield s
    s.close()


def found(store, query: str) -> set[str]:
    return {h.key for h in search(store, query, limit=50)}


def test_times_are_shown_in_the_local_zone_with_its_name(zone):
    zone(TOKYO)
    assert shown_time("2024-05-01T20:00:00.000Z") == "2024-05-02 05:00 JST"
    assert shown_day("2024-05-01T20:00:00.000Z") == "2024-05-02"
    assert shown_time("2024-05-01T20:00:00.000+0000") == "2024-05-02 05:00 JST"
    zone(PARIS)
    assert shown_time("2024-01-15T12:00:00.000Z") == "2024-01-15 13:00 CET"
    assert shown_time("2024-07-15T12:00:00.000Z") == "2024-07-15 14:00 CEST"
    zone("UTC")
    assert shown_time("2024-05-01T20:00:00.000Z") == "2024-05-01 20:00 UTC"
    assert shown_time("not a time") == "not a time"


@pytest.mark.parametrize(
    "tz, query, expected",
    [
        ("UTC", "updated:2024-05-01", {"OPS-1"}),
        (TOKYO, "updated:2024-05-01", set()),
        (TOKYO, "updated:2024-05-02", {"OPS-1"}),
        (HONOLULU, "updated:2024-05-01", {"OPS-1"}),
        (TOKYO, "updated:<2024-05-02", set()),
        (TOKYO, "updated:>=2024-05-02 updated:<2024-06", {"OPS-1"}),
        ("UTC", "updated:2024-06", {"OPS-2"}),
        (PARIS, "updated:2024-06", set()),
        (PARIS, "updated:2024-07", {"OPS-2"}),
        (PARIS, "updated:2024-07-01", {"OPS-2"}),
        (PARIS, "updated:2024-07-01T00:30", {"OPS-2"}),
        ("UTC", "updated:2024-07-01T00:30", set()),
        ("UTC", "updated:2024", {"OPS-1", "OPS-2", "OPS-3"}),
        (TOKYO, "updated:2024", {"OPS-1", "OPS-2"}),
        (TOKYO, "updated:2025", {"OPS-3"}),
        (TOKYO, "updated:>2024", {"OPS-3"}),
        (HONOLULU, "updated:<=2024", {"OPS-1", "OPS-2", "OPS-3"}),
    ],
)
def test_typed_dates_are_days_in_the_local_zone(store, zone, tz, query, expected):
    zone(tz)
    assert found(store, query) == expected


@pytest.mark.parametrize("tz", [TOKYO, HONOLULU])
def test_dates_at_the_ends_of_the_calendar_in_any_zone(store, zone, tz):
    """Year 1 east of UTC and year 9999 west of it are past what datetime holds."""
    zone(tz)
    every = {"OPS-1", "OPS-2", "OPS-3"}
    assert found(store, "updated:>=0001-01-01") == every
    assert found(store, "updated:<=9999-12-31") == every
    assert found(store, "updated:0001") == set()
    assert found(store, "updated:>=9999") == set()


def test_ages_do_not_depend_on_the_zone(store, zone):
    zone(TOKYO)
    tokyo = found(store, "updated:-100y")
    zone(HONOLULU)
    assert found(store, "updated:-100y") == tokyo == {"OPS-1", "OPS-2", "OPS-3"}


def test_issue_document_shows_local_times(store, zone):
    zone(TOKYO)
    text = issue_markdown(store.get_issue("OPS-1"))
    assert "- **Updated:** 2024-05-02 05:00 JST" in text
    assert "- **Created:** 2024-01-01 09:00 JST" in text
    assert "### Ann, 2024-05-02 05:00 JST" in text


def test_cli_search_and_show_use_the_local_zone(zone):
    with Store() as s:
        s.upsert_issues([record("OPS-1", "2024-05-01T20:00:00.000Z")])
    zone(TOKYO)
    listed = run("search", "issue")
    assert listed.exit_code == 0, listed.output
    assert "2024-05-02" in listed.stdout and "2024-05-01" not in listed.stdout
    shown = run("show", "OPS-1")
    assert "2024-05-02 05:00 JST" in shown.stdout
    assert run("search", "updated:2024-05-02", "--json").stdout.count('"OPS-1"') == 1
    as_json = run("show", "OPS-1", "--json")
    assert '"updated": "2024-05-01T20:00:00.000Z"' in as_json.stdout  # scripts keep UTC


def test_a_typed_minute_is_the_whole_minute(tmp_path, zone):
    """`updated:2024-06-30T22:30` matched only 22:30:00, so `updated:<=…T22:30` left
    out an issue updated at 22:30:45 (helper-54): a minute is a minute, as a day is a
    day; a typed second is that second."""
    zone(PARIS)
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues([record("OPS-9", "2024-06-30T22:30:45.000Z")])  # 00:30:45 in Paris
        assert found(s, "updated:2024-07-01T00:30") == {"OPS-9"}
        assert found(s, "updated:<=2024-07-01T00:30") == {"OPS-9"}
        assert found(s, "updated:>2024-07-01T00:30") == set()
        assert found(s, "updated:2024-07-01T00:30:45") == {"OPS-9"}
        assert found(s, "updated:2024-07-01T00:30:44") == set()


@pytest.mark.parametrize("tz", ["Europe/Pariss", "Mars/Base", "Foo", ":/no/such/zonefile"])
def test_a_time_zone_the_system_cannot_read_is_shown_as_utc(zone, tz):
    """glibc keeps UTC for a TZ it cannot read and names it after the TZ's first
    letters: a misspelt Europe/Pariss showed "12:00 Europe", a time that reads as
    European and is UTC."""
    zone(tz)
    assert shown_time("2024-05-01T12:00:00.000Z") == "2024-05-01 12:00 UTC"


def test_a_zone_only_python_knows_is_shown_as_utc(zone, tmp_path, monkeypatch):
    """Where the system has no zone files (a slim container), the C library keeps
    UTC for Europe/Paris and names it "Europe", while Python's tzdata package still
    knows the zone: the time showed as "12:00 Europe". TZDIR is where the C library
    looks; an empty one is such a system."""
    monkeypatch.setenv("TZDIR", str(tmp_path))
    zone("Europe/Paris")
    assert shown_time("2024-01-10T12:00:00.000Z") == "2024-01-10 12:00 UTC"


def test_a_zone_file_in_tzdir_keeps_its_name(zone, tmp_path, monkeypatch):
    import zoneinfo

    source = next(
        path
        for folder in zoneinfo.TZPATH
        if os.path.isfile(path := os.path.join(folder, "Europe", "London"))
    )
    (tmp_path / "Europe").mkdir()
    shutil.copy(source, tmp_path / "Europe" / "London")
    monkeypatch.setenv("TZDIR", str(tmp_path))
    zone("Europe/London")
    assert shown_time("2024-01-10T12:00:00.000Z") == "2024-01-10 12:00 GMT"


@pytest.mark.parametrize(
    ("tz", "shown"),
    [("GMT0", "12:00 GMT"), ("<+03>-3", "15:00 +03"), ("HST10", "02:00 HST"), ("UTC", "12:00 UTC")],
)
def test_zones_written_as_rules_keep_their_names(zone, tz, shown):
    zone(tz)
    assert shown_time("2024-05-01T12:00:00.000Z") == f"2024-05-01 {shown}"
