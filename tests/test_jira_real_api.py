"""The client against what real Jira does, where that differs from fakejira or from
what the client assumed: each test feeds a real captured payload (tests/fixtures/jira,
see its PROVENANCE.md) or a shape Atlassian documents (../shared/jira-api.md), through
httpx.MockTransport as tests/test_jira_unit.py does."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from test_jira_unit import CLOUD_INFO, DC_INFO, _dc_window_server, dc_client, make_client, ok

from indexer.jira import JiraAuthError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "jira"


def real(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# ------------------------------------------------------------------ a refused login


@pytest.mark.parametrize("reason", ["AUTHENTICATED_FAILED", "AUTHENTICATION_DENIED"])
def test_a_refused_login_answered_as_anonymous_data_is_an_auth_error(reason):
    """Seraph (Data Center, and Cloud sites that allow anonymous browsing) does not
    always answer a refused login with a 401: the request goes on as anonymous, comes
    back 200 with what anonymous may see, and says `X-Seraph-LoginReason:
    AUTHENTICATED_FAILED` (or AUTHENTICATION_DENIED once a CAPTCHA is due). Taken as
    data, a revoked token looks like a project with fewer issues (reconcile then
    deletes the rest from the index); it must fail as an authentication error."""
    page = real("search_v2_dc.json")  # a real issues.apache.org /rest/api/2/search page
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(DC_INFO),
            ("GET", "/rest/api/2/search"): ok(page, headers={"X-Seraph-LoginReason": reason}),
        },
        username=None,  # a Data Center personal access token
    )
    with pytest.raises(JiraAuthError, match="personal access token"):
        list(client.search_ids("project = SLING"))
    assert rec.requests[-1].headers["Authorization"].startswith("Bearer ")


def test_a_refused_login_on_cloud_search_jql_is_an_auth_error():
    issues = real("search_v3_cloud_issues.json")["issues"]  # a real Cloud v3 search page
    page = {"issues": issues, "isLast": True}
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/search/jql"): ok(
                page, headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"}
            ),
        }
    )
    with pytest.raises(JiraAuthError, match="e-mail and API token"):
        list(client.search_ids("project = TESTKEY13"))


def test_a_login_reason_of_ok_or_an_anonymous_client_is_data():
    page = real("search_v2_dc.json")
    for username, token, reason in ((None, "pat", "OK"), (None, None, "AUTHENTICATED_FAILED")):
        client, _ = make_client(
            {
                ("GET", "/rest/api/2/serverInfo"): ok(DC_INFO),
                ("GET", "/rest/api/2/search"): ok(page, headers={"X-Seraph-LoginReason": reason}),
            },
            username=username,
            token=token,
        )
        keys = [item["key"] for item in client.search_ids("project = SLING")]
        assert keys == ["SLING-8707", "SLING-8699"]


def test_a_refused_login_on_an_attachment_download_is_an_auth_error():
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(DC_INFO),
            ("GET", "/secure/attachment/12944294/LUCENE-6572.patch"): httpx.Response(
                200,
                content=b"diff --git a/x b/x\n",
                headers={
                    "Content-Type": "text/plain",
                    "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
                },
            ),
        },
        username=None,
    )
    with pytest.raises(JiraAuthError):
        client.fetch_attachment(client.site_url + "/secure/attachment/12944294/LUCENE-6572.patch")


# ------------------------------------------------------------------ the DC search window


def _kb_refusal(asked: int, window: int, shape: str) -> httpx.Response:
    """Data Center's answer past its search window, as Atlassian's KB quotes it
    (support.atlassian.com/jira/kb/handling-jql-rest-api-searching-exceeding-
    max_result_window-in-jira): an HTTP 500, in the Status entity's XML or JSON form."""
    message = (
        f"Search limit exceeded. We couldn't complete your search because it requests "
        f"{asked:,} results which exceeded the search platform limit of {window:,}. Try "
        "refining your query or contact your Jira administrator. Repeating the same "
        "search may not work."
    )
    trace = "Please contact your admin passing attached Log's referral number: 91a9a4e4-244c-4d3a-939d-c50b92d49d02"
    if shape == "xml":
        body = f"<message>{message}</message> <stack-trace>{trace}</stack-trace>"
        return httpx.Response(500, text=body, headers={"Content-Type": "application/xml"})
    return ok({"message": message, "status-code": 500, "stack-trace": trace}, status=500)


@pytest.mark.parametrize("past_window", ["xml", "json", "empty"])
def test_a_dc_listing_learns_a_lowered_window_from_a_500_or_empty_pages(past_window):
    """An admin may lower `jira.search.platform.max.result.window` below 10,000. Past
    it Data Center answers "an error or empty results" (the KB above): a 500, not the
    400 fakejira sends, or pages with no issues while `total` says there are more.
    The listing must learn the window and list every issue by slices, not fail on
    the 500 nor stop short at the window (which reconcile would take for deletions)."""
    base = 1_700_000_000_000
    updated = [base + i * 45_000 for i in range(30)]
    search, asked = _dc_window_server(updated, window=10_000, cap=4)
    window = 12

    def lowered(request):
        start = int(request.url.params["startAt"])
        size = min(int(request.url.params["maxResults"]), 4)
        if start + size <= window:
            return search(request)
        if past_window == "empty":
            total = search(request).json()["total"]  # what Jira counts, none served
            return ok({"startAt": start, "maxResults": size, "total": total, "issues": []})
        return _kb_refusal(start + size, window, past_window)

    client, _ = dc_client(lowered)
    ids = [item["id"] for item in client.search_ids("project = D", page_size=4)]
    assert ids == [str(100 + i) for i in range(30)]  # all, once, in updated order
    assert client.dc_search_window == window


# ------------------------------------------------------------------ a long Retry-After


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "300"}, {"X-RateLimit-Reset": "in an hour"}],
    ids=["retry-after", "rate-limit-reset"],
)
def test_a_rate_limit_wait_longer_than_the_budget_is_not_cut_short(headers):
    """Atlassian (rate-limiting docs, as quoted in JRACLOUD-69262): a client that
    retries before Retry-After gets "the same or longer" wait. A wait longer than the
    request's budget (120 s) was cut to 120 s and the request sent again early, to
    be limited again; it must fail at once instead, saying how long Jira asked."""
    from datetime import UTC, datetime, timedelta

    from indexer.jira import JiraRateLimitError, RetryPolicy

    if "X-RateLimit-Reset" in headers:  # ISO 8601 to the minute, as Cloud sends it
        moment = datetime.now(UTC) + timedelta(hours=1)
        headers = {"X-RateLimit-Reset": moment.strftime("%Y-%m-%dT%H:%MZ")}
    waits: list[float] = []
    limited = httpx.Response(
        429,
        json={"errorMessages": ["Rate limit exceeded."], "errors": {}},
        headers={**headers, "RateLimit-Reason": "jira-quota-based"},
    )
    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): [limited, ok(DC_INFO)]},
        retry=RetryPolicy(sleep=waits.append),  # the default 120 s budget
    )
    with pytest.raises(JiraRateLimitError, match=r"asked to wait (300|3[4-6]\d\d) s"):
        client.server_info()
    assert waits == [] and len(rec.requests) == 1


# ------------------------------------------------------------------ bulkfetch issueErrors


@pytest.mark.parametrize("decoded", [False, True])
def test_issues_bulkfetch_could_not_return_this_time_are_asked_again(decoded):
    """CLOUD-SPEC, BulkIssueResults.issueErrors: "When Jira can't return an issue ...
    due to a retriable error or payload constraint, we'll return the respective issue
    ID with a corresponding error message" (issues not found are not listed there).
    Those issues were dropped: to the sync, gone from Jira. They are asked again."""
    from indexer import prepare

    real_issue = real("search_v3_cloud_issues.json")["issues"][0]  # id 10627, a real bean
    other = {**real_issue, "id": "10628", "key": "TESTKEY13-2"}
    asked: list[list[str]] = []

    def bulkfetch(request):
        wanted = json.loads(request.content)["issueIdsOrKeys"]
        asked.append(wanted)
        if len(asked) == 1:
            error = {"id": "10627", "errorMessage": "Issue could not be retrieved, try again."}
            return ok({"expand": "schema,names", "issues": [other], "issueErrors": [error]})
        beans = [b for b in (real_issue, other) if b["id"] in wanted]
        return ok({"expand": "schema,names", "issues": beans, "issueErrors": []})

    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("POST", "/rest/api/3/issue/bulkfetch"): bulkfetch,
        }
    )
    decode = prepare.Preparer(datasource="jira", site_url=client.site_url).issues
    got = client.bulkfetch(["10627", "10628"], ["summary"], decode=decode if decoded else None)
    ids = sorted(i["record"]["id"] if decoded else i["id"] for i in got)
    assert ids == ["10627", "10628"]
    assert asked == [["10627", "10628"], ["10627"]]


def test_an_issue_bulkfetch_keeps_failing_is_left_out_after_a_few_tries():
    waits: list[float] = []
    asked: list[list[str]] = []

    def bulkfetch(request):
        asked.append(json.loads(request.content)["issueIdsOrKeys"])
        error = {"id": "10627", "errorMessage": "Issue could not be retrieved, try again."}
        return ok({"issues": [], "issueErrors": [error]})

    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("POST", "/rest/api/3/issue/bulkfetch"): bulkfetch,
        },
        sleeps=waits,
    )
    assert client.bulkfetch(["10627"], ["summary"]) == []
    assert asked == [["10627"]] * 3 and len(waits) == 2
