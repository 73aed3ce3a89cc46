"""The client against what real Jira does, where that differs from fakejira or from
what the client assumed: each test feeds a real captured payload (tests/fixtures/jira,
see its PROVENANCE.md) or a shape Atlassian documents (../shared/jira-api.md), through
httpx.MockTransport as tests/test_jira_unit.py does."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from test_jira_unit import CLOUD_INFO, DC_INFO, make_client, ok

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
