"""Raw Jira issues (v3 ADF and v2 wiki shapes, odd fields) -> index records."""

from __future__ import annotations

import pytest

from indexer.normalize import (
    MAX_INDEXED_CHARS,
    attachment_metadata,
    embedded_comments,
    normalize_comment,
    normalize_issue,
    to_utc_iso,
)

SITE = "https://example.atlassian.net"


def cloud_issue(**overrides):
    fields = {
        "summary": "  Pool times out under load ",
        "description": {
            "version": 1,
            "type": "doc",
            "content": [
                {
                    "type": "paragraph",
                    "content": [
                        {"type": "text", "text": "The "},
                        {"type": "text", "text": "connection pool", "marks": [{"type": "strong"}]},
                        {"type": "text", "text": " times out."},
                    ],
                }
            ],
        },
        "issuetype": {"id": "10001", "name": "Bug"},
        "status": {
            "name": "In Progress",
            "statusCategory": {"key": "indeterminate", "name": "In Progress"},
        },
        "priority": {"name": "High"},
        "assignee": {"accountId": "abc", "displayName": "Zoë Ångström"},
        "reporter": {"accountId": "def", "displayName": "Kim Lee"},
        "labels": ["db", "perf"],
        "components": [{"id": "1", "name": "Backend"}],
        "project": {"id": "10000", "key": "DEV", "name": "Development"},
        "created": "2022-06-09T16:29:31.871-0700",
        "updated": "2022-12-08T02:22:18.889-0800",
    }
    fields.update(overrides)
    return {
        "id": "10042",
        "key": "DEV-1423",
        "self": f"{SITE}/rest/api/3/issue/10042",
        "fields": fields,
    }


def test_cloud_issue_becomes_a_record():
    record = normalize_issue(cloud_issue(), datasource="work", site_url=SITE + "/")
    assert record["id"] == "10042"
    assert record["key"] == "DEV-1423"
    assert record["project"] == "DEV"
    assert record["summary"] == "Pool times out under load"
    assert "**connection pool**" in record["description"]
    assert "connection pool" in record["description_text"]
    assert "**" not in record["description_text"]
    assert record["issuetype"] == "Bug"
    assert record["status"] == "In Progress"
    assert record["status_category"] == "In Progress"
    assert record["priority"] == "High"
    assert record["assignee"] == "Zoë Ångström"
    assert record["labels"] == ["db", "perf"]
    assert record["components"] == ["Backend"]
    assert record["updated"] == "2022-12-08T10:22:18.889Z"
    assert record["created"] == "2022-06-09T23:29:31.871Z"
    assert record["url"] == f"{SITE}/browse/DEV-1423"
    assert "comments" not in record and "attachments" not in record


def test_wiki_markup_description_is_read_as_markdown():
    record = normalize_issue(
        cloud_issue(description="h2. Steps\n* run *fast*\n{code:java}int x = 1;{code}"),
        datasource="dc",
        site_url="https://issues.apache.org/jira",
    )
    assert "Steps" in record["description"]
    assert "int x = 1;" in record["description_text"]
    assert record["url"] == "https://issues.apache.org/jira/browse/DEV-1423"


@pytest.mark.parametrize(
    "overrides",
    [
        {"assignee": None, "priority": None, "description": None, "labels": None},
        {"status": "Open", "issuetype": 7, "components": "x", "labels": [None, "ok"]},
        {"summary": None, "created": None, "updated": "not a date"},
        {"project": None, "customfield_10010": "a string where an object was"},
    ],
)
def test_missing_null_and_odd_fields_never_raise(overrides):
    record = normalize_issue(cloud_issue(**overrides), datasource="x", site_url=SITE)
    assert record["key"] == "DEV-1423"
    assert record["project"] == "DEV"
    assert isinstance(record["labels"], list)
    assert all(isinstance(label, str) for label in record["labels"])


def test_no_fields_at_all():
    record = normalize_issue({"id": 5, "key": "A-1"}, datasource="x", site_url=SITE)
    assert record["id"] == "5"
    assert record["summary"] == ""
    assert record["updated"] == ""


def test_huge_description_is_capped_for_the_index():
    record = normalize_issue(
        cloud_issue(description="word " * 300_000), datasource="x", site_url=SITE
    )
    assert len(record["description_text"]) <= MAX_INDEXED_CHARS + 100
    assert record["description_text"].endswith("[jiradex: text truncated for the index]")
    assert len(record["raw"]["fields"]["description"]) == 1_500_000


def test_embedded_comment_page_and_its_total():
    issue = cloud_issue(
        comment={"comments": [{"id": "1", "body": "hi"}], "total": 41, "maxResults": 1}
    )
    comments, total = embedded_comments(issue)
    assert [c["id"] for c in comments] == ["1"]
    assert total == 41
    assert embedded_comments(cloud_issue(comment=None)) == ([], 0)


def test_comment_normalisation_v3_and_v2():
    v3 = normalize_comment(
        {
            "id": "100",
            "author": {"displayName": "Ana"},
            "created": "2024-01-02T03:04:05.000+0000",
            "body": {
                "type": "doc",
                "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": "LGTM"}]}],
            },
        }
    )
    assert v3 == {
        "id": "100",
        "author": "Ana",
        "created": "2024-01-02T03:04:05.000Z",
        "updated": "2024-01-02T03:04:05.000Z",
        "body": "LGTM",
        "body_text": "LGTM",
    }
    v2 = normalize_comment({"id": 7, "author": {"name": "jdoe"}, "body": "*bold* move"})
    assert v2["id"] == "7" and v2["author"] == "jdoe"
    assert "bold" in v2["body_text"] and "*" not in v2["body_text"]


def test_attachment_metadata_with_numeric_id():
    meta = attachment_metadata(
        {"id": 16465, "filename": "trace.log", "mimeType": "text/plain", "size": 120,
         "content": "https://x/rest/api/3/attachment/content/16465"}
    )  # fmt: skip
    assert meta["id"] == "16465"
    assert meta["content_url"].endswith("/16465")
    assert meta["indexed"] is False and meta["text"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-12-08T02:22:18.889-0800", "2022-12-08T10:22:18.889Z"),
        ("2024-03-31T01:30:00.000+0100", "2024-03-31T00:30:00.000Z"),
        ("2024-03-31T01:30:00+01:00", "2024-03-31T00:30:00.000Z"),
        ("2024-03-31T01:30:00Z", "2024-03-31T01:30:00.000Z"),
        # Jira's own form, converted by shifting the clock in the string: across
        # midnight both ways, the new year, a leap day, half and quarter hours.
        ("2024-01-01T01:15:00.120+0530", "2023-12-31T19:45:00.120Z"),
        ("2023-12-31T20:00:00.999-0800", "2024-01-01T04:00:00.999Z"),
        ("2024-02-29T23:59:59.001-0015", "2024-03-01T00:14:59.001Z"),
        ("2024-06-15T12:00:00.000+0545", "2024-06-15T06:15:00.000Z"),
        ("2024-06-15T12:00:00.000+0000", "2024-06-15T12:00:00.000Z"),
        ("2024-06-15T12:00:00.000-0000", "2024-06-15T12:00:00.000Z"),
        ("2024-13-15T12:00:00.000+0100", ""),  # month 13: not a date
        ("2024-06-15T25:00:00.000+0100", ""),  # hour 25 neither
        ("0001-01-01T00:10:00.000+0530", ""),  # before year 1 in UTC
        ("2024-06-15T08:00:00.000+1400", "2024-06-14T18:00:00.000Z"),
        ("2024-06-15T12:00:00.000-1200", "2024-06-16T00:00:00.000Z"),
        (1698825600000, "2023-11-01T08:00:00.000Z"),
        ("", ""),
        (None, ""),
        ("yesterday", ""),
    ],
)
def test_timestamps_are_stored_in_utc(value, expected):
    assert to_utc_iso(value) == expected


def test_timestamps_with_the_same_offset_again():
    """An offset read once serves the next timestamps written with it (a sync reads
    thousands), each still shifted by its own clock."""
    values = ["2022-12-08T02:22:18.889-0800", "2022-12-08T17:00:00.000-0800"]
    for _ in range(2):
        assert [to_utc_iso(v) for v in values] == [
            "2022-12-08T10:22:18.889Z",
            "2022-12-09T01:00:00.000Z",
        ]


def test_an_unedited_comment_has_its_time_read_once(monkeypatch):
    """Most comments were never edited (`updated` is `created`): the moment is
    converted once for both; an edited one has both read."""
    import indexer.normalize as normalize

    read: list = []
    real = normalize.to_utc_iso
    monkeypatch.setattr(normalize, "to_utc_iso", lambda value: read.append(value) or real(value))
    at, later = "2022-12-08T02:22:18.889-0800", "2022-12-09T02:22:18.889-0800"
    comment = normalize_comment({"id": "1", "created": at, "updated": at, "body": "x"})
    assert comment["created"] == comment["updated"] == "2022-12-08T10:22:18.889Z"
    assert read == [at]
    edited = normalize_comment({"id": "2", "created": at, "updated": later, "body": "x"})
    assert (edited["created"], edited["updated"]) == (
        "2022-12-08T10:22:18.889Z",
        "2022-12-09T10:22:18.889Z",
    )
    assert read == [at, at, later]
    assert normalize_comment({"id": "3", "created": at})["updated"] == comment["updated"]


@pytest.mark.parametrize(
    ("created", "updated", "expected"),
    [
        (1, True, ""),  # True == 1 in Python: `updated` was taken for the epoch 1 ms
        (0, False, "1970-01-01T00:00:00.000Z"),  # no `updated`: created stands in
        (1700000000000, 1700000000000.0, "2023-11-14T22:13:20.000Z"),
    ],
)
def test_a_comment_updated_is_read_as_itself_whatever_its_type(created, updated, expected):
    """The shortcut for an unedited comment compared `updated == created`, which is
    True for True and 1: a boolean `updated` (not a date) got the created date."""
    comment = normalize_comment({"id": "1", "created": created, "updated": updated})
    assert comment["updated"] == expected


def test_attachment_without_an_id_is_named_by_its_self_link():
    """Jira 5.x (the JRJC capture `issue/valid-5.0.json`) gives attachments a `self`
    link and no `id`: every attachment of an issue had the id '', so a failed
    download of one kept another's text in its place."""
    old = [
        {"self": f"http://localhost:2990/jira/rest/api/latest/attachment/{n}",
         "filename": name, "mimeType": "text/plain", "size": 643,
         "content": f"http://localhost:2990/jira/secure/attachment/{n}/{name}"}
        for n, name in ((10040, "a.txt"), (10020, "b.txt"))
    ]  # fmt: skip
    assert [attachment_metadata(a)["id"] for a in old] == ["10040", "10020"]
    assert attachment_metadata({"self": "https://x/odd/", "filename": "c.txt"})["id"] == ""
