"""The Jira client against recorded fakejira exchanges (cassettes/jira/*.yaml).

CI replays (record_mode="none", no server, no network). To re-record, run
`JIRADEX_RECORD=1 /work/venv/bin/pytest -q -p no:xdist tests/test_jira_cassettes.py`
(see tests/cassette_utils.py): each test then starts fakejira, injects its faults and
rewrites its cassette. Retry waits go to a list, never to time.sleep.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from cassette_utils import (
    CASSETTE_ROOT,
    FAKE_OTHER,
    FAKE_SITE,
    OriginMap,
    cassette_files,
    recording,
    scrub,
    use_cassette,
)

from fakejira import FakeJira
from fakejira.dataset import EMBEDDED_COMMENTS, Dataset
from indexer.jira import (
    IssueNotFoundError,
    JiraAuthError,
    JiraBadRequestError,
    JiraClient,
    JiraPermissionError,
    JiraResponseError,
    ProjectNotFoundError,
    RetryPolicy,
    fetch_cloud_id,
)

EMAIL = "robot.cassette@example.com"
TOKENS = {
    "cloud": "cassette-cloud-api-token-7Qz1xV",
    "datacenter": "cassette-dc-pat-4Kp9wR3n",
    "anonymous": None,
    "gateway": "cassette-service-account-2Lm8tY",
}
WRONG_TOKEN = "cassette-wrong-token-0Zz0qq"
CLOUD_ID = "6a1f3c2e-1b7d-4c55-9e0a-3d2f1e0c9b8a"
SEED = 1
scrub(EMAIL, WRONG_TOKEN, *[t for t in TOKENS.values() if t])


@dataclass
class Env:
    """One test's world: a site URL, its cassette, and (when recording) the live fakejira."""

    site: str
    cass: object
    fj: FakeJira | None
    mode: str
    waits: list[float] = field(default_factory=list)
    sent: list[tuple[str, str, bool]] = field(default_factory=list)  # method, url, had auth

    def inject(self, kind: str, **kw) -> None:
        """Faults only matter while recording; replay already holds their answers."""
        if self.fj is not None:
            self.fj.inject(kind, **kw)

    def client(self, *, token: str | None = "default", username: str | None = "default",
               cloud_id: str | None = None, **kw) -> JiraClient:  # fmt: skip
        if token == "default":
            token = TOKENS[self.mode]
        if username == "default":
            username = EMAIL if self.mode in ("cloud", "gateway") else None
        policy = RetryPolicy(sleep=self.waits.append, budget_seconds=1000, rng=random.Random(0))
        client = JiraClient(self.site, username=username, token=token, cloud_id=cloud_id,
                            retry=policy, **kw)  # fmt: skip

        def hook(request: httpx.Request) -> None:
            self.sent.append((request.method, str(request.url), "authorization" in request.headers))

        client._http.event_hooks["request"] = [hook]
        return client

    def paths(self) -> list[str]:
        """Path and query of every request the client sent, in order (both modes)."""
        out = []
        for _method, url, _auth in self.sent:
            parts = urlsplit(url)
            out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        return out

    def queries(self, fragment: str) -> list[dict]:
        return [
            {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
            for _method, url, _auth in self.sent
            if fragment in urlsplit(url).path
        ]


@pytest.fixture
def jira(monkeypatch):
    @contextlib.contextmanager
    def _session(name: str, mode: str, **fake_kw):
        fake_kw.setdefault("issues", 30)
        fj = None
        if recording():
            token = TOKENS[mode] or "unused-anonymous-token"
            fj = FakeJira(mode=mode, email=EMAIL, token=token, cloud_id=CLOUD_ID, seed=SEED,
                          **fake_kw).start()  # fmt: skip
            live = f"http://127.0.0.1:{fj.port}"
            origins = OriginMap({live: FAKE_SITE, fj.download_url: FAKE_OTHER})
            site, gateway = fj.url, live
        else:
            origins = OriginMap()
            site, gateway = FAKE_SITE, FAKE_SITE
        monkeypatch.setenv("JIRADEX_GATEWAY_URL", gateway)
        try:
            with use_cassette(f"jira/{name}.yaml", origins) as cass:
                yield Env(site=site, cass=cass, fj=fj, mode=mode)
                if not recording():  # the client replayed exactly the recorded exchange
                    assert cass.all_played, f"{name}: recorded requests were not made"
        finally:
            if fj is not None:
                fj.stop()

    return _session


def find_issue(n: int, pred) -> str:
    """A key of the generated data set (a pure function of the seed: no server needed)."""
    ds = Dataset(n, SEED)
    for i in range(1, n + 1):
        iss = ds.issue(i)
        if pred(iss):
            return iss.key
    raise AssertionError("no generated issue matches")


# --- auth modes and paging ------------------------------------------------------------


def test_cloud_basic_pages_search_jql_with_explicit_fields(jira):
    with jira("cloud_basic_paging", "cloud", issues=23) as env:
        client = env.client()
        pages = list(client.search_issues("project = DEMO ORDER BY key ASC",
                                          ["summary", "updated"], page_size=10))  # fmt: skip
        assert client.deployment == "cloud"
        assert [len(p) for p in pages] == [10, 10, 3]
        keys = [i["key"] for p in pages for i in p]
        assert keys == [f"DEMO-{i}" for i in range(1, 24)]
        assert all(set(i["fields"]) == {"summary", "updated"} for p in pages for i in p)
        searches = env.queries("/search")
        assert [p.split("?")[0] for p in env.paths() if "/search" in p] == [
            "/rest/api/3/search/jql"
        ] * 3
        assert all(q["fields"] == "summary,updated" for q in searches)
        assert "nextPageToken" not in searches[0] and "nextPageToken" in searches[2]
        assert all(auth for _m, _u, auth in env.sent)
        assert env.waits == []


def test_datacenter_pat_pages_v2_search_reading_max_results_back(jira):
    with jira("dc_pat_lowered_max_results", "datacenter", issues=20, max_results_cap=7) as env:
        client = env.client()
        assert client.auth_mode == "bearer"
        pages = list(client.search_issues("project = DEMO ORDER BY key ASC", ["summary"], 50))
        assert client.deployment == "datacenter"
        assert [len(p) for p in pages] == [7, 7, 6]
        searches = env.queries("/rest/api/2/search")
        assert [(q["startAt"], q["maxResults"]) for q in searches] == [
            ("0", "50"), ("7", "7"), ("14", "7")
        ]  # fmt: skip
        assert not any("/rest/api/3/" in p for p in env.paths())


def test_anonymous_searches_without_credentials(jira):
    with jira("anonymous_search", "anonymous", issues=4) as env:
        client = env.client(token=None, username=None)
        assert client.auth_mode == "anonymous"
        pages = list(client.search_issues("project = DEMO", ["summary"]))
        assert sum(len(p) for p in pages) == 4
        info = client.test_connection("DEMO")
        assert info["user"] == "anonymous" and info["deployment"] == "datacenter"
        assert info["project"]["visible"] is True
        assert not any(auth for _m, _u, auth in env.sent)


def test_service_account_goes_through_the_gateway_and_browses_the_site(jira):
    with jira("service_account_gateway", "gateway", issues=12) as env:
        client = env.client(cloud_id=CLOUD_ID)
        assert client.auth_mode == "service_account"
        assert (
            client.api_base
            == f"{FAKE_SITE if not recording() else env.fj.gateway_url}/ex/jira/{CLOUD_ID}"
        )
        info = client.test_connection("DEMO")
        assert info["deployment"] == "cloud" and info["project"]["visible"] is True
        assert info["user"] == "Fake Tester"
        keys = [i["key"] for p in client.search_issues("project = DEMO", ["summary"]) for i in p]
        assert len(keys) == 12
        assert client.browse_url("DEMO-3") == f"{env.site}/browse/DEMO-3"
        rest = [p for p in env.paths() if "/rest/" in p]
        assert rest and all(p.startswith(f"/ex/jira/{CLOUD_ID}/rest/") for p in rest)


def test_cloud_id_is_read_from_tenant_info(jira):
    with jira("tenant_info", "cloud", issues=1) as env:
        assert fetch_cloud_id(env.site) == CLOUD_ID
        assert [urlsplit(r.uri).path for r in env.cass.requests] == ["/_edge/tenant_info"]


# --- comments and attachments ---------------------------------------------------------


def test_comments_beyond_the_embedded_page_are_paged(jira):
    key = find_issue(200, lambda i: len(i.comments) > EMBEDDED_COMMENTS)
    total = len(Dataset(200, SEED).issue(key).comments)
    with jira("comments_beyond_embedded", "cloud", issues=200) as env:
        client = env.client()
        issue = client.get_issue(key, ["comment"])
        embedded = issue["fields"]["comment"]
        assert len(embedded["comments"]) < embedded["total"] == total
        comments = client.complete_comments(issue)
        assert len(comments) == total
        assert len({c["id"] for c in comments}) == total
        assert len(env.queries("/comment")) == 1  # one page of 100 holds the rest
        paged = client.comments(key, page_size=10)
        assert [c["id"] for c in paged] == [c["id"] for c in comments]
        # Pages after the first go concurrently: each asked once, in any order.
        starts = [int(q["startAt"]) for q in env.queries(f"/issue/{key}/comment")]
        assert starts[0] == 0 and sorted(starts) == list(range(0, total, 10))


def attachment_issue(n: int, mime_prefix: str, min_size: int = 200) -> tuple[str, int]:
    ds = Dataset(n, SEED)
    for i in range(1, n + 1):
        for att in ds.issue(i).attachments:
            if att.mime.startswith(mime_prefix) and len(att.data) > min_size:
                return ds.issue(i).key, att.id
    raise AssertionError("no such attachment")


def test_dc_fetch_of_a_batch_holding_a_deleted_issue_returns_the_others(jira):
    """An issue deleted between the listing and the fetch must not fail its batch:
    Data Center refuses `id in (...)` naming it unless validateQuery=false."""
    with jira("dc_bulkfetch_deleted", "datacenter", issues=30) as env:
        if env.fj is not None:
            env.fj.delete_issue("DEMO-3")
        client = env.client()
        got = client.bulkfetch(["10002", "10003", "10004"], ["summary"])
        assert sorted(i["key"] for i in got) == ["DEMO-2", "DEMO-4"]
        searches = [u for m, u, _ in env.sent if "/rest/api/2/search" in u]
        assert len(searches) == 1 and "validateQuery=false" in searches[0]


def test_attachment_redirect_drops_authorization_off_origin(jira):
    key, att_id = attachment_issue(120, "text/plain")
    with jira("attachment_cross_origin", "cloud", issues=120) as env:
        client = env.client()
        meta = client.get_issue(key, ["attachment"])["fields"]["attachment"]
        url = next(a["content"] for a in meta if a["id"] == str(att_id))
        got = client.fetch_attachment(url)
        assert got.ok and got.content.startswith(b"20") and got.content_type == "text/plain"
        downloads = [(u, auth) for m, u, auth in env.sent if "/file/" in u]
        api = [(u, auth) for m, u, auth in env.sent if "/attachment/content/" in u]
        assert api and all(auth for _u, auth in api)
        assert downloads and not any(auth for _u, auth in downloads)
        assert urlsplit(downloads[0][0]).hostname == "localhost"
        if env.fj is not None:
            assert [d["authorization"] for d in env.fj.stats()["downloads"]] == [False]
        assert client.download_attachment(url) == got.content


def test_attachment_size_cap_and_binary_skip(jira):
    key, att_id = attachment_issue(120, "text/plain")
    png_key, png_id = attachment_issue(120, "image/png", 0)
    with jira("attachment_cap_and_binary", "cloud", issues=120) as env:
        client = env.client(attachment_max_bytes=100)
        meta = client.get_issue(key, ["attachment"])["fields"]["attachment"]
        url = next(a["content"] for a in meta if a["id"] == str(att_id))
        capped = client.fetch_attachment(url)
        assert not capped.ok and capped.skipped.startswith("larger than 100 bytes")
        assert client.download_attachment(url) is None
        png = client.get_issue(png_key, ["attachment"])["fields"]["attachment"]
        png_url = next(a["content"] for a in png if a["id"] == str(png_id))
        sniffed = client.fetch_attachment(png_url, 10_000_000)
        assert sniffed.skipped == "binary type image/png"
        before = len(env.sent)
        declared = client.fetch_attachment(png_url, mime_type="image/png")
        assert declared.skipped == "binary type image/png" and len(env.sent) == before


# --- retries ----------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["0", None], ids=["retry-after-0", "no-retry-after"])
def test_429_backs_off_then_succeeds(jira, retry_after):
    name = "retry_429_after_0" if retry_after else "retry_429_no_header"
    with jira(name, "cloud", issues=3) as env:
        env.inject("429", count=2, path_contains="/myself", retry_after=retry_after)
        client = env.client()
        assert client.myself()["emailAddress"] in (EMAIL, "<REDACTED>")
        assert env.paths().count("/rest/api/3/myself") == 3
        assert len(env.waits) == 2 and all(w > 0 for w in env.waits)  # 0 is not "no wait"
        assert env.waits[1] > env.waits[0] * 0.9  # doubling back-off (jitter 50-100%)
        assert client.request_counts()["rate_limited"] == 2


@pytest.mark.parametrize("status", ["503", "502"])
def test_5xx_retries_then_succeeds(jira, status):
    with jira(f"retry_{status}", "cloud", issues=3) as env:
        env.inject(status, count=1, path_contains="/issue/DEMO-2")
        client = env.client()
        assert client.get_issue("DEMO-2", ["summary"])["key"] == "DEMO-2"
        assert env.paths().count("/rest/api/3/issue/DEMO-2?fields=summary") == 2
        assert len(env.waits) == 1


def one_request_to(env: Env, fragment: str) -> int:
    return sum(1 for p in env.paths() if fragment in p)


def test_client_errors_are_never_retried_and_read_clearly(jira):
    with jira("errors_400_403_404", "cloud", issues=5) as env:
        client = env.client()
        with pytest.raises(JiraBadRequestError) as bad:
            list(client.search_issues("assignee = bob", ["summary"]))
        assert str(bad.value) == (
            "Jira rejected the request: Field 'assignee' does not exist or you do not "
            "have permission to view it."
        )
        with pytest.raises(IssueNotFoundError) as missing:
            client.get_issue("DEMO-999")
        assert str(missing.value) == (
            "Issue DEMO-999 does not exist or you do not have permission to see it"
        )
        with pytest.raises(ProjectNotFoundError) as project:
            client.project("NOPE")
        assert str(project.value) == (
            "Project NOPE does not exist or you do not have permission to see it"
        )
        env.inject("403", count=1, path_contains="/issue/DEMO-1")
        with pytest.raises(JiraPermissionError) as denied:
            client.get_issue("DEMO-1")
        assert str(denied.value) == (
            "Permission denied by Jira (HTTP 403): You currently don't have access to perform "
            "this operation; ask a Jira admin for access"
        )
        for fragment in ("/search/jql", "/issue/DEMO-999", "/project/NOPE", "/issue/DEMO-1"):
            assert one_request_to(env, fragment) == 1, fragment
        assert env.waits == []
        for err in (bad, missing, project, denied):
            assert "\n" not in str(err.value)


def test_401_messages_per_auth_mode(jira):
    with jira("errors_401_cloud", "cloud", issues=1) as env:
        client = env.client(token=WRONG_TOKEN)
        with pytest.raises(JiraAuthError) as cloud:
            client.myself()
        assert "Client must be authenticated to access this resource" in str(cloud.value)
        assert "set the cloud id and use the service account's e-mail" in str(cloud.value)
        # Bad credentials fail on the first call (serverInfo, to pick the API version).
        assert len(env.sent) == 1 and env.waits == []
    with jira("errors_401_service_account_on_site", "gateway", issues=1) as env:
        client = env.client()  # the scoped token sent to the site, without the cloud id
        with pytest.raises(JiraAuthError) as site:
            client.myself()
        assert "only works through the Atlassian gateway" in str(site.value)
    with jira("errors_401_gateway", "gateway", issues=1) as env:
        client = env.client(token=WRONG_TOKEN, cloud_id=CLOUD_ID)
        with pytest.raises(JiraAuthError) as gateway:
            client.myself()
        assert "through the Atlassian gateway: check the service account e-mail" in str(
            gateway.value
        )
    with jira("errors_401_datacenter", "datacenter", issues=1) as env:
        client = env.client(token=WRONG_TOKEN)
        with pytest.raises(JiraAuthError) as dc:
            client.myself()
        assert "check the personal access token" in str(dc.value)
    for err in (cloud, site, gateway, dc):
        assert WRONG_TOKEN not in str(err.value)


# --- posting and broken answers -----------------------------------------------------------


def test_post_comment_v3_adf_and_v2_wiki(jira):
    with jira("post_comment_cloud_adf", "cloud", issues=3) as env:
        client = env.client()
        created = client.add_comment("DEMO-2", "Fixed in **build 42**")
        assert created["id"].isdigit()
        assert created["url"] == f"{env.site}/browse/DEMO-2?focusedCommentId={created['id']}"
        post = next(r for r in env.cass.requests if r.method == "POST")
        assert urlsplit(post.uri).path == "/rest/api/3/issue/DEMO-2/comment"
        body = json.loads(post.body)["body"]
        assert body["type"] == "doc" and body["version"] == 1
    with jira("post_comment_dc_wiki", "datacenter", issues=3) as env:
        client = env.client()
        created = client.add_comment("DEMO-2", "Fixed in **build 42**")
        assert created["url"] == f"{env.site}/browse/DEMO-2?focusedCommentId={created['id']}"
        post = next(r for r in env.cass.requests if r.method == "POST")
        assert urlsplit(post.uri).path == "/rest/api/2/issue/DEMO-2/comment"
        assert json.loads(post.body)["body"] == "Fixed in *build 42*"


def test_html_login_page_with_200_is_an_auth_error(jira):
    with jira("html_login_page", "cloud", issues=1) as env:
        env.inject("html200", count=1, path_contains="/myself")
        client = env.client()
        with pytest.raises(JiraAuthError) as err:
            client.myself()
        assert str(err.value).startswith(f"Jira at {env.site} answered with its login page")
        assert one_request_to(env, "/myself") == 1


def test_non_json_body_is_a_clear_error(jira):
    with jira("non_json_body", "cloud", issues=1) as env:
        env.inject("notjson", count=3, path_contains="/myself")
        client = env.client()
        with pytest.raises(JiraResponseError) as err:
            client.myself()
        assert "answered with an HTML page" in str(err.value) or "not JSON" in str(err.value)
        assert one_request_to(env, "/myself") == 3  # two more tries, then the error
        assert len(env.waits) == 2


# --- hygiene ---------------------------------------------------------------------------------


def test_cassettes_hold_no_credentials():
    files = list(cassette_files("jira"))
    assert len(files) >= 20
    secrets = [t for t in TOKENS.values() if t] + [WRONG_TOKEN]
    forms = set(secrets)
    for token in secrets:
        forms.add(base64.b64encode(f"{EMAIL}:{token}".encode()).decode())
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "authorization" not in text.lower(), path.name
        for form in forms:
            assert form not in text, f"{path.name} holds a credential"
        data = yaml.safe_load(text)
        for inter in data["interactions"]:
            names = {n.lower() for n in inter["request"]["headers"]}
            assert not names & {"authorization", "cookie"}, path.name
    assert CASSETTE_ROOT.name == "cassettes"
