"""Tasks over real HTTP: import (indexed, live through a datasource or the global
connection), posting to Cloud (ADF) and Data Center (wiki markup), retry safety, the
service-account gateway and every error message, replayed from `cassettes/tasks/`.

Every test drives the `jiradex task ...` commands through CliRunner and the real
`cli.main` (exit codes, stderr lines) and checks the `--json` shapes that
ARCHITECTURE.md promises.

Re-recording (starts fakejira; run serially):
    JIRADEX_RECORD=1 /work/venv/bin/pytest -q -p no:xdist tests/test_tasks_cassettes.py

Request bodies are not part of the cassette match: the Markdown writers in
`indexer/markup` may change their output without making these cassettes stale.
Instead every request the client sends is captured (`sent`) and the comment bodies
are checked here, against the ADF schema for Cloud and for wiki markup on Data Center.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import jsonschema
import pytest
from cassette_utils import (
    FAKE_GATEWAY,
    FAKE_SITE,
    OriginMap,
    make_vcr,
    recording,
    scrub,
)
from cli_runner import run

from indexer import config
from indexer.store import Store
from indexer.sync import sync_datasource

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROJECT = "ACME"
EMAIL = "tester@example.com"
TOKEN = "fake-cloud-token-7f3a"
DC_TOKEN = "fake-dc-pat-41c9"
SA_EMAIL = "jiradex-bot@serviceaccount.atlassian.com"
SA_TOKEN = "fake-scoped-token-5d2e"
CLOUD_ID = "0e5c5b8d-7f0a-4d1e-9a57-1f2e3d4c5b6a"
scrub(TOKEN, DC_TOKEN, SA_TOKEN)

MATCH_ON = ["method", "scheme", "host", "port", "path", "query"]

RICH_RESULT = """\
## Fixed

The **cookie** flags were _wrong_ and ~~ignored~~; see `session.py`.

1. Reproduced on Safari 17
   - with SSO
   - without SSO
2. Patched [the handler](https://example.com/pr/12)

```python
def fix():
    return True
```

> Verified by QA.

| Browser | Result |
|---------|--------|
| Safari  | ok     |

---

Line one\\
line two
"""


# --------------------------------------------------------------------------- harness


class Jira:
    """The Jira of one test: fakejira when recording, the fixed origins on replay."""

    def __init__(self, mode: str, monkeypatch, *, display_name: str | None = None):
        self.mode = mode
        self.fj = None
        mapping: dict[str, str] = {}
        if recording():
            from fakejira import FakeJira
            from fakejira.payloads import Account

            email = SA_EMAIL if mode == "gateway" else EMAIL
            token = {"datacenter": DC_TOKEN, "gateway": SA_TOKEN}.get(mode, TOKEN)
            self.fj = FakeJira(
                mode=mode,
                issues=6,
                project=PROJECT,
                attachments=False,
                email=email,
                token=token,
                cloud_id=CLOUD_ID,
            ).start()
            if display_name:
                self.fj.account = Account(email=email, display_name=display_name)
            self.site, self.gateway = self.fj.url, self.fj.gateway_url
            if mode == "gateway":  # same port: the /ex/jira prefix tells them apart
                mapping[f"{self.gateway}/ex/jira"] = f"{FAKE_GATEWAY}/ex/jira"
            mapping[self.site] = FAKE_SITE
            mapping[self.site.split("//", 1)[1]] = FAKE_SITE.split("//", 1)[1]  # Host headers
        else:
            self.site, self.gateway = FAKE_SITE, FAKE_GATEWAY
        if mode == "gateway":
            monkeypatch.setenv("JIRADEX_GATEWAY_URL", self.gateway)
        self.origins = OriginMap(mapping)

    def cassette(self, name: str):
        return make_vcr(self.origins).use_cassette(f"tasks/{name}.yaml", match_on=MATCH_ON)

    def inject(self, kind: str, path_contains: str, method: str | None = None) -> None:
        """A fault for the next matching request (recorded; on replay the cassette has it)."""
        if self.fj is not None:
            self.fj.inject(kind, 1, path_contains=path_contains, method=method)

    def stop(self) -> None:
        if self.fj is not None:
            self.fj.stop()


@pytest.fixture
def make_jira(monkeypatch):
    made: list[Jira] = []

    def make(mode: str = "cloud", **kwargs) -> Jira:
        jira = Jira(mode, monkeypatch, **kwargs)
        made.append(jira)
        return jira

    yield make
    for jira in made:
        jira.stop()


@pytest.fixture
def sent(monkeypatch):
    """Every request any httpx client sends: (method, url, body bytes)."""
    requests: list[tuple[str, str, bytes]] = []
    real_send = httpx.Client.send

    def spy(self, request, **kwargs):
        requests.append((request.method, str(request.url), request.content))
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", spy)
    return requests


def add_datasource(jira: Jira, name: str = "acme", **overrides) -> config.Datasource:
    fields = {
        "name": name,
        "endpoint": jira.site,
        "project_key": PROJECT,
        "index_comments": True,
    }
    if jira.mode == "cloud":
        fields.update(username=EMAIL, token=TOKEN)
    elif jira.mode == "datacenter":
        fields.update(token=DC_TOKEN)
    elif jira.mode == "gateway":
        fields.update(username=SA_EMAIL, token=SA_TOKEN, cloud_id=CLOUD_ID)
    fields.update(overrides)
    return config.add_datasource(config.Datasource(**fields))


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def paths(sent, origin: str) -> list[str]:
    """`METHOD /path` of each request, failing if one went anywhere but `origin`."""
    out = []
    for method, url, _ in sent:
        assert url.startswith(origin + "/"), url
        out.append(f"{method} {url[len(origin) :].split('?')[0]}")
    return out


def posted_bodies(sent) -> list:
    return [
        json.loads(body)["body"]
        for method, url, body in sent
        if method == "POST" and url.endswith("/comment")
    ]


def adf_validator() -> jsonschema.Draft4Validator:
    schema = json.loads((FIXTURES / "adf-schema" / "full.json").read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def node_types(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        if isinstance(node.get("type"), str):
            found.add(node["type"])
        for mark in node.get("marks") or []:
            found.add("mark:" + mark.get("type", ""))
        for child in node.get("content") or []:
            found |= node_types(child)
    return found


# --------------------------------------------------------------------------- import


def test_import_live_then_from_index_gives_the_same_task(make_jira, sent):
    jira = make_jira("cloud")
    add_datasource(jira)
    with jira.cassette("import_live_then_indexed"):
        live = run("task", "import", "ACME-3", "--comments", "--json")
        assert live.exit_code == 0, live.output
        assert lines(live.stderr) == [f"ACME-3 is not in the index: fetched live from {jira.site}"]
        live_task = json.loads(live.stdout)
        assert live_task["source"] == "live"
        assert paths(sent, jira.site) == [
            "GET /rest/api/2/serverInfo",
            "GET /rest/api/3/issue/ACME-3",
            "GET /rest/api/3/issue/ACME-3/comment",
        ]

        with Store() as store:
            summary = sync_datasource(config.get_datasource("acme"), store=store)
        assert summary.status == "ok" and summary.issues == 6, summary.error

        before = len(sent)
        indexed = run("task", "import", "ACME-3", "--comments", "--json")
        assert indexed.exit_code == 0, indexed.output
        assert indexed.stderr == ""
        assert len(sent) == before  # no request at all: the index has everything
    task = json.loads(indexed.stdout)
    assert task["source"] == "index"
    assert task["id"] == live_task["id"] + 1
    for field in ("key", "title", "instructions", "url", "datasource", "issue_id", "kind"):
        assert task[field] == live_task[field], field
    assert task["key"] == "ACME-3" and task["url"] == f"{jira.site}/browse/ACME-3"
    assert task["datasource"] == "acme" and task["kind"] == "task"
    assert task["instructions"] == ACME_3_WITH_COMMENTS.format(site=jira.site)

    shown = run("task", "show", str(task["id"]), "--markdown")
    assert shown.exit_code == 0 and shown.stderr == ""
    assert shown.stdout == ACME_3_WITH_COMMENTS.format(site=jira.site)


ACME_3_WITH_COMMENTS = """\
# ACME-3: Document keyboard shortcuts for admins

- **Type:** Task
- **Status:** In Progress
- **Priority:** Highest
- **Assignee:** Kwame Mensah
- **Labels:** backend, regression
- **Link:** {site}/browse/ACME-3

## Description

_No description._

## Comments

### Olga Ivanova · 2022-12-21 13:58 UTC

The page is slow when many items are loaded at once this started after the last release \
and only.

### Wei Zhang 张伟 · 2022-12-22 01:20 UTC

Wrong for production deployments users report.
"""


def connect_globally(monkeypatch, jira: Jira) -> None:
    monkeypatch.setenv("JIRA_ENABLED", "true")
    monkeypatch.setenv("JIRA_BASE_URL", jira.site)
    monkeypatch.setenv("JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("JIRA_API_TOKEN", TOKEN)


def test_import_live_through_global_connection_and_post_back(make_jira, sent, monkeypatch):
    """No datasource for ACME: the global connection fetches the issue and posts."""
    jira = make_jira("cloud")
    connect_globally(monkeypatch, jira)
    with jira.cassette("import_live_global"):
        made = run(
            "task",
            "import",
            "ACME-2",
            "--objective",
            "--instructions",
            "Write the fix up as a checklist.",
            "--json",
        )
        assert made.exit_code == 0, made.output
        assert lines(made.stderr) == [f"ACME-2 is not in the index: fetched live from {jira.site}"]
        task = json.loads(made.stdout)
        assert {k: task[k] for k in ("id", "key", "title", "url", "kind", "datasource")} == {
            "id": 1,
            "key": "ACME-2",
            "title": "ACME-2: SessionManager.resolve_alias fails with socket hang up",
            "url": f"{jira.site}/browse/ACME-2",
            "kind": "objective",
            "datasource": "",
        }
        expected = ACME_2_OBJECTIVE.format(site=jira.site)
        assert task["instructions"] == expected
        assert run("task", "show", "1", "--markdown").stdout == expected

        stored = run("task", "result", "1", "-", stdin="- [x] fixed\n- [x] tested\n")
        assert stored.exit_code == 0 and stored.stdout == ""
        posted = run("task", "post", "1", "--json")
        assert posted.exit_code == 0, posted.output
    comment = json.loads(posted.stdout)
    assert set(comment) >= {"id", "key", "comment_id", "url"}
    assert comment["id"] == 1 and comment["key"] == "ACME-2"
    assert comment["url"] == f"{jira.site}/browse/ACME-2?focusedCommentId={comment['comment_id']}"
    assert lines(posted.stderr) == ["Posted as Fake Tester"]
    assert paths(sent, jira.site)[-3:] == [
        "GET /rest/api/2/serverInfo",
        "GET /rest/api/3/myself",
        "POST /rest/api/3/issue/ACME-2/comment",
    ]


ACME_2_OBJECTIVE = """\
# ACME-2: SessionManager.resolve_alias fails with socket hang up

This is an **objective**: a larger piece of work. Plan it, split it into steps, and report \
what was done and what is left.

- **Type:** Epic
- **Status:** Closed
- **Priority:** High
- **Assignee:** Liam O'Brien
- **Labels:** needs-triage, regression
- **Link:** {site}/browse/ACME-2

## Description

After the last release and only happens sometimes a workaround is to restart. See \
`read_chunk()` in **ConfigLoader**.

### Steps to reproduce

- Service returns an error after a.
- The default value looks wrong for production.
- After a while and the logs show repeated retries.
- Are loaded at once this started after.

Stack trace:

```java
java.lang.IllegalStateException: NullPointerException
    at com.example.ui.BillingGateway.parse_config(BillingGateway.java:243)
    at com.example.billing.ConfigLoader.parse_config(ConfigLoader.java:662)
Caused by: java.net.SocketTimeoutException: BillingGateway read timed out
```

| Component | Errors | State |
| --- | --- | --- |
| ui | 457 | ok |
| frontend | 42 | failing |
| ui | 260 | ok |

> **Warning:** Customer impact: After the last release and only happens sometimes a.

Service returns an error after a while and the logs show repeated retries we should check \
the.

## Additional instructions

Write the fix up as a checklist.
"""


@pytest.mark.parametrize("key", ["ACME", "ACME-", "1-ACME", "ACME 1", "ACME-1; DROP"])
def test_bad_key_format_fails_before_any_request(make_jira, sent, key):
    jira = make_jira("cloud")
    add_datasource(jira)
    result = run("task", "import", key)
    assert result.exit_code == 1 and result.stdout == ""
    assert lines(result.stderr) == ["jiradex: Issue key must look like PROJECT-123"]
    assert sent == []


def test_unknown_key_and_refused_credentials(make_jira, sent, monkeypatch):
    jira = make_jira("cloud")
    add_datasource(jira)
    with jira.cassette("import_errors"):
        unknown = run("task", "import", "ACME-404")
        assert unknown.exit_code == 1 and unknown.stdout == ""
        assert lines(unknown.stderr) == [
            "jiradex: Issue ACME-404 does not exist or you do not have permission to see it"
        ]
        assert paths(sent, jira.site)[-1] == "GET /rest/api/3/issue/ACME-404"

        config.remove_datasource("acme")
        add_datasource(jira, username=EMAIL, token="wrong-token-0000")
        scrub("wrong-token-0000")
        refused = run("task", "import", "ACME-1")
        assert refused.exit_code == 1 and refused.stdout == ""
        # the tasks part of the line is exact; the 401 wording is the Jira client's
        [line] = lines(refused.stderr)
        prefix = (
            f'jiradex: Could not fetch ACME-1 from Jira: datasource "acme": '
            f"Authentication failed for {jira.site}: "
        )
        assert line.startswith(prefix), line
        assert "e-mail and API token" in line and "wrong-token" not in line
    nowhere = run("task", "import", "OTHER-1")
    assert lines(nowhere.stderr) == [
        "jiradex: Issue OTHER-1 is not in the index, and no datasource of OTHER or Jira "
        "connection can fetch it"
    ]
    assert run("task", "list", "--json").stdout.strip() == "[]"


# --------------------------------------------------------------------------- post


def import_and_store_result(key: str, result: str = RICH_RESULT) -> int:
    made = run("task", "import", key, "--json")
    assert made.exit_code == 0, made.output
    task_id = json.loads(made.stdout)["id"]
    stored = run("task", "result", str(task_id), "-", stdin=result)
    assert stored.exit_code == 0, stored.output
    return task_id


def test_post_on_cloud_sends_valid_adf_once_unless_forced(make_jira, sent):
    jira = make_jira("cloud")
    add_datasource(jira)
    with jira.cassette("post_cloud"):
        task_id = import_and_store_result("ACME-4")
        first = run("task", "post", str(task_id), "--json")
        assert first.exit_code == 0, first.output
        assert lines(first.stderr) == ["Posted as Fake Tester"]

        before = len(sent)
        again = run("task", "post", str(task_id))
        assert again.exit_code == 1 and again.stdout == ""
        [line] = lines(again.stderr)
        assert line.startswith(f"jiradex: Task T-{task_id} was already posted to ACME-4 at ")
        assert line.endswith(
            f"({jira.site}/browse/ACME-4?focusedCommentId={json.loads(first.stdout)['comment_id']})"
            ": use --force to post it again"
        )
        assert len(sent) == before  # refused without asking Jira anything

        forced = run("task", "post", str(task_id), "--force")
        assert forced.exit_code == 0, forced.output
        comments = [
            c for c in fetch_comments(jira, "ACME-4") if c["author"]["displayName"] == "Fake Tester"
        ]
    data = json.loads(first.stdout)
    assert {k: data[k] for k in ("id", "key", "url")} == {
        "id": task_id,
        "key": "ACME-4",
        "url": f"{jira.site}/browse/ACME-4?focusedCommentId={data['comment_id']}",
    }
    assert data["account"] == "Fake Tester" and data["service_account"] is False
    second_id = forced.stdout.rsplit("focusedCommentId=", 1)[1].strip()
    assert forced.stdout == (
        f"Posted T-{task_id} to ACME-4: {jira.site}/browse/ACME-4?focusedCommentId={second_id}\n"
    )
    assert second_id != data["comment_id"]
    assert [c["id"] for c in comments] == [data["comment_id"], second_id]

    bodies = posted_bodies(sent)
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    adf = bodies[0]
    errors = sorted(adf_validator().iter_errors(adf), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]
    assert adf["type"] == "doc" and adf["version"] == 1
    assert {
        "heading",
        "paragraph",
        "orderedList",
        "bulletList",
        "codeBlock",
        "blockquote",
        "table",
        "rule",
        "hardBreak",
        "mark:strong",
        "mark:em",
        "mark:strike",
        "mark:code",
        "mark:link",
    } <= node_types(adf)
    assert comments[0]["body"] == adf  # what Jira kept is what was sent

    shown = json.loads(run("task", "show", str(task_id), "--json").stdout)
    assert shown["state"] == "posted" and shown["last_error"] is None
    assert [p["comment_id"] for p in shown["posts"]] == [data["comment_id"], second_id]
    assert {p["account"] for p in shown["posts"]} == {"Fake Tester"}


def fetch_comments(jira: Jira, key: str) -> list[dict]:
    """The issue's comments as Jira now holds them (through the client, so recorded)."""
    from indexer.jira import client_for_datasource

    with client_for_datasource(config.get_datasource("acme")) as client:
        return client.comments(key)


def test_post_on_data_center_sends_wiki_markup(make_jira, sent):
    jira = make_jira("datacenter")
    add_datasource(jira)
    with jira.cassette("post_datacenter"):
        task_id = import_and_store_result("ACME-5")
        posted = run("task", "post", str(task_id), "--json")
        assert posted.exit_code == 0, posted.output
        posting = paths(sent, jira.site)
        stored = fetch_comments(jira, "ACME-5")
    data = json.loads(posted.stdout)
    assert data["url"] == f"{jira.site}/browse/ACME-5?focusedCommentId={data['comment_id']}"
    assert lines(posted.stderr) == ["Posted as Fake Tester"]
    assert posting[-3:] == [
        "GET /rest/api/2/serverInfo",
        "GET /rest/api/2/myself",
        "POST /rest/api/2/issue/ACME-5/comment",
    ]
    assert all("/rest/api/3/" not in url for _, url, _ in sent)
    [wiki] = posted_bodies(sent)
    assert isinstance(wiki, str)
    for fragment in (
        "h2. Fixed",
        "*cookie*",
        "_wrong_",
        "-ignored-",
        "{{session.py}}",
        "# Reproduced on Safari 17",
        "#* with SSO",
        "[the handler|https://example.com/pr/12]",
        "{code:python}\ndef fix():\n    return True\n{code}",
        "{quote}",
        "||Browser||Result||",
        "|Safari|ok|",
        "----",
    ):
        assert fragment in wiki, fragment
    assert stored[-1]["id"] == data["comment_id"] and stored[-1]["body"] == wiki


@pytest.mark.parametrize("mode", ["cloud", "datacenter"])
def test_a_post_whose_answer_is_lost_is_found_on_the_issue_not_posted_twice(
    make_jira, sent, monkeypatch, mode
):
    """Jira takes the comment and the answer never arrives (a read timeout): the
    client looks for its comment among the issue's newest ones (same author, same
    text as ADF or wiki markup reads) and reports it instead of failing."""
    jira = make_jira(mode)
    add_datasource(jira)
    spied_send = httpx.Client.send
    lost = []

    def lose_the_first_answer(self, request, **kwargs):
        response = spied_send(self, request, **kwargs)
        if request.method == "POST" and request.url.path.endswith("/comment") and not lost:
            lost.append(response.status_code)
            response.close()
            raise httpx.ReadTimeout("The read operation timed out", request=request)
        return response

    monkeypatch.setattr(httpx.Client, "send", lose_the_first_answer)
    with jira.cassette(f"post_lost_answer_{mode}"):
        task_id = import_and_store_result("ACME-5")
        posted = run("task", "post", str(task_id), "--json")
        assert posted.exit_code == 0, posted.output
        again = run("task", "post", str(task_id))
        comments = fetch_comments(jira, "ACME-5")
    assert lost == [201]
    data = json.loads(posted.stdout)
    ours = [c for c in comments if c["author"]["displayName"] == "Fake Tester"]
    assert [str(c["id"]) for c in ours] == [data["comment_id"]]
    assert len([m for m, _, _ in sent if m == "POST"]) == 1
    looked = [u for m, u, _ in sent if m == "GET" and "/issue/ACME-5/comment?" in u]
    assert looked and "orderBy=-created" in looked[0]
    assert again.exit_code == 1 and "was already posted to ACME-5" in again.stderr


def test_failed_posts_keep_the_result_and_say_why(make_jira, sent):
    jira = make_jira("cloud")
    add_datasource(jira)
    with jira.cassette("post_failures"):
        task_id = import_and_store_result("ACME-6", "Done.\n")
        jira.inject("403", "/issue/ACME-6/comment", method="POST")
        denied = run("task", "post", str(task_id))
        assert denied.exit_code == 1 and denied.stdout == ""
        failed = f"jiradex: Posting task T-{task_id} to ACME-6 failed, the result is kept: "
        [line] = lines(denied.stderr)
        assert line.startswith(failed + "Permission denied by Jira (HTTP 403): "), line
        assert "You currently don't have access to perform this operation" in line
        after_403 = json.loads(run("task", "show", str(task_id), "--json").stdout)

        jira.inject("500", "/issue/ACME-6/comment", method="POST")
        broken = run("task", "post", str(task_id))
        assert broken.exit_code == 1
        [line] = lines(broken.stderr)
        assert line.startswith(failed + f"Jira at {jira.site} failed with HTTP 500"), line
        assert line.endswith("fakejira injected HTTP 500.")
        listed = run("task", "list")

        retried = run("task", "post", str(task_id), "--json")
        assert retried.exit_code == 0, retried.output
    assert after_403["state"] == "failed" and after_403["result"] == "Done.\n"
    assert after_403["posts"] == [] and "HTTP 403" in after_403["last_error"]
    assert lines(listed.stdout) == [
        f"T-{task_id:<4} task      failed   ACME-6: NullPointerException in BillingGateway"
    ]
    # one POST per attempt: a failed post is never retried behind the user's back
    assert [u for m, u, _ in sent if m == "POST"] == [
        f"{jira.site}/rest/api/3/issue/ACME-6/comment"
    ] * 3
    shown = json.loads(run("task", "show", str(task_id), "--json").stdout)
    assert shown["state"] == "posted" and shown["last_error"] is None
    assert [p["comment_id"] for p in shown["posts"]] == [json.loads(retried.stdout)["comment_id"]]


def test_service_account_posts_through_gateway_and_links_to_the_site(make_jira, sent):
    jira = make_jira("gateway", display_name="Jiradex Bot")
    add_datasource(jira, name="svc")
    gateway_api = f"{jira.gateway}/ex/jira/{CLOUD_ID}"
    with jira.cassette("post_service_account"):
        task_id = import_and_store_result("ACME-1", "Closed by the bot.\n")
        posted = run("task", "post", str(task_id), "--json")
        assert posted.exit_code == 0, posted.output
    task = json.loads(run("task", "show", str(task_id), "--json").stdout)
    assert task["url"] == f"{jira.site}/browse/ACME-1" and task["datasource"] == "svc"
    data = json.loads(posted.stdout)
    assert data["url"] == f"{jira.site}/browse/ACME-1?focusedCommentId={data['comment_id']}"
    assert data["account"] == "Jiradex Bot" and data["service_account"] is True
    assert lines(posted.stderr) == [
        "Posted as Jiradex Bot (a service account: the comment shows under its name, not yours)"
    ]
    assert paths(sent, gateway_api) == [  # a service account is Cloud: no serverInfo
        "GET /rest/api/3/issue/ACME-1",
        "GET /rest/api/3/myself",
        "POST /rest/api/3/issue/ACME-1/comment",
    ]
    assert "api.atlassian.com" not in posted.stdout + json.dumps(task)


def test_cassettes_hold_no_secret_and_no_live_port():
    from cassette_utils import cassette_files

    files = list(cassette_files("tasks"))
    assert len(files) == 9
    for path in files:
        text = path.read_text(encoding="utf-8")
        for secret in (TOKEN, DC_TOKEN, SA_TOKEN, "wrong-token-0000", "authorization:"):
            assert secret.lower() not in text.lower(), (path.name, secret)
        ports = set(re.findall(r"(?:127\.0\.0\.1|localhost):(\d+)", text))
        assert ports <= {"50080", "50081"}, (path.name, ports)
