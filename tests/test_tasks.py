"""Tasks: storage, instruction formatting, import/post rules and the `task` CLI.

Jira is replaced here by a small in-memory client (the HTTP path is covered by the
cassette tests in test_tasks_cassettes.py); the index, the config and the task
database are the real ones under the test's JIRADEX_HOME.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_runner import run
from concurrently import errors_of_concurrent_calls

import indexer.jira as jira
from indexer import config, paths, tasks
from indexer.errors import ConfigError, TaskError
from indexer.jira.errors import IssueNotFoundError, JiraServerError, JiraTimeoutError
from indexer.store import Store
from indexer.task_format import demote_headings, format_instructions, readable_time

SITE = "https://acme.atlassian.net"


def issue_record(**overrides):
    record = {
        "id": "10001",
        "key": "ABC-12",
        "project": "ABC",
        "datasource": "acme",
        "summary": "Login  fails on Safari",
        "description": "Steps:\n\n1. open the page\n2. log in\n\n# Logs\n\n```\n# not a heading\n```",
        "description_text": "Steps open the page log in Logs",
        "issuetype": "Bug",
        "status": "In Progress",
        "status_category": "In Progress",
        "priority": "High",
        "assignee": "Alex Doe",
        "reporter": "Sam Roe",
        "labels": ["safari", "login"],
        "components": [],
        "created": "2024-05-01T12:00:00.000Z",
        "updated": "2024-05-02T08:30:00.000Z",
        "url": f"{SITE}/browse/ABC-12",
        "raw": {},
        "comments": [
            {
                "id": "2",
                "author": "Sam Roe",
                "created": "2024-05-02T08:30:00.000Z",
                "updated": "2024-05-02T08:30:00.000Z",
                "body": "Second: still broken.",
                "body_text": "Second: still broken.",
            },
            {
                "id": "1",
                "author": "Alex Doe",
                "created": "2024-05-01T13:05:00.000Z",
                "updated": "2024-05-01T13:05:00.000Z",
                "body": "## Cause\n\nCookie flags.",
                "body_text": "Cause Cookie flags.",
            },
        ],
        "attachments": [],
    }
    record.update(overrides)
    return record


EXPECTED_INSTRUCTIONS = """\
# ABC-12: Login fails on Safari

- **Type:** Bug
- **Status:** In Progress
- **Priority:** High
- **Assignee:** Alex Doe
- **Labels:** safari, login
- **Link:** https://acme.atlassian.net/browse/ABC-12

## Description

Steps:

1. open the page
2. log in

### Logs

```
# not a heading
```

## Comments

### Alex Doe · 2024-05-01 13:05 UTC

#### Cause

Cookie flags.

### Sam Roe · 2024-05-02 08:30 UTC

Second: still broken.

## Additional instructions

Fix it without touching the SSO flow.
"""


class FakeClient:
    """Just enough of JiraClient for the task code, with every call recorded."""

    def __init__(self, issues=None, *, account=None, fail_post=None, cloud=True):
        self.issues = issues or {}
        self.account = account or {"displayName": "Alex Doe", "accountType": "atlassian"}
        self.fail_post = fail_post
        self.cloud = cloud
        self.calls: list[tuple] = []
        self.posted: list[tuple[str, str]] = []
        self.lose_reply = False
        self.closed = False

    def browse_url(self, key):
        return f"{SITE}/browse/{key}"

    def get_issue(self, key, fields=None):
        self.calls.append(("get_issue", key))
        if key not in self.issues:
            raise IssueNotFoundError(
                f"Issue {key} does not exist or you do not have permission to see it"
            )
        return self.issues[key]

    def comments(self, key):
        self.calls.append(("comments", key))
        return self.issues[key]["fields"].get("comment", {}).get("comments", [])

    def myself(self):
        self.calls.append(("myself",))
        return self.account

    def add_comment(self, key, markdown, known=()):
        self.calls.append(("add_comment", key))
        if self.fail_post:
            raise self.fail_post
        self.posted.append((key, markdown))
        number = 100 + len(self.posted)
        if self.lose_reply:  # Jira took it; the answer never came back
            raise JiraTimeoutError(f"Connection to {SITE} timed out: check your network")
        return {"id": str(number), "url": f"{SITE}/browse/{key}?focusedCommentId={number}"}

    def find_comment(self, key, markdown, *, exclude=None, after=None):
        """The newest comment posted here with this text, as JiraClient.find_comment."""
        self.calls.append(("find_comment", key))
        for number, (posted_key, text) in reversed(list(enumerate(self.posted, start=101))):
            if (posted_key, text) == (key, markdown) and str(number) not in (exclude or ()):
                return {"id": str(number), "url": f"{SITE}/browse/{key}?focusedCommentId={number}"}
        return None

    def close(self):
        self.closed = True


def raw_issue(key="ABC-7", summary="Live only issue"):
    return {
        "id": "20007",
        "key": key,
        "fields": {
            "summary": summary,
            "description": "h2. Context\n\nSome *bold* text.",
            "issuetype": {"name": "Task"},
            "status": {"name": "To Do", "statusCategory": {"name": "To Do"}},
            "priority": None,
            "assignee": None,
            "labels": [],
            "project": {"key": key.split("-")[0]},
            "comment": {
                "comments": [
                    {
                        "id": "9",
                        "author": {"displayName": "Kim Poe"},
                        "created": "2024-06-01T10:00:00.000+0200",
                        "body": "A live comment.",
                    }
                ],
                "total": 1,
            },
        },
    }


@pytest.fixture
def datasource():
    return config.add_datasource(
        config.Datasource(
            name="acme",
            endpoint=SITE,
            project_key="ABC",
            username="bot@example.com",
            token="tok-secret-123456",
        )
    )


@pytest.fixture
def fake_jira(monkeypatch):
    """Route every client the task code builds to one FakeClient."""
    client = FakeClient()
    built: list[str] = []

    def for_datasource(ds, **_):
        built.append(f"datasource:{ds.name}")
        return client

    def for_connection(conn, **_):
        built.append("connection")
        return client

    monkeypatch.setattr(jira, "client_for_datasource", for_datasource)
    monkeypatch.setattr(jira, "client_for_connection", for_connection)
    client.built = built
    return client


def index(*records):
    with Store() as store:
        store.upsert_issues(list(records))


def lines(text):
    return [line for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- formatting


def test_instructions_have_exact_sections():
    text = format_instructions(
        issue_record(),
        url=f"{SITE}/browse/ABC-12",
        include_comments=True,
        extra="  Fix it without touching the SSO flow.\n",
    )
    assert text == EXPECTED_INSTRUCTIONS


def test_instructions_without_comments_or_extra_and_empty_fields():
    record = issue_record(
        description="", assignee="", priority="", labels=[], issuetype="", status=""
    )
    text = format_instructions(record, url="")
    assert "## Comments" not in text
    assert "## Additional instructions" not in text
    assert "## Description\n\n_No description._\n" in text
    for fact in (
        "- **Type:** Unknown",
        "- **Status:** Unknown",
        "- **Priority:** None",
        "- **Assignee:** Unassigned",
        "- **Labels:** None",
        "- **Link:** (no link)",
    ):
        assert fact in text.splitlines()


def test_objective_note_and_no_comments_placeholder():
    text = format_instructions(
        issue_record(comments=[]), url="u", include_comments=True, objective=True
    )
    assert text.startswith("# ABC-12: Login fails on Safari\n\nThis is an **objective**")
    assert "## Comments\n\n_No comments._\n" in text


def test_headings_in_additional_instructions_stay_below_the_sections():
    """`--instructions "# Goal ..."` (or a heading typed in the TUI's box) put a
    level-1 heading after `## Additional instructions`, a second title for the agent."""
    text = format_instructions(
        issue_record(), url="u", extra="# Goal\n\nShip it.\n\n## Steps\n\n- one"
    )
    assert text.endswith(
        "## Additional instructions\n\n### Goal\n\nShip it.\n\n#### Steps\n\n- one\n"
    )
    assert "\n# Goal" not in text and "\n## Steps" not in text


def test_demote_headings_keeps_code_and_handles_setext():
    md = "Title\n=====\n\ntext\n\n```\n# code\n```\n\n### Deep"
    assert demote_headings(md, below=2) == "### Title\n\ntext\n\n```\n# code\n```\n\n##### Deep"
    assert demote_headings("#### Already deep", below=2) == "#### Already deep"
    assert demote_headings("no headings", below=2) == "no headings"


@pytest.mark.parametrize(
    ("md", "expected"),
    [
        ("> # Quoted\n> text", "> #### Quoted\n> text"),
        ("> # A\n\n> ###### B", "> #### A\n\n> ###### B"),
        (">> # Twice quoted", ">> #### Twice quoted"),
        ("- # In a list", "- #### In a list"),
        ("1. ## Numbered\n   > # quoted in it", "1. ##### Numbered\n   > #### quoted in it"),
        ("> Setext in a quote\n> ===\n> body", "> #### Setext in a quote\n> body"),
        ("# Top\n\n###### Deepest", "#### Top\n\n###### Deepest"),
    ],
)
def test_demote_headings_keeps_containers_and_caps_at_six(md, expected):
    assert demote_headings(md, below=3) == expected


def heading_shape(md):
    """(level, text, inside a blockquote) of each heading, as a parser reads them."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    shape, quoted = [], 0
    for index, token in enumerate(tokens):
        quoted += {"blockquote_open": 1, "blockquote_close": -1}.get(token.type, 0)
        if token.type == "heading_open":
            text = " ".join(tokens[index + 1].content.split())
            shape.append((int(token.tag[1]), text, quoted))
    return shape


def test_demote_headings_fuzz_keeps_every_heading_its_text_and_its_quote():
    import random

    rng = random.Random(7)
    blocks = [
        "# {t}",
        "###### {t}",
        "## {t} ##",
        "{t}\n===",
        "{t}\n---",
        "text {t}",
        "```\n# {t}\n```",
    ]
    for _ in range(400):
        parts = []
        for number in range(rng.randint(1, 5)):
            block = rng.choice(blocks).format(t=f"h{number}")
            prefix = rng.choice(["", "> ", ">> ", "- ", "> - "])
            parts.append("\n".join(prefix + line for line in block.split("\n")))
        md = "\n\n".join(parts)
        for below in (1, 2, 3, 5):
            out = demote_headings(md, below=below)
            before, after = heading_shape(md), heading_shape(out)
            assert [(t, q) for _, t, q in after] == [(t, q) for _, t, q in before], (md, out)
            assert all(1 <= level <= 6 for level, _, _ in after), (md, out)
            assert "#######" not in out
            if before:
                shift = max(0, below + 1 - min(level for level, _, _ in before))
                assert [lv for lv, _, _ in after] == [min(6, lv + shift) for lv, _, _ in before]


def test_readable_time():
    assert readable_time("2024-05-01T12:00:00.000Z") == "2024-05-01 12:00 UTC"
    assert readable_time("yesterday") == "yesterday"


# --------------------------------------------------------------------------- storage


def test_task_ids_parse_in_several_spellings():
    assert [tasks.parse_task_id(t) for t in ("12", "T-12", "t12", "#12", 12)] == [12] * 5
    for bad in ("x", "T-", "0", "-3", "12a"):
        with pytest.raises(TaskError, match="Task id must look like 12 or T-12"):
            tasks.parse_task_id(bad)


def test_store_survives_index_rebuild_and_keeps_posts(jiradex_home):
    store = tasks.TaskStore()
    link = tasks.TaskLink("ABC-1", "1", "acme", f"{SITE}/browse/ABC-1")
    first = store.create("task", "ABC-1: x", "# ABC-1: x\n", link)
    store.set_result(first.id, "done")
    store.add_post(first.id, tasks.TaskPost("5", "u5", "2024-01-01T00:00:00Z", "Alex"))
    second = store.create("objective", "ABC-2: y", "# y\n", link)
    index_db = jiradex_home / "data" / "index.db"
    assert not index_db.exists() or index_db.unlink() is None  # an index rebuild
    again = tasks.TaskStore()
    assert [t.id for t in again.list()] == [first.id, second.id]
    got = again.get(f"T-{first.id}")
    assert got.result == "done" and got.result_updated
    assert got.posts == [tasks.TaskPost("5", "u5", "2024-01-01T00:00:00Z", "Alex")]
    assert got.state == "posted" and again.get(second.id).kind == "objective"
    assert (jiradex_home / "data" / "tasks" / "tasks.db").exists()


def test_unknown_task_and_bad_kind():
    store = tasks.TaskStore()
    with pytest.raises(TaskError, match=r"No task T-42: `jiradex task list` shows the tasks"):
        store.get(42)
    with pytest.raises(TaskError, match="Task kind must be one of task, objective"):
        store.create("epic", "t", "i", tasks.TaskLink("A-1", "", "", ""))


# --------------------------------------------------------------------------- import


def test_import_from_index_needs_no_jira(datasource, fake_jira):
    index(issue_record())
    outcome = tasks.import_task(
        "ABC-12", comments=True, instructions="Fix it without touching the SSO flow."
    )
    assert outcome.source == "index" and outcome.notes == []
    assert outcome.task.instructions == EXPECTED_INSTRUCTIONS
    assert outcome.task.title == "ABC-12: Login fails on Safari"
    assert outcome.task.link == tasks.TaskLink("ABC-12", "10001", "acme", f"{SITE}/browse/ABC-12")
    assert fake_jira.calls == []


def test_import_links_the_configured_datasources_copy_not_one_kept_from_a_removed_one(
    datasource, fake_jira
):
    """`datasource remove --keep-issues` then adding the project again under another
    name left two copies of each issue, equal in `updated`: import took either, and a
    task linked to the removed datasource could not be posted."""
    config.add_datasource(config.Datasource(name="zz-public", endpoint=SITE, project_key="ABC"))
    kept = issue_record(datasource="aa-removed", summary="From the removed datasource")
    public = issue_record(datasource="zz-public", summary="From the anonymous one")
    index(kept, public, issue_record())
    assert tasks.import_task("ABC-12").task.link.datasource == "acme"  # it can post
    config.remove_datasource("acme")
    assert tasks.import_task("ABC-12").task.link.datasource == "zz-public"
    config.remove_datasource("zz-public")
    assert tasks.import_task("ABC-12").task.link.datasource in ("aa-removed", "acme", "zz-public")
    assert fake_jira.calls == []


def test_import_of_a_key_two_datasources_hold_says_so_and_datasource_picks(datasource, fake_jira):
    """Import took the newest copy of a key two datasources hold without a word, and
    nothing could pick the other one (`show` had --datasource; import had not)."""
    config.add_datasource(config.Datasource(name="mirror", endpoint=SITE, project_key="ABC"))
    newer = issue_record(
        datasource="mirror", summary="The mirror's copy", updated="2030-01-01T00:00:00.000Z"
    )
    index(issue_record(), newer)
    outcome = tasks.import_task("ABC-12")
    assert outcome.task.link.datasource == "mirror"
    assert outcome.notes == [
        "ABC-12 is in 2 datasources (acme, mirror): imported mirror's; "
        "--datasource NAME picks another"
    ]
    picked = tasks.import_task("ABC-12", datasource="ACME")  # names compare as config does
    assert picked.task.link.datasource == "acme" and picked.notes == []
    assert picked.task.title == "ABC-12: Login fails on Safari"
    with pytest.raises(TaskError) as refused:
        tasks.import_task("ABC-12", datasource="elsewhere")
    assert str(refused.value) == 'ABC-12 is not in datasource "elsewhere" (it is in acme, mirror)'
    assert len(tasks.TaskStore().list()) == 2  # the refused import made no task
    assert fake_jira.calls == []


def test_task_import_datasource_option_on_the_command_line(datasource, fake_jira):
    config.add_datasource(config.Datasource(name="mirror", endpoint=SITE, project_key="ABC"))
    index(issue_record(), issue_record(datasource="mirror", summary="The mirror's copy"))
    result = run("task", "import", "ABC-12", "--datasource", "mirror", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["title"] == "ABC-12: The mirror's copy"
    assert result.stderr == ""
    result = run("task", "import", "ABC-13", "--datasource", "mirror")
    assert result.exit_code == 1
    assert result.stderr == 'jiradex: ABC-13 is not in datasource "mirror" (it is not indexed)\n'


def test_post_of_a_task_whose_datasource_was_removed_says_so():
    task = make_task(datasource="gone")
    with pytest.raises(TaskError) as info:
        tasks.post_task(task.id)
    assert 'datasource "gone" is no longer configured' in str(info.value)


def test_import_fetches_live_through_matching_datasource(datasource, fake_jira):
    fake_jira.issues["ABC-7"] = raw_issue()
    outcome = tasks.import_task("ABC-7", comments=True)
    assert outcome.source == "live"
    assert outcome.notes == [f"ABC-7 is not in the index: fetched live from {SITE}"]
    assert fake_jira.built == ["datasource:acme"] and fake_jira.closed
    assert outcome.task.link == tasks.TaskLink("ABC-7", "20007", "acme", f"{SITE}/browse/ABC-7")
    text = outcome.task.instructions
    assert text.startswith("# ABC-7: Live only issue\n")
    assert "## Description\n\n### Context\n\nSome **bold** text.\n" in text
    assert "### Kim Poe · 2024-06-01 08:00 UTC\n\nA live comment.\n" in text


def test_import_with_a_damaged_index_fetches_the_issue_live(datasource, fake_jira):
    """A damaged index.db failed `task import` though Jira has the issue and tasks
    live in their own database: the issue is now fetched live, and the note says
    why; the index file is left as it was (for `jiradex index rebuild`)."""
    damaged = b"this is not an SQLite database" * 100
    paths.index_path().parent.mkdir(parents=True, exist_ok=True)
    paths.index_path().write_bytes(damaged)
    fake_jira.issues["ABC-7"] = raw_issue()
    outcome = tasks.import_task("ABC-7")
    assert outcome.source == "live"
    [note] = outcome.notes
    assert note.startswith("The index cannot be read (") and note.endswith(
        f"): ABC-7 fetched live from {SITE}"
    )
    assert outcome.task.instructions.startswith("# ABC-7: Live only issue\n")
    assert paths.index_path().read_bytes() == damaged


def test_import_with_a_damaged_index_and_no_live_source_says_the_index_is_damaged():
    """With the index damaged and nothing to fetch the issue live, `task import` said
    "Issue ABC-7 is not in the index, and no datasource ... can fetch it": the issue
    may well be indexed; the damage, and `index rebuild`, went unsaid."""
    paths.index_path().parent.mkdir(parents=True, exist_ok=True)
    paths.index_path().write_bytes(b"this is not an SQLite database" * 100)
    result = run("task", "import", "ABC-7")
    assert result.exit_code == 1
    [line] = lines(result.stderr)
    assert "is damaged" in line and "jiradex index rebuild" in line, line
    assert line.endswith("ABC-7 could not be fetched live either"), line
    assert "is not in the index" not in line


def test_import_by_the_old_key_of_a_moved_issue_links_its_new_key(datasource, fake_jira):
    """Jira answers an old key with the issue under its new key: the task links
    (and posts to) the new one, its URL included."""
    fake_jira.issues["ABC-7"] = raw_issue("ABC-70", "Moved within the project")
    outcome = tasks.import_task("ABC-7")
    assert outcome.task.link == tasks.TaskLink("ABC-70", "20007", "acme", f"{SITE}/browse/ABC-70")
    assert outcome.task.instructions.startswith("# ABC-70: Moved within the project\n")


def test_import_falls_back_to_global_connection(monkeypatch, fake_jira):
    monkeypatch.setenv("JIRA_ENABLED", "true")
    monkeypatch.setenv("JIRA_BASE_URL", SITE)
    monkeypatch.setenv("JIRA_EMAIL", "me@example.com")
    monkeypatch.setenv("JIRA_API_TOKEN", "tok-secret-abcdef")
    fake_jira.issues["XYZ-3"] = raw_issue("XYZ-3")
    outcome = tasks.import_task("XYZ-3")
    assert fake_jira.built == ["connection"]
    assert outcome.task.link.datasource == ""
    assert "## Comments" not in outcome.task.instructions


def test_import_not_found_anywhere(datasource, fake_jira):
    with pytest.raises(TaskError) as info:
        tasks.import_task("ABC-999")
    assert str(info.value) == "Issue ABC-999 does not exist or you do not have permission to see it"


def test_import_without_any_source():
    with pytest.raises(TaskError) as info:
        tasks.import_task("ABC-1")
    assert str(info.value) == (
        "Issue ABC-1 is not in the index, and no datasource of ABC or Jira connection can fetch it"
    )


def test_import_reports_jira_failure(datasource, monkeypatch):
    class Broken(FakeClient):
        def get_issue(self, key, fields=None):
            raise JiraServerError(f"Jira at {SITE} failed with HTTP 500 after 3 attempts")

    monkeypatch.setattr(jira, "client_for_datasource", lambda ds, **_: Broken())
    with pytest.raises(TaskError) as info:
        tasks.import_task("ABC-5")
    assert str(info.value) == (
        f'Could not fetch ABC-5 from Jira: datasource "acme": Jira at {SITE} failed with '
        "HTTP 500 after 3 attempts"
    )


@pytest.mark.parametrize("key", ["ABC", "ABC-", "-1", "AB C-1", "abc_1", ""])
def test_import_bad_key_format(key, fake_jira):
    with pytest.raises(ConfigError) as info:
        tasks.import_task(key)
    assert str(info.value) == "Issue key must look like PROJECT-123"
    assert fake_jira.calls == []


def test_import_fetches_comments_live_when_not_indexed(datasource, fake_jira):
    index(issue_record(key="ABC-7", id="20007", comments=[]))
    fake_jira.issues["ABC-7"] = raw_issue()
    outcome = tasks.import_task("ABC-7", comments=True)
    assert outcome.source == "index"
    assert outcome.notes == [
        'comments of ABC-7 are not indexed: fetched live from datasource "acme"'
    ]
    assert "A live comment." in outcome.task.instructions


def test_import_whose_comments_cannot_be_fetched_does_not_say_there_are_none(
    datasource, monkeypatch
):
    """Jira down (or no source at all): the instructions said "_No comments._" of an
    issue with comments, and the note did not say why they were missing."""
    index(issue_record(key="ABC-7", id="20007", comments=[]))

    def unreachable(ds, **_):
        raise JiraServerError("Jira at https://acme.atlassian.net is unavailable (HTTP 503)")

    monkeypatch.setattr(jira, "client_for_datasource", unreachable)
    outcome = tasks.import_task("ABC-7", comments=True)
    assert outcome.notes == [
        "comments of ABC-7 are not indexed and could not be fetched live (datasource "
        '"acme": Jira at https://acme.atlassian.net is unavailable (HTTP 503))'
    ]
    text = outcome.task.instructions
    assert "_No comments._" not in text
    assert "could not be fetched from Jira when this task was made" in text


# --------------------------------------------------------------------------- post


def make_task(result="## Done\n\nFixed the **cookie** flags.", datasource="acme"):
    store = tasks.TaskStore()
    link = tasks.TaskLink("ABC-12", "10001", datasource, f"{SITE}/browse/ABC-12")
    task = store.create("task", "ABC-12: Login fails on Safari", "# x\n", link)
    if result is not None:
        store.set_result(task.id, result)
    return task


def test_post_once_then_refuse_then_force(datasource, fake_jira):
    task = make_task()
    outcome = tasks.post_task(task.id)
    assert outcome.to_json() == {
        "id": task.id,
        "key": "ABC-12",
        "comment_id": "101",
        "url": f"{SITE}/browse/ABC-12?focusedCommentId=101",
        "account": "Alex Doe",
        "service_account": False,
        "found": False,
    }
    assert outcome.account_line == "Posted as Alex Doe"
    assert fake_jira.posted == [("ABC-12", "## Done\n\nFixed the **cookie** flags.")]
    with pytest.raises(
        TaskError, match=r"already posted to ABC-12 at .* use --force to post it again"
    ):
        tasks.post_task(task.id)
    assert len(fake_jira.posted) == 1
    again = tasks.post_task(task.id, force=True)
    assert again.post.comment_id == "102" and len(fake_jira.posted) == 2
    assert [p.comment_id for p in tasks.TaskStore().get(task.id).posts] == ["101", "102"]


def test_failed_post_keeps_result_and_says_why(datasource, fake_jira):
    task = make_task()
    fake_jira.fail_post = JiraServerError(f"Jira at {SITE} failed with HTTP 502 after 3 attempts")
    with pytest.raises(TaskError) as info:
        tasks.post_task(task.id)
    assert str(info.value) == (
        f"Posting task T-{task.id} to ABC-12 failed, the result is kept: Jira at {SITE} "
        "failed with HTTP 502 after 3 attempts"
    )
    kept = tasks.TaskStore().get(task.id)
    assert kept.result == "## Done\n\nFixed the **cookie** flags." and kept.posts == []
    assert kept.state == "failed" and "HTTP 502" in kept.last_error
    fake_jira.fail_post = None
    assert tasks.post_task(task.id).post.comment_id == "101"  # a retry is not refused
    assert tasks.TaskStore().get(task.id).state == "posted"


def test_a_post_whose_answer_was_lost_is_found_on_the_next_try_not_posted_twice(
    datasource, fake_jira
):
    """Jira took the comment and the answer was lost (the client could not check
    either): the task says failed; the next post finds the comment and records it."""
    task = make_task()
    fake_jira.lose_reply = True
    with pytest.raises(TaskError, match="timed out"):
        tasks.post_task(task.id)
    assert tasks.TaskStore().get(task.id).state == "failed"
    fake_jira.lose_reply = False
    outcome = tasks.post_task(task.id)
    assert outcome.found and outcome.post.comment_id == "101"
    assert len(fake_jira.posted) == 1
    assert "already on ABC-12" in outcome.done_line and "nothing posted twice" in outcome.done_line
    kept = tasks.TaskStore().get(task.id)
    assert kept.state == "posted" and [p.comment_id for p in kept.posts] == ["101"]


def test_a_forced_repost_after_a_failure_is_not_taken_for_the_first_post(datasource, fake_jira):
    task = make_task()
    assert tasks.post_task(task.id).post.comment_id == "101"
    fake_jira.fail_post = JiraServerError(f"Jira at {SITE} failed with HTTP 500 after 2 attempts")
    with pytest.raises(TaskError):
        tasks.post_task(task.id, force=True)
    fake_jira.fail_post = None
    again = tasks.post_task(task.id, force=True)
    assert not again.found and again.post.comment_id == "102"
    assert len(fake_jira.posted) == 2


def test_the_first_post_does_not_look_for_a_twin(datasource, fake_jira):
    task = make_task()
    tasks.post_task(task.id)
    assert ("find_comment", "ABC-12") not in fake_jira.calls


def test_post_without_result(datasource, fake_jira):
    task = make_task(result=None)
    with pytest.raises(TaskError) as info:
        tasks.post_task(task.id)
    assert str(info.value) == (
        f"Task T-{task.id} has no result yet: store one with `jiradex task result {task.id} FILE`"
    )
    assert fake_jira.calls == []


def test_post_unlinked_task(datasource, fake_jira):
    task = make_task()
    tasks.TaskStore().unlink(task.id)
    with pytest.raises(
        TaskError, match=f"Task T-{task.id} is unlinked from ABC-12: nothing to post to"
    ):
        tasks.post_task(task.id)
    assert fake_jira.calls == []


def test_post_anonymous_datasource_uses_global_connection(monkeypatch, fake_jira):
    config.add_datasource(config.Datasource(name="public", endpoint=SITE, project_key="ABC"))
    task = make_task(datasource="public")
    with pytest.raises(TaskError) as info:
        tasks.post_task(task.id)
    assert str(info.value) == tasks.NOT_ENABLED
    assert str(info.value).startswith("Jira integration not enabled")
    monkeypatch.setenv("JIRA_ENABLED", "true")
    monkeypatch.setenv("JIRA_BASE_URL", SITE)
    monkeypatch.setenv("JIRA_EMAIL", "me@example.com")
    monkeypatch.setenv("JIRA_API_TOKEN", "tok-secret-abcdef")
    tasks.post_task(task.id)
    assert fake_jira.built == ["connection"]


def test_post_never_goes_through_a_connection_to_another_site(monkeypatch, fake_jira):
    """Keys repeat across sites: an issue of a public instance must not be posted to
    by key through a global connection to another Jira."""
    config.add_datasource(config.Datasource(name="public", endpoint=SITE, project_key="ABC"))
    task = make_task(datasource="public")
    monkeypatch.setenv("JIRA_ENABLED", "true")
    monkeypatch.setenv("JIRA_BASE_URL", "https://other.atlassian.net")
    monkeypatch.setenv("JIRA_EMAIL", "me@example.com")
    monkeypatch.setenv("JIRA_API_TOKEN", "tok-secret-abcdef")
    with pytest.raises(TaskError) as info:
        tasks.post_task(task.id)
    assert str(info.value).startswith(
        f"ABC-12 is on {SITE}, but the Jira connection is https://other.atlassian.net: "
    )
    assert fake_jira.calls == []
    assert tasks.same_site(SITE + "/", SITE.upper().replace("HTTPS", "https"))
    assert not tasks.same_site("https://h/jira", "https://h")
    assert tasks.same_site("https://h:443/jira", "https://H/jira/")


def test_post_as_service_account_says_so(monkeypatch, fake_jira):
    config.add_datasource(
        config.Datasource(
            name="svc",
            endpoint=SITE,
            project_key="ABC",
            username="bot@serviceaccount.atlassian.com",
            token="tok-secret-svc123",
            cloud_id="11111111-2222-3333-4444-555555555555",
        )
    )
    fake_jira.account = {"displayName": "Release Bot", "accountType": "app"}
    outcome = tasks.post_task(make_task(datasource="svc").id)
    assert outcome.service_account
    assert outcome.account_line == (
        "Posted as Release Bot (a service account: the comment shows under its name, not yours)"
    )


# --------------------------------------------------------------------------- CLI


def test_cli_import_show_result_post_flow(datasource, fake_jira, tmp_path):
    index(issue_record())
    result = run(
        "task",
        "import",
        "ABC-12",
        "--comments",
        "--instructions",
        "Fix it without touching the SSO flow.",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("key", "title", "url", "kind")} == {
        "key": "ABC-12",
        "title": "ABC-12: Login fails on Safari",
        "url": f"{SITE}/browse/ABC-12",
        "kind": "task",
    }
    assert data["instructions"] == EXPECTED_INSTRUCTIONS
    task_id = str(data["id"])

    shown = run("task", "show", task_id, "--markdown")
    assert shown.exit_code == 0 and shown.stdout == EXPECTED_INSTRUCTIONS

    listed = run("task", "list")
    assert lines(listed.stdout) == [
        f"T-{task_id:<4} task      open     ABC-12: Login fails on Safari"
    ]

    no_result = run("task", "post", task_id)
    assert no_result.exit_code == 1
    assert lines(no_result.stderr) == [
        f"jiradex: Task T-{task_id} has no result yet: store one with "
        f"`jiradex task result {task_id} FILE`"
    ]

    stored = run("task", "result", task_id, "-", stdin="All **done**.\n")
    assert stored.exit_code == 0, stored.output
    result_file = tmp_path / "result.md"
    result_file.write_text("Final **answer**.\n", encoding="utf-8")
    assert run("task", "result", f"T-{task_id}", str(result_file)).exit_code == 0

    posted = run("task", "post", task_id, "--json")
    assert posted.exit_code == 0, posted.output
    assert json.loads(posted.stdout) == {
        "id": int(task_id),
        "key": "ABC-12",
        "comment_id": "101",
        "url": f"{SITE}/browse/ABC-12?focusedCommentId=101",
        "account": "Alex Doe",
        "service_account": False,
        "found": False,
    }
    assert lines(posted.stderr) == ["Posted as Alex Doe"]
    assert fake_jira.posted == [("ABC-12", "Final **answer**.\n")]

    twice = run("task", "post", task_id)
    assert twice.exit_code == 1 and len(lines(twice.stderr)) == 1
    assert "use --force to post it again" in twice.stderr
    forced = run("task", "post", task_id, "--force")
    assert forced.exit_code == 0
    assert forced.stdout.startswith(f"Posted T-{task_id} to ABC-12: {SITE}/browse/ABC-12?")

    detail = run("task", "show", task_id, "--json")
    assert [p["comment_id"] for p in json.loads(detail.stdout)["posts"]] == ["101", "102"]
    human = run("task", "show", task_id)
    assert human.stdout.startswith(f"T-{task_id} (task, posted): ABC-12: Login fails on Safari\n")
    assert "--- result (" in human.stdout and "Final **answer**." in human.stdout

    unlinked = run("task", "unlink", task_id)
    assert unlinked.exit_code == 0 and unlinked.stdout == f"Unlinked T-{task_id} from ABC-12.\n"
    assert run("task", "post", task_id, "--force").exit_code == 1


def test_cli_live_import_says_so_on_stderr(datasource, fake_jira):
    fake_jira.issues["ABC-7"] = raw_issue()
    result = run("task", "import", "ABC-7", "--objective")
    assert result.exit_code == 0
    assert lines(result.stderr) == [f"ABC-7 is not in the index: fetched live from {SITE}"]
    assert lines(result.stdout) == [
        "Created objective T-1: ABC-7: Live only issue",
        f"{SITE}/browse/ABC-7",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("task", "import", "abc"), "jiradex: Issue key must look like PROJECT-123"),
        (("task", "show", "9"), "jiradex: No task T-9: `jiradex task list` shows the tasks"),
        (("task", "show", "nine"), "jiradex: Task id must look like 12 or T-12, not 'nine'"),
        (("task", "post", "9"), "jiradex: No task T-9: `jiradex task list` shows the tasks"),
        (("task", "unlink", "9"), "jiradex: No task T-9: `jiradex task list` shows the tasks"),
        (
            ("task", "import", "ABC-1"),
            "jiradex: Issue ABC-1 is not in the index, and no datasource of ABC or Jira "
            "connection can fetch it",
        ),
    ],
)
def test_cli_errors_are_one_line_exit_1(args, message):
    result = run(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert lines(result.stderr) == [message]


def test_cli_result_errors(tmp_path):
    task = make_task(result=None)
    missing = run("task", "result", str(task.id), str(tmp_path / "nope.md"))
    assert missing.exit_code == 1
    assert lines(missing.stderr) == [
        f"jiradex: Cannot read the result file {tmp_path / 'nope.md'}: No such file or directory"
    ]
    empty = run("task", "result", str(task.id), "-", stdin="  \n")
    assert empty.exit_code == 1
    assert lines(empty.stderr) == ["jiradex: The result is empty: nothing to store"]
    assert tasks.TaskStore().get(task.id).result is None


def test_cli_result_too_big_for_a_comment_is_refused_unread(tmp_path):
    """`task result 1 build.log` (hundreds of MB) was read whole into memory and stored,
    though no Jira comment can hold it; `task result 1 /dev/zero` never ended."""
    task = make_task(result=None)
    big = tmp_path / "build.log"
    big.write_bytes(b"x" * (tasks.RESULT_MAX_BYTES + 1))
    for args, stdin in (((str(big),), None), (("-",), "y" * (tasks.RESULT_MAX_BYTES + 1))):
        refused = run("task", "result", str(task.id), *args, stdin=stdin)
        assert refused.exit_code == 1
        [line] = lines(refused.stderr)
        assert line.endswith(
            "is over 1 MB, and a Jira comment holds at most 32,767 characters: nothing stored"
        ), line
    assert tasks.TaskStore().get(task.id).result is None
    big.write_bytes(b"x" * tasks.RESULT_MAX_BYTES)
    assert run("task", "result", str(task.id), str(big)).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ("task",),
        ("task", "import"),
        ("task", "result", "1"),
        ("task", "show", "1", "--markdown", "--json"),
        ("task", "post", "1", "--bogus"),
    ],
)
def test_cli_usage_errors_exit_2(args):
    make_task()
    result = run(*args)
    assert result.exit_code == 2


def test_cli_list_empty_and_json():
    empty = run("task", "list")
    assert empty.exit_code == 0 and empty.stdout == ""
    assert "No tasks yet" in empty.stderr
    make_task()
    data = json.loads(run("task", "list", "--json").stdout)
    assert [(t["id"], t["key"], t["state"]) for t in data] == [(1, "ABC-12", "result")]


def test_console_script_exit_code_for_bad_key():
    """The real process: exit 1 and one line, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", "task", "import", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == "jiradex: Issue key must look like PROJECT-123"


def test_post_goes_on_when_the_token_may_not_read_myself(datasource, fake_jira, monkeypatch):
    from indexer.jira.errors import JiraAuthError, JiraPermissionError

    task = make_task()

    def denied():
        raise JiraPermissionError("Permission denied by Jira (HTTP 403): scope does not match")

    monkeypatch.setattr(fake_jira, "myself", denied)
    outcome = tasks.post_task(task.id)
    assert fake_jira.posted == [("ABC-12", "## Done\n\nFixed the **cookie** flags.")]
    assert outcome.post.account == tasks.UNKNOWN_ACCOUNT
    assert outcome.account_line == "Posted as the token's account (Jira would not say which)"

    def refused():
        raise JiraAuthError("Authentication failed for x: check the e-mail and API token")

    monkeypatch.setattr(fake_jira, "myself", refused)
    with pytest.raises(TaskError, match="failed, the result is kept: Authentication failed"):
        tasks.post_task(task.id, force=True)
    assert len(fake_jira.posted) == 1  # a refused token stops before posting


def test_cli_result_and_unlink_json(tmp_path):
    task = make_task(result=None)
    stored = run("task", "result", str(task.id), "-", "--json", stdin="Done **well**.\n")
    assert stored.exit_code == 0, stored.output
    data = json.loads(stored.stdout)
    assert (data["id"], data["key"], data["result"], data["state"]) == (
        task.id,
        "ABC-12",
        "Done **well**.\n",
        "result",
    )
    assert lines(stored.stderr) == [f"Stored the result of T-{task.id} (15 characters)."]
    unlinked = run("task", "unlink", f"T-{task.id}", "--json")
    assert unlinked.exit_code == 0
    data = json.loads(unlinked.stdout)
    assert (data["unlinked"], data["state"], data["result"]) == (
        True,
        "unlinked",
        "Done **well**.\n",
    )


def test_result_written_with_a_byte_order_mark_is_stored_without_it(tmp_path):
    """Notepad's BOM was kept: posted, and the first "# Heading" was no heading."""
    task = make_task(result=None)
    source = tmp_path / "result.md"
    source.write_text("\ufeff# Done\n\nFixed.\n", encoding="utf-8")
    for where, stdin in ((str(source), None), ("-", "\ufeff# Done\n\nFixed.\n")):
        stored = run("task", "result", str(task.id), where, "--json", stdin=stdin)
        assert stored.exit_code == 0, stored.output
        assert json.loads(stored.stdout)["result"] == "# Done\n\nFixed.\n"


def test_result_not_in_utf8_is_one_clear_line_and_utf16_is_read(tmp_path):
    """Latin-1 on stdin ended in "internal error (UnicodeEncodeError)"; a file said the
    codec's words; PowerShell's UTF-16 (with its mark) could not be stored at all."""
    task = make_task(result=None)
    latin = tmp_path / "latin.md"
    latin.write_bytes(b"caf\xe9 done\n")
    for where, stdin, what in (
        ("-", b"caf\xe9 done\n", "the result on stdin"),
        (str(latin), None, f"the result file {latin}"),
    ):
        refused = run("task", "result", str(task.id), where, stdin=stdin)
        assert refused.exit_code == 1
        assert lines(refused.stderr) == [
            f"jiradex: Cannot read {what}: it is not UTF-8 text (byte 0xe9 at offset 3); "
            "save it as UTF-8"
        ]
    assert tasks.TaskStore().get(task.id).result is None
    wide = tmp_path / "wide.md"
    wide.write_bytes("# Fertig\r\n\r\nCafé ✓\r\n".encode("utf-16"))
    for where, stdin in ((str(wide), None), ("-", wide.read_bytes())):
        stored = run("task", "result", str(task.id), where, "--json", stdin=stdin)
        assert stored.exit_code == 0, stored.output
        assert json.loads(stored.stdout)["result"] == "# Fertig\n\nCafé ✓\n"


def test_instructions_not_in_utf8_are_refused_before_anything(datasource, fake_jira):
    """Bytes of another encoding in --instructions reach Python as surrogates: the
    import fetched the issue, then ended in "internal error (UnicodeEncodeError)"."""
    with pytest.raises(TaskError) as info:
        tasks.import_task("ABC-12", instructions="caf\udce9")
    assert str(info.value) == "The additional instructions are not UTF-8 text: nothing imported"
    assert fake_jira.built == []
    assert tasks.TaskStore().list() == []


def test_cli_json_shapes_match_the_contract(datasource, fake_jira):
    """ARCHITECTURE.md: import {id,key,title,instructions,url}; post {id,key,comment_id,url}."""
    index(issue_record())
    made = json.loads(run("task", "import", "ABC-12", "--json").stdout)
    assert isinstance(made["id"], int)
    assert all(
        isinstance(made[k], str) and made[k] for k in ("key", "title", "instructions", "url")
    )
    listed = json.loads(run("task", "list", "--json").stdout)
    shown = json.loads(run("task", "show", str(made["id"]), "--json").stdout)
    assert made.pop("source") == "index"
    assert listed == [shown] and shown == made  # import, list and show: one task shape
    run("task", "result", str(made["id"]), "-", stdin="ok\n")
    posted = json.loads(run("task", "post", str(made["id"]), "--json").stdout)
    assert isinstance(posted["id"], int) and posted["id"] == made["id"]
    assert posted["key"] == "ABC-12"
    assert isinstance(posted["comment_id"], str) and posted["comment_id"]
    assert posted["url"].startswith(made["url"] + "?focusedCommentId=")


def test_openers_of_a_new_task_database_at_the_same_moment_all_succeed(tmp_path):
    """The TUI's workers and a CLI command may open a new (or older) task database
    at once: each adds the columns it finds missing, one opener at a time, so no
    one fails with "duplicate column name"."""
    for round_number in range(15):
        path = tmp_path / f"tasks-{round_number}.db"
        assert errors_of_concurrent_calls(lambda path=path: tasks.TaskStore(path), 6) == []
