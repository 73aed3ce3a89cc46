"""Unit tests of the Jira client against httpx.MockTransport (no network, no sleeps).

Cassette tests (test_jira_cassettes.py) cover the same paths against fakejira; these
cover what a cassette cannot hold: header shapes, network errors, exact waits.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from indexer import prepare, secrets
from indexer.errors import ConfigError, JiraError
from indexer.jira import (
    AIMDLimiter,
    InvalidIssueKeyError,
    IssueNotFoundError,
    JiraAuthError,
    JiraBadRequestError,
    JiraClient,
    JiraConnectionError,
    JiraGoneError,
    JiraInsecureError,
    JiraNotEnabledError,
    JiraNotFoundError,
    JiraPermissionError,
    JiraRateLimitError,
    JiraResponseError,
    JiraServerError,
    JiraTimeoutError,
    ProjectNotFoundError,
    RetryPolicy,
    client_for_connection,
    client_for_datasource,
    error_messages,
    parse_retry_after,
)

SITE = "https://example.atlassian.net"
TOKEN = "unit-secret-token-0001"
CLOUD_INFO = {"deploymentType": "Cloud", "version": "1001.0.0-SNAPSHOT"}
DC_INFO = {"version": "9.12.0", "versionNumbers": [9, 12, 0]}
JSON_TYPE = {"Content-Type": "application/json"}
PREP = {"datasource": "jira", "site_url": SITE}


class Recorder:
    """A MockTransport handler: routes by (method, path), records every request."""

    def __init__(self, routes: dict[tuple[str, str], Callable | list | httpx.Response]):
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path)
        target = self.routes.get(key)
        if target is None:
            key = (request.method, request.url.host + request.url.path)
            target = self.routes.get(key)
        if target is None:
            return httpx.Response(404, json={"errorMessages": [f"no route {key}"]})
        if isinstance(target, list):
            item = target.pop(0) if len(target) > 1 else target[0]
            return item(request) if callable(item) else item
        if callable(target):
            return target(request)
        return target

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def make_client(
    routes, *, site=SITE, username="me@example.com", token=TOKEN, cloud_id=None, sleeps=None, **kw
) -> tuple[JiraClient, Recorder]:
    recorder = Recorder(routes)
    waits = sleeps if sleeps is not None else []
    policy = kw.pop("retry", None) or RetryPolicy(sleep=waits.append, budget_seconds=1000)
    client = JiraClient(
        site,
        username=username,
        token=token,
        cloud_id=cloud_id,
        transport=httpx.MockTransport(recorder),
        retry=policy,
        **kw,
    )
    return client, recorder


def ok(data, status=200, headers=None) -> httpx.Response:
    return httpx.Response(status, json=data, headers=headers)


# ------------------------------------------------------------------ auth shapes


def test_basic_auth_header_for_cloud_api_token():
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/myself"): ok({"displayName": "Me"}),
        }
    )
    assert client.auth_mode == "basic"
    client.myself()
    header = rec.requests[-1].headers["Authorization"]
    assert header == "Basic " + base64.b64encode(f"me@example.com:{TOKEN}".encode()).decode()
    assert rec.paths() == ["/rest/api/2/serverInfo", "/rest/api/3/myself"]


def test_bearer_auth_for_data_center_pat():
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(DC_INFO),
            ("GET", "/rest/api/2/myself"): ok({"name": "me"}),
        },
        username=None,
    )
    assert client.auth_mode == "bearer"
    client.myself()
    assert rec.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    assert client.deployment == "datacenter" and client.api_version == "2"


def test_anonymous_sends_no_authorization():
    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): ok(DC_INFO)}, username=None, token=None
    )
    assert client.auth_mode == "anonymous"
    client.server_info()
    assert "Authorization" not in rec.requests[-1].headers


def test_service_account_goes_through_gateway_and_browse_keeps_site(monkeypatch):
    monkeypatch.setenv("JIRADEX_GATEWAY_URL", "https://gw.example.test/")
    client, rec = make_client(
        {("GET", "gw.example.test/ex/jira/cid-123/rest/api/3/myself"): ok({"displayName": "Bot"})},
        username="bot@serviceaccount.atlassian.com",
        cloud_id="cid-123",
    )
    assert client.auth_mode == "service_account"
    assert client.api_base == "https://gw.example.test/ex/jira/cid-123"
    assert client.deployment == "cloud"  # no serverInfo request needed
    client.myself()
    sent = rec.requests[-1]
    assert str(sent.url) == "https://gw.example.test/ex/jira/cid-123/rest/api/3/myself"
    assert sent.headers["Authorization"].startswith("Basic ")
    assert client.browse_url("ABC-1") == "https://example.atlassian.net/browse/ABC-1"


def test_default_gateway_and_context_path_kept():
    client = JiraClient(
        "https://issues.example.org/jira/", cloud_id="c1", username="b@x", token=TOKEN
    )
    assert client.api_base == "https://api.atlassian.com/ex/jira/c1"
    assert client.browse_url("LUCENE-1") == "https://issues.example.org/jira/browse/LUCENE-1"
    dc = JiraClient("https://issues.example.org/jira/")
    assert dc.api_base == "https://issues.example.org/jira"


def test_service_account_without_email_is_a_config_error():
    with pytest.raises(ConfigError, match="e-mail"):
        JiraClient(SITE, token=TOKEN, cloud_id="c1")


def test_refuses_credentials_over_plain_http_to_remote_host():
    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): ok(DC_INFO)}, site="http://jira.example.com"
    )
    with pytest.raises(JiraInsecureError, match="plain http"):
        client.server_info()
    assert rec.requests == []
    loop, rec2 = make_client(
        {("GET", "/rest/api/2/serverInfo"): ok(DC_INFO)}, site="http://127.0.0.1:8080"
    )
    loop.server_info()
    assert rec2.requests[0].headers["Authorization"].startswith("Basic ")
    anon, _ = make_client(
        {("GET", "/rest/api/2/serverInfo"): ok(DC_INFO)},
        site="http://jira.example.com",
        username=None,
        token=None,
    )
    assert anon.server_info() == DC_INFO


def test_token_never_in_repr_and_registered_for_redaction():
    client = JiraClient(SITE, username="me@example.com", token=TOKEN)
    assert TOKEN not in repr(client) and TOKEN not in repr(client.auth)
    assert TOKEN not in secrets.redact(f"oops {TOKEN}")


def test_builders_read_attributes_and_disabled_connection():
    class Ds:
        endpoint = "https://issues.example.org/jira"
        username = None
        token = TOKEN
        cloud_id = None

    assert client_for_datasource(Ds()).auth_mode == "bearer"
    assert client_for_datasource(Ds()).max_concurrency == 6

    class Polite(Ds):
        max_concurrency = 2

    assert client_for_datasource(Polite()).max_concurrency == 2

    class Conn:
        enabled = True
        base_url = SITE
        email = "me@example.com"
        api_token = TOKEN
        cloud_id = "cid"

    client = client_for_connection(Conn())
    assert client.auth_mode == "service_account"
    Conn.enabled = False
    with pytest.raises(JiraNotEnabledError, match="Jira integration not enabled"):
        client_for_connection(Conn())
    with pytest.raises(JiraNotEnabledError, match="Jira integration not enabled"):
        client_for_connection(None)


def test_bad_site_url():
    with pytest.raises(ConfigError, match="site URL"):
        JiraClient("")
    with pytest.raises(ConfigError, match="Invalid Jira site URL"):
        JiraClient("ftp://x")
    assert JiraClient("example.atlassian.net").site_url == SITE


# ------------------------------------------------------------------ retries


def seq(*responses):
    return list(responses)


def test_429_honours_retry_after_seconds_then_succeeds():
    waits: list[float] = []
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): seq(
                httpx.Response(429, headers={"Retry-After": "7"}), ok(DC_INFO)
            )
        },
        sleeps=waits,
    )
    assert client.server_info() == DC_INFO
    assert waits == [7.0]
    assert client.request_counts()["rate_limited"] == 1
    assert client.request_counts()["requests"] == 2


def test_429_with_zero_or_missing_retry_after_backs_off_doubling_with_jitter():
    waits: list[float] = []
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): seq(
                httpx.Response(429, headers={"Retry-After": "0"}),
                httpx.Response(429),
                httpx.Response(429),
                ok(DC_INFO),
            )
        },
        sleeps=waits,
    )
    client.server_info()
    assert len(waits) == 3
    base = client.retry.base_delay
    for n, wait in enumerate(waits, start=1):
        assert base * 2 ** (n - 1) * 0.5 <= wait <= base * 2 ** (n - 1)
    assert all(w > 0 for w in waits)


def test_retry_after_http_date():
    from datetime import UTC, datetime

    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30
    assert parse_retry_after("garbage", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after("2.5", now=now) == 2.5
    # Numbers that are no wait: a sync ended on "inf" wrote Infinity into its JSON
    # line and held the datasource for ever (helper-38).
    for nonsense in ("inf", "-inf", "nan", "Infinity"):
        assert parse_retry_after(nonsense, now=now) is None


def test_rate_limit_reset_moment():
    from datetime import UTC, datetime

    from indexer.jira.http import parse_rate_limit_reset

    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_rate_limit_reset("2025-01-01T12:01Z", now=now) == 60
    assert parse_rate_limit_reset("2025-01-01T12:00:45.000Z", now=now) == 45
    assert parse_rate_limit_reset("2025-01-01T13:00:10+01:00", now=now) == 10
    assert parse_rate_limit_reset("2025-01-01T11:59Z", now=now) == 0  # already past
    assert parse_rate_limit_reset("soon", now=now) is None
    assert parse_rate_limit_reset(None, now=now) is None


def test_429_without_retry_after_waits_for_the_rate_limit_reset():
    """JRACLOUD-82801: Retry-After is not always sent; X-RateLimit-Reset says when."""
    from datetime import UTC, datetime, timedelta

    waits: list[float] = []
    reset = (datetime.now(UTC) + timedelta(seconds=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): seq(
                httpx.Response(429, headers={"X-RateLimit-Reset": reset}), ok(DC_INFO)
            )
        },
        sleeps=waits,
    )
    client.server_info()
    [wait] = waits
    assert 37 <= wait <= 40


@pytest.mark.parametrize("retry_after", ["1", None], ids=["retry-after-1", "no-retry-after"])
def test_a_429_storm_is_waited_out_for_the_120s_budget_then_fails_clearly(retry_after):
    """ENGINE.md: 429s wait "all within a 120 s budget per request". A storm is retried
    until the budget is spent (not for a few seconds): Retry-After is the least each
    wait is, and the doubling back-off (to 30 s) makes it a dozen requests at most."""
    waits: list[float] = []
    headers = {"Retry-After": retry_after} if retry_after else {}
    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): httpx.Response(429, headers=headers)},
        retry=RetryPolicy(sleep=waits.append),  # the default budget, waits not slept
    )
    with pytest.raises(JiraRateLimitError, match="rate limiting") as info:
        client.server_info()
    budget, longest = client.retry.budget_seconds, client.retry.max_delay
    assert budget == 120
    # Spent: the next wait (30 s at most) would have passed the budget.
    assert budget - longest < sum(waits) <= budget
    assert len(rec.requests) == len(waits) + 1 <= 14 < client.retry.max_attempts
    if retry_after:
        assert min(waits) >= 1.0  # Retry-After honoured
    assert waits[-1] > 4 * waits[0]  # and the waits grew
    assert f"after {len(rec.requests)} attempts" in str(info.value)


@pytest.mark.parametrize("interactive", [False, True])
def test_a_429_error_advises_on_concurrency_only_where_there_is_one(interactive):
    """A sync runs several requests at once and its datasource may be given fewer;
    a task import or post is one request, and advice to lower a concurrency it does
    not have sent the user looking for a setting that does nothing (helper-34)."""
    client, _ = make_client(
        {("GET", "/rest/api/2/serverInfo"): httpx.Response(429, headers={"Retry-After": "1"})},
        retry=RetryPolicy(sleep=lambda _: None, budget_seconds=10),
        interactive=interactive,
    )
    with pytest.raises(JiraRateLimitError) as info:
        client.server_info()
    assert str(info.value).startswith("Jira kept rate limiting requests (HTTP 429)")
    assert ("max_concurrency" in str(info.value)) is not interactive
    assert "try again later" in str(info.value)
    ds = types.SimpleNamespace(endpoint=SITE, username="me@example.com", token=TOKEN)
    with client_for_datasource(ds, interactive=interactive) as built:
        assert built.interactive is interactive


def test_a_long_wait_asked_at_once_is_named_as_such_and_kept_on_the_error():
    """A 429 asking for 300 s fails its request at once (881f2ef). It said Jira "kept
    rate limiting requests after 1 attempt" and advised lowering the concurrency, for
    what is a quota to wait out (helper-37); the wait asked for is on the error."""
    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): httpx.Response(429, headers={"Retry-After": "300"})},
        retry=RetryPolicy(sleep=lambda _: None),
    )
    with pytest.raises(JiraRateLimitError) as info:
        client.server_info()
    assert str(info.value) == (
        "Jira is rate limiting requests (HTTP 429): try again later "
        "(Jira asked to wait 300 s before trying again)"
    )
    assert info.value.retry_after == 300 and len(rec.requests) == 1


def test_retry_budget_stops_long_waits():
    waits: list[float] = []
    policy = RetryPolicy(sleep=waits.append, budget_seconds=10)
    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): httpx.Response(429, headers={"Retry-After": "60"})},
        retry=policy,
    )
    with pytest.raises(JiraRateLimitError):
        client.server_info()
    assert waits == [] and len(rec.requests) == 1


def test_503_honours_retry_after():
    waits: list[float] = []
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): seq(
                httpx.Response(503, headers={"Retry-After": "3"}), ok(DC_INFO)
            )
        },
        sleeps=waits,
    )
    client.server_info()
    assert waits == [3.0]


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_retry_with_backoff(status):
    waits: list[float] = []
    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): seq(httpx.Response(status), ok(DC_INFO))}, sleeps=waits
    )
    client.server_info()
    assert len(waits) == 1 and len(rec.requests) == 2


def test_a_500_is_retried_once_for_reads_only():
    waits: list[float] = []
    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): seq(httpx.Response(500), ok(DC_INFO))}, sleeps=waits
    )
    client.server_info()
    assert len(waits) == 1 and len(rec.requests) == 2
    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): httpx.Response(500, text="NullPointerException")},
        sleeps=waits,
    )
    with pytest.raises(JiraServerError, match="HTTP 500 after 2 attempts"):
        client.server_info()
    assert len(rec.requests) == 2


def test_500_kept_failing_message():
    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): httpx.Response(502, text="Bad gateway")}
    )
    with pytest.raises(JiraServerError, match=r"HTTP 502 after \d+ attempts"):
        client.server_info()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_client_errors_never_retry(status):
    waits: list[float] = []
    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): httpx.Response(status, json={"errorMessages": ["x"]})},
        sleeps=waits,
    )
    with pytest.raises(JiraError):
        client.server_info()
    # (a refused login is followed by one anonymous serverInfo, to name the deployment)
    sent = [r for r in rec.requests if "Authorization" in r.headers]
    assert len(sent) == 1 and waits == []


def test_connection_error_retries_then_clear_message():
    waits: list[float] = []
    calls = []

    def refuse(request):
        calls.append(request)
        raise httpx.ConnectError("[Errno 111] Connection refused")

    client, _ = make_client({("GET", "/rest/api/2/serverInfo"): refuse}, sleeps=waits)
    with pytest.raises(JiraConnectionError, match="refused: check the site URL"):
        client.server_info()
    assert len(calls) == client.retry.max_network_attempts == 3 and len(waits) == 2


def test_connection_error_then_success():
    state = {"n": 0}

    def flaky(request):
        state["n"] += 1
        if state["n"] == 1:
            raise httpx.ConnectError("boom")
        return ok(DC_INFO)

    client, _ = make_client({("GET", "/rest/api/2/serverInfo"): flaky})
    assert client.server_info() == DC_INFO


def test_timeout_message_names_site():
    def slow(request):
        raise httpx.ConnectTimeout("timed out")

    client, _ = make_client({("GET", "/rest/api/2/serverInfo"): slow})
    with pytest.raises(JiraTimeoutError) as info:
        client.server_info()
    assert str(info.value) == (
        f"Connection to {SITE} timed out: check the site URL and your network"
    )


def test_dns_failure_message():
    def nodns(request):
        raise httpx.ConnectError("[Errno -2] Name or service not known")

    client, _ = make_client({("GET", "/rest/api/2/serverInfo"): nodns})
    with pytest.raises(JiraConnectionError, match="Cannot resolve the host example.atlassian.net"):
        client.server_info()


ME_DC = {"name": "alex", "key": "JIRAUSER10000", "displayName": "Alex Doe"}
RESULT = "The **fix** is in `pool.py`.\n\n- retries bounded\n"


def lost_post_client(comments, *, post_error=None, myself=ME_DC):
    """A Data Center client whose comment POST reaches Jira but loses its answer
    (`post_error`, a read timeout by default); `comments` answers the comment list."""
    posts = []

    def post(request):
        posts.append(request)
        raise post_error or httpx.ReadTimeout("read timed out")

    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(DC_INFO),
            ("GET", "/rest/api/2/myself"): ok(myself),
            ("POST", "/rest/api/2/issue/ABC-1/comment"): post,
            ("GET", "/rest/api/2/issue/ABC-1/comment"): comments,
        },
        username=None,
    )
    return client, rec, posts


def comment_page(*comments):
    return ok({"startAt": 0, "maxResults": 50, "total": len(comments), "comments": list(comments)})


def dc_comment(ident, body, *, author=ME_DC, minutes_ago=0):
    created = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "id": ident,
        "author": {"name": author["name"], "key": author["key"]},
        "body": body,
        "created": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
    }


def test_a_post_whose_answer_was_lost_is_found_on_the_issue_not_posted_twice():
    from indexer import markup

    wiki = markup.markdown_to_wiki(RESULT)
    client, rec, posts = lost_post_client(
        comment_page(dc_comment("501", wiki), dc_comment("500", "older, someone else's"))
    )
    created = client.add_comment("ABC-1", RESULT)
    assert created["id"] == "501" and created["url"].endswith("focusedCommentId=501")
    assert len(posts) == 1  # a comment must never be posted twice
    [listing] = [r for r in rec.requests if r.method == "GET" and r.url.path.endswith("/comment")]
    assert listing.url.params["orderBy"] == "-created"


def test_a_413_to_a_post_says_the_issue_reached_its_comment_limit():
    """Jira Cloud answers a comment post with 413 when the issue has reached its
    per-issue limit (5,000 comments; CLOUD-SPEC). It read "refused the request as
    too large", which sent the user shortening a result that no length could post."""
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("POST", "/rest/api/3/issue/ABC-1/comment"): ok(
                {"errorMessages": ["Comment limit exceeded."], "errors": {}}, status=413
            ),
        }
    )
    with pytest.raises(JiraBadRequestError) as info:
        client.add_comment("ABC-1", "All done.")
    message = str(info.value)
    assert "per-issue limit of comments" in message and "ABC-1" in message
    assert "too large" not in message
    assert info.value.status == 413
    assert [r.method for r in rec.requests].count("POST") == 1  # refused: never again


@pytest.mark.parametrize(
    "case",
    ["absent", "other-author", "before-the-post", "known-already", "other-text"],
)
def test_a_lost_answer_with_no_new_comment_of_ours_is_an_error(case):
    from indexer import markup

    wiki = markup.markdown_to_wiki(RESULT)
    stranger = {"name": "sam", "key": "JIRAUSER20000"}
    existing = {
        "absent": [],
        "other-author": [dc_comment("501", wiki, author=stranger)],
        "before-the-post": [dc_comment("501", wiki, minutes_ago=60)],
        "known-already": [dc_comment("501", wiki)],
        "other-text": [dc_comment("501", "The fix is elsewhere.")],
    }[case]
    client, _, posts = lost_post_client(comment_page(*existing))
    known = ["501"] if case == "known-already" else []
    with pytest.raises(JiraTimeoutError) as caught:
        client.add_comment("ABC-1", RESULT, known=known)
    assert str(caught.value).endswith("(checked: the comment is not on ABC-1)")
    assert len(posts) == 1


def test_a_lost_answer_is_judged_by_jiras_clock_not_ours():
    """Jira's clock is two hours behind ours: its Date header says so, and the new
    comment (created by its clock) still counts as made after the post began."""
    from email.utils import format_datetime

    from indexer import markup

    behind = datetime.now(UTC) - timedelta(hours=2)
    jira_date = {"Date": format_datetime(behind, usegmt=True)}
    posts = []

    def post(request):
        posts.append(request)
        raise httpx.ReadTimeout("read timed out")

    created = (behind + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    comment = {
        "id": "901",
        "author": {"name": "alex", "key": "JIRAUSER10000"},
        "body": markup.markdown_to_wiki(RESULT),
        "created": created,
    }
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(DC_INFO, headers=jira_date),
            ("GET", "/rest/api/2/myself"): ok(ME_DC, headers=jira_date),
            ("POST", "/rest/api/2/issue/ABC-1/comment"): post,
            ("GET", "/rest/api/2/issue/ABC-1/comment"): comment_page(comment),
        },
        username=None,
    )
    client.myself()
    assert client.add_comment("ABC-1", RESULT)["id"] == "901"
    assert len(posts) == 1


def test_a_lost_answer_that_cannot_be_checked_says_to_look_first():
    client, _, posts = lost_post_client(httpx.Response(502, text="Bad Gateway"))
    with pytest.raises(JiraTimeoutError) as caught:
        client.add_comment("ABC-1", RESULT)
    message = str(caught.value)
    assert "the comment may have been posted: look at" in message
    assert f"{SITE}/browse/ABC-1 before posting again" in message
    assert len(posts) == 1


def test_a_gateway_timeout_on_a_post_is_checked_too():
    from indexer import markup

    calls = []

    def gateway_gave_up(request):
        calls.append(request)
        return httpx.Response(504, text="Gateway Timeout")

    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(DC_INFO),
            ("GET", "/rest/api/2/myself"): ok(ME_DC),
            ("POST", "/rest/api/2/issue/ABC-1/comment"): gateway_gave_up,
            ("GET", "/rest/api/2/issue/ABC-1/comment"): comment_page(
                dc_comment("777", markup.markdown_to_wiki(RESULT))
            ),
        },
        username=None,
    )
    assert client.add_comment("ABC-1", RESULT)["id"] == "777"
    assert len(calls) == 1


def test_a_post_that_never_connected_is_not_looked_for():
    client, rec, posts = lost_post_client(
        comment_page(), post_error=httpx.ConnectError("connection refused")
    )
    with pytest.raises(JiraError):
        client.add_comment("ABC-1", RESULT)
    assert len(posts) == 3  # never sent, so tried again up to the network attempts
    assert not any(r.method == "GET" and r.url.path.endswith("/comment") for r in rec.requests)


def test_a_cloud_comment_is_matched_by_account_id_and_text_not_by_adf_details():
    from indexer import markup

    adf = markup.markdown_to_adf(RESULT)
    adf["content"][0]["attrs"] = {"localId": "abc-123"}  # Jira adds details of its own
    me = {"accountId": "5b10a2844c20165700ede21g", "displayName": "Alex Doe"}
    posts = []

    def post(request):
        posts.append(request)
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/myself"): ok(me),
            ("POST", "/rest/api/3/issue/ABC-1/comment"): post,
            ("GET", "/rest/api/3/issue/ABC-1/comment"): comment_page(
                {"id": "10", "author": {"accountId": "someone-else"}, "body": adf, "created": now},
                {"id": "11", "author": {"accountId": me["accountId"]}, "body": adf, "created": now},
            ),
        }
    )
    assert client.add_comment("ABC-1", RESULT)["id"] == "11"
    assert len(posts) == 1


# ------------------------------------------------------------------ bodies and errors


def test_html_200_is_a_clear_error_after_one_or_two_retries():
    page = "<!DOCTYPE html><html><head><title>Log in - SSO</title></head><body/></html>"
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): httpx.Response(
                200, text=page, headers={"Content-Type": "text/html"}
            )
        }
    )
    with pytest.raises(JiraResponseError, match=r"HTML page \(Log in - SSO\) instead of JSON"):
        client.server_info()
    assert len(rec.requests) == 3


def test_truncated_json_retried_then_ok():
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): seq(
                httpx.Response(
                    200, content=b'{"version": "9.1', headers={"Content-Type": "application/json"}
                ),
                ok(DC_INFO),
            )
        }
    )
    assert client.server_info() == DC_INFO


def test_truncated_json_message():
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): httpx.Response(
                200, content=b'{"issues": [', headers={"Content-Type": "application/json"}
            )
        }
    )
    with pytest.raises(JiraResponseError, match="incomplete JSON"):
        client.server_info()


def test_empty_200_with_seraph_failure_is_auth_error():
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): httpx.Response(
                200, content=b"", headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"}
            )
        }
    )
    with pytest.raises(JiraAuthError, match="check the e-mail and API token"):
        client.server_info()


def test_error_body_shapes():
    assert error_messages('{"errorMessages":["a","b"],"errors":{"jql":"bad"}}') == [
        "a",
        "b",
        "jql: bad",
    ]
    assert error_messages(
        '{"message":"Client must be authenticated to access this resource.","status-code":401}'
    ) == ["Client must be authenticated to access this resource."]
    assert error_messages("Client must be authenticated to access this resource.") == [
        "Client must be authenticated to access this resource."
    ]
    assert error_messages("<html><title>Oops</title></html>", "text/html") == [
        "(an HTML page: Oops)"
    ]
    assert error_messages("") == []
    assert error_messages('["x"]') == ["x"]


def err_client(status, body, headers=None, **kw):
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    resp = httpx.Response(status, content=content, headers=headers)
    return make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/myself"): resp,
            ("GET", "/rest/api/3/issue/ABC-9"): resp,
            ("GET", "/rest/api/3/project/NOPE"): resp,
            ("GET", "/rest/api/3/search/jql"): resp,
        },
        **kw,
    )[0]


def test_401_basic_message():
    client = err_client(401, {"errorMessages": ["You are not authenticated."]})
    with pytest.raises(JiraAuthError) as info:
        client.myself()
    assert str(info.value) == f"Authentication failed for {SITE}: check the e-mail and API token"


def test_401_of_data_center_to_a_username_and_token_says_a_pat_goes_alone():
    """A Data Center user following the Cloud quick start (--username plus a personal
    access token) was told "check the e-mail and API token": Data Center takes a
    personal access token only alone, as Bearer."""

    def seraph(request):  # a Data Center refuses bad credentials on every resource
        if "Authorization" in request.headers:
            return httpx.Response(401, json={"errorMessages": ["You are not authenticated."]})
        return ok(DC_INFO)

    client, _ = make_client(
        {("GET", "/rest/api/2/serverInfo"): seraph}, site="https://jira.example.com"
    )
    with pytest.raises(JiraAuthError) as info:
        client.test_connection("DEMO")
    assert str(info.value) == (
        "Authentication failed for https://jira.example.com: this is Data Center / Server, "
        "where a username goes with its password; a personal access token goes alone, "
        "without the username"
    )


def test_401_scoped_token_on_site_url_explains_service_account():
    client = err_client(
        401, "Client must be authenticated to access this resource.", {"Content-Type": "text/plain"}
    )
    with pytest.raises(JiraAuthError, match="service account .*cloud id.*e-mail"):
        client.myself()
    client = err_client(
        401,
        {"message": "Client must be authenticated to access this resource.", "status-code": 401},
    )
    with pytest.raises(JiraAuthError, match="service account"):
        client.myself()


def test_401_anonymous_and_bearer_messages():
    client = err_client(401, "", username=None, token=None)
    with pytest.raises(JiraAuthError, match="needs authentication"):
        client.myself()
    client = err_client(401, "", username=None)
    with pytest.raises(JiraAuthError, match="personal access token"):
        client.myself()


def test_401_of_cloud_to_a_token_without_an_e_mail_asks_for_the_e_mail():
    """A Cloud API token given alone (a Bearer) got the service-account advice, "check
    the e-mail and API token", to a user who had given no e-mail at all."""
    cloud_401 = {"message": "Client must be authenticated to access this resource."}
    client = err_client(401, cloud_401, username=None)
    with pytest.raises(JiraAuthError) as info:
        client.myself()
    assert "give the account's e-mail (username) with its API token" in str(info.value)
    assert "service account" not in str(info.value)
    client = err_client(401, cloud_401, username=None, token=None)
    with pytest.raises(JiraAuthError, match="needs authentication"):
        client.myself()


def test_403_permission_and_captcha():
    client = err_client(
        403, {"errorMessages": ["You currently don't have access to perform this operation."]}
    )
    with pytest.raises(JiraPermissionError, match="Permission denied by Jira.*don't have access"):
        client.myself()
    client = err_client(
        403,
        "<html>captcha</html>",
        {"X-Authentication-Denied-Reason": "CAPTCHA_CHALLENGE; login-url=x"},
    )
    with pytest.raises(JiraAuthError, match="CAPTCHA"):
        client.myself()


def test_issue_not_found_and_bad_key():
    client = err_client(
        404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
    )
    with pytest.raises(IssueNotFoundError) as info:
        client.get_issue("abc-9")
    assert str(info.value) == "Issue ABC-9 does not exist or you do not have permission to see it"
    client, rec = make_client({})
    for bad in ("ABC", "ABC-", "12-ABC", "ABC-0", "a b-1", ""):
        with pytest.raises(InvalidIssueKeyError, match="Issue key must look like PROJECT-123"):
            client.get_issue(bad)
    assert rec.requests == []


def test_project_not_found():
    client = err_client(404, {"errorMessages": ["No project could be found with key 'NOPE'."]})
    with pytest.raises(ProjectNotFoundError, match="Project NOPE does not exist"):
        client.project("NOPE")


def test_410_explains_migration_and_400_shows_jql_error():
    body = {
        "errorMessages": [
            "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."
        ],
        "errors": {},
    }
    client = err_client(410, body)
    with pytest.raises(JiraGoneError, match="search/jql"):
        list(client.search_issues("project = ABC", ["summary"]))
    client = err_client(
        400,
        {
            "errorMessages": [
                "Field 'foo' does not exist or you do not have permission to view it."
            ],
            "errors": {},
        },
    )
    with pytest.raises(JiraBadRequestError, match="Field 'foo' does not exist"):
        list(client.search_issues("foo = 1", ["summary"]))


@pytest.mark.parametrize(
    "body", [{"issues": "x"}, {"issues": [1, 2]}, [{"id": "1"}], {"issues": {"id": "1"}}]
)
def test_a_search_page_of_another_shape_is_a_clear_error(body):
    """A proxy's page or a server that is not Jira: one line, not an AttributeError."""
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/search/jql"): ok(body),
        }
    )
    with pytest.raises(JiraResponseError, match="not a list of issues"):
        list(client.search_ids("project = A"))
    client, _ = dc_client(ok(body))
    with pytest.raises(JiraResponseError, match="not a list of issues"):
        list(client.search_ids("project = D"))


def test_a_server_answering_empty_objects_is_not_taken_for_jira():
    """A catch-all server (a proxy's stub, a wrong port) answering {} to everything
    passed `datasource test` ("project visible"), synced 0 issues "ok" and made a
    task with an empty title."""

    def anything(request):
        return ok({})

    client, _ = make_client({}, username=None)
    client._http._transport = httpx.MockTransport(anything)
    with pytest.raises(JiraResponseError, match="does not answer like Jira"):
        client.test_connection("DEMO")
    with pytest.raises(JiraResponseError, match="does not answer like Jira"):
        list(client.search_ids("project = DEMO"))
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/project/DEMO"): ok({}),
            ("GET", "/rest/api/3/issue/DEMO-1"): ok({}),
        }
    )
    with pytest.raises(JiraResponseError, match="without a project"):
        client.project("DEMO")
    with pytest.raises(JiraResponseError, match="without an issue"):
        client.get_issue("DEMO-1")


def test_no_jira_at_the_site_url_says_to_check_its_path():
    """A Data Center under /jira given as the bare host (or a Cloud site given with a
    /jira path) answers 404 at serverInfo: `datasource test` said only "Not found on
    Jira (HTTP 404) for /rest/api/2/serverInfo: (an HTML page)"."""
    page = httpx.Response(404, text="<html><title>Not Found</title></html>")
    client, _ = make_client(
        {("GET", "/rest/api/2/serverInfo"): page}, site="https://jira.example.com"
    )
    with pytest.raises(JiraNotFoundError) as info:
        client.test_connection("DEMO")
    message = str(info.value)
    assert message.startswith("No Jira REST API at https://jira.example.com (HTTP 404")
    assert "with its path if it has one (e.g. https://jira.example.com/jira)" in message


def test_token_never_in_error_messages():
    client = err_client(400, {"errorMessages": [f"bad token {TOKEN}"]})
    with pytest.raises(JiraBadRequestError) as info:
        list(client.search_issues("x", ["summary"]))
    assert TOKEN not in str(info.value)


# ------------------------------------------------------------------ paging


def test_a_long_jql_goes_in_the_body_of_the_post_form():
    """A datasource JQL listing hundreds of keys would overflow a URL."""
    pages = [
        ok({"issues": [{"id": "1", "key": "A-1"}], "nextPageToken": "t1", "isLast": False}),
        ok({"issues": [{"id": "2", "key": "A-2"}], "isLast": True}),
    ]
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("POST", "/rest/api/3/search/jql"): pages,
        }
    )
    jql = "project = A AND key in (" + ", ".join(f"A-{n}" for n in range(1, 600)) + ")"
    got = list(client.search_issues(jql, ["id", "key"], page_size=5000))
    assert [i["key"] for p in got for i in p] == ["A-1", "A-2"]
    posts = [json.loads(r.content) for r in rec.requests if r.url.path.endswith("/search/jql")]
    assert [p["jql"] for p in posts] == [jql, jql]
    assert posts[0]["fields"] == ["id", "key"] and posts[0]["maxResults"] == 5000
    assert "nextPageToken" not in posts[0] and posts[1]["nextPageToken"] == "t1"
    assert all(len(str(r.url)) < 200 for r in rec.requests)


def test_cloud_paging_stops_on_missing_token_and_sends_fields():
    pages = [
        ok({"issues": [{"id": "1", "key": "A-1"}], "nextPageToken": "t1", "isLast": False}),
        ok({"issues": [{"id": "2", "key": "A-2"}]}),  # last page: no token, no isLast
    ]
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/search/jql"): pages,
        }
    )
    got = list(client.search_issues("project = A", ["summary", "status"], page_size=1))
    assert [[i["key"] for i in p] for p in got] == [["A-1"], ["A-2"]]
    searches = [r for r in rec.requests if r.url.path.endswith("/search/jql")]
    assert searches[0].url.params["fields"] == "summary,status"
    assert "nextPageToken" not in searches[0].url.params
    assert searches[1].url.params["nextPageToken"] == "t1"
    assert not any(r.url.path.endswith("/search") for r in rec.requests)


def dc_client(search, **options):
    """A Data Center client whose `/rest/api/2/search` is answered by `search`."""
    return make_client(
        {("GET", "/rest/api/2/serverInfo"): ok(DC_INFO), ("GET", "/rest/api/2/search"): search},
        username=None,
        **options,
    )


def test_a_long_jql_goes_in_the_body_of_the_dc_post_form():
    """Data Center takes the same search as a POST `SearchRequestBean`, whose `fields`
    is a list; GET keeps serving short JQL."""

    def search(request):
        body = json.loads(request.content)
        start, size = body.get("startAt", 0), min(body["maxResults"], 2)
        rows = [{"id": str(n), "key": f"D-{n}", "fields": {}} for n in range(start, 3)][:size]
        return ok({"startAt": start, "maxResults": size, "total": 3, "issues": rows})

    client, rec = make_client(
        {("GET", "/rest/api/2/serverInfo"): ok(DC_INFO), ("POST", "/rest/api/2/search"): search},
        username=None,
    )
    jql = "project = D AND key in (" + ", ".join(f"D-{n}" for n in range(1, 600)) + ")"
    got = list(client.search_issues(jql, ["summary", "status"], page_size=50))
    assert [i["key"] for p in got for i in p] == ["D-0", "D-1", "D-2"]
    posts = [json.loads(r.content) for r in rec.requests if r.url.path.endswith("/search")]
    assert [(p["jql"], p["startAt"]) for p in posts] == [(jql, 0), (jql, 2)]
    assert posts[0]["fields"] == ["summary", "status"] and posts[1]["maxResults"] == 2
    assert client.count(jql) == 3
    assert all(len(str(r.url)) < 200 for r in rec.requests)


def test_dc_fetch_asks_again_without_the_issues_a_strict_server_says_are_gone():
    """A server that validates all the same names each missing id or key in its 400."""
    import re

    gone = {"12", "DD-13"}

    def search(request):
        jql = request.url.params["jql"]
        wanted = re.findall(r"[A-Z]+-\d+|\d+", jql)
        if missing := [w for w in wanted if w in gone]:
            return ok(
                {
                    "errorMessages": [
                        f"A value with ID '{w}' does not exist for the field 'id'."
                        if w.isdigit()
                        else f"An issue with key '{w}' does not exist for field 'key'."
                        for w in missing
                    ],
                    "errors": {},
                },
                status=400,
            )
        rows = [{"id": w, "key": f"D-{w}"} for w in wanted if w.isdigit()]
        return ok({"startAt": 0, "maxResults": 100, "total": len(rows), "issues": rows})

    client, rec = dc_client(search)
    got = client.bulkfetch(["11", "12", "14", "DD-13"], ["summary"])
    assert [i["id"] for i in got] == ["11", "14"]
    assert client.bulkfetch(["12"], ["summary"]) == []
    assert all(r.url.params.get("validateQuery") == "false" for r in rec.requests[1:])
    # Any other refusal stays an error, asked once.
    other = ok({"errorMessages": ["Field 'x' does not exist."], "errors": {}}, status=400)
    client, rec = dc_client(other)
    with pytest.raises(JiraBadRequestError, match="Field 'x' does not exist"):
        client.bulkfetch(["11", "12"], ["x"])
    assert sum(r.url.path.endswith("/search") for r in rec.requests) == 1


def search_page(start: int, size: int, total: int, rows: list[tuple[int, str]]) -> httpx.Response:
    """A DC search reply: `rows` are (number, updated) of the issues on the page."""
    issues = [{"id": str(n), "key": f"D-{n}", "fields": {"updated": u}} for n, u in rows]
    return ok({"startAt": start, "maxResults": size, "total": total, "issues": issues})


def test_dc_paging_reads_lowered_max_results():
    def page(request):
        start = int(request.url.params["startAt"])
        size = min(int(request.url.params["maxResults"]), 2)  # server caps at 2
        return search_page(start, size, 5, [(i, "u") for i in range(start, min(start + size, 5))])

    client, rec = dc_client(page)
    ids = list(client.search_ids("project = D", page_size=50))
    assert [i["key"] for i in ids] == [f"D-{i}" for i in range(5)]
    starts = [r.url.params["startAt"] for r in rec.requests if r.url.path.endswith("/search")]
    assert starts == ["0", "2", "4"]


def _dc_window_server(updated_ms: list[int], window: int, cap: int = 4):
    """A DC search that honours `updated >= N`, `updated < N` and `key > D-N`, orders
    by updated (or key) and refuses to page past `window` as Data Center does; it
    records the (jql, startAt) asked. Issue i is D-(100 + i)."""
    import re
    from datetime import UTC, datetime

    asked: list[tuple[str, int]] = []

    def stamp(ms: int) -> str:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"

    def search(request):
        jql = request.url.params["jql"]
        start = int(request.url.params["startAt"])
        size = min(int(request.url.params["maxResults"]), cap)
        asked.append((jql, start))
        if start + size > window:
            return ok({"errorMessages": ["Search limit exceeded"], "errors": {}}, status=400)
        lower = max([int(n) for n in re.findall(r"updated >= (\d+)", jql)] or [0])
        upper = min([int(n) for n in re.findall(r"updated < (\d+)", jql)] or [2**62])
        after = max([int(n) for n in re.findall(r"key > D-(\d+)", jql)] or [-1])
        rows = [
            (ms, i) for i, ms in enumerate(updated_ms) if lower <= ms < upper and 100 + i > after
        ]
        rows.sort(key=(lambda row: row[1]) if "ORDER BY key" in jql else None)
        page = [(100 + i, stamp(ms)) for ms, i in rows[start : start + size]]
        return search_page(start, size, len(rows), page)

    return search, asked


def test_dc_listing_goes_past_the_search_window_in_slices_of_updated():
    base = 1_700_000_000_000
    updated = [base + i * 45_000 for i in range(25)]  # 45 s apart: slices overlap a minute
    search, asked = _dc_window_server(updated, window=10)
    client, _ = dc_client(search)
    client.dc_search_window = 10
    ids = [item["id"] for item in client.search_ids("project = D", page_size=50)]
    assert ids == [str(100 + i) for i in range(25)]  # all, once, in updated order
    assert all(start < 10 for _, start in asked)  # never asked past the window
    slices = [jql for jql, start in asked if start == 0]
    assert len(slices) >= 3 and all("ORDER BY updated ASC, key ASC" in j for j in slices)
    assert slices[1].startswith("(project = D) AND updated >= ")


def test_dc_listing_goes_on_past_the_window_when_a_page_comes_back_empty():
    """Issues deleted while the listing pages make a page inside the window come back
    empty; the issues past the window must still be listed in the next slice."""
    base = 1_700_000_000_000
    updated = [base + i * 45_000 for i in range(25)]
    search, asked = _dc_window_server(updated, window=10)
    emptied = []

    def flaky(request):
        first_slice = "updated >=" not in request.url.params["jql"]
        if first_slice and request.url.params["startAt"] == "8":
            emptied.append(True)
            return search_page(8, 4, 25, [])  # its issues were deleted meanwhile
        return search(request)

    client, _ = dc_client(flaky)
    client.dc_search_window = 10
    ids = [item["id"] for item in client.search_ids("project = D", page_size=4)]
    assert emptied and ids[-1] == str(124)  # the last issue, past the window, is listed
    assert len(ids) == len(set(ids)) >= 23


def test_dc_listing_learns_a_window_below_its_page_size_served_as_empty_results():
    """A window an admin lowered below the listing's page size, served as empty
    results (Atlassian's KB: "an error or empty results"): the first page held no
    issue with a `total` above 0, the listing ended there with nothing, and the next
    reconcile deleted the whole project (helper-37). It is now learnt by halving."""
    base = 1_700_000_000_000
    search, _ = _dc_window_server([base + i * 45_000 for i in range(30)], window=10_000, cap=1000)

    def lowered(request):
        start, size = int(request.url.params["startAt"]), int(request.url.params["maxResults"])
        if start + size <= 12:
            return search(request)
        total = search(request).json()["total"]
        return ok({"startAt": start, "maxResults": size, "total": total, "issues": []})

    client, _ = dc_client(lowered)
    ids = [item["id"] for item in client.search_ids("project = D", page_size=20)]
    assert ids == [str(100 + i) for i in range(30)]
    assert client.dc_search_window <= 12


def test_dc_listing_that_never_gets_an_issue_of_its_total_is_an_error():
    client, _ = dc_client(ok({"startAt": 0, "maxResults": 50, "total": 7, "issues": []}))
    with pytest.raises(JiraResponseError, match="says 7 issues match but returns none"):
        list(client.search_ids("project = D", page_size=50))


def test_a_500_that_is_not_about_the_search_window_does_not_shrink_it():
    """Any 500 saying "exceed" (java.lang.OutOfMemoryError: GC overhead limit
    exceeded) was taken for a window refusal: the window was halved for the client's
    life and every later slice made tiny (helper-37). Such a 500 is now the error it
    is; only the search-limit wording teaches a window."""
    base = 1_700_000_000_000
    search, _ = _dc_window_server([base + i * 1000 for i in range(300)], window=10_000, cap=50)

    def failing(request):
        if request.url.params["startAt"] == "100":
            message = "java.lang.OutOfMemoryError: GC overhead limit exceeded"
            return httpx.Response(500, json={"errorMessages": [message], "errors": {}})
        return search(request)

    client, _ = dc_client(failing)
    with pytest.raises(JiraServerError, match="GC overhead limit exceeded"):
        list(client.search_ids("project = D", page_size=50))
    assert client.dc_search_window == 10_000


def test_dc_listing_pages_come_concurrently_once_the_total_is_known():
    import threading
    import time as clock

    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def search(request):
        start = int(request.url.params["startAt"])
        size = min(int(request.url.params["maxResults"]), 100)  # the server grants 100
        if start == 300:
            size = 50  # one page comes back short: the rest must still be listed
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        clock.sleep(0.02)
        with lock:
            state["now"] -= 1
        updated = "2024-01-01T00:00:00.000+0000"
        return search_page(
            start, size, 1000, [(i, updated) for i in range(start, min(start + size, 1000))]
        )

    client, rec = dc_client(search, max_concurrency=4)
    ids = [item["id"] for item in client.search_ids("project = D")]
    assert ids == [str(i) for i in range(1000)]  # all, once, in order
    assert 1 < state["most"] <= 4  # concurrent, within the limit
    starts = [int(r.url.params["startAt"]) for r in rec.requests if r.url.path.endswith("/search")]
    assert 350 in starts  # after the short page, paging went on from where it ended


def test_dc_listing_cuts_a_bulk_change_into_slices_of_keys():
    """A bulk change: 35 issues updated in the same second, a search window of 10.
    Slices of `updated` cannot get past them; slices of keys can."""
    base = 1_700_000_040_000
    updated = [base - 3_600_000 + i * 60_000 for i in range(5)]  # before the bulk change
    updated += [base + 500] * 35
    updated += [base + 600_000 + i * 60_000 for i in range(5)]  # after it
    search, asked = _dc_window_server(updated, window=10)
    client, _ = dc_client(search)
    client.dc_search_window = 10
    ids = [item["id"] for item in client.search_ids("project = D", page_size=50)]
    assert sorted(ids, key=int) == [str(100 + i) for i in range(45)]
    assert len(ids) == len(set(ids)) == 45  # every issue once
    assert all(start < 10 for _, start in asked)  # never asked past the window
    by_key = [jql for jql, start in asked if start == 0 and "ORDER BY key ASC" in jql]
    assert len(by_key) >= 4 and any("key > D-" in jql for jql in by_key)
    assert all("updated < " in jql for jql in by_key)


def test_dc_listing_says_so_when_keys_cannot_advance_either():
    """A server that ignores `key >` would list the same issues for ever: stop."""
    search, _ = _dc_window_server([1_700_000_000_000] * 12, window=10)

    def deaf(request):
        params = dict(request.url.params)
        params["jql"] = re.sub(r" AND key > D-\d+", "", params["jql"])
        return search(httpx.Request("GET", request.url.copy_with(params=params)))

    client, _ = dc_client(deaf)
    client.dc_search_window = 10
    with pytest.raises(JiraError, match="keeps listing the same issues past its search window"):
        list(client.search_ids("project = D"))


def test_complete_comments_fetches_only_when_incomplete():
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(DC_INFO),
            ("GET", "/rest/api/2/issue/10/comment"): [
                ok(
                    {
                        "startAt": 0,
                        "maxResults": 2,
                        "total": 3,
                        "comments": [{"id": "1"}, {"id": "2"}],
                    }
                ),
                ok({"startAt": 2, "maxResults": 2, "total": 3, "comments": [{"id": "3"}]}),
            ],
        }
    )
    complete = {"id": "10", "fields": {"comment": {"total": 1, "comments": [{"id": "9"}]}}}
    assert client.complete_comments(complete) == [{"id": "9"}]
    assert rec.requests == []
    partial = {
        "id": "10",
        "key": "D-1",
        "fields": {"comment": {"total": 3, "maxResults": 1, "comments": [{"id": "1"}]}},
    }
    assert [c["id"] for c in client.complete_comments(partial)] == ["1", "2", "3"]


# ------------------------------------------------------------------ attachments


def test_redirect_to_other_origin_drops_authorization():
    def content(request):
        return httpx.Response(303, headers={"Location": "https://cdn.example.net/blob/1?sig=x"})

    client, rec = make_client(
        {
            ("GET", "/rest/api/3/attachment/content/1"): content,
            ("GET", "cdn.example.net/blob/1"): httpx.Response(
                200, content=b"hello log", headers={"Content-Type": "text/plain"}
            ),
        }
    )
    result = client.fetch_attachment(f"{SITE}/rest/api/3/attachment/content/1")
    assert result.ok and result.content == b"hello log"
    assert "Authorization" in rec.requests[0].headers
    assert rec.requests[1].url.host == "cdn.example.net"
    assert "Authorization" not in rec.requests[1].headers


def test_same_origin_redirect_keeps_authorization():
    client, rec = make_client(
        {
            ("GET", "/secure/attachment/1/a.txt"): httpx.Response(
                302, headers={"Location": "/secure/attachment/1/a2.txt"}
            ),
            ("GET", "/secure/attachment/1/a2.txt"): httpx.Response(
                200, content=b"x", headers={"Content-Type": "text/plain"}
            ),
        }
    )
    assert client.fetch_attachment(f"{SITE}/secure/attachment/1/a.txt").content == b"x"
    assert all("Authorization" in r.headers for r in rec.requests)


def test_attachment_binary_and_size_skips():
    client, rec = make_client(
        {
            ("GET", "/a/img"): httpx.Response(
                200, content=b"\x89PNG", headers={"Content-Type": "image/png"}
            ),
            ("GET", "/a/big"): httpx.Response(
                200, content=b"x" * 100, headers={"Content-Type": "text/plain"}
            ),
        }
    )
    assert client.fetch_attachment(f"{SITE}/a/img").skipped == "binary type image/png"
    big = client.fetch_attachment(f"{SITE}/a/big", max_bytes=10)
    assert big.content is None and "larger than 10 bytes" in big.skipped
    n = len(rec.requests)
    assert client.fetch_attachment(f"{SITE}/a/x", mime_type="application/zip").skipped
    assert client.fetch_attachment(f"{SITE}/a/x", size=11 * 2**20).skipped.startswith("larger")
    assert len(rec.requests) == n  # metadata hints skip without a request
    assert client.download_attachment(f"{SITE}/a/img") is None
    assert client.download_attachment(f"{SITE}/a/big", 1000) == b"x" * 100


def test_a_file_named_as_text_is_read_whatever_opaque_type_jira_serves():
    """Jira serves the type stored at upload: a browser often stored a .log as
    application/octet-stream (or force-download). The name decides; media do not pass."""
    client, rec = make_client(
        {
            ("GET", "/a/log"): httpx.Response(
                200, content=b"ERROR pool", headers={"Content-Type": "application/octet-stream"}
            ),
            ("GET", "/a/dl"): httpx.Response(
                200, content=b"%PDF-1.4", headers={"Content-Type": "application/force-download"}
            ),
            ("GET", "/a/png"): httpx.Response(
                200, content=b"\x89PNG", headers={"Content-Type": "image/png"}
            ),
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/myself"): ok({"accountId": "1"}),
        }
    )
    assert client.fetch_attachment(f"{SITE}/a/log").skipped.startswith("binary type")
    assert client.download_attachment(f"{SITE}/a/log", named_text=True) == b"ERROR pool"
    assert client.download_attachment(f"{SITE}/a/dl", named_text=True) == b"%PDF-1.4"
    got = client.fetch_attachment(f"{SITE}/a/log", mime_type="binary/octet-stream", named_text=True)
    assert got.content == b"ERROR pool"
    assert client.fetch_attachment(f"{SITE}/a/png", named_text=True).content is None
    assert client.fetch_attachment(f"{SITE}/a/x", mime_type="image/png", named_text=True).skipped
    # A download accepts any type (JSON alone can earn a 406 there).
    assert {r.headers["Accept"] for r in rec.requests if "/a/" in r.url.path} == {"*/*"}
    client.myself()
    assert rec.requests[-1].headers["Accept"] == "application/json"


def test_an_html_page_where_a_file_was_expected_is_not_read_as_its_text():
    """Jira's configured base URL can differ from the site typed: attachment URLs then
    point at a host that gets no credentials and may answer its login page."""
    login = b"<html><title>Log in</title><form>password</form></html>"
    client, _ = make_client(
        {
            ("GET", "/a/log"): httpx.Response(
                200, content=login, headers={"Content-Type": "text/html;charset=UTF-8"}
            ),
        }
    )
    got = client.fetch_attachment(f"{SITE}/a/log", mime_type="text/plain", named_text=True)
    assert got.content is None and got.skipped.startswith("an HTML page instead of the text/plain")
    page = client.fetch_attachment(f"{SITE}/a/log", mime_type="text/html")
    assert page.content == login  # an HTML attachment is HTML


# ------------------------------------------------------------------ writes and misc


def fake_markup(monkeypatch):
    import sys
    import types

    module = types.ModuleType("indexer.markup")
    module.markdown_to_adf = lambda md: {
        "version": 1,
        "type": "doc",
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": md}]}],
    }
    module.markdown_to_wiki = lambda md: f"wiki:{md}"
    module.to_text = lambda value: value if isinstance(value, str) else json.dumps(value)
    from indexer.markup.adf_write import link_issue_keys

    module.link_issue_keys = link_issue_keys
    monkeypatch.setitem(sys.modules, "indexer.markup", module)
    import indexer

    monkeypatch.setattr(indexer, "markup", module, raising=False)


@pytest.mark.parametrize(
    "info,version,expected",
    [
        (
            CLOUD_INFO,
            "3",
            {
                "version": 1,
                "type": "doc",
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "**done**"}]}
                ],
            },
        ),
        (DC_INFO, "2", "wiki:**done**"),
    ],
)
def test_add_comment_body_per_api(monkeypatch, info, version, expected):
    fake_markup(monkeypatch)
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(info),
            ("POST", f"/rest/api/{version}/issue/ABC-1/comment"): ok({"id": "555"}, status=201),
        }
    )
    out = client.add_comment("ABC-1", "**done**")
    assert out == {"id": "555", "url": f"{SITE}/browse/ABC-1?focusedCommentId=555"}
    assert json.loads(rec.requests[-1].content) == {"body": expected}


@pytest.mark.parametrize("info,version", [(CLOUD_INFO, "3"), (DC_INFO, "2")])
def test_a_comment_links_the_keys_of_its_issues_project_on_cloud(info, version):
    """A result saying "fixed with ABC-2" posted as ADF showed the key as plain text
    on Cloud (the wiki renderer links it on Data Center): keys of the commented
    issue's project are now linked to the site, other keys (`UTF-8`) left alone."""
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(info),
            ("POST", f"/rest/api/{version}/issue/ABC-1/comment"): ok({"id": "9"}, status=201),
        }
    )
    client.add_comment("abc-1", "Fixed with ABC-2; UTF-8 and OPS-3 unchanged")
    body = json.loads(rec.requests[-1].content)["body"]
    if version == "2":
        assert body == "Fixed with ABC-2; UTF-8 and OPS-3 unchanged"
        return
    assert body["content"][0]["content"] == [
        {"type": "text", "text": "Fixed with "},
        {
            "type": "text",
            "text": "ABC-2",
            "marks": [{"type": "link", "attrs": {"href": f"{SITE}/browse/ABC-2"}}],
        },
        {"type": "text", "text": "; UTF-8 and OPS-3 unchanged"},
    ]


def test_test_connection_reports_user_deployment_and_project():
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/myself"): ok({"displayName": "Ada", "accountId": "a1"}),
            ("GET", "/rest/api/3/project/ABC"): ok({"key": "ABC", "name": "Alpha"}),
            ("GET", "/rest/api/3/project/NOPE"): httpx.Response(404, json={"errorMessages": ["x"]}),
        }
    )
    out = client.test_connection("ABC")
    assert out["user"] == "Ada" and out["deployment"] == "cloud" and out["api_version"] == "3"
    assert out["project"] == {"key": "ABC", "name": "Alpha", "visible": True}
    assert client.test_connection("NOPE")["project"]["visible"] is False


def test_aimd_limiter_halves_and_recovers_slowly():
    clock = [0.0]
    limiter = AIMDLimiter(8, clock=lambda: clock[0])
    limiter.on_rate_limited()
    limiter.on_rate_limited()  # same burst: counted once
    assert limiter.limit == 4
    clock[0] = 5
    limiter.on_rate_limited()
    assert limiter.limit == 2
    limiter.on_success()
    assert limiter.limit == 2  # one success is not enough: recovery is slow
    for _ in range(2):
        limiter.on_success()
    assert limiter.limit == 3
    for _ in range(100):
        limiter.on_success()
    assert limiter.limit == 8
    clock[0] = 10
    for _ in range(5):
        clock[0] += 5
        limiter.on_rate_limited()
    assert limiter.limit == 1


def test_slot_is_reentrant_and_bounds_concurrency():
    import threading
    import time

    limiter = AIMDLimiter(2)
    with limiter.slot(), limiter.slot():
        assert limiter.in_flight == 1
    peak = [0]
    lock = threading.Lock()

    def work():
        with limiter.slot():
            with lock:
                peak[0] = max(peak[0], limiter.in_flight)
            time.sleep(0.01)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2 and limiter.in_flight == 0


def test_map_concurrent_keeps_order_and_shares_limit():
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(DC_INFO),
            ("GET", "/rest/api/2/issue/AB-1"): ok({"key": "AB-1"}),
            ("GET", "/rest/api/2/issue/AB-2"): ok({"key": "AB-2"}),
            ("GET", "/rest/api/2/issue/AB-3"): ok({"key": "AB-3"}),
        },
        max_concurrency=3,
    )
    keys = client.map_concurrent(lambda k: client.get_issue(k)["key"], ["AB-1", "AB-2", "AB-3"])
    assert keys == ["AB-1", "AB-2", "AB-3"]
    assert client.request_counts()["requests"] == 4
    assert client.max_concurrency == 3  # what sync sizes its worker pools by


def test_fetch_cloud_id():
    from indexer.jira import fetch_cloud_id

    transport = httpx.MockTransport(
        lambda r: ok({"cloudId": "abc-123"}) if r.url.path == "/_edge/tenant_info" else ok({}, 404)
    )
    assert fetch_cloud_id("https://example.atlassian.net/jira", transport=transport) == "abc-123"
    bad = httpx.MockTransport(lambda r: httpx.Response(404, text="nope"))
    with pytest.raises(JiraError, match="cloud id"):
        fetch_cloud_id(SITE, transport=bad)


# ------------------------------------------------------------------ decode hook (prepare)


def _bulk_reply(*ids: str) -> dict:
    return {"issues": [{"id": i, "key": f"DEMO-{i}", "fields": {"summary": f"s{i}"}} for i in ids]}


def test_bulkfetch_decode_hook_gets_the_raw_bytes():
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("POST", "/rest/api/3/issue/bulkfetch"): ok(_bulk_reply("1", "2")),
        }
    )
    seen = []

    def decode(payload):
        seen.append(payload)
        return {"issues": ["made"]}

    assert client.bulkfetch(["1", "2"], ["summary"], decode=decode) == ["made"]
    assert [type(p) for p in seen] == [bytes]
    assert json.loads(seen[0]) == _bulk_reply("1", "2")


def test_decode_hook_refusal_retries_a_truncated_reply_then_decodes():
    """The hook's ValueError sends the body through the client's own diagnosis: a
    reply cut short is asked again, and the good one reaches the hook."""
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("POST", "/rest/api/3/issue/bulkfetch"): seq(
                httpx.Response(200, content=b'{"issues": [{"id": "1"', headers=JSON_TYPE),
                ok(_bulk_reply("1")),
            ),
        }
    )
    got = client.bulkfetch(["1"], ["summary"], decode=prepare.Preparer(**PREP).issues)
    assert [issue["record"]["key"] for issue in got] == ["DEMO-1"]
    assert rec.paths().count("/rest/api/3/issue/bulkfetch") == 2


def test_decode_hook_html_login_page_is_still_diagnosed():
    page = "<html><head><title>Log in</title></head><body>login</body></html>"
    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("POST", "/rest/api/3/issue/bulkfetch"): httpx.Response(
                200, text=page, headers={"Content-Type": "text/html"}
            ),
        }
    )
    with pytest.raises(JiraResponseError, match="HTML page"):
        client.bulkfetch(["1"], ["summary"], decode=prepare.Preparer(**PREP).issues)


def test_the_rest_of_a_long_thread_is_fetched_concurrently():
    """Cloud grants 100 comments a page whatever is asked: once the first page gives
    `total`, the other pages go out together (a barrier only they can pass)."""
    together = threading.Barrier(3, timeout=5)

    def page(request):
        start = int(request.url.params["startAt"])
        if start:
            together.wait()
        comments = [{"id": str(n), "body": f"c{n}"} for n in range(start, min(start + 100, 350))]
        return ok({"startAt": start, "maxResults": 100, "total": 350, "comments": comments})

    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/issue/DEMO-1/comment"): page,
        }
    )
    got = client.comments("DEMO-1", page_size=5000)
    assert [c["id"] for c in got] == [str(n) for n in range(350)]
    assert rec.paths().count("/rest/api/3/issue/DEMO-1/comment") == 4


def test_a_short_page_in_a_long_thread_goes_on_one_page_at_a_time():
    """A comment deleted while the pages are fetched: the page at 4 comes back
    short, the pages after it are not trusted and the rest is read in order."""
    thread = [{"id": str(n), "body": f"c{n}"} for n in range(9)]
    deleted = []

    def page(request):
        start = int(request.url.params["startAt"])
        if start == 4 and not deleted:
            deleted.append(thread.pop(5))
            comments = thread[4:5]  # the server's page was cut by the delete
        else:
            comments = thread[start : start + 2]
        return ok({"startAt": start, "maxResults": 2, "total": len(thread), "comments": comments})

    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/issue/DEMO-1/comment"): page,
        }
    )
    got = [c["id"] for c in client.comments("DEMO-1")]
    assert got[:5] == ["0", "1", "2", "3", "4"]
    assert got[5:] == ["6", "7", "8"] and len(got) == len(set(got))


def test_comments_decode_hook_pages_to_total():
    def page(request):
        start = int(request.url.params["startAt"])
        comments = [{"id": str(n), "body": f"c{n}"} for n in range(start, min(start + 2, 5))]
        return ok({"startAt": start, "maxResults": 2, "total": 5, "comments": comments})

    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("GET", "/rest/api/3/issue/DEMO-1/comment"): page,
        }
    )
    got = client.comments("DEMO-1", decode=prepare.Preparer(**PREP).comments)
    assert [c["body"] for c in got] == ["c0", "c1", "c2", "c3", "c4"]
    assert rec.paths().count("/rest/api/3/issue/DEMO-1/comment") == 3


def test_a_listing_page_says_shifted_only_when_the_result_set_shrank():
    """Offset pages skip an issue only when one left the result set before them
    (every later issue moves back by one); issues created meanwhile land at the end
    of an `updated` order and must not make a busy project's listing run again."""
    from indexer.jira.search import _note_shift

    for first, later, shifted in ((100, 100, False), (100, 104, False), (100, 99, True)):
        window = [False, False]
        _note_shift(window, first, {"total": later, "issues": []})
        assert window[1] is shifted, (first, later)
    window = [False, False]
    _note_shift(window, None, {"total": 3})  # a server without `total`: nothing to say
    assert window == [False, False]


def test_stopping_ends_a_real_retry_wait_at_once():
    """A 429 storm may ask for a minute between attempts: a cancelled sync must not
    sit it out. `client.stopping` ends the (real, not faked) wait and the request
    fails with JiraRetryAborted instead of being retried."""
    import threading
    import time

    from indexer.jira.errors import JiraRetryAborted

    storm = httpx.Response(429, headers={"Retry-After": "60"})
    client, recorder = make_client(
        {("GET", "/rest/api/2/serverInfo"): storm}, retry=RetryPolicy(budget_seconds=1000)
    )
    threading.Timer(0.3, client.stopping.set).start()
    started = time.monotonic()
    with pytest.raises(JiraRetryAborted):
        client.server_info()
    assert time.monotonic() - started < 10  # not the 60 s Jira asked for
    assert len(recorder.requests) == 1  # and no retry after the stop


def test_a_stopped_client_sends_nothing():
    from indexer.jira.errors import JiraRetryAborted

    client, recorder = make_client({("GET", "/rest/api/2/serverInfo"): ok(DC_INFO)})
    client.stopping.set()
    with pytest.raises(JiraRetryAborted):
        client.server_info()
    assert recorder.requests == []


def test_stopping_during_a_request_retries_nothing():
    from indexer.jira.errors import JiraRetryAborted

    def answer_then_stop(request):
        client.stopping.set()  # a cancel arriving while Jira answers
        return httpx.Response(503, headers={"Retry-After": "1"})

    client, recorder = make_client({("GET", "/rest/api/2/serverInfo"): answer_then_stop})
    with pytest.raises(JiraRetryAborted):
        client.server_info()
    assert len(recorder.requests) == 1


def test_a_gateway_error_is_retried_a_few_times_not_for_the_whole_budget():
    """502/504 mean a proxy gave up waiting on Jira, each attempt costing its
    timeout: four attempts in all, while a 429 storm may use the 120 s budget."""
    bad_gateway = httpx.Response(502, text="<html><title>502 Bad Gateway</title></html>")
    waits: list[float] = []
    client, recorder = make_client(
        {("GET", "/rest/api/2/serverInfo"): bad_gateway},
        retry=RetryPolicy(sleep=waits.append, budget_seconds=120),
    )
    with pytest.raises(JiraError):
        client.server_info()
    assert len(recorder.requests) == 4 and len(waits) == 3


def test_dc_listing_learns_the_window_whichever_refused_page_answers_first():
    """Pages past an unknown window are fetched at once and all refused; the one
    that learns the window may not be the first in order. The others, refused past
    the window now known, must also mean "slice again", never a failed listing."""
    import threading

    base = 1_700_000_000_000
    updated = [base + i * 45_000 for i in range(30)]
    search, asked = _dc_window_server(updated, window=12, cap=4)
    later_refused = threading.Event()

    def refusal_of_the_later_page_first(request):
        start = int(request.url.params["startAt"])
        if start == 12 and "updated >=" not in request.url.params["jql"]:
            later_refused.wait(5)  # the page at 16 answers (and is learnt from) first
        reply = search(request)
        if reply.status_code == 400:  # worded as Data Center words it
            message = "Search limit exceeded: startAt + maxResults must not exceed 12."
            reply = ok({"errorMessages": [message], "errors": {}}, status=400)
        if start == 16:
            later_refused.set()
        return reply

    client, _ = dc_client(refusal_of_the_later_page_first)
    ids = [item["id"] for item in client.search_ids("project = D", page_size=4)]
    assert ids == [str(100 + i) for i in range(30)]
    assert client.dc_search_window == 12 and later_refused.is_set()


class _StallingBody(httpx.SyncByteStream):
    """A reply whose headers come and whose body then times out."""

    def __iter__(self):
        yield b'{"version": "9.'
        raise httpx.ReadTimeout("read timed out")


def test_a_body_that_times_out_is_asked_again_only_as_often_as_the_policy_allows():
    def stalls(request):
        return httpx.Response(200, headers=JSON_TYPE, stream=_StallingBody())

    for attempts, sent in ((1, 1), (3, 3)):  # a person's action; a sync's
        client, recorder = make_client(
            {("GET", "/rest/api/2/serverInfo"): stalls},
            retry=RetryPolicy(sleep=lambda s: None, max_network_attempts=attempts),
        )
        with pytest.raises(JiraTimeoutError):
            client.server_info()
        assert len(recorder.requests) == sent


@pytest.mark.parametrize("status", [404, 405, 501])
def test_a_cloud_site_without_bulkfetch_is_fetched_by_search(status):
    """Jira's bulkfetch never answers 404 (issues it cannot return go in its
    `issueErrors`); a Jira-compatible site that has only `search/jql` does. The
    client then fetches by `id in (...)` search, pages included, and stops asking
    bulkfetch. An id gone since it was listed is left out, as bulkfetch would."""
    gone = {"13"}

    def search(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        wanted = re.findall(r"\d+", body["jql"])
        if missing := [w for w in wanted if w in gone]:
            return ok(
                {"errorMessages": [f"A value with ID '{w}' does not exist for the field 'id'." for w in missing], "errors": {}},
                status=400,
            )  # fmt: skip
        assert body["fields"] == ["summary", "comment"]
        first = "nextPageToken" not in body
        rows = wanted[:2] if first else wanted[2:]
        reply = {"issues": [{"id": w, "key": f"DEMO-{w}", "fields": {}} for w in rows]}
        if first:
            reply["nextPageToken"] = "Ch0jU3RyaW5n"
        else:
            reply["isLast"] = True
        return ok(reply)

    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("POST", "/rest/api/3/issue/bulkfetch"): httpx.Response(status, text="no such API"),
            ("POST", "/rest/api/3/search/jql"): search,
        }
    )
    got = client.bulkfetch(["11", "12", "13", "14"], ["summary", "comment"])
    assert [i["id"] for i in got] == ["11", "12", "14"]
    got = client.bulkfetch(["15"], ["summary", "comment"], decode=prepare.Preparer(**PREP).issues)
    assert [i["record"]["key"] for i in got] == ["DEMO-15"]
    assert rec.paths().count("/rest/api/3/issue/bulkfetch") == 1


def test_a_bulkfetch_refusal_for_another_reason_stays_an_error():
    client, rec = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("POST", "/rest/api/3/issue/bulkfetch"): ok(
                {"errorMessages": ["Permission denied"], "errors": {}}, status=403
            ),
        }
    )
    with pytest.raises(JiraPermissionError):
        client.bulkfetch(["11"], ["summary"])
    assert "/rest/api/3/search/jql" not in rec.paths()


def _deep_doc(levels: int) -> str:
    return (
        '{"type":"doc","version":1,"content":['
        + '{"type":"blockquote","content":[' * levels
        + '{"type":"text","text":"deep"}'
        + "]}" * levels
        + "]}"
    )


@pytest.mark.parametrize("decoded", [False, True])
def test_an_issue_nested_too_deeply_to_parse_does_not_fail_its_whole_page(decoded, caplog):
    """ADF 600 levels deep (made through the API) is past what a JSON parser goes:
    the page holding it raised RecursionError and every sync failed on it
    (helper-36). The page is fetched again by halves: the others come whole, the deep
    one is left out (fetching it without its rich text blanked what the index had of
    it, helper-38) and named in `unreadable`."""
    beans = {
        i: f'{{"id":"{i}","key":"DEMO-{i}","fields":{{"summary":"s{i}",'
        f'"description":{_deep_doc(600) if i == "12" else _deep_doc(1)}}}}}'
        for i in ("11", "12", "13")
    }
    asked: list[tuple[list[str], list[str]]] = []

    def bulkfetch(request):
        body = json.loads(request.content)
        asked.append((body["issueIdsOrKeys"], body["fields"]))
        parts = []
        for i in body["issueIdsOrKeys"]:
            bean = beans[i]
            if "description" not in body["fields"]:
                bean = f'{{"id":"{i}","key":"DEMO-{i}","fields":{{"summary":"s{i}"}}}}'
            parts.append(bean)
        payload = '{"issues":[' + ",".join(parts) + "]}"
        return httpx.Response(200, content=payload.encode(), headers=JSON_TYPE)

    client, _ = make_client(
        {
            ("GET", "/rest/api/2/serverInfo"): ok(CLOUD_INFO),
            ("POST", "/rest/api/3/issue/bulkfetch"): bulkfetch,
        }
    )
    decode = prepare.Preparer(**PREP).issues if decoded else None
    with caplog.at_level("WARNING", logger="jiradex.jira"):
        got = client.bulkfetch(["11", "12", "13"], ["summary", "description"], decode=decode)
    records = [i["record"] for i in got] if decoded else got
    assert sorted(r["id"] for r in records) == ["11", "13"]
    if decoded:
        assert {r["description"] for r in records} == {"> deep"}
    assert all(fields == ["summary", "description"] for _, fields in asked)
    assert (["12"], ["summary", "description"]) in asked
    assert client.unreadable == {"12"}
    assert "issue 12 is nested too deeply to read: left out" in caplog.text


def test_a_post_begun_after_end_reads_in_flight_sends_nothing():
    """A quitting TUI ends every client's reads; a post that begins a moment later
    must then not go out (it could be cut mid-POST, unable to learn whether its
    comment landed); one already counted as posting is left alone."""
    from indexer.jira import end_reads_in_flight
    from indexer.jira.errors import JiraRetryAborted

    answer = httpx.Response(201, json={"id": "900"})
    client, rec = make_client({("POST", "/rest/api/2/issue/ABC-1/comment"): answer},
                              deployment="datacenter")  # fmt: skip
    end_reads_in_flight()
    with pytest.raises(JiraRetryAborted):
        client.add_comment("ABC-1", RESULT)
    assert rec.requests == []
    client.close()
    posting, rec = make_client({("POST", "/rest/api/2/issue/ABC-1/comment"): answer},
                               deployment="datacenter")  # fmt: skip
    with posting._posting():
        end_reads_in_flight()
        assert not posting.stopping.is_set()
    assert posting.add_comment("ABC-1", RESULT)["id"] == "900"
    posting.close()
