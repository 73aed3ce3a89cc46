"""Posting a task's result over real HTTP code (the real JiraClient, httpx.MockTransport):
what happens when a post is cut short, when its answer is lost, which comments may be
taken for it, and which site it may go to.

`MockJira` holds one issue's comments the way Jira does (ids, author, created, body
as sent); a test decides per POST what happens after Jira stored the comment: the
answer arrives, is lost (a read timeout), or the program is interrupted meanwhile.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cli_runner import run

import indexer.jira as jira
from indexer import config, paths, tasks
from indexer.errors import TaskError
from indexer.jira import JiraClient, RetryPolicy

SITE = "https://acme.example.com"
TOKEN = "posting-secret-pat-0001"
ME = {"name": "alex", "key": "JIRAUSER10000", "displayName": "Alex Doe"}
DC_INFO = {"version": "9.12.0", "versionNumbers": [9, 12, 0]}
RESULT = "## Done\n\nThe **pool** is bounded now.\n"


def jira_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class MockJira:
    """One Data Center site's comments, served through an httpx.MockTransport.

    `on_post` decides what follows a POST once the comment is stored: "answer"
    (default), "lose" (a read timeout), "interrupt" (Ctrl-C while waiting), or
    "hold" (stored later than it is listed: invisible until `release()`), "hang"
    (never answers), "refuse" (HTTP 403, nothing stored) or "drop" (a read timeout,
    nothing stored).
    With `state_file`, comments are kept in that JSON file (shared across processes).
    """

    def __init__(self, state_file: Path | None = None):
        self.state_file = state_file
        self._comments: list[dict] = []
        self.on_post: list[str] = []
        self.posts = 0
        self.held: list[dict] = []
        self.requests: list[httpx.Request] = []
        self.clock = lambda: datetime.now(UTC)

    @property
    def comments(self) -> list[dict]:
        if self.state_file is not None and self.state_file.exists():
            return json.loads(self.state_file.read_text(encoding="utf-8"))
        return self._comments

    def store(self, comment: dict) -> None:
        comments = self.comments + [comment]
        if self.state_file is not None:
            self.state_file.write_text(json.dumps(comments), encoding="utf-8")
        else:
            self._comments = comments

    def add(self, ident: str, body: str, *, author=ME, minutes_ago: float = 0) -> dict:
        comment = {
            "id": ident,
            "author": {"name": author["name"], "key": author["key"]},
            "body": body,
            "created": jira_time(self.clock() - timedelta(minutes=minutes_ago)),
        }
        self.store(comment)
        return comment

    def release(self) -> None:
        for comment in self.held:
            self.store(comment)
        self.held = []

    def ours(self) -> list[dict]:
        return [c for c in self.comments if c["author"]["name"] == ME["name"]]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        headers = {"Date": self.clock().strftime("%a, %d %b %Y %H:%M:%S GMT")}
        if path == "/rest/api/2/serverInfo":
            return httpx.Response(200, json=DC_INFO, headers=headers)
        if path == "/rest/api/2/myself":
            return httpx.Response(200, json=ME, headers=headers)
        if path.endswith("/comment") and request.method == "GET":
            listed = sorted(self.comments, key=lambda c: c["created"], reverse=True)
            return httpx.Response(
                200,
                json={"startAt": 0, "maxResults": 50, "total": len(listed), "comments": listed},
                headers=headers,
            )
        if path.endswith("/comment") and request.method == "POST":
            self.posts += 1
            what = self.on_post.pop(0) if self.on_post else "answer"
            if what == "drop":  # lost on the way: Jira never saw it, the client timed out
                raise httpx.ReadTimeout("The read operation timed out", request=request)
            if what == "refuse":
                return httpx.Response(
                    403,
                    json={"errorMessages": ["You currently don't have access."], "errors": {}},
                )
            ident = str(1000 + self.posts)
            comment = {
                "id": ident,
                "author": {"name": ME["name"], "key": ME["key"]},
                "body": json.loads(request.content)["body"],
                "created": jira_time(self.clock()),
            }
            if what == "hold":
                self.held.append(comment)
            else:
                self.store(comment)
            if what in ("lose", "hold"):
                raise httpx.ReadTimeout("The read operation timed out", request=request)
            if what == "interrupt":
                raise KeyboardInterrupt
            if what == "hang":  # a request that never gets its answer
                time.sleep(3600)
            return httpx.Response(201, json={"id": ident, **comment}, headers=headers)
        return httpx.Response(404, json={"errorMessages": [f"no route {path}"], "errors": {}})


def client_for(mock: MockJira, site: str = SITE) -> JiraClient:
    return JiraClient(
        site,
        token=TOKEN,
        transport=httpx.MockTransport(mock),
        retry=RetryPolicy(sleep=lambda _: None, budget_seconds=1000),
    )


@pytest.fixture
def mock_jira(monkeypatch):
    """Every client the task code builds talks to one MockJira (a fresh client each time,
    as each `jiradex task post` makes its own)."""
    mock = MockJira()
    built: list[str] = []

    def for_datasource(ds, **_):
        built.append(f"datasource:{ds.name}")
        return client_for(mock, ds.endpoint)

    def for_connection(conn, **_):
        built.append("connection")
        return client_for(mock, conn.base_url)

    monkeypatch.setattr(jira, "client_for_datasource", for_datasource)
    monkeypatch.setattr(jira, "client_for_connection", for_connection)
    mock.built = built
    return mock


@pytest.fixture
def datasource():
    return config.add_datasource(
        config.Datasource(name="acme", endpoint=SITE, project_key="ABC", token=TOKEN)
    )


def make_task(result: str | None = RESULT, key: str = "ABC-12", datasource: str = "acme"):
    store = tasks.TaskStore()
    link = tasks.TaskLink(key, "10001", datasource, f"{SITE}/browse/{key}")
    task = store.create("task", f"{key}: Pool times out", "# x\n", link)
    if result is not None:
        store.set_result(task.id, result)
    return store.get(task.id)


# --------------------------------------------------------------------------- cut short


def test_ctrl_c_while_the_post_is_in_flight_is_found_on_the_next_post(datasource, mock_jira):
    """Jira stored the comment, then Ctrl-C: nothing came back. The next post finds
    that comment and links it; the issue shows it once."""
    task = make_task()
    mock_jira.on_post = ["interrupt"]
    with pytest.raises(KeyboardInterrupt):
        tasks.post_task(task.id)
    assert len(mock_jira.ours()) == 1
    left = tasks.TaskStore().get(task.id)
    assert left.posts == [] and left.attempt is not None and left.attempt.text == RESULT
    assert left.to_json()["post_in_flight"] == left.attempt.started

    outcome = tasks.post_task(task.id)
    assert outcome.found and outcome.post.comment_id == "1001"
    assert mock_jira.posts == 1 and len(mock_jira.ours()) == 1
    kept = tasks.TaskStore().get(task.id)
    assert kept.state == "posted" and kept.attempt is None and kept.last_error is None
    assert [p.comment_id for p in kept.posts] == ["1001"]


def test_ctrl_c_during_cli_post_then_post_again_makes_one_comment(datasource, mock_jira):
    task = make_task()
    mock_jira.on_post = ["interrupt"]
    stopped = run("task", "post", str(task.id))
    assert stopped.exit_code == 130 and stopped.stderr.strip() == "jiradex: interrupted"
    shown = run("task", "show", str(task.id))
    assert "in flight" in shown.stdout
    again = run("task", "post", str(task.id), "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["comment_id"] == "1001"
    assert "was already on ABC-12" in again.stderr and "nothing posted twice" in again.stderr
    assert mock_jira.posts == 1


KILLED_POSTER = """
import sys
from pathlib import Path
sys.path[:0] = [{repo!r}, {tests!r}]
import indexer.jira as jira
from indexer import tasks
import test_tasks_posting as t

mock = t.MockJira(Path({state!r}))
mock.on_post = ["hang"]
jira.client_for_datasource = lambda ds, **_: t.client_for(mock, ds.endpoint)
tasks.post_task({task_id})
"""


def test_a_post_killed_while_in_flight_is_found_on_the_next_post(
    datasource, mock_jira, tmp_path, jiradex_home
):
    """SIGKILL while the POST waits for its answer (no handler runs, nothing is
    written then): the attempt was recorded before sending, so the next post looks
    on the issue first and links the comment Jira made."""
    task = make_task()
    state = tmp_path / "jira-comments.json"
    repo = Path(__file__).resolve().parent.parent
    script = KILLED_POSTER.format(
        repo=str(repo), tests=str(repo / "tests"), state=str(state), task_id=task.id
    )
    env = {**os.environ, "JIRADEX_HOME": str(jiradex_home)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 30
        while not state.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert state.exists(), "the killed poster never reached Jira"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    mock_jira.state_file = state
    assert len(mock_jira.ours()) == 1
    assert tasks.TaskStore().get(task.id).attempt is not None

    outcome = tasks.post_task(task.id)
    assert outcome.found and len(mock_jira.ours()) == 1 and mock_jira.posts == 0
    assert [p.comment_id for p in tasks.TaskStore().get(task.id).posts] == ["1001"]


def test_a_post_refused_by_jira_is_not_in_flight_and_is_not_looked_for(datasource, mock_jira):
    """A 4xx answer says no comment was made: nothing to look for next time."""
    task = make_task()
    mock_jira.on_post = ["refuse"]
    with pytest.raises(TaskError, match="HTTP 403"):
        tasks.post_task(task.id)
    failed = tasks.TaskStore().get(task.id)
    assert failed.attempt is None and failed.state == "failed"
    mock_jira.requests.clear()
    assert not tasks.post_task(task.id).found
    assert not any(
        r.method == "GET" and r.url.path.endswith("/comment") for r in mock_jira.requests
    )


def test_a_task_database_from_before_attempts_gets_its_failed_posts_looked_for(jiradex_home):
    """Upgrading: a task whose last post failed (maybe after Jira took it) counts as
    in flight since its result was stored; the others do not."""
    import sqlite3

    path = paths.tasks_path()
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.executescript(tasks.SCHEMA)
    for number, error in ((1, "Connection timed out"), (2, None)):
        db.execute(
            "INSERT INTO tasks (id, kind, title, instructions, created, issue_key, issue_id,"
            " datasource, url, result, result_updated, last_error) VALUES"
            " (?, 'task', 't', 'i', '2024-01-01T00:00:00Z', 'ABC-1', '1', 'acme', 'u', 'R',"
            " '2024-01-02T00:00:00Z', ?)",
            (number, error),
        )
    db.commit()
    db.close()
    store = tasks.TaskStore()
    assert store.get(1).attempt == tasks.TaskAttempt("2024-01-02T00:00:00Z", "R")
    assert store.get(2).attempt is None


# --------------------------------------------------------------------------- whose comment


def test_another_tasks_identical_comment_is_never_taken_for_this_ones(datasource, mock_jira):
    """Two tasks on one issue with the same result: the second's post is lost on the
    way (Jira never saw it). The first task's comment, same text and same account,
    is not the second's: it is neither linked on the spot nor on the next post."""
    first, second = make_task(), make_task()
    assert tasks.post_task(first.id).post.comment_id == "1001"
    mock_jira.on_post = ["drop"]
    with pytest.raises(TaskError, match="timed out"):
        tasks.post_task(second.id)
    assert tasks.TaskStore().get(second.id).posts == []
    outcome = tasks.post_task(second.id)
    assert not outcome.found and outcome.post.comment_id == "1003"
    assert [c["id"] for c in mock_jira.ours()] == ["1001", "1003"]
    assert [p.comment_id for p in tasks.TaskStore().get(first.id).posts] == ["1001"]
    assert [p.comment_id for p in tasks.TaskStore().get(second.id).posts] == ["1003"]


def test_a_twin_made_before_the_attempt_began_is_not_its_comment(datasource, mock_jira):
    """The same text by the same account an hour before the attempt (pasted by hand,
    or from a task since deleted) is not what the attempt made."""
    mock_jira.add("900", markup_of(RESULT), minutes_ago=60)
    task = make_task()
    mock_jira.on_post = ["drop"]
    with pytest.raises(TaskError):
        tasks.post_task(task.id)
    outcome = tasks.post_task(task.id)
    assert not outcome.found and outcome.post.comment_id == "1002"
    assert [c["id"] for c in mock_jira.ours()] == ["900", "1002"]


def test_the_look_up_allows_for_clocks_a_few_minutes_apart(datasource, mock_jira):
    """Jira's clock runs 3 minutes behind the attempt's recorded start: its comment
    still counts as the attempt's."""
    task = make_task()
    mock_jira.on_post = ["interrupt"]
    with pytest.raises(KeyboardInterrupt):
        tasks.post_task(task.id)
    [comment] = mock_jira.ours()
    comment["created"] = jira_time(datetime.now(UTC) - timedelta(minutes=3))
    mock_jira._comments = [comment]
    outcome = tasks.post_task(task.id)
    assert outcome.found and outcome.post.comment_id == "1001" and mock_jira.posts == 1


def test_the_window_starts_at_the_attempt_minus_a_few_minutes():
    attempt = tasks.TaskAttempt("2024-05-01T12:00:00Z", "x")
    assert tasks.attempt_window(attempt) == datetime(2024, 5, 1, 11, 55, tzinfo=UTC)
    assert tasks.attempt_window(tasks.TaskAttempt("not a time", "x")) is None


def markup_of(markdown: str) -> str:
    from indexer import markup

    return markup.markdown_to_wiki(markdown)


# --------------------------------------------------------------------------- answer lost


def test_a_lost_answer_never_concludes_the_comment_is_absent(datasource, mock_jira):
    """A read timeout, and the comment not on the issue yet when looked for right
    after (Jira was still saving it): the error must not say it is not there, and
    the attempt stays in flight; it shows up later and the next post, even of an
    edited result, links it instead of posting a second comment."""
    task = make_task()
    mock_jira.on_post = ["hold"]
    with pytest.raises(TaskError) as info:
        tasks.post_task(task.id)
    message = str(info.value)
    assert message.startswith(f"Posting task T-{task.id} to ABC-12 failed, the result is kept: ")
    assert "timed out" in message and "is not on" not in message
    assert message.endswith(
        "(Jira may have made the comment all the same: the next post looks for it on "
        "ABC-12 before sending again)"
    )
    assert mock_jira.ours() == []  # looked for right after: not there yet
    failed = tasks.TaskStore().get(task.id)
    assert failed.state == "failed" and failed.attempt is not None

    mock_jira.release()  # Jira is done saving it
    tasks.TaskStore().set_result(task.id, RESULT + "\nOne more line.\n")  # edited since
    outcome = tasks.post_task(task.id)
    assert outcome.found and outcome.post.comment_id == "1001"
    assert mock_jira.posts == 1 and len(mock_jira.ours()) == 1


def test_a_lost_answer_on_the_cli_is_one_line_that_says_what_comes_next(datasource, mock_jira):
    task = make_task()
    mock_jira.on_post = ["hold"]
    failed = run("task", "post", str(task.id))
    assert failed.exit_code == 1 and failed.stdout == ""
    [line] = failed.stderr.splitlines()
    assert line.startswith(f"jiradex: Posting task T-{task.id} to ABC-12 failed")
    assert "looks for it on ABC-12 before sending again" in line and TOKEN not in line
    mock_jira.release()
    again = run("task", "post", str(task.id))
    assert again.exit_code == 0 and "was already on ABC-12" in again.stdout
    assert mock_jira.posts == 1


def test_a_lost_answer_still_unseen_on_the_next_post_is_looked_for_again(datasource, mock_jira):
    """Not found on the next post either: that post is sent, and the first attempt's
    window is kept, so its comment is still found by a later post."""
    task = make_task()
    mock_jira.on_post = ["hold", "drop"]
    with pytest.raises(TaskError):
        tasks.post_task(task.id)
    first = tasks.TaskStore().get(task.id).attempt
    with pytest.raises(TaskError):
        tasks.post_task(task.id)
    assert tasks.TaskStore().get(task.id).attempt.started == first.started
    mock_jira.release()
    outcome = tasks.post_task(task.id)
    assert outcome.found and outcome.post.comment_id == "1001" and mock_jira.posts == 2


# --------------------------------------------------------------------------- which site


def test_a_datasource_now_on_another_site_never_posts_there(mock_jira):
    """The task came from acme's ABC-12; the datasource `acme` was since pointed at
    another Jira, which has an ABC-12 of its own: posting is refused, no request."""
    config.add_datasource(
        config.Datasource(
            name="acme", endpoint="https://other.example.com/jira", project_key="ABC", token=TOKEN
        )
    )
    task = make_task()
    failed = run("task", "post", str(task.id))
    assert failed.exit_code == 1 and failed.stdout == ""
    assert failed.stderr.splitlines() == [
        f'jiradex: ABC-12 is on {SITE}, but datasource "acme" is https://other.example.com/jira: '
        "nothing posted; import the issue again from the right site"
    ]
    assert mock_jira.requests == [] and mock_jira.built == []
    assert tasks.TaskStore().get(task.id).posts == []


def test_a_datasource_on_the_same_site_spelled_differently_still_posts(mock_jira):
    config.add_datasource(
        config.Datasource(
            name="acme", endpoint="HTTPS://ACME.example.com:443/", project_key="ABC", token=TOKEN
        )
    )
    assert tasks.post_task(make_task().id).post.comment_id == "1001"
    assert mock_jira.built == ["datasource:acme"]


# --------------------------------------------------------------------------- what is sent


def test_a_result_that_makes_an_empty_comment_is_refused_before_sending(datasource, mock_jira):
    task = make_task(result="[]()\n")
    failed = run("task", "post", str(task.id))
    assert failed.exit_code == 1
    assert failed.stderr.splitlines() == [
        f"jiradex: Posting task T-{task.id} to ABC-12 failed, the result is kept: the result "
        "makes an empty comment (nothing in it that Jira would show): nothing posted"
    ]
    assert mock_jira.posts == 0
    kept = tasks.TaskStore().get(task.id)
    assert kept.attempt is None and kept.result == "[]()\n"


def test_an_adf_body_of_empty_paragraphs_is_empty_and_a_rule_is_not():
    assert tasks.rendered_empty({"type": "doc", "version": 1, "content": []})
    assert tasks.rendered_empty(
        {
            "type": "doc",
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": " "}]}],
        }
    )
    assert not tasks.rendered_empty({"type": "doc", "content": [{"type": "rule"}]})
    assert tasks.rendered_empty(" \n") and not tasks.rendered_empty("----")


def test_a_comment_over_jiras_limit_is_refused_before_sending(datasource, mock_jira):
    """The limit is on the body as Jira stores it: Markdown that fits can grow past
    it once escaped as wiki markup."""
    text = "{a} " * 7000  # 28,000 characters of Markdown, each brace escaped in wiki
    assert len(text) < tasks.COMMENT_LIMIT < len(markup_of(text))
    task = make_task(result=text)
    with pytest.raises(TaskError) as info:
        tasks.post_task(task.id)
    message = str(info.value)
    assert "characters of wiki markup, over Jira's limit of 32,767: shorten the result" in message
    assert mock_jira.posts == 0 and tasks.TaskStore().get(task.id).attempt is None

    tasks.TaskStore().set_result(task.id, "x" * tasks.COMMENT_LIMIT)  # exactly at the limit
    assert tasks.post_task(task.id).post.comment_id == "1001"


def test_jiras_comment_limit_counts_an_emoji_as_two_characters(datasource, mock_jira):
    """Jira measures text as Java does, in UTF-16 units: 20,000 fire emoji are 40,000
    of them, and Jira's own 400 came after the result had looked short enough."""
    task = make_task(result="🔥" * 20_000)
    with pytest.raises(TaskError, match=r"would be 40,000 characters of wiki markup"):
        tasks.post_task(task.id)
    assert mock_jira.posts == 0
