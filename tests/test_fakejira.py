"""Tests of fakejira itself: it is a test server, not Jira, so these talk to it live
on loopback. Client tests never do that (they replay cassettes).

Covers each mode's auth rules, both paging styles, the JQL subset, faults, the
mutation and control APIs, attachments, laziness at 300,000 issues, and shape
conformance with real Jira payloads (tests/fixtures/jira/, see PROVENANCE.md).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from fakejira import FakeJira
from fakejira.dataset import EMBEDDED_COMMENTS
from fakejira.payloads import CLIENT_MUST_AUTH, REMOVED_SEARCH_MESSAGE
from fakejira.shapes import compare

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "jira"


def real(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def start():
    """`start(mode, **kw)` -> (FakeJira, httpx.Client on its API base with its auth)."""
    running: list[tuple[FakeJira, httpx.Client]] = []

    def _start(mode: str = "cloud", **kw) -> tuple[FakeJira, httpx.Client]:
        kw.setdefault("issues", 60)
        fj = FakeJira(mode=mode, **kw).start()
        http = httpx.Client(base_url=fj.api_url, headers=fj.auth_headers(), timeout=10)
        running.append((fj, http))
        return fj, http

    yield _start
    for fj, http in running:
        http.close()
        fj.stop()


def search_all_cloud(http: httpx.Client, jql: str, fields="key", size=7) -> tuple[list, int]:
    keys, token, pages = [], None, 0
    while True:
        params = {"jql": jql, "fields": fields, "maxResults": size}
        if token:
            params["nextPageToken"] = token
        r = http.get("/rest/api/3/search/jql", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        assert "total" not in body and "startAt" not in body
        keys += [i["key"] for i in body["issues"]]
        token = body.get("nextPageToken")
        if body["isLast"]:
            assert token is None  # the last page carries no token
            return keys, pages


def test_replies_are_not_held_back_by_nagle(start, monkeypatch):
    """Headers and body are written apart: with Nagle's algorithm on, a client on a
    kept-alive connection waited ~40 ms for each body (the benchmarks' one-page-at-
    a-time baseline paid it on every page). Every connection has TCP_NODELAY."""
    import socket

    from fakejira.server import Handler

    nodelay: list[int] = []
    handle = Handler.handle_one_request

    def spy(self):
        nodelay.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return handle(self)

    monkeypatch.setattr(Handler, "handle_one_request", spy)
    _, http = start("cloud")
    for _ in range(3):
        assert http.get("/rest/api/2/serverInfo").status_code == 200
    assert nodelay and all(nodelay)


# --- modes and auth -----------------------------------------------------------


def test_cloud_auth_rules(start):
    fj, http = start("cloud")
    assert http.get("/rest/api/3/myself").json()["emailAddress"] == fj.email
    info = httpx.get(fj.url + "/rest/api/2/serverInfo").json()  # anonymous is allowed
    assert info["deploymentType"] == "Cloud"
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"x:y").decode()}):
        r = httpx.get(fj.url + "/rest/api/3/myself", headers=headers)
        assert r.status_code == 401
        assert r.text == CLIENT_MUST_AUTH
        assert r.headers["content-type"].startswith("text/plain")
    assert httpx.get(fj.url + "/_edge/tenant_info").json() == {"cloudId": fj.cloud_id}


def test_cloud_removed_search_answers_410(start):
    _, http = start("cloud")
    for path in ("/rest/api/3/search", "/rest/api/2/search"):
        r = http.get(path, params={"jql": "project = DEMO"})
        assert r.status_code == 410
        assert r.json() == {"errorMessages": [REMOVED_SEARCH_MESSAGE], "errors": {}}


def test_datacenter_auth_and_no_v3(start):
    fj, http = start("datacenter")
    me = http.get("/rest/api/2/myself").json()
    assert me["key"] == "JIRAUSER10000" and me["deleted"] is False
    assert http.get("/rest/api/2/serverInfo").json()["deploymentType"] == "DataCenter"
    basic = {
        "Authorization": "Basic " + base64.b64encode(f"{fj.email}:{fj.token}".encode()).decode()
    }
    r = httpx.get(fj.url + "/rest/api/2/myself", headers=basic)
    assert r.status_code == 401
    assert r.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    assert "errorMessages" in r.json()
    assert http.get("/rest/api/3/myself").status_code == 404
    assert httpx.get(fj.url + "/_edge/tenant_info").status_code == 404


def test_anonymous_mode_searches_without_auth_but_has_no_myself(start):
    fj, _ = start("anonymous", issues=12)
    r = httpx.get(fj.url + "/rest/api/2/search", params={"jql": "project = DEMO"})
    assert r.status_code == 200 and r.json()["total"] == 12
    assert httpx.get(fj.url + "/rest/api/2/myself").status_code == 401
    assert httpx.get(fj.url + "/rest/api/2/serverInfo").json()["deploymentType"] == "Server"


def test_gateway_mode_accepts_the_token_only_through_the_gateway(start):
    fj, http = start("gateway")
    assert fj.api_url == f"{fj.gateway_url}/ex/jira/{fj.cloud_id}"
    body = http.get("/rest/api/3/issue/DEMO-1").json()
    assert body["self"].startswith(fj.api_url + "/rest/api/3/issue/")
    site = httpx.get(fj.url + "/rest/api/3/myself", headers=fj.auth_headers())
    assert site.status_code == 401 and site.text == CLIENT_MUST_AUTH
    wrong = httpx.get(
        f"{fj.gateway_url}/ex/jira/not-the-id/rest/api/3/myself", headers=fj.auth_headers()
    )
    assert wrong.status_code == 404
    anon = httpx.get(fj.api_url + "/rest/api/3/myself")
    assert anon.status_code == 401


def test_context_path_is_required(start):
    fj, http = start("datacenter", context_path="jira")
    assert fj.url.endswith("/jira")
    assert http.get("/rest/api/2/issue/DEMO-1").status_code == 200
    bare = httpx.get(fj.url.removesuffix("/jira") + "/rest/api/2/issue/DEMO-1")
    assert bare.status_code == 404


# --- paging -------------------------------------------------------------------


def test_cloud_search_jql_pages_to_the_end_with_tokens(start):
    _, http = start("cloud", issues=30)
    keys, pages = search_all_cloud(http, "project = DEMO ORDER BY key ASC", size=7)
    assert keys == [f"DEMO-{i}" for i in range(1, 31)]
    assert pages == 5


def test_cloud_search_jql_default_fields_is_id_only(start):
    _, http = start("cloud", issues=5)
    issues = http.get("/rest/api/3/search/jql", params={"jql": "project = DEMO"}).json()["issues"]
    assert issues and all(set(i) == {"id"} for i in issues)


def test_cloud_search_jql_caps_pages_by_fields(start):
    _, http = start("cloud", issues=300)
    many = http.get(
        "/rest/api/3/search/jql",
        params={"jql": "project = DEMO", "fields": "summary", "maxResults": 500},
    ).json()
    assert len(many["issues"]) == 100 and many["isLast"] is False
    ids = http.get(
        "/rest/api/3/search/jql",
        params={"jql": "project = DEMO", "fields": "id", "maxResults": 500},
    ).json()
    assert len(ids["issues"]) == 300 and ids["isLast"] is True


def test_cloud_search_jql_rejects_unbounded_and_foreign_tokens(start):
    _, http = start("cloud")
    assert http.get("/rest/api/3/search/jql", params={"jql": ""}).status_code == 400
    first = http.get(
        "/rest/api/3/search/jql", params={"jql": "project = DEMO", "maxResults": 2}
    ).json()
    other = http.get(
        "/rest/api/3/search/jql",
        params={"jql": "project = DEMO AND key = DEMO-1", "nextPageToken": first["nextPageToken"]},
    )
    assert other.status_code == 400
    assert "token" in other.json()["errorMessages"][0]


def test_cloud_post_search_and_approximate_count(start):
    _, http = start("cloud", issues=25)
    r = http.post(
        "/rest/api/3/search/jql",
        json={"jql": "project = DEMO", "fields": ["key"], "maxResults": 10},
    )
    assert r.status_code == 200 and len(r.json()["issues"]) == 10
    count = http.post("/rest/api/3/search/approximate-count", json={"jql": "project = DEMO"})
    assert count.json() == {"count": 25}


def test_datacenter_search_lowers_max_results_and_reports_total(start):
    _, http = start("datacenter", issues=23, max_results_cap=10)
    seen, start_at = [], 0
    while True:
        body = http.get(
            "/rest/api/2/search",
            params={"jql": "project = DEMO ORDER BY key ASC", "startAt": start_at,
                    "maxResults": 50, "fields": "summary"},
        ).json()  # fmt: skip
        assert body["maxResults"] == 10 and body["total"] == 23
        assert body["startAt"] == start_at
        seen += [i["key"] for i in body["issues"]]
        start_at += len(body["issues"])
        if start_at >= body["total"]:
            break
    assert seen == [f"DEMO-{i}" for i in range(1, 24)]


def test_datacenter_deep_paging_fails_past_ten_thousand(start):
    """As Atlassian's KB "Handling JQL REST API searching exceeding max_result_window"
    quotes Data Center: an HTTP 500 (not a 400) whose Status entity names the number
    of results asked for and the window."""
    _, http = start("datacenter", issues=20)
    r = http.get("/rest/api/2/search", params={"jql": "project = DEMO", "startAt": 9995})
    assert r.status_code == 500
    body = r.json()
    assert body["status-code"] == 500
    assert body["message"].startswith(
        "Search limit exceeded. We couldn't complete your search because it requests "
        "10,045 results which exceeded the search platform limit of 10,000."
    )


def test_the_date_header_follows_the_fake_clock(start):
    """Jira's Date header is its clock, which jiradex reads (a sync's start, a lost
    post's search): with the clock set, the header said the real time instead."""
    from email.utils import parsedate_to_datetime

    fj, http = start("datacenter", issues=5)
    fj.set_now(1_500_000_000_000)
    r = http.get("/rest/api/2/serverInfo")
    assert parsedate_to_datetime(r.headers["Date"]).timestamp() == 1_500_000_000
    assert r.json()["serverTime"].startswith("2017-07-13T")
    fj.set_now(None)
    r = http.get("/rest/api/2/serverInfo")
    assert parsedate_to_datetime(r.headers["Date"]).year >= 2025


# --- JQL subset ------------------------------------------------------------------


def keys_of(http, jql: str) -> list[str]:
    r = http.get("/rest/api/2/search", params={"jql": jql, "fields": "updated", "maxResults": 100})
    assert r.status_code == 200, r.text
    return [i["key"] for i in r.json()["issues"]]


def test_jql_key_id_and_order(start):
    fj, http = start("datacenter", issues=40)
    assert keys_of(http, "key in (DEMO-3, DEMO-5) ORDER BY key ASC") == ["DEMO-3", "DEMO-5"]
    assert keys_of(http, "issuekey = DEMO-7") == ["DEMO-7"]
    assert keys_of(http, f"id = {fj.dataset.base_meta(9).id}") == ["DEMO-9"]
    desc = keys_of(http, "project = DEMO ORDER BY updated DESC")
    assert desc[:3] == ["DEMO-40", "DEMO-39", "DEMO-38"]
    assert keys_of(http, "project = DEMO")[0] == "DEMO-40"  # default order: key DESC


def test_jql_key_ranges_compare_numbers_within_the_project(start):
    _, http = start("datacenter", issues=40)
    assert keys_of(http, "project = DEMO AND key > DEMO-9 AND key <= DEMO-12 ORDER BY key ASC") == [
        "DEMO-10",
        "DEMO-11",
        "DEMO-12",
    ]
    assert keys_of(http, "key >= DEMO-38 ORDER BY key ASC") == ["DEMO-38", "DEMO-39", "DEMO-40"]
    assert keys_of(http, "key < DEMO-3 ORDER BY key ASC") == ["DEMO-1", "DEMO-2"]
    assert keys_of(http, "key > OTHER-1") == []


def test_jql_updated_in_epoch_ms_and_in_the_users_time_zone(start):
    fj, http = start("datacenter", issues=40, time_zone="America/Los_Angeles")
    ds = fj.dataset
    pivot = ds.base_updated(30)
    by_ms = keys_of(http, f"project = DEMO AND updated >= {pivot} ORDER BY key ASC")
    assert by_ms == [f"DEMO-{i}" for i in range(30, 41)]
    # The same instant as a wall-clock minute in the user's zone (JQL has minutes only).
    local = datetime.fromtimestamp(pivot / 1000, ZoneInfo("America/Los_Angeles"))
    text = local.strftime("%Y/%m/%d %H:%M")
    by_text = keys_of(http, f'project = DEMO AND updated >= "{text}" ORDER BY key ASC')
    assert by_text == by_ms  # 5-minute spacing: flooring to the minute keeps DEMO-30 first
    utc_text = datetime.fromtimestamp(pivot / 1000, ZoneInfo("UTC")).strftime("%Y/%m/%d %H:%M")
    assert keys_of(http, f'project = DEMO AND updated >= "{utc_text}"') == []  # read as LA time


@pytest.mark.parametrize(
    "jql, fragment",
    [
        ("project = DEMO OR key = DEMO-1", "OR"),
        ("assignee = bob", "does not exist"),
        ("project = NOPE", "does not exist for the field 'project'"),
        ('updated >= "yesterday"', "invalid"),
        ("project = DEMO ORDER BY summary", "does not exist"),
        ("key > DEMO", "is invalid"),
    ],
)
def test_jql_errors_are_400_error_collections(start, jql, fragment):
    _, http = start("datacenter", issues=5)
    r = http.get("/rest/api/2/search", params={"jql": jql})
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"errorMessages", "errors"}
    assert fragment in body["errorMessages"][0]


# --- issues, comments, attachments -------------------------------------------------


def issue_with(fj: FakeJira, pred) -> str:
    for i in range(1, fj.dataset.n + 1):
        iss = fj.dataset.issue(i)
        if iss is not None and pred(iss):
            return iss.key
    raise AssertionError("no generated issue matches")


def test_rich_text_is_adf_on_v3_and_wiki_on_v2(start):
    fj, http = start("cloud", issues=60)
    key = issue_with(fj, lambda i: i.blocks is not None)
    v3 = http.get(f"/rest/api/3/issue/{key}", params={"fields": "description"}).json()
    v2 = http.get(f"/rest/api/2/issue/{key}", params={"fields": "description"}).json()
    assert v3["fields"]["description"]["type"] == "doc"
    assert isinstance(v2["fields"]["description"], str) and v2["fields"]["description"]
    assert http.get("/rest/api/3/issue/DEMO-99999").json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]


def test_embedded_comments_are_capped_and_the_comment_endpoint_pages(start):
    fj, http = start("cloud", issues=200)
    key = issue_with(fj, lambda i: len(i.comments) > EMBEDDED_COMMENTS)
    total = len(fj.dataset.issue(key).comments)
    emb = http.get(f"/rest/api/3/issue/{key}", params={"fields": "comment"}).json()
    page = emb["fields"]["comment"]
    assert page["total"] == total and len(page["comments"]) == EMBEDDED_COMMENTS
    got, start_at = [], 0
    while start_at < total:
        body = http.get(
            f"/rest/api/3/issue/{key}/comment", params={"startAt": start_at, "maxResults": 9}
        ).json()
        assert body["total"] == total
        got += [c["id"] for c in body["comments"]]
        start_at += len(body["comments"])
    assert len(got) == len(set(got)) == total
    rendered = http.get(f"/rest/api/3/issue/{key}/comment", params={"expand": "renderedBody"})
    assert rendered.json()["comments"][0]["renderedBody"].startswith("<p>")


@pytest.mark.parametrize("mode", ["cloud", "datacenter"])
def test_a_v2_comment_page_asked_without_maxresults_holds_every_comment(start, mode):
    """The real v2 captures (Cloud's FOO-123/comment; Jira Server, JRASERVER-74572)
    answer a comment page asked without `maxResults` with all of the thread and
    `maxResults` 1048576; fakejira gave 50."""
    fj, http = start(mode, issues=200)
    key = issue_with(fj, lambda i: len(i.comments) > 50)
    total = len(fj.dataset.issue(key).comments)
    body = http.get(f"/rest/api/2/issue/{key}/comment").json()
    assert body["maxResults"] == 1_048_576
    assert body["total"] == len(body["comments"]) == total
    asked = http.get(f"/rest/api/2/issue/{key}/comment", params={"maxResults": 7}).json()
    assert asked["maxResults"] == len(asked["comments"]) == 7
    if mode == "cloud":  # v3 keeps its documented default of 100
        assert http.get(f"/rest/api/3/issue/{key}/comment").json()["maxResults"] == 100


def test_post_comment_needs_adf_on_v3_and_a_string_on_v2(start):
    fj, http = start("cloud", issues=5)
    bad = http.post("/rest/api/3/issue/DEMO-1/comment", json={"body": "plain"})
    assert bad.status_code == 400
    adf = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "hello"}]}]}  # fmt: skip
    ok = http.post("/rest/api/3/issue/DEMO-1/comment", json={"body": adf})
    assert ok.status_code == 201 and ok.json()["body"] == adf
    wiki = http.post("/rest/api/2/issue/DEMO-1/comment", json={"body": "h1. hi"})
    assert wiki.status_code == 201 and wiki.json()["body"] == "h1. hi"
    comments = http.get("/rest/api/2/issue/DEMO-1/comment").json()["comments"]
    assert [c["id"] for c in comments][-2:] == [ok.json()["id"], wiki.json()["id"]]


def test_cloud_attachment_redirects_to_another_origin(start):
    fj, http = start("cloud", issues=80)
    key = issue_with(fj, lambda i: bool(i.attachments))
    att = fj.dataset.issue(key).attachments[0]
    meta = http.get(f"/rest/api/3/issue/{key}", params={"fields": "attachment"}).json()
    content = meta["fields"]["attachment"][0]["content"]
    assert content.endswith(f"/rest/api/3/attachment/content/{att.id}")
    r = http.get(content)
    assert r.status_code == 303
    location = r.headers["Location"]
    assert location.startswith("http://localhost:")
    assert httpx.get(location).content == att.data  # no credentials sent
    assert httpx.get(location, headers=fj.auth_headers()).status_code == 200
    assert [d["authorization"] for d in fj.stats()["downloads"]] == [False, True]
    direct = http.get(content, params={"redirect": "false"})
    assert direct.status_code == 200 and direct.content == att.data


def test_datacenter_attachment_content_is_under_secure(start):
    fj, http = start("datacenter", issues=80)
    key = issue_with(fj, lambda i: bool(i.attachments))
    meta = http.get(f"/rest/api/2/issue/{key}", params={"fields": "attachment"}).json()
    first = meta["fields"]["attachment"][0]
    assert "/secure/attachment/" in first["content"]
    r = http.get(first["content"])
    assert r.status_code == 200 and len(r.content) == first["size"]
    assert httpx.get(first["content"]).status_code == 401  # needs the PAT


def test_bulkfetch_returns_issues_and_leaves_out_the_missing(start):
    """The Cloud spec (POST /rest/api/3/issue/bulkfetch, BulkIssueResults.issueErrors):
    "Issues which aren't found or that the user doesn't have permission to view
    won't be returned in this list"; it holds retriable errors only."""
    fj, http = start("cloud", issues=10)
    r = http.post(
        "/rest/api/3/issue/bulkfetch",
        json={"issueIdsOrKeys": ["DEMO-2", "10003", "DEMO-999"], "fields": ["summary"]},
    )
    body = r.json()
    assert [i["key"] for i in body["issues"]] == ["DEMO-2", "DEMO-3"]
    assert body["issueErrors"] == []
    too_many = http.post("/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": ["1"] * 101})
    assert too_many.status_code == 400


# --- faults ----------------------------------------------------------------------------


def test_fault_429_and_503_fire_the_set_number_of_times(start):
    fj, http = start("cloud", issues=5)
    fj.inject("429", count=2, path_contains="/myself", retry_after="0")
    fj.inject("503", count=1, path_contains="/myself")
    assert http.get("/rest/api/3/issue/DEMO-1").status_code == 200  # other paths untouched
    first = http.get("/rest/api/3/myself")
    assert first.status_code == 429 and first.headers["Retry-After"] == "0"
    assert first.headers["RateLimit-Reason"] == "jira-burst-based"
    assert http.get("/rest/api/3/myself").status_code == 429
    third = http.get("/rest/api/3/myself")
    assert third.status_code == 503 and "Retry-After" not in third.headers
    assert http.get("/rest/api/3/myself").status_code == 200
    assert fj.stats()["faults_fired"] == {"429": 2, "503": 1}


def test_fault_html_login_page_and_non_json(start):
    fj, http = start("cloud", issues=5)
    fj.inject("html200", count=1)
    fj.inject("notjson", count=1)
    page = http.get("/rest/api/3/myself")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<title>Log in - Jira</title>" in page.text
    junk = http.get("/rest/api/3/myself")
    assert junk.status_code == 200
    with pytest.raises(ValueError):
        junk.json()


def test_fault_truncate_cuts_the_body(start):
    fj, http = start("cloud", issues=5)
    fj.inject("truncate", count=1, path_contains="/issue/")
    with pytest.raises(httpx.HTTPError):
        http.get("/rest/api/3/issue/DEMO-1")
    assert http.get("/rest/api/3/issue/DEMO-1").status_code == 200


def test_unknown_fault_kind_is_rejected(start):
    fj, http = start("cloud", issues=5)
    with pytest.raises(ValueError):
        fj.inject("418")
    r = httpx.post(fj.url + "/_fake/faults", json={"kind": "418"})
    assert r.status_code == 400


# --- mutations and control API ----------------------------------------------------------


def test_update_bumps_updated_and_shows_in_incremental_search(start):
    fj, http = start("datacenter", issues=30)
    fj.set_now(fj.dataset.base_updated(30) + 3_600_000)
    since = fj.dataset.base_updated(30) + 1
    assert keys_of(http, f"project = DEMO AND updated >= {since}") == []
    fj.update_issue("DEMO-4", summary="Changed title", add_comment="a new note")
    assert keys_of(http, f"project = DEMO AND updated >= {since}") == ["DEMO-4"]
    fields = http.get("/rest/api/2/issue/DEMO-4", params={"fields": "summary,comment"}).json()
    assert fields["fields"]["summary"] == "Changed title"
    assert fields["fields"]["comment"]["comments"][-1]["body"] == "a new note"


def test_delete_hides_the_issue_everywhere(start):
    fj, http = start("datacenter", issues=10)
    fj.delete_issue("DEMO-3")
    assert "DEMO-3" not in keys_of(http, "project = DEMO")
    assert http.get("/rest/api/2/issue/DEMO-3").status_code == 404
    total = http.get("/rest/api/2/search", params={"jql": "project = DEMO"}).json()["total"]
    assert total == 9


def test_dc_refuses_an_id_list_naming_a_missing_issue_unless_told_not_to_validate(start):
    """Real Data Center fails the whole search over one id or key that no issue has."""
    fj, http = start("datacenter", issues=10)
    fj.delete_issue("DEMO-3")
    jql = "id in (10002, 10003, 10099)"
    refused = http.get("/rest/api/2/search", params={"jql": jql})
    assert refused.status_code == 400
    assert refused.json()["errorMessages"] == [
        "A value with ID '10003' does not exist for the field 'id'.",
        "A value with ID '10099' does not exist for the field 'id'.",
    ]
    lax = http.get("/rest/api/2/search", params={"jql": jql, "validateQuery": "false"}).json()
    assert [i["key"] for i in lax["issues"]] == ["DEMO-2"] and len(lax["warningMessages"]) == 2
    posted = http.post("/rest/api/2/search", json={"jql": "key in (DEMO-4, DEMO-3)"})
    assert posted.json()["errorMessages"] == [
        "An issue with key 'DEMO-3' does not exist for field 'key'."
    ]
    body = {"jql": "key in (DEMO-4, DEMO-3)", "validateQuery": False}
    assert [i["key"] for i in http.post("/rest/api/2/search", json=body).json()["issues"]] == [
        "DEMO-4"
    ]


def test_move_changes_the_key_not_the_id(start):
    fj, http = start("cloud", issues=10)
    before = http.get("/rest/api/3/issue/DEMO-5", params={"fields": "summary"}).json()
    moved = fj.move_issue("DEMO-5", "NEW")
    assert moved.key == "NEW-1"
    after = http.get("/rest/api/3/issue/NEW-1", params={"fields": "summary,project"}).json()
    assert after["id"] == before["id"]
    assert after["fields"]["project"]["key"] == "NEW"
    # The old key still resolves to the moved issue, as Jira redirects it.
    assert http.get("/rest/api/3/issue/DEMO-5").json()["key"] == "NEW-1"
    keys, _ = search_all_cloud(http, "project = NEW")
    assert keys == ["NEW-1"]
    assert http.get("/rest/api/3/project/NEW").status_code == 200


def test_control_endpoints(start):
    fj, http = start("cloud", issues=10)
    base = fj.url + "/_fake"
    http.get("/rest/api/3/issue/DEMO-1")
    stats = httpx.get(base + "/stats").json()
    assert stats["requests"] == {"/rest/api/3/issue/DEMO-1": 1}
    assert (
        httpx.post(base + "/faults", json={"kind": "502", "count": 2}).json()["pending"][0][
            "remaining"
        ]
        == 2
    )
    assert http.get("/rest/api/3/myself").status_code == 502
    assert httpx.get(base + "/faults").json()["fired"] == {"502": 1}
    assert httpx.post(base + "/faults", json={"clear": True}).json() == {"ok": True}
    assert http.get("/rest/api/3/myself").status_code == 200
    upd = httpx.post(base + "/mutate", json={"op": "update", "key": "DEMO-2", "summary": "x"})
    assert upd.json()["key"] == "DEMO-2"
    add = httpx.post(base + "/mutate", json={"op": "add", "summary": "brand new"}).json()
    assert add["key"] == "DEMO-11"
    assert httpx.post(base + "/mutate", json={"op": "delete", "key": "DEMO-11"}).json()["ok"]
    missing = httpx.post(base + "/mutate", json={"op": "delete", "key": "DEMO-11"})
    assert missing.status_code == 404
    assert httpx.post(base + "/mutate", json={"op": "nope"}).status_code == 400
    httpx.post(base + "/stats/reset")
    assert httpx.get(base + "/stats").json()["total"] == 0


def test_a_search_page_of_300000_issues_builds_only_that_page(start):
    fj, http = start("cloud", issues=300_000)
    body = http.get(
        "/rest/api/3/search/jql",
        params={
            "jql": "project = DEMO ORDER BY updated DESC",
            "fields": "summary",
            "maxResults": 50,
        },
    ).json()
    assert body["issues"][0]["key"] == "DEMO-300000"
    assert fj.dataset.generated == 50
    ids = http.get(
        "/rest/api/3/search/jql",
        params={"jql": "project = DEMO", "fields": "id", "maxResults": 5000},
    ).json()
    assert len(ids["issues"]) == 5000 and fj.dataset.generated == 50  # metadata only
    count = http.post("/rest/api/3/search/approximate-count", json={"jql": "project = DEMO"})
    assert count.json()["count"] == 300_000


# --- conformance with real payloads --------------------------------------------------------

# Keys real payloads have that fakejira leaves out on purpose, with the reason:
EMAIL_HIDDEN = "emailAddress"  # Cloud hides most people's e-mail (profile privacy)
OPTIONAL = {
    "editmeta", "changelog",  # only with expand=
    "parent",  # only on child issues
    "visibility",  # only on restricted comments
    "projectCategory",  # only when the project has one
    "entityId",  # team-managed issue types only
    "thumbnail",  # only for images
    "development",  # a Jira Software plugin field
    "description",  # components without a description omit it
    "originalEstimate", "remainingEstimate", "timeSpent",  # timetracking, only when set
    "originalEstimateSeconds", "remainingEstimateSeconds", "timeSpentSeconds",
}  # fmt: skip


def conformance_cases(c: httpx.Client, d: httpx.Client, ckey: str, dkey: str, catt, datt):
    return [
        ("serverinfo_cloud.json", c.get("/rest/api/2/serverInfo"), None),
        ("serverinfo_server.json", d.get("/rest/api/2/serverInfo"), None),
        ("myself_cloud.json", c.get("/rest/api/3/myself", params={"expand": "groups"}), None),
        ("myself_dc.json", d.get("/rest/api/2/myself"), None),
        ("attachment_meta_cloud.json", c.get(f"/rest/api/3/attachment/{catt}"), None),
        ("attachment_meta_dc.json", d.get(f"/rest/api/2/attachment/{datt}"), None),
        ("search_v2_dc.json", d.get("/rest/api/2/search", params={
            "jql": "project = DEMO", "fields": "summary,status,resolution", "maxResults": 2}), None),
        ("search_v3_cloud_issues.json", c.get("/rest/api/3/search/jql", params={
            "jql": "project = DEMO", "fields": "*all", "maxResults": 2}), lambda b: {"issues": b["issues"]}),
        ("issue_v3_cloud.json", c.get(f"/rest/api/3/issue/{ckey}"), None),
        ("issue_v2_cloud.json", c.get(f"/rest/api/2/issue/{ckey}"), None),
        ("issue_v2_dc.json", d.get(f"/rest/api/2/issue/{dkey}"), None),
        ("comments_v3_cloud.json", c.get(f"/rest/api/3/issue/{ckey}/comment",
                                         params={"expand": "renderedBody"}), None),
        ("comments_v2_cloud.json", c.get(f"/rest/api/2/issue/{ckey}/comment"), None),
        ("error_collection.json", d.get("/rest/api/2/search", params={"jql": "nope = 1"}), None),
    ]  # fmt: skip


def test_fakejira_payloads_have_the_keys_and_types_of_real_jira(start):
    cloud, c = start("cloud", issues=120, seed=3)
    dc, d = start("datacenter", issues=120, seed=3)

    def rich(fj):
        return issue_with(fj, lambda i: i.comments and i.attachments and i.assignee is not None)

    ckey, dkey = rich(cloud), rich(dc)
    catt = cloud.dataset.issue(ckey).attachments[0].id
    datt = dc.dataset.issue(dkey).attachments[0].id
    problems = {}
    matched = 0
    for name, response, pick in conformance_cases(c, d, ckey, dkey, catt, datt):
        body = response.json()
        report = compare(real(name), pick(body) if pick else body)
        matched += len(report.matched)
        missing = [
            p for p in report.missing
            if p.rsplit(".", 1)[-1] not in OPTIONAL and not p.endswith(EMAIL_HIDDEN)
        ]  # fmt: skip
        if missing or report.mismatched:
            problems[name] = {"missing": missing, "types": report.mismatched}
    assert problems == {}
    assert matched > 600  # the comparison really walked the payloads


def test_error_bodies_match_the_quoted_real_ones(start):
    cloud, c = start("cloud", issues=5)
    dc, _ = start("datacenter", issues=5)
    quoted = real("errors_quoted.json")
    assert c.get("/rest/api/3/issue/DEMO-77").json() == quoted["404_issue"]
    project = c.get("/rest/api/3/project/VULN").json()
    assert project == quoted["404_project"]
    removed = c.get("/rest/api/3/search", params={"jql": "project = DEMO"}).json()
    assert removed == quoted["410_search"]
    post = httpx.post(dc.url + "/rest/api/2/issue/DEMO-1/comment", json={"body": "x"})
    assert post.status_code == 401 and post.json() == quoted["401_post"]
    plain = httpx.get(cloud.url + "/rest/api/3/myself")
    assert plain.text == quoted["401_plain_text"]


def test_shape_comparison_catches_differences():
    """The comparer itself: a conformance test that cannot fail would prove nothing."""
    report = compare(
        {"id": 1, "a": {"b": "x"}, "list": [{"k": True}], "customfield_1": 3, "n": None},
        {"id": "1", "a": {}, "list": [{"k": 1}], "n": {"z": 1}, "more": 1},
    )
    assert report.mismatched == [("id", "number", "string"), ("list[].k", "boolean", "number")]
    assert report.missing == ["a.b"]
    assert report.extra == ["more"]
    assert report.skipped == ["customfield_1"]
    assert compare({"errors": {"x": "y"}}, {"errors": {"q": "r"}}).ok
    assert not compare({"errors": {"x": "y"}}, {"errors": {"q": 1}}).ok


def test_a_dataset_can_start_at_any_moment_for_a_demo_that_reads_as_live():
    """The demo starts its project so that the newest issue changed an hour ago;
    tests keep the fixed 2023 start their cassettes were recorded with."""
    from fakejira.dataset import START_MS, STEP_MS, Dataset

    fixed, moved = Dataset(50, 7), Dataset(50, 7, start_ms=START_MS + 86_400_000)
    assert fixed.base_updated(1) == moved.base_updated(1) - 86_400_000
    assert moved.issue(50).created == fixed.issue(50).created + 86_400_000
    assert moved.base_updated(50) - moved.start_ms <= 51 * STEP_MS


def test_rendered_issues_and_comments_stay_byte_for_byte_what_they_were(start, monkeypatch):
    """Cassettes were recorded from fakejira, and benchmarks compare indexes built from
    it: a faster fakejira must serve the very same bytes (digests of its replies at
    the time, the site address left out). Unedited comments have their time written
    once for `created` and `updated`."""
    import hashlib

    from fakejira import payloads

    written: list[int] = []
    real_ts = payloads.ts
    monkeypatch.setattr(payloads, "ts", lambda ms, tz: written.append(ms) or real_ts(ms, tz))
    fj, http = start(issues=40, seed=11, start_ms=1_700_000_000_000)
    site = fj.url.encode()
    issues = http.post(
        "/rest/api/3/issue/bulkfetch",
        json={"issueIdsOrKeys": [f"DEMO-{i}" for i in range(1, 41)], "fields": ["*all"]},
    )
    written.clear()
    thread = http.get("/rest/api/2/issue/DEMO-7/comment", params={"maxResults": 50})
    comments = thread.json()["comments"]
    assert comments and all(c["created"] == c["updated"] for c in comments)
    assert len(written) == len(comments)
    digests = [
        hashlib.sha256(r.content.replace(site, b"SITE")).hexdigest()[:16] for r in (issues, thread)
    ]
    assert digests == ["82b3a974c6c82884", "147b5bd85a74be49"]


def test_cloud_searches_without_credentials_answer_200_with_nothing(start):
    """As Jira Cloud does (Atlassian KB, jira-api.md (b)): an anonymous search on a
    private site is 200 with no issues, not a 401; /myself still says 401."""
    fj, _ = start("cloud", issues=5)
    r = httpx.get(fj.url + "/rest/api/3/search/jql", params={"jql": "project = DEMO"})
    assert r.status_code == 200 and r.json() == {"issues": [], "isLast": True}
    count = httpx.post(
        fj.url + "/rest/api/3/search/approximate-count", json={"jql": "project = DEMO"}
    )
    assert count.status_code == 200 and count.json() == {"count": 0}
    assert httpx.get(fj.url + "/rest/api/3/myself").status_code == 401


def test_cloud_refuses_a_comment_past_the_per_issue_limit_with_413(start):
    """CLOUD-SPEC: POST comment answers 413 "if the per-issue limit has been
    breached" (5,000 comments on Cloud); jiradex says so rather than "too large"."""
    from indexer.jira import JiraBadRequestError, JiraClient

    fj, http = start("cloud", issues=3)
    fj.comment_limit = len(fj.dataset.issue("DEMO-1").comments) + 1
    body = {"version": 1, "type": "doc", "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "the last one"}]}]}  # fmt: skip
    assert http.post("/rest/api/3/issue/DEMO-1/comment", json={"body": body}).status_code == 201
    refused = http.post("/rest/api/3/issue/DEMO-1/comment", json={"body": body})
    assert refused.status_code == 413 and refused.json()["errorMessages"]
    client = JiraClient(fj.url, username=fj.email, token=fj.token)
    with client, pytest.raises(JiraBadRequestError, match="per-issue limit of comments"):
        client.add_comment("DEMO-1", "One more")
    assert len(fj.dataset.issue("DEMO-1").comments) == fj.comment_limit


def test_fault_captcha_403_and_empty_200_as_jira_sends_them(start):
    """The two refusals jira-api.md (i) quotes: Data Center's 403 with an HTML body
    after a CAPTCHA trip, and a 200 with an empty body plus AUTHENTICATED_FAILED;
    jiradex names both as credential problems."""
    from indexer.jira import JiraAuthError, JiraClient

    fj, http = start("datacenter", issues=5)
    fj.inject("captcha403", count=1)
    fj.inject("empty200", count=1)
    captcha = http.get("/rest/api/2/myself")
    assert captcha.status_code == 403 and captcha.headers["content-type"].startswith("text/html")
    assert captcha.headers["X-Authentication-Denied-Reason"].startswith("CAPTCHA_CHALLENGE")
    empty = http.get("/rest/api/2/myself")
    assert empty.status_code == 200 and empty.content == b""
    assert empty.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    fj.inject("captcha403", count=1)
    fj.inject("empty200", count=1)
    client = JiraClient(fj.url, token=fj.token, deployment="datacenter")
    with client:
        with pytest.raises(JiraAuthError, match="CAPTCHA"):
            client.myself()
        with pytest.raises(JiraAuthError, match="personal access token"):
            client.myself()
